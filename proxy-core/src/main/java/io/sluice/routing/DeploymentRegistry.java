package io.sluice.routing;

import io.sluice.config.DeploymentConfig;
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

  private DeploymentRegistry(Map<String, ModelGroup> groups, Map<String, List<String>> fallbacks) {
    this.groups = groups;
    this.fallbacks = fallbacks;
  }

  public static DeploymentRegistry of(List<DeploymentConfig> configs) {
    return of(configs, RouterSettings.defaults());
  }

  /** With the router's cooldown policy for every deployment and its fallbacks between groups. */
  public static DeploymentRegistry of(List<DeploymentConfig> configs, RouterSettings router) {
    Map<String, List<Deployment>> byName = new LinkedHashMap<>();
    for (DeploymentConfig c : configs) {
      byName.computeIfAbsent(c.modelName(), k -> new ArrayList<>())
          .add(new Deployment(c, new DeploymentHealth(router.allowedFails(), router.cooldownTime())));
    }
    Map<String, ModelGroup> groups = new LinkedHashMap<>();
    byName.forEach((name, ds) -> groups.put(name, new ModelGroup(name, ds)));
    return new DeploymentRegistry(Collections.unmodifiableMap(groups), router.fallbacks());
  }

  /** The groups to try, in order, when {@code group} cannot serve a request; empty when none. */
  public List<String> fallbacks(String group) {
    return fallbacks.getOrDefault(group, List.of());
  }

  /** The group for a public model name, or null. */
  public ModelGroup group(String modelName) {
    return groups.get(modelName);
  }

  /** Every group, in configuration order. */
  public Iterable<ModelGroup> groups() {
    return groups.values();
  }

  public int size() {
    return groups.size();
  }
}
