package io.sluice.config;

import java.time.Duration;

/**
 * {@code router_settings}: the subset Sluice reads now.
 *
 * @param routingStrategy {@code routing_strategy}; only {@code simple-shuffle} so far
 * @param timeout         {@code timeout} (seconds) or null
 */
public record RouterSettings(String routingStrategy, Duration timeout) {
  public static RouterSettings defaults() {
    return new RouterSettings("simple-shuffle", null);
  }
}
