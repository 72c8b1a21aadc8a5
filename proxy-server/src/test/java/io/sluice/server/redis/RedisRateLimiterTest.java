package io.sluice.server.redis;

import io.sluice.testing.TcpProxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.sluice.limits.Admission;
import io.sluice.limits.Admission.Limit;
import io.sluice.limits.LimitScope;
import io.sluice.limits.LimitScope.Kind;
import io.sluice.limits.LimitWindows;
import io.sluice.limits.LimiterUnavailableException;
import io.sluice.limits.RateLimiter;
import io.sluice.limits.RateLimiterConformance;
import io.sluice.limits.Reservation;
import io.sluice.server.redis.RedisRateLimiter.FailureMode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The {@link RateLimiter} contract on a real Redis (see {@link TestRedis}), then what only a shared limiter does:
 * nodes share counts, and Redis going away or hanging. Conformance runs {@link FailureMode#CLOSED} with a generous
 * timeout, so a silent fall-back to local counts cannot pass for Redis.
 */
class RedisRateLimiterTest extends RateLimiterConformance {
  private static RedisConnection nodeA;
  private static RedisConnection nodeB;
  private static RedisConnection raw;

  private final RedisRateLimiter limiter = new RedisRateLimiter(nodeA, FailureMode.CLOSED, Duration.ofSeconds(5));

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

  @Override
  protected RateLimiter limiter() {
    return limiter;
  }

  @AfterEach
  void everythingWentToRedis() {
    assertThat(limiter.shared()).isTrue();
    assertThat(limiter.localInFlight()).isZero();
  }

  private static String get(String key) throws Exception {
    return TestRedis.await(raw.async().get(key));
  }

  private long minute() {
    return LimitWindows.epochMinute(t0);
  }

  @Test
  void aCrashedNodesReservationsStopCountingOnceExpiredAndAReleaseLeavesNoMember() throws Exception {
    // Issue 20 §3: node A reserves and never releases (it crashed); its holds expire, the budget comes back.
    RedisRateLimiter a = new RedisRateLimiter(nodeA, FailureMode.CLOSED, Duration.ofSeconds(5));
    RedisRateLimiter b = new RedisRateLimiter(nodeB, FailureMode.CLOSED, Duration.ofSeconds(5));
    LimitScope key = scope(Kind.KEY).budget(1.0, 0, "-", 0).tpm(1_000).build();
    List<LimitScope> scopes = List.of(key);
    String resv = RedisRateLimiter.base(key) + "resv";
    for (int i = 0; i < 4; i++) {
      assertThat(await(a.acquire(scopes, Reservation.of(200, 0.25), t0)).admitted()).isTrue();
    }
    Admission refused = await(b.acquire(scopes, Reservation.of(10, 0.0625), t0 + 1_000));
    assertThat(refused.admitted()).as("node A's holds count on node B").isFalse();
    assertThat(refused.limit()).isEqualTo(Limit.BUDGET);
    assertThat(TestRedis.await(raw.async().zcard(resv))).isEqualTo(4);
    assertThat(TestRedis.await(raw.async().pttl(resv))).as("the set itself expires")
        .isBetween(RedisRateLimiter.RESERVATION_TTL.toMillis() - 20_000, RedisRateLimiter.RESERVATION_TTL.toMillis());

    long expired = t0 + RedisRateLimiter.RESERVATION_TTL.toMillis() + 1;
    Reservation r = Reservation.of(800, 0.875);
    assertThat(await(b.acquire(scopes, r, expired)).admitted()).as("A's holds expired: 0.875 fits").isTrue();
    assertThat(TestRedis.await(raw.async().zcard(resv))).as("expired members dropped, B's kept").isEqualTo(1);
    b.release(scopes, r, 700, 0.75, expired);
    assertThat(await(b.acquire(scopes, Reservation.of(10, 0.125), expired)).admitted()).as("0.75 + 0.125 fits")
        .isTrue();
    assertThat(TestRedis.await(raw.async().zscore(resv, RedisRateLimiter.member(r)))).as("released: gone").isNull();
    assertThat(RedisRateLimiter.member(Reservation.NONE)).isEmpty();
  }

  @Test
  void twoNodesShareOneCount() throws Exception {
    RedisRateLimiter a = new RedisRateLimiter(nodeA, FailureMode.CLOSED, Duration.ofSeconds(5));
    RedisRateLimiter b = new RedisRateLimiter(nodeB, FailureMode.CLOSED, Duration.ofSeconds(5));
    List<LimitScope> key = List.of(scope(Kind.KEY).rpm(100).build());
    ExecutorService pool = threads(8);
    ConcurrentLinkedQueue<Admission> answers = new ConcurrentLinkedQueue<>();
    CountDownLatch go = new CountDownLatch(1);
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      RedisRateLimiter node = t % 2 == 0 ? a : b;
      done.add(pool.submit(() -> {
        go.await();
        for (int i = 0; i < 100; i++) {
          answers.add(await(node.acquire(key, t0)));
        }
        return null;
      }));
    }
    go.countDown();
    for (Future<?> f : done) {
      f.get(10, TimeUnit.SECONDS);
    }
    int admitted = 0;
    for (Admission answer : answers) {
      admitted += answer.admitted() ? 1 : 0;
    }
    assertThat(admitted).as("rpm 100 across both nodes").isEqualTo(100);

    List<LimitScope> par = List.of(scope(Kind.TEAM).parallel(1).tpm(50).build());
    assertThat(await(a.acquire(par, t0)).admitted()).isTrue();
    assertThat(await(b.acquire(par, t0)).limit()).as("the slot is taken on node A").isEqualTo(Limit.PARALLEL);
    b.release(par, 50, 0, t0); // a release need not come through the node that admitted (same counters)
    String tpm = RedisRateLimiter.base(par.get(0)) + "tpm:" + minute();
    awaitTrue(() -> "50".equals(getQuietly(tpm)), "B's release ran");
    Admission onA = await(a.acquire(par, t0));
    assertThat(onA.limit()).as("slot freed, but B's tokens count on A").isEqualTo(Limit.TPM);
    assertThat(a.shared() && b.shared()).isTrue();
  }

  @Test
  void keysNameKindIdLengthAndIdAndExpire() throws Exception {
    long nowSec = t0 / 1000;
    String id = "a:b-" + UUID.randomUUID();
    LimitScope s = scope(Kind.USER).id(id).rpm(10).tpm(100).parallel(2).budget(5, 0, "p:1", nowSec + 3600).build();
    assertThat(acquire(t0, s).admitted()).isTrue();
    String base = "sluice:rl:user:" + id.length() + ":" + id + ":";
    assertThat(RedisRateLimiter.base(s)).isEqualTo(base);
    assertThat(get(base + "rpm:" + minute())).isEqualTo("1");
    assertThat(get(base + "par")).isEqualTo("1");
    assertThat(TestRedis.await(raw.async().pttl(base + "rpm:" + minute())))
        .isBetween(Duration.ofSeconds(100).toMillis(), RedisRateLimiter.WINDOW_TTL.toMillis());
    assertThat(TestRedis.await(raw.async().ttl(base + "par")))
        .isBetween(RedisRateLimiter.PARALLEL_TTL.toSeconds() - 20, RedisRateLimiter.PARALLEL_TTL.toSeconds());
    release(t0, 42, 0.5, s);
    assertThat(acquire(t0, s).remainingTokens()).as("after the release, pipelined").isEqualTo(58);
    assertThat(get(base + "par")).as("released once, acquired again").isEqualTo("1");
    assertThat(get(base + "tpm:" + minute())).isEqualTo("42");
    assertThat(get(base + "spend:p:1")).isEqualTo("0.5");
    assertThat(TestRedis.await(raw.async().ttl(base + "spend:p:1")))
        .as("until a day after the reset").isBetween(3600L + 86_400 - 20, 3600L + 86_400 + 1);

    LimitScope forever = scope(Kind.TEAM).budget(5, 0, "-", 0).build();
    assertThat(acquire(t0, forever).admitted()).isTrue();
    release(t0, 0, 1e-4, forever);
    assertThat(acquire(t0, forever).admitted()).isTrue(); // pipelined after the release
    String spendKey = RedisRateLimiter.base(forever) + "spend:-";
    assertThat(Double.parseDouble(get(spendKey))).isEqualTo(1e-4);
    assertThat(TestRedis.await(raw.async().ttl(spendKey))).as("35 days")
        .isBetween(RedisRateLimiter.SPEND_TTL_NO_RESET.toSeconds() - 20, RedisRateLimiter.SPEND_TTL_NO_RESET.toSeconds());
  }

  @Test
  void idsWithColonsCannotReachAnotherScopesKeys() throws Exception {
    // Without the id's length in the key, r's spend of period "q:par" and (r + ":spend:q")'s slots were one key.
    String r = "r-" + UUID.randomUUID();
    LimitScope spender = scope(Kind.KEY).id(r).budget(100, 0, "q:par", 0).build();
    LimitScope parallel = scope(Kind.KEY).id(r + ":spend:q").parallel(1).build();
    assertThat(acquire(t0, spender).admitted()).isTrue();
    release(t0, 0, 5, spender);
    assertThat(acquire(t0, parallel).admitted()).as("5 spent elsewhere is not 5 in flight here").isTrue();
    release(t0, 0, 0, parallel);
    LimitScope sameIdOtherKind = scope(Kind.TEAM).id(r + ":spend:q").parallel(1).build();
    assertThat(acquire(t0, parallel).admitted()).isTrue();
    assertThat(acquire(t0, sameIdOtherKind).admitted()).as("a team is not a key").isTrue();
    release(t0, 0, 0, parallel);
    release(t0, 0, 0, sameIdOtherKind);
  }

  @Test
  void aRedisThatWentAwayFallsBackToLocalLimitsAndComesBack() throws Exception {
    RedisSettings target = TestRedis.settings();
    assumeFalse(target.ssl(), "the TCP proxy test needs a plain-text Redis");
    try (TcpProxy proxy = new TcpProxy(target.host(), target.port());
        RedisConnection c = RedisConnection.connect(viaProxy(target, proxy));
        Logs logs = new Logs()) {
      RedisRateLimiter open = new RedisRateLimiter(c, FailureMode.OPEN);
      LimitScope viaRedis = scope(Kind.KEY).parallel(5).build();
      assertThat(await(open.acquire(List.of(viaRedis), t0)).admitted()).isTrue();
      String par = RedisRateLimiter.base(viaRedis) + "par";
      assertThat(get(par)).isEqualTo("1");

      proxy.refuse(true);
      awaitTrue(() -> !c.isOpen(), "the drop was noticed");
      LimitScope one = scope(Kind.KEY).parallel(1).build();
      List<LimitScope> first = List.of(one);
      long start = System.nanoTime();
      assertThat(await(open.acquire(first, t0)).admitted()).as("counted on this node").isTrue();
      for (int i = 0; i < 20; i++) {
        Admission second = await(open.acquire(List.of(one), t0));
        assertThat(second.limit()).as("this node's count holds the limit").isEqualTo(Limit.PARALLEL);
      }
      assertThat(System.nanoTime() - start).as("no waiting on Redis").isLessThan(Duration.ofSeconds(1).toNanos());
      assertThat(open.shared()).isFalse();
      open.release(first, 0, 0, t0);
      List<LimitScope> heldAcrossRecovery = List.of(one);
      assertThat(await(open.acquire(heldAcrossRecovery, t0)).admitted()).as("released locally").isTrue();
      open.release(List.of(viaRedis), 0, 0, t0); // admitted by Redis: dropped, its slot waits for the key's TTL
      assertThat(logs.lines(Level.WARN, "rate limits unavailable")).as("one warning per incident").hasSize(1);
      assertThat(logs.lines(Level.WARN, "rate limits unavailable").get(0)).contains("counting them on this node");

      proxy.refuse(false);
      LimitScope probe = scope(Kind.USER).rpm(1_000).build();
      awaitTrue(() -> {
        List<LimitScope> p = List.of(probe);
        try {
          await(open.acquire(p, t0)); // while the incident lasts, acquires are what sends the PING
        } catch (Exception e) {
          throw new AssertionError(e);
        }
        open.release(p, 0, 0, t0);
        return open.shared();
      }, "Redis answers again");
      assertThat(logs.lines(Level.INFO, "shared again")).hasSize(1);
      assertThat(logs.lines(Level.WARN, "rate limits unavailable")).hasSize(1);

      LimitScope after = scope(Kind.KEY).rpm(10).parallel(1).build();
      assertThat(await(open.acquire(List.of(after), t0)).admitted()).isTrue();
      assertThat(get(RedisRateLimiter.base(after) + "rpm:" + minute())).as("counted on Redis").isEqualTo("1");
      assertThat(get(par)).as("the dropped release").isEqualTo("1");

      assertThat(open.localInFlight()).isEqualTo(1);
      open.release(heldAcrossRecovery, 0, 0, t0);
      assertThat(open.localInFlight()).as("released where it was admitted").isZero();
      assertThat(await(open.acquire(List.of(one), t0)).admitted()).as("now on Redis").isTrue();
      assertThat(get(RedisRateLimiter.base(one) + "par")).isEqualTo("1");
    }
  }

  @Test
  void closedModeRefusesWithLimiterUnavailableWhileRedisIsAway() throws Exception {
    RedisSettings target = TestRedis.settings();
    assumeFalse(target.ssl(), "the TCP proxy test needs a plain-text Redis");
    try (TcpProxy proxy = new TcpProxy(target.host(), target.port());
        RedisConnection c = RedisConnection.connect(viaProxy(target, proxy));
        Logs logs = new Logs()) {
      RedisRateLimiter closed = new RedisRateLimiter(c, FailureMode.CLOSED);
      List<LimitScope> key = List.of(scope(Kind.KEY).rpm(10).build());
      assertThat(await(closed.acquire(key, t0)).admitted()).isTrue();
      proxy.refuse(true);
      awaitTrue(() -> !c.isOpen(), "the drop was noticed");
      for (int i = 0; i < 5; i++) {
        Throwable err = await(closed.acquire(key, t0).handle((a, e) -> e));
        assertThat(err).as("not wrapped").isInstanceOf(LimiterUnavailableException.class);
        assertThat(err.getMessage()).contains("127.0.0.1:" + proxy.port());
      }
      assertThat(logs.lines(Level.WARN, "refusing rate-limited requests")).hasSize(1);
      proxy.refuse(false);
      List<LimitScope> probe = List.of(scope(Kind.USER).rpm(1_000).build());
      awaitTrue(() -> {
        closed.acquire(probe, t0);
        return closed.shared();
      }, "Redis answers again");
      assertThat(await(closed.acquire(key, t0)).remainingRequests()).as("the first was counted on Redis")
          .isEqualTo(8);
    }
  }

  @Test
  void aHungRedisFallsBackWithinTheTimeoutAndALateAdmissionIsGivenBack() throws Exception {
    RedisSettings target = TestRedis.settings();
    assumeFalse(target.ssl(), "the TCP proxy test needs a plain-text Redis");
    try (TcpProxy proxy = new TcpProxy(target.host(), target.port());
        RedisConnection c = RedisConnection.connect(viaProxy(target, proxy));
        Logs logs = new Logs()) {
      RedisRateLimiter open = new RedisRateLimiter(c, FailureMode.OPEN, Duration.ofMillis(150));
      LimitScope s = scope(Kind.KEY).rpm(10).parallel(5).build();
      String base = RedisRateLimiter.base(s);
      proxy.blackhole(true);
      long start = System.nanoTime();
      List<LimitScope> scopes = List.of(s);
      Admission a = await(open.acquire(scopes, t0));
      long ms = (System.nanoTime() - start) / 1_000_000;
      proxy.blackhole(false); // before the connection's own 500 ms timeout: Redis runs the script after all
      assertThat(a.admitted()).isTrue();
      assertThat(ms).as("the limiter's 150 ms, not the connection's 500").isBetween(140L, 450L);
      assertThat(open.shared()).isFalse();
      awaitTrue(() -> "0".equals(getQuietly(base + "par")) && "0".equals(getQuietly(base + "rpm:" + minute())),
          "the late admission was given back");
      open.release(scopes, 0, 0, t0);
      assertThat(open.localInFlight()).isZero();
      assertThat(logs.lines(Level.WARN, "rate limits unavailable").get(0)).contains("TimeoutException");
    }
  }

  private static String getQuietly(String key) {
    try {
      return get(key);
    } catch (Exception e) {
      return null;
    }
  }

  private static RedisSettings viaProxy(RedisSettings target, TcpProxy proxy) {
    return new RedisSettings("127.0.0.1", proxy.port(), target.username(), target.password(), false,
        target.database());
  }

  private static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime() - deadline).as(what).isNegative();
      Thread.sleep(20);
    }
  }

  /** Captures this class's log lines while open. */
  private static final class Logs implements AutoCloseable {
    private final Logger logger = (Logger) LoggerFactory.getLogger(RedisRateLimiter.class);
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    Logs() {
      appender.start();
      logger.addAppender(appender);
    }

    List<String> lines(Level level, String containing) {
      List<String> out = new ArrayList<>();
      for (ILoggingEvent e : List.copyOf(appender.list)) {
        if (e.getLevel().equals(level) && e.getFormattedMessage().contains(containing)) {
          out.add(e.getFormattedMessage());
        }
      }
      return out;
    }

    @Override
    public void close() {
      logger.detachAppender(appender);
    }
  }
}
