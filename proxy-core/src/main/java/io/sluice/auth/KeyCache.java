package io.sluice.auth;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Port: the key cache that nodes share (L2, Redis in the server). Lookups never block the caller and a failure of
 * the cache is never the caller's failure: implementations complete with {@link Cached#MISS} when the cache is
 * unreachable, so authentication falls through to the database.
 */
public interface KeyCache {
  /**
   * A cache answer: a key's record, "known absent", or not cached. {@code generation} is the entry's invalidation
   * count as read with it; {@link #put} stores only if no invalidation happened since, so a lookup that read the
   * database before a block cannot put the old record back after it.
   */
  record Cached(KeyRecord record, boolean known, long generation) {
    public static final Cached MISS = new Cached(null, false, 0);

    public static Cached miss(long generation) {
      return new Cached(null, false, generation);
    }

    public static Cached of(Optional<KeyRecord> r, long generation) {
      return new Cached(r.orElse(null), true, generation);
    }

    public Optional<KeyRecord> asOptional() {
      return Optional.ofNullable(record);
    }
  }

  CompletionStage<Cached> get(KeyHash hash);

  /**
   * Caches {@code value} (empty = known absent) for {@code ttl} unless the entry was invalidated after
   * {@code generation} was read; fire and forget.
   */
  void put(KeyHash hash, Optional<KeyRecord> value, Duration ttl, long generation);

  /** Drops the entry; completes when the cache has done so (or failed, which is logged, not thrown). */
  CompletionStage<Void> invalidate(KeyHash hash);

  /** No shared cache: every L1 miss goes to the database. */
  KeyCache NONE = new KeyCache() {
    @Override
    public CompletionStage<Cached> get(KeyHash hash) {
      return CompletableFuture.completedFuture(Cached.MISS);
    }

    @Override
    public void put(KeyHash hash, Optional<KeyRecord> value, Duration ttl, long generation) {}

    @Override
    public CompletionStage<Void> invalidate(KeyHash hash) {
      return CompletableFuture.completedFuture(null);
    }
  };
}
