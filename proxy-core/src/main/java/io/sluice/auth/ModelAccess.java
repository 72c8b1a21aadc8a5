package io.sluice.auth;

import java.util.Set;
import java.util.stream.Collectors;

/**
 * Whether a key may use a model group (litellm/proxy/auth/auth_checks.py: can_key_call_model, can_team_access_model).
 * A key's own {@code models} apply first, then its team's. An empty list, {@code "*"} or
 * {@code "all-proxy-models"} means every model group; {@code "all-team-models"} in a key's list means "what the team
 * may use". Messages follow LiteLLM's wording, models in Python's list notation.
 */
public final class ModelAccess {
  public static final String ALL_PROXY_MODELS = "all-proxy-models";
  public static final String ALL_TEAM_MODELS = "all-team-models";

  private ModelAccess() {}

  /** Why access is denied, or null when it is allowed. */
  public record Denial(boolean team, String message, boolean user) {
    public Denial(boolean team, String message) {
      this(team, message, false);
    }
  }

  public static Denial denial(KeyRecord key, String modelGroup) {
    return denial(key, modelGroup, Set.of());
  }

  /**
   * As {@link #denial(KeyRecord, String)}, where the group's deployments carry {@code accessGroups}
   * ({@code model_info.access_groups}): a list naming one of them allows the group (LiteLLM's access groups).
   */
  public static Denial denial(KeyRecord key, String modelGroup, Set<String> accessGroups) {
    Set<String> km = key.models();
    if (!unrestricted(km) && !km.contains(ALL_TEAM_MODELS) && !allows(km, modelGroup, accessGroups)) {
      return new Denial(false, "key not allowed to access model. This key can only access models="
          + pythonList(km) + ". Tried to access " + shown(modelGroup));
    }
    Set<String> tm = key.teamModels();
    if (key.teamId() != null && !unrestricted(tm) && !allows(tm, modelGroup, accessGroups)) {
      return new Denial(true, "team not allowed to access model. This team can only access models="
          + pythonList(tm) + ". Tried to access " + shown(modelGroup));
    }
    Set<String> um = key.userModels();
    if (key.teamId() == null && !unrestricted(um) && !allows(um, modelGroup, accessGroups)) {
      // The user's own list holds for all its keys, also those made before it changed (can_user_call_model).
      return new Denial(false, "user not allowed to access model. This user can only access models="
          + pythonList(um) + ". Tried to access " + shown(modelGroup), true);
    }
    return null;
  }

  /** {@code models} names {@code model}, or holds a wildcard pattern that matches it ({@code openai/*}), as LiteLLM. */
  private static boolean allows(Set<String> models, String model, Set<String> accessGroups) {
    if (models.contains(model)) {
      return true;
    }
    for (String g : accessGroups) {
      if (models.contains(g)) {
        return true;
      }
    }
    for (String m : models) {
      if (io.sluice.config.Wildcards.isPattern(m) && io.sluice.config.Wildcards.match(m, model) != null) {
        return true;
      }
    }
    return false;
  }

  private static String shown(String model) {
    return model.length() > 200 ? model.substring(0, 200) + "…" : model;
  }

  private static boolean unrestricted(Set<String> models) {
    return models.isEmpty() || models.contains("*") || models.contains(ALL_PROXY_MODELS);
  }

  static String pythonList(Set<String> models) {
    return models.stream().sorted().map(m -> "'" + m.replace("'", "\\'") + "'")
        .collect(Collectors.joining(", ", "[", "]"));
  }
}
