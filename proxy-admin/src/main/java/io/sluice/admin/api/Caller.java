package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import io.sluice.admin.store.Roles;
import io.sluice.auth.Principal;
import io.sluice.auth.Role;
import java.util.HashMap;
import java.util.Map;
import org.jooq.DSLContext;
import org.jooq.Record;

/**
 * The caller of a management endpoint, re-read from the database for the call (a role change or a block applies
 * to the very next management call, whatever the data plane's caches hold).
 *
 * @param role        the caller's role
 * @param userId      the caller's user id ({@code default_user_id} for the master key), or null
 * @param keyHash     the caller's key hash, or null for the master key
 * @param teamRoles   team id → the caller's member role ({@code admin} or {@code user})
 * @param userModels  the caller's user's {@code models} (empty = any)
 * @param keyTeamId   the team the caller's key belongs to, or null (a team key may read its own team)
 */
record Caller(Role role, String userId, String keyHash, Map<String, String> teamRoles, java.util.Set<String> userModels,
    String keyTeamId) {

  Caller(Role role, String userId, String keyHash, Map<String, String> teamRoles, java.util.Set<String> userModels) {
    this(role, userId, keyHash, teamRoles, userModels, null);
  }

  static Caller of(DSLContext dsl, Principal p) {
    if (p.key() == null) {
      return new Caller(p.role(), p.userId(), null, Map.of(), java.util.Set.of());
    }
    String hash = p.key().hash().hex();
    Record r = dsl.select(SLUICE_KEYS.USER_ID, SLUICE_KEYS.BLOCKED, SLUICE_USERS.USER_ROLE, SLUICE_USERS.MODELS,
            SLUICE_KEYS.TEAM_ID)
        .from(SLUICE_KEYS).leftJoin(SLUICE_USERS).on(SLUICE_USERS.USER_ID.eq(SLUICE_KEYS.USER_ID))
        .where(SLUICE_KEYS.TOKEN.eq(hash)).fetchOne();
    if (r == null || Boolean.TRUE.equals(r.get(SLUICE_KEYS.BLOCKED))) {
      throw new ApiException(401, "auth_error", null, "Authentication Error, the key was deleted or blocked. Key "
          + "hash prefix=" + p.keyHashPrefix() + ".");
    }
    String userId = r.get(SLUICE_KEYS.USER_ID);
    Role role = Roles.parse(r.get(SLUICE_USERS.USER_ROLE));
    Map<String, String> teams = new HashMap<>();
    if (userId != null) {
      dsl.select(SLUICE_TEAM_MEMBERS.TEAM_ID, SLUICE_TEAM_MEMBERS.ROLE).from(SLUICE_TEAM_MEMBERS)
          .where(SLUICE_TEAM_MEMBERS.USER_ID.eq(userId))
          .forEach(m -> teams.put(m.value1(), m.value2()));
    }
    String[] um = r.get(SLUICE_USERS.MODELS);
    return new Caller(role == null ? Role.INTERNAL_USER : role, userId, hash, Map.copyOf(teams),
        um == null ? java.util.Set.of() : java.util.Set.of(um), r.get(SLUICE_KEYS.TEAM_ID));
  }

  /** A member of the team, or calling with one of the team's keys (LiteLLM lets a team key read its team). */
  boolean ofTeam(String teamId) {
    return member(teamId) || (teamId != null && teamId.equals(keyTeamId));
  }

  boolean admin() {
    return role == Role.PROXY_ADMIN;
  }

  /** May read everything: {@code proxy_admin} and {@code proxy_admin_viewer}. */
  boolean readsAll() {
    return role == Role.PROXY_ADMIN || role == Role.PROXY_ADMIN_VIEWER;
  }

  /** May create and change its own keys: not a viewer role. */
  boolean writesOwn() {
    return role == Role.PROXY_ADMIN || role == Role.INTERNAL_USER;
  }

  boolean teamAdmin(String teamId) {
    return teamId != null && "admin".equals(teamRoles.get(teamId));
  }

  boolean member(String teamId) {
    return teamId != null && teamRoles.containsKey(teamId);
  }

  boolean self(String otherUserId) {
    return userId != null && userId.equals(otherUserId);
  }

  /** Who a row's {@code created_by}/{@code updated_by} names: the caller's user id, else LiteLLM's admin name. */
  String actor() {
    return userId != null ? userId : "default_user_id";
  }

  ApiException denied(String path, String needed) {
    return ApiException.forbidden("Your role (" + role.wireName() + ") may not call " + path + ": " + needed
        + ".");
  }

  void requireAdmin(String path) {
    if (!admin()) {
      throw denied(path, "it needs proxy_admin");
    }
  }

  void requireReadsAll(String path) {
    if (!readsAll()) {
      throw denied(path, "it needs proxy_admin or proxy_admin_viewer");
    }
  }
}
