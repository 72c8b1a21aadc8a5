package io.sluice.admin.spend;

import io.sluice.usage.UsageEvent;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.jooq.ConnectionProvider;
import org.jooq.DSLContext;
import org.jooq.exception.DataAccessException;
import org.postgresql.PGConnection;

/**
 * Writes spend rows: one batch, one transaction. The rows go in with {@code INSERT … ON CONFLICT (request_id) DO
 * NOTHING RETURNING request_id}; only the rows that came back (the ones this call inserted) add their spend to
 * their key, user and team, aggregated per id. A batch written twice (a retry after a lost commit acknowledgement, a
 * spill file replayed) therefore leaves one row per request and counts its spend once. The same rows, and only
 * they, are added to the daily rollup {@code sluice_spend_daily} that the usage reports read.
 *
 * <p>The batch travels as one array per column, {@code INSERT … SELECT … FROM unnest(?, …, ?)}: 19 bind values
 * whatever the batch size, where a multi-row {@code VALUES} list needs 19 per row (rendering and parsing 19 000
 * placeholders per 1000 rows took about twice as long, measured on the test PostgreSQL). The daily rollup goes the
 * same way (11 arrays).
 *
 * <p>Plain JDBC on the transaction's connection (jOOQ only opens and commits the transaction), the SQL fixed
 * strings built once: through jOOQ, the arrays were rendered as PostgreSQL array strings (one
 * {@code String.valueOf} per value) and, profiled on one core, jOOQ's classes were about 40% of all JIT
 * compilations after start-up, competing with the relay for the core. Here the arrays are PgJDBC arrays of Java
 * primitives and strings ({@code long[]}, {@code int[]}, {@code double[]}, {@code boolean[]}, {@code String[]}),
 * which PgJDBC sends in PostgreSQL's binary array format; timestamps travel as microseconds since the epoch
 * ({@code int8}, rounded to the nearest microsecond as PostgreSQL stores them) and days as days since the epoch,
 * turned into {@code timestamptz} and {@code date} in the SQL. Measured on the test PostgreSQL (1000-row batches,
 * 50 keys, warm JIT): the writer thread's CPU per batch went from about 11.5 ms to about 5.5 ms, the first batch
 * after start from about 500 ms to about 80 ms.
 *
 * <p>Data the database would refuse is made storable here, so that one event cannot stall every retry: NUL
 * characters are removed from text ({@link #clean}), a non-finite or negative spend is stored and summed as 0
 * ({@link #spend}).
 *
 * <p>Lock order: key, user and team rows are updated in sorted id order, rollup rows upserted in sorted
 * (day, key, user, team, model group) order, so two Sluice nodes writing batches for the same ids cannot deadlock.
 *
 * <p>With {@code logRows} false (LiteLLM's {@code general_settings.disable_spend_logs: true}) no row goes into
 * {@code sluice_spend_logs}; key, user and team spend and the daily rollup are still added, for every distinct
 * request id of the batch. Without the row there is nothing to recognise a request by, so a batch written twice
 * (a retry after a lost commit acknowledgement, a spill file replayed after a crash) counts twice.
 *
 * <p>Blocking JDBC: runs on the spend writer's database thread only.
 */
final class SpendStore {
  /** The spend-log insert: 20 arrays, one per column, in {@link #insertRows}' order. */
  static final String INSERT_LOGS = "INSERT INTO sluice_spend_logs (request_id, api_key, key_alias, user_id,"
      + " team_id, route, model_group, model_id, prompt_tokens, completion_tokens, total_tokens, tokens_estimated,"
      + " spend, start_time, end_time, status, outcome, stream, stream_finished, end_user)"
      + " SELECT request_id, api_key, key_alias, user_id, team_id, route, model_group, model_id, prompt_tokens,"
      + " completion_tokens, total_tokens, tokens_estimated, spend,"
      + " timestamptz 'epoch' + start_us * interval '1 microsecond',"
      + " timestamptz 'epoch' + end_us * interval '1 microsecond', status, outcome, stream, stream_finished, end_user"
      + " FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],"
      + " ?::int8[], ?::int8[], ?::int8[], ?::bool[], ?::float8[], ?::int8[], ?::int8[], ?::int4[], ?::text[],"
      + " ?::bool[], ?::bool[], ?::text[])"
      + " AS r (request_id, api_key, key_alias, user_id, team_id, route, model_group, model_id, prompt_tokens,"
      + " completion_tokens, total_tokens, tokens_estimated, spend, start_us, end_us, status, outcome, stream,"
      + " stream_finished, end_user)"
      + " ON CONFLICT (request_id) DO NOTHING RETURNING request_id";

  /** The daily rollup upsert: 11 arrays, in {@link #addDaily}'s order. */
  static final String UPSERT_DAILY = "INSERT INTO sluice_spend_daily (day, api_key, user_id, team_id,"
      + " model_group, requests, failures, prompt_tokens, completion_tokens, total_tokens, spend)"
      + " SELECT date '1970-01-01' + epoch_day, api_key, user_id, team_id, model_group, requests, failures,"
      + " prompt_tokens, completion_tokens, total_tokens, spend"
      + " FROM unnest(?::int4[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int8[], ?::int8[], ?::int8[],"
      + " ?::int8[], ?::int8[], ?::float8[])"
      + " AS d (epoch_day, api_key, user_id, team_id, model_group, requests, failures, prompt_tokens,"
      + " completion_tokens, total_tokens, spend)"
      + " ON CONFLICT (day, api_key, user_id, team_id, model_group) DO UPDATE SET"
      + " requests = sluice_spend_daily.requests + excluded.requests,"
      + " failures = sluice_spend_daily.failures + excluded.failures,"
      + " prompt_tokens = sluice_spend_daily.prompt_tokens + excluded.prompt_tokens,"
      + " completion_tokens = sluice_spend_daily.completion_tokens + excluded.completion_tokens,"
      + " total_tokens = sluice_spend_daily.total_tokens + excluded.total_tokens,"
      + " spend = sluice_spend_daily.spend + excluded.spend";

  static final String ADD_KEY_SPEND = "UPDATE sluice_keys SET spend = spend + ? WHERE token = ?";
  static final String ADD_USER_SPEND = "UPDATE sluice_users SET spend = spend + ? WHERE user_id = ?";
  static final String ADD_TEAM_SPEND = "UPDATE sluice_teams SET spend = spend + ? WHERE team_id = ?";
  /**
   * An end user's spend; one not stored yet is created with it, as LiteLLM's spend writer upserts
   * LiteLLM_EndUserTable (an unknown {@code user} is served, and from then on it is a customer with spend).
   */
  static final String ADD_END_USER_SPEND = "INSERT INTO sluice_end_users (user_id, spend)"
      + " SELECT v.id, v.s FROM (SELECT ?::float8 AS s, ?::text AS id) AS v"
      + " ON CONFLICT (user_id) DO UPDATE SET spend = sluice_end_users.spend + excluded.spend";

  private final DSLContext dsl;
  private final boolean logRows;

  SpendStore(DSLContext dsl) {
    this(dsl, true);
  }

  /**
   * @param logRows whether each request's row goes into {@code sluice_spend_logs} (false:
   *                {@code disable_spend_logs}, see the class comment)
   */
  SpendStore(DSLContext dsl, boolean logRows) {
    this.dsl = dsl;
    this.logRows = logRows;
  }

  /**
   * Inserts {@code batch} and adds the new rows' spend, in one transaction.
   *
   * @return how many rows were new (rows already present, and repeats within the batch, are not counted); with
   *     spend logs off, how many distinct request ids the batch held
   * @throws org.jooq.exception.DataAccessException when the database refuses or cannot be reached: nothing was
   *     written
   */
  int write(Collection<UsageEvent> batch) {
    if (batch.isEmpty()) {
      return 0;
    }
    Map<String, UsageEvent> byId = byId(batch);
    return dsl.transactionResult(cfg -> writeIn(cfg, byId));
  }

  /**
   * Runs {@link #write}'s statements on {@code batch} — the same SQL, driver code and row locks — in a transaction
   * that is then rolled back: nothing is stored and no spend is added. The start-up warm-up's (so the JIT compiles
   * the spend path before readiness instead of under the first real traffic). Blocking.
   *
   * @return the rows the insert would have added
   * @throws org.jooq.exception.DataAccessException when the database refuses or cannot be reached
   */
  int rehearse(Collection<UsageEvent> batch) {
    if (batch.isEmpty()) {
      return 0;
    }
    Map<String, UsageEvent> byId = byId(batch);
    int[] fresh = new int[1];
    try {
      dsl.transaction(cfg -> {
        fresh[0] = writeIn(cfg, byId);
        throw new RolledBack();
      });
    } catch (RolledBack expected) {
      // jOOQ rolled the transaction back and rethrew it: the rehearsal's normal end
    }
    return fresh[0];
  }

  /** Ends a rehearsal's transaction: a runtime exception out of the block makes jOOQ roll it back. */
  private static final class RolledBack extends RuntimeException {
    RolledBack() {
      super("spend rehearsal rolled back", null, false, false);
    }
  }

  /** A request id twice in one batch: the first wins, as it would against a row already in the table. */
  private static Map<String, UsageEvent> byId(Collection<UsageEvent> batch) {
    Map<String, UsageEvent> byId = new LinkedHashMap<>();
    for (UsageEvent e : batch) {
      byId.putIfAbsent(clean(e.requestId()), e);
    }
    return byId;
  }

  /** {@link #write}'s statements, on the transaction {@code cfg}: how many rows were new. */
  private int writeIn(org.jooq.Configuration cfg, Map<String, UsageEvent> byId) {
    ConnectionProvider cp = cfg.connectionProvider();
    Connection c = cp.acquire();
    try {
      List<UsageEvent> fresh;
      if (logRows) {
        Set<String> inserted = insertRows(c, byId.values());
        fresh = new ArrayList<>(inserted.size());
        for (Map.Entry<String, UsageEvent> e : byId.entrySet()) {
          if (inserted.contains(e.getKey())) {
            fresh.add(e.getValue());
          }
        }
      } else {
        fresh = new ArrayList<>(byId.values());
      }
      addSpend(c, ADD_KEY_SPEND, fresh, e -> clean(e.keyHash()));
      addSpend(c, ADD_USER_SPEND, fresh, e -> clean(e.userId()));
      addSpend(c, ADD_TEAM_SPEND, fresh, e -> clean(e.teamId()));
      addSpend(c, ADD_END_USER_SPEND, fresh, e -> clean(e.endUser()));
      addMemberSpend(c, fresh);
      addDaily(c, fresh);
      return fresh.size();
    } catch (SQLException e) {
      // As jOOQ would have thrown it: the writer tells refused data from an outage by its SQL state.
      throw new DataAccessException("spend batch of " + byId.size() + " row(s): " + e.getMessage(), e);
    } finally {
      cp.release(c);
    }
  }

  /**
   * {@link #INSERT_LOGS}: the request ids this call inserted (not those already in the table).
   *
   * <p>The loops over the rows are methods of their own ({@link LogColumns#of}, {@link #ids}) and this one has
   * none: a method runs once per batch here, so it is not worth a C2 compile, and had it the loops, their back
   * edges would get it one, with the driver's twenty array encodings inlined into it (a 55–94 KB compiled method,
   * 3 s of the compiler on a pinned core, twice, under the first real traffic). The loops compile small.
   */
  private static Set<String> insertRows(Connection c, Collection<UsageEvent> rows) throws SQLException {
    LogColumns col = LogColumns.of(rows);
    PGConnection pg = c.unwrap(PGConnection.class);
    try (PreparedStatement ps = c.prepareStatement(INSERT_LOGS)) {
      ps.setArray(1, pg.createArrayOf("text", col.requestId));
      ps.setArray(2, pg.createArrayOf("text", col.apiKey));
      ps.setArray(3, pg.createArrayOf("text", col.keyAlias));
      ps.setArray(4, pg.createArrayOf("text", col.userId));
      ps.setArray(5, pg.createArrayOf("text", col.teamId));
      ps.setArray(6, pg.createArrayOf("text", col.route));
      ps.setArray(7, pg.createArrayOf("text", col.modelGroup));
      ps.setArray(8, pg.createArrayOf("text", col.modelId));
      ps.setArray(9, pg.createArrayOf("int8", col.prompt));
      ps.setArray(10, pg.createArrayOf("int8", col.completion));
      ps.setArray(11, pg.createArrayOf("int8", col.total));
      ps.setArray(12, pg.createArrayOf("bool", col.estimated));
      ps.setArray(13, pg.createArrayOf("float8", col.spend));
      ps.setArray(14, pg.createArrayOf("int8", col.start));
      ps.setArray(15, pg.createArrayOf("int8", col.end));
      ps.setArray(16, pg.createArrayOf("int4", col.status));
      ps.setArray(17, pg.createArrayOf("text", col.outcome));
      ps.setArray(18, pg.createArrayOf("bool", col.stream));
      ps.setArray(19, pg.createArrayOf("bool", col.finished));
      ps.setArray(20, pg.createArrayOf("text", col.endUser));
      try (ResultSet rs = ps.executeQuery()) {
        return ids(rs, col.requestId.length);
      }
    }
  }

  /** The first column of every row of {@code rs}. */
  private static Set<String> ids(ResultSet rs, int expected) throws SQLException {
    Set<String> out = new HashSet<>(expected * 2);
    while (rs.next()) {
      out.add(rs.getString(1));
    }
    return out;
  }

  /** {@link #INSERT_LOGS}' twenty arrays, one element per row. */
  private static final class LogColumns {
    final String[] requestId;
    final String[] apiKey;
    final String[] keyAlias;
    final String[] userId;
    final String[] teamId;
    final String[] route;
    final String[] modelGroup;
    final String[] modelId;
    final long[] prompt;
    final long[] completion;
    final long[] total;
    final boolean[] estimated;
    final double[] spend;
    final long[] start;
    final long[] end;
    final int[] status;
    final String[] outcome;
    final boolean[] stream;
    final boolean[] finished;
    final String[] endUser;

    private LogColumns(int n) {
      requestId = new String[n];
      apiKey = new String[n];
      keyAlias = new String[n];
      userId = new String[n];
      teamId = new String[n];
      route = new String[n];
      modelGroup = new String[n];
      modelId = new String[n];
      prompt = new long[n];
      completion = new long[n];
      total = new long[n];
      estimated = new boolean[n];
      spend = new double[n];
      start = new long[n];
      end = new long[n];
      status = new int[n];
      outcome = new String[n];
      stream = new boolean[n];
      finished = new boolean[n];
      endUser = new String[n];
    }

    static LogColumns of(Collection<UsageEvent> rows) {
      LogColumns c = new LogColumns(rows.size());
      int i = 0;
      for (UsageEvent e : rows) {
        c.requestId[i] = clean(e.requestId());
        c.apiKey[i] = clean(e.keyHash());
        c.keyAlias[i] = clean(e.keyAlias());
        c.userId[i] = clean(e.userId());
        c.teamId[i] = clean(e.teamId());
        c.route[i] = clean(e.route());
        c.modelGroup[i] = clean(e.modelGroup());
        c.modelId[i] = clean(e.deploymentId());
        c.prompt[i] = e.promptTokens();
        c.completion[i] = e.completionTokens();
        c.total[i] = e.totalTokens();
        c.estimated[i] = e.estimated();
        c.spend[i] = spend(e);
        c.start[i] = e.startMicros();
        c.end[i] = e.endMicros();
        c.status[i] = e.status();
        c.outcome[i] = e.outcome().label();
        c.stream[i] = e.stream();
        c.finished[i] = e.finished();
        c.endUser[i] = clean(e.endUser());
        i++;
      }
      return c;
    }
  }

  /**
   * {@code UPDATE table SET spend = spend + ? WHERE id = ?} ({@code sql}), one bind per id, ids in sorted order: two
   * Sluice nodes writing batches for the same keys take the row locks in the same order and cannot deadlock. Ids
   * whose rows add nothing are left alone; no statement at all when none adds anything.
   */
  private static void addSpend(Connection c, String sql, List<UsageEvent> rows, Function<UsageEvent, String> idOf)
      throws SQLException {
    Map<String, Double> sums = new TreeMap<>();
    for (UsageEvent e : rows) {
      String k = idOf.apply(e);
      double s = spend(e);
      if (k != null && s != 0) {
        sums.merge(k, s, Double::sum);
      }
    }
    if (sums.isEmpty()) {
      return;
    }
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (Map.Entry<String, Double> e : sums.entrySet()) {
        ps.setDouble(1, e.getValue());
        ps.setString(2, e.getKey());
        ps.addBatch();
      }
      ps.executeBatch();
    }
  }

  /** A key's user within the key's team: LiteLLM_TeamMembership.spend, what max_budget_in_team bounds. */
  static final String ADD_MEMBER_SPEND = "UPDATE sluice_team_members SET spend = spend + ?"
      + " WHERE team_id = ? AND user_id = ?";

  /** One team membership, ordered (team, user) so that two nodes lock member rows in the same order. */
  private record Member(String teamId, String userId) implements Comparable<Member> {
    @Override
    public int compareTo(Member o) {
      int t = teamId.compareTo(o.teamId);
      return t != 0 ? t : userId.compareTo(o.userId);
    }
  }

  /**
   * Adds each row's spend to its key's user's membership of its key's team (LiteLLM's spend writer increments
   * LiteLLM_TeamMembership.spend the same way); rows without both ids add nothing, a user no longer a member
   * updates no row.
   */
  private static void addMemberSpend(Connection c, List<UsageEvent> rows) throws SQLException {
    Map<Member, Double> sums = new TreeMap<>();
    for (UsageEvent e : rows) {
      String team = clean(e.teamId());
      String user = clean(e.userId());
      double s = spend(e);
      if (team != null && user != null && s != 0) {
        sums.merge(new Member(team, user), s, Double::sum);
      }
    }
    if (sums.isEmpty()) {
      return;
    }
    try (PreparedStatement ps = c.prepareStatement(ADD_MEMBER_SPEND)) {
      for (Map.Entry<Member, Double> e : sums.entrySet()) {
        ps.setDouble(1, e.getValue());
        ps.setString(2, e.getKey().teamId());
        ps.setString(3, e.getKey().userId());
        ps.addBatch();
      }
      ps.executeBatch();
    }
  }

  /** One rollup row's identity: UTC day (days since the epoch), key hash, user, team, model group ('' for none). */
  private record DayKey(long day, String apiKey, String userId, String teamId, String model)
      implements Comparable<DayKey> {
    private static final Comparator<DayKey> ORDER = Comparator.comparingLong(DayKey::day)
        .thenComparing(DayKey::apiKey).thenComparing(DayKey::userId).thenComparing(DayKey::teamId)
        .thenComparing(DayKey::model);

    @Override
    public int compareTo(DayKey o) {
      return ORDER.compare(this, o);
    }
  }

  /** Requests, failures, prompt, completion, total tokens; and spend. */
  private static final class DaySums {
    final long[] n = new long[5];
    double spend;
  }

  /**
   * Adds the newly inserted rows to the daily rollup ({@code sluice_spend_daily}): summed per day and ids here, then
   * {@link #UPSERT_DAILY} ({@code INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x}), the rows in sorted order
   * (two nodes lock rollup rows in the same order, as {@link #addSpend}). Only {@code fresh} rows: a replayed batch
   * adds nothing.
   */
  private static void addDaily(Connection c, List<UsageEvent> fresh) throws SQLException {
    if (fresh.isEmpty()) {
      return;
    }
    DailyColumns col = DailyColumns.of(fresh); // the loops, apart (see insertRows)
    PGConnection pg = c.unwrap(PGConnection.class);
    try (PreparedStatement ps = c.prepareStatement(UPSERT_DAILY)) {
      ps.setArray(1, pg.createArrayOf("int4", col.day));
      ps.setArray(2, pg.createArrayOf("text", col.apiKey));
      ps.setArray(3, pg.createArrayOf("text", col.userId));
      ps.setArray(4, pg.createArrayOf("text", col.teamId));
      ps.setArray(5, pg.createArrayOf("text", col.model));
      ps.setArray(6, pg.createArrayOf("int8", col.counts[0]));
      ps.setArray(7, pg.createArrayOf("int8", col.counts[1]));
      ps.setArray(8, pg.createArrayOf("int8", col.counts[2]));
      ps.setArray(9, pg.createArrayOf("int8", col.counts[3]));
      ps.setArray(10, pg.createArrayOf("int8", col.counts[4]));
      ps.setArray(11, pg.createArrayOf("float8", col.spend));
      ps.executeUpdate();
    }
  }

  /** {@link #UPSERT_DAILY}'s arrays: the rows summed per day and ids, in sorted order. */
  private static final class DailyColumns {
    final int[] day;
    final String[] apiKey;
    final String[] userId;
    final String[] teamId;
    final String[] model;
    final long[][] counts;
    final double[] spend;

    private DailyColumns(int n) {
      day = new int[n];
      apiKey = new String[n];
      userId = new String[n];
      teamId = new String[n];
      model = new String[n];
      counts = new long[5][n];
      spend = new double[n];
    }

    static DailyColumns of(List<UsageEvent> fresh) {
      Map<DayKey, DaySums> sums = new TreeMap<>();
      for (UsageEvent e : fresh) {
        DayKey k = new DayKey(Math.floorDiv(e.startMicros(), 86_400_000_000L),
            orEmpty(clean(e.keyHash())), orEmpty(clean(e.userId())), orEmpty(clean(e.teamId())),
            orEmpty(clean(e.modelGroup())));
        DaySums s = sums.computeIfAbsent(k, x -> new DaySums());
        s.n[0]++;
        s.n[1] += failed(e) ? 1 : 0;
        s.n[2] += e.promptTokens();
        s.n[3] += e.completionTokens();
        s.n[4] += e.totalTokens();
        s.spend += spend(e);
      }
      DailyColumns c = new DailyColumns(sums.size());
      int i = 0;
      for (Map.Entry<DayKey, DaySums> e : sums.entrySet()) {
        DayKey k = e.getKey();
        c.day[i] = Math.toIntExact(k.day());
        c.apiKey[i] = k.apiKey();
        c.userId[i] = k.userId();
        c.teamId[i] = k.teamId();
        c.model[i] = k.model();
        for (int j = 0; j < 5; j++) {
          c.counts[j][i] = e.getValue().n[j];
        }
        c.spend[i] = e.getValue().spend;
        i++;
      }
      return c;
    }
  }

  /**
   * Microseconds since the epoch, rounded to the nearest microsecond, a tie to even (PostgreSQL keeps microseconds
   * and rounds the fraction it is given so). {@code * interval '1 microsecond'} multiplies as {@code float8}: exact
   * below 2^53 µs after the epoch, that is until the year 2255.
   */
  static long micros(Instant t) {
    return UsageEvent.micros(t);
  }

  /** LiteLLM's status "failure": anything but a completed response with a status below 400. */
  static boolean failed(UsageEvent e) {
    return !(e.outcome() == UsageEvent.Outcome.COMPLETED && e.status() > 0 && e.status() < 400);
  }

  private static String orEmpty(String s) {
    return s == null ? "" : s;
  }

  /** Spend as stored and summed: a non-finite or negative cost would poison every total it is added to. */
  static double spend(UsageEvent e) {
    double s = e.spend();
    return Double.isFinite(s) && s > 0 ? s : 0;
  }

  /**
   * PostgreSQL text cannot hold NUL; one such character would make the database refuse the whole batch, every
   * retry. Header-derived values (the request id) are the only plausible source.
   */
  static String clean(String s) {
    return s == null || s.indexOf('\0') < 0 ? s : s.replace("\0", "");
  }
}
