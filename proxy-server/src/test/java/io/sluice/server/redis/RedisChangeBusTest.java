package io.sluice.server.redis;

import io.sluice.testing.TcpProxy;

import static io.sluice.server.redis.TestRedis.await;
import static io.sluice.server.redis.TestRedis.randomHash;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.sluice.auth.KeyHash;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Against a real Redis (see {@link TestRedis}): two nodes, each a {@link RedisConnection} with its own bus. Every
 * test uses a channel (and so a sequence key) of its own, so runs sharing the Redis do not see each other.
 */
class RedisChangeBusTest {
  private static final Duration FAST_SWEEP = Duration.ofMillis(100);
  private static final Duration NO_SWEEP = Duration.ofHours(1);

  private static RedisConnection nodeA;
  private static RedisConnection nodeB;
  private static RedisConnection raw;

  private final List<AutoCloseable> closeLater = new ArrayList<>();
  private String channel;

  @BeforeAll
  static void connect() {
    nodeA = TestRedis.connect();
    nodeB = TestRedis.connect();
    raw = TestRedis.connect();
  }

  @AfterAll
  static void disconnect() {
    for (RedisConnection c : new RedisConnection[] {nodeA, nodeB, raw}) {
      if (c != null) {
        c.close();
      }
    }
  }

  @BeforeEach
  void freshChannel() {
    channel = "sluice:test:changes:" + UUID.randomUUID();
  }

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = closeLater.size() - 1; i >= 0; i--) {
      closeLater.get(i).close();
    }
    await(raw.async().del(channel + ":seq"));
  }

  private RedisChangeBus bus(RedisConnection c, String node, Recorder listener, Duration sweep) {
    RedisChangeBus b = RedisChangeBus.start(c, channel, node, listener, sweep);
    closeLater.add(b);
    return b;
  }

  private long sequence() throws Exception {
    String s = await(raw.async().get(channel + ":seq"));
    return s == null ? 0 : Long.parseLong(s);
  }

  @Test
  void keysChangedOnNodeAReachNodeBWithinOneSecond() throws Exception {
    Recorder a = new Recorder();
    Recorder b = new Recorder();
    RedisChangeBus busA = bus(nodeA, "node-a", a, FAST_SWEEP);
    RedisChangeBus busB = bus(nodeB, "node-b", b, FAST_SWEEP);
    KeyHash h1 = randomHash();
    KeyHash h2 = randomHash();

    long start = System.nanoTime();
    assertThat(await(busA.publishKeys(List.of(h1, h2)))).isNull();
    awaitTrue(() -> b.keys.size() == 2, Duration.ofSeconds(1), "B heard of both keys within 1 s");
    assertThat(System.nanoTime() - start).isLessThan(Duration.ofSeconds(1).toNanos());
    assertThat(b.keys).containsExactly(h1, h2);
    assertThat(b.batches).as("one message").containsExactly(2);
    assertThat(sequence()).isEqualTo(1);

    awaitTrue(() -> busA.seen() == 1, Duration.ofSeconds(1), "A's own message counts as seen");
    assertThat(a.keys).as("A applied its own change already: not handed back").isEmpty();
    assertThat(a.all.get() + b.all.get() + a.deployments.get() + b.deployments.get()).isZero();

    await(busB.publishKeys(List.of(h2)));
    awaitTrue(() -> a.keys.size() == 1, Duration.ofSeconds(1), "and the other way round");
    assertThat(a.keys).containsExactly(h2);
    assertThat(await(busA.publishKeys(List.of()))).as("nothing to say").isNull();
    assertThat(sequence()).isEqualTo(2);
  }

  @Test
  void deploymentAndAllKeysChangesReachOtherNodes() throws Exception {
    Recorder a = new Recorder();
    Recorder b = new Recorder();
    RedisChangeBus busA = bus(nodeA, "node-a", a, FAST_SWEEP);
    bus(nodeB, "node-b", b, FAST_SWEEP);

    await(busA.publishDeployments());
    awaitTrue(() -> b.deployments.get() == 1, Duration.ofSeconds(1), "B reloads deployments");
    assertThat(b.all.get()).isZero();
    assertThat(b.keys).isEmpty();

    await(busA.publishAllKeys());
    awaitTrue(() -> b.all.get() == 1, Duration.ofSeconds(1), "B forgets every key");
    assertThat(b.deployments.get()).isEqualTo(1);
    assertThat(a.all.get() + a.deployments.get()).isZero();
  }

  @Test
  void aLargeChangeGoesOutInChunksAndArrivesWhole() throws Exception {
    Recorder b = new Recorder();
    RedisChangeBus busA = bus(nodeA, "node-a", new Recorder(), FAST_SWEEP);
    bus(nodeB, "node-b", b, FAST_SWEEP);
    List<KeyHash> many = new ArrayList<>();
    for (int i = 0; i < 2 * RedisChangeBus.MAX_HASHES_PER_MESSAGE + 1; i++) {
      many.add(randomHash());
    }
    await(busA.publishKeys(many));
    awaitTrue(() -> b.keys.size() == many.size(), Duration.ofSeconds(1), "all hashes arrived");
    assertThat(b.keys).containsExactlyInAnyOrderElementsOf(many);
    assertThat(b.batches).containsExactlyInAnyOrder(256, 256, 1);
    assertThat(sequence()).isEqualTo(3);
  }

  @Test
  void theSweepStaysQuietWhileMessagesArrive() throws Exception {
    // Many sweeps race the messages; still far above pub/sub delivery time, even on a loaded 2-core CI machine
    // (a message slower than two sweeps is treated as lost, which is what this test must not see).
    Duration sweep = Duration.ofMillis(150);
    Recorder a = new Recorder();
    Recorder b = new Recorder();
    RedisChangeBus busA = bus(nodeA, "node-a", a, sweep);
    RedisChangeBus busB = bus(nodeB, "node-b", b, sweep);
    List<CompletableFuture<Void>> sent = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      sent.add(busA.publishKeys(List.of(randomHash())).toCompletableFuture());
      sent.add(busB.publishKeys(List.of(randomHash())).toCompletableFuture());
      if (i % 10 == 0) {
        Thread.sleep(sweep.toMillis()); // spread them over several sweeps
      }
    }
    await(CompletableFuture.allOf(sent.toArray(new CompletableFuture<?>[0])));
    awaitTrue(() -> a.keys.size() == 50 && b.keys.size() == 50, Duration.ofSeconds(2), "all delivered");
    assertThat(sequence()).isEqualTo(100);
    awaitTrue(() -> busA.seen() == 100 && busB.seen() == 100, Duration.ofSeconds(1), "both saw them all");
    Thread.sleep(sweep.toMillis() * 5); // a few more sweeps with nothing in flight: still nothing to make up for
    assertThat(a.all.get() + b.all.get()).as("no spurious flush").isZero();
    assertThat(a.deployments.get() + b.deployments.get()).isZero();
  }

  @Test
  void aChangeWhoseMessageNeverArrivedIsMadeUpForByTheSweep() throws Exception {
    Recorder b = new Recorder();
    RedisChangeBus busB = bus(nodeB, "node-b", b, FAST_SWEEP);
    long start = System.nanoTime();
    await(raw.async().incr(channel + ":seq")); // a change published, its message lost
    awaitTrue(() -> b.all.get() == 1, FAST_SWEEP.multipliedBy(5), "flushed within a few sweeps");
    long ms = (System.nanoTime() - start) / 1_000_000;
    assertThat(ms).as("one interval of grace for the message").isGreaterThanOrEqualTo(FAST_SWEEP.toMillis() - 20);
    assertThat(b.deployments.get()).isEqualTo(1);
    assertThat(busB.seen()).isEqualTo(1);
    Thread.sleep(FAST_SWEEP.toMillis() * 4);
    assertThat(b.all.get()).as("once per gap").isEqualTo(1);
    assertThat(b.keys).isEmpty();
  }

  @Test
  void aResetSequenceIsNoticedAndCountsAsMissedChanges() throws Exception {
    await(raw.async().set(channel + ":seq", "40"));
    Recorder b = new Recorder();
    RedisChangeBus busB = bus(nodeB, "node-b", b, FAST_SWEEP);
    assertThat(busB.seen()).isEqualTo(40);
    await(raw.async().del(channel + ":seq")); // FLUSHALL, or a fresh Redis
    awaitTrue(() -> b.all.get() == 1, FAST_SWEEP.multipliedBy(6), "flushed");
    awaitTrue(() -> busB.seen() == 0, Duration.ofSeconds(1), "back in step");
    Thread.sleep(FAST_SWEEP.toMillis() * 3);
    assertThat(b.all.get()).isEqualTo(1);
  }

  @Test
  void aMessageMissedWhileTheLinkWasCutIsMadeUpForOnResubscription() throws Exception {
    RedisSettings target = TestRedis.settings();
    assumeFalse(target.ssl(), "the TCP proxy test needs a plain-text Redis");
    try (TcpProxy proxy = new TcpProxy(target.host(), target.port());
        RedisConnection viaProxy = RedisConnection.connect(viaProxy(target, proxy))) {
      Recorder b = new Recorder();
      RedisChangeBus busA = bus(nodeA, "node-a", new Recorder(), FAST_SWEEP);
      // No sweep on B: only the resubscription can notice the loss.
      RedisChangeBus busB = bus(viaProxy, "node-b", b, NO_SWEEP);
      KeyHash before = randomHash();
      await(busA.publishKeys(List.of(before)));
      awaitTrue(() -> b.keys.contains(before), Duration.ofSeconds(1), "B hears while linked");

      proxy.refuse(true);
      awaitTrue(() -> !viaProxy.isOpen(), Duration.ofSeconds(5), "the drop was noticed");
      KeyHash lost = randomHash();
      assertThat(await(busA.publishKeys(List.of(lost)))).isNull();
      assertThat(b.all.get()).isZero();

      proxy.refuse(false);
      awaitTrue(() -> b.all.get() >= 1, Duration.ofSeconds(10), "B forgot every key once resubscribed");
      assertThat(b.deployments.get()).isGreaterThanOrEqualTo(1);
      assertThat(b.keys).doesNotContain(lost);

      KeyHash after = randomHash();
      await(busA.publishKeys(List.of(after)));
      awaitTrue(() -> b.keys.contains(after), Duration.ofSeconds(1), "and hears again");
      assertThat(busB.seen()).isEqualTo(3);
      busB.close();
    }
  }

  @Test
  void withRedisDownPublishingCompletesNormallyAndLogsOnlyKeyPrefixes() throws Exception {
    RedisSettings target = TestRedis.settings();
    assumeFalse(target.ssl(), "the TCP proxy test needs a plain-text Redis");
    List<KeyHash> hashes = List.of(randomHash(), randomHash());
    List<ILoggingEvent> logs = captureLogs();
    try (TcpProxy proxy = new TcpProxy(target.host(), target.port());
        RedisConnection viaProxy = RedisConnection.connect(viaProxy(target, proxy))) {
      Recorder b = new Recorder();
      RedisChangeBus busA = bus(nodeA, "node-a", new Recorder(), FAST_SWEEP);
      RedisChangeBus down = bus(viaProxy, "node-b", b, Duration.ofMillis(20));
      await(busA.publishKeys(hashes)); // received and logged at debug by B
      awaitTrue(() -> b.keys.size() == 2, Duration.ofSeconds(1), "delivered");

      proxy.refuse(true);
      awaitTrue(() -> !viaProxy.isOpen(), Duration.ofSeconds(5), "the drop was noticed");
      for (int i = 0; i < 5; i++) {
        long start = System.nanoTime();
        assertThat(await(down.publishKeys(hashes), Duration.ofSeconds(2))).isNull();
        assertThat(await(down.publishDeployments(), Duration.ofSeconds(2))).isNull();
        assertThat((System.nanoTime() - start) / 1_000_000).as("rejected, not queued").isLessThan(500L);
      }
      Thread.sleep(200); // ten sweeps against a Redis that is down

      proxy.refuse(false);
      awaitTrue(() -> b.all.get() >= 1, Duration.ofSeconds(10), "resubscribed");
      awaitTrue(() -> count(snapshot(), "readable again") == 1, Duration.ofSeconds(10), "the sweep reads again");
      down.close();
    } finally {
      stopCapture();
    }
    logs = snapshot();
    String all = logs.stream().map(e -> e.getLevel() + " " + e.getFormattedMessage())
        .collect(Collectors.joining("\n"));
    assertThat(all).contains(hashes.get(0).prefix()).contains("publishing the change of 2 keys");
    for (KeyHash h : hashes) {
      assertThat(all).doesNotContain(h.hex());
    }
    assertThat(count(logs, "publishing the change")).as("one warning a minute, not ten").isEqualTo(1);
    assertThat(count(logs, "cannot read the change sequence")).as("once per incident").isEqualTo(1);
    assertThat(count(logs, "readable again")).isEqualTo(1);
  }

  @Test
  void endUserChangesReachOtherNodesAndAFlushForgetsEndUsersToo() throws Exception {
    Recorder a = new Recorder();
    Recorder b = new Recorder();
    RedisChangeBus busA = bus(nodeA, "node-a", a, FAST_SWEEP);
    bus(nodeB, "node-b", b, FAST_SWEEP);
    await(busA.publishEndUsers());
    awaitTrue(() -> b.endUsers.get() == 1, Duration.ofSeconds(1), "B forgets its cached end users");
    assertThat(b.all.get() + b.deployments.get()).as("nothing else").isZero();
    assertThat(a.endUsers.get()).as("not told of its own change").isZero();
    await(raw.async().publish(channel, "garbage"));
    awaitTrue(() -> b.endUsers.get() == 2 && b.all.get() == 1, Duration.ofSeconds(1),
        "a flush (a message that may have been about end users) forgets them too");
  }

  @Test
  void aMalformedOrUnknownMessageMakesNodesForgetEverything() throws Exception {
    Recorder b = new Recorder();
    bus(nodeB, "node-b", b, NO_SWEEP);
    await(raw.async().publish(channel, "garbage"));
    awaitTrue(() -> b.all.get() == 1 && b.deployments.get() == 1, Duration.ofSeconds(1), "flushed");
    await(raw.async().publish(channel, "7 node-z q"));
    awaitTrue(() -> b.all.get() == 2, Duration.ofSeconds(1), "a newer kind of change: flushed too");
    await(raw.async().publish(channel, "8 node-z k nothex"));
    awaitTrue(() -> b.all.get() == 3, Duration.ofSeconds(1), "a bad hash: flushed too");
    assertThat(b.keys).isEmpty();
  }

  @Test
  void closeUnsubscribesAndIsIdempotent() throws Exception {
    Recorder b = new Recorder();
    RedisChangeBus busA = bus(nodeA, "node-a", new Recorder(), FAST_SWEEP);
    RedisChangeBus busB = RedisChangeBus.start(nodeB, channel, "node-b", b, FAST_SWEEP);
    assertThat(subscribers()).isEqualTo(2);
    busB.close();
    busB.close();
    assertThat(subscribers()).isEqualTo(1);
    await(busA.publishKeys(List.of(randomHash())));
    assertThat(await(busB.publishKeys(List.of(randomHash())))).as("a closed bus drops changes quietly").isNull();
    assertThat(sequence()).isEqualTo(1);
    Thread.sleep(FAST_SWEEP.toMillis() * 3);
    assertThat(b.keys).isEmpty();
    assertThat(b.all.get()).isZero();
    assertThat(nodeB.ping()).as("the shared command connection stays open").isTrue();
  }

  @Test
  void startChecksItsArguments() {
    Recorder r = new Recorder();
    assertThatThrownBy(() -> RedisChangeBus.start(nodeA, "two words", r, FAST_SWEEP))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("node id");
    assertThatThrownBy(() -> RedisChangeBus.start(nodeA, "", r, FAST_SWEEP))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("node id");
    assertThatThrownBy(() -> RedisChangeBus.start(nodeA, "n", r, Duration.ofMillis(1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sweep interval");
    assertThat(RedisChangeBus.newNodeId()).isNotEqualTo(RedisChangeBus.newNodeId()).matches("[!-~]{1,100}");
  }

  private long subscribers() throws Exception {
    Map<String, Long> n = await(raw.async().pubsubNumsub(channel));
    return n.getOrDefault(channel, 0L);
  }

  private static RedisSettings viaProxy(RedisSettings target, TcpProxy proxy) {
    return new RedisSettings("127.0.0.1", proxy.port(), target.username(), target.password(), false,
        target.database());
  }

  private static void awaitTrue(BooleanSupplier condition, Duration limit, String what) throws Exception {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("not within " + limit.toMillis() + " ms: " + what);
      }
      Thread.sleep(5);
    }
  }

  private static Logger busLogger() {
    return (Logger) LoggerFactory.getLogger(RedisChangeBus.class);
  }

  private ListAppender<ILoggingEvent> appender;
  private Level levelBefore;

  private List<ILoggingEvent> captureLogs() {
    appender = new ListAppender<>();
    appender.start();
    Logger log = busLogger();
    levelBefore = log.getLevel();
    log.setLevel(Level.DEBUG);
    log.addAppender(appender);
    return appender.list;
  }

  private List<ILoggingEvent> snapshot() {
    synchronized (appender) { // AppenderBase appends under this lock
      return new ArrayList<>(appender.list);
    }
  }

  private void stopCapture() {
    Logger log = busLogger();
    log.detachAppender(appender);
    log.setLevel(levelBefore);
  }

  private static long count(List<ILoggingEvent> logs, String text) {
    return logs.stream().filter(e -> e.getFormattedMessage().contains(text)).count();
  }

  /** Records what the bus tells a node (called on Lettuce threads). */
  static final class Recorder implements RedisChangeBus.Listener {
    final List<KeyHash> keys = new CopyOnWriteArrayList<>();
    final List<Integer> batches = new CopyOnWriteArrayList<>();
    final AtomicInteger all = new AtomicInteger();
    final AtomicInteger deployments = new AtomicInteger();
    final AtomicInteger endUsers = new AtomicInteger();

    @Override
    public void endUsersChanged() {
      endUsers.incrementAndGet();
    }

    @Override
    public void keysChanged(Collection<KeyHash> hashes) {
      batches.add(hashes.size());
      keys.addAll(hashes);
    }

    @Override
    public void allKeysChanged() {
      all.incrementAndGet();
    }

    @Override
    public void deploymentsChanged() {
      deployments.incrementAndGet();
    }
  }
}
