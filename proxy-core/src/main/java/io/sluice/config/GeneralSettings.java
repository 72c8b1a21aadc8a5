package io.sluice.config;

/**
 * {@code general_settings}: the subset Sluice reads.
 *
 * @param masterKey           {@code master_key} after {@code os.environ/} resolution, or null when the file has none
 *                            (the environment fallbacks are applied by {@link MasterKeys}, not here)
 * @param keyHeaderName       {@code litellm_key_header_name}, or null: then {@code x-litellm-api-key}, else
 *                            {@code Authorization}
 * @param maxRequestSizeBytes {@code max_request_size_mb} (LiteLLM's name) in bytes; default 32 MiB
 * @param backgroundHealthChecks {@code background_health_checks}: probe every replica's {@code /health}
 * @param healthCheckInterval    {@code health_check_interval} between probes (LiteLLM's default 300 s)
 * @param databaseUrl         {@code database_url} after {@code os.environ/} resolution (it may hold a password), or
 *                            null
 * @param storeModelInDb      {@code store_model_in_db}, or null when not set
 * @param databasePoolSize    {@code database_connection_pool_limit}, or null for the default
 * @param disableSpendLogs    {@code disable_spend_logs}: no per-request row in the spend logs; key, user and team
 *                            spend and the daily usage rollup are still kept (default false)
 */
public record GeneralSettings(Secret masterKey, String keyHeaderName, long maxRequestSizeBytes,
    boolean backgroundHealthChecks, java.time.Duration healthCheckInterval, Secret databaseUrl,
    Boolean storeModelInDb, Integer databasePoolSize, boolean disableSpendLogs) {
  public static final java.time.Duration DEFAULT_HEALTH_CHECK_INTERVAL = java.time.Duration.ofSeconds(300);

  public GeneralSettings(Secret masterKey, String keyHeaderName, long maxRequestSizeBytes,
      boolean backgroundHealthChecks, java.time.Duration healthCheckInterval, Secret databaseUrl,
      Boolean storeModelInDb, Integer databasePoolSize) {
    this(masterKey, keyHeaderName, maxRequestSizeBytes, backgroundHealthChecks, healthCheckInterval, databaseUrl,
        storeModelInDb, databasePoolSize, false);
  }

  public GeneralSettings(Secret masterKey, String keyHeaderName, long maxRequestSizeBytes,
      boolean backgroundHealthChecks, java.time.Duration healthCheckInterval) {
    this(masterKey, keyHeaderName, maxRequestSizeBytes, backgroundHealthChecks, healthCheckInterval, null, null,
        null);
  }

  public GeneralSettings(Secret masterKey, String keyHeaderName, long maxRequestSizeBytes) {
    this(masterKey, keyHeaderName, maxRequestSizeBytes, false, DEFAULT_HEALTH_CHECK_INTERVAL);
  }

  public static final long DEFAULT_MAX_REQUEST_SIZE = 32L * 1024 * 1024;

  public GeneralSettings {
    if (maxRequestSizeBytes <= 0) {
      throw new IllegalArgumentException("max_request_size_mb: " + maxRequestSizeBytes + " (expected: > 0)");
    }
  }

  public static GeneralSettings defaults() {
    return new GeneralSettings(null, null, DEFAULT_MAX_REQUEST_SIZE);
  }
}
