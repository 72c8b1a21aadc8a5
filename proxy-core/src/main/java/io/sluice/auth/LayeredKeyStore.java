package io.sluice.auth;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.Ticker;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * The data plane's key lookup: L1 Caffeine (bounded, per node, short TTL, negative entries too) → L2
 * {@link KeyCache} (shared by nodes; optional) → the source of truth ({@link KeyStore}, PostgreSQL). Concurrent
 * misses for one key share one lookup (Caffeine's in-flight future), so a burst of requests with a new key makes
 * one database query. Nothing here blocks: the source is asked on {@code executor}; callers get a future and hop
 * back to their event loop. Failed lookups are not cached.
 *
 * <p>Admin writes call {@link #invalidate} so the next request on this node sees the change; other nodes learn of
 * it through the L2 delete and the revocation channel.
 */
public final class LayeredKeyStore implements KeyStore {
  /** Settings; {@link #DEFAULTS}: 100k keys, 60 s for a found key (LiteLLM's in-memory TTL), 10 s for a miss. */
  public record Settings(long maxKeys, Duration positiveTtl, Duration negativeTtl) {
    public static final Settings DEFAULTS = new Settings(100_000, Duration.ofSeconds(60), Duration.ofSeconds(10));

    public Settings {
      if (maxKeys <= 0 || positiveTtl.isNegative() || negativeTtl.isNegative()) {
        throw new IllegalArgumentException("key cache settings must be positive");
      }
    }
  }

  private final KeyStore source;
  private final KeyCache shared;
  private final Executor executor;
  private final Settings settings;
  private final AsyncCache<KeyHash, Optional<KeyRecord>> local;
  private final java.util.function.BiFunction<KeyHash, Executor, CompletableFuture<Optional<KeyRecord>>> loader =
      (h, ex) -> load(h);
  private final java.util.concurrent.atomic.LongAdder precheckMisses = new java.util.concurrent.atomic.LongAdder();
  private final java.util.concurrent.atomic.LongAdder l2Hits = new java.util.concurrent.atomic.LongAdder();
  private final java.util.concurrent.atomic.LongAdder l2Misses = new java.util.concurrent.atomic.LongAdder();

  public LayeredKeyStore(KeyStore source, KeyCache shared, Executor executor, Settings settings) {
    this(source, shared, executor, settings, Ticker.systemTicker());
  }

  LayeredKeyStore(KeyStore source, KeyCache shared, Executor executor, Settings settings, Ticker ticker) {
    this.source = Objects.requireNonNull(source);
    this.shared = Objects.requireNonNull(shared);
    this.executor = Objects.requireNonNull(executor);
    this.settings = Objects.requireNonNull(settings);
    long pos = settings.positiveTtl().toNanos();
    long neg = settings.negativeTtl().toNanos();
    this.local = Caffeine.newBuilder()
        .maximumSize(settings.maxKeys())
        .recordStats()
        .ticker(ticker)
        // Maintenance (draining the read buffer, expiry, eviction) on the calling thread, amortised: with the lookup
        // pool as executor every few reads woke a pool thread, which cost ≈ 1.7 µs of CPU per request (unpark +
        // park; issue 18's profile). Loads still run on the lookup executor (see load).
        .executor(Runnable::run)
        .expireAfter(new Expiry<KeyHash, Optional<KeyRecord>>() {
          @Override
          public long expireAfterCreate(KeyHash k, Optional<KeyRecord> v, long now) {
            return v.isPresent() ? pos : neg;
          }

          @Override
          public long expireAfterUpdate(KeyHash k, Optional<KeyRecord> v, long now, long current) {
            return v.isPresent() ? pos : neg;
          }

          @Override
          public long expireAfterRead(KeyHash k, Optional<KeyRecord> v, long now, long current) {
            return current;
          }
        })
        .buildAsync();
  }

  @Override
  public CompletionStage<Optional<KeyRecord>> find(KeyHash hash) {
    // A cached key (every request but the first of a key): its future as it is, without the mapping lambda and
    // the result holder Caffeine's get makes per call.
    CompletableFuture<Optional<KeyRecord>> cached = local.getIfPresent(hash);
    if (cached != null) {
      return cached;
    }
    precheckMisses.increment(); // counted again by get below: subtracted in l1Misses
    return local.get(hash, loader);
  }

  private CompletableFuture<Optional<KeyRecord>> load(KeyHash hash) {
    return shared.get(hash).toCompletableFuture()
        .exceptionally(err -> KeyCache.Cached.MISS)
        .thenComposeAsync(c -> {
          if (c.known()) {
            l2Hits.increment();
            return CompletableFuture.completedFuture(c.asOptional());
          }
          l2Misses.increment();
          return source.find(hash).toCompletableFuture().thenApply(found -> {
            shared.put(hash, found, found.isPresent() ? settings.positiveTtl() : settings.negativeTtl(),
                c.generation());
            return found;
          });
        }, executor);
  }

  @Override
  public boolean knownLocally(KeyHash hash) {
    CompletableFuture<Optional<KeyRecord>> f = local.getIfPresent(hash);
    return f != null && f.isDone() && !f.isCompletedExceptionally() && f.getNow(Optional.empty()).isPresent();
  }

  /**
   * Forgets {@code hash} on this node and in the shared cache. The returned stage completes when the shared cache
   * has dropped it, so an admin write can answer only once every node's next L2 read misses.
   */
  public CompletionStage<Void> invalidate(KeyHash hash) {
    local.synchronous().invalidate(hash);
    return shared.invalidate(hash).whenComplete((v, e) -> local.synchronous().invalidate(hash));
  }

  /** Forgets {@code hash} on this node only (a revocation message from another node). */
  public void invalidateLocal(KeyHash hash) {
    local.synchronous().invalidate(hash);
  }

  /** Forgets every key on this node (team or user changes touch many keys). */
  public void invalidateAllLocal() {
    local.synchronous().invalidateAll();
  }

  /** Keys cached on this node now (metrics). */
  public long localSize() {
    return local.synchronous().estimatedSize();
  }

  /** Lookups this node's cache answered (a known key or a cached "no such key"). */
  public long l1Hits() {
    return local.synchronous().stats().hitCount();
  }

  /** Lookups that went on to the shared cache (L2). */
  public long l1Misses() {
    return local.synchronous().stats().missCount() - precheckMisses.sum();
  }

  /** L1 misses the shared cache answered. */
  public long l2Hits() {
    return l2Hits.sum();
  }

  /** L1 misses that went on to PostgreSQL (the shared cache missed, failed, or there is none). */
  public long l2Misses() {
    return l2Misses.sum();
  }
}
