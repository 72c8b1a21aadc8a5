package io.sluice.auth;

import java.time.Instant;
import java.util.Set;

/**
 * What the data plane needs to know about a virtual key. Built by a {@link KeyStore}; immutable.
 *
 * @param hash    the key's hash
 * @param alias   {@code key_alias} or null
 * @param role    the role of the key's owner
 * @param models  model groups the key may call; empty = all
 * @param blocked {@code blocked}
 * @param expires expiry or null for never
 */
public record KeyRecord(KeyHash hash, String alias, Role role, Set<String> models, boolean blocked, Instant expires) {
  public KeyRecord {
    models = Set.copyOf(models);
  }
}
