package io.sluice.routing;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.Wildcards;
import io.sluice.config.RouterSettings;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An immutable snapshot of every routable deployment, grouped by public model name in configuration order.
 * Changes build a new snapshot that is swapped in atomically (see {@link RegistryHolder}), so the hot path reads
 * without locks.
 */
public final class DeploymentRegistry {
  private final Map<String, ModelGroup> groups;
  private final Map<String, List<String>> fallbacks;
  /** Groups whose name is a wildcard pattern, most specific first (then in configuration order). */
  private final List<ModelGroup> wildcards;
  private final io.sluice.config.AffinitySettings affinity;
  /** Whether requests need an affinity key: prefix-affinity, or vllm-load with its affinity tie-break. */
  private final boolean keyed;

  private final Map<String, List<String>> contextWindowFallbacks;
  private final boolean limitsEnforced;

  private DeploymentRegistry(Map<String, ModelGroup> groups, Map<String, List<String>> fallbacks,
      RouterSettings router, boolean limitsEnforced) {
    this.contextWindowFallbacks = router.contextWindowFallbacks();
    this.limitsEnforced = limitsEnforced;
    this.groups = groups;
    this.fallbacks = fallbacks;
    this.affinity = router.affinity();
    Strategy s = Strategy.of(router.routingStrategy());
    this.keyed = s == Strategy.PREFIX_AFFINITY || s == Strategy.VLLM_LOAD && affinity.vllmLoadTieBreak();
    List<ModelGroup> w = new ArrayList<>();
    for (ModelGroup g : groups.values()) {
      if (Wildcards.isPattern(g.name())) {
        w.add(g);
      }
    }
    w.sort(java.util.Comparator.comparingInt((ModelGroup g) -> -Wildcards.specificity(g.name())));
    this.wildcards = List.copyOf(w);
  }

  public static DeploymentRegistry of(List<DeploymentConfig> configs) {
    return of(configs, RouterSettings.defaults());
  }

  /** With the router's cooldown policy for every deployment and its fallbacks between groups. */
  public static DeploymentRegistry of(List<DeploymentConfig> configs, RouterSettings router) {
    return of(configs, router, null);
  }

  /**
   * A new snapshot that keeps, from {@code previous}, every deployment whose configuration did not change — with
   * its health, cooldown and load — so adding or removing one deployment (the admin API) disturbs no other.
   */
  public static DeploymentRegistry of(List<DeploymentConfig> configs, RouterSettings router,
      DeploymentRegistry previous) {
    return of(configs, router, previous, Map.of());
  }

  /**
   * As {@link #of(List, RouterSettings, DeploymentRegistry)}, with each discovered template ({@code k8s://}) replaced
   * by one deployment per base URL in {@code replicas} (keyed by the template's id; none known yet = none). The
   * group of a template exists even with no replica, so its clients get "no healthy deployment", not "unknown
   * model".
   */
  public static DeploymentRegistry of(List<DeploymentConfig> configs, RouterSettings router,
      DeploymentRegistry previous, Map<String, List<java.net.URI>> replicas) {
    Map<String, Deployment> old = new java.util.HashMap<>();
    if (previous != null) {
      for (ModelGroup g : previous.groups()) {
        for (Deployment d : g.deployments()) {
          old.put(d.id(), d);
        }
      }
    }
    Map<String, List<Deployment>> byName = new LinkedHashMap<>();
    List<DeploymentConfig> expanded = new ArrayList<>();
    for (DeploymentConfig c : configs) {
      if (!c.discovered()) {
        expanded.add(c);
        continue;
      }
      byName.computeIfAbsent(c.modelName(), k -> new ArrayList<>());
      for (java.net.URI base : replicas.getOrDefault(c.id(), List.of())) {
        expanded.add(c.replicaAt(base));
      }
    }
    for (DeploymentConfig c : expanded) {
      Deployment kept = old.get(c.id());
      Deployment d = kept != null && kept.config().equals(c) ? kept
          : new Deployment(c, new DeploymentHealth(router.allowedFails(), router.cooldownTime()));
      byName.computeIfAbsent(c.modelName(), k -> new ArrayList<>()).add(d);
    }
    Map<String, ModelGroup> groups = new LinkedHashMap<>();
    boolean enforce = router.deploymentLimitsEnforced();
    byName.forEach((name, ds) -> groups.put(name, new ModelGroup(name, ds, enforce)));
    return new DeploymentRegistry(Collections.unmodifiableMap(groups), router.fallbacks(), router, enforce);
  }

  /** {@code router_settings.prefix_affinity}. */
  public io.sluice.config.AffinitySettings affinity() {
    return affinity;
  }

  /**
   * Whether the routing strategy chooses by an affinity key (session header, {@code user}, prompt prefix): only
   * then does the body step hash the prompt.
   */
  public boolean keyed() {
    return keyed;
  }

  /** The groups to try, in order, when {@code group} cannot serve a request; empty when none. */
  /** {@code router_settings.context_window_fallbacks} of {@code group}, in order; empty when none. */
  public List<String> contextWindowFallbacks(String group) {
    return contextWindowFallbacks.getOrDefault(group, List.of());
  }

  /** Whether deployments' {@code rpm}/{@code tpm} are limits (see {@code RouterSettings#deploymentLimitsEnforced}). */
  public boolean limitsEnforced() {
    return limitsEnforced;
  }

  public List<String> fallbacks(String group) {
    return fallbacks.getOrDefault(group, List.of());
  }

  /** The deployment with {@code model_info.id} {@code id}, or null. */
  public Deployment deployment(String id) {
    for (ModelGroup g : groups.values()) {
      for (Deployment d : g.deployments()) {
        if (d.id().equals(id)) {
          return d;
        }
      }
    }
    return null;
  }

  /**
   * The deployment whose {@link Deployment#responseTag()} is {@code tag} (the replica that made a stored response),
   * or null when none is configured now.
   */
  public Deployment byResponseTag(String tag) {
    for (ModelGroup g : groups.values()) {
      for (Deployment d : g.deployments()) {
        if (d.responseTag().equals(tag)) {
          return d;
        }
      }
    }
    return null;
  }

  /**
   * The group for a public model name: the group of that name, else the most specific wildcard group whose pattern
   * matches it ({@code hosted_vllm/*}, {@code *}); null when none does.
   */
  public ModelGroup group(String modelName) {
    ModelGroup g = groups.get(modelName);
    if (g != null || wildcards.isEmpty()) {
      return g;
    }
    for (ModelGroup w : wildcards) {
      if (Wildcards.match(w.name(), modelName) != null) {
        return w;
      }
    }
    return null;
  }

  /** Every group, in configuration order. */
  public Iterable<ModelGroup> groups() {
    return groups.values();
  }

  public int size() {
    return groups.size();
  }
}
