package io.sluice.auth;

import java.util.Set;

/**
 * The authenticated caller of one request.
 *
 * @param role          the caller's role
 * @param keyHashPrefix short hash prefix of the key for logs, or {@code "master"} / {@code "none"}
 * @param alias         key alias or null
 * @param models        model groups allowed; empty = all
 */
public record Principal(Role role, String keyHashPrefix, String alias, Set<String> models) {
  public static final Principal MASTER = new Principal(Role.PROXY_ADMIN, "master", null, Set.of());
  /** The caller when no master key is configured and {@code --allow-unauthenticated} was given (LiteLLM's rule). */
  public static final Principal UNAUTHENTICATED = new Principal(Role.INTERNAL_USER, "none", null, Set.of());

  public boolean mayUseModel(String modelGroup) {
    return models.isEmpty() || models.contains(modelGroup);
  }
}
