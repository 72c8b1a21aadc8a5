package io.sluice.routing;

/** {@code router_settings.routing_strategy}, the ones Sluice implements. */
public enum Strategy {
  /** LiteLLM's default: weighted random by weight, else rpm, else tpm. */
  SIMPLE_SHUFFLE("simple-shuffle"),
  /** Fewest requests in flight from this node, power of two choices. */
  LEAST_BUSY("least-busy"),
  /** Fewest tokens served in the last minute (LiteLLM's usage-based-routing), power of two choices. */
  USAGE_BASED("usage-based-routing"),
  /** Lowest recent time to first byte (an exponentially weighted average), power of two choices. */
  LATENCY_BASED("latency-based-routing"),
  /** Sluice's: lowest vLLM load from each replica's /metrics (scraped every second) plus in-flight requests. */
  VLLM_LOAD("vllm-load"),
  /**
   * Sluice's: the replica that prompt-prefix (or session) rendezvous hashing ranks first, skipping replicas above
   * the bounded-load limit ({@link ModelGroup#chooseAffine}). The same on every node, with nothing shared.
   */
  PREFIX_AFFINITY("prefix-affinity");

  private final String wireName;

  Strategy(String wireName) {
    this.wireName = wireName;
  }

  public String wireName() {
    return wireName;
  }

  /** The strategy for a configured name; null when Sluice does not implement it (yet). */
  public static Strategy of(String name) {
    for (Strategy s : values()) {
      if (s.wireName.equals(name)) {
        return s;
      }
    }
    if ("usage-based-routing-v2".equals(name)) {
      return USAGE_BASED; // LiteLLM's Redis-backed variant; the same choice per node here
    }
    return null;
  }
}
