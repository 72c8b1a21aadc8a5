package io.sluice.limits;

/**
 * The limiter cannot answer (its shared store is unreachable) and is configured to refuse rather than guess: a
 * {@link RateLimiter#acquire} stage completes exceptionally with this (not wrapped), and the gateway answers 503.
 * Carries no stack trace: during an outage every rate-limited request gets one.
 */
public final class LimiterUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public LimiterUnavailableException(String message) {
    super(message, null, false, false);
  }
}
