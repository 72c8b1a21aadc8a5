package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

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
import java.util.Set;
import org.jooq.Condition;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Record;
import org.jooq.impl.DSL;

/**
 * {@code /key/*}: LiteLLM's key management (key_management_endpoints.py). Keys are stored only as their SHA-256
 * hash; the plaintext is in the response of the call that creates it and nowhere else.
 *
 * <p>Who may do what: {@code proxy_admin} everything; {@code proxy_admin_viewer} reads every key;
 * {@code internal_user} creates, reads, updates, regenerates and deletes its own keys (and keys for teams it belongs
 * to); a team's {@code admin} member does the same for every key of that team; {@code internal_user_viewer} reads its
 * own keys. Blocking is for proxy admins and team admins.
 */
final class KeyApi {
  static final Set<String> KEY_TYPES = Set.of("llm_api", "management", "read_only", "default");

  private final Clock clock;

  KeyApi(Clock clock) {
    this.clock = clock;
  }

  // ---------------------------------------------------------------------------------------------------- generate

  /** The result of a write: the response and the keys whose cached records must be dropped. */
  record Result(ObjectNode body, List<KeyHash> invalidate) {}

  Result generate(DSLContext dsl, Caller c, Body b) {
    if (!c.writesOwn() && c.teamRoles().values().stream().noneMatch("admin"::equals)) {
      throw c.denied("/key/generate", "it needs proxy_admin, or internal_user for its own keys");
    }
    Fields f = Fields.read(b, clock, true);
    String userId = b.string("user_id");
    String teamId = b.string("team_id");
    if (!c.admin()) {
      if (teamId != null && !c.member(teamId)) {
        throw ApiException.forbidden("You are not a member of team_id=" + teamId + "; only its members may create "
            + "keys for it.");
      }
      if (userId == null) {
        userId = c.userId();
      } else if (!c.self(userId) && !c.teamAdmin(teamId)) {
        throw ApiException.forbidden("Your role (" + c.role().wireName() + ") may only create keys for itself "
            + "(user_id=" + c.userId() + "), or for members of a team it administers (send that team_id).");
      }
      if (!c.writesOwn() && !c.teamAdmin(teamId)) {
        throw c.denied("/key/generate", "it needs proxy_admin, or internal_user for its own keys");
      }
    }
    checkModelsWithinUser(c, b, f);
    String chosen = b.string("key");
    String key = chosen != null ? Keys.checkChosen("key", chosen) : Keys.generate();
    KeyHash hash = KeyHash.of(key);
    String finalUserId = userId;
    String sentOrg = b.string("organization_id");
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      String orgId = organization(tx, c, sentOrg, teamId);
      if (orgId != null) {
        List<String> keyModels = b.has("models") ? b.strings("models") : null;
        OrganizationApi.checkKey(tx, orgId, keyModels);
      }
      if (teamId != null) {
        requireTeam(tx, teamId);
        if (!c.admin() && finalUserId != null && !c.self(finalUserId) && !isMember(tx, teamId, finalUserId)) {
          throw ApiException.badRequest("user_id", "user_id=" + finalUserId + " is not a member of team_id="
              + teamId + "; add it with /team/member_add first.");
        }
      }
      if (finalUserId != null) {
        ensureUser(tx, finalUserId);
      }
      if (tx.fetchExists(SLUICE_KEYS, SLUICE_KEYS.TOKEN.eq(hash.hex()))) {
        throw ApiException.badRequest("key", "This key already exists. Choose another key, or leave 'key' out to "
            + "have one generated.");
      }
      checkAlias(tx, f.alias, null);
      OffsetDateTime now = now();
      Map<Field<?>, Object> values = f.values(now);
      values.put(SLUICE_KEYS.TOKEN, hash.hex());
      values.put(SLUICE_KEYS.KEY_NAME, Keys.displayName(key));
      values.put(SLUICE_KEYS.USER_ID, finalUserId);
      values.put(SLUICE_KEYS.TEAM_ID, teamId);
      values.put(SLUICE_KEYS.ORGANIZATION_ID, orgId);
      values.put(SLUICE_KEYS.CREATED_BY, c.userId());
      values.put(SLUICE_KEYS.UPDATED_BY, c.userId());
      values.put(SLUICE_KEYS.CREATED_AT, now);
      values.put(SLUICE_KEYS.UPDATED_AT, now);
      values.putIfAbsent(SLUICE_KEYS.BLOCKED, false);
      Uniques.insert(() -> tx.insertInto(SLUICE_KEYS).set(values).execute(), "key_alias", f.alias);
      return keyJson(tx.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(hash.hex())).fetchOne());
    });
    row.put("key", key);
    row.put("token", hash.hex());
    row.put("token_id", hash.hex());
    row.put("duration", f.duration);
    return new Result(row, List.of(hash));
  }

  // ------------------------------------------------------------------------------------------------------ update

  Result update(DSLContext dsl, Caller c, Body b) {
    KeyHash hash = Keys.hashOf("key", b.string("key"));
    Fields f = Fields.read(b, clock, false);
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record current = requireKey(tx, hash, "key");
      requireWrite(c, current, "/key/update");
      restrictOwnerUpdate(c, current, b);
      Map<Field<?>, Object> values = f.values(now());
      if (b.has("user_id")) {
        String u = b.string("user_id");
        if (!c.admin() && !java.util.Objects.equals(u, current.get(SLUICE_KEYS.USER_ID))) {
          throw ApiException.forbidden("Only proxy_admin may move a key to another user_id.");
        }
        if (u != null) {
          ensureUser(tx, u);
        }
        values.put(SLUICE_KEYS.USER_ID, u);
      }
      if (b.has("team_id")) {
        String t = b.string("team_id");
        if (!c.admin() && !java.util.Objects.equals(t, current.get(SLUICE_KEYS.TEAM_ID))) {
          throw ApiException.forbidden("Only proxy_admin may move a key to another team_id.");
        }
        if (t != null) {
          requireTeam(tx, t);
        }
        values.put(SLUICE_KEYS.TEAM_ID, t);
      }
      if (b.has("organization_id")) {
        String o = b.string("organization_id");
        if (!c.admin() && !java.util.Objects.equals(o, current.get(SLUICE_KEYS.ORGANIZATION_ID))) {
          throw ApiException.forbidden("Only proxy_admin may move a key to another organization_id.");
        }
        if (o != null) {
          OrganizationApi.checkKey(tx, o, b.has("models") ? b.strings("models")
              : List.of(current.get(SLUICE_KEYS.MODELS)));
        }
        values.put(SLUICE_KEYS.ORGANIZATION_ID, o);
      }
      if (b.has("blocked") && !c.admin() && !c.teamAdmin(current.get(SLUICE_KEYS.TEAM_ID))) {
        throw ApiException.forbidden("Only proxy_admin or the key's team admin may block or unblock a key.");
      }
      if (f.alias != null) {
        checkAlias(tx, f.alias, hash.hex());
      }
      values.put(SLUICE_KEYS.UPDATED_AT, now());
      values.put(SLUICE_KEYS.UPDATED_BY, c.userId());
      Uniques.insert(() -> tx.update(SLUICE_KEYS).set(values).where(SLUICE_KEYS.TOKEN.eq(hash.hex())).execute(),
          "key_alias", f.alias);
      return keyJson(tx.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(hash.hex())).fetchOne());
    });
    row.put("key", hash.hex());
    return new Result(row, List.of(hash));
  }

  // -------------------------------------------------------------------------------------------------------- info

  ObjectNode info(DSLContext dsl, Caller c, String keyParam) {
    KeyHash hash;
    if (keyParam == null || keyParam.isBlank()) {
      if (c.keyHash() == null) {
        throw ApiException.badRequest("key", "key is required: /key/info?key=<sk-… or hash>. (The master key has no "
            + "key record of its own.)");
      }
      hash = new KeyHash(c.keyHash());
    } else {
      hash = Keys.hashOf("key", keyParam);
    }
    Record r = requireKey(dsl, hash, "key");
    requireRead(c, r, "/key/info");
    ObjectNode out = Out.obj();
    out.put("key", hash.hex());
    out.set("info", keyJson(r));
    return out;
  }

  // -------------------------------------------------------------------------------------------------------- list

  ObjectNode list(DSLContext dsl, Caller c, Map<String, List<String>> q) {
    int page = Query.positiveInt(q, "page", 1, Integer.MAX_VALUE);
    int size = Query.positiveInt(q, "size", 10, 100);
    boolean full = Query.bool(q, "return_full_object", false);
    List<Condition> where = new ArrayList<>();
    String userId = Query.string(q, "user_id");
    String teamId = Query.string(q, "team_id");
    String alias = Query.string(q, "key_alias");
    String keyHash = Query.string(q, "key_hash");
    if (userId != null) {
      where.add(SLUICE_KEYS.USER_ID.eq(userId));
    }
    if (teamId != null) {
      where.add(SLUICE_KEYS.TEAM_ID.eq(teamId));
    }
    String orgId = Query.string(q, "organization_id");
    if (orgId != null) {
      where.add(SLUICE_KEYS.ORGANIZATION_ID.eq(orgId));
    }
    if (alias != null) {
      where.add(SLUICE_KEYS.KEY_ALIAS.eq(alias));
    }
    if (keyHash != null) {
      where.add(SLUICE_KEYS.TOKEN.eq(Keys.hashOf("key_hash", keyHash).hex()));
    }
    if (!c.readsAll()) {
      Condition mine = c.userId() == null ? DSL.falseCondition() : SLUICE_KEYS.USER_ID.eq(c.userId());
      List<String> adminOf = c.teamRoles().entrySet().stream().filter(e -> "admin".equals(e.getValue()))
          .map(Map.Entry::getKey).toList();
      if (!adminOf.isEmpty()) {
        mine = mine.or(SLUICE_KEYS.TEAM_ID.in(adminOf));
      }
      where.add(mine);
    }
    Condition cond = DSL.and(where);
    int total = dsl.fetchCount(SLUICE_KEYS, cond);
    ArrayNode keys = Out.F.arrayNode();
    dsl.selectFrom(SLUICE_KEYS).where(cond).orderBy(SLUICE_KEYS.CREATED_AT.desc(), SLUICE_KEYS.TOKEN)
        .limit(size).offset((long) (page - 1) * size)
        .forEach(r -> {
          if (full) {
            keys.add(keyJson(r));
          } else {
            keys.add(r.get(SLUICE_KEYS.TOKEN));
          }
        });
    ObjectNode out = Out.obj();
    out.set("keys", keys);
    out.put("total_count", total);
    out.put("current_page", page);
    out.put("total_pages", (total + size - 1) / size);
    return out;
  }

  // ------------------------------------------------------------------------------------------------------ delete

  Result delete(DSLContext dsl, Caller c, Body b) {
    List<String> keys = b.strings("keys");
    List<String> aliases = b.strings("key_aliases");
    if ((keys == null || keys.isEmpty()) && (aliases == null || aliases.isEmpty())) {
      throw ApiException.badRequest("keys", "Send {\"keys\": [\"sk-…\" or hash, …]} or {\"key_aliases\": [\"…\"]}.");
    }
    List<KeyHash> hashes = new ArrayList<>();
    ArrayNode deleted = Out.F.arrayNode();
    dsl.transaction(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Map<String, Record> rows = new LinkedHashMap<>();
      if (keys != null) {
        for (int i = 0; i < keys.size(); i++) {
          KeyHash h = Keys.hashOf("keys[" + i + "]", keys.get(i));
          Record r = tx.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(h.hex())).forUpdate().fetchOne();
          if (r == null) {
            throw ApiException.notFound("keys", "keys[" + i + "]: no such key (hash prefix " + h.prefix()
                + "). Nothing was deleted.");
          }
          rows.put(h.hex(), r);
          deleted.add(keys.get(i).startsWith("sk-") ? h.hex() : keys.get(i));
        }
      }
      if (aliases != null) {
        for (int i = 0; i < aliases.size(); i++) {
          Record r = tx.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.KEY_ALIAS.eq(aliases.get(i))).forUpdate()
              .fetchOne();
          if (r == null) {
            throw ApiException.notFound("key_aliases", "key_aliases[" + i + "]: no key with key_alias="
                + aliases.get(i) + ". Nothing was deleted.");
          }
          rows.put(r.get(SLUICE_KEYS.TOKEN), r);
          deleted.add(aliases.get(i));
        }
      }
      for (Record r : rows.values()) {
        requireWrite(c, r, "/key/delete");
      }
      tx.deleteFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.in(rows.keySet())).execute();
      rows.keySet().forEach(h -> hashes.add(new KeyHash(h)));
    });
    ObjectNode out = Out.obj();
    out.set("deleted_keys", deleted);
    return new Result(out, hashes);
  }

  // ----------------------------------------------------------------------------------------------- block/unblock

  Result block(DSLContext dsl, Caller c, Body b, boolean blocked) {
    KeyHash hash = Keys.hashOf("key", b.string("key"));
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record r = requireKey(tx, hash, "key");
      if (!c.admin() && !c.teamAdmin(r.get(SLUICE_KEYS.TEAM_ID))) {
        throw c.denied(blocked ? "/key/block" : "/key/unblock", "it needs proxy_admin or the key's team admin");
      }
      tx.update(SLUICE_KEYS).set(SLUICE_KEYS.BLOCKED, blocked).set(SLUICE_KEYS.UPDATED_AT, now())
          .set(SLUICE_KEYS.UPDATED_BY, c.userId()).where(SLUICE_KEYS.TOKEN.eq(hash.hex())).execute();
      return keyJson(tx.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(hash.hex())).fetchOne());
    });
    return new Result(row, List.of(hash));
  }

  // -------------------------------------------------------------------------------------------------- regenerate

  Result regenerate(DSLContext dsl, Caller c, Body b, String pathKey) {
    KeyHash old = Keys.hashOf("key", pathKey != null ? pathKey : b.string("key"));
    if (b.present("grace_period")) {
      throw ApiException.badRequest("grace_period", "grace_period is not supported: the old key stops working at "
          + "once. Leave grace_period out.");
    }
    String chosen = b.string("new_key");
    String key = chosen != null ? Keys.checkChosen("new_key", chosen) : Keys.generate();
    KeyHash hash = KeyHash.of(key);
    Fields f = Fields.read(b, clock, false);
    ObjectNode row = dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record r = requireKey(tx, old, "key");
      requireWrite(c, r, "/key/regenerate");
      restrictOwnerUpdate(c, r, b);
      if (tx.fetchExists(SLUICE_KEYS, SLUICE_KEYS.TOKEN.eq(hash.hex()))) {
        throw ApiException.badRequest("new_key", "new_key already exists. Choose another, or leave it out.");
      }
      if (f.alias != null) {
        checkAlias(tx, f.alias, old.hex());
      }
      Map<Field<?>, Object> values = f.values(now());
      values.put(SLUICE_KEYS.TOKEN, hash.hex());
      values.put(SLUICE_KEYS.KEY_NAME, Keys.displayName(key));
      values.put(SLUICE_KEYS.UPDATED_AT, now());
      values.put(SLUICE_KEYS.UPDATED_BY, c.userId());
      Uniques.insert(() -> tx.update(SLUICE_KEYS).set(values).where(SLUICE_KEYS.TOKEN.eq(old.hex())).execute(),
          "key_alias", f.alias);
      return keyJson(tx.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(hash.hex())).fetchOne());
    });
    row.put("key", key);
    row.put("token", hash.hex());
    row.put("token_id", hash.hex());
    return new Result(row, List.of(old, hash));
  }

  // ----------------------------------------------------------------------------------------------------- helpers

  private OffsetDateTime now() {
    return OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
  }

  static Record requireKey(DSLContext dsl, KeyHash hash, String param) {
    Record r = dsl.selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(hash.hex())).fetchOne();
    if (r == null) {
      throw ApiException.notFound(param, "Key not found: no key with hash prefix " + hash.prefix() + ". It may "
          + "have been deleted or regenerated; /key/list shows the keys you may see.");
    }
    return r;
  }

  private static void requireRead(Caller c, Record key, String path) {
    if (c.readsAll() || c.self(key.get(SLUICE_KEYS.USER_ID)) || c.teamAdmin(key.get(SLUICE_KEYS.TEAM_ID))
        || (c.keyHash() != null && c.keyHash().equals(key.get(SLUICE_KEYS.TOKEN)))) {
      return;
    }
    throw c.denied(path, "the key belongs to another user; proxy_admin, proxy_admin_viewer, the key's owner or "
        + "its team admin may read it");
  }

  private static void requireWrite(Caller c, Record key, String path) {
    if (c.admin() || c.teamAdmin(key.get(SLUICE_KEYS.TEAM_ID))) {
      return;
    }
    if (c.writesOwn() && c.self(key.get(SLUICE_KEYS.USER_ID))) {
      return;
    }
    throw c.denied(path, c.writesOwn() ? "the key belongs to another user; proxy_admin, the key's owner or its "
        + "team admin may change it" : "it needs proxy_admin, or internal_user for its own keys");
  }

  /** Limits a key's owner may not raise on its own key: only a proxy admin or the key's team admin may. */
  private static final List<String> ADMIN_FIELDS = List.of("max_budget", "budget_duration", "tpm_limit",
      "rpm_limit", "max_parallel_requests", "allowed_routes", "key_type");

  private static void restrictOwnerUpdate(Caller c, Record key, Body b) {
    if (c.admin() || c.teamAdmin(key.get(SLUICE_KEYS.TEAM_ID))) {
      return;
    }
    for (String f : ADMIN_FIELDS) {
      if (b.has(f)) {
        throw ApiException.forbidden("Only proxy_admin or the key's team admin may change " + f + " of an existing "
            + "key; leave it out.");
      }
    }
    checkModelsWithinUser(c, b, null);
  }

  /**
   * A non-admin's key may not reach models its user may not use: when the caller's user has a {@code models} list,
   * the key's list must be within it (on create, a missing list becomes the user's).
   */
  private static void checkModelsWithinUser(Caller c, Body b, Fields f) {
    if (c.admin() || c.userModels().isEmpty()) {
      return;
    }
    if (!b.has("models")) {
      if (f != null) {
        f.values.put(SLUICE_KEYS.MODELS, c.userModels().stream().sorted().toArray(String[]::new));
      }
      return;
    }
    List<String> m = b.strings("models");
    if (m == null || m.isEmpty() || !c.userModels().containsAll(m)) {
      throw ApiException.forbidden("Your user may use only models=" + new java.util.TreeSet<>(c.userModels())
          + "; a key you create or change must list models within those.");
    }
  }

  /**
   * The organization a new key belongs to: the one sent, else its team's (LiteLLM keys a team key to the team's
   * organization). A key sent into another organization than its team's is refused; outside a team, a caller that
   * is not proxy_admin may only put a key into an organization it is a member of.
   */
  private static String organization(DSLContext tx, Caller c, String sent, String teamId) {
    String teamOrg = teamId == null ? null : tx.select(SLUICE_TEAMS.ORGANIZATION_ID).from(SLUICE_TEAMS)
        .where(SLUICE_TEAMS.TEAM_ID.eq(teamId)).fetchOne(SLUICE_TEAMS.ORGANIZATION_ID);
    if (sent == null) {
      return teamOrg;
    }
    if (teamId != null && !sent.equals(teamOrg)) {
      throw ApiException.badRequest("organization_id", "organization_id=" + sent + " is not the organization of "
          + "team_id=" + teamId + " (" + (teamOrg == null ? "none" : teamOrg) + "). Leave organization_id out to "
          + "use the team's.");
    }
    if (teamId == null && !c.admin() && (c.userId() == null || !tx.fetchExists(
        io.sluice.admin.db.jooq.Tables.SLUICE_ORGANIZATION_MEMBERS,
        io.sluice.admin.db.jooq.Tables.SLUICE_ORGANIZATION_MEMBERS.ORGANIZATION_ID.eq(sent)
            .and(io.sluice.admin.db.jooq.Tables.SLUICE_ORGANIZATION_MEMBERS.USER_ID.eq(c.userId()))))) {
      throw ApiException.forbidden("You are not a member of organization_id=" + sent + "; only its members may "
          + "create keys in it.");
    }
    return sent;
  }

  static void requireTeam(DSLContext tx, String teamId) {
    if (!tx.fetchExists(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID.eq(teamId))) {
      throw ApiException.notFound("team_id", "team_id=" + teamId + " not found. Create it with /team/new.");
    }
  }

  private static boolean isMember(DSLContext tx, String teamId, String userId) {
    return tx.fetchExists(SLUICE_TEAM_MEMBERS,
        SLUICE_TEAM_MEMBERS.TEAM_ID.eq(teamId).and(SLUICE_TEAM_MEMBERS.USER_ID.eq(userId)));
  }

  /** LiteLLM creates the user row of a key's {@code user_id} when it does not exist yet. */
  static void ensureUser(DSLContext tx, String userId) {
    tx.insertInto(SLUICE_USERS).set(SLUICE_USERS.USER_ID, userId).onConflictDoNothing().execute();
  }

  private static void checkAlias(DSLContext tx, String alias, String exceptToken) {
    if (alias == null) {
      return;
    }
    Condition c = SLUICE_KEYS.KEY_ALIAS.eq(alias);
    if (exceptToken != null) {
      c = c.and(SLUICE_KEYS.TOKEN.ne(exceptToken));
    }
    if (tx.fetchExists(SLUICE_KEYS, c)) {
      throw ApiException.badRequest("key_alias", "key_alias '" + alias + "' is already used by another key. Key "
          + "aliases must be unique: choose another.");
    }
  }

  /** LiteLLM's LiteLLM_VerificationToken row shape; never a plaintext key (there is none to show). */
  static ObjectNode keyJson(Record r) {
    ObjectNode o = Out.obj();
    o.put("token", r.get(SLUICE_KEYS.TOKEN));
    o.put("key_name", r.get(SLUICE_KEYS.KEY_NAME));
    o.put("key_alias", r.get(SLUICE_KEYS.KEY_ALIAS));
    o.put("spend", r.get(SLUICE_KEYS.SPEND));
    o.put("max_budget", r.get(SLUICE_KEYS.MAX_BUDGET));
    o.set("expires", Out.time(r.get(SLUICE_KEYS.EXPIRES)));
    o.set("models", Out.arr(r.get(SLUICE_KEYS.MODELS)));
    o.set("aliases", Out.json(r.get(SLUICE_KEYS.ALIASES)));
    o.set("config", Out.obj());
    o.put("user_id", r.get(SLUICE_KEYS.USER_ID));
    o.put("team_id", r.get(SLUICE_KEYS.TEAM_ID));
    o.put("organization_id", r.get(SLUICE_KEYS.ORGANIZATION_ID));
    o.set("permissions", Out.obj());
    o.put("max_parallel_requests", r.get(SLUICE_KEYS.MAX_PARALLEL_REQUESTS));
    o.set("metadata", Out.json(r.get(SLUICE_KEYS.METADATA)));
    o.put("blocked", r.get(SLUICE_KEYS.BLOCKED));
    o.put("tpm_limit", r.get(SLUICE_KEYS.TPM_LIMIT));
    o.put("rpm_limit", r.get(SLUICE_KEYS.RPM_LIMIT));
    o.put("budget_duration", r.get(SLUICE_KEYS.BUDGET_DURATION));
    o.set("budget_reset_at", Out.time(r.get(SLUICE_KEYS.BUDGET_RESET_AT)));
    o.set("allowed_cache_controls", Out.F.arrayNode());
    o.set("allowed_routes", Out.arr(r.get(SLUICE_KEYS.ALLOWED_ROUTES)));
    o.set("model_spend", Out.obj());
    o.set("model_max_budget", Out.obj());
    o.put("key_type", r.get(SLUICE_KEYS.KEY_TYPE));
    o.set("created_at", Out.time(r.get(SLUICE_KEYS.CREATED_AT)));
    o.put("created_by", r.get(SLUICE_KEYS.CREATED_BY));
    o.set("updated_at", Out.time(r.get(SLUICE_KEYS.UPDATED_AT)));
    o.put("updated_by", r.get(SLUICE_KEYS.UPDATED_BY));
    return o;
  }

  /** The settable key fields of a generate/update/regenerate body, validated. */
  static final class Fields {
    final Map<Field<?>, Object> values = new LinkedHashMap<>();
    String alias;
    String duration;
    private final Body b;
    private final boolean create;
    private final Clock clock;

    private Fields(Body b, boolean create, Clock clock) {
      this.b = b;
      this.create = create;
      this.clock = clock;
    }

    static Fields read(Body b, Clock clock, boolean create) {
      Fields f = new Fields(b, create, clock);
      f.read();
      return f;
    }

    private void read() {
      if (b.has("key_alias")) {
        alias = b.string("key_alias");
        values.put(SLUICE_KEYS.KEY_ALIAS, alias);
      }
      if (b.has("duration")) {
        duration = Durations.check("duration", b.string("duration"));
      }
      list("models", SLUICE_KEYS.MODELS);
      if (b.has("max_budget")) {
        values.put(SLUICE_KEYS.MAX_BUDGET, b.nonNegativeNumber("max_budget"));
      }
      if (b.has("budget_duration")) {
        values.put(SLUICE_KEYS.BUDGET_DURATION, Durations.check("budget_duration", b.string("budget_duration")));
      }
      if (b.has("tpm_limit")) {
        values.put(SLUICE_KEYS.TPM_LIMIT, b.nonNegativeLong("tpm_limit"));
      }
      if (b.has("rpm_limit")) {
        values.put(SLUICE_KEYS.RPM_LIMIT, b.nonNegativeLong("rpm_limit"));
      }
      if (b.has("max_parallel_requests")) {
        values.put(SLUICE_KEYS.MAX_PARALLEL_REQUESTS, b.nonNegativeInt("max_parallel_requests"));
      }
      if (b.has("metadata")) {
        values.put(SLUICE_KEYS.METADATA, Out.jsonb(b.object("metadata")));
      }
      if (b.has("aliases")) {
        values.put(SLUICE_KEYS.ALIASES, Out.jsonb(b.aliases("aliases"))); // LiteLLM's key aliases
      }
      if (b.has("blocked")) {
        Boolean bl = b.bool("blocked");
        values.put(SLUICE_KEYS.BLOCKED, bl != null && bl);
      }
      String type = b.string("key_type");
      if (type != null && !KEY_TYPES.contains(type)) {
        throw ApiException.badRequest("key_type", "key_type: \"" + type + "\" is not one of llm_api, management, "
            + "read_only, default.");
      }
      if (type != null) {
        values.put(SLUICE_KEYS.KEY_TYPE, type);
      }
      List<String> routes = b.strings("allowed_routes");
      if (routes != null) {
        for (int i = 0; i < routes.size(); i++) {
          String r = routes.get(i);
          if (!r.startsWith("/") && !Set.of("openai_routes", "anthropic_routes", "llm_api_routes", "info_routes",
              "management_routes").contains(r)) {
            throw ApiException.badRequest("allowed_routes", "allowed_routes[" + i + "]: \"" + r + "\" is neither a "
                + "path (starting with /, optionally ending in *) nor a route group (openai_routes, "
                + "anthropic_routes, llm_api_routes, info_routes, management_routes).");
          }
        }
        values.put(SLUICE_KEYS.ALLOWED_ROUTES, routes.toArray(String[]::new));
      } else if (b.has("allowed_routes")) {
        values.put(SLUICE_KEYS.ALLOWED_ROUTES, new String[0]);
      } else if (create && type != null) {
        // LiteLLM's key_type presets (key_management_endpoints.py::_set_allowed_routes_for_key_type).
        String[] preset = switch (type) {
          case "llm_api" -> new String[] {"llm_api_routes"};
          case "management" -> new String[] {"management_routes"};
          case "read_only" -> new String[] {"info_routes"};
          default -> new String[0];
        };
        values.put(SLUICE_KEYS.ALLOWED_ROUTES, preset);
      }
    }

    private void list(String name, Field<String[]> field) {
      if (b.has(name)) {
        List<String> l = b.strings(name);
        values.put(field, l == null ? new String[0] : l.toArray(String[]::new));
      }
    }

    /** The column values to write, with {@code expires} from {@code duration} counted from {@code now}. */
    Map<Field<?>, Object> values(OffsetDateTime now) {
      Map<Field<?>, Object> v = new LinkedHashMap<>(values);
      if (b.has("duration")) {
        v.put(SLUICE_KEYS.EXPIRES, duration == null ? null : Durations.after(now, duration));
      }
      if (v.containsKey(SLUICE_KEYS.BUDGET_DURATION)) {
        String bd = (String) v.get(SLUICE_KEYS.BUDGET_DURATION);
        v.put(SLUICE_KEYS.BUDGET_RESET_AT, bd == null ? null : Durations.after(now, bd));
      }
      return v;
    }
  }
}
