package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_END_USERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_ORGANIZATIONS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_ORGANIZATION_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Clock;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record;
import org.jooq.impl.DSL;

/**
 * {@code /budget/*} (LiteLLM's budget_management_endpoints.py): budget rows (LiteLLM_BudgetTable) that end users
 * link by {@code budget_id} ("free_tier", "paid_tier"). Creating, changing and deleting budgets is for
 * {@code proxy_admin}; {@code proxy_admin_viewer} reads them too. The static helpers here are shared with end
 * users' inline budgets and team members' budgets.
 */
final class BudgetApi {
  /** The budget fields {@code /budget/settings} describes, in LiteLLM's order (BudgetNewRequest), with types. */
  private static final Map<String, String[]> SETTINGS = new LinkedHashMap<>();

  static {
    SETTINGS.put("max_budget", new String[] {"Float", "Requests will fail if this budget (in USD) is exceeded."});
    SETTINGS.put("soft_budget", new String[] {"Float", "A budget (in USD) past which alerts are sent; requests are "
        + "not refused."});
    SETTINGS.put("max_parallel_requests", new String[] {"Integer", "Max concurrent requests allowed for this budget "
        + "id."});
    SETTINGS.put("tpm_limit", new String[] {"Integer", "Max tokens per minute allowed for this budget id."});
    SETTINGS.put("rpm_limit", new String[] {"Integer", "Max requests per minute allowed for this budget id."});
    SETTINGS.put("model_max_budget", new String[] {"Object", "Max budget per model, e.g. {\"llama\": "
        + "{\"max_budget\": 10, \"budget_duration\": \"1d\"}}."});
    SETTINGS.put("budget_duration", new String[] {"String", "Max duration budget should be set for (e.g. '1hr', "
        + "'1d', '28d')."});
  }

  private final Clock clock;

  BudgetApi(Clock clock) {
    this.clock = clock;
  }

  ObjectNode create(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/budget/new");
    String id = b.string("budget_id");
    if (id != null && id.isBlank()) {
      throw ApiException.badRequest("budget_id", "budget_id must not be blank; leave it out to get a generated id.");
    }
    String budgetId = id == null ? UUID.randomUUID().toString() : id;
    Map<Field<?>, Object> values = fields(b, now());
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (tx.fetchExists(SLUICE_BUDGETS, SLUICE_BUDGETS.BUDGET_ID.eq(budgetId))) {
        throw ApiException.badRequest("budget_id", "Budget with id '" + budgetId + "' already exists. Use "
            + "/budget/update to change it, or choose another budget_id.");
      }
      return budgetJson(insert(tx, budgetId, values, c, now()));
    });
  }

  ObjectNode update(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/budget/update");
    String budgetId = b.string("budget_id");
    if (budgetId == null || budgetId.isBlank()) {
      throw ApiException.badRequest("budget_id", "budget_id is required: {\"budget_id\": \"…\", \"max_budget\": …}.");
    }
    Map<Field<?>, Object> values = fields(b, now());
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      require(tx, budgetId, "budget_id");
      values.put(SLUICE_BUDGETS.UPDATED_AT, now());
      values.put(SLUICE_BUDGETS.UPDATED_BY, c.actor());
      tx.update(SLUICE_BUDGETS).set(values).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).execute();
      return budgetJson(require(tx, budgetId, "budget_id"));
    });
  }

  /** LiteLLM: {@code POST /budget/info {"budgets": [ids]}} → the rows found (a list). */
  ArrayNode info(DSLContext dsl, Caller c, Body b) {
    c.requireReadsAll("/budget/info");
    List<String> ids = b.strings("budgets");
    if (ids == null || ids.isEmpty()) {
      throw ApiException.badRequest("budgets", "Specify the list of budget ids to query: {\"budgets\": "
          + "[\"free_tier\"]}.");
    }
    ArrayNode out = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.in(ids)).orderBy(SLUICE_BUDGETS.CREATED_AT)
        .forEach(r -> out.add(budgetJson(r)));
    return out;
  }

  ArrayNode list(DSLContext dsl, Caller c) {
    c.requireReadsAll("/budget/list");
    ArrayNode out = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_BUDGETS).orderBy(SLUICE_BUDGETS.CREATED_AT, SLUICE_BUDGETS.BUDGET_ID)
        .forEach(r -> out.add(budgetJson(r)));
    return out;
  }

  /** LiteLLM's ConfigList: each settable field with its type, description and the budget's current value. */
  ArrayNode settings(DSLContext dsl, Caller c, String budgetId) {
    c.requireReadsAll("/budget/settings");
    if (budgetId == null) {
      throw ApiException.badRequest("budget_id", "budget_id is required: /budget/settings?budget_id=<id>.");
    }
    ObjectNode row = budgetJson(require(dsl, budgetId, "budget_id"));
    ArrayNode out = Out.F.arrayNode();
    SETTINGS.forEach((name, typeAndDescription) -> {
      ObjectNode o = Out.obj();
      o.put("field_name", name);
      o.put("field_type", typeAndDescription[0]);
      o.put("field_description", typeAndDescription[1]);
      o.set("field_value", row.get(name));
      o.put("stored_in_db", true);
      o.putNull("field_default_value");
      out.add(o);
    });
    return out;
  }

  /** LiteLLM: {@code {"id": budget_id}} → the deleted row. */
  ObjectNode delete(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/budget/delete");
    String budgetId = b.string("id");
    if (budgetId == null || budgetId.isBlank()) {
      throw ApiException.badRequest("id", "id is required: {\"id\": \"<budget_id>\"}.");
    }
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      ObjectNode row = budgetJson(require(tx, budgetId, "id"));
      int endUsers = tx.fetchCount(SLUICE_END_USERS, SLUICE_END_USERS.BUDGET_ID.eq(budgetId));
      int members = tx.fetchCount(SLUICE_TEAM_MEMBERS, SLUICE_TEAM_MEMBERS.BUDGET_ID.eq(budgetId));
      int orgs = tx.fetchCount(SLUICE_ORGANIZATIONS, SLUICE_ORGANIZATIONS.BUDGET_ID.eq(budgetId))
          + tx.fetchCount(SLUICE_ORGANIZATION_MEMBERS, SLUICE_ORGANIZATION_MEMBERS.BUDGET_ID.eq(budgetId));
      if (endUsers + members + orgs > 0) {
        throw ApiException.badRequest("id", "Budget '" + budgetId + "' is in use by " + endUsers + " end user(s), "
            + members + " team member(s) and " + orgs + " organization(s) or organization member(s); deleting it "
            + "would lift their limits. Move them to another budget (/end_user/update with budget_id, "
            + "/team/member_update, /organization/update) or delete them first. Nothing was deleted.");
      }
      tx.deleteFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).execute();
      return row;
    });
  }

  // ----------------------------------------------------------------------------------------------------- helpers

  /** The budget fields LiteLLM's BudgetNewRequest takes, by name. */
  static final List<String> FIELDS = List.of("max_budget", "soft_budget", "max_parallel_requests", "tpm_limit",
      "rpm_limit", "model_max_budget", "budget_duration", "budget_reset_at");

  /** Whether {@code b} sends any budget field (a non-null value), so an inline budget row is wanted. */
  static boolean sendsBudget(Body b) {
    return FIELDS.stream().anyMatch(b::present);
  }

  /**
   * The budget columns {@code b} sets. A {@code budget_duration} without a {@code budget_reset_at} starts its first
   * period at {@code now}, as LiteLLM; a null duration clears the reset time.
   */
  static Map<Field<?>, Object> fields(Body b, OffsetDateTime now) {
    Map<Field<?>, Object> v = new LinkedHashMap<>();
    if (b.has("max_budget")) {
      v.put(SLUICE_BUDGETS.MAX_BUDGET, b.nonNegativeNumber("max_budget"));
    }
    if (b.has("soft_budget")) {
      v.put(SLUICE_BUDGETS.SOFT_BUDGET, b.nonNegativeNumber("soft_budget"));
    }
    if (b.has("max_parallel_requests")) {
      v.put(SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS, b.nonNegativeInt("max_parallel_requests"));
    }
    if (b.has("tpm_limit")) {
      v.put(SLUICE_BUDGETS.TPM_LIMIT, b.nonNegativeLong("tpm_limit"));
    }
    if (b.has("rpm_limit")) {
      v.put(SLUICE_BUDGETS.RPM_LIMIT, b.nonNegativeLong("rpm_limit"));
    }
    if (b.has("model_max_budget")) {
      ObjectNode m = modelMaxBudget(b);
      v.put(SLUICE_BUDGETS.MODEL_MAX_BUDGET, m == null ? null : Out.jsonb(m));
    }
    OffsetDateTime resetAt = b.has("budget_reset_at") ? time(b, "budget_reset_at") : null;
    if (b.has("budget_duration")) {
      String bd = Durations.check("budget_duration", b.string("budget_duration"));
      v.put(SLUICE_BUDGETS.BUDGET_DURATION, bd);
      v.put(SLUICE_BUDGETS.BUDGET_RESET_AT, bd == null ? null : resetAt != null ? resetAt : Durations.after(now, bd));
    } else if (b.has("budget_reset_at")) {
      v.put(SLUICE_BUDGETS.BUDGET_RESET_AT, resetAt);
    }
    return v;
  }

  /** Inserts a budget row with {@code values}; returns it. */
  static Record insert(DSLContext tx, String budgetId, Map<Field<?>, Object> values, Caller c, OffsetDateTime now) {
    Map<Field<?>, Object> row = new LinkedHashMap<>(values);
    row.put(SLUICE_BUDGETS.BUDGET_ID, budgetId);
    row.put(SLUICE_BUDGETS.CREATED_BY, c.actor());
    row.put(SLUICE_BUDGETS.UPDATED_BY, c.actor());
    row.put(SLUICE_BUDGETS.CREATED_AT, now);
    row.put(SLUICE_BUDGETS.UPDATED_AT, now);
    Uniques.insert(() -> tx.insertInto(SLUICE_BUDGETS).set(row).execute(), "budget_id", budgetId);
    return tx.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).fetchOne();
  }

  /** The budget row, or a 404 naming {@code param}. */
  static Record require(DSLContext dsl, String budgetId, String param) {
    Record r = dsl.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).fetchOne();
    if (r == null) {
      throw ApiException.notFound(param, "Budget id=" + budgetId + " not found. /budget/list lists the budgets; "
          + "/budget/new creates one.");
    }
    return r;
  }

  /** How many end users, team members, organizations and organization members link {@code budgetId}. */
  static int users(DSLContext tx, String budgetId) {
    return tx.fetchCount(SLUICE_END_USERS, SLUICE_END_USERS.BUDGET_ID.eq(budgetId))
        + tx.fetchCount(SLUICE_TEAM_MEMBERS, SLUICE_TEAM_MEMBERS.BUDGET_ID.eq(budgetId))
        + tx.fetchCount(SLUICE_ORGANIZATIONS, SLUICE_ORGANIZATIONS.BUDGET_ID.eq(budgetId))
        + tx.fetchCount(SLUICE_ORGANIZATION_MEMBERS, SLUICE_ORGANIZATION_MEMBERS.BUDGET_ID.eq(budgetId));
  }

  /** Whether a budget row still limits anything (LiteLLM drops a member's budget once it limits nothing). */
  static boolean limitsAnything(Record r) {
    return r.get(SLUICE_BUDGETS.MAX_BUDGET) != null || r.get(SLUICE_BUDGETS.SOFT_BUDGET) != null
        || r.get(SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS) != null || r.get(SLUICE_BUDGETS.TPM_LIMIT) != null
        || r.get(SLUICE_BUDGETS.RPM_LIMIT) != null || r.get(SLUICE_BUDGETS.BUDGET_DURATION) != null
        || (r.get(SLUICE_BUDGETS.MODEL_MAX_BUDGET) != null
            && !Out.json(r.get(SLUICE_BUDGETS.MODEL_MAX_BUDGET)).isEmpty());
  }

  static ObjectNode budgetJson(Record r) {
    ObjectNode o = Out.obj();
    o.put("budget_id", r.get(SLUICE_BUDGETS.BUDGET_ID));
    o.put("max_budget", r.get(SLUICE_BUDGETS.MAX_BUDGET));
    o.put("soft_budget", r.get(SLUICE_BUDGETS.SOFT_BUDGET));
    o.put("max_parallel_requests", r.get(SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS));
    o.put("tpm_limit", r.get(SLUICE_BUDGETS.TPM_LIMIT));
    o.put("rpm_limit", r.get(SLUICE_BUDGETS.RPM_LIMIT));
    if (r.get(SLUICE_BUDGETS.MODEL_MAX_BUDGET) == null) {
      o.putNull("model_max_budget");
    } else {
      o.set("model_max_budget", Out.json(r.get(SLUICE_BUDGETS.MODEL_MAX_BUDGET)));
    }
    o.put("budget_duration", r.get(SLUICE_BUDGETS.BUDGET_DURATION));
    o.set("budget_reset_at", Out.time(r.get(SLUICE_BUDGETS.BUDGET_RESET_AT)));
    o.set("created_at", Out.time(r.get(SLUICE_BUDGETS.CREATED_AT)));
    o.put("created_by", r.get(SLUICE_BUDGETS.CREATED_BY));
    o.set("updated_at", Out.time(r.get(SLUICE_BUDGETS.UPDATED_AT)));
    o.put("updated_by", r.get(SLUICE_BUDGETS.UPDATED_BY));
    return o;
  }

  /**
   * LiteLLM's model_max_budget ({@code validate_model_max_budget}): model name → {@code {max_budget,
   * budget_duration, tpm_limit, rpm_limit}}. Stored and answered; not enforced by Sluice.
   */
  private static ObjectNode modelMaxBudget(Body b) {
    ObjectNode m = b.object("model_max_budget");
    if (m == null) {
      return null;
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String at = "model_max_budget." + e.getKey();
      if (!e.getValue().isObject()) {
        throw ApiException.badRequest("model_max_budget", at + ": expected an object such as {\"max_budget\": 10, "
            + "\"budget_duration\": \"1d\"}, got " + Body.kind(e.getValue()) + ".");
      }
      Body inner = Body.of((ObjectNode) e.getValue());
      try {
        inner.nonNegativeNumber("max_budget");
        inner.nonNegativeLong("tpm_limit");
        inner.nonNegativeLong("rpm_limit");
        Durations.check("budget_duration", inner.string("budget_duration"));
      } catch (ApiException x) {
        throw ApiException.badRequest("model_max_budget", at + "." + x.getMessage());
      }
    }
    return m;
  }

  private static OffsetDateTime time(Body b, String f) {
    String s = b.string(f);
    if (s == null) {
      return null;
    }
    try {
      return OffsetDateTime.parse(s).withOffsetSameInstant(ZoneOffset.UTC);
    } catch (DateTimeParseException e) {
      try {
        return java.time.LocalDateTime.parse(s).atOffset(ZoneOffset.UTC);
      } catch (DateTimeParseException e2) {
        throw ApiException.badRequest(f, f + ": \"" + (s.length() > 40 ? s.substring(0, 40) + "…" : s) + "\" is "
            + "not an ISO-8601 date-time such as \"2026-07-01T00:00:00Z\".");
      }
    }
  }

  private OffsetDateTime now() {
    return OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
  }
}
