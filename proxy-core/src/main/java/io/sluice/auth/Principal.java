package io.sluice.auth;

/**
 * The authenticated caller of one request.
 *
 * @param role          the caller's role
 * @param keyHashPrefix short hash prefix of the key for logs, or {@code "master"} / {@code "none"}
 * @param key           the virtual key's record, or null for the master key and unauthenticated callers
 */
public record Principal(Role role, String keyHashPrefix, KeyRecord key) {
  /** LiteLLM's user id for the master key ({@code litellm_proxy_admin_name} default). */
  public static final String MASTER_USER_ID = "default_user_id";
  public static final Principal MASTER = new Principal(Role.PROXY_ADMIN, "master", null);
  /** The caller when no master key is configured and {@code --allow-unauthenticated} was given (LiteLLM's rule). */
  public static final Principal UNAUTHENTICATED = new Principal(Role.INTERNAL_USER, "none", null);

  public static Principal of(KeyRecord key) {
    return new Principal(key.role(), key.hash().prefix(), key);
  }

  public boolean isMaster() {
    return this == MASTER;
  }

  /** The caller's user id: the key's owner, LiteLLM's {@code default_user_id} for the master key, else null. */
  public String userId() {
    return key != null ? key.userId() : isMaster() ? MASTER_USER_ID : null;
  }

  public String teamId() {
    return key == null ? null : key.teamId();
  }

  public String alias() {
    return key == null ? null : key.alias();
  }

  /** Whether the caller may use {@code modelGroup} (key and team model lists). */
  public boolean mayUseModel(String modelGroup) {
    return mayUseModel(modelGroup, java.util.Set.of());
  }

  /** As {@link #mayUseModel(String)}, for a group whose deployments carry {@code accessGroups}. */
  public boolean mayUseModel(String modelGroup, java.util.Set<String> accessGroups) {
    return key == null || ModelAccess.denial(key, modelGroup, accessGroups) == null;
  }
}
