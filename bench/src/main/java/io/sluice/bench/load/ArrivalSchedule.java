package io.sluice.bench.load;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The open-loop arrival schedule of one event loop's share of the load: the run's requests are due evenly spaced,
 * global request {@code j} at {@code start + j / rate} seconds, and this share holds {@code j = first, first +
 * stride, …} (event loop {@code i} of {@code T}: {@code first = i}, {@code stride = T}). The driver takes due
 * requests in order; latency is measured from a request's due time, not from when it could be sent, so a proxy that
 * queues cannot hide it by slowing the client down (coordinated omission).
 *
 * <p>Exact integer arithmetic (the period in picoseconds), so {@link #dueBy} and {@link #nextDue} agree at every
 * nanosecond. No allocation. Event loop only (not thread-safe); the clock is injectable for tests.
 */
final class ArrivalSchedule {
  /** A request sent more than this after its due time is counted late. */
  static final long LATE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

  private final LongSupplier clock;
  private final long start;
  private final long periodPicos;
  private final long first;
  private final long stride;
  /** Requests of this share already taken (sent). */
  private long taken;

  /**
   * @param ratePerSecond the whole run's rate (all shares together)
   */
  ArrivalSchedule(LongSupplier clock, long startNanos, double ratePerSecond, int first, int stride) {
    if (!(ratePerSecond > 0) || ratePerSecond > 1e9) {
      throw new IllegalArgumentException("rate: " + ratePerSecond + " (expected: > 0 and <= 1e9 per second)");
    }
    if (stride < 1 || first < 0 || first >= stride) {
      throw new IllegalArgumentException("first/stride: " + first + "/" + stride + " (expected: 0 <= first < stride)");
    }
    this.clock = clock;
    this.start = startNanos;
    this.periodPicos = Math.max(1, Math.round(1e12 / ratePerSecond));
    this.first = first;
    this.stride = stride;
  }

  long now() {
    return clock.getAsLong();
  }

  /** When this share's {@code k}-th request (from 0) is due, in the clock's nanoseconds. */
  long due(long k) {
    return start + (first + k * stride) * periodPicos / 1000;
  }

  /** How many of this share's requests are due at or before {@code now} (sent or not). */
  long dueBy(long now) {
    long d = now - start;
    if (d < 0) {
      return 0;
    }
    // due(j) <= now  ⟺  floor(j·p / 1000) <= d  ⟺  j·p < (d + 1)·1000
    long jMax = ((d + 1) * 1000 - 1) / periodPicos;
    return jMax < first ? 0 : (jMax - first) / stride + 1;
  }

  /** True if a request is due at {@code now} and not taken yet. */
  boolean hasDue(long now) {
    return due(taken) - now <= 0;
  }

  /** The due time of the next request not taken yet. */
  long nextDue() {
    return due(taken);
  }

  /** Takes the next request: returns its due time. */
  long take() {
    return due(taken++);
  }

  long taken() {
    return taken;
  }

  /** Requests due at {@code now} and not taken: the client-side queue. */
  long backlog(long now) {
    return Math.max(0, dueBy(now) - taken);
  }

  /** Microseconds from {@code dueNanos} to {@code now}, clamped to [0, {@code maxUs}]. */
  static long sinceDueMicros(long dueNanos, long now, long maxUs) {
    return Math.min(maxUs, Math.max(0, (now - dueNanos) / 1000));
  }

  /** True if a request due at {@code dueNanos} and sent at {@code sentNanos} left more than 1 ms late. */
  static boolean late(long dueNanos, long sentNanos) {
    return sentNanos - dueNanos > LATE_NANOS;
  }
}
