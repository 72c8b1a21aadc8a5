package io.sluice.auth;

import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * What the data plane needs to know about a virtual key, joined with its owner and team. Built by a
 * {@link KeyStore}; immutable, so it can be cached on every layer (also serialised into the shared Redis cache).
 *
 * @param hash          the key's hash
 * @param keyName       {@code sk-...abcd}: the only key text ever shown after creation
 * @param alias         {@code key_alias} or null
 * @param userId        the owning user, or null
 * @param teamId        the key's team, or null
 * @param role          the owner's role ({@code internal_user} for a key without a user)
 * @param models        the key's own {@code models}; empty = no restriction of its own
 * @param teamModels    the team's {@code models}; empty = no team restriction
 * @param allowedRoutes the key's {@code allowed_routes}; empty = every route its role may call
 * @param blocked       the key is blocked
 * @param teamBlocked   the key's team is blocked
 * @param expires       expiry or null for never
 * @param limits        per-key limits, never null
 * @param userLimits    the owning user's limits and spend, never null ({@link KeyLimits#NONE} without a user)
 * @param teamLimits    the team's limits and spend, never null ({@link KeyLimits#NONE} without a team)
 * @param userModels    the owning user's {@code models}; empty = no user restriction (checked for keys outside a
 *                      team, as LiteLLM's can_user_call_model)
 * @param aliases       model names this key may send for a model group: the key's {@code aliases} over its team's
 *                      {@code model_aliases}; never null
 * @param memberLimits  the key's user's budget within the key's team ({@code max_budget_in_team}, LiteLLM's
 *                      LiteLLM_TeamMembership budget) and the member's spend in the team; {@link KeyLimits#NONE}
 *                      when the key has no user or team, or the member no budget
 */
public record KeyRecord(
    KeyHash hash,
    String keyName,
    String alias,
    String userId,
    String teamId,
    Role role,
    Set<String> models,
    Set<String> teamModels,
    List<String> allowedRoutes,
    boolean blocked,
    boolean teamBlocked,
    Instant expires,
    KeyLimits limits,
    KeyLimits userLimits,
    KeyLimits teamLimits,
    Set<String> userModels,
    java.util.Map<String, String> aliases,
    KeyLimits memberLimits) {

  /** Without a team member budget. */
  public KeyRecord(KeyHash hash, String keyName, String alias, String userId, String teamId, Role role,
      Set<String> models, Set<String> teamModels, List<String> allowedRoutes, boolean blocked, boolean teamBlocked,
      Instant expires, KeyLimits limits, KeyLimits userLimits, KeyLimits teamLimits, Set<String> userModels,
      java.util.Map<String, String> aliases) {
    this(hash, keyName, alias, userId, teamId, role, models, teamModels, allowedRoutes, blocked, teamBlocked, expires,
        limits, userLimits, teamLimits, userModels, aliases, KeyLimits.NONE);
  }

  /** Without model aliases. */
  public KeyRecord(KeyHash hash, String keyName, String alias, String userId, String teamId, Role role,
      Set<String> models, Set<String> teamModels, List<String> allowedRoutes, boolean blocked, boolean teamBlocked,
      Instant expires, KeyLimits limits, KeyLimits userLimits, KeyLimits teamLimits, Set<String> userModels) {
    this(hash, keyName, alias, userId, teamId, role, models, teamModels, allowedRoutes, blocked, teamBlocked, expires,
        limits, userLimits, teamLimits, userModels, java.util.Map.of());
  }

  /** Without the user's own model list. */
  public KeyRecord(KeyHash hash, String keyName, String alias, String userId, String teamId, Role role,
      Set<String> models, Set<String> teamModels, List<String> allowedRoutes, boolean blocked, boolean teamBlocked,
      Instant expires, KeyLimits limits, KeyLimits userLimits, KeyLimits teamLimits) {
    this(hash, keyName, alias, userId, teamId, role, models, teamModels, allowedRoutes, blocked, teamBlocked, expires,
        limits, userLimits, teamLimits, Set.of(), java.util.Map.of());
  }

  /** Without user or team limits. */
  public KeyRecord(KeyHash hash, String keyName, String alias, String userId, String teamId, Role role,
      Set<String> models, Set<String> teamModels, List<String> allowedRoutes, boolean blocked, boolean teamBlocked,
      Instant expires, KeyLimits limits) {
    this(hash, keyName, alias, userId, teamId, role, models, teamModels, allowedRoutes, blocked, teamBlocked, expires,
        limits, KeyLimits.NONE, KeyLimits.NONE);
  }

  public KeyRecord {
    models = Set.copyOf(models);
    teamModels = Set.copyOf(teamModels);
    allowedRoutes = List.copyOf(allowedRoutes);
    if (role == null) {
      role = Role.INTERNAL_USER;
    }
    if (limits == null) {
      limits = KeyLimits.NONE;
    }
    if (userLimits == null) {
      userLimits = KeyLimits.NONE;
    }
    if (teamLimits == null) {
      teamLimits = KeyLimits.NONE;
    }
    userModels = userModels == null ? Set.of() : Set.copyOf(userModels);
    aliases = aliases == null ? java.util.Map.of() : java.util.Map.copyOf(aliases);
    if (memberLimits == null) {
      memberLimits = KeyLimits.NONE;
    }
  }

  /** Whether the key, its user, its team or its user within the team has any limit (else the limiter is skipped). */
  public boolean limited() {
    return limits.limited() || userLimits.limited() || teamLimits.limited() || memberLimits.limited();
  }

  /** A key with no owner, team, route list or limits (tests, simple stores). */
  public static KeyRecord simple(KeyHash hash, String alias, Role role, Set<String> models, boolean blocked,
      Instant expires) {
    return new KeyRecord(hash, null, alias, null, null, role, models, Set.of(), List.of(), blocked, false, expires,
        KeyLimits.NONE);
  }
}
