package io.sluice.metrics;

import com.codahale.metrics.Gauge;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * A monotonic counter of a fractional amount (spend in USD). Dropwizard's {@code Counter} counts whole numbers, so
 * this is a {@link Gauge} in Dropwizard's terms; its family's type ({@link Family.Type#COUNTER}) makes it a
 * Prometheus counter.
 */
public final class DoubleCounter implements Gauge<Double> {
  private final DoubleAdder sum = new DoubleAdder();

  /** Adds {@code amount} (ignored unless above zero: a counter never goes down). */
  public void add(double amount) {
    if (amount > 0) {
      sum.add(amount);
    }
  }

  @Override
  public Double getValue() {
    return sum.sum();
  }
}
