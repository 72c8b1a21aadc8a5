package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_DAILY;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Clock;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record;
import org.jooq.ResultQuery;
import org.jooq.impl.DSL;

/**
 * LiteLLM's usage reports (spend_management_endpoints.py), answered from the daily rollup
 * {@code sluice_spend_daily} (V3), never from the spend-log rows: a report's cost grows with days × keys × models,
 * not with requests.
 * <ul>
 *   <li>{@code GET /global/spend/report?start_date&end_date&group_by=team|customer|api_key} (also {@code api_key},
 *       {@code internal_user_id}, {@code team_id} filters)</li>
 *   <li>{@code GET /spend/keys}, {@code GET /spend/users[?user_id]}: key / user rows, highest spend first</li>
 *   <li>{@code GET /global/spend/keys?limit}, {@code /global/spend/models?limit}, {@code /global/spend/teams}: the
 *       top spenders of the last 30 days (or {@code start_date}/{@code end_date})</li>
 *   <li>{@code GET /global/activity}, {@code /global/activity/model}: requests and tokens per day</li>
 *   <li>{@code GET /user/daily/activity}, {@code /team/daily/activity}: LiteLLM's daily activity series (spend,
 *       prompt/completion tokens, requests, successes, failures per day) with breakdowns per model, key and
 *       team</li>
 * </ul>
 * Dates are UTC days, {@code YYYY-MM-DD}, both ends inclusive. Who sees what: {@code proxy_admin} and
 * {@code proxy_admin_viewer} everything; any other role only the spend of its own user's keys (rows of its
 * {@code user_id}), as {@code /spend/logs}.
 */
final class ReportApi {
  /** The longest range one report covers. */
  static final int MAX_DAYS = 731;
  static final String UNASSIGNED_TEAM = "Unassigned Team";

  private final Clock clock;

  ReportApi(Clock clock) {
    this.clock = clock;
  }

  /** A range of UTC days, both inclusive. */
  record Range(LocalDate from, LocalDate to) {
    Condition condition() {
      return SLUICE_SPEND_DAILY.DAY.between(from, to);
    }
  }

  /** {@code start_date} and {@code end_date}, both required. */
  static Range range(Map<String, List<String>> q) {
    LocalDate from = day(q, "start_date");
    LocalDate to = day(q, "end_date");
    if (from == null || to == null) {
      throw ApiException.badRequest(from == null ? "start_date" : "end_date", "Please provide start_date and "
          + "end_date (UTC days, YYYY-MM-DD, both inclusive), e.g. ?start_date=2024-06-01&end_date=2024-06-30.");
    }
    return checked(from, to);
  }

  /** {@code start_date}/{@code end_date} if given, else the last 30 days up to today (UTC). */
  Range rangeOrLast30(Map<String, List<String>> q) {
    LocalDate from = day(q, "start_date");
    LocalDate to = day(q, "end_date");
    LocalDate today = LocalDate.now(clock.withZone(ZoneOffset.UTC));
    if (to == null) {
      to = today;
    }
    if (from == null) {
      from = to.minusDays(29);
    }
    return checked(from, to);
  }

  private static Range checked(LocalDate from, LocalDate to) {
    if (from.isAfter(to)) {
      throw ApiException.badRequest("start_date", "start_date " + from + " is after end_date " + to + ".");
    }
    if (ChronoUnit.DAYS.between(from, to) >= MAX_DAYS) {
      throw ApiException.badRequest("end_date", "The range " + from + " to " + to + " is longer than " + MAX_DAYS
          + " days; ask for a shorter one.");
    }
    return new Range(from, to);
  }

  private static LocalDate day(Map<String, List<String>> q, String name) {
    String v = Query.string(q, name);
    if (v == null) {
      return null;
    }
    String s = v.strip();
    // LiteLLM's UI sends "YYYY-MM-DD HH:MM:SS" at times; the day is what counts here.
    if (s.length() > 10 && (s.charAt(10) == ' ' || s.charAt(10) == 'T')) {
      s = s.substring(0, 10);
    }
    try {
      return LocalDate.parse(s);
    } catch (DateTimeParseException e) {
      throw ApiException.badRequest(name, name + ": \"" + (v.length() > 40 ? v.substring(0, 40) + "…" : v)
          + "\" is not a day. Use YYYY-MM-DD (a UTC day; both ends of a range are inclusive).");
    }
  }

  /** Restricts rows to what the caller may see (see the class comment). */
  static Condition scope(Caller c) {
    if (c.readsAll()) {
      return DSL.trueCondition();
    }
    return c.userId() == null ? DSL.falseCondition() : SLUICE_SPEND_DAILY.USER_ID.eq(c.userId());
  }

  private static Field<Double> spend() {
    return DSL.sum(SLUICE_SPEND_DAILY.SPEND).cast(Double.class).as("spend");
  }

  private static Field<Long> sumLong(Field<Long> f, String as) {
    return DSL.sum(f).cast(Long.class).as(as);
  }

  // ---- /global/spend/report ------------------------------------------------------------------------------------

  JsonNode globalReport(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    Range r = range(q);
    String groupBy = Query.string(q, "group_by");
    if (groupBy == null) {
      groupBy = "team";
    }
    Condition where = r.condition().and(scope(c));
    String apiKey = Query.string(q, "api_key");
    if (apiKey != null) {
      where = where.and(SLUICE_SPEND_DAILY.API_KEY.eq(Keys.hashOf("api_key", apiKey).hex()));
    }
    String user = Query.string(q, "internal_user_id");
    if (user != null) {
      where = where.and(SLUICE_SPEND_DAILY.USER_ID.eq(user));
    }
    String team = Query.string(q, "team_id");
    if (team != null) {
      where = where.and(SLUICE_SPEND_DAILY.TEAM_ID.eq(team));
    }
    if (apiKey != null || user != null) {
      groupBy = "api_key"; // LiteLLM answers these filters in the per-key shape
    }
    return switch (groupBy) {
      case "team" -> byDay(dsl, where, true);
      case "customer" -> byDay(dsl, where, false);
      case "api_key" -> byKey(dsl, where);
      default -> throw ApiException.badRequest("group_by", "group_by: \"" + groupBy + "\" is not one of team, "
          + "customer, api_key.");
    };
  }

  /**
   * The per-day report query of {@code group_by=team}: spend and tokens per day, team, model and key over the
   * rollup. Package-private so the scale test can {@code EXPLAIN} the very query the endpoint runs.
   */
  static ResultQuery<? extends Record> teamReportQuery(DSLContext dsl, Condition where) {
    return dsl.select(SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.TEAM_ID, SLUICE_SPEND_DAILY.MODEL_GROUP,
            SLUICE_SPEND_DAILY.API_KEY, spend(), sumLong(SLUICE_SPEND_DAILY.TOTAL_TOKENS, "total_tokens"))
        .from(SLUICE_SPEND_DAILY).where(where)
        .groupBy(SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.TEAM_ID, SLUICE_SPEND_DAILY.MODEL_GROUP,
            SLUICE_SPEND_DAILY.API_KEY)
        .orderBy(SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.TEAM_ID, DSL.field("spend").desc());
  }

  /**
   * LiteLLM's {@code group_by=team} shape: {@code [{"group_by_day","teams":[{"team_name","total_spend",
   * "metadata":[{"model","api_key","spend","total_tokens"}]}]}]}; for customers {@code "customers":[{"customer",
   * …}]}. Sluice does not record LiteLLM's {@code end_user} (the request body's {@code user}), so every customer
   * row is {@code "customer": null}.
   */
  private static ArrayNode byDay(DSLContext dsl, Condition where, boolean teams) {
    Map<String, String> aliases = teams ? teamAliases(dsl) : Map.of();
    Map<LocalDate, Map<String, ObjectNode>> days = new TreeMap<>();
    teamReportQuery(dsl, where).forEach(rec -> {
      LocalDate d = rec.get(SLUICE_SPEND_DAILY.DAY);
      String group = teams ? teamName(aliases, rec.get(SLUICE_SPEND_DAILY.TEAM_ID)) : "";
      ObjectNode g = days.computeIfAbsent(d, x -> new LinkedHashMap<>()).computeIfAbsent(group, x -> {
        ObjectNode o = Out.obj();
        if (teams) {
          o.put("team_name", x);
        } else {
          o.putNull("customer");
        }
        o.put("total_spend", 0.0);
        o.putArray("metadata");
        return o;
      });
      double s = rec.get("spend", Double.class);
      g.put("total_spend", g.get("total_spend").asDouble() + s);
      ObjectNode m = ((ArrayNode) g.get("metadata")).addObject();
      m.put("model", rec.get(SLUICE_SPEND_DAILY.MODEL_GROUP));
      m.put("api_key", rec.get(SLUICE_SPEND_DAILY.API_KEY));
      m.put("spend", s);
      m.put("total_tokens", rec.get("total_tokens", Long.class));
    });
    ArrayNode out = Out.F.arrayNode();
    days.forEach((d, groups) -> {
      ObjectNode day = out.addObject();
      day.put("group_by_day", d + "T00:00:00+00:00"); // LiteLLM: date_trunc('day', …) of a timestamptz
      ArrayNode a = day.putArray(teams ? "teams" : "customers");
      groups.values().forEach(a::add);
    });
    return out;
  }

  private static String teamName(Map<String, String> aliases, String teamId) {
    if (teamId == null || teamId.isEmpty()) {
      return UNASSIGNED_TEAM;
    }
    String a = aliases.get(teamId);
    return a == null ? teamId : a;
  }

  private static Map<String, String> teamAliases(DSLContext dsl) {
    Map<String, String> m = new HashMap<>();
    dsl.select(SLUICE_TEAMS.TEAM_ID, SLUICE_TEAMS.TEAM_ALIAS).from(SLUICE_TEAMS)
        .forEach(r -> m.put(r.value1(), r.value2()));
    return m;
  }

  /**
   * LiteLLM's {@code group_by=api_key} shape: {@code [{"api_key","total_cost","total_input_tokens",
   * "total_output_tokens","model_details":[{"model","total_cost","total_input_tokens","total_output_tokens"}]}]},
   * highest cost first.
   */
  private static ArrayNode byKey(DSLContext dsl, Condition where) {
    Map<String, ObjectNode> keys = new LinkedHashMap<>();
    dsl.select(SLUICE_SPEND_DAILY.API_KEY, SLUICE_SPEND_DAILY.MODEL_GROUP, spend(),
            sumLong(SLUICE_SPEND_DAILY.PROMPT_TOKENS, "prompt_tokens"),
            sumLong(SLUICE_SPEND_DAILY.COMPLETION_TOKENS, "completion_tokens"))
        .from(SLUICE_SPEND_DAILY).where(where)
        .groupBy(SLUICE_SPEND_DAILY.API_KEY, SLUICE_SPEND_DAILY.MODEL_GROUP)
        .orderBy(SLUICE_SPEND_DAILY.API_KEY, DSL.field("spend").desc())
        .forEach(rec -> {
          String k = rec.get(SLUICE_SPEND_DAILY.API_KEY);
          ObjectNode o = keys.computeIfAbsent(k, x -> {
            ObjectNode n = Out.obj();
            n.put("api_key", x);
            n.put("total_cost", 0.0);
            n.put("total_input_tokens", 0L);
            n.put("total_output_tokens", 0L);
            n.putArray("model_details");
            return n;
          });
          double s = rec.get("spend", Double.class);
          long in = rec.get("prompt_tokens", Long.class);
          long outTok = rec.get("completion_tokens", Long.class);
          o.put("total_cost", o.get("total_cost").asDouble() + s);
          o.put("total_input_tokens", o.get("total_input_tokens").asLong() + in);
          o.put("total_output_tokens", o.get("total_output_tokens").asLong() + outTok);
          ObjectNode m = ((ArrayNode) o.get("model_details")).addObject();
          m.put("model", rec.get(SLUICE_SPEND_DAILY.MODEL_GROUP));
          m.put("total_cost", s);
          m.put("total_input_tokens", in);
          m.put("total_output_tokens", outTok);
        });
    List<ObjectNode> sorted = new ArrayList<>(keys.values());
    sorted.sort((a, b) -> Double.compare(b.get("total_cost").asDouble(), a.get("total_cost").asDouble()));
    ArrayNode out = Out.F.arrayNode();
    sorted.forEach(out::add);
    return out;
  }

  // ---- /spend/keys, /spend/users ---------------------------------------------------------------------------------

  /** Every key the caller may see, as LiteLLM's LiteLLM_VerificationToken rows, highest spend first. */
  ArrayNode spendKeys(DSLContext dsl, Caller c) {
    Condition cond = c.readsAll() ? DSL.trueCondition()
        : c.userId() == null ? DSL.falseCondition() : SLUICE_KEYS.USER_ID.eq(c.userId());
    ArrayNode out = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_KEYS).where(cond).orderBy(SLUICE_KEYS.SPEND.desc(), SLUICE_KEYS.TOKEN).limit(10_000)
        .forEach(r -> out.add(KeyApi.keyJson(r)));
    return out;
  }

  /** Users (LiteLLM_UserTable rows), highest spend first; {@code ?user_id=} one of them. */
  ArrayNode spendUsers(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    String userId = Query.string(q, "user_id");
    Condition cond = userId == null ? DSL.trueCondition() : SLUICE_USERS.USER_ID.eq(userId);
    if (!c.readsAll()) {
      if (userId != null && !c.self(userId)) {
        throw c.denied("/spend/users", "a user may read only its own row (user_id=" + c.userId() + "); "
            + "proxy_admin and proxy_admin_viewer may read all");
      }
      cond = c.userId() == null ? DSL.falseCondition() : SLUICE_USERS.USER_ID.eq(c.userId());
    }
    ArrayNode out = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_USERS).where(cond).orderBy(SLUICE_USERS.SPEND.desc(), SLUICE_USERS.USER_ID).limit(10_000)
        .forEach(r -> out.add(UserApi.userJson(r)));
    return out;
  }

  // ---- top spenders --------------------------------------------------------------------------------------------

  /** {@code [{"api_key","total_spend","key_alias","key_name"}]}: LiteLLM's Last30dKeysBySpend view. */
  ArrayNode topKeys(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    Range r = rangeOrLast30(q);
    int limit = Query.positiveInt(q, "limit", 10, 1000);
    var top = dsl.select(SLUICE_SPEND_DAILY.API_KEY, spend())
        .from(SLUICE_SPEND_DAILY).where(r.condition().and(scope(c)).and(SLUICE_SPEND_DAILY.API_KEY.ne("")))
        .groupBy(SLUICE_SPEND_DAILY.API_KEY).orderBy(DSL.field("spend").desc()).limit(limit).asTable("top");
    Field<String> key = top.field(SLUICE_SPEND_DAILY.API_KEY);
    Field<Double> total = top.field("spend", Double.class);
    ArrayNode out = Out.F.arrayNode();
    dsl.select(key, total, SLUICE_KEYS.KEY_ALIAS, SLUICE_KEYS.KEY_NAME).from(top)
        .leftJoin(SLUICE_KEYS).on(SLUICE_KEYS.TOKEN.eq(key)).orderBy(total.desc(), key)
        .forEach(rec -> {
          ObjectNode o = out.addObject();
          o.put("api_key", rec.get(key));
          o.put("total_spend", rec.get(total));
          o.put("key_alias", rec.get(SLUICE_KEYS.KEY_ALIAS));
          o.put("key_name", rec.get(SLUICE_KEYS.KEY_NAME));
        });
    return out;
  }

  /** {@code [{"model","total_spend","total_tokens"}]}: LiteLLM's Last30dModelsBySpend view. */
  ArrayNode topModels(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    Range r = rangeOrLast30(q);
    int limit = Query.positiveInt(q, "limit", 10, 1000);
    ArrayNode out = Out.F.arrayNode();
    dsl.select(SLUICE_SPEND_DAILY.MODEL_GROUP, spend(), sumLong(SLUICE_SPEND_DAILY.TOTAL_TOKENS, "total_tokens"))
        .from(SLUICE_SPEND_DAILY).where(r.condition().and(scope(c)))
        .groupBy(SLUICE_SPEND_DAILY.MODEL_GROUP).orderBy(DSL.field("spend").desc(), SLUICE_SPEND_DAILY.MODEL_GROUP)
        .limit(limit)
        .forEach(rec -> {
          ObjectNode o = out.addObject();
          o.put("model", rec.get(SLUICE_SPEND_DAILY.MODEL_GROUP));
          o.put("total_spend", rec.get("spend", Double.class));
          o.put("total_tokens", rec.get("total_tokens", Long.class));
        });
    return out;
  }

  /**
   * LiteLLM's {@code /global/spend/teams}: {@code {"daily_spend":[{"date","<team>":spend,…}],"teams":[…],
   * "total_spend_per_team":[{"team_id","total_spend"}]}} (team aliases where set; top 10 in the totals).
   */
  ObjectNode teams(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    Range r = rangeOrLast30(q);
    Map<String, String> aliases = teamAliases(dsl);
    Map<LocalDate, ObjectNode> days = new TreeMap<>();
    Map<String, Double> totals = new LinkedHashMap<>();
    dsl.select(SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.TEAM_ID, spend())
        .from(SLUICE_SPEND_DAILY).where(r.condition().and(scope(c)))
        .groupBy(SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.TEAM_ID)
        .forEach(rec -> {
          String team = rec.get(SLUICE_SPEND_DAILY.TEAM_ID).isEmpty() ? "Unassigned"
              : teamName(aliases, rec.get(SLUICE_SPEND_DAILY.TEAM_ID));
          LocalDate d = rec.get(SLUICE_SPEND_DAILY.DAY);
          double s = rec.get("spend", Double.class);
          ObjectNode day = days.computeIfAbsent(d, x -> {
            ObjectNode o = Out.obj();
            o.put("date", x.toString());
            return o;
          });
          day.put(team, day.path(team).asDouble(0) + s);
          totals.merge(team, s, Double::sum);
        });
    ObjectNode out = Out.obj();
    ArrayNode daily = out.putArray("daily_spend");
    days.values().forEach(daily::add);
    out.set("teams", Out.arr(new ArrayList<>(totals.keySet())));
    ArrayNode tot = out.putArray("total_spend_per_team");
    totals.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue(), a.getValue())).limit(10)
        .forEach(e -> tot.addObject().put("team_id", e.getKey()).put("total_spend", e.getValue()));
    return out;
  }

  // ---- activity ------------------------------------------------------------------------------------------------

  /**
   * LiteLLM's {@code /global/activity}: {@code {"daily_data":[{"date","api_requests","total_tokens"}],
   * "sum_api_requests","sum_total_tokens"}}; {@code perModel}: {@code /global/activity/model}, one such object per
   * model with its {@code "model"}, most requests first. Sluice writes {@code date} as {@code YYYY-MM-DD} (LiteLLM:
   * "Jan 22", which cannot be sorted or told apart across years).
   */
  JsonNode activity(DSLContext dsl, Caller c, Map<String, List<String>> q, boolean perModel) {
    Range r = range(q);
    Map<String, ObjectNode> groups = new LinkedHashMap<>();
    List<Field<?>> fields = new ArrayList<>(List.of(SLUICE_SPEND_DAILY.DAY,
        sumLong(SLUICE_SPEND_DAILY.REQUESTS, "api_requests"), sumLong(SLUICE_SPEND_DAILY.TOTAL_TOKENS,
            "total_tokens")));
    List<Field<?>> groupBy = new ArrayList<>(List.of(SLUICE_SPEND_DAILY.DAY));
    if (perModel) {
      fields.add(SLUICE_SPEND_DAILY.MODEL_GROUP);
      groupBy.add(SLUICE_SPEND_DAILY.MODEL_GROUP);
    }
    dsl.select(fields).from(SLUICE_SPEND_DAILY).where(r.condition().and(scope(c))).groupBy(groupBy)
        .orderBy(SLUICE_SPEND_DAILY.DAY)
        .forEach(rec -> {
          String model = perModel ? rec.get(SLUICE_SPEND_DAILY.MODEL_GROUP) : "";
          ObjectNode g = groups.computeIfAbsent(model, m -> {
            ObjectNode o = Out.obj();
            if (perModel) {
              o.put("model", m);
            }
            o.putArray("daily_data");
            o.put("sum_api_requests", 0L);
            o.put("sum_total_tokens", 0L);
            return o;
          });
          long n = rec.get("api_requests", Long.class);
          long t = rec.get("total_tokens", Long.class);
          ((ArrayNode) g.get("daily_data")).addObject().put("date", rec.get(SLUICE_SPEND_DAILY.DAY).toString())
              .put("api_requests", n).put("total_tokens", t);
          g.put("sum_api_requests", g.get("sum_api_requests").asLong() + n);
          g.put("sum_total_tokens", g.get("sum_total_tokens").asLong() + t);
        });
    if (!perModel) {
      ObjectNode g = groups.get("");
      if (g == null) {
        g = Out.obj();
        g.putArray("daily_data");
        g.put("sum_api_requests", 0L);
        g.put("sum_total_tokens", 0L);
      }
      return g;
    }
    ArrayNode out = Out.F.arrayNode();
    groups.values().stream()
        .sorted((a, b) -> Long.compare(b.get("sum_api_requests").asLong(), a.get("sum_api_requests").asLong()))
        .limit(10).forEach(out::add);
    return out;
  }

  /**
   * LiteLLM's daily activity ({@code /user/daily/activity}, {@code /team/daily/activity}:
   * {@code SpendAnalyticsPaginatedResponse}): {@code {"results":[{"date","metrics":{spend, prompt_tokens,
   * completion_tokens, total_tokens, api_requests, successful_requests, failed_requests},"breakdown":{"models":{…},
   * "api_keys":{…},"teams":{…},"entities":{…}}}],"metadata":{total_spend, …, page, total_pages, has_more}}}. Each
   * breakdown entry is {@code {"metrics":{…},"metadata":{…}}}; {@code entities} are users ({@code user}) or teams
   * ({@code team}). Filters: {@code model}, {@code api_key}, {@code user_id}, {@code team_ids} (comma-separated).
   * All days of the range in one page.
   */
  ObjectNode dailyActivity(DSLContext dsl, Caller c, Map<String, List<String>> q, boolean team) {
    Range r = range(q);
    Condition where = r.condition().and(scope(c));
    String model = Query.string(q, "model");
    if (model != null) {
      where = where.and(SLUICE_SPEND_DAILY.MODEL_GROUP.eq(model));
    }
    String apiKey = Query.string(q, "api_key");
    if (apiKey != null) {
      where = where.and(SLUICE_SPEND_DAILY.API_KEY.eq(Keys.hashOf("api_key", apiKey).hex()));
    }
    String userId = Query.string(q, "user_id");
    if (userId != null) {
      where = where.and(SLUICE_SPEND_DAILY.USER_ID.eq(userId));
    }
    String teamIds = Query.string(q, "team_ids");
    if (teamIds == null) {
      teamIds = Query.string(q, "team_id");
    }
    if (teamIds != null) {
      List<String> ids = new ArrayList<>();
      for (String t : teamIds.split(",")) {
        if (!t.isBlank()) {
          ids.add(t.strip());
        }
      }
      where = where.and(SLUICE_SPEND_DAILY.TEAM_ID.in(ids));
    }
    Map<String, String> aliases = teamAliases(dsl);
    Map<String, String[]> keyNames = new HashMap<>();
    Map<LocalDate, ObjectNode> days = new TreeMap<>();
    long[] tot = new long[6];
    double[] totalSpend = {0};
    dsl.select(SLUICE_SPEND_DAILY.DAY, SLUICE_SPEND_DAILY.API_KEY, SLUICE_SPEND_DAILY.USER_ID,
            SLUICE_SPEND_DAILY.TEAM_ID, SLUICE_SPEND_DAILY.MODEL_GROUP, SLUICE_SPEND_DAILY.REQUESTS,
            SLUICE_SPEND_DAILY.FAILURES, SLUICE_SPEND_DAILY.PROMPT_TOKENS, SLUICE_SPEND_DAILY.COMPLETION_TOKENS,
            SLUICE_SPEND_DAILY.TOTAL_TOKENS, SLUICE_SPEND_DAILY.SPEND, SLUICE_KEYS.KEY_ALIAS, SLUICE_KEYS.KEY_NAME)
        .from(SLUICE_SPEND_DAILY).leftJoin(SLUICE_KEYS).on(SLUICE_KEYS.TOKEN.eq(SLUICE_SPEND_DAILY.API_KEY))
        .where(where).orderBy(SLUICE_SPEND_DAILY.DAY)
        .forEach(rec -> {
          long[] n = {rec.get(SLUICE_SPEND_DAILY.REQUESTS), rec.get(SLUICE_SPEND_DAILY.FAILURES),
              rec.get(SLUICE_SPEND_DAILY.PROMPT_TOKENS), rec.get(SLUICE_SPEND_DAILY.COMPLETION_TOKENS),
              rec.get(SLUICE_SPEND_DAILY.TOTAL_TOKENS)};
          double s = rec.get(SLUICE_SPEND_DAILY.SPEND);
          ObjectNode day = days.computeIfAbsent(rec.get(SLUICE_SPEND_DAILY.DAY), d -> {
            ObjectNode o = Out.obj();
            o.put("date", d.toString());
            o.set("metrics", metrics());
            ObjectNode b = o.putObject("breakdown");
            b.putObject("models");
            b.putObject("api_keys");
            b.putObject("teams");
            b.putObject("entities");
            b.putObject("providers");
            return o;
          });
          add((ObjectNode) day.get("metrics"), n, s);
          ObjectNode b = (ObjectNode) day.get("breakdown");
          String mg = rec.get(SLUICE_SPEND_DAILY.MODEL_GROUP);
          add(entry((ObjectNode) b.get("models"), mg.isEmpty() ? "(none)" : mg), n, s);
          String key = rec.get(SLUICE_SPEND_DAILY.API_KEY);
          ObjectNode k = entry((ObjectNode) b.get("api_keys"), key.isEmpty() ? "(master key)" : key);
          ((ObjectNode) k.get("metadata")).put("key_alias", rec.get(SLUICE_KEYS.KEY_ALIAS))
              .put("key_name", rec.get(SLUICE_KEYS.KEY_NAME));
          add(k, n, s);
          String t = rec.get(SLUICE_SPEND_DAILY.TEAM_ID);
          ObjectNode te = entry((ObjectNode) b.get("teams"), t.isEmpty() ? "(no team)" : t);
          ((ObjectNode) te.get("metadata")).put("team_alias", t.isEmpty() ? null : aliases.get(t));
          add(te, n, s);
          String entity = team ? t : rec.get(SLUICE_SPEND_DAILY.USER_ID);
          add(entry((ObjectNode) b.get("entities"), entity.isEmpty() ? "(none)" : entity), n, s);
          for (int i = 0; i < 5; i++) {
            tot[i] += n[i];
          }
          totalSpend[0] += s;
        });
    ObjectNode out = Out.obj();
    ArrayNode results = out.putArray("results");
    days.values().forEach(results::add);
    ObjectNode m = out.putObject("metadata");
    m.put("total_spend", totalSpend[0]);
    m.put("total_prompt_tokens", tot[2]);
    m.put("total_completion_tokens", tot[3]);
    m.put("total_tokens", tot[4]);
    m.put("total_api_requests", tot[0]);
    m.put("total_successful_requests", tot[0] - tot[1]);
    m.put("total_failed_requests", tot[1]);
    m.put("total_cache_read_input_tokens", 0);
    m.put("total_cache_creation_input_tokens", 0);
    m.put("page", 1);
    m.put("total_pages", 1);
    m.put("has_more", false);
    return out;
  }

  private static ObjectNode metrics() {
    ObjectNode o = Out.obj();
    o.put("spend", 0.0);
    o.put("prompt_tokens", 0L);
    o.put("completion_tokens", 0L);
    o.put("total_tokens", 0L);
    o.put("cache_read_input_tokens", 0L);
    o.put("cache_creation_input_tokens", 0L);
    o.put("api_requests", 0L);
    o.put("successful_requests", 0L);
    o.put("failed_requests", 0L);
    return o;
  }

  private static ObjectNode entry(ObjectNode parent, String name) {
    JsonNode e = parent.get(name);
    if (e != null) {
      return (ObjectNode) e;
    }
    ObjectNode o = parent.putObject(name);
    o.set("metrics", metrics());
    o.putObject("metadata");
    return o;
  }

  /** Adds requests, failures, prompt, completion, total tokens and spend to a {@code metrics} (or its holder). */
  private static void add(ObjectNode target, long[] n, double s) {
    ObjectNode m = target.has("metrics") ? (ObjectNode) target.get("metrics") : target;
    m.put("spend", m.get("spend").asDouble() + s);
    m.put("api_requests", m.get("api_requests").asLong() + n[0]);
    m.put("failed_requests", m.get("failed_requests").asLong() + n[1]);
    m.put("successful_requests", m.get("successful_requests").asLong() + n[0] - n[1]);
    m.put("prompt_tokens", m.get("prompt_tokens").asLong() + n[2]);
    m.put("completion_tokens", m.get("completion_tokens").asLong() + n[3]);
    m.put("total_tokens", m.get("total_tokens").asLong() + n[4]);
  }
}
