package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.auth.KeyHash;
import java.time.Clock;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record;
import org.jooq.impl.DSL;

/**
 * {@code /team/*} (LiteLLM's team_endpoints.py). Teams group keys and users; a team's {@code models} bound what
 * its keys may call. Creating, changing, blocking and deleting teams is for {@code proxy_admin}; a team's
 * {@code admin} members add and remove members; members read their team.
 */
final class TeamApi {
  private final Clock clock;

  TeamApi(Clock clock) {
    this.clock = clock;
  }

  ObjectNode create(DSLContext dsl, Caller c, Body b) {
    String orgId = b.string("organization_id");
    // LiteLLM's new_team: proxy admins, and an organization's org_admins for teams in that organization.
    if (!c.admin() && (orgId == null || !OrganizationApi.isOrgAdmin(dsl, c, orgId))) {
      throw c.denied("/team/new", "it needs proxy_admin, or org_admin of the organization_id sent");
    }
    String teamId = b.string("team_id");
    if (teamId == null) {
      teamId = UUID.randomUUID().toString();
    }
    Map<Field<?>, Object> values = fields(b, now());
    List<Member> members = members(b.raw("members_with_roles"), "members_with_roles");
    String tid = teamId;
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (tx.fetchExists(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID.eq(tid))) {
        throw ApiException.badRequest("team_id", "team_id '" + tid + "' already exists. Use /team/update to change "
            + "it, or choose another team_id.");
      }
      OffsetDateTime now = now();
      if (orgId != null) {
        OrganizationApi.checkTeam(tx, orgId, modelsOf(values, List.of()), (Double) values.get(SLUICE_TEAMS.MAX_BUDGET),
            (Long) values.get(SLUICE_TEAMS.TPM_LIMIT), (Long) values.get(SLUICE_TEAMS.RPM_LIMIT));
      }
      values.put(SLUICE_TEAMS.TEAM_ID, tid);
      values.put(SLUICE_TEAMS.CREATED_AT, now);
      values.put(SLUICE_TEAMS.UPDATED_AT, now);
      Uniques.insert(() -> tx.insertInto(SLUICE_TEAMS).set(values).execute(), "team_id", tid);
      for (Member m : members) {
        addMember(tx, tid, m, "members_with_roles");
      }
      return teamJson(tx, tx.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(tid)).fetchOne());
    });
  }

  ObjectNode info(DSLContext dsl, Caller c, String teamId) {
    if (teamId == null) {
      throw ApiException.badRequest("team_id", "team_id is required: /team/info?team_id=<id>.");
    }
    if (!c.readsAll() && !c.ofTeam(teamId)) {
      throw c.denied("/team/info", "only the team's members, its keys, proxy_admin and proxy_admin_viewer may read "
          + "a team");
    }
    Record t = requireTeam(dsl, teamId);
    ObjectNode out = Out.obj();
    out.put("team_id", teamId);
    out.set("team_info", teamJson(dsl, t));
    ArrayNode keys = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TEAM_ID.eq(teamId)).orderBy(SLUICE_KEYS.CREATED_AT)
        .forEach(k -> keys.add(KeyApi.keyJson(k)));
    out.set("keys", keys);
    ArrayNode ms = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_TEAM_MEMBERS).where(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId))
        .orderBy(SLUICE_TEAM_MEMBERS.CREATED_AT).forEach(m -> {
          ObjectNode o = Out.obj();
          o.put("user_id", m.get(SLUICE_TEAM_MEMBERS.USER_ID));
          o.put("team_id", teamId);
          o.put("role", m.get(SLUICE_TEAM_MEMBERS.ROLE));
          o.put("spend", m.get(SLUICE_TEAM_MEMBERS.SPEND));
          String budgetId = m.get(SLUICE_TEAM_MEMBERS.BUDGET_ID);
          o.put("budget_id", budgetId);
          Record budget = budgetId == null ? null
              : dsl.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).fetchOne();
          if (budget == null) {
            o.putNull("litellm_budget_table");
          } else {
            o.set("litellm_budget_table", BudgetApi.budgetJson(budget));
          }
          ms.add(o);
        });
    out.set("team_memberships", ms);
    return out;
  }

  KeyApi.Result update(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/team/update");
    String teamId = b.requiredString("team_id");
    Map<Field<?>, Object> values = fields(b, now());
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record t = requireTeam(tx, teamId);
      String orgId = values.containsKey(SLUICE_TEAMS.ORGANIZATION_ID) ? (String) values.get(SLUICE_TEAMS.ORGANIZATION_ID)
          : t.get(SLUICE_TEAMS.ORGANIZATION_ID);
      if (orgId != null) {
        OrganizationApi.checkTeam(tx, orgId, modelsOf(values, List.of(t.get(SLUICE_TEAMS.MODELS))),
            (Double) values.getOrDefault(SLUICE_TEAMS.MAX_BUDGET, t.get(SLUICE_TEAMS.MAX_BUDGET)),
            (Long) values.getOrDefault(SLUICE_TEAMS.TPM_LIMIT, t.get(SLUICE_TEAMS.TPM_LIMIT)),
            (Long) values.getOrDefault(SLUICE_TEAMS.RPM_LIMIT, t.get(SLUICE_TEAMS.RPM_LIMIT)));
      }
      values.put(SLUICE_TEAMS.UPDATED_AT, now());
      tx.update(SLUICE_TEAMS).set(values).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).execute();
      touched.addAll(teamKeys(tx, teamId));
      return teamJson(tx, tx.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).fetchOne());
    });
    return new KeyApi.Result(row, touched);
  }

  KeyApi.Result block(DSLContext dsl, Caller c, Body b, boolean blocked) {
    c.requireAdmin(blocked ? "/team/block" : "/team/unblock");
    String teamId = b.requiredString("team_id");
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      requireTeam(tx, teamId);
      tx.update(SLUICE_TEAMS).set(SLUICE_TEAMS.BLOCKED, blocked).set(SLUICE_TEAMS.UPDATED_AT, now())
          .where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).execute();
      touched.addAll(teamKeys(tx, teamId));
      return teamJson(tx, tx.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).fetchOne());
    });
    return new KeyApi.Result(row, touched);
  }

  KeyApi.Result delete(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/team/delete");
    List<String> ids = b.strings("team_ids");
    if (ids == null || ids.isEmpty()) {
      throw ApiException.badRequest("team_ids", "Send {\"team_ids\": [\"…\"]}.");
    }
    List<KeyHash> touched = new ArrayList<>();
    dsl.transaction(cfg -> {
      DSLContext tx = DSL.using(cfg);
      for (int i = 0; i < ids.size(); i++) {
        if (!tx.fetchExists(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID.eq(ids.get(i)))) {
          throw ApiException.notFound("team_ids", "team_ids[" + i + "]: team_id=" + ids.get(i) + " not found. "
              + "Nothing was deleted.");
        }
      }
      // LiteLLM deletes the team's keys with the team.
      tx.deleteFrom(SLUICE_KEYS).where(SLUICE_KEYS.TEAM_ID.in(ids)).returning(SLUICE_KEYS.TOKEN).fetch()
          .forEach(k -> touched.add(new KeyHash(k.get(SLUICE_KEYS.TOKEN))));
      tx.deleteFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.in(ids)).execute();
    });
    ObjectNode out = Out.obj();
    out.set("deleted_teams", Out.arr(ids));
    out.put("deleted_keys", touched.size());
    return new KeyApi.Result(out, touched);
  }

  /** Every team for proxy admins and viewers; a user's own teams otherwise. LiteLLM answers a list. */
  ArrayNode list(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    String userId = Query.string(q, "user_id");
    if (!c.readsAll()) {
      if (userId != null && !c.self(userId)) {
        throw c.denied("/team/list", "a user may list only its own teams");
      }
      userId = c.userId() == null ? "\u0000" : c.userId();
    }
    ArrayNode out = Out.F.arrayNode();
    var query = dsl.select(SLUICE_TEAMS.asterisk()).from(SLUICE_TEAMS);
    List<Record> rows = userId == null
        ? new ArrayList<>(query.orderBy(SLUICE_TEAMS.CREATED_AT).fetch())
        : new ArrayList<>(query.join(SLUICE_TEAM_MEMBERS).on(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(SLUICE_TEAMS.TEAM_ID))
            .where(SLUICE_TEAM_MEMBERS.USER_ID.eq(userId)).orderBy(SLUICE_TEAMS.CREATED_AT).fetch());
    rows.forEach(t -> out.add(teamJson(dsl, t)));
    return out;
  }

  /** The keys of {@code userId} in {@code teamId}: cached with the member's budget, so dropped when it changes. */
  static List<KeyHash> memberKeys(DSLContext tx, String teamId, String userId) {
    return tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS)
        .where(SLUICE_KEYS.TEAM_ID.eq(teamId).and(SLUICE_KEYS.USER_ID.eq(userId)))
        .fetch(SLUICE_KEYS.TOKEN).stream().map(KeyHash::new).toList();
  }

  /** The keys of every team member whose budget row is {@code budgetId} (a /budget/update changes their limits). */
  static List<KeyHash> budgetMemberKeys(DSLContext tx, String budgetId) {
    return tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS).join(SLUICE_TEAM_MEMBERS)
        .on(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(SLUICE_KEYS.TEAM_ID)
            .and(SLUICE_TEAM_MEMBERS.USER_ID.eq(SLUICE_KEYS.USER_ID)))
        .where(SLUICE_TEAM_MEMBERS.BUDGET_ID.eq(budgetId))
        .fetch(SLUICE_KEYS.TOKEN).stream().map(KeyHash::new).toList();
  }

  KeyApi.Result memberAdd(DSLContext dsl, Caller c, Body b) {
    String teamId = b.requiredString("team_id");
    if (!c.admin() && !c.teamAdmin(teamId)) {
      throw c.denied("/team/member_add", "it needs proxy_admin or an admin of team_id=" + teamId);
    }
    JsonNode raw = b.raw("member");
    if (raw == null || raw.isNull()) {
      throw ApiException.badRequest("member", "member is required: {\"role\": \"user\" or \"admin\", \"user_id\": "
          + "\"…\"}, or a list of those.");
    }
    List<Member> members = members(raw.isArray() ? raw : Out.F.arrayNode().add(raw), "member");
    // LiteLLM's TeamMemberAddRequest.max_budget_in_team: each added member gets a budget of its own in the team.
    Double inTeam = b.nonNegativeNumber("max_budget_in_team");
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      requireTeam(tx, teamId);
      for (Member sent : members) {
        Member m = resolve(tx, sent, "member");
        if (tx.fetchExists(SLUICE_TEAM_MEMBERS,
            SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId).and(SLUICE_TEAM_MEMBERS.USER_ID.eq(m.userId)))) {
          throw ApiException.badRequest("member", "user_id=" + m.userId + " is already a member of team_id="
              + teamId + ". Use /team/member_update to change its role or budget.");
        }
        addMember(tx, teamId, m, "member");
        touched.addAll(memberKeys(tx, teamId, m.userId)); // its keys in the team now have a member budget
        if (inTeam != null) {
          String budgetId = BudgetApi.insert(tx, UUID.randomUUID().toString(),
              new LinkedHashMap<>(Map.of(SLUICE_BUDGETS.MAX_BUDGET, inTeam)), c, now()).get(SLUICE_BUDGETS.BUDGET_ID);
          tx.update(SLUICE_TEAM_MEMBERS).set(SLUICE_TEAM_MEMBERS.BUDGET_ID, budgetId)
              .where(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId).and(SLUICE_TEAM_MEMBERS.USER_ID.eq(m.userId))).execute();
        }
      }
      return teamJson(tx, tx.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).fetchOne());
    });
    return new KeyApi.Result(row, touched);
  }

  KeyApi.Result memberDelete(DSLContext dsl, Caller c, Body b) {
    String teamId = b.requiredString("team_id");
    if (!c.admin() && !c.teamAdmin(teamId)) {
      throw c.denied("/team/member_delete", "it needs proxy_admin or an admin of team_id=" + teamId);
    }
    String sentId = b.string("user_id");
    String email = b.string("user_email");
    if ((sentId == null || sentId.isBlank()) && (email == null || email.isBlank())) {
      throw ApiException.badRequest("user_id", "user_id or user_email is required: {\"team_id\": \"" + teamId
          + "\", \"user_id\": \"…\"}.");
    }
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      requireTeam(tx, teamId);
      String userId = sentId != null && !sentId.isBlank() ? sentId : memberByEmail(tx, teamId, email);
      int n = tx.deleteFrom(SLUICE_TEAM_MEMBERS)
          .where(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId).and(SLUICE_TEAM_MEMBERS.USER_ID.eq(userId))).execute();
      touched.addAll(memberKeys(tx, teamId, userId)); // no member budget for its keys from now on
      if (n == 0) {
        // 400, as LiteLLM answers it (its scripts test for it): the team exists, the request is what is wrong.
        throw ApiException.badRequest("user_id", "user_id=" + userId + " is not a member of team_id=" + teamId
            + ". /team/info lists its members.");
      }
      return teamJson(tx, tx.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).fetchOne());
    });
    return new KeyApi.Result(row, touched);
  }

  /**
   * {@code /team/member_update}: a member's role and its budget within the team. The budget fields are a merge
   * patch, as LiteLLM's current team_endpoints.py: a sent value sets it, an explicit null clears it, an absent field
   * stays; a budget left limiting nothing is unlinked. A budget row another member or end user links too is copied
   * rather than changed in place.
   */
  KeyApi.Result memberUpdate(DSLContext dsl, Caller c, Body b) {
    String teamId = b.requiredString("team_id");
    if (!c.admin() && !c.teamAdmin(teamId)) {
      throw c.denied("/team/member_update", "it needs proxy_admin or an admin of team_id=" + teamId);
    }
    String userId = b.string("user_id");
    String email = b.string("user_email");
    if ((userId == null || userId.isBlank()) && (email == null || email.isBlank())) {
      throw ApiException.badRequest("user_id", "Either user_id or user_email needs to be passed in.");
    }
    String role = b.string("role");
    if (role != null && !role.equals("admin") && !role.equals("user")) {
      throw ApiException.badRequest("role", "role: \"" + role + "\" is not one of admin, user.");
    }
    Map<Field<?>, Object> patch = new LinkedHashMap<>();
    if (b.has("max_budget_in_team")) {
      patch.put(SLUICE_BUDGETS.MAX_BUDGET, b.nonNegativeNumber("max_budget_in_team"));
    }
    if (b.has("tpm_limit")) {
      patch.put(SLUICE_BUDGETS.TPM_LIMIT, b.nonNegativeLong("tpm_limit"));
    }
    if (b.has("rpm_limit")) {
      patch.put(SLUICE_BUDGETS.RPM_LIMIT, b.nonNegativeLong("rpm_limit"));
    }
    if (b.has("budget_duration")) {
      String bd = Durations.check("budget_duration", b.string("budget_duration"));
      patch.put(SLUICE_BUDGETS.BUDGET_DURATION, bd);
      patch.put(SLUICE_BUDGETS.BUDGET_RESET_AT, bd == null ? null : Durations.after(now(), bd));
    }
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode out = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      requireTeam(tx, teamId);
      String uid = userId != null && !userId.isBlank() ? userId : memberByEmail(tx, teamId, email);
      Record m = tx.selectFrom(SLUICE_TEAM_MEMBERS)
          .where(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId).and(SLUICE_TEAM_MEMBERS.USER_ID.eq(uid))).forUpdate()
          .fetchOne();
      if (m == null) {
        throw ApiException.badRequest("user_id", "user_id=" + uid + " is not a member of team_id=" + teamId
            + ". /team/member_add adds it.");
      }
      OffsetDateTime now = now();
      String budgetId = m.get(SLUICE_TEAM_MEMBERS.BUDGET_ID);
      if (!patch.isEmpty()) {
        budgetId = patchMemberBudget(tx, c, budgetId, patch, now);
      }
      var update = tx.update(SLUICE_TEAM_MEMBERS).set(SLUICE_TEAM_MEMBERS.BUDGET_ID, budgetId);
      if (role != null) {
        update = update.set(SLUICE_TEAM_MEMBERS.ROLE, role);
      }
      update.where(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId).and(SLUICE_TEAM_MEMBERS.USER_ID.eq(uid))).execute();
      touched.addAll(memberKeys(tx, teamId, uid)); // the data plane enforces the member's budget from its keys
      Record budget = budgetId == null ? null
          : tx.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(budgetId)).fetchOne();
      String storedEmail = tx.select(SLUICE_USERS.USER_EMAIL).from(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq(uid))
          .fetchOne(SLUICE_USERS.USER_EMAIL);
      ObjectNode o = Out.obj();
      o.put("team_id", teamId);
      o.put("user_id", uid);
      o.put("user_email", email != null ? email : storedEmail);
      o.put("role", role != null ? role : m.get(SLUICE_TEAM_MEMBERS.ROLE));
      o.put("max_budget_in_team", budget == null ? null : budget.get(SLUICE_BUDGETS.MAX_BUDGET));
      o.put("tpm_limit", budget == null ? null : budget.get(SLUICE_BUDGETS.TPM_LIMIT));
      o.put("rpm_limit", budget == null ? null : budget.get(SLUICE_BUDGETS.RPM_LIMIT));
      o.put("budget_duration", budget == null ? null : budget.get(SLUICE_BUDGETS.BUDGET_DURATION));
      o.put("budget_id", budgetId);
      return o;
    });
    return new KeyApi.Result(out, touched);
  }

  /** The member of {@code teamId} with {@code email}; 400 when none or several. */
  private static String memberByEmail(DSLContext tx, String teamId, String email) {
    List<String> ids = tx.select(SLUICE_TEAM_MEMBERS.USER_ID).from(SLUICE_TEAM_MEMBERS).join(SLUICE_USERS)
        .on(SLUICE_USERS.USER_ID.eq(SLUICE_TEAM_MEMBERS.USER_ID))
        .where(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId).and(SLUICE_USERS.USER_EMAIL.eq(email)))
        .fetch(SLUICE_TEAM_MEMBERS.USER_ID);
    if (ids.size() > 1) {
      throw ApiException.badRequest("user_email", "Several members of team_id=" + teamId + " have user_email="
          + email + "; send user_id.");
    }
    if (ids.isEmpty()) {
      throw ApiException.badRequest("user_email", "No member of team_id=" + teamId + " has user_email=" + email
          + ". /team/info lists its members.");
    }
    return ids.get(0);
  }

  /** The member's budget after {@code patch}: in place, on a copy when shared, new when none; null if it limits nothing. */
  private static String patchMemberBudget(DSLContext tx, Caller c, String current, Map<Field<?>, Object> patch,
      OffsetDateTime now) {
    Record old = current == null ? null
        : tx.selectFrom(SLUICE_BUDGETS).where(SLUICE_BUDGETS.BUDGET_ID.eq(current)).forUpdate().fetchOne();
    Map<Field<?>, Object> merged = new LinkedHashMap<>();
    if (old != null) {
      for (Field<?> f : List.of(SLUICE_BUDGETS.MAX_BUDGET, SLUICE_BUDGETS.SOFT_BUDGET,
          SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS, SLUICE_BUDGETS.TPM_LIMIT, SLUICE_BUDGETS.RPM_LIMIT,
          SLUICE_BUDGETS.MODEL_MAX_BUDGET, SLUICE_BUDGETS.BUDGET_DURATION, SLUICE_BUDGETS.BUDGET_RESET_AT)) {
        merged.put(f, old.get(f));
      }
    }
    merged.putAll(patch);
    boolean limits = merged.entrySet().stream()
        .anyMatch(e -> e.getValue() != null && e.getKey() != SLUICE_BUDGETS.BUDGET_RESET_AT);
    if (!limits) {
      return null; // LiteLLM disconnects a member budget that limits nothing
    }
    if (old != null && BudgetApi.users(tx, current) <= 1) {
      Map<Field<?>, Object> v = new LinkedHashMap<>(patch);
      v.put(SLUICE_BUDGETS.UPDATED_AT, now);
      v.put(SLUICE_BUDGETS.UPDATED_BY, c.actor());
      tx.update(SLUICE_BUDGETS).set(v).where(SLUICE_BUDGETS.BUDGET_ID.eq(current)).execute();
      return current;
    }
    return BudgetApi.insert(tx, UUID.randomUUID().toString(), merged, c, now).get(SLUICE_BUDGETS.BUDGET_ID);
  }

  /**
   * {@code /team/model/add}: adds models to the team's list (LiteLLM's add_new_models_to_team: an empty list, which
   * means every model, becomes {@code all-proxy-models} plus the new ones, so access does not shrink). Proxy admins
   * and the team's admins, as LiteLLM's handler.
   */
  KeyApi.Result modelAdd(DSLContext dsl, Caller c, Body b) {
    return changeModels(dsl, c, b, true);
  }

  /** {@code /team/model/delete}: removes models from the team's list. Proxy admins and the team's admins. */
  KeyApi.Result modelDelete(DSLContext dsl, Caller c, Body b) {
    return changeModels(dsl, c, b, false);
  }

  private KeyApi.Result changeModels(DSLContext dsl, Caller c, Body b, boolean add) {
    String path = add ? "/team/model/add" : "/team/model/delete";
    String teamId = b.requiredString("team_id");
    List<String> models = b.strings("models");
    if (models == null || models.isEmpty()) {
      throw ApiException.badRequest("models", "models is required: {\"team_id\": \"" + teamId + "\", \"models\": "
          + "[\"llama-3-8b\"]}.");
    }
    for (int i = 0; i < models.size(); i++) {
      if (models.get(i).isBlank()) {
        throw ApiException.badRequest("models", "models[" + i + "] is blank.");
      }
    }
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record t = tx.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).forUpdate().fetchOne();
      if (t == null) {
        throw ApiException.notFound("team_id", "Team not found, passed team_id=" + teamId + ".");
      }
      if (!c.admin() && !c.teamAdmin(teamId)) {
        throw c.denied(path, "only proxy_admin or an admin of team_id=" + teamId + " can modify team models");
      }
      List<String> current = List.of(t.get(SLUICE_TEAMS.MODELS));
      java.util.LinkedHashSet<String> next = new java.util.LinkedHashSet<>();
      if (add) {
        if (current.isEmpty()) {
          next.add(io.sluice.auth.ModelAccess.ALL_PROXY_MODELS);
        }
        next.addAll(current);
        next.addAll(models);
      } else {
        next.addAll(current);
        models.forEach(next::remove);
      }
      tx.update(SLUICE_TEAMS).set(SLUICE_TEAMS.MODELS, next.toArray(String[]::new))
          .set(SLUICE_TEAMS.UPDATED_AT, now()).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).execute();
      touched.addAll(teamKeys(tx, teamId));
      return teamJson(tx, tx.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).fetchOne());
    });
    return new KeyApi.Result(row, touched);
  }

  // ----------------------------------------------------------------------------------------------------- helpers

  /** A member as sent: by {@code user_id}, or by {@code user_email} alone (resolved by {@link #resolve}). */
  private record Member(String userId, String email, String role) {}

  /**
   * The member with its user id: a {@code user_email}-only member is the user with that email, or — as LiteLLM's
   * team_member_add does — a new internal user with a generated id and that email.
   */
  private static Member resolve(DSLContext tx, Member m, String field) {
    if (m.userId != null) {
      return m;
    }
    List<String> ids = tx.select(SLUICE_USERS.USER_ID).from(SLUICE_USERS).where(SLUICE_USERS.USER_EMAIL.eq(m.email))
        .fetch(SLUICE_USERS.USER_ID);
    if (ids.size() > 1) {
      throw ApiException.badRequest(field, "Several users have user_email=" + m.email + "; send user_id.");
    }
    String id = ids.isEmpty() ? UUID.randomUUID().toString() : ids.get(0);
    if (ids.isEmpty()) {
      OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC);
      tx.insertInto(SLUICE_USERS).set(SLUICE_USERS.USER_ID, id).set(SLUICE_USERS.USER_EMAIL, m.email)
          .set(SLUICE_USERS.USER_ROLE, "internal_user").set(SLUICE_USERS.CREATED_AT, now)
          .set(SLUICE_USERS.UPDATED_AT, now).execute();
    }
    return new Member(id, m.email, m.role);
  }

  private static List<Member> members(JsonNode raw, String field) {
    List<Member> out = new ArrayList<>();
    if (raw == null || raw.isNull()) {
      return out;
    }
    if (!raw.isArray()) {
      throw ApiException.badRequest(field, field + ": expected a list of {\"role\", \"user_id\"} objects.");
    }
    for (int i = 0; i < raw.size(); i++) {
      JsonNode m = raw.get(i);
      String at = field + "[" + i + "]";
      if (!m.isObject()) {
        throw ApiException.badRequest(field, at + ": expected an object {\"role\": \"user\", \"user_id\": \"…\"}.");
      }
      JsonNode uid = m.get("user_id");
      JsonNode email = m.get("user_email");
      boolean hasId = uid != null && uid.isTextual() && !uid.asText().isBlank();
      boolean hasEmail = email != null && email.isTextual() && !email.asText().isBlank();
      if (!hasId && !hasEmail) {
        throw ApiException.badRequest(field, at + ": user_id or user_email is required (a string).");
      }
      JsonNode role = m.get("role");
      String r = role == null || role.isNull() ? "user" : role.asText();
      if (!r.equals("user") && !r.equals("admin")) {
        throw ApiException.badRequest(field, at + ".role: \"" + r + "\" is not one of user, admin.");
      }
      out.add(new Member(hasId ? uid.asText() : null, hasEmail ? email.asText() : null, r));
    }
    return out;
  }

  /** Adds a member; like LiteLLM, a user that does not exist yet is created ({@code internal_user}). */
  private static void addMember(DSLContext tx, String teamId, Member sent, String field) {
    Member m = resolve(tx, sent, field);
    KeyApi.ensureUser(tx, m.userId);
    tx.insertInto(SLUICE_TEAM_MEMBERS).set(SLUICE_TEAM_MEMBERS.TEAM_ID, teamId)
        .set(SLUICE_TEAM_MEMBERS.USER_ID, m.userId).set(SLUICE_TEAM_MEMBERS.ROLE, m.role)
        .onDuplicateKeyUpdate().set(SLUICE_TEAM_MEMBERS.ROLE, m.role).execute();
  }

  private static Record requireTeam(DSLContext dsl, String teamId) {
    Record t = dsl.selectFrom(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).fetchOne();
    if (t == null) {
      throw ApiException.notFound("team_id", "team_id=" + teamId + " not found.");
    }
    return t;
  }

  private static List<KeyHash> teamKeys(DSLContext tx, String teamId) {
    List<KeyHash> out = new ArrayList<>();
    tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS).where(SLUICE_KEYS.TEAM_ID.eq(teamId))
        .forEach(k -> out.add(new KeyHash(k.value1())));
    return out;
  }

  /** The settable fields of {@code b}; a {@code budget_duration} starts its first period at {@code now}. */
  private static Map<Field<?>, Object> fields(Body b, OffsetDateTime now) {
    Map<Field<?>, Object> v = new LinkedHashMap<>();
    if (b.has("team_alias")) {
      v.put(SLUICE_TEAMS.TEAM_ALIAS, b.string("team_alias"));
    }
    if (b.has("organization_id")) {
      v.put(SLUICE_TEAMS.ORGANIZATION_ID, b.string("organization_id"));
    }
    if (b.has("models")) {
      List<String> m = b.strings("models");
      v.put(SLUICE_TEAMS.MODELS, m == null ? new String[0] : m.toArray(String[]::new));
    }
    if (b.has("max_budget")) {
      v.put(SLUICE_TEAMS.MAX_BUDGET, b.nonNegativeNumber("max_budget"));
    }
    if (b.has("budget_duration")) {
      String bd = Durations.check("budget_duration", b.string("budget_duration"));
      v.put(SLUICE_TEAMS.BUDGET_DURATION, bd);
      v.put(SLUICE_TEAMS.BUDGET_RESET_AT, bd == null ? null : Durations.after(now, bd));
    }
    if (b.has("tpm_limit")) {
      v.put(SLUICE_TEAMS.TPM_LIMIT, b.nonNegativeLong("tpm_limit"));
    }
    if (b.has("rpm_limit")) {
      v.put(SLUICE_TEAMS.RPM_LIMIT, b.nonNegativeLong("rpm_limit"));
    }
    if (b.has("max_parallel_requests")) {
      v.put(SLUICE_TEAMS.MAX_PARALLEL_REQUESTS, b.nonNegativeInt("max_parallel_requests"));
    }
    if (b.has("metadata")) {
      v.put(SLUICE_TEAMS.METADATA, Out.jsonb(b.object("metadata")));
    }
    if (b.has("model_aliases")) {
      v.put(SLUICE_TEAMS.MODEL_ALIASES, Out.jsonb(b.aliases("model_aliases"))); // LiteLLM's team model aliases
    }
    if (b.has("blocked")) {
      Boolean bl = b.bool("blocked");
      v.put(SLUICE_TEAMS.BLOCKED, bl != null && bl);
    }
    return v;
  }

  /** The team's models after the write: those sent, else {@code current}. */
  private static List<String> modelsOf(Map<Field<?>, Object> values, List<String> current) {
    Object m = values.get(SLUICE_TEAMS.MODELS);
    return m == null ? current : List.of((String[]) m);
  }

  static ObjectNode teamJson(DSLContext dsl, Record t) {
    String teamId = t.get(SLUICE_TEAMS.TEAM_ID);
    ObjectNode o = Out.obj();
    o.put("team_id", teamId);
    o.put("team_alias", t.get(SLUICE_TEAMS.TEAM_ALIAS));
    o.put("organization_id", t.get(SLUICE_TEAMS.ORGANIZATION_ID));
    o.set("models", Out.arr(t.get(SLUICE_TEAMS.MODELS)));
    o.set("model_aliases", Out.json(t.get(SLUICE_TEAMS.MODEL_ALIASES)));
    o.put("max_budget", t.get(SLUICE_TEAMS.MAX_BUDGET));
    o.put("spend", t.get(SLUICE_TEAMS.SPEND));
    o.put("budget_duration", t.get(SLUICE_TEAMS.BUDGET_DURATION));
    o.set("budget_reset_at", Out.time(t.get(SLUICE_TEAMS.BUDGET_RESET_AT)));
    o.put("tpm_limit", t.get(SLUICE_TEAMS.TPM_LIMIT));
    o.put("rpm_limit", t.get(SLUICE_TEAMS.RPM_LIMIT));
    o.put("max_parallel_requests", t.get(SLUICE_TEAMS.MAX_PARALLEL_REQUESTS));
    o.put("blocked", t.get(SLUICE_TEAMS.BLOCKED));
    o.set("metadata", Out.json(t.get(SLUICE_TEAMS.METADATA)));
    ArrayNode members = Out.F.arrayNode();
    ArrayNode admins = Out.F.arrayNode();
    ArrayNode userIds = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_TEAM_MEMBERS).where(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId))
        .orderBy(SLUICE_TEAM_MEMBERS.CREATED_AT, SLUICE_TEAM_MEMBERS.USER_ID).forEach(m -> {
          ObjectNode mo = Out.obj();
          mo.put("role", m.get(SLUICE_TEAM_MEMBERS.ROLE));
          mo.put("user_id", m.get(SLUICE_TEAM_MEMBERS.USER_ID));
          mo.putNull("user_email");
          members.add(mo);
          (("admin".equals(m.get(SLUICE_TEAM_MEMBERS.ROLE))) ? admins : userIds)
              .add(m.get(SLUICE_TEAM_MEMBERS.USER_ID));
        });
    o.set("members_with_roles", members);
    o.set("admins", admins);
    o.set("members", userIds);
    o.set("created_at", Out.time(t.get(SLUICE_TEAMS.CREATED_AT)));
    o.set("updated_at", Out.time(t.get(SLUICE_TEAMS.UPDATED_AT)));
    return o;
  }

  private OffsetDateTime now() {
    return OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
  }
}
