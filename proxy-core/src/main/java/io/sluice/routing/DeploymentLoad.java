package io.sluice.routing;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * How busy a replica is: Sluice's own in-flight requests to it (exact, updated on the hot path) and, for
 * {@code vllm-load}, the replica's last scraped {@code /metrics} (queue, running batch, KV-cache fill).
 * Thread-safe; reads are volatile loads.
 */
public final class DeploymentLoad {
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger streams = new AtomicInteger();
  private volatile double waiting;
  private volatile double running;
  private volatile double kvCache;
  private volatile boolean scraped;
  /** {@link #inFlight()} when the last scrape arrived. */
  private volatile int inFlightAtScrape;
  /** The running batch seen while vLLM had a queue (its batch is full then); -1 until such a scrape. */
  private volatile double batchCapacity = -1;
  private volatile double ttfbEwmaNanos = -1;
  // Tokens per minute: the current minute's count and the previous minute's, weighted by how much of the previous
  // minute the sliding window still covers (the way rate limiters approximate a sliding window).
  private long minute = Long.MIN_VALUE;
  private long currentTokens;
  private long previousTokens;
  /** Attempts sent in the current minute (only counted for deployments whose rpm is enforced). */
  private long currentRequests;

  public int inFlight() {
    return inFlight.get();
  }

  public void started() {
    inFlight.incrementAndGet();
  }

  public void ended() {
    inFlight.decrementAndGet();
  }

  /** Streaming requests in flight (a subset of {@link #inFlight()}). */
  public int streams() {
    return streams.get();
  }

  /** As {@link #started()}; a stream is also counted in {@link #streams()}. */
  public void started(boolean stream) {
    inFlight.incrementAndGet();
    if (stream) {
      streams.incrementAndGet();
    }
  }

  public void ended(boolean stream) {
    inFlight.decrementAndGet();
    if (stream) {
      streams.decrementAndGet();
    }
  }

  /** Records a scrape of the replica's {@code /metrics}: sums over engines. */
  public void scraped(double waiting, double running, double kvCacheUsage) {
    this.waiting = waiting;
    this.running = running;
    this.kvCache = kvCacheUsage;
    this.inFlightAtScrape = inFlight.get();
    if (waiting > 0 || running > batchCapacity && batchCapacity >= 0) {
      batchCapacity = running; // a queue means a full batch; a larger batch since then means it grew
    }
    this.scraped = true;
  }

  /**
   * vLLM's queue now, estimated between scrapes: a scrape is up to an interval old, and in that time this node alone
   * may send a burst that the scrape cannot show. Once a scrape has shown a queue (so the batch it saw was full), the
   * estimate is the scraped queue and batch plus this node's in-flight change since the scrape, less that batch size;
   * before that, the scraped queue. Other nodes' requests since the scrape are not seen (each node corrects its own).
   */
  public double estimatedWaiting() {
    double cap = batchCapacity;
    return cap < 0 ? waiting : Math.max(0, estimatedInEngine() - cap);
  }

  /** Requests in the engine now, running or queued: the last scrape's, plus this node's in-flight change since. */
  private double estimatedInEngine() {
    return waiting + running + (inFlight.get() - inFlightAtScrape);
  }

  /**
   * How many more requests the replica takes before {@link #estimatedWaiting()} would pass {@code maxWaiting}: 0 when
   * it already has; {@link Long#MAX_VALUE} while the batch size is unknown and the scraped queue is within the bound.
   */
  public long queueRoom(double maxWaiting) {
    double cap = batchCapacity;
    if (cap < 0) {
      return waiting > maxWaiting ? 0 : Long.MAX_VALUE;
    }
    return (long) Math.max(0, Math.floor(maxWaiting + cap - estimatedInEngine()));
  }

  /** Adds the tokens of one finished response at {@code nowNanos}. */
  public synchronized void addTokens(long tokens, long nowNanos) {
    roll(nowNanos);
    currentTokens += tokens;
  }

  /** Counts one attempt sent to the replica at {@code nowNanos} (its rpm, when enforced). */
  public synchronized void countRequest(long nowNanos) {
    roll(nowNanos);
    currentRequests++;
  }

  /** Attempts counted in the current minute (a fixed window, as LiteLLM's per-minute deployment counters). */
  public synchronized long requestsThisMinute(long nowNanos) {
    roll(nowNanos);
    return currentRequests;
  }

  /** Tokens of responses that ended in the current minute (fixed window). */
  public synchronized long tokensThisMinute(long nowNanos) {
    roll(nowNanos);
    return currentTokens;
  }

  /** Seconds until the current minute's window ends (at least 1). */
  public static long secondsToNextMinute(long nowNanos) {
    long into = Math.floorMod(nowNanos, 60_000_000_000L);
    return Math.max(1, (60_000_000_000L - into + 999_999_999L) / 1_000_000_000L);
  }

  /** Tokens served in (approximately) the last 60 s. */
  public synchronized double tokensPerMinute(long nowNanos) {
    roll(nowNanos);
    double intoMinute = (nowNanos % 60_000_000_000L) / 60_000_000_000.0;
    return currentTokens + previousTokens * (1 - intoMinute);
  }

  private void roll(long nowNanos) {
    long m = Math.floorDiv(nowNanos, 60_000_000_000L);
    if (m != minute) {
      previousTokens = m == minute + 1 ? currentTokens : 0;
      currentTokens = 0;
      currentRequests = 0;
      minute = m;
    }
  }

  /**
   * Records a time to first byte; the average weighs the latest sample by 0.2 (about the last 10 requests). Racy
   * read-modify-write across loops is acceptable: a lost sample only delays the average a little.
   */
  public void ttfb(long nanos) {
    double old = ttfbEwmaNanos;
    ttfbEwmaNanos = old < 0 ? nanos : 0.8 * old + 0.2 * nanos;
  }

  /** The average time to first byte in nanoseconds; 0 before any sample, so a new replica gets tried. */
  public double ttfbEwmaNanos() {
    return Math.max(0, ttfbEwmaNanos);
  }

  public double waiting() {
    return waiting;
  }

  public double running() {
    return running;
  }

  public double kvCache() {
    return kvCache;
  }

  public boolean hasScrape() {
    return scraped;
  }

  /**
   * The {@code vllm-load} score, lower is better: queued requests weigh double (they wait for a batch slot), the
   * running batch and Sluice's in-flight count once (in-flight covers the time between scrapes), and a KV cache
   * above 95 % — where vLLM starts preempting — adds a penalty larger than any queue.
   */
  public double vllmScore() {
    double s = inFlight.get();
    if (scraped) {
      s += 2 * waiting + running + (kvCache >= 0.95 ? 1000 : 0);
    }
    return s;
  }
}
