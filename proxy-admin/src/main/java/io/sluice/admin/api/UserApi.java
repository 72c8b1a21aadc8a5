package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.admin.store.Roles;
import io.sluice.auth.KeyHash;
import java.time.Clock;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record;
import org.jooq.impl.DSL;

/**
 * {@code /user/*} (LiteLLM's internal_user_endpoints.py). Users carry the role their keys act with. Creating,
 * changing and deleting users is for {@code proxy_admin}; reading for {@code proxy_admin}, {@code proxy_admin_viewer}
 * and the user itself.
 */
final class UserApi {
  private final Clock clock;
  private final KeyApi keys;

  UserApi(Clock clock, KeyApi keys) {
    this.clock = clock;
    this.keys = keys;
  }

  KeyApi.Result create(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/user/new");
    String userId = b.string("user_id");
    if (userId == null) {
      userId = UUID.randomUUID().toString();
    }
    String role = role(b);
    List<String> teams = b.strings("teams");
    Boolean auto = b.bool("auto_create_key");
    Map<Field<?>, Object> values = fields(b, now());
    if (auto == null || auto) {
      KeyApi.Fields.read(b, clock, true); // validate the first key's fields before anything is written
    }
    String uid = userId;
    List<KeyHash> invalidate = new ArrayList<>();
    // One transaction for the user, its team memberships and its first key: a bad key field leaves no user behind.
    ObjectNode out = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (tx.fetchExists(SLUICE_USERS, SLUICE_USERS.USER_ID.eq(uid))) {
        throw ApiException.badRequest("user_id", "user_id '" + uid + "' already exists. Use /user/update to "
            + "change it, or choose another user_id.");
      }
      OffsetDateTime now = now();
      values.put(SLUICE_USERS.USER_ID, uid);
      values.put(SLUICE_USERS.USER_ROLE, role == null ? "internal_user" : role);
      values.put(SLUICE_USERS.CREATED_AT, now);
      values.put(SLUICE_USERS.UPDATED_AT, now);
      Uniques.insert(() -> tx.insertInto(SLUICE_USERS).set(values).execute(), "user_id", uid);
      if (teams != null) {
        for (int i = 0; i < teams.size(); i++) {
          String t = teams.get(i);
          if (!tx.fetchExists(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID.eq(t))) {
            throw ApiException.notFound("teams", "teams[" + i + "]: team_id=" + t + " not found. Create it with "
                + "/team/new.");
          }
          tx.insertInto(SLUICE_TEAM_MEMBERS).set(SLUICE_TEAM_MEMBERS.TEAM_ID, t)
              .set(SLUICE_TEAM_MEMBERS.USER_ID, uid).set(SLUICE_TEAM_MEMBERS.ROLE, "user")
              .onConflictDoNothing().execute();
        }
      }
      if (auto == null || auto) {
        // LiteLLM's /user/new creates the user's first key in the same call and answers with it.
        ObjectNode keyBody = Out.obj();
        keyBody.put("user_id", uid);
        for (String f : List.of("key_alias", "duration", "models", "max_budget", "budget_duration", "tpm_limit",
            "rpm_limit", "max_parallel_requests", "metadata", "allowed_routes", "key_type")) {
          if (b.has(f) && !(f.equals("models") && b.raw(f).isNull())) {
            keyBody.set(f, b.raw(f));
          }
        }
        KeyApi.Result k = keys.generate(tx, c, Body.of(keyBody));
        invalidate.addAll(k.invalidate());
        return k.body();
      }
      ObjectNode o = Out.obj();
      o.putNull("key");
      return o;
    });
    Record u = dsl.selectFrom(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq(uid)).fetchOne();
    out.setAll(userJson(u));
    out.set("teams", Out.arr(teams));
    return new KeyApi.Result(out, invalidate);
  }

  ObjectNode info(DSLContext dsl, Caller c, String userIdParam) {
    String userId = userIdParam != null ? userIdParam : c.userId();
    if (userId == null) {
      throw ApiException.badRequest("user_id", "user_id is required: /user/info?user_id=<id>.");
    }
    if (!c.readsAll() && !c.self(userId)) {
      throw c.denied("/user/info", "a user may read only its own info; proxy_admin and proxy_admin_viewer may "
          + "read any");
    }
    Record u = dsl.selectFrom(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq(userId)).fetchOne();
    if (u == null) {
      throw ApiException.notFound("user_id", "user_id=" + userId + " not found.");
    }
    ObjectNode out = Out.obj();
    out.put("user_id", userId);
    out.set("user_info", userJson(u));
    ArrayNode ks = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.USER_ID.eq(userId)).orderBy(SLUICE_KEYS.CREATED_AT)
        .forEach(k -> ks.add(KeyApi.keyJson(k)));
    out.set("keys", ks);
    ArrayNode teams = Out.F.arrayNode();
    dsl.select(SLUICE_TEAMS.asterisk()).from(SLUICE_TEAMS).join(SLUICE_TEAM_MEMBERS)
        .on(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(SLUICE_TEAMS.TEAM_ID)).where(SLUICE_TEAM_MEMBERS.USER_ID.eq(userId))
        .orderBy(SLUICE_TEAMS.CREATED_AT).forEach(t -> teams.add(TeamApi.teamJson(dsl, t)));
    out.set("teams", teams);
    return out;
  }

  KeyApi.Result update(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/user/update");
    String userId = b.string("user_id");
    String email = b.string("user_email");
    if (userId == null && email == null) {
      throw ApiException.badRequest("user_id", "Send user_id (or user_email) of the user to update.");
    }
    String role = role(b);
    Map<Field<?>, Object> values = fields(b, now());
    if (role != null) {
      values.put(SLUICE_USERS.USER_ROLE, role);
    }
    List<KeyHash> touched = new ArrayList<>();
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Condition which = userId != null ? SLUICE_USERS.USER_ID.eq(userId) : SLUICE_USERS.USER_EMAIL.eq(email);
      List<Record> found = new ArrayList<>(tx.selectFrom(SLUICE_USERS).where(which).forUpdate().fetch());
      if (found.isEmpty() && userId != null) {
        // LiteLLM's /user/update upserts by user_id (prisma update_data, table "user"): a missing user is created
        // with what was sent, as internal_user unless a role was given. Admin scripts rely on it.
        OffsetDateTime now = now();
        Map<Field<?>, Object> create = new java.util.HashMap<>(values);
        create.put(SLUICE_USERS.USER_ID, userId);
        create.putIfAbsent(SLUICE_USERS.USER_ROLE, "internal_user");
        if (email != null) {
          create.put(SLUICE_USERS.USER_EMAIL, email);
        }
        create.put(SLUICE_USERS.CREATED_AT, now);
        create.put(SLUICE_USERS.UPDATED_AT, now);
        Uniques.insert(() -> tx.insertInto(SLUICE_USERS).set(create).execute(), "user_id", userId);
        return userJson(tx.selectFrom(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq(userId)).fetchOne());
      }
      if (found.isEmpty()) {
        throw ApiException.notFound("user_email", "user_email=" + email + " not found. Send user_id to create the "
            + "user.");
      }
      if (found.size() > 1) {
        throw ApiException.badRequest("user_email", "Several users have user_email=" + email + "; send user_id.");
      }
      String uid = found.get(0).get(SLUICE_USERS.USER_ID);
      if (userId != null && email != null) {
        values.put(SLUICE_USERS.USER_EMAIL, email);
      }
      values.put(SLUICE_USERS.UPDATED_AT, now());
      tx.update(SLUICE_USERS).set(values).where(SLUICE_USERS.USER_ID.eq(uid)).execute();
      tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS).where(SLUICE_KEYS.USER_ID.eq(uid))
          .forEach(k -> touched.add(new KeyHash(k.value1())));
      return userJson(tx.selectFrom(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq(uid)).fetchOne());
    });
    return new KeyApi.Result(row, touched);
  }

  KeyApi.Result delete(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/user/delete");
    List<String> ids = b.strings("user_ids");
    if (ids == null || ids.isEmpty()) {
      throw ApiException.badRequest("user_ids", "Send {\"user_ids\": [\"…\"]}.");
    }
    List<KeyHash> touched = new ArrayList<>();
    dsl.transaction(cfg -> {
      DSLContext tx = DSL.using(cfg);
      for (int i = 0; i < ids.size(); i++) {
        if (!tx.fetchExists(SLUICE_USERS, SLUICE_USERS.USER_ID.eq(ids.get(i)))) {
          throw ApiException.notFound("user_ids", "user_ids[" + i + "]: user_id=" + ids.get(i) + " not found. "
              + "Nothing was deleted.");
        }
      }
      // LiteLLM deletes the user's keys with the user.
      tx.deleteFrom(SLUICE_KEYS).where(SLUICE_KEYS.USER_ID.in(ids)).returning(SLUICE_KEYS.TOKEN).fetch()
          .forEach(k -> touched.add(new KeyHash(k.get(SLUICE_KEYS.TOKEN))));
      tx.deleteFrom(SLUICE_USERS).where(SLUICE_USERS.USER_ID.in(ids)).execute();
    });
    ObjectNode out = Out.obj();
    out.set("deleted_users", Out.arr(ids));
    out.put("deleted_keys", touched.size());
    return new KeyApi.Result(out, touched);
  }

  ObjectNode list(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    c.requireReadsAll("/user/list");
    int page = Query.positiveInt(q, "page", 1, Integer.MAX_VALUE);
    int size = Query.positiveInt(q, "page_size", 25, 100);
    List<Condition> where = new ArrayList<>();
    String role = Query.string(q, "role");
    if (role != null) {
      if (Roles.parse(role) == null) {
        throw ApiException.badRequest("role", "role: \"" + role + "\" is not one of proxy_admin, "
            + "proxy_admin_viewer, internal_user, internal_user_viewer.");
      }
      where.add(SLUICE_USERS.USER_ROLE.eq(role));
    }
    String ids = Query.string(q, "user_ids");
    if (ids != null) {
      where.add(SLUICE_USERS.USER_ID.in(List.of(ids.split(","))));
    }
    Condition cond = DSL.and(where);
    int total = dsl.fetchCount(SLUICE_USERS, cond);
    ArrayNode users = Out.F.arrayNode();
    org.jooq.Field<Integer> keyCount = DSL.field(DSL.selectCount().from(SLUICE_KEYS)
        .where(SLUICE_KEYS.USER_ID.eq(SLUICE_USERS.USER_ID))).as("key_count");
    dsl.select(SLUICE_USERS.asterisk(), keyCount).from(SLUICE_USERS).where(cond)
        .orderBy(SLUICE_USERS.CREATED_AT.desc(), SLUICE_USERS.USER_ID)
        .limit(size).offset((long) (page - 1) * size)
        .forEach(u -> users.add(userJson(u).put("key_count", u.get(keyCount))));
    ObjectNode out = Out.obj();
    out.set("users", users);
    out.put("total", total);
    out.put("page", page);
    out.put("page_size", size);
    out.put("total_pages", (total + size - 1) / size);
    return out;
  }

  // ----------------------------------------------------------------------------------------------------- helpers

  private static String role(Body b) {
    String role = b.string("user_role");
    if (role != null && Roles.parse(role) == null) {
      throw ApiException.badRequest("user_role", "user_role: \"" + role + "\" is not one of proxy_admin, "
          + "proxy_admin_viewer, internal_user, internal_user_viewer.");
    }
    return role;
  }

  /** The settable fields of {@code b}; a {@code budget_duration} starts its first period at {@code now}. */
  private static Map<Field<?>, Object> fields(Body b, OffsetDateTime now) {
    Map<Field<?>, Object> v = new LinkedHashMap<>();
    if (b.has("user_email")) {
      v.put(SLUICE_USERS.USER_EMAIL, b.string("user_email"));
    }
    if (b.has("user_alias")) {
      v.put(SLUICE_USERS.USER_ALIAS, b.string("user_alias"));
    }
    if (b.has("models")) {
      List<String> m = b.strings("models");
      v.put(SLUICE_USERS.MODELS, m == null ? new String[0] : m.toArray(String[]::new));
    }
    if (b.has("max_budget")) {
      v.put(SLUICE_USERS.MAX_BUDGET, b.nonNegativeNumber("max_budget"));
    }
    if (b.has("budget_duration")) {
      String bd = Durations.check("budget_duration", b.string("budget_duration"));
      v.put(SLUICE_USERS.BUDGET_DURATION, bd);
      v.put(SLUICE_USERS.BUDGET_RESET_AT, bd == null ? null : Durations.after(now, bd));
    }
    if (b.has("tpm_limit")) {
      v.put(SLUICE_USERS.TPM_LIMIT, b.nonNegativeLong("tpm_limit"));
    }
    if (b.has("rpm_limit")) {
      v.put(SLUICE_USERS.RPM_LIMIT, b.nonNegativeLong("rpm_limit"));
    }
    if (b.has("max_parallel_requests")) {
      v.put(SLUICE_USERS.MAX_PARALLEL_REQUESTS, b.nonNegativeInt("max_parallel_requests"));
    }
    if (b.has("metadata")) {
      v.put(SLUICE_USERS.METADATA, Out.jsonb(b.object("metadata")));
    }
    return v;
  }

  static ObjectNode userJson(Record u) {
    ObjectNode o = Out.obj();
    o.put("user_id", u.get(SLUICE_USERS.USER_ID));
    o.put("user_email", u.get(SLUICE_USERS.USER_EMAIL));
    o.put("user_alias", u.get(SLUICE_USERS.USER_ALIAS));
    o.put("user_role", u.get(SLUICE_USERS.USER_ROLE));
    o.set("models", Out.arr(u.get(SLUICE_USERS.MODELS)));
    o.put("max_budget", u.get(SLUICE_USERS.MAX_BUDGET));
    o.put("spend", u.get(SLUICE_USERS.SPEND));
    o.put("budget_duration", u.get(SLUICE_USERS.BUDGET_DURATION));
    o.set("budget_reset_at", Out.time(u.get(SLUICE_USERS.BUDGET_RESET_AT)));
    o.put("tpm_limit", u.get(SLUICE_USERS.TPM_LIMIT));
    o.put("rpm_limit", u.get(SLUICE_USERS.RPM_LIMIT));
    o.put("max_parallel_requests", u.get(SLUICE_USERS.MAX_PARALLEL_REQUESTS));
    o.set("metadata", Out.json(u.get(SLUICE_USERS.METADATA)));
    o.set("created_at", Out.time(u.get(SLUICE_USERS.CREATED_AT)));
    o.set("updated_at", Out.time(u.get(SLUICE_USERS.UPDATED_AT)));
    return o;
  }

  private OffsetDateTime now() {
    return OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
  }
}
