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
    io.sluice.routing.Strategy strategy) {

  public GatewayContext {
    Objects.requireNonNull(server);
    Objects.requireNonNull(defaultTimeout);
    Objects.requireNonNull(authenticator);
    Objects.requireNonNull(registry);
    Objects.requireNonNull(pools);
    if (maxRequestBodyBytes <= 0) {
      throw new IllegalArgumentException("maxRequestBodyBytes: " + maxRequestBodyBytes + " (expected: > 0)");
    }
  }
}
