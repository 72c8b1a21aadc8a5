package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.admin.db.jooq.tables.records.SluiceSpendLogsRecord;
import java.time.Instant;
import java.time.LocalDate;
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
 * {@code GET /spend/logs}: spend-log rows in LiteLLM's {@code SpendLogs} shape, newest first. Filters:
 * {@code api_key} (the key or its hash), {@code user_id}, {@code team_id}, {@code request_id}, {@code start_date} and
 * {@code end_date} (UTC days {@code YYYY-MM-DD}, inclusive, or ISO-8601 instants), {@code limit} (≤ 1000, default
 * 100) and {@code page}. Admins and admin viewers read every row; other roles only their own user's rows.
 */
final class SpendApi {
  private static final JsonNodeFactory F = JsonNodeFactory.instance;

  JsonNode logs(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    List<Condition> where = new ArrayList<>();
    String key = Query.string(q, "api_key");
    if (key != null) {
      where.add(SLUICE_SPEND_LOGS.API_KEY.eq(Keys.hashOf("api_key", key).hex()));
    }
    String user = Query.string(q, "user_id");
    if (!c.readsAll()) {
      if (c.userId() == null) {
        throw ApiException.forbidden("Only proxy_admin or proxy_admin_viewer can read spend logs of every user; this "
            + "key has no user, so it has no spend logs of its own to read.");
      }
      if (user != null && !user.equals(c.userId())) {
        throw ApiException.forbidden("A " + c.role().wireName() + " can read only its own spend logs (user_id="
            + c.userId() + "); proxy_admin or proxy_admin_viewer is needed for other users.");
      }
      user = c.userId();
    }
    if (user != null) {
      where.add(SLUICE_SPEND_LOGS.USER_ID.eq(user));
    }
    String team = Query.string(q, "team_id");
    if (team != null) {
      where.add(SLUICE_SPEND_LOGS.TEAM_ID.eq(team));
    }
    String request = Query.string(q, "request_id");
    if (request != null) {
      where.add(SLUICE_SPEND_LOGS.REQUEST_ID.eq(request));
    }
    OffsetDateTime from = time(q, "start_date", false);
    OffsetDateTime to = time(q, "end_date", true);
    if (from != null) {
      where.add(SLUICE_SPEND_LOGS.START_TIME.ge(from));
    }
    if (to != null) {
      where.add(SLUICE_SPEND_LOGS.START_TIME.lt(to));
    }
    if (from != null && to != null && !from.isBefore(to)) {
      throw ApiException.badRequest("end_date", "end_date is before start_date.");
    }
    int limit = Query.positiveInt(q, "limit", 100, 1000);
    int page = Query.positiveInt(q, "page", 1, 1_000_000);
    ArrayNode out = F.arrayNode();
    for (SluiceSpendLogsRecord r : dsl.selectFrom(SLUICE_SPEND_LOGS).where(DSL.and(where))
        .orderBy(SLUICE_SPEND_LOGS.START_TIME.desc(), SLUICE_SPEND_LOGS.REQUEST_ID)
        .limit(limit).offset((long) (page - 1) * limit).fetch()) {
      out.add(row(r));
    }
    return out;
  }

  /** A day (start of it, or start of the next for an inclusive end) or an instant; 400 naming the parameter. */
  private static OffsetDateTime time(Map<String, List<String>> q, String name, boolean end) {
    String s = Query.string(q, name);
    if (s == null) {
      return null;
    }
    try {
      LocalDate d = LocalDate.parse(s);
      return (end ? d.plusDays(1) : d).atStartOfDay().atOffset(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      try {
        return Instant.parse(s).atOffset(ZoneOffset.UTC);
      } catch (DateTimeParseException e2) {
        throw ApiException.badRequest(name, name + ": expected a date YYYY-MM-DD (UTC) or an ISO-8601 instant such as "
            + "2026-01-31T12:00:00Z, got \"" + (s.length() > 40 ? s.substring(0, 40) + "…" : s) + "\".");
      }
    }
  }

  private static ObjectNode row(SluiceSpendLogsRecord r) {
    ObjectNode o = F.objectNode();
    o.put("request_id", r.getRequestId());
    o.put("call_type", r.getCallType());
    o.put("api_key", r.getApiKey());
    o.put("spend", r.getSpend());
    o.put("total_tokens", r.getTotalTokens());
    o.put("prompt_tokens", r.getPromptTokens());
    o.put("completion_tokens", r.getCompletionTokens());
    o.put("startTime", r.getStartTime().toInstant().toString());
    o.put("endTime", r.getEndTime().toInstant().toString());
    o.put("model", r.getModelGroup());
    o.put("model_id", r.getModelId());
    o.put("model_group", r.getModelGroup());
    o.put("api_base", (String) null);
    o.put("user", r.getUserId());
    o.put("team_id", r.getTeamId());
    o.put("status", r.getStatus() > 0 && r.getStatus() < 400 && "completed".equals(r.getOutcome())
        ? "success" : "failure");
    ObjectNode m = o.putObject("metadata");
    m.put("user_api_key_alias", r.getKeyAlias());
    m.put("user_api_key_user_id", r.getUserId());
    m.put("user_api_key_team_id", r.getTeamId());
    m.put("status_code", r.getStatus());
    m.put("outcome", r.getOutcome());
    m.put("stream", r.getStream());
    m.put("stream_finished", r.getStreamFinished());
    m.put("tokens_estimated", r.getTokensEstimated());
    o.put("tokens_estimated", r.getTokensEstimated());
    o.putArray("request_tags");
    return o;
  }
}
