package io.sluice.limits;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.limits.Admission.Limit;
import io.sluice.limits.LimitScope.Kind;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The {@link RateLimiter} contract, run against each implementation (local here, Redis in proxy-server). Every
 * test uses scopes with fresh random ids, so runs against a shared store do not interfere. Times are passed in:
 * {@link #t0} is one second into a minute that is about now.
 *
 * <p>Concurrency tests run 8 callers, each waiting for its answer before asking again (as many requests in
 * flight as callers): a remote limiter then sees concurrent, interleaved calls without 800 of them queued on one
 * connection, which under the tests' paranoid leak detection (every buffer access records a stack) could outlast
 * the connection's command timeout.
 */
public abstract class RateLimiterConformance {
  /** One second into the current minute: Retry-After of rpm/tpm refusals at t0 is 59. */
  protected final long t0 = LimitWindows.epochMinute(System.currentTimeMillis()) * 60_000 + 1_000;

  private final List<ExecutorService> executors = new ArrayList<>();

  /** The limiter under test; the same instance for every call within a test. */
  protected abstract RateLimiter limiter();

  @AfterEach
  void stopExecutors() {
    executors.forEach(ExecutorService::shutdownNow);
  }

  protected ExecutorService threads(int n) {
    ExecutorService e = Executors.newFixedThreadPool(n);
    executors.add(e);
    return e;
  }

  public static <T> T await(CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  protected Admission acquire(long now, LimitScope... scopes) throws Exception {
    return await(limiter().acquire(List.of(scopes), now));
  }

  protected void release(long now, long tokens, double spend, LimitScope... scopes) {
    limiter().release(List.of(scopes), tokens, spend, now);
  }

  public static Scope scope(Kind kind) {
    return new Scope(kind);
  }

  /** Builds a {@link LimitScope} with a fresh random id. */
  public static final class Scope {
    private final Kind kind;
    private String id = "t-" + UUID.randomUUID();
    private Long rpm;
    private Long tpm;
    private Integer parallel;
    private Double budget;
    private double stored;
    private String period = "-";
    private long reset;

    Scope(Kind kind) {
      this.kind = kind;
    }

    public Scope id(String v) {
      id = v;
      return this;
    }

    public Scope rpm(long v) {
      rpm = v;
      return this;
    }

    public Scope tpm(long v) {
      tpm = v;
      return this;
    }

    public Scope parallel(int v) {
      parallel = v;
      return this;
    }

    public Scope budget(double max, double storedSpend, String budgetPeriod, long resetEpochSecond) {
      budget = max;
      stored = storedSpend;
      period = budgetPeriod;
      reset = resetEpochSecond;
      return this;
    }

    public LimitScope build() {
      return new LimitScope(kind, id, rpm, tpm, parallel, budget, stored, period, reset);
    }
  }

  @Test
  public void rpmAdmitsExactlyTheLimitAcrossConcurrentCallersAndAgainNextMinute() throws Exception {
    List<LimitScope> key = List.of(scope(Kind.KEY).rpm(100).build());
    ConcurrentLinkedQueue<Admission> answers = new ConcurrentLinkedQueue<>();
    ExecutorService pool = threads(8);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      done.add(pool.submit(() -> {
        go.await();
        for (int i = 0; i < 100; i++) {
          answers.add(await(limiter().acquire(key, t0 + i)));
        }
        return null;
      }));
    }
    go.countDown();
    for (Future<?> f : done) {
      f.get(10, TimeUnit.SECONDS);
    }
    List<Admission> all = new ArrayList<>(answers);
    List<Admission> admitted = all.stream().filter(Admission::admitted).collect(Collectors.toList());
    assertThat(admitted).as("exactly rpm_limit of 800 concurrent requests").hasSize(100);
    List<Long> remaining = admitted.stream().map(Admission::remainingRequests).sorted().collect(Collectors.toList());
    assertThat(remaining).as("each admission saw its own count: remaining 99 down to 0, once each")
        .isEqualTo(LongStream.range(0, 100).boxed().collect(Collectors.toList()));
    assertThat(all).filteredOn(a -> !a.admitted()).allSatisfy(a -> {
      assertThat(a.limit()).isEqualTo(Limit.RPM);
      assertThat(a.scope()).isEqualTo(Kind.KEY);
      assertThat(a.remainingRequests()).isZero();
    });

    Admission next = await(limiter().acquire(key, t0 + 60_000));
    assertThat(next.admitted()).as("a new minute, a new count").isTrue();
    assertThat(next.remainingRequests()).isEqualTo(99);
  }

  @Test
  public void tpmRefusesOnceReportedTokensReachTheLimit() throws Exception {
    LimitScope key = scope(Kind.KEY).tpm(100).build();
    Admission a = acquire(t0, key);
    assertThat(a.admitted()).isTrue();
    assertThat(a.limitTokens()).isEqualTo(100);
    assertThat(a.remainingTokens()).isEqualTo(100);
    assertThat(a.limitRequests()).isEqualTo(-1);
    release(t0, 60, 0, key);
    Admission b = acquire(t0, key);
    assertThat(b.admitted()).as("60 of 100").isTrue();
    assertThat(b.remainingTokens()).isEqualTo(40);
    release(t0, 40, 0, key);
    Admission c = acquire(t0 + 14_500, key);
    assertThat(c.admitted()).as("100 of 100 reached").isFalse();
    assertThat(c.limit()).isEqualTo(Limit.TPM);
    assertThat(c.scope()).isEqualTo(Kind.KEY);
    assertThat(c.retryAfterSeconds()).as("the rest of the minute, rounded up").isEqualTo(45);
    assertThat(c.remainingTokens()).isZero();

    Admission d = acquire(t0 + 60_000, key);
    assertThat(d.admitted()).isTrue();
    assertThat(d.remainingTokens()).isEqualTo(100);
    release(t0 + 58_000, 1_000, 0, key); // a response of the previous minute ending late counts there
    assertThat(acquire(t0 + 60_000, key).admitted()).isTrue();
  }

  @Test
  public void aParallelSlotIsHeldUntilRelease() throws Exception {
    LimitScope key = scope(Kind.KEY).parallel(2).build();
    assertThat(acquire(t0, key).admitted()).isTrue();
    assertThat(acquire(t0, key).admitted()).isTrue();
    Admission third = acquire(t0, key);
    assertThat(third.admitted()).isFalse();
    assertThat(third.limit()).isEqualTo(Limit.PARALLEL);
    assertThat(third.retryAfterSeconds()).isEqualTo(1);
    assertThat(third.limitRequests()).as("no rpm/tpm to report").isEqualTo(-1);
    assertThat(acquire(t0 + 120_000, key).admitted()).as("not a per-minute count").isFalse();
    release(t0, 0, 0, key);
    assertThat(acquire(t0, key).admitted()).isTrue();
    assertThat(acquire(t0, key).admitted()).isFalse();
    release(t0, 0, 0, key);
    release(t0, 0, 0, key);
    assertThat(acquire(t0, key).admitted()).isTrue();
    assertThat(acquire(t0, key).admitted()).isTrue();
  }

  @Test
  public void anExtraReleaseDoesNotFreeASlotItNeverHeld() throws Exception {
    LimitScope key = scope(Kind.KEY).parallel(1).build();
    release(t0, 0, 0, key); // nothing in flight
    assertThat(acquire(t0, key).admitted()).isTrue();
    assertThat(acquire(t0, key).admitted()).as("the count did not go below 0").isFalse();
  }

  @Test
  public void budgetIsTheLargerOfStoredAndReportedSpendInThePeriod() throws Exception {
    long nowSec = t0 / 1000;
    Admission spent = acquire(t0, scope(Kind.KEY).budget(10, 10, "p1", nowSec + 3600).build());
    assertThat(spent.admitted()).as("stored spend at the budget").isFalse();
    assertThat(spent.limit()).isEqualTo(Limit.BUDGET);
    assertThat(spent.retryAfterSeconds()).as("until the reset").isEqualTo(3600);
    Admission never = acquire(t0, scope(Kind.TEAM).budget(1, 2, "-", 0).build());
    assertThat(never.limit()).isEqualTo(Limit.BUDGET);
    assertThat(never.scope()).isEqualTo(Kind.TEAM);
    assertThat(never.retryAfterSeconds()).as("no reset: unknown").isZero();

    String id = "t-" + UUID.randomUUID();
    LimitScope p1 = scope(Kind.USER).id(id).budget(10, 5, "p1", nowSec + 3600).build();
    assertThat(acquire(t0, p1).admitted()).isTrue();
    release(t0, 0, 4, p1);
    assertThat(acquire(t0, p1).admitted()).as("max(5 stored, 4 reported) < 10").isTrue();
    release(t0, 0, 4.5, p1);
    assertThat(acquire(t0, p1).admitted()).as("max(5, 8.5) < 10").isTrue();
    release(t0, 0, 1.5, p1);
    Admission over = acquire(t0, p1);
    assertThat(over.admitted()).as("10 reported").isFalse();
    assertThat(over.limit()).isEqualTo(Limit.BUDGET);
    assertThat(over.scope()).isEqualTo(Kind.USER);

    LimitScope p2 = scope(Kind.USER).id(id).budget(10, 5, "p2", nowSec + 7200).build();
    assertThat(acquire(t0, p2).admitted()).as("a new budget period starts from the stored spend").isTrue();
    release(t0, 0, 0.25, p2);
    assertThat(acquire(t0, p2).admitted()).isTrue();
  }

  protected Admission acquire(long now, Reservation r, LimitScope... scopes) throws Exception {
    return await(limiter().acquire(List.of(scopes), r, now));
  }

  protected void release(long now, Reservation r, long tokens, double spend, LimitScope... scopes) {
    limiter().release(List.of(scopes), r, tokens, spend, now);
  }

  @Test
  public void aBudgetAdmitsOnlyTheReservationsThatFitAndSettlementReplacesThemWithTheActualCost() throws Exception {
    // Issue 20 §3: LiteLLM's budget race — requests in flight together must not all pass a check of past spend.
    // Amounts are binary fractions, so sums are exact in Java and in Lua alike.
    LimitScope key = scope(Kind.KEY).budget(1.0, 0, "-", 0).build();
    Reservation a = Reservation.of(100, 0.25);
    Reservation b = Reservation.of(100, 0.25);
    Reservation c = Reservation.of(100, 0.25);
    Reservation d = Reservation.of(100, 0.25);
    for (Reservation r : List.of(a, b, c, d)) {
      assertThat(acquire(t0, r, key).admitted()).isTrue();
    }
    Admission full = acquire(t0, Reservation.of(100, 0.0625), key);
    assertThat(full.admitted()).as("1.0 held, nothing spent yet").isFalse();
    assertThat(full.limit()).isEqualTo(Limit.BUDGET);
    assertThat(full.scope()).isEqualTo(Kind.KEY);
    release(t0, a, 10, 0.125, key); // the actual cost replaces a's 0.25
    Reservation e = Reservation.of(100, 0.125);
    assertThat(acquire(t0, e, key).admitted()).as("0.125 spent + 0.75 held + 0.125 = 1.0 fits").isTrue();
    assertThat(acquire(t0, Reservation.of(100, 0.0625), key).admitted()).as("1.0 + 0.0625 does not").isFalse();
    release(t0, b, 0, 0, key); // an error before any token: nothing spent, the hold given back
    release(t0, c, 0, 0, key);
    release(t0, d, 0, 0, key);
    release(t0, e, 0, 0, key);
    Reservation f = Reservation.of(100, 0.875);
    assertThat(acquire(t0, f, key).admitted()).as("only 0.125 spent: 0.875 fits").isTrue();
    release(t0, f, 0, 0.875, key);
    Admission spent = acquire(t0, Reservation.of(1, 0.0625), key);
    assertThat(spent.admitted()).as("1.0 spent").isFalse();
    assertThat(spent.limit()).isEqualTo(Limit.BUDGET);
  }

  @Test
  public void concurrentReservationsAdmitExactlyWhatTheBudgetHolds() throws Exception {
    LimitScope key = scope(Kind.KEY).budget(1.0, 0, "-", 0).build();
    LimitScope team = scope(Kind.TEAM).tpm(1_000_000).build();
    ExecutorService pool = threads(8);
    List<Future<Integer>> results = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      results.add(pool.submit(() -> {
        int admitted = 0;
        for (int i = 0; i < 10; i++) {
          if (acquire(t0, Reservation.of(50, 0.125), key, team).admitted()) {
            admitted++;
          }
        }
        return admitted;
      }));
    }
    int admitted = 0;
    for (Future<Integer> f : results) {
      admitted += f.get(30, TimeUnit.SECONDS);
    }
    assertThat(admitted).as("80 asked, 1.0 / 0.125 fit").isEqualTo(8);
  }

  @Test
  public void tpmHoldsReservedTokensInTheWindowUntilSettled() throws Exception {
    LimitScope key = scope(Kind.KEY).tpm(100).build();
    Reservation a = Reservation.of(30, 0);
    Reservation b = Reservation.of(30, 0);
    Reservation c = Reservation.of(30, 0);
    assertThat(acquire(t0, a, key).admitted()).isTrue();
    assertThat(acquire(t0, b, key).admitted()).isTrue();
    Admission third = acquire(t0, c, key);
    assertThat(third.admitted()).isTrue();
    Admission fourth = acquire(t0, Reservation.of(30, 0), key);
    assertThat(fourth.admitted()).as("90 held + 30 > 100").isFalse();
    assertThat(fourth.limit()).isEqualTo(Limit.TPM);
    assertThat(fourth.retryAfterSeconds()).isEqualTo(59);
    release(t0, a, 10, 0, key);
    Reservation d = Reservation.of(30, 0);
    assertThat(acquire(t0, d, key).admitted()).as("10 counted + 60 held + 30 = 100 fits").isTrue();
    assertThat(acquire(t0, Reservation.of(1, 0), key).admitted()).isFalse();
    release(t0, b, 30, 0, key);
    release(t0, c, 30, 0, key);
    release(t0, d, 30, 0, key);
    assertThat(acquire(t0, Reservation.of(1, 0), key).admitted()).as("100 counted").isFalse();
    assertThat(acquire(t0 + 60_000, Reservation.of(100, 0), key).admitted()).as("a new window").isTrue();
  }

  @Test
  public void aReservationLargerThanTheWholeLimitIsAdmittedOnlyAloneAndTheLimitHoldsAfterIt() throws Exception {
    // One request whose worst case exceeds the limit (no max_tokens) is not refused forever: it runs alone.
    LimitScope key = scope(Kind.KEY).budget(1.0, 0, "-", 0).build();
    Reservation big = Reservation.of(4096, 5.0);
    assertThat(acquire(t0, big, key).admitted()).as("nothing held, nothing spent").isTrue();
    assertThat(acquire(t0, Reservation.of(4096, 5.0), key).admitted()).as("one at a time").isFalse();
    assertThat(acquire(t0, Reservation.of(10, 0.0625), key).admitted()).as("5.0 held").isFalse();
    release(t0, big, 100, 0.5, key);
    Reservation small = Reservation.of(10, 0.5);
    assertThat(acquire(t0, small, key).admitted()).as("0.5 + 0.5 fits").isTrue();
    assertThat(acquire(t0, Reservation.of(4096, 5.0), key).admitted()).as("something else held").isFalse();
    release(t0, small, 10, 0.5, key);
    assertThat(acquire(t0, Reservation.of(4096, 5.0), key).admitted()).as("1.0 spent").isFalse();
  }

  @Test
  public void reservationsOnlyHoldWhereTheScopeHasTheLimit() throws Exception {
    LimitScope rpm = scope(Kind.KEY).rpm(100).parallel(10).build();
    LimitScope budget = scope(Kind.TEAM).budget(1.0, 0, "-", 0).build();
    Reservation r = Reservation.of(1_000_000, 0.5);
    assertThat(acquire(t0, r, rpm, budget).admitted()).isTrue();
    assertThat(acquire(t0, Reservation.of(1_000_000, 0.5), rpm).admitted()).as("no tpm, no budget: tokens ignored")
        .isTrue();
    assertThat(acquire(t0, Reservation.of(1, 0.5), budget).admitted()).as("0.5 + 0.5 fits").isTrue();
    assertThat(acquire(t0, Reservation.of(1, 0.0625), budget).admitted()).isFalse();
  }

  @Test
  public void allScopesAreCheckedBeforeAnyIsCounted() throws Exception {
    LimitScope team = scope(Kind.TEAM).rpm(1).build();
    LimitScope key1 = scope(Kind.KEY).rpm(5).build();
    LimitScope key2 = scope(Kind.KEY).rpm(1).parallel(1).build();
    LimitScope user2 = scope(Kind.USER).rpm(1).build();
    assertThat(acquire(t0, key1, team).admitted()).isTrue();
    Admission refused = acquire(t0, key2, user2, team);
    assertThat(refused.admitted()).isFalse();
    assertThat(refused.scope()).isEqualTo(Kind.TEAM);
    assertThat(refused.limit()).isEqualTo(Limit.RPM);
    assertThat(refused.limitRequests()).as("headers describe the key").isEqualTo(1);
    assertThat(refused.remainingRequests()).as("the key's count: not counted").isEqualTo(1);
    assertThat(acquire(t0, key2).admitted()).as("neither rpm nor a slot was taken on the key").isTrue();
    assertThat(acquire(t0, user2).admitted()).as("nor on the user").isTrue();
  }

  @Test
  public void theFirstRefusingScopeAnswersAndEachScopeChecksBudgetRpmTpmThenParallel() throws Exception {
    long nowSec = t0 / 1000;
    LimitScope all = scope(Kind.KEY).rpm(1).tpm(10).parallel(1).budget(1, 1, "p", nowSec + 100).build();
    assertThat(acquire(t0, all).limit()).isEqualTo(Limit.BUDGET);

    LimitScope rpmTpmPar = scope(Kind.KEY).rpm(1).tpm(10).parallel(1).build();
    assertThat(acquire(t0, rpmTpmPar).admitted()).isTrue();
    release(t0, 10, 0, rpmTpmPar);
    assertThat(acquire(t0, scope(Kind.KEY).id(rpmTpmPar.id()).rpm(1).tpm(10).parallel(0).build()).limit())
        .isEqualTo(Limit.RPM);
    assertThat(acquire(t0, scope(Kind.KEY).id(rpmTpmPar.id()).rpm(2).tpm(10).parallel(0).build()).limit())
        .isEqualTo(Limit.TPM);
    assertThat(acquire(t0, scope(Kind.KEY).id(rpmTpmPar.id()).rpm(2).tpm(11).parallel(0).build()).limit())
        .isEqualTo(Limit.PARALLEL);

    LimitScope keyOut = scope(Kind.KEY).rpm(0).build();
    LimitScope teamOut = scope(Kind.TEAM).budget(1, 5, "-", 0).build();
    Admission first = acquire(t0, keyOut, teamOut);
    assertThat(first.scope()).as("list order decides between scopes").isEqualTo(Kind.KEY);
    assertThat(first.limit()).isEqualTo(Limit.RPM);
  }

  @Test
  public void retryAfterOfRpmIsTheRestOfTheMinuteAtLeastOneSecond() throws Exception {
    long minute = t0 - 1_000;
    LimitScope none = scope(Kind.KEY).rpm(0).build();
    assertThat(acquire(minute, none).retryAfterSeconds()).isEqualTo(60);
    assertThat(acquire(minute + 15_500, none).retryAfterSeconds()).isEqualTo(45);
    assertThat(acquire(minute + 59_001, none).retryAfterSeconds()).isEqualTo(1);
    assertThat(acquire(minute + 59_999, none).retryAfterSeconds()).isEqualTo(1);
  }

  @Test
  public void headersDescribeTheFirstScopeWithAnRpmOrTpmLimit() throws Exception {
    LimitScope user = scope(Kind.USER).parallel(5).build();
    LimitScope key = scope(Kind.KEY).rpm(10).tpm(1_000).build();
    LimitScope team = scope(Kind.TEAM).rpm(3).build();
    Admission a = acquire(t0, user, key, team);
    assertThat(a).isEqualTo(Admission.admitted(10, 9, 1_000, 1_000));
    release(t0, 300, 0, user, key, team);
    assertThat(acquire(t0, user, key, team)).isEqualTo(Admission.admitted(10, 8, 1_000, 700));
    assertThat(acquire(t0, team, key)).as("the team comes first now; rpm only")
        .isEqualTo(Admission.admitted(3, 0, -1, -1));
    Admission refused = acquire(t0, user, key, team);
    assertThat(refused.admitted()).isFalse();
    assertThat(refused.scope()).isEqualTo(Kind.TEAM);
    assertThat(refused.retryAfterSeconds()).isEqualTo(59);
    assertThat(new long[] {refused.limitRequests(), refused.remainingRequests(), refused.limitTokens(),
        refused.remainingTokens()}).as("the key's, uncounted").containsExactly(10, 7, 1_000, 700);

    assertThat(acquire(t0, scope(Kind.KEY).parallel(3).build(), scope(Kind.TEAM).budget(5, 0, "-", 0).build()))
        .as("nothing per minute to report").isEqualTo(Admission.UNLIMITED);
  }

  @Test
  public void scopesSharedInAnyOrderUnderConcurrencyNeitherDeadlockNorOvercount() throws Exception {
    LimitScope team = scope(Kind.TEAM).rpm(100).parallel(1_000).build();
    LimitScope user = scope(Kind.USER).rpm(1_000).build();
    ExecutorService pool = threads(8);
    ConcurrentLinkedQueue<Admission> answers = new ConcurrentLinkedQueue<>();
    CountDownLatch go = new CountDownLatch(1);
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      LimitScope key = scope(Kind.KEY).rpm(1_000).build();
      List<LimitScope> order = switch (t % 4) {
        case 0 -> List.of(key, user, team);
        case 1 -> List.of(team, user, key);
        case 2 -> List.of(user, key, team);
        default -> List.of(team, key);
      };
      done.add(pool.submit(() -> {
        go.await();
        for (int i = 0; i < 50; i++) {
          answers.add(await(limiter().acquire(order, t0)));
        }
        return null;
      }));
    }
    go.countDown();
    for (Future<?> f : done) {
      f.get(10, TimeUnit.SECONDS);
    }
    int admitted = 0;
    for (Admission a : answers) {
      if (a.admitted()) {
        admitted++;
      }
    }
    assertThat(admitted).as("the team's rpm bounds all 400").isEqualTo(100);
    Set<Kind> refusers = new TreeSet<>();
    for (Admission a : answers) {
      if (!a.admitted()) {
        refusers.add(a.scope());
      }
    }
    assertThat(refusers).containsExactly(Kind.TEAM);
  }
}
