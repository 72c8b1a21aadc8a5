package io.sluice.config;

import java.time.Duration;

/**
 * {@code litellm_settings}: the subset Sluice reads.
 *
 * @param requestTimeout {@code request_timeout} (seconds); LiteLLM's default is 6000 s
 * @param otel           {@code callbacks} lists {@code "otel"}: OpenTelemetry traces on (the {@code OTEL_*}
 *                       environment configures the export)
 */
public record LitellmSettings(Duration requestTimeout, boolean requireAuthForMetrics, boolean otel) {
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(6000);

  /** Without traces. */
  public LitellmSettings(Duration requestTimeout, boolean requireAuthForMetrics) {
    this(requestTimeout, requireAuthForMetrics, false);
  }

  /** {@code /metrics} behind the master key (the default). */
  public LitellmSettings(Duration requestTimeout) {
    this(requestTimeout, true);
  }

  public static LitellmSettings defaults() {
    return new LitellmSettings(DEFAULT_REQUEST_TIMEOUT);
  }
}
