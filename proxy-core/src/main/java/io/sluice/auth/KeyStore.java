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

  /** No virtual keys at all: the master key is the only credential. */
  KeyStore NONE = hash -> CompletableFuture.completedFuture(Optional.empty());
}
