package io.sluice.routing;

import io.sluice.config.DeploymentConfig;
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

  private DeploymentRegistry(Map<String, ModelGroup> groups) {
    this.groups = groups;
  }

  public static DeploymentRegistry of(List<DeploymentConfig> configs) {
    Map<String, List<Deployment>> byName = new LinkedHashMap<>();
    for (DeploymentConfig c : configs) {
      byName.computeIfAbsent(c.modelName(), k -> new ArrayList<>()).add(new Deployment(c));
    }
    Map<String, ModelGroup> groups = new LinkedHashMap<>();
    byName.forEach((name, ds) -> groups.put(name, new ModelGroup(name, ds)));
    return new DeploymentRegistry(Collections.unmodifiableMap(groups));
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
