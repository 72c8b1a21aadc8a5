package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_ORGANIZATIONS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_ORGANIZATION_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.auth.KeyHash;
import io.sluice.auth.ModelAccess;
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
 * {@code /organization/*} (LiteLLM's organization_endpoints.py): organizations own teams and keys and bound them.
 * Every organization links a budget row (LiteLLM_BudgetTable), named by {@code budget_id} or made from the inline
 * {@code max_budget}, {@code tpm_limit}, {@code rpm_limit}, {@code budget_duration}, … fields. Creating and deleting
 * organizations is for {@code proxy_admin}; an organization's {@code org_admin} members manage its members and its
 * alias/metadata; members read it. What an organization bounds is checked when a team or key is written into it
 * ({@link #checkTeam}, {@link #checkKey}), as LiteLLM's team_endpoints.py {@code _check_org_team_limits} and
 * key_management_endpoints.py do.
 */
final class OrganizationApi {
  /** LiteLLM's OrgMember roles ({@code LitellmUserRoles.ORG_ADMIN, INTERNAL_USER, INTERNAL_USER_VIEW_ONLY}). */
  static final Set<String> ROLES = Set.of("org_admin", "internal_user", "internal_user_viewer");

  private final Clock clock;

  OrganizationApi(Clock clock) {
    this.clock = clock;
  }

  /** {@code POST /organization/new} → the organization row (LiteLLM's NewOrganizationResponse). */
  ObjectNode create(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/organization/new");
    String alias = b.string("organization_alias");
    if (alias == null || alias.isBlank()) {
      throw ApiException.badRequest("organization_alias", "organization_alias is required: {\"organization_alias\": "
          + "\"my-org\", \"models\": [\"llama\"], \"max_budget\": 100}.");
    }
    String sentId = b.string("organization_id");
    if (sentId != null && sentId.isBlank()) {
      throw ApiException.badRequest("organization_id", "organization_id must not be blank; leave it out to get a "
          + "generated id.");
    }
    String orgId = sentId == null ? UUID.randomUUID().toString() : sentId;
    List<String> models = models(b);
    // LiteLLM: "Ensure only models that user has access to, are given to org".
    if (!c.userModels().isEmpty()) {
      if (models.isEmpty()) {
        throw ApiException.badRequest("models", "User not allowed to give access to all models. Select models you "
            + "want org to have access to.");
      }
      for (String m : models) {
        if (!c.userModels().contains(m)) {
          throw ApiException.badRequest("models", "User not allowed to give access to model=" + m + ". Models you "
              + "have access to = " + new java.util.TreeSet<>(c.userModels()) + ".");
        }
      }
    }
    String budgetId = b.string("budget_id");
    boolean inline = BudgetApi.sendsBudget(b);
    if (budgetId != null && inline) {
      throw ApiException.badRequest("budget_id", "Send either budget_id (an existing budget) or the budget fields "
          + "(max_budget, tpm_limit, rpm_limit, budget_duration, …), not both.");
    }
    Map<Field<?>, Object> budget = BudgetApi.fields(b, now());
    JsonNode metadata = b.has("metadata") ? b.object("metadata") : null;
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (tx.fetchExists(SLUICE_ORGANIZATIONS, SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId))) {
        throw ApiException.badRequest("organization_id", "organization_id '" + orgId + "' already exists. Use "
            + "/organization/update to change it, or choose another organization_id.");
      }
      OffsetDateTime now = now();
      String bid;
      if (budgetId != null) {
        BudgetApi.require(tx, budgetId, "budget_id");
        bid = budgetId;
      } else {
        // LiteLLM: "Every organization needs a budget attached. If none provided, create one".
        bid = BudgetApi.insert(tx, UUID.randomUUID().toString(), budget, c, now).get(SLUICE_BUDGETS.BUDGET_ID);
      }
      Map<Field<?>, Object> v = new LinkedHashMap<>();
      v.put(SLUICE_ORGANIZATIONS.ORGANIZATION_ID, orgId);
      v.put(SLUICE_ORGANIZATIONS.ORGANIZATION_ALIAS, alias);
      v.put(SLUICE_ORGANIZATIONS.BUDGET_ID, bid);
      v.put(SLUICE_ORGANIZATIONS.MODELS, models.toArray(String[]::new));
      if (metadata != null) {
        v.put(SLUICE_ORGANIZATIONS.METADATA, Out.jsonb(metadata));
      }
      v.put(SLUICE_ORGANIZATIONS.CREATED_BY, c.actor());
      v.put(SLUICE_ORGANIZATIONS.UPDATED_BY, c.actor());
      v.put(SLUICE_ORGANIZATIONS.CREATED_AT, now);
      v.put(SLUICE_ORGANIZATIONS.UPDATED_AT, now);
      Uniques.insert(() -> tx.insertInto(SLUICE_ORGANIZATIONS).set(v).execute(), "organization_id", orgId);
      return orgJson(require(tx, orgId, "organization_id"));
    });
  }

  /** {@code GET /organization/info?organization_id=} → the organization with its budget, members and teams. */
  ObjectNode info(DSLContext dsl, Caller c, String orgId) {
    if (orgId == null || orgId.isBlank()) {
      throw ApiException.badRequest("organization_id", "organization_id is required: "
          + "/organization/info?organization_id=<id>.");
    }
    requireRead(dsl, c, orgId, "/organization/info");
    Record o = dsl.selectFrom(SLUICE_ORGANIZATIONS).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId)).fetchOne();
    if (o == null) {
      throw ApiException.notFound("organization_id", "Organization not found: organization_id=" + orgId + ". "
          + "/organization/list lists the organizations you may see.");
    }
    return withMembers(dsl, o);
  }

  /** LiteLLM's deprecated {@code POST /organization/info {"organizations": [ids]}} → the rows found, with budgets. */
  ArrayNode infoMany(DSLContext dsl, Caller c, Body b) {
    List<String> ids = b.strings("organizations");
    if (ids == null || ids.isEmpty()) {
      throw ApiException.badRequest("organizations", "Specify list of organization id's to query: "
          + "{\"organizations\": [\"<organization_id>\"]}, or GET /organization/info?organization_id=<id>.");
    }
    for (String id : ids) {
      requireRead(dsl, c, id, "/organization/info");
    }
    ArrayNode out = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_ORGANIZATIONS).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.in(ids))
        .orderBy(SLUICE_ORGANIZATIONS.CREATED_AT, SLUICE_ORGANIZATIONS.ORGANIZATION_ID).forEach(o -> {
          ObjectNode j = orgJson(o);
          j.set("litellm_budget_table", budgetJson(dsl, o.get(SLUICE_ORGANIZATIONS.BUDGET_ID)));
          out.add(j);
        });
    return out;
  }

  /** Every organization for proxy admins and viewers; the caller's own organizations otherwise. */
  ArrayNode list(DSLContext dsl, Caller c) {
    ArrayNode out = Out.F.arrayNode();
    var q = dsl.selectFrom(SLUICE_ORGANIZATIONS);
    List<Record> rows = new ArrayList<>(c.readsAll()
        ? q.orderBy(SLUICE_ORGANIZATIONS.CREATED_AT, SLUICE_ORGANIZATIONS.ORGANIZATION_ID).fetch()
        : q.where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.in(DSL.select(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID)
            .from(SLUICE_ORGANIZATION_MEMBERS).where(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(
                c.userId() == null ? "\u0000" : c.userId()))))
            .orderBy(SLUICE_ORGANIZATIONS.CREATED_AT, SLUICE_ORGANIZATIONS.ORGANIZATION_ID).fetch());
    rows.forEach(o -> out.add(withMembers(dsl, o)));
    return out;
  }

  /**
   * {@code PATCH /organization/update} (POST too): {@code organization_alias}, {@code metadata}, {@code models},
   * {@code budget_id} and the budget fields, merged into the organization's budget (a budget another row links too
   * is copied, so one organization's update never moves a shared tier). The alias and metadata are for the
   * organization's {@code org_admin}s too; models and budget only for {@code proxy_admin}.
   */
  KeyApi.Result update(DSLContext dsl, Caller c, Body b) {
    String orgId = b.requiredString("organization_id");
    boolean bounds = b.has("models") || b.has("budget_id") || b.has("spend")
        || BudgetApi.FIELDS.stream().anyMatch(b::has);
    if (!c.admin()) {
      if (!isOrgAdmin(dsl, c, orgId)) {
        throw c.denied("/organization/update", "it needs proxy_admin or an org_admin of organization_id=" + orgId);
      }
      if (bounds) {
        throw c.denied("/organization/update", "an org_admin may change organization_alias and metadata; models, "
            + "budget_id, spend and the budget fields need proxy_admin");
      }
    }
    if (b.has("organization_alias") && (b.string("organization_alias") == null
        || b.string("organization_alias").isBlank())) {
      throw ApiException.badRequest("organization_alias", "organization_alias must not be null or blank.");
    }
    String budgetId = b.string("budget_id");
    boolean inline = BudgetApi.FIELDS.stream().anyMatch(b::has);
    if (budgetId != null && inline) {
      throw ApiException.badRequest("budget_id", "Send either budget_id (an existing budget) or the budget fields "
          + "(max_budget, tpm_limit, rpm_limit, budget_duration, …), not both.");
    }
    if (b.has("budget_id") && budgetId == null) {
      throw ApiException.badRequest("budget_id", "budget_id may not be null: every organization links a budget. "
          + "Send the budget fields with null values to lift its limits instead.");
    }
    Map<Field<?>, Object> v = new LinkedHashMap<>();
    if (b.has("organization_alias")) {
      v.put(SLUICE_ORGANIZATIONS.ORGANIZATION_ALIAS, b.string("organization_alias"));
    }
    if (b.has("metadata")) {
      JsonNode m = b.object("metadata");
      v.put(SLUICE_ORGANIZATIONS.METADATA, Out.jsonb(m == null ? Out.obj() : m));
    }
    if (b.has("models")) {
      v.put(SLUICE_ORGANIZATIONS.MODELS, models(b).toArray(String[]::new));
    }
    if (b.has("spend")) {
      Double s = b.nonNegativeNumber("spend");
      v.put(SLUICE_ORGANIZATIONS.SPEND, s == null ? 0.0 : s);
    }
    Map<Field<?>, Object> budgetPatch = BudgetApi.fields(b, now());
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode out = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record o = tx.selectFrom(SLUICE_ORGANIZATIONS).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId))
          .forUpdate().fetchOne();
      if (o == null) {
        throw ApiException.notFound("organization_id", "Organization not found for organization_id=" + orgId + ".");
      }
      OffsetDateTime now = now();
      if (budgetId != null) {
        BudgetApi.require(tx, budgetId, "budget_id");
        v.put(SLUICE_ORGANIZATIONS.BUDGET_ID, budgetId);
      } else if (inline) {
        v.put(SLUICE_ORGANIZATIONS.BUDGET_ID, patchBudget(tx, c, o.get(SLUICE_ORGANIZATIONS.BUDGET_ID), budgetPatch,
            now));
      }
      v.put(SLUICE_ORGANIZATIONS.UPDATED_AT, now);
      v.put(SLUICE_ORGANIZATIONS.UPDATED_BY, c.actor());
      tx.update(SLUICE_ORGANIZATIONS).set(v).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId)).execute();
      tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS).where(SLUICE_KEYS.ORGANIZATION_ID.eq(orgId))
          .forEach(k -> touched.add(new KeyHash(k.value1())));
      return withMembers(tx, require(tx, orgId, "organization_id"));
    });
    return new KeyApi.Result(out, touched);
  }

  /**
   * {@code DELETE /organization/delete {"organization_ids": [...]}}: each organization with its teams, their keys,
   * its keys and its memberships (LiteLLM deletes all four); every id must exist, else 404 and nothing is deleted.
   * Answers the deleted organizations as they were.
   */
  Deleted delete(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/organization/delete");
    List<String> ids = b.strings("organization_ids");
    if (ids == null || ids.isEmpty()) {
      throw ApiException.badRequest("organization_ids", "organization_ids is required: {\"organization_ids\": "
          + "[\"<organization_id>\"]}.");
    }
    List<KeyHash> touched = new ArrayList<>();
    ArrayNode deleted = Out.F.arrayNode();
    dsl.transaction(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Set<String> seen = new java.util.HashSet<>();
      for (int i = 0; i < ids.size(); i++) {
        Record o = tx.selectFrom(SLUICE_ORGANIZATIONS).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(ids.get(i)))
            .forUpdate().fetchOne();
        if (o == null) {
          throw ApiException.notFound("organization_ids", "organization_ids[" + i + "]: Organization=" + ids.get(i)
              + " not found. Nothing was deleted.");
        }
        if (seen.add(ids.get(i))) {
          deleted.add(withMembers(tx, o));
        }
      }
      var teams = DSL.select(SLUICE_TEAMS.TEAM_ID).from(SLUICE_TEAMS).where(SLUICE_TEAMS.ORGANIZATION_ID.in(ids));
      tx.deleteFrom(SLUICE_KEYS).where(SLUICE_KEYS.ORGANIZATION_ID.in(ids).or(SLUICE_KEYS.TEAM_ID.in(teams)))
          .returning(SLUICE_KEYS.TOKEN).fetch().forEach(k -> touched.add(new KeyHash(k.get(SLUICE_KEYS.TOKEN))));
      tx.deleteFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.ORGANIZATION_ID.in(ids)).execute();
      tx.deleteFrom(SLUICE_ORGANIZATION_MEMBERS).where(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID.in(ids)).execute();
      tx.deleteFrom(SLUICE_ORGANIZATIONS).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.in(ids)).execute();
      // Budget rows stay, as LiteLLM's: /budget/delete removes one once nothing links it.
    });
    return new Deleted(deleted, touched);
  }

  /** {@link #delete}'s answer (a list, as LiteLLM's) and the keys deleted with the organizations. */
  record Deleted(ArrayNode body, List<KeyHash> invalidate) {}

  /**
   * {@code POST /organization/member_add}: {@code member} is one {@code {"role", "user_id" | "user_email"}} or a
   * list; a user that does not exist yet is created ({@code internal_user}), as LiteLLM's add_member_to_organization.
   * {@code max_budget_in_organization} gives each added member a budget of its own. Proxy admins and the
   * organization's {@code org_admin}s.
   */
  ObjectNode memberAdd(DSLContext dsl, Caller c, Body b) {
    String orgId = b.requiredString("organization_id");
    JsonNode raw = b.raw("member");
    if (raw == null || raw.isNull()) {
      throw ApiException.badRequest("member", "member is required: {\"role\": \"internal_user\", \"user_id\": \"…\"}, "
          + "or a list of those.");
    }
    List<Member> members = members(raw.isArray() ? raw : Out.F.arrayNode().add(raw));
    Double inOrg = b.nonNegativeNumber("max_budget_in_organization");
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (!tx.fetchExists(SLUICE_ORGANIZATIONS, SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId))) {
        throw ApiException.notFound("organization_id", "Organization not found for organization_id=" + orgId + ".");
      }
      if (!c.admin() && !isOrgAdmin(tx, c, orgId)) {
        throw c.denied("/organization/member_add", "it needs proxy_admin or an org_admin of organization_id="
            + orgId);
      }
      ArrayNode users = Out.F.arrayNode();
      ArrayNode memberships = Out.F.arrayNode();
      OffsetDateTime now = now();
      for (int i = 0; i < members.size(); i++) {
        Member m = members.get(i);
        String userId = resolveUser(tx, m, "member" + (raw.isArray() ? "[" + i + "]" : ""), now);
        if (tx.fetchExists(SLUICE_ORGANIZATION_MEMBERS, SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID.eq(orgId)
            .and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(userId)))) {
          throw ApiException.badRequest("member", "user_id=" + userId + " is already a member of organization_id="
              + orgId + ". Use /organization/member_update to change its role or budget. Nothing was added.");
        }
        String budgetId = inOrg == null ? null : BudgetApi.insert(tx, UUID.randomUUID().toString(),
            new LinkedHashMap<>(Map.of(SLUICE_BUDGETS.MAX_BUDGET, inOrg)), c, now).get(SLUICE_BUDGETS.BUDGET_ID);
        tx.insertInto(SLUICE_ORGANIZATION_MEMBERS).set(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID, orgId)
            .set(SLUICE_ORGANIZATION_MEMBERS.USER_ID, userId).set(SLUICE_ORGANIZATION_MEMBERS.USER_ROLE, m.role)
            .set(SLUICE_ORGANIZATION_MEMBERS.BUDGET_ID, budgetId).set(SLUICE_ORGANIZATION_MEMBERS.CREATED_AT, now)
            .set(SLUICE_ORGANIZATION_MEMBERS.UPDATED_AT, now).execute();
        users.add(UserApi.userJson(tx.selectFrom(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq(userId)).fetchOne()));
        memberships.add(membershipJson(tx, requireMember(tx, orgId, userId), false));
      }
      ObjectNode out = Out.obj();
      out.put("organization_id", orgId);
      out.set("updated_users", users);
      out.set("updated_organization_memberships", memberships);
      return out;
    });
  }

  /**
   * {@code PATCH /organization/member_update} (POST too): a member's {@code role} and
   * {@code max_budget_in_organization}; answers the membership with its budget (LiteLLM's
   * LiteLLM_OrganizationMembershipTable).
   */
  ObjectNode memberUpdate(DSLContext dsl, Caller c, Body b) {
    String orgId = b.requiredString("organization_id");
    String role = b.string("role");
    if (b.has("role") && (role == null || !ROLES.contains(role))) {
      throw ApiException.badRequest("role", "role: " + (role == null ? "null" : "\"" + role + "\"") + " is not one "
          + "of org_admin, internal_user, internal_user_viewer.");
    }
    Double inOrg = b.nonNegativeNumber("max_budget_in_organization");
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (!tx.fetchExists(SLUICE_ORGANIZATIONS, SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId))) {
        // 400, as LiteLLM's organization_member_update answers it.
        throw ApiException.badRequest("organization_id", "Organization not found for organization_id=" + orgId
            + ".");
      }
      if (!c.admin() && !isOrgAdmin(tx, c, orgId)) {
        throw c.denied("/organization/member_update", "it needs proxy_admin or an org_admin of organization_id="
            + orgId);
      }
      String userId = memberId(tx, b);
      Record m = tx.selectFrom(SLUICE_ORGANIZATION_MEMBERS).where(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID
          .eq(orgId).and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(userId))).forUpdate().fetchOne();
      if (m == null) {
        throw ApiException.notFound("user_id", "Member not found in organization for user_id=" + userId + ". "
            + "/organization/member_add adds it.");
      }
      OffsetDateTime now = now();
      var update = tx.update(SLUICE_ORGANIZATION_MEMBERS).set(SLUICE_ORGANIZATION_MEMBERS.UPDATED_AT, now);
      if (role != null) {
        update = update.set(SLUICE_ORGANIZATION_MEMBERS.USER_ROLE, role);
      }
      if (inOrg != null) {
        String current = m.get(SLUICE_ORGANIZATION_MEMBERS.BUDGET_ID);
        update = update.set(SLUICE_ORGANIZATION_MEMBERS.BUDGET_ID, patchBudget(tx, c, current,
            new LinkedHashMap<>(Map.of(SLUICE_BUDGETS.MAX_BUDGET, inOrg)), now));
      }
      update.where(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID.eq(orgId)
          .and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(userId))).execute();
      return membershipJson(tx, requireMember(tx, orgId, userId), true);
    });
  }

  /** {@code DELETE /organization/member_delete} (POST too) → the deleted membership. */
  ObjectNode memberDelete(DSLContext dsl, Caller c, Body b) {
    String orgId = b.requiredString("organization_id");
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (!tx.fetchExists(SLUICE_ORGANIZATIONS, SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId))) {
        throw ApiException.notFound("organization_id", "Organization not found for organization_id=" + orgId + ".");
      }
      if (!c.admin() && !isOrgAdmin(tx, c, orgId)) {
        throw c.denied("/organization/member_delete", "it needs proxy_admin or an org_admin of organization_id="
            + orgId);
      }
      String userId = memberId(tx, b);
      Record m = tx.selectFrom(SLUICE_ORGANIZATION_MEMBERS).where(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID
          .eq(orgId).and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(userId))).forUpdate().fetchOne();
      if (m == null) {
        throw ApiException.notFound("user_id", "user_id=" + userId + " is not a member of organization_id=" + orgId
            + ". /organization/info lists its members.");
      }
      ObjectNode out = membershipJson(tx, m, false);
      tx.deleteFrom(SLUICE_ORGANIZATION_MEMBERS).where(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID.eq(orgId)
          .and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(userId))).execute();
      return out;
    });
  }

  // ------------------------------------------------------------------------------------ bounds on teams and keys

  /**
   * What an organization bounds when a team is created in it or changed (LiteLLM's team_endpoints.py: the
   * organization must exist; the team's models must be among the organization's unless it allows every model; the
   * team's {@code max_budget}, {@code tpm_limit}, {@code rpm_limit} may not exceed the organization budget's).
   * {@code models}, {@code maxBudget}, {@code tpm}, {@code rpm} are the team's values after the write.
   */
  static void checkTeam(DSLContext tx, String orgId, List<String> models, Double maxBudget, Long tpm, Long rpm) {
    Record o = requireForLink(tx, orgId);
    List<String> allowed = List.of(o.get(SLUICE_ORGANIZATIONS.MODELS));
    if (!allowed.isEmpty() && !allowed.contains(ModelAccess.ALL_PROXY_MODELS)) {
      if (models.isEmpty()) {
        throw ApiException.badRequest("models", "A team in organization_id=" + orgId + " may not allow every "
            + "model: the organization allows only models=" + allowed + ". List the team's models.");
      }
      for (String m : models) {
        allOrgModels(m);
        if (!allowed.contains(m)) {
          throw ApiException.badRequest("models", "Model '" + m + "' not in organization's allowed models. "
              + "Organization allowed models=" + allowed + ". Organization: " + orgId + ".");
        }
      }
    }
    Record budget = tx.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(o.get(SLUICE_ORGANIZATIONS
        .BUDGET_ID))).fetchOne();
    if (budget == null) {
      return;
    }
    exceeds("max_budget", maxBudget, budget.get(SLUICE_BUDGETS.MAX_BUDGET), orgId);
    exceeds("tpm_limit", tpm == null ? null : tpm.doubleValue(),
        budget.get(SLUICE_BUDGETS.TPM_LIMIT) == null ? null : budget.get(SLUICE_BUDGETS.TPM_LIMIT).doubleValue(),
        orgId);
    exceeds("rpm_limit", rpm == null ? null : rpm.doubleValue(),
        budget.get(SLUICE_BUDGETS.RPM_LIMIT) == null ? null : budget.get(SLUICE_BUDGETS.RPM_LIMIT).doubleValue(),
        orgId);
  }

  /**
   * A key written into an organization: the organization must exist, and a key with models of its own lists only
   * the organization's (an organization that allows every model bounds nothing). A team key is bounded by its team,
   * and its team by the organization ({@link #checkTeam}).
   */
  static void checkKey(DSLContext tx, String orgId, List<String> keyModels) {
    Record o = requireForLink(tx, orgId);
    List<String> allowed = List.of(o.get(SLUICE_ORGANIZATIONS.MODELS));
    if (allowed.isEmpty() || allowed.contains(ModelAccess.ALL_PROXY_MODELS) || keyModels == null) {
      return;
    }
    for (String m : keyModels) {
      allOrgModels(m);
      if (!allowed.contains(m)) {
        throw ApiException.badRequest("models", "Model '" + m + "' not in organization's allowed models. "
            + "Organization allowed models=" + allowed + ". Organization: " + orgId + ".");
      }
    }
  }

  /** The organization a team or key names; 400 when it does not exist (the request, not the URL, is wrong). */
  private static Record requireForLink(DSLContext tx, String orgId) {
    Record o = tx.selectFrom(SLUICE_ORGANIZATIONS).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId)).fetchOne();
    if (o == null) {
      throw ApiException.badRequest("organization_id", "organization_id=" + orgId + " does not exist. Create it "
          + "with /organization/new, or leave organization_id out.");
    }
    return o;
  }

  /** LiteLLM's {@code all-org-models} is not a name Sluice's data plane expands: refused rather than stored dead. */
  private static void allOrgModels(String m) {
    if (m.equals("all-org-models")) {
      throw ApiException.badRequest("models", "models: \"all-org-models\" is not supported by Sluice; list the "
          + "organization's models instead (/organization/info shows them).");
    }
  }

  private static void exceeds(String field, Double value, Double orgLimit, String orgId) {
    if (value != null && orgLimit != null && value > orgLimit) {
      throw ApiException.badRequest(field, field + "=" + trim(value) + " exceeds the organization's " + field + "="
          + trim(orgLimit) + " (organization_id=" + orgId + "). Lower it, or raise the organization's with "
          + "/organization/update.");
    }
  }

  private static String trim(double d) {
    return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
  }

  /** Whether the caller is an {@code org_admin} of the organization. */
  static boolean isOrgAdmin(DSLContext dsl, Caller c, String orgId) {
    return c.userId() != null && dsl.fetchExists(SLUICE_ORGANIZATION_MEMBERS, SLUICE_ORGANIZATION_MEMBERS
        .ORGANIZATION_ID.eq(orgId).and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(c.userId()))
        .and(SLUICE_ORGANIZATION_MEMBERS.USER_ROLE.eq("org_admin")));
  }

  // ----------------------------------------------------------------------------------------------------- helpers

  private record Member(String userId, String email, String role) {}

  private static List<Member> members(JsonNode raw) {
    List<Member> out = new ArrayList<>();
    for (int i = 0; i < raw.size(); i++) {
      JsonNode m = raw.get(i);
      String at = "member" + (raw.size() > 1 || raw.isArray() ? "[" + i + "]" : "");
      if (!m.isObject()) {
        throw ApiException.badRequest("member", at + ": expected an object {\"role\": \"internal_user\", "
            + "\"user_id\": \"…\"}.");
      }
      JsonNode uid = m.get("user_id");
      JsonNode email = m.get("user_email");
      boolean hasId = uid != null && uid.isTextual() && !uid.asText().isBlank();
      boolean hasEmail = email != null && email.isTextual() && !email.asText().isBlank();
      if (!hasId && !hasEmail) {
        throw ApiException.badRequest("member", at + ": user_id or user_email is required (a string).");
      }
      JsonNode role = m.get("role");
      if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
        throw ApiException.badRequest("member", at + ".role: " + (role == null ? "missing" : role.toString())
            + "; expected one of org_admin, internal_user, internal_user_viewer.");
      }
      out.add(new Member(hasId ? uid.asText() : null, hasEmail ? email.asText() : null, role.asText()));
    }
    return out;
  }

  /** The member's user: found by id, else by email, else created as an internal user (as LiteLLM). */
  private static String resolveUser(DSLContext tx, Member m, String at, OffsetDateTime now) {
    if (m.userId != null && tx.fetchExists(SLUICE_USERS, SLUICE_USERS.USER_ID.eq(m.userId))) {
      return m.userId;
    }
    if (m.email != null) {
      List<String> ids = tx.select(SLUICE_USERS.USER_ID).from(SLUICE_USERS).where(SLUICE_USERS.USER_EMAIL
          .eq(m.email)).fetch(SLUICE_USERS.USER_ID);
      if (ids.size() > 1) {
        throw ApiException.badRequest("member", at + ": Multiple users with this email found in db. Please use "
            + "'user_id' instead.");
      }
      if (ids.size() == 1) {
        return ids.get(0);
      }
    }
    String id = m.userId != null ? m.userId : UUID.randomUUID().toString();
    tx.insertInto(SLUICE_USERS).set(SLUICE_USERS.USER_ID, id).set(SLUICE_USERS.USER_EMAIL, m.email)
        .set(SLUICE_USERS.USER_ROLE, "internal_user").set(SLUICE_USERS.CREATED_AT, now)
        .set(SLUICE_USERS.UPDATED_AT, now).execute();
    return id;
  }

  /** {@code user_id}, or the one user with {@code user_email} (LiteLLM's find_member_if_email). */
  private static String memberId(DSLContext tx, Body b) {
    String userId = b.string("user_id");
    if (userId != null && !userId.isBlank()) {
      return userId;
    }
    String email = b.string("user_email");
    if (email == null || email.isBlank()) {
      throw ApiException.badRequest("user_id", "user_id or user_email is required: {\"organization_id\": \"…\", "
          + "\"user_id\": \"…\"}.");
    }
    List<String> ids = tx.select(SLUICE_USERS.USER_ID).from(SLUICE_USERS).where(SLUICE_USERS.USER_EMAIL.eq(email))
        .fetch(SLUICE_USERS.USER_ID);
    if (ids.size() != 1) {
      throw ApiException.badRequest("user_email", "Unique user not found for user_email=" + email + ". Potential "
          + "duplicate OR non-existent user_email. Use 'user_id' instead.");
    }
    return ids.get(0);
  }

  private static Record requireMember(DSLContext tx, String orgId, String userId) {
    return tx.selectFrom(SLUICE_ORGANIZATION_MEMBERS).where(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID.eq(orgId)
        .and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(userId))).fetchOne();
  }

  /** A budget after {@code patch}: in place when only its owner links it, else on a copy (a new row when none). */
  private static String patchBudget(DSLContext tx, Caller c, String current, Map<Field<?>, Object> patch,
      OffsetDateTime now) {
    Record old = current == null ? null
        : tx.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(current)).forUpdate().fetchOne();
    if (old != null && BudgetApi.users(tx, current) <= 1) {
      Map<Field<?>, Object> v = new LinkedHashMap<>(patch);
      v.put(SLUICE_BUDGETS.UPDATED_AT, now);
      v.put(SLUICE_BUDGETS.UPDATED_BY, c.actor());
      tx.update(SLUICE_BUDGETS).set(v).where(SLUICE_BUDGETS.BUDGET_ID.eq(current)).execute();
      return current;
    }
    Map<Field<?>, Object> merged = new LinkedHashMap<>();
    if (old != null) {
      for (Field<?> f : List.of(SLUICE_BUDGETS.MAX_BUDGET, SLUICE_BUDGETS.SOFT_BUDGET,
          SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS, SLUICE_BUDGETS.TPM_LIMIT, SLUICE_BUDGETS.RPM_LIMIT,
          SLUICE_BUDGETS.MODEL_MAX_BUDGET, SLUICE_BUDGETS.BUDGET_DURATION, SLUICE_BUDGETS.BUDGET_RESET_AT)) {
        merged.put(f, old.get(f));
      }
    }
    merged.putAll(patch);
    return BudgetApi.insert(tx, UUID.randomUUID().toString(), merged, c, now).get(SLUICE_BUDGETS.BUDGET_ID);
  }

  private void requireRead(DSLContext dsl, Caller c, String orgId, String path) {
    if (c.readsAll()) {
      return;
    }
    boolean member = c.userId() != null && dsl.fetchExists(SLUICE_ORGANIZATION_MEMBERS, SLUICE_ORGANIZATION_MEMBERS
        .ORGANIZATION_ID.eq(orgId).and(SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(c.userId())));
    boolean ownKey = c.keyHash() != null && dsl.fetchExists(SLUICE_KEYS, SLUICE_KEYS.TOKEN.eq(c.keyHash())
        .and(SLUICE_KEYS.ORGANIZATION_ID.eq(orgId)));
    if (!member && !ownKey) {
      throw c.denied(path, "only the organization's members, its keys, proxy_admin and proxy_admin_viewer may read "
          + "organization_id=" + orgId);
    }
  }

  private static List<String> models(Body b) {
    List<String> m = b.strings("models");
    if (m == null) {
      return List.of();
    }
    for (int i = 0; i < m.size(); i++) {
      if (m.get(i).isBlank()) {
        throw ApiException.badRequest("models", "models[" + i + "] is blank.");
      }
    }
    return List.copyOf(new LinkedHashSet<>(m));
  }

  private static Record require(DSLContext dsl, String orgId, String param) {
    Record o = dsl.selectFrom(SLUICE_ORGANIZATIONS).where(SLUICE_ORGANIZATIONS.ORGANIZATION_ID.eq(orgId)).fetchOne();
    if (o == null) {
      throw ApiException.notFound(param, "Organization not found for organization_id=" + orgId + ".");
    }
    return o;
  }

  /** LiteLLM_OrganizationTable's row. */
  static ObjectNode orgJson(Record o) {
    ObjectNode j = Out.obj();
    j.put("organization_id", o.get(SLUICE_ORGANIZATIONS.ORGANIZATION_ID));
    j.put("organization_alias", o.get(SLUICE_ORGANIZATIONS.ORGANIZATION_ALIAS));
    j.put("budget_id", o.get(SLUICE_ORGANIZATIONS.BUDGET_ID));
    j.set("metadata", Out.json(o.get(SLUICE_ORGANIZATIONS.METADATA)));
    j.set("models", Out.arr(o.get(SLUICE_ORGANIZATIONS.MODELS)));
    j.put("spend", o.get(SLUICE_ORGANIZATIONS.SPEND));
    j.set("model_spend", Out.json(o.get(SLUICE_ORGANIZATIONS.MODEL_SPEND)));
    j.putNull("object_permission_id");
    j.set("created_at", Out.time(o.get(SLUICE_ORGANIZATIONS.CREATED_AT)));
    j.put("created_by", o.get(SLUICE_ORGANIZATIONS.CREATED_BY));
    j.set("updated_at", Out.time(o.get(SLUICE_ORGANIZATIONS.UPDATED_AT)));
    j.put("updated_by", o.get(SLUICE_ORGANIZATIONS.UPDATED_BY));
    return j;
  }

  /** LiteLLM_OrganizationTableWithMembers: the row, its budget, its members and its teams. */
  private static ObjectNode withMembers(DSLContext dsl, Record o) {
    String orgId = o.get(SLUICE_ORGANIZATIONS.ORGANIZATION_ID);
    ObjectNode j = orgJson(o);
    j.set("litellm_budget_table", budgetJson(dsl, o.get(SLUICE_ORGANIZATIONS.BUDGET_ID)));
    ArrayNode members = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_ORGANIZATION_MEMBERS).where(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID.eq(orgId))
        .orderBy(SLUICE_ORGANIZATION_MEMBERS.CREATED_AT, SLUICE_ORGANIZATION_MEMBERS.USER_ID)
        .forEach(m -> members.add(membershipJson(dsl, m, true)));
    j.set("members", members);
    ArrayNode teams = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.ORGANIZATION_ID.eq(orgId)).orderBy(SLUICE_TEAMS.CREATED_AT)
        .forEach(t -> teams.add(TeamApi.teamJson(dsl, t)));
    j.set("teams", teams);
    return j;
  }

  /** LiteLLM_OrganizationMembershipTable's row; with its budget ({@code litellm_budget_table}) when asked. */
  private static ObjectNode membershipJson(DSLContext dsl, Record m, boolean withBudget) {
    ObjectNode j = Out.obj();
    j.put("user_id", m.get(SLUICE_ORGANIZATION_MEMBERS.USER_ID));
    j.put("organization_id", m.get(SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID));
    j.put("user_role", m.get(SLUICE_ORGANIZATION_MEMBERS.USER_ROLE));
    j.put("spend", m.get(SLUICE_ORGANIZATION_MEMBERS.SPEND));
    j.put("budget_id", m.get(SLUICE_ORGANIZATION_MEMBERS.BUDGET_ID));
    j.set("created_at", Out.time(m.get(SLUICE_ORGANIZATION_MEMBERS.CREATED_AT)));
    j.set("updated_at", Out.time(m.get(SLUICE_ORGANIZATION_MEMBERS.UPDATED_AT)));
    if (withBudget) {
      j.set("litellm_budget_table", budgetJson(dsl, m.get(SLUICE_ORGANIZATION_MEMBERS.BUDGET_ID)));
    }
    return j;
  }

  private static JsonNode budgetJson(DSLContext dsl, String budgetId) {
    Record b = budgetId == null ? null
        : dsl.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).fetchOne();
    return b == null ? Out.F.nullNode() : BudgetApi.budgetJson(b);
  }

  private OffsetDateTime now() {
    return OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
  }
}
