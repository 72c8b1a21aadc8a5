package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_END_USERS;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.routing.RegistryHolder;
import java.time.Clock;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record;
import org.jooq.impl.DSL;

/**
 * {@code /end_user/*} and its {@code /customer/*} aliases (LiteLLM's customer_endpoints.py): end users are the
 * {@code user} a request body names — the callers' own customers, not Sluice users. Each may have a budget row
 * (LiteLLM_BudgetTable): a named one linked by {@code budget_id}, or its own, made from the inline budget fields
 * ({@code max_budget}, {@code tpm_limit}, …). Writes are for {@code proxy_admin}; {@code proxy_admin_viewer} reads.
 */
final class EndUserApi {
  private static final Set<String> REGIONS = Set.of("eu", "us");

  private final Clock clock;
  private final RegistryHolder registry;

  EndUserApi(Clock clock, RegistryHolder registry) {
    this.clock = clock;
    this.registry = registry;
  }

  ObjectNode create(DSLContext dsl, Caller c, Body b, String path) {
    c.requireAdmin(path);
    String userId = b.requiredString("user_id");
    Map<Field<?>, Object> values = fields(b);
    boolean inline = BudgetApi.sendsBudget(b);
    String budgetId = b.string("budget_id");
    if (inline && budgetId != null) {
      throw ApiException.badRequest("budget_id", "Send either budget_id (an existing budget) or the budget fields "
          + "(max_budget, tpm_limit, …), not both.");
    }
    Map<Field<?>, Object> budget = BudgetApi.fields(b, now());
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (tx.fetchExists(SLUICE_END_USERS, SLUICE_END_USERS.USER_ID.eq(userId))) {
        throw ApiException.badRequest("user_id", "Customer already exists, passed user_id=" + userId + ". Please "
            + "pass a new user_id, or use /customer/update to change it.");
      }
      OffsetDateTime now = now();
      if (inline) {
        values.put(SLUICE_END_USERS.BUDGET_ID, BudgetApi.insert(tx, UUID.randomUUID().toString(), budget, c, now)
            .get(SLUICE_BUDGETS.BUDGET_ID));
      } else if (budgetId != null) {
        BudgetApi.require(tx, budgetId, "budget_id");
        values.put(SLUICE_END_USERS.BUDGET_ID, budgetId);
      }
      values.put(SLUICE_END_USERS.USER_ID, userId);
      values.put(SLUICE_END_USERS.CREATED_AT, now);
      values.put(SLUICE_END_USERS.UPDATED_AT, now);
      Uniques.insert(() -> tx.insertInto(SLUICE_END_USERS).set(values).execute(), "user_id", userId);
      return endUserJson(tx, require(tx, userId, "user_id"));
    });
  }

  ObjectNode info(DSLContext dsl, Caller c, String endUserId, String path) {
    c.requireReadsAll(path);
    if (endUserId == null) {
      throw ApiException.badRequest("end_user_id", "end_user_id is required: " + path + "?end_user_id=<id>.");
    }
    return endUserJson(dsl, require(dsl, endUserId, "end_user_id"));
  }

  ArrayNode list(DSLContext dsl, Caller c, String path) {
    c.requireReadsAll(path);
    ArrayNode out = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_END_USERS).orderBy(SLUICE_END_USERS.CREATED_AT, SLUICE_END_USERS.USER_ID)
        .forEach(r -> out.add(endUserJson(dsl, r)));
    return out;
  }

  /**
   * Changes the fields sent. Budget fields change the end user's own budget row, or make one; when that row is
   * shared (a named tier other end users or members link), the end user gets a copy with the change instead, so
   * one customer's update never moves a whole tier. {@code budget_id} links an existing budget.
   */
  ObjectNode update(DSLContext dsl, Caller c, Body b, String path) {
    c.requireAdmin(path);
    String userId = b.requiredString("user_id");
    Map<Field<?>, Object> values = fields(b);
    boolean inline = BudgetApi.sendsBudget(b) || BudgetApi.FIELDS.stream().anyMatch(b::has);
    String budgetId = b.string("budget_id");
    if (inline && budgetId != null) {
      throw ApiException.badRequest("budget_id", "Send either budget_id (an existing budget) or the budget fields "
          + "(max_budget, tpm_limit, …), not both.");
    }
    Map<Field<?>, Object> budget = BudgetApi.fields(b, now());
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record row = tx.selectFrom(SLUICE_END_USERS).where(SLUICE_END_USERS.USER_ID.eq(userId)).forUpdate().fetchOne();
      if (row == null) {
        throw ApiException.notFound("user_id", "End User Id=" + userId + " does not exist in db. /customer/new "
            + "creates it.");
      }
      OffsetDateTime now = now();
      String current = row.get(SLUICE_END_USERS.BUDGET_ID);
      if (budgetId != null) {
        BudgetApi.require(tx, budgetId, "budget_id");
        values.put(SLUICE_END_USERS.BUDGET_ID, budgetId);
      } else if (b.has("budget_id") && !inline) {
        values.put(SLUICE_END_USERS.BUDGET_ID, null); // explicit null: no budget
      } else if (inline) {
        values.put(SLUICE_END_USERS.BUDGET_ID, patchBudget(tx, c, current, budget, userId, now));
      }
      values.put(SLUICE_END_USERS.UPDATED_AT, now);
      tx.update(SLUICE_END_USERS).set(values).where(SLUICE_END_USERS.USER_ID.eq(userId)).execute();
      return endUserJson(tx, require(tx, userId, "user_id"));
    });
  }

  /** LiteLLM: all must exist (else 404, nothing deleted) → {@code {"deleted_customers": n, "message"}}. */
  ObjectNode delete(DSLContext dsl, Caller c, Body b, String path) {
    c.requireAdmin(path);
    List<String> ids = b.strings("user_ids");
    if (ids == null || ids.isEmpty()) {
      throw ApiException.badRequest("user_ids", "user_ids is required: {\"user_ids\": [\"…\"]}.");
    }
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Set<String> found = new LinkedHashSet<>(tx.select(SLUICE_END_USERS.USER_ID).from(SLUICE_END_USERS)
          .where(SLUICE_END_USERS.USER_ID.in(ids)).fetch(SLUICE_END_USERS.USER_ID));
      List<String> missing = ids.stream().filter(id -> !found.contains(id)).distinct().toList();
      if (!missing.isEmpty()) {
        throw ApiException.notFound("user_ids", "End User Id(s)=" + String.join(", ", missing) + " do not exist in "
            + "db. Nothing was deleted.");
      }
      int n = tx.deleteFrom(SLUICE_END_USERS).where(SLUICE_END_USERS.USER_ID.in(ids)).execute();
      ObjectNode out = Out.obj();
      out.put("deleted_customers", n);
      out.put("message", "Successfully deleted customers with ids: " + Out.arr(ids));
      return out;
    });
  }

  /**
   * {@code /customer/block} upserts (an unknown id becomes a blocked end user, as LiteLLM) → {@code
   * {"blocked_users": [rows]}}; {@code /customer/unblock} clears the flag of known ids → {@code {"unblocked_users":
   * [rows]}} (404 for an unknown id, nothing changed).
   */
  ObjectNode block(DSLContext dsl, Caller c, Body b, boolean blocked, String path) {
    c.requireAdmin(path);
    List<String> ids = b.strings("user_ids");
    if (ids == null || ids.isEmpty()) {
      throw ApiException.badRequest("user_ids", "user_ids is required: {\"user_ids\": [\"…\"]}.");
    }
    for (int i = 0; i < ids.size(); i++) {
      if (ids.get(i).isBlank()) {
        throw ApiException.badRequest("user_ids", "user_ids[" + i + "] is blank.");
      }
    }
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      OffsetDateTime now = now();
      ArrayNode rows = Out.F.arrayNode();
      for (String id : new LinkedHashSet<>(ids)) {
        if (blocked) {
          tx.insertInto(SLUICE_END_USERS).set(SLUICE_END_USERS.USER_ID, id).set(SLUICE_END_USERS.BLOCKED, true)
              .set(SLUICE_END_USERS.CREATED_AT, now).set(SLUICE_END_USERS.UPDATED_AT, now)
              .onConflict(SLUICE_END_USERS.USER_ID).doUpdate().set(SLUICE_END_USERS.BLOCKED, true)
              .set(SLUICE_END_USERS.UPDATED_AT, now).execute();
        } else if (tx.update(SLUICE_END_USERS).set(SLUICE_END_USERS.BLOCKED, false)
            .set(SLUICE_END_USERS.UPDATED_AT, now).where(SLUICE_END_USERS.USER_ID.eq(id)).execute() == 0) {
          throw ApiException.notFound("user_ids", "End User Id=" + id + " does not exist in db. Nothing was "
              + "unblocked.");
        }
        rows.add(endUserJson(tx, require(tx, id, "user_ids")));
      }
      ObjectNode out = Out.obj();
      out.set(blocked ? "blocked_users" : "unblocked_users", rows);
      return out;
    });
  }

  // ----------------------------------------------------------------------------------------------------- helpers

  /**
   * Applies the budget fields to the end user's budget: in place when the row is its own, on a copy when others
   * link it too, on a new row when it has none. Returns the budget id to link.
   */
  private static String patchBudget(DSLContext tx, Caller c, String current, Map<Field<?>, Object> patch,
      String userId, OffsetDateTime now) {
    if (current != null) {
      Record old = tx.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(current)).forUpdate().fetchOne();
      if (old != null && BudgetApi.users(tx, current) <= 1) {
        Map<Field<?>, Object> v = new LinkedHashMap<>(patch);
        v.put(SLUICE_BUDGETS.UPDATED_AT, now);
        v.put(SLUICE_BUDGETS.UPDATED_BY, c.actor());
        tx.update(SLUICE_BUDGETS).set(v).where(SLUICE_BUDGETS.BUDGET_ID.eq(current)).execute();
        return current;
      }
      if (old != null) {
        Map<Field<?>, Object> copy = new LinkedHashMap<>();
        for (Field<?> f : List.of(SLUICE_BUDGETS.MAX_BUDGET, SLUICE_BUDGETS.SOFT_BUDGET,
            SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS, SLUICE_BUDGETS.TPM_LIMIT, SLUICE_BUDGETS.RPM_LIMIT,
            SLUICE_BUDGETS.MODEL_MAX_BUDGET, SLUICE_BUDGETS.BUDGET_DURATION, SLUICE_BUDGETS.BUDGET_RESET_AT)) {
          copy.put(f, old.get(f));
        }
        copy.putAll(patch);
        return BudgetApi.insert(tx, UUID.randomUUID().toString(), copy, c, now).get(SLUICE_BUDGETS.BUDGET_ID);
      }
    }
    if (patch.values().stream().allMatch(java.util.Objects::isNull)) {
      return null; // only nulls sent and no budget yet: nothing to limit
    }
    return BudgetApi.insert(tx, UUID.randomUUID().toString(), patch, c, now).get(SLUICE_BUDGETS.BUDGET_ID);
  }

  /** The end-user columns {@code b} sets (not the budget, not the id). */
  private Map<Field<?>, Object> fields(Body b) {
    Map<Field<?>, Object> v = new LinkedHashMap<>();
    if (b.has("alias")) {
      v.put(SLUICE_END_USERS.ALIAS, b.string("alias"));
    }
    if (b.has("blocked")) {
      Boolean bl = b.bool("blocked");
      v.put(SLUICE_END_USERS.BLOCKED, bl != null && bl);
    }
    // LiteLLM's NewCustomerRequest also takes the region as "allowed_region" (its own docs' example uses it).
    String regionField = b.has("allowed_model_region") ? "allowed_model_region" : "allowed_region";
    if (b.has(regionField)) {
      String r = b.string(regionField);
      if (r != null && !REGIONS.contains(r)) {
        throw ApiException.badRequest(regionField, regionField + ": \"" + shown(r) + "\" is not one of eu, us (or "
            + "null).");
      }
      v.put(SLUICE_END_USERS.ALLOWED_MODEL_REGION, r);
    }
    if (b.has("default_model")) {
      String m = b.string("default_model");
      if (m != null && registry.get().group(m) == null) {
        List<String> names = new ArrayList<>();
        registry.get().groups().forEach(g -> names.add(g.name()));
        // 422, as LiteLLM answers it.
        throw new ApiException(422, "bad_request_error", "default_model", "Default Model not on proxy: \""
            + shown(m) + "\". Configure it via /model/new or config.yaml. Model groups: " + names + ".");
      }
      v.put(SLUICE_END_USERS.DEFAULT_MODEL, m);
    }
    if (b.has("spend")) {
      Double s = b.nonNegativeNumber("spend");
      v.put(SLUICE_END_USERS.SPEND, s == null ? 0.0 : s);
    }
    return v;
  }

  private static Record require(DSLContext dsl, String userId, String param) {
    Record r = dsl.selectFrom(SLUICE_END_USERS).where(SLUICE_END_USERS.USER_ID.eq(userId)).fetchOne();
    if (r == null) {
      throw ApiException.notFound(param, "End User Id=" + userId + " does not exist in db.");
    }
    return r;
  }

  static ObjectNode endUserJson(DSLContext dsl, Record r) {
    ObjectNode o = Out.obj();
    o.put("user_id", r.get(SLUICE_END_USERS.USER_ID));
    o.put("alias", r.get(SLUICE_END_USERS.ALIAS));
    o.put("spend", r.get(SLUICE_END_USERS.SPEND));
    o.put("allowed_model_region", r.get(SLUICE_END_USERS.ALLOWED_MODEL_REGION));
    o.put("default_model", r.get(SLUICE_END_USERS.DEFAULT_MODEL));
    String budgetId = r.get(SLUICE_END_USERS.BUDGET_ID);
    o.put("budget_id", budgetId);
    o.put("blocked", r.get(SLUICE_END_USERS.BLOCKED));
    Record budget = budgetId == null ? null
        : dsl.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).fetchOne();
    if (budget == null) {
      o.putNull("litellm_budget_table");
    } else {
      o.set("litellm_budget_table", BudgetApi.budgetJson(budget));
    }
    return o;
  }

  private static String shown(String v) {
    return v.length() > 40 ? v.substring(0, 40) + "…" : v;
  }

  private OffsetDateTime now() {
    return OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
  }
}
