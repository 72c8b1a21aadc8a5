package io.sluice.config;

import java.time.Duration;
import java.util.Map;

/**
 * {@code router_settings.fair_admission}: Sluice's queue in front of saturated model groups (issue 20 §2). Not
 * LiteLLM's setting; LiteLLM's per-deployment {@code max_parallel_requests} (a semaphore its router waits on) is what
 * marks a replica full, and the scraped vLLM thresholds here may too.
 *
 * @param enabled         {@code enabled} (default true): false sends every request on at once, as without the queue
 * @param queueTimeout    {@code queue_timeout} (seconds): longest wait in the queue before a 429 with
 *                        {@code Retry-After}; default {@code router_settings.timeout}, else 30 s
 * @param maxWaiting      {@code max_waiting}: a replica whose scraped {@code vllm:num_requests_waiting} is above this
 *                        counts as saturated; null: not checked
 * @param maxKvCacheUsage {@code max_kv_cache_usage}: the same for {@code vllm:kv_cache_usage_perc} (0–1); null: not
 *                        checked
 * @param maxQueuedBytes  {@code max_queued_bytes}: request body bytes all queued requests may hold together (default
 *                        64 MiB); a request that does not fit gets 429 at once
 * @param teamWeights     {@code team_weights}: team id → weight of its share (default 1)
 * @param keyWeights      {@code key_weights}: key alias → weight (default: its team's, else 1)
 */
public record AdmissionSettings(boolean enabled, Duration queueTimeout, Double maxWaiting, Double maxKvCacheUsage,
    long maxQueuedBytes, Map<String, Double> teamWeights, Map<String, Double> keyWeights) {
  public static final Duration DEFAULT_QUEUE_TIMEOUT = Duration.ofSeconds(30);
  public static final long DEFAULT_MAX_QUEUED_BYTES = 64L << 20;

  public AdmissionSettings {
    if (queueTimeout == null || queueTimeout.isNegative() || queueTimeout.isZero()) {
      throw new IllegalArgumentException("queue_timeout: " + queueTimeout + " (expected: > 0)");
    }
    if (maxWaiting != null && !(maxWaiting >= 0)) {
      throw new IllegalArgumentException("max_waiting: " + maxWaiting + " (expected: >= 0)");
    }
    if (maxKvCacheUsage != null && !(maxKvCacheUsage >= 0 && maxKvCacheUsage <= 1)) {
      throw new IllegalArgumentException("max_kv_cache_usage: " + maxKvCacheUsage + " (expected: 0 to 1)");
    }
    if (maxQueuedBytes < 0) {
      throw new IllegalArgumentException("max_queued_bytes: " + maxQueuedBytes + " (expected: >= 0)");
    }
    teamWeights = Map.copyOf(teamWeights == null ? Map.of() : teamWeights);
    keyWeights = Map.copyOf(keyWeights == null ? Map.of() : keyWeights);
    for (Map.Entry<String, Double> w : teamWeights.entrySet()) {
      check(w.getValue(), "team_weights." + w.getKey());
    }
    for (Map.Entry<String, Double> w : keyWeights.entrySet()) {
      check(w.getValue(), "key_weights." + w.getKey());
    }
  }

  private static void check(double w, String at) {
    if (!(w > 0) || Double.isInfinite(w)) {
      throw new IllegalArgumentException(at + ": " + w + " (expected: a number > 0)");
    }
  }

  public static AdmissionSettings defaults() {
    return new AdmissionSettings(true, DEFAULT_QUEUE_TIMEOUT, null, null, DEFAULT_MAX_QUEUED_BYTES, Map.of(),
        Map.of());
  }

  /** Whether the scraped vLLM metrics decide saturation (then the replicas' {@code /metrics} must be scraped). */
  public boolean needsScrape() {
    return enabled && (maxWaiting != null || maxKvCacheUsage != null);
  }
}
