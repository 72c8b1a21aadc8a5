package io.sluice.auth;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Port: finds virtual keys by hash. Implementations (the admin plane's cache → Redis → PostgreSQL chain) complete
 * off the event loop and never block the caller. Empty = unknown key.
 */
public interface KeyStore {
  CompletionStage<Optional<KeyRecord>> find(KeyHash hash);

  /**
   * Whether this node already knows {@code hash} as a valid key, answered from memory at once (no lookup): used to
   * keep a virtual key from being forwarded upstream in a header Sluice did not authenticate from. False when
   * unsure.
   */
  default boolean knownLocally(KeyHash hash) {
    return false;
  }

  /** No virtual keys at all: the master key is the only credential. */
  KeyStore NONE = hash -> CompletableFuture.completedFuture(Optional.empty());
}
