package io.sluice.config;

import java.time.Duration;

/**
 * {@code litellm_settings}: the subset Sluice reads.
 *
 * @param requestTimeout {@code request_timeout} (seconds); LiteLLM's default is 6000 s
 */
public record LitellmSettings(Duration requestTimeout, boolean requireAuthForMetrics) {
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(6000);

  /** {@code /metrics} behind the master key (the default). */
  public LitellmSettings(Duration requestTimeout) {
    this(requestTimeout, true);
  }

  public static LitellmSettings defaults() {
    return new LitellmSettings(DEFAULT_REQUEST_TIMEOUT);
  }
}
