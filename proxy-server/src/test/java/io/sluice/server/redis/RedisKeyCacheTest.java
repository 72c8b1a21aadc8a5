package io.sluice.server.redis;

import io.sluice.testing.TcpProxy;

import static io.sluice.server.redis.TestRedis.await;
import static io.sluice.server.redis.TestRedis.randomHash;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.lettuce.core.api.async.RedisAsyncCommands;
import io.sluice.auth.KeyCache;
import io.sluice.auth.KeyCache.Cached;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyLimits;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.KeyStore;
import io.sluice.auth.LayeredKeyStore;
import io.sluice.auth.Role;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Against a real Redis (see {@link TestRedis}); every test uses keys of fresh random hashes. */
class RedisKeyCacheTest {
  private static final Duration MINUTE = Duration.ofMinutes(1);

  private static RedisConnection nodeA;
  private static RedisConnection nodeB;
  private static RedisConnection raw;
  private static RedisKeyCache cacheA;
  private static RedisKeyCache cacheB;

  private final ExecutorService exec = Executors.newFixedThreadPool(4);

  @BeforeAll
  static void connect() {
    nodeA = TestRedis.connect();
    nodeB = TestRedis.connect();
    raw = TestRedis.connect();
    cacheA = new RedisKeyCache(nodeA);
    cacheB = new RedisKeyCache(nodeB);
  }

  @AfterAll
  static void disconnect() {
    for (RedisConnection c : new RedisConnection[] {nodeA, nodeB, raw}) {
      if (c != null) {
        c.close();
      }
    }
  }

  @AfterEach
  void stopExecutor() {
    exec.shutdownNow();
  }

  private static RedisAsyncCommands<String, String> rawRedis() {
    return raw.async();
  }

  private static String rawValue(KeyHash h) throws Exception {
    return await(rawRedis().get(RedisKeyCache.valueKey(h)));
  }

  private static String rawGeneration(KeyHash h) throws Exception {
    return await(rawRedis().get(RedisKeyCache.generationKey(h)));
  }

  private static LayeredKeyStore.Settings layered() {
    return new LayeredKeyStore.Settings(1000, MINUTE, Duration.ofSeconds(10));
  }

  @Test
  void aFullRecordRoundTripsThroughRedis() throws Exception {
    KeyHash h = randomHash();
    KeyRecord full = KeyRecordCodecTest.full(h);
    assertThat(await(cacheA.tryPut(h, Optional.of(full), MINUTE, 0))).isTrue();
    Cached c = await(cacheA.get(h));
    assertThat(c.known()).isTrue();
    assertThat(c.generation()).isZero();
    assertThat(c.record()).isEqualTo(full);
    assertThat(await(cacheB.get(h))).as("another node reads it").isEqualTo(c);

    KeyHash h2 = randomHash();
    KeyRecord sparse = KeyRecordCodecTest.sparse(h2); // nulls everywhere, no limits
    cacheA.put(h2, Optional.of(sparse), MINUTE, 0);
    assertThat(await(cacheA.get(h2))).isEqualTo(Cached.of(Optional.of(sparse), 0)); // pipelined after the put
  }

  @Test
  void aKnownAbsentEntryIsAHitWithoutARecord() throws Exception {
    KeyHash h = randomHash();
    assertThat(await(cacheA.tryPut(h, Optional.empty(), MINUTE, 0))).isTrue();
    Cached c = await(cacheB.get(h));
    assertThat(c.known()).isTrue();
    assertThat(c.asOptional()).isEmpty();
    assertThat(rawValue(h)).isEqualTo("~");
  }

  @Test
  void anUnknownKeyIsAMissWithGenerationZero() throws Exception {
    assertThat(await(cacheA.get(randomHash()))).isEqualTo(Cached.MISS);
  }

  @Test
  void theTtlIsHonoured() throws Exception {
    KeyHash h = randomHash();
    long start = System.nanoTime();
    assertThat(await(cacheA.tryPut(h, Optional.of(KeyRecordCodecTest.sparse(h)), Duration.ofMillis(200), 0)))
        .isTrue();
    assertThat(await(rawRedis().pttl(RedisKeyCache.valueKey(h)))).isBetween(1L, 200L);
    assertThat(await(cacheA.get(h)).known()).isTrue();
    Cached c;
    do {
      Thread.sleep(20);
      c = await(cacheA.get(h));
    } while (c.known() && System.nanoTime() - start < Duration.ofSeconds(3).toNanos());
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;
    assertThat(c).isEqualTo(Cached.MISS);
    assertThat(elapsedMs).as("gone after its ttl, not before").isBetween(180L, 1500L);
    assertThat(await(cacheA.tryPut(h, Optional.empty(), Duration.ofNanos(999_999), 0)))
        .as("a ttl under 1 ms stores nothing").isFalse();
    assertThat(rawValue(h)).isNull();
  }

  @Test
  void invalidateBumpsTheGenerationAndDeletesTheValue() throws Exception {
    KeyHash h = randomHash();
    assertThat(await(cacheA.tryPut(h, Optional.of(KeyRecordCodecTest.full(h)), MINUTE, 0))).isTrue();
    assertThat(await(cacheB.invalidate(h))).isNull();
    assertThat(rawValue(h)).isNull();
    assertThat(rawGeneration(h)).isEqualTo("1");
    long genTtl = await(rawRedis().pttl(RedisKeyCache.generationKey(h)));
    assertThat(genTtl).isBetween(Duration.ofMinutes(9).toMillis(), Duration.ofMinutes(10).toMillis());
    assertThat(await(cacheA.get(h))).isEqualTo(Cached.miss(1));

    await(cacheA.invalidate(h));
    assertThat(await(cacheA.get(h))).isEqualTo(Cached.miss(2));
    assertThat(await(cacheA.tryPut(h, Optional.empty(), MINUTE, 1))).as("an older generation").isFalse();
    assertThat(await(cacheA.tryPut(h, Optional.empty(), MINUTE, 2))).isTrue();
    assertThat(await(cacheA.get(h))).isEqualTo(Cached.of(Optional.empty(), 2));

    KeyHash fresh = randomHash();
    assertThat(await(cacheA.invalidate(fresh))).as("invalidating an uncached key").isNull();
    assertThat(await(cacheA.get(fresh))).isEqualTo(Cached.miss(1));
  }

  @Test
  void aPutWithAStaleGenerationIsRefused() throws Exception {
    KeyHash h = randomHash();
    Cached read = await(cacheA.get(h)); // node A misses, goes to the database...
    assertThat(read).isEqualTo(Cached.MISS);
    await(cacheB.invalidate(h)); // ...meanwhile an admin blocks the key via node B...
    KeyRecord stale = KeyRecordCodecTest.full(h);
    assertThat(await(cacheA.tryPut(h, Optional.of(stale), MINUTE, read.generation()))).isFalse(); // ...A's put
    cacheA.put(h, Optional.of(stale), MINUTE, read.generation()); // the fire-and-forget form, same answer
    assertThat(await(cacheA.get(h))).isEqualTo(Cached.miss(1));
    assertThat(rawValue(h)).as("nothing stored").isNull();
  }

  @Test
  void aMalformedOrForeignValueIsAMissThatTheNextPutRepairs() throws Exception {
    KeyHash h = randomHash();
    await(cacheA.invalidate(h)); // generation 1
    for (String bad : new String[] {"{not json", KeyRecordCodec.encode(KeyRecordCodecTest.full(randomHash())),
        KeyRecordCodec.encode(KeyRecordCodecTest.full(h)).replace("proxy_admin_viewer", "root"), ""}) {
      await(rawRedis().set(RedisKeyCache.valueKey(h), bad));
      assertThat(await(cacheA.get(h))).as(bad).isEqualTo(Cached.miss(1));
    }
    assertThat(await(cacheA.tryPut(h, Optional.of(KeyRecordCodecTest.full(h)), MINUTE, 1))).isTrue();
    assertThat(await(cacheA.get(h)).record()).isEqualTo(KeyRecordCodecTest.full(h));

    KeyHash g = randomHash();
    await(rawRedis().set(RedisKeyCache.generationKey(g), "garbage"));
    assertThat(await(cacheA.get(g))).isEqualTo(Cached.MISS);
    assertThat(await(cacheA.tryPut(g, Optional.empty(), MINUTE, 0))).isFalse();
  }

  @Test
  void theStoredJsonHoldsTheHashButNeverThePlaintextKey() throws Exception {
    String plaintext = "sk-" + UUID.randomUUID();
    KeyHash h = KeyHash.of(plaintext);
    KeyRecord r = new KeyRecord(h, "sk-..." + plaintext.substring(plaintext.length() - 4), "alias", "u", "t",
        Role.INTERNAL_USER, Set.of("m"), Set.of(), List.of(), false, false, null, new KeyLimits(1L, 2L, 3, 4.0, 5));
    assertThat(await(cacheA.tryPut(h, Optional.of(r), MINUTE, 0))).isTrue();
    String stored = rawValue(h);
    assertThat(stored).contains("\"hash\":\"" + h.hex() + "\"")
        .doesNotContain(plaintext)
        .doesNotContain(plaintext.substring(3)); // nor the key's random part without its prefix
    List<String> keys = await(rawRedis().keys("sluice:key*:" + h.hex()));
    assertThat(keys).containsExactly(RedisKeyCache.valueKey(h));
  }

  @Test
  void aRecordLoadedByNodeAIsServedToNodeBWithoutTouchingBsDatabase() throws Exception {
    KeyHash h = randomHash();
    KeyHash unknown = randomHash();
    KeyRecord rec = KeyRecordCodecTest.full(h);
    CountingSource dbA = new CountingSource(exec, h, rec);
    CountingSource dbB = new CountingSource(exec, h, rec);
    RecordingCache l2A = new RecordingCache(cacheA);
    LayeredKeyStore storeA = new LayeredKeyStore(dbA, l2A, exec, layered());
    LayeredKeyStore storeB = new LayeredKeyStore(dbB, cacheB, exec, layered());

    assertThat(await(storeA.find(h))).contains(rec);
    assertThat(await(storeA.find(unknown))).isEmpty();
    assertThat(dbA.calls.get()).isEqualTo(2);
    assertThat(await(l2A.puts.get(0))).as("A cached the record").isTrue();
    assertThat(await(l2A.puts.get(1))).as("A cached the miss").isTrue();

    assertThat(await(storeB.find(h))).contains(rec);
    assertThat(await(storeB.find(unknown))).isEmpty();
    assertThat(dbB.calls.get()).as("B served both from Redis").isZero();

    // An admin change through A: B's next L2 read misses and goes to B's database.
    await(storeA.invalidate(h));
    storeB.invalidateLocal(h); // what the revocation channel does on B
    assertThat(await(storeB.find(h))).contains(rec);
    assertThat(dbB.calls.get()).isEqualTo(1);
  }

  @Test
  void overRedisALookupThatReadTheOldRowBeforeAnInvalidationCannotPutItBack() throws Exception {
    KeyHash h = randomHash();
    KeyRecord rec = KeyRecordCodecTest.full(h);
    CountingSource db = new CountingSource(exec, h, rec);
    db.gate = new CompletableFuture<>();
    RecordingCache l2 = new RecordingCache(cacheA);
    LayeredKeyStore store = new LayeredKeyStore(db, l2, exec, layered());
    CompletableFuture<Optional<KeyRecord>> inFlight = store.find(h).toCompletableFuture();
    while (db.calls.get() == 0) { // the L2 miss (with generation 0) has been read; the database is slow
      Thread.sleep(5);
    }
    await(new LayeredKeyStore(db, cacheB, exec, layered()).invalidate(h)); // e.g. /key/block on another node
    db.gate.complete(null);
    assertThat(await(inFlight)).contains(rec);
    while (l2.puts.isEmpty()) {
      Thread.sleep(5);
    }
    assertThat(await(l2.puts.get(0))).as("stale put refused: generation moved on").isFalse();
    assertThat(rawValue(h)).isNull();
  }

  @Test
  void aClosedConnectionAnswersMissAtOnceAndNeverThrows() throws Exception {
    RedisConnection c = TestRedis.connect();
    RedisKeyCache cache = new RedisKeyCache(c);
    KeyHash h = randomHash();
    assertThat(await(cache.tryPut(h, Optional.empty(), MINUTE, 0))).isTrue();
    c.close();
    c.close(); // idempotent
    assertThat(c.isOpen()).isFalse();
    assertThat(c.ping()).isFalse();
    long start = System.nanoTime();
    assertThat(await(cache.get(h), Duration.ofSeconds(2))).isEqualTo(Cached.MISS);
    cache.put(h, Optional.empty(), MINUTE, 0);
    assertThat(await(cache.invalidate(h), Duration.ofSeconds(2))).isNull();
    assertThat(System.nanoTime() - start).isLessThan(Duration.ofSeconds(2).toNanos());
    assertThat(rawValue(h)).as("the invalidate did not reach Redis").isEqualTo("~");
  }

  @Test
  void aRedisThatWentAwayIsAFastMissAndTheConnectionComesBack() throws Exception {
    RedisSettings target = TestRedis.settings();
    assumeFalse(target.ssl(), "the TCP proxy test needs a plain-text Redis");
    try (TcpProxy proxy = new TcpProxy(target.host(), target.port());
        RedisConnection c = RedisConnection.connect(viaProxy(target, proxy))) {
      RedisKeyCache cache = new RedisKeyCache(c);
      KeyHash h = randomHash();
      assertThat(await(cache.tryPut(h, Optional.empty(), MINUTE, 0))).isTrue();
      assertThat(c.ping()).isTrue();

      proxy.refuse(true);
      long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
      while (c.isOpen() && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(c.isOpen()).as("the drop was noticed").isFalse();
      for (int i = 0; i < 20; i++) {
        long start = System.nanoTime();
        assertThat(await(cache.get(h), Duration.ofSeconds(2))).isEqualTo(Cached.MISS);
        assertThat((System.nanoTime() - start) / 1_000_000).as("rejected, not queued").isLessThan(200L);
      }
      assertThat(await(cache.invalidate(h), Duration.ofSeconds(2))).isNull();
      assertThat(c.ping()).isFalse();

      proxy.refuse(false);
      deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
      while (!c.ping() && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertThat(c.ping()).as("reconnected").isTrue();
      assertThat(await(cache.get(h))).isEqualTo(Cached.of(Optional.empty(), 0));
    }
  }

  @Test
  void aHungRedisTimesOutIntoAMiss() throws Exception {
    RedisSettings target = TestRedis.settings();
    assumeFalse(target.ssl(), "the TCP proxy test needs a plain-text Redis");
    try (TcpProxy proxy = new TcpProxy(target.host(), target.port());
        RedisConnection c = RedisConnection.connect(viaProxy(target, proxy))) {
      RedisKeyCache cache = new RedisKeyCache(c);
      KeyHash h = randomHash();
      assertThat(await(cache.tryPut(h, Optional.empty(), MINUTE, 0))).isTrue();
      proxy.blackhole(true);
      long start = System.nanoTime();
      assertThat(await(cache.get(h), Duration.ofSeconds(2))).isEqualTo(Cached.MISS);
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertThat(ms).as("the 500 ms command timeout").isBetween(400L, 1500L);
      assertThat(await(cache.invalidate(h), Duration.ofSeconds(2))).isNull();
      assertThat(c.ping(Duration.ofMillis(100))).isFalse();
      proxy.blackhole(false);
    }
  }

  private static RedisSettings viaProxy(RedisSettings target, TcpProxy proxy) {
    return new RedisSettings("127.0.0.1", proxy.port(), target.username(), target.password(), false,
        target.database());
  }

  /** A database stand-in that counts lookups and can be held back. */
  static final class CountingSource implements KeyStore {
    final AtomicInteger calls = new AtomicInteger();
    final ExecutorService exec;
    final KeyHash known;
    final KeyRecord record;
    volatile CompletableFuture<Void> gate = CompletableFuture.completedFuture(null);

    CountingSource(ExecutorService exec, KeyHash known, KeyRecord record) {
      this.exec = exec;
      this.known = known;
      this.record = record;
    }

    @Override
    public CompletionStage<Optional<KeyRecord>> find(KeyHash hash) {
      calls.incrementAndGet();
      return gate.thenApplyAsync(v -> hash.equals(known) ? Optional.of(record) : Optional.empty(), exec);
    }
  }

  /** Passes through to a {@link RedisKeyCache}, keeping each fire-and-forget put's outcome for the test. */
  static final class RecordingCache implements KeyCache {
    final RedisKeyCache delegate;
    final List<CompletionStage<Boolean>> puts = new CopyOnWriteArrayList<>();

    RecordingCache(RedisKeyCache delegate) {
      this.delegate = delegate;
    }

    @Override
    public CompletionStage<Cached> get(KeyHash hash) {
      return delegate.get(hash);
    }

    @Override
    public void put(KeyHash hash, Optional<KeyRecord> value, Duration ttl, long generation) {
      puts.add(delegate.tryPut(hash, value, ttl, generation));
    }

    @Override
    public CompletionStage<Void> invalidate(KeyHash hash) {
      return delegate.invalidate(hash);
    }
  }
}
