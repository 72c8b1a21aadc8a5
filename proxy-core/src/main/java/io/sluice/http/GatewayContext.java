package io.sluice.http;

import io.sluice.auth.Authenticator;
import io.sluice.config.ServerSettings;
import io.sluice.routing.RegistryHolder;
import io.sluice.upstream.UpstreamPools;
import java.time.Duration;
import java.util.Objects;

/**
 * What every client channel of one gateway shares: settings, the authenticator, the deployment registry and the
 * upstream pools. Immutable; its parts are thread-safe.
 *
 * @param maxRequestBodyBytes bodies larger than this are refused with 413
 * @param defaultTimeout      time to first upstream response byte when the deployment sets none
 *                            ({@code router_settings.timeout}, else {@code litellm_settings.request_timeout})
 * @param version             Sluice's version, for readiness
 * @param numRetries          {@code router_settings.num_retries}
 * @param cooldown            {@code router_settings.cooldown_time}, for messages
 * @param drain               the gateway's drain state
 * @param streamTimeout       {@code router_settings.stream_timeout}: longest silence once a response started; null =
 *                            none
 * @param strategy            {@code router_settings.routing_strategy}
 * @param management          the admin plane's management API ({@link io.sluice.management.ManagementApi#NONE}
 *                            without a database)
 * @param readiness           what {@code /health/readiness} reports about the database
 * @param passThrough         pass-through endpoints, the {@code /vllm/*} default target and BYOK
 * @param metering            token accounting, spend events and limits ({@link Metering#NONE}: none)
 * @param accessLog           one JSON line per request ({@link AccessLog#NONE}: none)
 * @param metrics             the gateway's metrics and their {@code /metrics} exposition; null: none
 * @param ui                  the admin UI's sessions; null: no UI ({@code /ui} answers 404)
 * @param tracing             OpenTelemetry traces ({@link Tracing}); null: off (no span, no header parsed)
 * @param health              {@code /health}'s real probes; null: {@code /health} reports cooldown state only (as
 *                            with {@code background_health_checks})
 * @param admission           fair admission's queue ({@code router_settings.fair_admission}); null: off
 */
public record GatewayContext(
    ServerSettings server,
    long maxRequestBodyBytes,
    Duration defaultTimeout,
    Authenticator authenticator,
    RegistryHolder registry,
    UpstreamPools pools,
    String version,
    int numRetries,
    Duration cooldown,
    Drain drain,
    Duration streamTimeout,
    io.sluice.routing.Strategy strategy,
    io.sluice.management.ManagementApi management,
    Readiness readiness,
    io.sluice.routing.PassThroughTargets passThrough,
    Metering metering,
    AccessLog accessLog,
    io.sluice.metrics.GatewayMetrics metrics,
    io.sluice.auth.UiSessions ui,
    Tracing tracing,
    io.sluice.routing.EndpointHealth health,
    AdmissionGate admission) {

  /** Without fair admission. */
  public GatewayContext(ServerSettings server, long maxRequestBodyBytes, Duration defaultTimeout,
      Authenticator authenticator, RegistryHolder registry, UpstreamPools pools, String version, int numRetries,
      Duration cooldown, Drain drain, Duration streamTimeout, io.sluice.routing.Strategy strategy,
      io.sluice.management.ManagementApi management, Readiness readiness,
      io.sluice.routing.PassThroughTargets passThrough, Metering metering, AccessLog accessLog,
      io.sluice.metrics.GatewayMetrics metrics, io.sluice.auth.UiSessions ui, Tracing tracing,
      io.sluice.routing.EndpointHealth health) {
    this(server, maxRequestBodyBytes, defaultTimeout, authenticator, registry, pools, version, numRetries, cooldown,
        drain, streamTimeout, strategy, management, readiness, passThrough, metering, accessLog, metrics, ui, tracing,
        health, null);
  }

  /** Without tracing and without real {@code /health} probes. */
  public GatewayContext(ServerSettings server, long maxRequestBodyBytes, Duration defaultTimeout,
      Authenticator authenticator, RegistryHolder registry, UpstreamPools pools, String version, int numRetries,
      Duration cooldown, Drain drain, Duration streamTimeout, io.sluice.routing.Strategy strategy,
      io.sluice.management.ManagementApi management, Readiness readiness,
      io.sluice.routing.PassThroughTargets passThrough, Metering metering, AccessLog accessLog,
      io.sluice.metrics.GatewayMetrics metrics, io.sluice.auth.UiSessions ui) {
    this(server, maxRequestBodyBytes, defaultTimeout, authenticator, registry, pools, version, numRetries, cooldown,
        drain, streamTimeout, strategy, management, readiness, passThrough, metering, accessLog, metrics, ui, null,
        null);
  }

  /** Without the UI. */
  public GatewayContext(ServerSettings server, long maxRequestBodyBytes, Duration defaultTimeout,
      Authenticator authenticator, RegistryHolder registry, UpstreamPools pools, String version, int numRetries,
      Duration cooldown, Drain drain, Duration streamTimeout, io.sluice.routing.Strategy strategy,
      io.sluice.management.ManagementApi management, Readiness readiness,
      io.sluice.routing.PassThroughTargets passThrough, Metering metering, AccessLog accessLog,
      io.sluice.metrics.GatewayMetrics metrics) {
    this(server, maxRequestBodyBytes, defaultTimeout, authenticator, registry, pools, version, numRetries, cooldown,
        drain, streamTimeout, strategy, management, readiness, passThrough, metering, accessLog, metrics, null);
  }

  /** Without metrics. */
  public GatewayContext(ServerSettings server, long maxRequestBodyBytes, Duration defaultTimeout,
      Authenticator authenticator, RegistryHolder registry, UpstreamPools pools, String version, int numRetries,
      Duration cooldown, Drain drain, Duration streamTimeout, io.sluice.routing.Strategy strategy,
      io.sluice.management.ManagementApi management, Readiness readiness,
      io.sluice.routing.PassThroughTargets passThrough, Metering metering, AccessLog accessLog) {
    this(server, maxRequestBodyBytes, defaultTimeout, authenticator, registry, pools, version, numRetries, cooldown,
        drain, streamTimeout, strategy, management, readiness, passThrough, metering, accessLog, null, null);
  }

  /** Without an access log. */
  public GatewayContext(ServerSettings server, long maxRequestBodyBytes, Duration defaultTimeout,
      Authenticator authenticator, RegistryHolder registry, UpstreamPools pools, String version, int numRetries,
      Duration cooldown, Drain drain, Duration streamTimeout, io.sluice.routing.Strategy strategy,
      io.sluice.management.ManagementApi management, Readiness readiness,
      io.sluice.routing.PassThroughTargets passThrough, Metering metering) {
    this(server, maxRequestBodyBytes, defaultTimeout, authenticator, registry, pools, version, numRetries, cooldown,
        drain, streamTimeout, strategy, management, readiness, passThrough, metering, AccessLog.NONE, null, null);
  }

  /** Without metering. */
  public GatewayContext(ServerSettings server, long maxRequestBodyBytes, Duration defaultTimeout,
      Authenticator authenticator, RegistryHolder registry, UpstreamPools pools, String version, int numRetries,
      Duration cooldown, Drain drain, Duration streamTimeout, io.sluice.routing.Strategy strategy,
      io.sluice.management.ManagementApi management, Readiness readiness,
      io.sluice.routing.PassThroughTargets passThrough) {
    this(server, maxRequestBodyBytes, defaultTimeout, authenticator, registry, pools, version, numRetries, cooldown,
        drain, streamTimeout, strategy, management, readiness, passThrough, Metering.NONE, AccessLog.NONE, null, null);
  }

  public GatewayContext {
    Objects.requireNonNull(server);
    Objects.requireNonNull(defaultTimeout);
    Objects.requireNonNull(authenticator);
    Objects.requireNonNull(registry);
    Objects.requireNonNull(pools);
    Objects.requireNonNull(management);
    Objects.requireNonNull(readiness);
    Objects.requireNonNull(passThrough);
    Objects.requireNonNull(metering);
    Objects.requireNonNull(accessLog);
    if (admission != null && metrics != null) {
      admission.listener = AdmissionGate.metrics(admission, metrics);
    }
    if (maxRequestBodyBytes <= 0) {
      throw new IllegalArgumentException("maxRequestBodyBytes: " + maxRequestBodyBytes + " (expected: > 0)");
    }
  }
}
