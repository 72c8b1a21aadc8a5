package io.sluice.metrics;

import com.codahale.metrics.Counting;
import com.codahale.metrics.Metric;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * A latency histogram with fixed buckets, exposed as a Prometheus histogram ({@code _bucket{le=…}}, {@code _sum},
 * {@code _count}) so that {@code histogram_quantile} works across nodes and the dashboards built for LiteLLM's
 * latency metrics keep working. A Dropwizard {@link Metric} of its own kind: Dropwizard's {@code Histogram} keeps a
 * sample reservoir, whose quantiles cannot be aggregated across nodes. Thread-safe; {@link #update} is a short
 * search over the bounds and two {@link LongAdder} increments.
 */
public final class BucketHistogram implements Metric, Counting {
  /** LiteLLM's {@code LATENCY_BUCKETS} (seconds), without {@code +Inf}, which every histogram has. */
  public static final double[] LATENCY_BUCKETS = {0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5,
      3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0, 120.0,
      180.0, 240.0, 300.0};

  private final double[] bounds;
  private final long[] boundNanos;
  /** Per bucket (not cumulative); the last one is +Inf. */
  private final LongAdder[] counts;
  private final LongAdder sumNanos = new LongAdder();

  public BucketHistogram() {
    this(LATENCY_BUCKETS);
  }

  /** @param upperBounds bucket upper bounds in seconds, ascending, without +Inf */
  public BucketHistogram(double[] upperBounds) {
    this.bounds = upperBounds.clone();
    this.boundNanos = new long[bounds.length];
    for (int i = 0; i < bounds.length; i++) {
      if (i > 0 && bounds[i] <= bounds[i - 1]) {
        throw new IllegalArgumentException("bucket bounds must ascend: " + java.util.Arrays.toString(upperBounds));
      }
      boundNanos[i] = (long) (bounds[i] * TimeUnit.SECONDS.toNanos(1));
    }
    this.counts = new LongAdder[bounds.length + 1];
    for (int i = 0; i < counts.length; i++) {
      counts[i] = new LongAdder();
    }
  }

  /** Records one observation of {@code nanos} nanoseconds (negative counts as 0). */
  public void update(long nanos) {
    long v = Math.max(0, nanos);
    int lo = 0;
    int hi = boundNanos.length;
    while (lo < hi) { // first bound >= v
      int mid = (lo + hi) >>> 1;
      if (boundNanos[mid] < v) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    counts[lo].increment();
    sumNanos.add(v);
  }

  /** Upper bounds in seconds, without +Inf. */
  public double[] upperBounds() {
    return bounds.clone();
  }

  /**
   * Cumulative counts per bound, the last entry being +Inf (= {@link #getCount()} at the time of the read). Read
   * without a lock, so a concurrent update may show in one bucket and not yet in another; the counts stay
   * monotonic.
   */
  public long[] cumulativeCounts() {
    long[] out = new long[counts.length];
    long sum = 0;
    for (int i = 0; i < counts.length; i++) {
      sum += counts[i].sum();
      out[i] = sum;
    }
    return out;
  }

  /** Counts per bucket (not cumulative), the last entry being +Inf; read without a lock, as above. */
  public long[] counts() {
    long[] out = new long[counts.length];
    for (int i = 0; i < counts.length; i++) {
      out[i] = counts[i].sum();
    }
    return out;
  }

  /** Sum of all observations, in seconds. */
  public double sumSeconds() {
    return sumNanos.sum() / 1e9;
  }

  @Override
  public long getCount() {
    long n = 0;
    for (LongAdder c : counts) {
      n += c.sum();
    }
    return n;
  }
}
