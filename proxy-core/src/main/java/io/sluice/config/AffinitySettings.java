package io.sluice.config;

/**
 * {@code router_settings.prefix_affinity}: Sluice's settings for {@code routing_strategy: prefix-affinity} (and for
 * the affinity tie-break of {@code vllm-load}). Not LiteLLM's; LiteLLM has no such strategy.
 *
 * @param loadFactor      {@code load_factor}, the ε of bounded-load hashing: a replica with more than
 *                        {@code ceil((1 + ε) × mean)} requests in flight from this node (counting the new one) is
 *                        skipped for the next candidate (default 0.25)
 * @param maxWaiting      {@code max_waiting}: a replica whose scraped {@code vllm:num_requests_waiting} is above this
 *                        is skipped too; null: not checked (then nothing is scraped for this strategy)
 * @param maxKvCacheUsage {@code max_kv_cache_usage}: the same for {@code vllm:kv_cache_usage_perc} (0–1); null: not
 *                        checked
 * @param sessionHeader   {@code session_header}: a request header (e.g. {@code x-session-id}) whose value pins the
 *                        request, before any prompt; null: none
 * @param useUser         {@code use_user}: the body's {@code user} pins the request when no session header does
 *                        (default false)
 * @param vllmLoadTieBreak {@code vllm_load_tie_break}: under {@code vllm-load}, replicas with equal load are ordered
 *                        by the same affinity instead of at random (default false: {@code vllm-load} as before)
 * @param loadFloor       {@code load_floor}: a replica with fewer requests than this in flight from this node is never
 *                        skipped for the in-flight bound (default 4). At a handful of requests "above the mean" means
 *                        one request more than another replica, which costs vLLM nothing, while moving the request
 *                        loses its cached prefix — and with several nodes, each counting only its own requests, the
 *                        bare bound would have them disagree most at the lowest loads.
 */
public record AffinitySettings(double loadFactor, Double maxWaiting, Double maxKvCacheUsage, String sessionHeader,
    boolean useUser, boolean vllmLoadTieBreak, int loadFloor) {
  public static final double DEFAULT_LOAD_FACTOR = 0.25;
  public static final int DEFAULT_LOAD_FLOOR = 4;

  public AffinitySettings {
    if (!(loadFactor >= 0) || Double.isInfinite(loadFactor)) {
      throw new IllegalArgumentException("load_factor: " + loadFactor + " (expected: a number >= 0)");
    }
    if (maxWaiting != null && !(maxWaiting >= 0)) {
      throw new IllegalArgumentException("max_waiting: " + maxWaiting + " (expected: >= 0)");
    }
    if (maxKvCacheUsage != null && !(maxKvCacheUsage >= 0 && maxKvCacheUsage <= 1)) {
      throw new IllegalArgumentException("max_kv_cache_usage: " + maxKvCacheUsage + " (expected: 0 to 1)");
    }
    if (loadFloor < 0) {
      throw new IllegalArgumentException("load_floor: " + loadFloor + " (expected: >= 0)");
    }
    if (sessionHeader != null && sessionHeader.isBlank()) {
      throw new IllegalArgumentException("session_header: blank (expected: a header name, or leave it out)");
    }
  }

  /** With the default {@code load_floor}. */
  public AffinitySettings(double loadFactor, Double maxWaiting, Double maxKvCacheUsage, String sessionHeader,
      boolean useUser, boolean vllmLoadTieBreak) {
    this(loadFactor, maxWaiting, maxKvCacheUsage, sessionHeader, useUser, vllmLoadTieBreak, DEFAULT_LOAD_FLOOR);
  }

  public static AffinitySettings defaults() {
    return new AffinitySettings(DEFAULT_LOAD_FACTOR, null, null, null, false, false);
  }

  /** Whether the replicas' {@code /metrics} must be scraped for the thresholds. */
  public boolean needsScrape() {
    return maxWaiting != null || maxKvCacheUsage != null;
  }
}
