package io.sluice.auth;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * The data plane's end-user lookup: a bounded Caffeine cache per node (found and unknown end users alike, the TTLs of
 * {@link LayeredKeyStore.Settings}) over the source of truth ({@link EndUserStore}, PostgreSQL). Concurrent misses for
 * one id share one lookup; the source answers with a future (PostgreSQL's runs off-loop). Failed lookups are
 * not cached. LiteLLM caches end users the same way (60 s in memory, an unknown one as "not blocked").
 *
 * <p>Admin writes to end users or budgets call {@link #invalidateAll} on the node that made them; other nodes hear it
 * through the change bus (Redis) and do the same, else within the TTL.
 */
public final class LayeredEndUserStore implements EndUserStore {
  private final EndUserStore source;
  private final AsyncCache<String, Optional<EndUser>> local;

  public LayeredEndUserStore(EndUserStore source, LayeredKeyStore.Settings settings) {
    this.source = Objects.requireNonNull(source);
    long pos = settings.positiveTtl().toNanos();
    long neg = settings.negativeTtl().toNanos();
    this.local = Caffeine.newBuilder()
        .maximumSize(settings.maxKeys())
        .executor(Runnable::run) // maintenance inline, amortised: no pool thread woken every few reads
        .expireAfter(new Expiry<String, Optional<EndUser>>() {
          @Override
          public long expireAfterCreate(String k, Optional<EndUser> v, long now) {
            return v.isPresent() ? pos : neg;
          }

          @Override
          public long expireAfterUpdate(String k, Optional<EndUser> v, long now, long current) {
            return v.isPresent() ? pos : neg;
          }

          @Override
          public long expireAfterRead(String k, Optional<EndUser> v, long now, long current) {
            return current;
          }
        })
        .buildAsync();
  }

  @Override
  public CompletionStage<Optional<EndUser>> find(String id) {
    return local.get(id, (k, ex) -> source.find(k).toCompletableFuture());
  }

  /** Forgets every end user on this node (an end user or a budget changed; which ones is not worth knowing). */
  public void invalidateAll() {
    local.synchronous().invalidateAll();
  }
}
