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
 * @param tlsCertFile          PEM certificate chain of the listener (leaf first); null = plain HTTP. With
 *                             {@code tlsKeyFile}, or neither.
 * @param tlsKeyFile           PEM PKCS#8 private key of {@code tlsCertFile}; null = plain HTTP.
 * @param tlsReloadInterval    how often the two files are re-read; a changed pair serves new connections, open
 *                             ones keep theirs. Default 10 s.
 * @param upstreamCaBundle     PEM CA certificates trusted for {@code https} replicas instead of the JDK's; null =
 *                             the JDK's trust store. Replica certificates and host names are always verified.
 * @param cacheIsolation       {@code cache_isolation}: whose requests may share vLLM's prefix cache — Sluice sets
 *                             {@code cache_salt} to a keyed hash of the caller's team (or key), overriding the
 *                             client's; default {@link CacheIsolation#OFF} (the client's own, if any, goes as sent).
 * @param servedModelName      {@code response_model_name: served}: responses keep the replica's model name instead
 *                             of the client's (LiteLLM's proxy, and Sluice by default, answer with the client's).
 * @param reservationMaxTokens {@code reservation_max_tokens}: the output tokens a budget/tpm reservation assumes for a
 *                             request that sets no {@code max_tokens} (nor {@code max_completion_tokens},
 *                             {@code max_output_tokens}). Default {@value #DEFAULT_RESERVATION_MAX_TOKENS}.
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
    boolean metricsKeyLabels,
    java.nio.file.Path tlsCertFile,
    java.nio.file.Path tlsKeyFile,
    Duration tlsReloadInterval,
    java.nio.file.Path upstreamCaBundle,
    Duration healthCheckTtl,
    Duration healthCheckTimeout,
    CacheIsolation cacheIsolation,
    boolean servedModelName,
    int reservationMaxTokens) {

  /** Output tokens reserved for a request without its own cap (issue 20 §3). */
  public static final int DEFAULT_RESERVATION_MAX_TOKENS = 4096;

  /** With the default {@code reservation_max_tokens}. */
  public ServerSettings(int maxUriLength, int maxHeaderSize, Duration requestReadTimeout, Duration idleTimeout,
      Duration connectTimeout, Duration upstreamIdleTimeout, int maxConnectionsPerReplica, int maxIdlePerReplica,
      boolean limitsFailClosed, boolean metricsKeyLabels, java.nio.file.Path tlsCertFile,
      java.nio.file.Path tlsKeyFile, Duration tlsReloadInterval, java.nio.file.Path upstreamCaBundle,
      Duration healthCheckTtl, Duration healthCheckTimeout, CacheIsolation cacheIsolation, boolean servedModelName) {
    this(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout, upstreamIdleTimeout,
        maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels, tlsCertFile, tlsKeyFile,
        tlsReloadInterval, upstreamCaBundle, healthCheckTtl, healthCheckTimeout, cacheIsolation, servedModelName,
        DEFAULT_RESERVATION_MAX_TOKENS);
  }

  /** {@code sluice_settings.cache_isolation}. */
  public enum CacheIsolation {
    /** No {@code cache_salt} set by Sluice. */
    OFF,
    /** One salt per team (a key without a team: its own); the master key has one of its own. */
    TEAM,
    /** One salt per key. */
    KEY;

    /** {@code team}, {@code key} or {@code off}; null when it is none of them. */
    public static CacheIsolation parse(String v) {
      return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
        case "team" -> TEAM;
        case "key" -> KEY;
        case "off", "false", "none" -> OFF;
        default -> null;
      };
    }
  }

  /** No cache isolation. */
  public ServerSettings(int maxUriLength, int maxHeaderSize, Duration requestReadTimeout, Duration idleTimeout,
      Duration connectTimeout, Duration upstreamIdleTimeout, int maxConnectionsPerReplica, int maxIdlePerReplica,
      boolean limitsFailClosed, boolean metricsKeyLabels, java.nio.file.Path tlsCertFile,
      java.nio.file.Path tlsKeyFile, Duration tlsReloadInterval, java.nio.file.Path upstreamCaBundle,
      Duration healthCheckTtl, Duration healthCheckTimeout) {
    this(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout, upstreamIdleTimeout,
        maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels, tlsCertFile, tlsKeyFile,
        tlsReloadInterval, upstreamCaBundle, healthCheckTtl, healthCheckTimeout, CacheIsolation.OFF);
  }

  /** Responses carry the client's model name. */
  public ServerSettings(int maxUriLength, int maxHeaderSize, Duration requestReadTimeout, Duration idleTimeout,
      Duration connectTimeout, Duration upstreamIdleTimeout, int maxConnectionsPerReplica, int maxIdlePerReplica,
      boolean limitsFailClosed, boolean metricsKeyLabels, java.nio.file.Path tlsCertFile,
      java.nio.file.Path tlsKeyFile, Duration tlsReloadInterval, java.nio.file.Path upstreamCaBundle,
      Duration healthCheckTtl, Duration healthCheckTimeout, CacheIsolation cacheIsolation) {
    this(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout, upstreamIdleTimeout,
        maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels, tlsCertFile, tlsKeyFile,
        tlsReloadInterval, upstreamCaBundle, healthCheckTtl, healthCheckTimeout, cacheIsolation, false);
  }

  public static final Duration DEFAULT_TLS_RELOAD_INTERVAL = Duration.ofSeconds(10);
  /** How long a {@code /health} probe's result is reused (per node, per deployment). */
  public static final Duration DEFAULT_HEALTH_CHECK_TTL = Duration.ofSeconds(10);
  /** The longest one {@code /health} probe may take before its deployment counts as unhealthy. */
  public static final Duration DEFAULT_HEALTH_CHECK_TIMEOUT = Duration.ofSeconds(10);

  /** The default {@code /health} probe cache and timeout. */
  public ServerSettings(int maxUriLength, int maxHeaderSize, Duration requestReadTimeout, Duration idleTimeout,
      Duration connectTimeout, Duration upstreamIdleTimeout, int maxConnectionsPerReplica, int maxIdlePerReplica,
      boolean limitsFailClosed, boolean metricsKeyLabels, java.nio.file.Path tlsCertFile,
      java.nio.file.Path tlsKeyFile, Duration tlsReloadInterval, java.nio.file.Path upstreamCaBundle) {
    this(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout, upstreamIdleTimeout,
        maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels, tlsCertFile, tlsKeyFile,
        tlsReloadInterval, upstreamCaBundle, DEFAULT_HEALTH_CHECK_TTL, DEFAULT_HEALTH_CHECK_TIMEOUT);
  }

  /** Plain HTTP listener, the JDK's trust store upstream. */
  public ServerSettings(int maxUriLength, int maxHeaderSize, Duration requestReadTimeout, Duration idleTimeout,
      Duration connectTimeout, Duration upstreamIdleTimeout, int maxConnectionsPerReplica, int maxIdlePerReplica,
      boolean limitsFailClosed, boolean metricsKeyLabels) {
    this(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout, upstreamIdleTimeout,
        maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels, null, null,
        DEFAULT_TLS_RELOAD_INTERVAL, null);
  }

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
    check((tlsCertFile == null) == (tlsKeyFile == null), "%s (expected: tls_cert_file and tls_key_file together)",
        tlsCertFile == null ? "tls_key_file is set but tls_cert_file is not" : "tls_cert_file is set but tls_key_file is not");
    check(positive(tlsReloadInterval), "tls_reload_interval: %s (expected: > 0)", tlsReloadInterval);
    check(positive(healthCheckTtl), "health_check_ttl: %s (expected: > 0)", healthCheckTtl);
    check(positive(healthCheckTimeout), "health_check_timeout: %s (expected: > 0)", healthCheckTimeout);
    java.util.Objects.requireNonNull(cacheIsolation, "cacheIsolation");
    check(reservationMaxTokens > 0, "reservation_max_tokens: %s (expected: > 0)", reservationMaxTokens);
  }

  /** True when the listener speaks TLS. */
  public boolean tls() {
    return tlsCertFile != null;
  }

  /** These settings with the listener's certificate and key replaced (the {@code --tls-cert}/{@code --tls-key} flags). */
  public ServerSettings withTls(java.nio.file.Path cert, java.nio.file.Path key) {
    return new ServerSettings(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout,
        upstreamIdleTimeout, maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels, cert, key,
        tlsReloadInterval, upstreamCaBundle, healthCheckTtl, healthCheckTimeout, cacheIsolation, servedModelName,
        reservationMaxTokens);
  }

  /** These settings with {@code cache_isolation} replaced. */
  public ServerSettings withCacheIsolation(CacheIsolation c) {
    return new ServerSettings(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout,
        upstreamIdleTimeout, maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels,
        tlsCertFile, tlsKeyFile, tlsReloadInterval, upstreamCaBundle, healthCheckTtl, healthCheckTimeout, c,
        servedModelName, reservationMaxTokens);
  }

  /** These settings with {@code response_model_name} replaced ({@code served}: true). */
  public ServerSettings withServedModelName(boolean served) {
    return new ServerSettings(maxUriLength, maxHeaderSize, requestReadTimeout, idleTimeout, connectTimeout,
        upstreamIdleTimeout, maxConnectionsPerReplica, maxIdlePerReplica, limitsFailClosed, metricsKeyLabels,
        tlsCertFile, tlsKeyFile, tlsReloadInterval, upstreamCaBundle, healthCheckTtl, healthCheckTimeout,
        cacheIsolation, served, reservationMaxTokens);
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
