package io.sluice.limits;

import io.sluice.limits.Admission.Limit;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * {@link RateLimiter} with in-process counters: limits hold per node (with N nodes a key gets up to N times its
 * limits). Answers at once ({@link CompletableFuture#completedFuture}); safe from any thread.
 *
 * <p>One {@link Counters} object per scope (kind + id), its fields guarded by its monitor. An acquire locks the
 * counters of all its scopes, in a fixed order (kind, then id) so that two requests sharing scopes cannot deadlock,
 * checks every scope and counts in every scope only if all admit. Each scope is checked budget, rpm, tpm, then
 * parallel; the first refusal (in list order) is the answer. Counters idle for {@link #IDLE_EVICTION} with no
 * request in flight are dropped by a sweep that some call runs at most every half of that, so their memory is
 * bounded by the scopes seen in the last few minutes. Spend counted here therefore only outlives that idle time in
 * the stored spend (the usage writer's), which the next request's scope brings back.
 *
 * <p>Reservations ({@link Reservation}) are held on the counters themselves — tokens where the scope has a tpm limit,
 * spend where it has a budget — from admission to release, which gives them back and counts the actual usage. They
 * live and die with this process (a crashed node's reservations vanish with it); a scope holding one has a request
 * in flight and is never swept.
 *
 * <p>Time is the caller's {@code nowMillis} throughout (windows, idleness, sweeps), never the wall clock.
 */
public final class LocalRateLimiter implements RateLimiter {
  /** How long a scope's counters outlive its last request (with none in flight). */
  public static final Duration IDLE_EVICTION = Duration.ofMinutes(2);

  private static final LimitScope.Kind[] KINDS = LimitScope.Kind.values();

  private final long idleMillis;
  private final long sweepEveryMillis;
  /** Per kind (by ordinal), id → counters: a lookup allocates nothing. */
  private final ConcurrentHashMap<String, Counters>[] byKind;
  private final Function<String, Counters>[] factories;
  private final AtomicLong nextSweep = new AtomicLong(Long.MIN_VALUE);

  public LocalRateLimiter() {
    this(IDLE_EVICTION);
  }

  @SuppressWarnings("unchecked")
  LocalRateLimiter(Duration idle) {
    this.idleMillis = idle.toMillis();
    this.sweepEveryMillis = Math.max(1, idleMillis / 2);
    this.byKind = new ConcurrentHashMap[KINDS.length];
    this.factories = new Function[KINDS.length];
    for (LimitScope.Kind k : KINDS) {
      byKind[k.ordinal()] = new ConcurrentHashMap<>();
      factories[k.ordinal()] = id -> new Counters(k, id);
    }
  }

  @Override
  public CompletionStage<Admission> acquire(List<LimitScope> scopes, Reservation reservation, long nowMillis) {
    return CompletableFuture.completedFuture(tryAcquire(scopes, reservation, nowMillis));
  }

  /** {@link #acquire}, holding nothing, answered directly (it never waits). */
  public Admission tryAcquire(List<LimitScope> scopes, long nowMillis) {
    return tryAcquire(scopes, Reservation.NONE, nowMillis);
  }

  /** {@link #acquire}, answered directly (it never waits). */
  public Admission tryAcquire(List<LimitScope> scopes, Reservation r, long nowMillis) {
    int n = scopes.size();
    if (n == 0) {
      return Admission.UNLIMITED;
    }
    maybeSweep(nowMillis);
    if (n == 1) {
      LimitScope s = scopes.get(0);
      while (true) {
        Counters c = counters(s);
        synchronized (c) {
          if (!c.removed) {
            return decide(scopes, null, c, r, nowMillis);
          }
        } // swept between lookup and lock: look up again
      }
    }
    Counters[] byScope = new Counters[n];
    Counters[] ordered = new Counters[n];
    while (true) {
      for (int i = 0; i < n; i++) {
        byScope[i] = counters(scopes.get(i));
        ordered[i] = byScope[i];
      }
      sort(ordered);
      Admission a = lockAndDecide(ordered, 0, scopes, byScope, r, nowMillis);
      if (a != null) {
        return a;
      }
    }
  }

  /** Holds the monitors of {@code ordered[i..]}, then decides; null if some counters were swept meanwhile. */
  private Admission lockAndDecide(Counters[] ordered, int i, List<LimitScope> scopes, Counters[] byScope,
      Reservation r, long now) {
    if (i == ordered.length) {
      for (Counters c : ordered) {
        if (c.removed) {
          return null;
        }
      }
      return decide(scopes, byScope, null, r, now);
    }
    synchronized (ordered[i]) { // reentrant: a scope listed twice is fine
      return lockAndDecide(ordered, i + 1, scopes, byScope, r, now);
    }
  }

  /** All counters locked. {@code byScope} null = one scope, {@code only}. */
  private static Admission decide(List<LimitScope> scopes, Counters[] byScope, Counters only, Reservation r,
      long now) {
    long minute = LimitWindows.epochMinute(now);
    int n = scopes.size();
    int h = LimitWindows.headerScope(scopes);
    LimitScope header = h < 0 ? null : scopes.get(h);
    Counters hc = h < 0 ? null : byScope == null ? only : byScope[h];
    for (int i = 0; i < n; i++) {
      LimitScope s = scopes.get(i);
      Counters c = byScope == null ? only : byScope[i];
      c.touch(now);
      Limit refused = c.refusal(s, minute, r);
      if (refused != null) {
        return LimitWindows.answer(refused, s, now, header, hc == null ? 0 : hc.requests(minute),
            hc == null ? 0 : hc.tokens(minute));
      }
    }
    for (int i = 0; i < n; i++) {
      (byScope == null ? only : byScope[i]).admit(minute, scopes.get(i), r);
    }
    return LimitWindows.answer(null, null, now, header, hc == null ? 0 : hc.requests(minute),
        hc == null ? 0 : hc.tokens(minute));
  }

  /** Frees the slots and counts the usage (tokens where a tpm limit is set, spend where a budget is). */
  @Override
  public void release(List<LimitScope> scopes, Reservation reservation, long tokens, double spend, long nowMillis) {
    settle(scopes, reservation, tokens, spend, nowMillis, true);
  }

  /**
   * Counts usage like {@link #release} but frees no slot: for a request this limiter did not admit (e.g. one a
   * shared limiter admitted before it became unreachable) whose usage should still count here.
   */
  public void recordUsage(List<LimitScope> scopes, long tokens, double spend, long nowMillis) {
    settle(scopes, Reservation.NONE, tokens, spend, nowMillis, false);
  }

  private void settle(List<LimitScope> scopes, Reservation r, long tokens, double spend, long now,
      boolean freeSlot) {
    maybeSweep(now);
    long minute = LimitWindows.epochMinute(now);
    for (int i = 0, n = scopes.size(); i < n; i++) {
      LimitScope s = scopes.get(i);
      boolean countTokens = tokens > 0 && s.tpmLimit() != null;
      boolean countSpend = spend > 0 && s.maxBudget() != null;
      if (!freeSlot && !countTokens && !countSpend) {
        continue;
      }
      while (true) {
        Counters c = counters(s);
        synchronized (c) {
          if (c.removed) {
            continue;
          }
          if (freeSlot && c.inFlight > 0) {
            c.inFlight--;
            c.unhold(s, r);
          }
          if (countTokens) {
            c.addTokens(minute, tokens);
          }
          if (countSpend) {
            c.addSpend(s.budgetPeriod(), spend);
          }
          c.touch(now);
          break;
        }
      }
    }
  }

  @Override
  public String describe() {
    return "local";
  }

  private Counters counters(LimitScope s) {
    int k = s.kind().ordinal();
    ConcurrentHashMap<String, Counters> m = byKind[k];
    Counters c = m.get(s.id());
    return c != null ? c : m.computeIfAbsent(s.id(), factories[k]);
  }

  /** Drops idle counters, at most once per {@link #sweepEveryMillis}, on the thread of the call that is due. */
  private void maybeSweep(long now) {
    long next = nextSweep.get();
    if (now < next || !nextSweep.compareAndSet(next, now + sweepEveryMillis)) {
      return;
    }
    for (ConcurrentHashMap<String, Counters> m : byKind) {
      for (Counters c : m.values()) {
        synchronized (c) {
          if (c.inFlight == 0 && now - c.lastUsed > idleMillis) {
            c.removed = true; // whoever looked it up before this sees the flag under the lock and looks again
            m.remove(c.id, c);
          }
        }
      }
    }
  }

  /** Tokens held in {@code s} by requests in flight (for tests); 0 when it has no counters. */
  long heldTokens(LimitScope s) {
    Counters c = byKind[s.kind().ordinal()].get(s.id());
    if (c == null) {
      return 0;
    }
    synchronized (c) {
      return c.heldTokens;
    }
  }

  /** USD held in {@code s} by requests in flight (for tests); 0 when it has no counters. */
  double heldSpend(LimitScope s) {
    Counters c = byKind[s.kind().ordinal()].get(s.id());
    if (c == null) {
      return 0;
    }
    synchronized (c) {
      return c.heldSpend;
    }
  }

  /** Number of scopes with counters (for tests). */
  int size() {
    int n = 0;
    for (ConcurrentHashMap<String, Counters> m : byKind) {
      n += m.size();
    }
    return n;
  }

  /** Sorts 1–3 elements (any length works) by kind, then id: the lock order. */
  private static void sort(Counters[] a) {
    for (int i = 1; i < a.length; i++) {
      Counters x = a[i];
      int j = i - 1;
      while (j >= 0 && a[j].compareTo(x) > 0) {
        a[j + 1] = a[j];
        j--;
      }
      a[j + 1] = x;
    }
  }

  /** One scope's counters. Fields guarded by {@code this}. */
  private static final class Counters implements Comparable<Counters> {
    final LimitScope.Kind kind;
    final String id;
    long rpmMinute = Long.MIN_VALUE;
    long requests;
    long tpmMinute = Long.MIN_VALUE;
    long tokens;
    int inFlight;
    String budgetPeriod;
    double spend;
    /** Held by admitted requests not yet released: tokens (tpm scopes), spend (budget scopes), how many. */
    long heldTokens;
    double heldSpend;
    int holds;
    long lastUsed = Long.MIN_VALUE;
    /** Swept: no longer in the map; never counted in again. */
    boolean removed;

    Counters(LimitScope.Kind kind, String id) {
      this.kind = kind;
      this.id = id;
    }

    /** Requests counted in {@code minute}. A later window already started counts for an earlier one (skew). */
    long requests(long minute) {
      return minute > rpmMinute ? 0 : requests;
    }

    long tokens(long minute) {
      return minute > tpmMinute ? 0 : tokens;
    }

    double spend(String period) {
      return period.equals(budgetPeriod) ? spend : 0;
    }

    /** The first limit of {@code s} that refuses one more request, or null. Order: budget, rpm, tpm, parallel. */
    Limit refusal(LimitScope s, long minute, Reservation r) {
      if (s.maxBudget() != null) {
        double used = Math.max(s.storedSpend(), spend(s.budgetPeriod()));
        if (used >= s.maxBudget() || !LimitWindows.fits(used, heldSpend, r.spend(), s.maxBudget())) {
          return Limit.BUDGET;
        }
      }
      if (s.rpmLimit() != null && requests(minute) >= s.rpmLimit()) {
        return Limit.RPM;
      }
      if (s.tpmLimit() != null) {
        long used = tokens(minute);
        if (used >= s.tpmLimit() || !LimitWindows.fits(used, heldTokens, r.tokens(), s.tpmLimit())) {
          return Limit.TPM;
        }
      }
      if (s.maxParallel() != null && inFlight >= s.maxParallel()) {
        return Limit.PARALLEL;
      }
      return null;
    }

    /**
     * Counts one admitted request. The request and its slot are counted whether or not the scope sets rpm or a
     * parallel limit: cheap, and a scope with a request in flight is never swept.
     */
    void admit(long minute, LimitScope s, Reservation r) {
      if (minute > rpmMinute) {
        rpmMinute = minute;
        requests = 1;
      } else {
        requests++;
      }
      inFlight++;
      if (!r.none()) {
        holds++;
        if (s.tpmLimit() != null) {
          heldTokens += r.tokens();
        }
        if (s.maxBudget() != null) {
          heldSpend += r.spend();
        }
      }
    }

    /** Gives back what {@link #admit} held for {@code r}; the last one out leaves exactly nothing (no drift). */
    void unhold(LimitScope s, Reservation r) {
      if (r.none() || holds == 0) {
        return;
      }
      if (--holds == 0) {
        heldTokens = 0;
        heldSpend = 0;
        return;
      }
      if (s.tpmLimit() != null) {
        heldTokens = Math.max(0, heldTokens - r.tokens());
      }
      if (s.maxBudget() != null) {
        heldSpend = Math.max(0, heldSpend - r.spend());
      }
    }

    void addTokens(long minute, long n) {
      if (minute > tpmMinute) {
        tpmMinute = minute;
        tokens = n;
      } else if (minute == tpmMinute) {
        tokens += n;
      } // else: a window that has ended (a release racing the minute change); as on Redis, it no longer counts
    }

    void addSpend(String period, double amount) {
      if (period.equals(budgetPeriod)) {
        spend += amount;
      } else {
        budgetPeriod = period;
        spend = amount;
      }
    }

    void touch(long now) {
      if (now > lastUsed) {
        lastUsed = now;
      }
    }

    @Override
    public int compareTo(Counters o) {
      int k = Integer.compare(kind.ordinal(), o.kind.ordinal());
      return k != 0 ? k : id.compareTo(o.id);
    }
  }
}
