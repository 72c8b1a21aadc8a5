package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_DAILY;
import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import io.sluice.usage.UsageEvent;
import java.lang.reflect.Array;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import org.jooq.BatchBindStep;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Table;
import org.jooq.TableField;
import org.jooq.impl.DSL;
import org.jooq.impl.SQLDataType;

/**
 * Writes spend rows: one batch, one transaction. The rows go in with {@code INSERT … ON CONFLICT (request_id) DO
 * NOTHING RETURNING request_id}; only the rows that came back (the ones this call inserted) add their spend to
 * their key, user and team, aggregated per id. A batch written twice (a retry after a lost commit acknowledgement, a
 * spill file replayed) therefore leaves one row per request and counts its spend once. The same rows, and only
 * they, are added to the daily rollup {@code sluice_spend_daily} that the usage reports read.
 *
 * <p>The batch travels as one array per column, {@code INSERT … SELECT * FROM unnest(?, …, ?)}: 19 bind values
 * whatever the batch size, where a multi-row {@code VALUES} list needs 19 per row (rendering and parsing 19 000
 * placeholders per 1000 rows took about twice as long, measured on the test PostgreSQL).
 *
 * <p>Blocking JDBC: runs on the spend writer's database thread only.
 */
final class SpendStore {
  /** The insert's columns, in the order {@link #values} gives them. */
  private static final List<Field<?>> COLUMNS = List.of(SLUICE_SPEND_LOGS.REQUEST_ID, SLUICE_SPEND_LOGS.API_KEY,
      SLUICE_SPEND_LOGS.KEY_ALIAS, SLUICE_SPEND_LOGS.USER_ID, SLUICE_SPEND_LOGS.TEAM_ID, SLUICE_SPEND_LOGS.ROUTE,
      SLUICE_SPEND_LOGS.MODEL_GROUP, SLUICE_SPEND_LOGS.MODEL_ID, SLUICE_SPEND_LOGS.PROMPT_TOKENS,
      SLUICE_SPEND_LOGS.COMPLETION_TOKENS, SLUICE_SPEND_LOGS.TOTAL_TOKENS, SLUICE_SPEND_LOGS.TOKENS_ESTIMATED,
      SLUICE_SPEND_LOGS.SPEND, SLUICE_SPEND_LOGS.START_TIME, SLUICE_SPEND_LOGS.END_TIME, SLUICE_SPEND_LOGS.STATUS,
      SLUICE_SPEND_LOGS.OUTCOME, SLUICE_SPEND_LOGS.STREAM, SLUICE_SPEND_LOGS.STREAM_FINISHED);

  private final DSLContext dsl;

  SpendStore(DSLContext dsl) {
    this.dsl = dsl;
  }

  /**
   * Inserts {@code batch} and adds the new rows' spend, in one transaction.
   *
   * @return how many rows were new (rows already present, and repeats within the batch, are not counted)
   * @throws org.jooq.exception.DataAccessException when the database refuses or cannot be reached: nothing was
   *     written
   */
  int write(Collection<UsageEvent> batch) {
    if (batch.isEmpty()) {
      return 0;
    }
    // A request id twice in one batch: the first wins, as it would against a row already in the table.
    Map<String, UsageEvent> byId = new LinkedHashMap<>();
    for (UsageEvent e : batch) {
      byId.putIfAbsent(clean(e.requestId()), e);
    }
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Set<String> inserted = new HashSet<>(tx.insertInto(SLUICE_SPEND_LOGS, COLUMNS)
          .select(DSL.selectFrom(unnest(byId.values())))
          .onConflict(SLUICE_SPEND_LOGS.REQUEST_ID).doNothing()
          .returning(SLUICE_SPEND_LOGS.REQUEST_ID).fetch(SLUICE_SPEND_LOGS.REQUEST_ID));
      List<UsageEvent> fresh = new ArrayList<>(inserted.size());
      for (Map.Entry<String, UsageEvent> e : byId.entrySet()) {
        if (inserted.contains(e.getKey())) {
          fresh.add(e.getValue());
        }
      }
      addSpend(tx, SLUICE_KEYS, SLUICE_KEYS.TOKEN, SLUICE_KEYS.SPEND, fresh, e -> clean(e.keyHash()));
      addSpend(tx, SLUICE_USERS, SLUICE_USERS.USER_ID, SLUICE_USERS.SPEND, fresh, e -> clean(e.userId()));
      addSpend(tx, SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID, SLUICE_TEAMS.SPEND, fresh, e -> clean(e.teamId()));
      addDaily(tx, fresh);
      return inserted.size();
    });
  }

  /**
   * {@code UPDATE table SET spend = spend + ? WHERE id = ?}, one bind per id, ids in sorted order: two Sluice nodes
   * writing batches for the same keys take the row locks in the same order and cannot deadlock.
   */
  private static void addSpend(DSLContext tx, Table<?> table, TableField<?, String> id,
      TableField<?, Double> spend, List<UsageEvent> rows, Function<UsageEvent, String> idOf) {
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
    BatchBindStep b = tx.batch(tx.update(table)
        .set(spend, spend.plus(DSL.param("amount", SQLDataType.DOUBLE)))
        .where(id.eq(DSL.param("id", SQLDataType.VARCHAR))));
    sums.forEach((k, s) -> b.bind(s, k));
    b.execute();
  }

  /** One rollup row's identity: UTC day, key hash, user, team, model group ('' for none). */
  private record DayKey(LocalDate day, String apiKey, String userId, String teamId, String model)
      implements Comparable<DayKey> {
    private static final java.util.Comparator<DayKey> ORDER = java.util.Comparator.comparing(DayKey::day)
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

  /** Rows per upsert statement: 11 binds each, far below PostgreSQL's 65 535 binds per statement. */
  private static final int DAILY_CHUNK = 2000;

  /**
   * Adds the newly inserted rows to the daily rollup ({@code sluice_spend_daily}): summed per day and ids here, then
   * {@code INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x}, in sorted order (two nodes lock rollup rows in
   * the same order, as {@link #addSpend}). Only {@code fresh} rows: a replayed batch adds nothing.
   */
  private static void addDaily(DSLContext tx, List<UsageEvent> fresh) {
    if (fresh.isEmpty()) {
      return;
    }
    Map<DayKey, DaySums> sums = new TreeMap<>();
    for (UsageEvent e : fresh) {
      DayKey k = new DayKey(e.start().atOffset(ZoneOffset.UTC).toLocalDate(), orEmpty(clean(e.keyHash())),
          orEmpty(clean(e.userId())), orEmpty(clean(e.teamId())), orEmpty(clean(e.modelGroup())));
      DaySums s = sums.computeIfAbsent(k, x -> new DaySums());
      s.n[0]++;
      s.n[1] += failed(e) ? 1 : 0;
      s.n[2] += e.promptTokens();
      s.n[3] += e.completionTokens();
      s.n[4] += e.totalTokens();
      s.spend += spend(e);
    }
    List<Map.Entry<DayKey, DaySums>> all = new ArrayList<>(sums.entrySet());
    for (int from = 0; from < all.size(); from += DAILY_CHUNK) {
      var insert = tx.insertInto(SLUICE_SPEND_DAILY, SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.API_KEY,
          SLUICE_SPEND_DAILY.USER_ID, SLUICE_SPEND_DAILY.TEAM_ID, SLUICE_SPEND_DAILY.MODEL_GROUP,
          SLUICE_SPEND_DAILY.REQUESTS, SLUICE_SPEND_DAILY.FAILURES, SLUICE_SPEND_DAILY.PROMPT_TOKENS,
          SLUICE_SPEND_DAILY.COMPLETION_TOKENS, SLUICE_SPEND_DAILY.TOTAL_TOKENS, SLUICE_SPEND_DAILY.SPEND);
      org.jooq.InsertValuesStep11<?, LocalDate, String, String, String, String, Long, Long, Long, Long, Long, Double>
          step = null;
      for (Map.Entry<DayKey, DaySums> e : all.subList(from, Math.min(all.size(), from + DAILY_CHUNK))) {
        DayKey k = e.getKey();
        long[] n = e.getValue().n;
        step = (step == null ? insert : step).values(k.day(), k.apiKey(), k.userId(), k.teamId(), k.model(), n[0],
            n[1], n[2], n[3], n[4], e.getValue().spend);
      }
      step.onConflict(SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.API_KEY, SLUICE_SPEND_DAILY.USER_ID,
              SLUICE_SPEND_DAILY.TEAM_ID, SLUICE_SPEND_DAILY.MODEL_GROUP)
          .doUpdate()
          .set(SLUICE_SPEND_DAILY.REQUESTS, SLUICE_SPEND_DAILY.REQUESTS.plus(DSL.excluded(SLUICE_SPEND_DAILY.REQUESTS)))
          .set(SLUICE_SPEND_DAILY.FAILURES, SLUICE_SPEND_DAILY.FAILURES.plus(DSL.excluded(SLUICE_SPEND_DAILY.FAILURES)))
          .set(SLUICE_SPEND_DAILY.PROMPT_TOKENS,
              SLUICE_SPEND_DAILY.PROMPT_TOKENS.plus(DSL.excluded(SLUICE_SPEND_DAILY.PROMPT_TOKENS)))
          .set(SLUICE_SPEND_DAILY.COMPLETION_TOKENS,
              SLUICE_SPEND_DAILY.COMPLETION_TOKENS.plus(DSL.excluded(SLUICE_SPEND_DAILY.COMPLETION_TOKENS)))
          .set(SLUICE_SPEND_DAILY.TOTAL_TOKENS,
              SLUICE_SPEND_DAILY.TOTAL_TOKENS.plus(DSL.excluded(SLUICE_SPEND_DAILY.TOTAL_TOKENS)))
          .set(SLUICE_SPEND_DAILY.SPEND, SLUICE_SPEND_DAILY.SPEND.plus(DSL.excluded(SLUICE_SPEND_DAILY.SPEND)))
          .execute();
    }
  }

  /** LiteLLM's status "failure": anything but a completed response with a status below 400. */
  static boolean failed(UsageEvent e) {
    return !(e.outcome() == UsageEvent.Outcome.COMPLETED && e.status() > 0 && e.status() < 400);
  }

  private static String orEmpty(String s) {
    return s == null ? "" : s;
  }

  /**
   * The rows as PostgreSQL's multi-argument {@code unnest}: one typed array per column of {@link #COLUMNS}, in that
   * order. The function call is the only SQL text written here; columns and types come from the generated classes.
   */
  private static Table<?> unnest(Collection<UsageEvent> rows) {
    int n = rows.size();
    Object[][] arrays = new Object[COLUMNS.size()][];
    for (int c = 0; c < arrays.length; c++) {
      arrays[c] = (Object[]) Array.newInstance(COLUMNS.get(c).getType(), n);
    }
    int i = 0;
    for (UsageEvent e : rows) {
      Object[] v = values(e);
      for (int c = 0; c < arrays.length; c++) {
        arrays[c][i] = v[c];
      }
      i++;
    }
    StringBuilder sql = new StringBuilder("unnest(");
    Field<?>[] binds = new Field<?>[arrays.length];
    for (int c = 0; c < arrays.length; c++) {
      sql.append(c == 0 ? "{" : ", {").append(c).append('}');
      binds[c] = array(arrays[c], COLUMNS.get(c));
    }
    return DSL.table(sql.append(')').toString(), (Object[]) binds);
  }

  @SuppressWarnings("unchecked")
  private static <T> Field<T[]> array(Object[] values, Field<T> column) {
    return DSL.val((T[]) values, column.getDataType().getArrayDataType());
  }

  private static Object[] values(UsageEvent e) {
    boolean finished = e.finished();
    return new Object[] {clean(e.requestId()), clean(e.keyHash()), clean(e.keyAlias()), clean(e.userId()),
        clean(e.teamId()), clean(e.route()), clean(e.modelGroup()), clean(e.deploymentId()), e.promptTokens(),
        e.completionTokens(), e.totalTokens(), e.estimated(), spend(e), time(e.start()), time(e.end()), e.status(),
        e.outcome().label(), e.stream(), finished};
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

  private static OffsetDateTime time(Instant t) {
    return OffsetDateTime.ofInstant(t, ZoneOffset.UTC);
  }
}
