package io.sluice.server.redis;

import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.sluice.limits.Admission;
import io.sluice.limits.LimitScope;
import io.sluice.limits.LimitWindows;
import io.sluice.limits.LimiterUnavailableException;
import io.sluice.limits.LocalRateLimiter;
import io.sluice.limits.RateLimiter;
import io.sluice.limits.Reservation;
import io.sluice.server.redis.RedisKeyCache.Script;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link RateLimiter} whose counters live on Redis, shared by every node: one Lua script call (one round trip,
 * pipelined with the other commands on the connection) per {@link #acquire}, one fire-and-forget script per
 * {@link #release}. Per scope, with {@code <s>} = {@code sluice:rl:<kind>:<id length>:<id>} (the length makes any
 * id, colons included, unambiguous: no two scopes share a key):
 *
 * <ul>
 *   <li>{@code <s>:rpm:<epoch minute>}: requests admitted in that minute; expires {@link #WINDOW_TTL} after its
 *       first request;</li>
 *   <li>{@code <s>:tpm:<epoch minute>}: tokens reported in that minute; expires {@link #WINDOW_TTL} after its
 *       last report;</li>
 *   <li>{@code <s>:par}: requests in flight (only for scopes with a parallel limit), never decremented below 0.
 *       Its {@link #PARALLEL_TTL}, renewed by each admission, is the safety net for slots whose release never
 *       comes (a node that crashed mid-request, a release dropped during an outage): they are forgotten once the
 *       scope has been without new requests that long;</li>
 *   <li>{@code <s>:spend:<budget period>}: spend reported in the period (only with a budget), kept until a day
 *       after the period's reset, or {@link #SPEND_TTL_NO_RESET} after the last report when it never resets
 *       (the stored spend, the database's, carries the total beyond that).</li>
 *   <li>{@code <s>:resv}: the {@link Reservation}s of requests in flight (only for scopes with a budget or a tpm
 *       limit), a sorted set whose members are {@code <id hex>:<tokens>:<usd>} scored by their expiry (epoch ms,
 *       {@link #RESERVATION_TTL} after admission). Every acquire first drops the expired members, then sums the rest;
 *       a release removes its member. A node that crashed never releases: its reservations stop counting once they
 *       expire, and the key itself expires {@link #RESERVATION_TTL} after its last admission.</li>
 * </ul>
 *
 * <p>Redis unreachable or slower than the limiter timeout (default {@link #DEFAULT_TIMEOUT}, tighter than the
 * connection's): {@link FailureMode#OPEN} counts on this node's own {@link LocalRateLimiter} until Redis answers
 * again, {@link FailureMode#CLOSED} completes acquires exceptionally with {@link LimiterUnavailableException}. The
 * first failure starts an incident (one warning); while it lasts requests do not wait on Redis, and some acquire
 * sends a PING at most every {@link #PROBE_INTERVAL}; its answer ends the incident (one info line). An error
 * Redis answered (a script error) is not an outage: that request alone falls back, logged at most once a minute.
 *
 * <p>Who admitted, who releases: a request admitted locally is released locally (found by the identity of its
 * scope list, so {@link #release} must get the very list {@link #acquire} got), and its tokens and spend also go
 * to Redis if it is back. A Redis-admitted request ending during an outage has its usage counted locally (OPEN);
 * its Redis slot is left to the {@code par} key's TTL. An acquire that timed out but that Redis executed after all is
 * undone (its rpm and slot given back) when the late answer arrives.
 *
 * <p>Keys have no hash tags: standalone Redis (or a primary with replicas), not Redis Cluster.
 */
public final class RedisRateLimiter implements RateLimiter {
  private static final Logger LOG = LoggerFactory.getLogger(RedisRateLimiter.class);

  /** What to do when Redis cannot answer. */
  public enum FailureMode {
    /** Count on this node (limits become per node) until Redis answers again. */
    OPEN,
    /** Refuse: acquires complete exceptionally with {@link LimiterUnavailableException} (the gateway's 503). */
    CLOSED
  }

  public static final String PREFIX = "sluice:rl:";
  /** How long an acquire waits for Redis before it counts as failed. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofMillis(150);
  /** Lifetime of a one-minute window's keys: past the window's end whenever they were created. */
  public static final Duration WINDOW_TTL = Duration.ofMinutes(2);
  /** Lifetime of an in-flight count after its last admission: see the class doc. */
  public static final Duration PARALLEL_TTL = Duration.ofMinutes(10);
  /** How long a period's spend is kept after the period's reset. */
  public static final Duration SPEND_GRACE = Duration.ofDays(1);
  /** How long the spend of a budget that never resets is kept after its last report. */
  public static final Duration SPEND_TTL_NO_RESET = Duration.ofDays(35);
  /**
   * How long a reservation is held without its release (a node that crashed, a release lost in an outage): longer
   * than any request should take. A request that outlives it loses its hold early (its actual spend still counts).
   */
  public static final Duration RESERVATION_TTL = Duration.ofMinutes(10);
  /** During an incident, how often a PING checks whether Redis is back. */
  public static final Duration PROBE_INTERVAL = Duration.ofMillis(500);

  private static final Duration LOG_INTERVAL = Duration.ofMinutes(1);
  private static final Admission.Limit[] CODES = {null, Admission.Limit.RPM, Admission.Limit.TPM,
      Admission.Limit.PARALLEL, Admission.Limit.BUDGET};

  /**
   * KEYS per scope (5 each): rpm window, tpm window, in flight, spend of the period, reservations. ARGV[1] the header
   * scope (1-based, 0 = none), ARGV[2] window ttl ms, ARGV[3] in-flight ttl s, ARGV[4] now (epoch ms), ARGV[5] this
   * request's reservation member ('' = none), ARGV[6] its expiry (epoch ms), ARGV[7] its tokens, ARGV[8] its usd,
   * then per scope (5 each): rpm limit, tpm limit, max parallel, max budget, stored spend ('' = no such limit).
   * Checks every scope (budget, rpm, tpm, parallel, as {@link LocalRateLimiter}; budget and tpm with what live
   * reservations hold, by {@link LimitWindows#fits}), counts only if all admit. Returns {admitted 1/0, refusing
   * scope (1-based), limit code (1 rpm, 2 tpm, 3 parallel, 4 budget), header scope's requests, its tokens}.
   */
  static final Script ACQUIRE = new Script(
      "local n = #KEYS / 5\n"
          + "local function count(key)\n"
          + "  local v = redis.call('GET', key)\n"
          + "  if v then return tonumber(v) or 0 end\n"
          + "  return 0\n"
          + "end\n"
          + "local now = tonumber(ARGV[4])\n"
          + "local member = ARGV[5]\n"
          + "local mineT, mineS = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
          + "local function held(key)\n"
          + "  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)\n"
          + "  local t, u = 0, 0\n"
          + "  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do\n"
          + "    local a, b = string.match(m, '^[^:]*:([^:]*):(.*)$')\n"
          + "    t = t + (tonumber(a) or 0)\n"
          + "    u = u + (tonumber(b) or 0)\n"
          + "  end\n"
          + "  return t, u\n"
          + "end\n"
          + "local function fits(used, h, mine, max)\n"
          + "  if mine <= 0 then return used + h < max end\n"
          + "  if used + h + mine <= max then return true end\n"
          + "  return mine > max and h <= 0\n"
          + "end\n"
          + "local h = tonumber(ARGV[1])\n"
          + "local function header()\n"
          + "  if h == 0 then return 0, 0 end\n"
          + "  local k, a = (h - 1) * 5, 8 + (h - 1) * 5\n"
          + "  local r, t = 0, 0\n"
          + "  if ARGV[a + 1] ~= '' then r = count(KEYS[k + 1]) end\n"
          + "  if ARGV[a + 2] ~= '' then t = count(KEYS[k + 2]) end\n"
          + "  return r, t\n"
          + "end\n"
          + "for i = 1, n do\n"
          + "  local k, a = (i - 1) * 5, 8 + (i - 1) * 5\n"
          + "  local refused = 0\n"
          + "  local ht, hu = 0, 0\n"
          + "  if ARGV[a + 2] ~= '' or ARGV[a + 4] ~= '' then ht, hu = held(KEYS[k + 5]) end\n"
          + "  if ARGV[a + 4] ~= '' then\n"
          + "    local max = tonumber(ARGV[a + 4])\n"
          + "    local used = math.max(count(KEYS[k + 4]), tonumber(ARGV[a + 5]))\n"
          + "    if used >= max or not fits(used, hu, mineS, max) then refused = 4 end\n"
          + "  end\n"
          + "  if refused == 0 and ARGV[a + 1] ~= '' and count(KEYS[k + 1]) >= tonumber(ARGV[a + 1]) then\n"
          + "    refused = 1\n"
          + "  end\n"
          + "  if refused == 0 and ARGV[a + 2] ~= '' then\n"
          + "    local max = tonumber(ARGV[a + 2])\n"
          + "    local used = count(KEYS[k + 2])\n"
          + "    if used >= max or not fits(used, ht, mineT, max) then refused = 2 end\n"
          + "  end\n"
          + "  if refused == 0 and ARGV[a + 3] ~= '' and count(KEYS[k + 3]) >= tonumber(ARGV[a + 3]) then\n"
          + "    refused = 3\n"
          + "  end\n"
          + "  if refused > 0 then\n"
          + "    local r, t = header()\n"
          + "    return {0, i, refused, r, t}\n"
          + "  end\n"
          + "end\n"
          + "for i = 1, n do\n"
          + "  local k, a = (i - 1) * 5, 8 + (i - 1) * 5\n"
          + "  if ARGV[a + 1] ~= '' and redis.call('INCR', KEYS[k + 1]) == 1 then\n"
          + "    redis.call('PEXPIRE', KEYS[k + 1], ARGV[2])\n"
          + "  end\n"
          + "  if ARGV[a + 3] ~= '' then\n"
          + "    redis.call('INCR', KEYS[k + 3])\n"
          + "    redis.call('EXPIRE', KEYS[k + 3], ARGV[3])\n"
          + "  end\n"
          + "  if member ~= '' and (ARGV[a + 2] ~= '' or ARGV[a + 4] ~= '') then\n"
          + "    redis.call('ZADD', KEYS[k + 5], ARGV[6], member)\n"
          + "    redis.call('PEXPIRE', KEYS[k + 5], math.max(1, tonumber(ARGV[6]) - now))\n"
          + "  end\n"
          + "end\n"
          + "local r, t = header()\n"
          + "return {1, 0, 0, r, t}\n");

  /**
   * KEYS as {@link #ACQUIRE}'s. ARGV[1] window ttl ms, ARGV[2] the reservation member to drop ('' = none), then per
   * scope (5 each): give back an rpm count (1/0), free a slot (1/0), tokens to add ('0' = none), spend to add
   * ('0' = none), spend ttl s. Counts never go below 0. Returns 1.
   */
  static final Script RELEASE = new Script(
      "local n = #KEYS / 5\n"
          + "local function decr(key)\n"
          + "  local v = redis.call('GET', key)\n"
          + "  if v and (tonumber(v) or 0) > 0 then redis.call('DECR', key) end\n"
          + "end\n"
          + "for i = 1, n do\n"
          + "  local k, a = (i - 1) * 5, 2 + (i - 1) * 5\n"
          + "  if ARGV[2] ~= '' then redis.call('ZREM', KEYS[k + 5], ARGV[2]) end\n"
          + "  if ARGV[a + 1] == '1' then decr(KEYS[k + 1]) end\n"
          + "  if ARGV[a + 2] == '1' then decr(KEYS[k + 3]) end\n"
          + "  if ARGV[a + 3] ~= '0' then\n"
          + "    redis.call('INCRBY', KEYS[k + 2], ARGV[a + 3])\n"
          + "    redis.call('PEXPIRE', KEYS[k + 2], ARGV[1])\n"
          + "  end\n"
          + "  if ARGV[a + 4] ~= '0' then\n"
          + "    redis.call('INCRBYFLOAT', KEYS[k + 4], ARGV[a + 4])\n"
          + "    redis.call('EXPIRE', KEYS[k + 4], ARGV[a + 5])\n"
          + "  end\n"
          + "end\n"
          + "return 1\n");

  private final RedisAsyncCommands<String, String> redis;
  private final BooleanSupplier closed;
  private final String where;
  private final FailureMode failureMode;
  private final long timeoutMillis;
  private final LocalRateLimiter local;
  private final LimiterUnavailableException unavailable;
  private final AtomicBoolean down = new AtomicBoolean();
  private final AtomicLong nextProbe = new AtomicLong();
  /** Requests admitted by {@link #local} and not yet released, by scope-list identity (a count: lists may repeat). */
  private final ConcurrentHashMap<Ref, Integer> localAdmits = new ConcurrentHashMap<>();
  private final LogThrottle scriptFailures = new LogThrottle(LOG_INTERVAL);
  private final LogThrottle releaseFailures = new LogThrottle(LOG_INTERVAL);

  /** Limits on {@code connection}, with the {@link #DEFAULT_TIMEOUT}. */
  public RedisRateLimiter(RedisConnection connection, FailureMode failureMode) {
    this(connection, failureMode, DEFAULT_TIMEOUT);
  }

  /**
   * Limits on {@code connection}; an acquire not answered within {@code timeout} fails over as
   * {@code failureMode} says.
   */
  public RedisRateLimiter(RedisConnection connection, FailureMode failureMode, Duration timeout) {
    this(connection.async(), connection::isClosed, connection.describe(), failureMode, timeout,
        new LocalRateLimiter());
  }

  RedisRateLimiter(RedisAsyncCommands<String, String> redis, BooleanSupplier closed, String where,
      FailureMode failureMode, Duration timeout, LocalRateLimiter local) {
    this.redis = Objects.requireNonNull(redis);
    this.closed = Objects.requireNonNull(closed);
    this.where = Objects.requireNonNull(where);
    this.failureMode = Objects.requireNonNull(failureMode, "failureMode");
    this.timeoutMillis = Objects.requireNonNull(timeout, "timeout").toMillis();
    if (timeoutMillis <= 0) {
      throw new IllegalArgumentException("timeout: " + timeout + " (expected: >= 1 ms)");
    }
    this.local = Objects.requireNonNull(local);
    this.unavailable = new LimiterUnavailableException("rate limits are unavailable: redis " + where
        + " does not answer");
    preload();
  }

  /**
   * Loads both scripts now (at start, off any event loop), so EVALSHA finds them: the NOSCRIPT fallback re-sends a
   * command as EVAL after the commands sent behind it, which reorders a release and the next acquire (seen as a
   * flaky tpm test). After a Redis restart the fallback still works; only that first call may be reordered.
   */
  private void preload() {
    try {
      CompletableFuture.allOf(redis.scriptLoad(ACQUIRE.text).toCompletableFuture(),
          redis.scriptLoad(RELEASE.text).toCompletableFuture()).get(2, java.util.concurrent.TimeUnit.SECONDS);
      // One acquire of no scope (it touches no key): the first real one no longer pays for loading and running the
      // EVALSHA path cold. On a slow machine that first call took longer than the limiter timeout, and a node that
      // counted a burst's first requests on its own admitted them past a shared budget (BudgetBurstTest).
      redis.<List<Object>>evalsha(ACQUIRE.sha1, ScriptOutputType.MULTI, new String[0], "0", "0", "0", "0", "", "0",
          "0", "0").toCompletableFuture().get(2, java.util.concurrent.TimeUnit.SECONDS);
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      LOG.debug("redis {}: rate-limit scripts not preloaded ({}); EVALSHA falls back to EVAL", where, e.toString());
    }
  }

  private RedisAsyncCommands<String, String> redis() {
    if (closed.getAsBoolean()) {
      throw new IllegalStateException("the redis connection is closed");
    }
    return redis;
  }

  /**
   * One script call, bounded by the limiter timeout. Completes on a Lettuce or timer thread, never exceptionally
   * in {@link FailureMode#OPEN}; in {@link FailureMode#CLOSED}, exceptionally with a (not wrapped)
   * {@link LimiterUnavailableException} when Redis cannot answer.
   */
  @Override
  public CompletionStage<Admission> acquire(List<LimitScope> scopes, Reservation reservation, long nowMillis) {
    int n = scopes.size();
    if (n == 0) {
      return CompletableFuture.completedFuture(Admission.UNLIMITED);
    }
    if (down.get()) {
      probe();
      return failOver(scopes, reservation, nowMillis);
    }
    long minute = LimitWindows.epochMinute(nowMillis);
    int header = LimitWindows.headerScope(scopes);
    String[] keys = keys(scopes, minute);
    String[] args = new String[8 + 5 * n];
    args[0] = Integer.toString(header + 1);
    args[1] = Long.toString(WINDOW_TTL.toMillis());
    args[2] = Long.toString(PARALLEL_TTL.toSeconds());
    args[3] = Long.toString(nowMillis);
    args[4] = member(reservation);
    args[5] = Long.toString(nowMillis + RESERVATION_TTL.toMillis());
    args[6] = Long.toString(reservation.tokens());
    args[7] = number(reservation.spend());
    for (int i = 0; i < n; i++) {
      LimitScope s = scopes.get(i);
      int a = 8 + 5 * i;
      args[a] = s.rpmLimit() == null ? "" : Long.toString(s.rpmLimit());
      args[a + 1] = s.tpmLimit() == null ? "" : Long.toString(s.tpmLimit());
      args[a + 2] = s.maxParallel() == null ? "" : Integer.toString(s.maxParallel());
      args[a + 3] = budget(s.maxBudget());
      args[a + 4] = number(s.storedSpend());
    }
    CompletableFuture<List<Object>> call = eval(ACQUIRE, ScriptOutputType.MULTI, keys, args);
    CompletableFuture<List<Object>> inTime = new CompletableFuture<>();
    call.whenComplete((reply, err) -> {
      if (err != null) {
        inTime.completeExceptionally(err);
      } else if (!inTime.complete(reply)) {
        undoLate(reply, scopes, reservation, keys); // the caller was answered without Redis: give it back
      }
    });
    inTime.orTimeout(timeoutMillis, TimeUnit.MILLISECONDS);
    CompletableFuture<Admission> out = new CompletableFuture<>();
    inTime.whenComplete((reply, err) -> {
      if (err == null) {
        try {
          out.complete(decode(reply, scopes, header, nowMillis));
          return;
        } catch (RuntimeException e) {
          err = e;
        }
      }
      failed(err);
      if (failureMode == FailureMode.CLOSED) {
        out.completeExceptionally(unavailable);
      } else {
        out.complete(local(scopes, reservation, nowMillis));
      }
    });
    return out;
  }

  /**
   * Fire and forget. Frees the request's slots where it was admitted (see the class doc) and adds its tokens and
   * spend to the shared counters, or to the local ones while Redis is unreachable.
   */
  @Override
  public void release(List<LimitScope> scopes, Reservation reservation, long tokens, double spend, long nowMillis) {
    int n = scopes.size();
    if (n == 0) {
      return;
    }
    boolean admittedLocally = !localAdmits.isEmpty() && takeLocal(scopes);
    if (admittedLocally) {
      local.release(scopes, reservation, tokens, spend, nowMillis);
    }
    if (down.get()) {
      if (!admittedLocally && failureMode == FailureMode.OPEN) {
        // its Redis slot and reservation: freed by the par key's TTL and the reservation's expiry
        local.recordUsage(scopes, tokens, spend, nowMillis);
      }
      return;
    }
    String drop = admittedLocally ? "" : member(reservation);
    boolean any = !drop.isEmpty();
    String[] args = new String[2 + 5 * n];
    args[0] = Long.toString(WINDOW_TTL.toMillis());
    args[1] = drop;
    for (int i = 0; i < n; i++) {
      LimitScope s = scopes.get(i);
      int a = 2 + 5 * i;
      boolean free = !admittedLocally && s.maxParallel() != null;
      boolean countTokens = tokens > 0 && s.tpmLimit() != null;
      boolean countSpend = spend > 0 && Double.isFinite(spend) && s.maxBudget() != null;
      args[a] = "0";
      args[a + 1] = free ? "1" : "0";
      args[a + 2] = countTokens ? Long.toString(tokens) : "0";
      args[a + 3] = countSpend ? Double.toString(spend) : "0";
      args[a + 4] = Long.toString(spendTtlSeconds(s, nowMillis));
      any |= free || countTokens || countSpend;
    }
    if (!any) {
      return; // nothing to tell Redis: no round trip
    }
    eval(RELEASE, ScriptOutputType.INTEGER, keys(scopes, LimitWindows.epochMinute(nowMillis)), args)
        .whenComplete((r, err) -> {
          if (err != null) {
            long held = releaseFailures.tryAcquire();
            if (held >= 0) {
              LOG.warn("redis {}: a rate-limit release failed (a slot may stay taken up to {}): {}{}", where,
                  PARALLEL_TTL, RedisKeyCache.describe(err), held(held));
            }
          }
        });
  }

  @Override
  public String describe() {
    return "redis";
  }

  /** Whether counts are shared now (no incident). */
  boolean shared() {
    return !down.get();
  }

  /** Requests admitted locally and not yet released. */
  int localInFlight() {
    int n = 0;
    for (int c : localAdmits.values()) {
      n += c;
    }
    return n;
  }

  /** The first scope's base key: {@code sluice:rl:<kind>:<id length>:<id>:}. */
  static String base(LimitScope s) {
    String id = s.id();
    return new StringBuilder(PREFIX.length() + 16 + id.length()).append(PREFIX).append(s.kind().label())
        .append(':').append(id.length()).append(':').append(id).append(':').toString();
  }

  static String[] keys(List<LimitScope> scopes, long minute) {
    int n = scopes.size();
    String[] keys = new String[5 * n];
    for (int i = 0; i < n; i++) {
      LimitScope s = scopes.get(i);
      String b = base(s);
      keys[5 * i] = b + "rpm:" + minute;
      keys[5 * i + 1] = b + "tpm:" + minute;
      keys[5 * i + 2] = b + "par";
      keys[5 * i + 3] = b + "spend:" + s.budgetPeriod();
      keys[5 * i + 4] = b + "resv";
    }
    return keys;
  }

  private static Admission decode(List<Object> reply, List<LimitScope> scopes, int header, long now) {
    if (reply == null || reply.size() != 5) {
      throw new IllegalStateException("unexpected reply from the acquire script: " + reply);
    }
    long admitted = longAt(reply, 0);
    int refusing = (int) longAt(reply, 1);
    int code = (int) longAt(reply, 2);
    long requests = longAt(reply, 3);
    long tokens = longAt(reply, 4);
    LimitScope h = header < 0 ? null : scopes.get(header);
    if (admitted == 1) {
      return LimitWindows.answer(null, null, now, h, requests, tokens);
    }
    if (refusing < 1 || refusing > scopes.size() || code < 1 || code >= CODES.length) {
      throw new IllegalStateException("unexpected reply from the acquire script: " + reply);
    }
    return LimitWindows.answer(CODES[code], scopes.get(refusing - 1), now, h, requests, tokens);
  }

  private static long longAt(List<Object> reply, int i) {
    if (reply.get(i) instanceof Long v) {
      return v;
    }
    throw new IllegalStateException("unexpected reply from the acquire script: " + reply);
  }

  /** Redis counted an acquire whose caller was answered without it (timeout): gives back its rpm and slots. */
  private void undoLate(List<Object> reply, List<LimitScope> scopes, Reservation reservation, String[] keys) {
    if (reply == null || reply.isEmpty() || !Long.valueOf(1).equals(reply.get(0))) {
      return;
    }
    int n = scopes.size();
    String[] args = new String[2 + 5 * n];
    args[0] = Long.toString(WINDOW_TTL.toMillis());
    args[1] = member(reservation);
    for (int i = 0; i < n; i++) {
      LimitScope s = scopes.get(i);
      int a = 2 + 5 * i;
      args[a] = s.rpmLimit() != null ? "1" : "0";
      args[a + 1] = s.maxParallel() != null ? "1" : "0";
      args[a + 2] = "0";
      args[a + 3] = "0";
      args[a + 4] = "0";
    }
    eval(RELEASE, ScriptOutputType.INTEGER, keys, args).whenComplete((r, err) -> {
      if (err != null) {
        LOG.debug("redis {}: undoing a late rate-limit admission failed: {}", where, RedisKeyCache.describe(err));
      }
    });
  }

  /** An acquire failed: an error Redis answered is logged (throttled); anything else starts an incident. */
  private void failed(Throwable err) {
    Throwable e = unwrap(err);
    if (e instanceof RedisCommandExecutionException || e instanceof IllegalStateException
        && !closed.getAsBoolean()) {
      long held = scriptFailures.tryAcquire();
      if (held >= 0) {
        LOG.warn("redis {}: the rate-limit script failed, {}: {}{}", where, consequence(),
            RedisKeyCache.describe(e), held(held));
      }
      return;
    }
    if (down.compareAndSet(false, true)) {
      nextProbe.set(System.nanoTime() + PROBE_INTERVAL.toNanos());
      LOG.warn("redis {}: rate limits unavailable ({}); {} until it answers again", where,
          RedisKeyCache.describe(e), failureMode == FailureMode.OPEN
              ? "counting them on this node only" : "refusing rate-limited requests");
    }
  }

  private String consequence() {
    return failureMode == FailureMode.OPEN ? "counted on this node" : "refused";
  }

  /** The answer without Redis: this node's count (OPEN), or {@link #unavailable} (CLOSED). Completed. */
  private CompletableFuture<Admission> failOver(List<LimitScope> scopes, Reservation r, long nowMillis) {
    if (failureMode == FailureMode.CLOSED) {
      return CompletableFuture.failedFuture(unavailable);
    }
    return CompletableFuture.completedFuture(local(scopes, r, nowMillis));
  }

  /** This node's count; an admission is remembered so that its release comes back here. */
  private Admission local(List<LimitScope> scopes, Reservation r, long nowMillis) {
    Admission a = local.tryAcquire(scopes, r, nowMillis);
    if (a.admitted()) {
      localAdmits.merge(new Ref(scopes), 1, Integer::sum);
    }
    return a;
  }

  /** During an incident: a PING at most every {@link #PROBE_INTERVAL}; its PONG ends the incident. */
  private void probe() {
    long now = System.nanoTime();
    long next = nextProbe.get();
    if (now - next < 0 || !nextProbe.compareAndSet(next, now + PROBE_INTERVAL.toNanos())) {
      return;
    }
    CompletableFuture<String> ping;
    try {
      ping = redis().ping().toCompletableFuture();
    } catch (RuntimeException e) {
      return;
    }
    CompletableFuture<String> inTime = new CompletableFuture<>();
    ping.whenComplete((pong, err) -> {
      if (err != null) {
        inTime.completeExceptionally(err);
      } else {
        inTime.complete(pong);
      }
    });
    inTime.orTimeout(timeoutMillis, TimeUnit.MILLISECONDS).whenComplete((pong, err) -> {
      if (err == null && "PONG".equalsIgnoreCase(pong) && down.compareAndSet(true, false)) {
        LOG.info("redis {}: rate limits are shared again", where);
      }
    });
  }

  private boolean takeLocal(List<LimitScope> scopes) {
    Ref ref = new Ref(scopes);
    while (true) {
      Integer c = localAdmits.get(ref);
      if (c == null) {
        return false;
      }
      if (c == 1 ? localAdmits.remove(ref, c) : localAdmits.replace(ref, c, c - 1)) {
        return true;
      }
    }
  }

  /** EVALSHA, falling back to EVAL (which also loads the script) when Redis does not know it yet. */
  private <T> CompletableFuture<T> eval(Script script, ScriptOutputType type, String[] keys, String[] args) {
    try {
      return redis().<T>evalsha(script.sha1, type, keys, args).toCompletableFuture()
          .exceptionallyCompose(err -> {
            if (unwrap(err) instanceof RedisNoScriptException) {
              return redis().<T>eval(script.text, type, keys, args).toCompletableFuture();
            }
            return CompletableFuture.failedFuture(unwrap(err));
          });
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /** A reservation's member in the {@code resv} sets: {@code <id hex>:<tokens>:<usd>}; '' for none. */
  static String member(Reservation r) {
    if (r.none()) {
      return "";
    }
    return Long.toHexString(r.id()) + ':' + r.tokens() + ':' + number(r.spend());
  }

  static long spendTtlSeconds(LimitScope s, long nowMillis) {
    long reset = s.budgetResetEpochSecond();
    if (reset <= 0) {
      return SPEND_TTL_NO_RESET.toSeconds();
    }
    return Math.max(0, reset - nowMillis / 1000) + SPEND_GRACE.toSeconds();
  }

  /** A budget for Lua: '' = none (also for NaN and +∞, which never refuse locally either). */
  private static String budget(Double max) {
    if (max == null || Double.isNaN(max) || max == Double.POSITIVE_INFINITY) {
      return "";
    }
    return number(max);
  }

  /** A finite decimal Lua's {@code tonumber} reads (NaN as 0, ±∞ clamped). */
  private static String number(double d) {
    if (Double.isNaN(d)) {
      return "0";
    }
    return Double.toString(Math.max(-Double.MAX_VALUE, Math.min(Double.MAX_VALUE, d)));
  }

  private static String held(long n) {
    return n > 0 ? " (" + n + " similar in the last minute not logged)" : "";
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** A scope list by identity. */
  private record Ref(List<LimitScope> scopes) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Ref r && r.scopes == scopes;
    }

    @Override
    public int hashCode() {
      return System.identityHashCode(scopes);
    }
  }
}
