package io.sluice.config;

import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@code router_settings}: the subset Sluice reads.
 *
 * @param routingStrategy {@code routing_strategy}
 * @param timeout         {@code timeout} (seconds) or null
 * @param numRetries      {@code num_retries}: attempts on other replicas of the group after the first fails before
 *                        any response byte (default 2, LiteLLM's)
 * @param allowedFails    {@code allowed_fails}: failures within a minute that cool a replica down (default 3)
 * @param cooldownTime    {@code cooldown_time}: how long a cooled replica gets no traffic (default 5 s)
 * @param fallbacks       {@code fallbacks}: model group → groups to try, in order, when it has no healthy replica
 *                        or exhausted its retries
 * @param streamTimeout   {@code stream_timeout}: longest silence of a replica once its response started, or null
 * @param contextWindowFallbacks {@code context_window_fallbacks}: model group → groups to try, in order, when a
 *                        replica answers that the request exceeds its context window
 * @param enforceModelRateLimits {@code enforce_model_rate_limits} (router or litellm settings): each deployment's
 *                        {@code litellm_params.rpm}/{@code tpm} is a limit (a deployment over it is skipped), whatever
 *                        the routing strategy; with {@code usage-based-routing(-v2)} they are limits anyway
 * @param affinity        {@code prefix_affinity}: Sluice's settings for {@code prefix-affinity}
 * @param admission       {@code fair_admission}: Sluice's queue in front of saturated groups
 */
public record RouterSettings(String routingStrategy, Duration timeout, int numRetries, int allowedFails,
    Duration cooldownTime, Map<String, List<String>> fallbacks, Duration streamTimeout,
    Map<String, List<String>> contextWindowFallbacks, boolean enforceModelRateLimits, AffinitySettings affinity,
    AdmissionSettings admission) {
  public static final int DEFAULT_NUM_RETRIES = 2;
  public static final int DEFAULT_ALLOWED_FAILS = 3;
  public static final Duration DEFAULT_COOLDOWN = Duration.ofSeconds(5);

  public RouterSettings {
    if (numRetries < 0) {
      throw new IllegalArgumentException("num_retries: " + numRetries + " (expected: >= 0)");
    }
    if (allowedFails < 1) {
      throw new IllegalArgumentException("allowed_fails: " + allowedFails + " (expected: >= 1)");
    }
    fallbacks = Map.copyOf(fallbacks);
    contextWindowFallbacks = contextWindowFallbacks == null ? Map.of() : Map.copyOf(contextWindowFallbacks);
    if (affinity == null) {
      affinity = AffinitySettings.defaults();
    }
    if (admission == null) {
      admission = AdmissionSettings.defaults();
    }
  }

  /** With the default {@code fair_admission} settings. */
  public RouterSettings(String routingStrategy, Duration timeout, int numRetries, int allowedFails,
      Duration cooldownTime, Map<String, List<String>> fallbacks, Duration streamTimeout,
      Map<String, List<String>> contextWindowFallbacks, boolean enforceModelRateLimits, AffinitySettings affinity) {
    this(routingStrategy, timeout, numRetries, allowedFails, cooldownTime, fallbacks, streamTimeout,
        contextWindowFallbacks, enforceModelRateLimits, affinity, null);
  }

  /** Without context window fallbacks, deployment limits per the strategy only, default {@code prefix_affinity}. */
  public RouterSettings(String routingStrategy, Duration timeout, int numRetries, int allowedFails,
      Duration cooldownTime, Map<String, List<String>> fallbacks, Duration streamTimeout) {
    this(routingStrategy, timeout, numRetries, allowedFails, cooldownTime, fallbacks, streamTimeout, Map.of(), false,
        null);
  }

  /** With the default {@code prefix_affinity} settings. */
  public RouterSettings(String routingStrategy, Duration timeout, int numRetries, int allowedFails,
      Duration cooldownTime, Map<String, List<String>> fallbacks, Duration streamTimeout,
      Map<String, List<String>> contextWindowFallbacks, boolean enforceModelRateLimits) {
    this(routingStrategy, timeout, numRetries, allowedFails, cooldownTime, fallbacks, streamTimeout,
        contextWindowFallbacks, enforceModelRateLimits, null);
  }

  /** Without context window fallbacks, deployment limits per the strategy only. */
  public RouterSettings(String routingStrategy, Duration timeout, int numRetries, int allowedFails,
      Duration cooldownTime, Map<String, List<String>> fallbacks, Duration streamTimeout, AffinitySettings affinity) {
    this(routingStrategy, timeout, numRetries, allowedFails, cooldownTime, fallbacks, streamTimeout, Map.of(), false,
        affinity);
  }

  /**
   * Whether deployments' {@code rpm}/{@code tpm} are enforced: where LiteLLM enforces them — its usage-based routing
   * (lowest_tpm_rpm_v2.py filters deployments over their limits) and, for every strategy, its
   * {@code enforce_model_rate_limits} pre-call check (router_utils/pre_call_checks/model_rate_limit_check.py).
   */
  public boolean deploymentLimitsEnforced() {
    return enforceModelRateLimits || "usage-based-routing".equals(routingStrategy)
        || "usage-based-routing-v2".equals(routingStrategy);
  }

  public static RouterSettings defaults() {
    return new RouterSettings("simple-shuffle", null, DEFAULT_NUM_RETRIES, DEFAULT_ALLOWED_FAILS, DEFAULT_COOLDOWN,
        Map.of(), null);
  }
}
