package io.sluice.auth;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.benmanes.caffeine.cache.Ticker;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class LayeredKeyStoreTest {
  private static final KeyHash H = KeyHash.of("sk-layered-1");
  private static final KeyRecord REC = KeyRecord.simple(H, "a", Role.INTERNAL_USER, Set.of(), false, null);

  private final ExecutorService exec = Executors.newFixedThreadPool(4);
  private final AtomicLong nanos = new AtomicLong();
  private final Ticker ticker = nanos::get;
  private final AtomicInteger dbQueries = new AtomicInteger();
  private volatile CompletableFuture<Void> dbGate = CompletableFuture.completedFuture(null);
  private volatile Optional<KeyRecord> dbAnswer = Optional.of(REC);
  private final KeyStore db = hash -> {
    dbQueries.incrementAndGet();
    return dbGate.thenApplyAsync(v -> dbAnswer, exec);
  };

  @AfterEach
  void stop() {
    exec.shutdownNow();
  }

  private LayeredKeyStore store(KeyCache l2) {
    return new LayeredKeyStore(db, l2, exec, new LayeredKeyStore.Settings(1000, Duration.ofSeconds(60),
        Duration.ofSeconds(10)), ticker);
  }

  private static Optional<KeyRecord> get(CompletionStage<Optional<KeyRecord>> f) throws Exception {
    return f.toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  @Test
  void concurrentMissesForOneKeyMakeOneDatabaseQuery() throws Exception {
    dbGate = new CompletableFuture<>();
    LayeredKeyStore s = store(KeyCache.NONE);
    List<CompletableFuture<Optional<KeyRecord>>> fs = new java.util.ArrayList<>();
    for (int i = 0; i < 50; i++) {
      fs.add(s.find(H).toCompletableFuture());
    }
    dbGate.complete(null);
    for (CompletableFuture<Optional<KeyRecord>> f : fs) {
      assertThat(get(f)).contains(REC);
    }
    assertThat(dbQueries.get()).isEqualTo(1);
    assertThat(get(s.find(H))).contains(REC);
    assertThat(dbQueries.get()).as("served from L1").isEqualTo(1);
  }

  @Test
  void hitsAndMissesAreCountedOncePerLookupAndCachedReadsWakeNoOtherThread() throws Exception {
    java.util.concurrent.atomic.AtomicInteger tasks = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.Executor counting = r -> {
      tasks.incrementAndGet();
      exec.execute(r);
    };
    LayeredKeyStore s = new LayeredKeyStore(db, KeyCache.NONE, counting, new LayeredKeyStore.Settings(1000,
        Duration.ofSeconds(60), Duration.ofSeconds(10)), ticker);
    assertThat(get(s.find(H))).contains(REC);
    assertThat(s.l1Misses()).as("the first lookup: one miss, though find checks the cache before loading")
        .isEqualTo(1);
    assertThat(s.l1Hits()).isZero();
    int afterLoad = tasks.get();
    for (int i = 0; i < 1000; i++) {
      assertThat(s.find(H).toCompletableFuture().isDone()).isTrue();
    }
    assertThat(s.l1Hits()).isEqualTo(1000);
    assertThat(s.l1Misses()).isEqualTo(1);
    // Caffeine's buffer draining ran on this thread: 1 000 reads handed the lookup executor nothing.
    assertThat(tasks.get()).isEqualTo(afterLoad);
  }

  @Test
  void foundKeysLiveForThePositiveTtlAndMissesForTheNegativeTtl() throws Exception {
    LayeredKeyStore s = store(KeyCache.NONE);
    dbAnswer = Optional.empty();
    assertThat(get(s.find(H))).isEmpty();
    assertThat(get(s.find(H))).isEmpty();
    assertThat(dbQueries.get()).as("negative entry cached").isEqualTo(1);
    nanos.addAndGet(Duration.ofSeconds(11).toNanos());
    dbAnswer = Optional.of(REC);
    assertThat(get(s.find(H))).contains(REC);
    assertThat(dbQueries.get()).isEqualTo(2);
    nanos.addAndGet(Duration.ofSeconds(59).toNanos());
    assertThat(get(s.find(H))).contains(REC);
    assertThat(dbQueries.get()).isEqualTo(2);
    nanos.addAndGet(Duration.ofSeconds(2).toNanos());
    assertThat(get(s.find(H))).contains(REC);
    assertThat(dbQueries.get()).as("positive entry expired after 60 s").isEqualTo(3);
  }

  @Test
  void invalidateMakesTheNextLookupReadTheDatabase() throws Exception {
    MapCache l2 = new MapCache();
    LayeredKeyStore s = store(l2);
    assertThat(get(s.find(H))).contains(REC);
    assertThat(l2.map).containsKey(H);
    KeyRecord blocked = KeyRecord.simple(H, "a", Role.INTERNAL_USER, Set.of(), true, null);
    dbAnswer = Optional.of(blocked);
    s.invalidate(H).toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertThat(l2.map).doesNotContainKey(H);
    assertThat(get(s.find(H))).contains(blocked);
    assertThat(dbQueries.get()).isEqualTo(2);
  }

  @Test
  void anL2HitSkipsTheDatabaseAndAnL2FailureFallsThrough() throws Exception {
    MapCache l2 = new MapCache();
    l2.map.put(H, Optional.of(REC));
    assertThat(get(store(l2).find(H))).contains(REC);
    assertThat(dbQueries.get()).isZero();
    KeyCache broken = new MapCache() {
      @Override
      public CompletionStage<Cached> get(KeyHash hash) {
        return CompletableFuture.failedFuture(new IllegalStateException("redis down"));
      }
    };
    assertThat(get(store(broken).find(H))).contains(REC);
    assertThat(dbQueries.get()).isEqualTo(1);
  }

  @Test
  void aLookupThatReadTheOldRowBeforeAnInvalidationCannotPutItBackIntoL2() throws Exception {
    MapCache l2 = new MapCache();
    LayeredKeyStore s = store(l2);
    dbGate = new CompletableFuture<>();
    CompletableFuture<Optional<KeyRecord>> inFlight = s.find(H).toCompletableFuture();
    s.invalidate(H).toCompletableFuture().get(5, TimeUnit.SECONDS); // e.g. /key/block while the read is slow
    dbGate.complete(null);
    assertThat(get(inFlight)).contains(REC);
    assertThat(l2.map).as("stale put refused: generation moved on").doesNotContainKey(H);
  }

  @Test
  void localInvalidationDropsOnlyThisNodesEntriesAndLeavesL2Alone() throws Exception {
    MapCache l2 = new MapCache();
    LayeredKeyStore s = store(l2);
    KeyHash h2 = KeyHash.of("sk-layered-2");
    KeyRecord rec2 = KeyRecord.simple(h2, "b", Role.INTERNAL_USER, Set.of(), false, null);
    assertThat(get(s.find(H))).contains(REC);
    dbAnswer = Optional.of(rec2);
    assertThat(get(s.find(h2))).contains(rec2);
    assertThat(dbQueries.get()).isEqualTo(2);
    // Another node blocked both keys: its write reached L2 (here, directly), this node's L1 still has the old rows.
    KeyRecord blocked = KeyRecord.simple(H, "a", Role.INTERNAL_USER, Set.of(), true, null);
    KeyRecord blocked2 = KeyRecord.simple(h2, "b", Role.INTERNAL_USER, Set.of(), true, null);
    l2.map.put(H, Optional.of(blocked));
    l2.map.put(h2, Optional.of(blocked2));
    assertThat(get(s.find(H))).as("served from L1").contains(REC);

    s.invalidateLocal(H); // the revocation message for H
    assertThat(get(s.find(H))).as("re-read from L2").contains(blocked);
    assertThat(get(s.find(h2))).as("other keys stay cached").contains(rec2);

    s.invalidateAllLocal(); // e.g. missed messages
    assertThat(s.localSize()).isZero();
    assertThat(get(s.find(H))).contains(blocked);
    assertThat(get(s.find(h2))).contains(blocked2);
    assertThat(dbQueries.get()).as("L2 answered; nothing else asked").isEqualTo(2);
    assertThat(l2.gens).as("no L2 invalidation").isEmpty();
  }

  /** An in-memory L2 with generations, as the Redis implementation keeps them. */
  static class MapCache implements KeyCache {
    final Map<KeyHash, Optional<KeyRecord>> map = new ConcurrentHashMap<>();
    final Map<KeyHash, Long> gens = new ConcurrentHashMap<>();

    @Override
    public CompletionStage<Cached> get(KeyHash hash) {
      long g = gens.getOrDefault(hash, 0L);
      Optional<KeyRecord> v = map.get(hash);
      return CompletableFuture.completedFuture(v == null ? Cached.miss(g) : Cached.of(v, g));
    }

    @Override
    public synchronized void put(KeyHash hash, Optional<KeyRecord> value, Duration ttl, long generation) {
      if (gens.getOrDefault(hash, 0L) == generation) {
        map.put(hash, value);
      }
    }

    @Override
    public synchronized CompletionStage<Void> invalidate(KeyHash hash) {
      gens.merge(hash, 1L, Long::sum);
      map.remove(hash);
      return CompletableFuture.completedFuture(null);
    }
  }
}
