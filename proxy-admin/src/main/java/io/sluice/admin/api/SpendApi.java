package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.admin.db.jooq.tables.records.SluiceSpendLogsRecord;
import java.time.Duration;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;

/**
 * {@code GET /spend/logs} (LiteLLM's spend_management_endpoints.py {@code view_spend_logs}): spend-log rows, newest
 * first, as LiteLLM's {@code LiteLLM_SpendLogs} rows. Filters: {@code api_key} (a key or its hash), {@code user_id},
 * {@code team_id}, {@code request_id}, {@code start_date}/{@code end_date} (on the request's start); paging with
 * {@code limit} (default 100, at most 1000) and {@code page} or {@code offset}.
 *
 * <p>Who sees what (as LiteLLM): {@code proxy_admin} and {@code proxy_admin_viewer} every row;
 * {@code internal_user} and {@code internal_user_viewer} only rows of their own user_id.
 */
final class SpendApi {
  static final int DEFAULT_LIMIT = 100;
  static final int MAX_LIMIT = 1000;

  ArrayNode logs(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    List<Condition> where = new ArrayList<>();
    String apiKey = Query.string(q, "api_key");
    if (apiKey != null) {
      where.add(SLUICE_SPEND_LOGS.API_KEY.eq(Keys.hashOf("api_key", apiKey).hex()));
    }
    String userId = Query.string(q, "user_id");
    if (userId != null) {
      where.add(SLUICE_SPEND_LOGS.USER_ID.eq(userId));
    }
    String teamId = Query.string(q, "team_id");
    if (teamId != null) {
      where.add(SLUICE_SPEND_LOGS.TEAM_ID.eq(teamId));
    }
    String requestId = Query.string(q, "request_id");
    if (requestId != null) {
      where.add(SLUICE_SPEND_LOGS.REQUEST_ID.eq(requestId));
    }
    OffsetDateTime from = time(q, "start_date", false);
    if (from != null) {
      where.add(SLUICE_SPEND_LOGS.START_TIME.ge(from));
    }
    OffsetDateTime to = time(q, "end_date", true);
    if (to != null) {
      // A day is inclusive: up to the next day's midnight, exclusive. An instant is inclusive too.
      where.add(isDay(Query.string(q, "end_date")) ? SLUICE_SPEND_LOGS.START_TIME.lt(to)
          : SLUICE_SPEND_LOGS.START_TIME.le(to));
    }
    if (from != null && to != null && from.isAfter(to)) {
      throw ApiException.badRequest("start_date", "start_date is after end_date: nothing can match. Dates are "
          + "inclusive UTC days (YYYY-MM-DD) or ISO-8601 instants.");
    }
    if (!c.readsAll()) {
      if (userId != null && !c.self(userId)) {
        throw c.denied("/spend/logs", "a user may read only its own spend logs (user_id=" + c.userId() + "); "
            + "proxy_admin and proxy_admin_viewer may read all");
      }
      where.add(c.userId() == null ? DSL.falseCondition() : SLUICE_SPEND_LOGS.USER_ID.eq(c.userId()));
    }
    int limit = Query.positiveInt(q, "limit", DEFAULT_LIMIT, MAX_LIMIT);
    long offset;
    if (Query.string(q, "offset") != null) {
      offset = Query.nonNegativeLong(q, "offset", 0, Integer.MAX_VALUE);
    } else {
      offset = (long) (Query.positiveInt(q, "page", 1, Integer.MAX_VALUE) - 1) * limit;
    }
    ArrayNode out = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_SPEND_LOGS).where(DSL.and(where))
        .orderBy(SLUICE_SPEND_LOGS.START_TIME.desc(), SLUICE_SPEND_LOGS.REQUEST_ID.desc())
        .limit(limit).offset(offset)
        .forEach(r -> out.add(row(r)));
    return out;
  }

  /** LiteLLM's LiteLLM_SpendLogs row; Sluice's own columns go to {@code metadata}. */
  static ObjectNode row(SluiceSpendLogsRecord r) {
    ObjectNode o = Out.obj();
    o.put("request_id", r.getRequestId());
    o.put("call_type", r.getRoute());
    o.put("api_key", orEmpty(r.getApiKey())); // the hash: LiteLLM's column holds hash_token(key), "" for none
    o.put("spend", r.getSpend());
    o.put("total_tokens", r.getTotalTokens());
    o.put("prompt_tokens", r.getPromptTokens());
    o.put("completion_tokens", r.getCompletionTokens());
    o.set("startTime", Out.time(r.getStartTime()));
    o.set("endTime", Out.time(r.getEndTime()));
    o.put("request_duration_ms", Duration.between(r.getStartTime(), r.getEndTime()).toMillis());
    // LiteLLM's "model" is the provider model it called; Sluice logs the model group that served.
    o.put("model", orEmpty(r.getModelGroup()));
    o.put("model_id", orEmpty(r.getModelId()));
    o.put("model_group", orEmpty(r.getModelGroup()));
    o.put("user", orEmpty(r.getUserId()));
    o.put("team_id", r.getTeamId());
    o.put("end_user", orEmpty(r.getEndUser()));
    o.put("cache_hit", "");
    o.set("request_tags", Out.F.arrayNode());
    boolean success = "completed".equals(r.getOutcome()) && r.getStatus() > 0 && r.getStatus() < 400;
    o.put("status", success ? "success" : "failure");
    ObjectNode m = Out.obj();
    m.put("user_api_key", r.getApiKey());
    m.put("user_api_key_alias", r.getKeyAlias());
    m.put("user_api_key_user_id", r.getUserId());
    m.put("user_api_key_team_id", r.getTeamId());
    m.put("key_alias", r.getKeyAlias());
    m.put("http_status", r.getStatus());
    m.put("outcome", r.getOutcome());
    m.put("stream", r.getStream());
    m.put("stream_finished", r.getStreamFinished());
    m.put("tokens_estimated", r.getTokensEstimated());
    o.set("metadata", m);
    return o;
  }

  /**
   * A date parameter: {@code YYYY-MM-DD} (a UTC day: its start, or for an end the next day's start), an ISO-8601
   * instant ({@code 2024-06-01T12:00:00Z}, with an offset), or LiteLLM's {@code YYYY-MM-DD HH:MM:SS} (UTC).
   */
  static OffsetDateTime time(Map<String, List<String>> q, String name, boolean end) {
    String v = Query.string(q, name);
    if (v == null) {
      return null;
    }
    String s = v.strip();
    try {
      if (isDay(s)) {
        LocalDate d = LocalDate.parse(s);
        return (end ? d.plusDays(1) : d).atStartOfDay().atOffset(ZoneOffset.UTC);
      }
      // A '+' of an offset arrives as a space when the client did not percent-encode it.
      s = s.replaceFirst("^(\\S+T\\S+) (\\d\\d(:?\\d\\d)?)$", "$1+$2");
      if (s.length() > 19 && (s.endsWith("Z") || s.endsWith("z") || s.matches(".*[+-]\\d\\d(:?\\d\\d)?$"))) {
        return OffsetDateTime.parse(s.toUpperCase(java.util.Locale.ROOT)).withOffsetSameInstant(ZoneOffset.UTC);
      }
      return LocalDateTime.parse(s.replace(' ', 'T')).atOffset(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      throw ApiException.badRequest(name, name + ": \"" + (v.length() > 40 ? v.substring(0, 40) + "…" : v)
          + "\" is not a date. Use YYYY-MM-DD (a UTC day, inclusive) or an ISO-8601 instant such as "
          + "2024-06-01T12:00:00Z.");
    }
  }

  private static boolean isDay(String s) {
    return s != null && s.strip().length() == 10;
  }

  private static String orEmpty(String s) {
    return s == null ? "" : s;
  }
}
