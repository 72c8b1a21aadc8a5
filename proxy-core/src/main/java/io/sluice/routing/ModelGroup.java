package io.sluice.routing;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The deployments that serve one public model name, with LiteLLM's {@code simple-shuffle} choice precomputed:
 * weighted random by {@code weight}, else {@code rpm}, else {@code tpm}, else uniform
 * (litellm/router_strategy/simple_shuffle.py). Immutable.
 */
public final class ModelGroup {
  private final String name;
  private final List<Deployment> deployments;
  private final double[] cumulative;
  /** True when deployments set different {@code order} tiers. */
  private final boolean tiered;
  /** The {@code model_info.access_groups} of its deployments. */
  private final java.util.Set<String> accessGroups;
  /** Deployments' {@code rpm}/{@code tpm} are limits here: one at its limit is not chosen. */
  private final boolean enforceLimits;
  /** The highest {@code input_cost_per_token} / {@code output_cost_per_token} among its deployments (0 when none). */
  private final double maxInputCost;
  private final double maxOutputCost;
  /** Some deployment sets {@code max_parallel_requests} (fair admission watches the group). */
  private final boolean parallelLimits;

  /** {@code deployments} may be empty: a discovered group ({@code k8s://}) with no ready pod at the moment. */
  ModelGroup(String name, List<Deployment> deployments) {
    this(name, deployments, false);
  }

  /** With {@code enforceLimits}: deployments at their {@code rpm}/{@code tpm} are skipped. */
  ModelGroup(String name, List<Deployment> deployments, boolean enforceLimits) {
    this.enforceLimits = enforceLimits && deployments.stream().anyMatch(Deployment::hasRateLimits);
    this.parallelLimits = deployments.stream().anyMatch(d -> d.config().maxParallelRequests() != null);
    this.name = name;
    this.deployments = List.copyOf(deployments);
    this.cumulative = cumulativeWeights(this.deployments);
    this.tiered = this.deployments.stream().map(ModelGroup::order).distinct().count() > 1;
    java.util.Set<String> ag = new java.util.HashSet<>();
    for (Deployment d : this.deployments) {
      ag.addAll(d.config().accessGroups());
    }
    this.accessGroups = java.util.Set.copyOf(ag);
    double in = 0;
    double out = 0;
    for (Deployment d : this.deployments) {
      in = Math.max(in, d.inputCostPerToken());
      out = Math.max(out, d.outputCostPerToken());
    }
    this.maxInputCost = in;
    this.maxOutputCost = out;
  }

  /**
   * USD per prompt token of its most expensive deployment: what a budget reservation prices a request at, since it
   * is made before the deployment is chosen (issue 20 §3). 0 when no deployment sets a cost.
   */
  public double maxInputCostPerToken() {
    return maxInputCost;
  }

  /** USD per completion token of its most expensive deployment; see {@link #maxInputCostPerToken()}. */
  public double maxOutputCostPerToken() {
    return maxOutputCost;
  }

  private static int order(Deployment d) {
    Integer o = d.config().order();
    return o == null ? Integer.MAX_VALUE : o;
  }

  private static final int ANY_TIER = Integer.MIN_VALUE;

  /** The lowest {@code order} among usable deployments ({@link #ANY_TIER} when untiered or none is usable). */
  private int tier(java.util.List<Deployment> tried, long now) {
    if (!tiered) {
      return ANY_TIER;
    }
    int min = Integer.MAX_VALUE;
    boolean any = false;
    for (Deployment d : deployments) {
      if (available(d, now) && (tried == null || !tried.contains(d))) {
        min = Math.min(min, order(d));
        any = true;
      }
    }
    return any ? min : ANY_TIER;
  }

  /** Whether some deployment sets {@code litellm_params.max_parallel_requests}. */
  public boolean parallelLimits() {
    return parallelLimits;
  }

  public String name() {
    return name;
  }

  /** The access groups its deployments belong to ({@code model_info.access_groups}). */
  public java.util.Set<String> accessGroups() {
    return accessGroups;
  }

  public List<Deployment> deployments() {
    return deployments;
  }

  /** Picks a deployment among all (cooldown ignored); allocation-free. */
  public Deployment choose() {
    int n = deployments.size();
    if (n == 0) {
      return null;
    }
    if (n == 1) {
      return deployments.get(0);
    }
    ThreadLocalRandom rnd = ThreadLocalRandom.current();
    if (cumulative == null) {
      return deployments.get(rnd.nextInt(n));
    }
    double x = rnd.nextDouble() * cumulative[n - 1];
    for (int i = 0; i < n - 1; i++) {
      if (x < cumulative[i]) {
        return deployments.get(i);
      }
    }
    return deployments.get(n - 1);
  }

  /**
   * Picks a deployment that is not cooling down and not in {@code tried} (may be null), weighted as
   * {@link #choose()}; null when there is none. Allocation-free.
   */
  public Deployment choose(java.util.List<Deployment> tried, long now) {
    int n = deployments.size();
    int tier = tier(tried, now);
    boolean allUsable = !tiered;
    for (int i = 0; i < n && allUsable; i++) {
      Deployment d = deployments.get(i);
      allUsable = available(d, now) && (tried == null || !tried.contains(d));
    }
    if (allUsable) {
      return choose();
    }
    double total = 0;
    int usable = 0;
    for (int i = 0; i < n; i++) {
      Deployment d = deployments.get(i);
      if (usable(d, tried, now, tier)) {
        total += weightOf(i);
        usable++;
      }
    }
    if (usable == 0) {
      return null;
    }
    ThreadLocalRandom rnd = ThreadLocalRandom.current();
    double x = total > 0 ? rnd.nextDouble() * total : rnd.nextInt(usable);
    for (int i = 0; i < n; i++) {
      Deployment d = deployments.get(i);
      if (usable(d, tried, now, tier)) {
        double w = total > 0 ? weightOf(i) : 1;
        if (x < w) {
          return d;
        }
        x -= w;
      }
    }
    return null; // only reachable through rounding with all weights zero; treat as none
  }

  /**
   * Picks by {@code strategy} among deployments that are not cooling down and not in {@code tried}: weighted random
   * for simple-shuffle; for least-busy and vllm-load, the better of two picked at random (power of two choices:
   * near-best balance without every node herding to the same replica). Null when none is usable.
   */
  public Deployment choose(Strategy strategy, java.util.List<Deployment> tried, long now) {
    if (strategy == Strategy.SIMPLE_SHUFFLE) {
      return choose(tried, now);
    }
    int n = deployments.size();
    int tier = tier(tried, now);
    int usable = 0;
    for (int i = 0; i < n; i++) {
      if (usable(deployments.get(i), tried, now, tier)) {
        usable++;
      }
    }
    if (usable == 0) {
      return null;
    }
    ThreadLocalRandom rnd = ThreadLocalRandom.current();
    Deployment a = nthUsable(rnd.nextInt(usable), tried, now, tier);
    if (usable == 1) {
      return a;
    }
    int j = rnd.nextInt(usable - 1);
    Deployment b = nthUsable(j >= indexAmongUsable(a, tried, now, tier) ? j + 1 : j, tried, now, tier);
    return score(strategy, b, now) < score(strategy, a, now) ? b : a;
  }

  /**
   * As {@link #choose(Strategy, java.util.List, long)}, with the request's affinity key when it has one
   * ({@code keyed}): prefix-affinity picks by {@link #chooseAffine}; vllm-load with {@code vllm_load_tie_break}
   * takes the least loaded replica, equal loads ordered by rendezvous weight. Without a key prefix-affinity is
   * least-busy (an embeddings request has no prompt to hash). Allocation-free.
   */
  public Deployment choose(Strategy strategy, io.sluice.config.AffinitySettings affinity, boolean keyed, long key,
      java.util.List<Deployment> tried, long now) {
    if (keyed && strategy == Strategy.PREFIX_AFFINITY) {
      return chooseAffine(key, affinity, tried, now);
    }
    if (keyed && strategy == Strategy.VLLM_LOAD && affinity.vllmLoadTieBreak()) {
      return leastLoadedAffine(key, tried, now);
    }
    return choose(strategy, tried, now);
  }

  /**
   * Prefix affinity with bounded load: the usable replicas (not cooling down, not in {@code tried}, in the best
   * {@code order} tier) ranked by rendezvous weight for {@code key}; the first of them whose in-flight count, with
   * this request, stays within {@code ceil((1 + ε) × (in flight + 1) / usable)} (consistent hashing with bounded
   * loads, Mirrokni, Thorup and Zadimoghaddam, SODA 2018) or is below {@code load_floor}, and whose scraped vLLM
   * queue and KV-cache usage are within the configured thresholds. When every one is over, the least loaded (first in rank among equals). Null when none
   * is usable. In-flight counts are this node's: below the bound every node chooses alike. Allocation-free;
   * O(usable²) weight computations at worst.
   */
  public Deployment chooseAffine(long key, io.sluice.config.AffinitySettings affinity,
      java.util.List<Deployment> tried, long now) {
    int n = deployments.size();
    int tier = tier(tried, now);
    int usable = 0;
    long inFlight = 0;
    for (int i = 0; i < n; i++) {
      Deployment d = deployments.get(i);
      if (usable(d, tried, now, tier)) {
        usable++;
        inFlight += d.load().inFlight();
      }
    }
    if (usable == 0) {
      return null;
    }
    long cap = (long) Math.ceil((1 + affinity.loadFactor()) * (inFlight + 1) / usable);
    double prevScore = Double.POSITIVE_INFINITY;
    int prevIndex = -1;
    Deployment fallback = null;
    for (int round = 0; round < usable; round++) {
      int best = -1;
      double bestScore = 0;
      for (int i = 0; i < n; i++) {
        Deployment d = deployments.get(i);
        if (!usable(d, tried, now, tier)) {
          continue;
        }
        double sc = rendezvous(key, i);
        boolean after = sc < prevScore || sc == prevScore && i > prevIndex; // (score desc, index asc) order
        if (after && (best < 0 || sc > bestScore)) {
          best = i;
          bestScore = sc;
        }
      }
      Deployment d = deployments.get(best);
      if (withinBounds(d, cap, affinity)) {
        return d;
      }
      if (fallback == null || d.load().inFlight() < fallback.load().inFlight()) {
        fallback = d;
      }
      prevScore = bestScore;
      prevIndex = best;
    }
    return fallback;
  }

  private static boolean withinBounds(Deployment d, long cap, io.sluice.config.AffinitySettings a) {
    DeploymentLoad load = d.load();
    int n = load.inFlight();
    if (n + 1 > cap && n >= a.loadFloor()) {
      return false;
    }
    if (!load.hasScrape()) {
      return true;
    }
    return (a.maxWaiting() == null || load.estimatedWaiting() <= a.maxWaiting())
        && (a.maxKvCacheUsage() == null || load.kvCache() <= a.maxKvCacheUsage());
  }

  /** The least {@link DeploymentLoad#vllmScore()}; equal scores ordered by rendezvous weight for {@code key}. */
  private Deployment leastLoadedAffine(long key, java.util.List<Deployment> tried, long now) {
    int n = deployments.size();
    int tier = tier(tried, now);
    Deployment best = null;
    double bestLoad = 0;
    double bestScore = 0;
    for (int i = 0; i < n; i++) {
      Deployment d = deployments.get(i);
      if (!usable(d, tried, now, tier)) {
        continue;
      }
      double load = d.load().vllmScore();
      double sc = rendezvous(key, i);
      if (best == null || load < bestLoad || load == bestLoad && sc > bestScore) {
        best = d;
        bestLoad = load;
        bestScore = sc;
      }
    }
    return best;
  }

  /** Deployment {@code i}'s rendezvous weight for {@code key}: uniform, or by weight/rpm/tpm as simple-shuffle. */
  double rendezvous(long key, int i) {
    Deployment d = deployments.get(i);
    if (cumulative == null) {
      return Rendezvous.uniform(key, d);
    }
    double w = weightOf(i);
    return w <= 0 ? 0 : Rendezvous.weighted(key, d, w);
  }

  private static double score(Strategy s, Deployment d, long now) {
    return switch (s) {
      case VLLM_LOAD -> d.load().vllmScore();
      case LATENCY_BASED -> d.load().ttfbEwmaNanos();
      case USAGE_BASED -> d.load().tokensPerMinute(now);
      default -> d.load().inFlight();
    };
  }

  private boolean usable(Deployment d, java.util.List<Deployment> tried, long now, int tier) {
    return available(d, now) && (tried == null || !tried.contains(d))
        && (tier == ANY_TIER || order(d) == tier);
  }

  /** Not cooling down and, where limits are enforced, not at its rpm/tpm for this minute. */
  private boolean available(Deployment d, long now) {
    return !d.health().coolingAt(now) && !(enforceLimits && d.overLimit(now));
  }

  /**
   * Whether deployments at their rpm/tpm are all that keeps this group from serving now: none is available, and one
   * that is not cooling down is over its limit (then the answer is LiteLLM's 429 for rate-limited deployments).
   */
  public boolean limitedOnly(long now) {
    if (!enforceLimits) {
      return false;
    }
    boolean limited = false;
    for (Deployment d : deployments) {
      if (available(d, now)) {
        return false;
      }
      limited |= !d.health().coolingAt(now);
    }
    return limited;
  }

  private Deployment nthUsable(int k, java.util.List<Deployment> tried, long now, int tier) {
    for (Deployment d : deployments) {
      if (usable(d, tried, now, tier) && k-- == 0) {
        return d;
      }
    }
    throw new IllegalStateException("fewer usable deployments than counted");
  }

  private int indexAmongUsable(Deployment target, java.util.List<Deployment> tried, long now, int tier) {
    int k = 0;
    for (Deployment d : deployments) {
      if (d == target) {
        return k;
      }
      if (usable(d, tried, now, tier)) {
        k++;
      }
    }
    return -1;
  }

  /** Nanoseconds until the first cooling deployment recovers (0 if one is available now). */
  public long nanosUntilAvailable(long now) {
    if (deployments.isEmpty()) {
      return 0;
    }
    long min = Long.MAX_VALUE;
    for (Deployment d : deployments) {
      min = Math.min(min, d.health().remainingNanos(now));
    }
    return min;
  }

  private double weightOf(int i) {
    if (cumulative == null) {
      return 1;
    }
    return i == 0 ? cumulative[0] : cumulative[i] - cumulative[i - 1];
  }

  /** The first of weight, rpm, tpm that any deployment sets decides; null means uniform. */
  private static double[] cumulativeWeights(List<Deployment> ds) {
    for (int field = 0; field < 3; field++) {
      double[] c = new double[ds.size()];
      double sum = 0;
      for (int i = 0; i < ds.size(); i++) {
        Deployment d = ds.get(i);
        double w = switch (field) {
          case 0 -> d.weight();
          case 1 -> d.config().rpm() == null ? 0 : d.config().rpm();
          default -> d.config().tpm() == null ? 0 : d.config().tpm();
        };
        sum += w;
        c[i] = sum;
      }
      if (sum > 0) {
        return c;
      }
    }
    return null;
  }
}
