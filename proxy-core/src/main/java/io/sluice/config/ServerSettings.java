package io.sluice.config;

import java.time.Duration;

/**
 * {@code sluice_settings}: Sluice's own knobs that LiteLLM has no name for. Every one has a default; units in
 * the name.
 *
 * @param maxUriLength         longest request line target accepted; longer → 414. Default 8192 (nginx-like).
 * @param maxHeaderSize        total bytes of request headers; more → 431. Default 16384.
 * @param requestReadTimeout   time to receive a whole request (headers and body); slower → 408. Default 60 s.
 * @param idleTimeout          a keep-alive client connection with no request for this long is closed. Default 75 s.
 * @param connectTimeout       upstream TCP connect timeout. Default 5 s.
 * @param upstreamIdleTimeout  a pooled upstream connection unused this long is closed. Default 4 s: below
 *                             uvicorn's 5 s keep-alive (vLLM's server), so Sluice closes first and never writes a
 *                             request into a connection the replica is closing.
 * @param maxConnectionsPerReplica per event loop and replica: connections open at once. Default 1024.
 * @param maxIdlePerReplica    per event loop and replica: idle connections kept. Default 64.
 */
public record ServerSettings(
    int maxUriLength,
    int maxHeaderSize,
    Duration requestReadTimeout,
    Duration idleTimeout,
    Duration connectTimeout,
    Duration upstreamIdleTimeout,
    int maxConnectionsPerReplica,
    int maxIdlePerReplica,
    boolean limitsFailClosed,
    boolean metricsKeyLabels) {

  /** Without per-key metric labels. */
  public ServerSettings(int maxUriLength, int maxHeaderSize, Duration requestReadTimeout, Duration idleTimeout,
      Duration connectTimeout, Duration upstreamIdleTimeout, int maxConnectionsPerReplica, int maxIdlePerReplica,
      boolean limitsFailClosed) {
    this(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout, upstreamIdleTimeout,
        maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, false);
  }

  /** Limits fail open (per-node counting) when Redis is unreachable. */
  public ServerSettings(int maxUriLength, int maxHeaderSize, Duration requestReadTimeout, Duration idleTimeout,
      Duration connectTimeout, Duration upstreamIdleTimeout, int maxConnectionsPerReplica, int maxIdlePerReplica) {
    this(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout, upstreamIdleTimeout,
        maxConnectionsPerReplica, maxIdlePerReplica, false);
  }

  public ServerSettings {
    check(maxUriLength >= 256, "max_uri_length: %s (expected: >= 256)", maxUriLength);
    check(maxHeaderSize >= 1024, "max_header_size: %s (expected: >= 1024)", maxHeaderSize);
    check(positive(requestReadTimeout), "request_read_timeout: %s (expected: > 0)", requestReadTimeout);
    check(positive(idleTimeout), "idle_timeout: %s (expected: > 0)", idleTimeout);
    check(positive(connectTimeout), "connect_timeout: %s (expected: > 0)", connectTimeout);
    check(positive(upstreamIdleTimeout), "upstream_idle_timeout: %s (expected: > 0)", upstreamIdleTimeout);
    check(maxConnectionsPerReplica > 0, "max_connections_per_replica: %s (expected: > 0)", maxConnectionsPerReplica);
    check(maxIdlePerReplica >= 0, "max_idle_per_replica: %s (expected: >= 0)", maxIdlePerReplica);
  }

  public static ServerSettings defaults() {
    return new ServerSettings(8192, 16384, Duration.ofSeconds(60), Duration.ofSeconds(75), Duration.ofSeconds(5),
        Duration.ofSeconds(4), 1024, 64);
  }

  private static boolean positive(Duration d) {
    return d != null && !d.isNegative() && !d.isZero();
  }

  private static void check(boolean ok, String fmt, Object arg) {
    if (!ok) {
      throw new IllegalArgumentException(String.format(fmt, arg));
    }
  }
}
