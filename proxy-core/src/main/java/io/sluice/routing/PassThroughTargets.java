package io.sluice.routing;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.PassThroughEndpoint;
import io.sluice.config.PassThroughSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where pass-through requests go. Each configured endpoint's target, and {@code VLLM_API_BASE}, is a one-replica
 * group of its own (so the relay pools, times out and cools it down like any replica); the {@code /vllm/*} default
 * can instead be a {@code model_list} deployment marked {@code use_in_pass_through} (looked up in the current
 * registry, so a config reload or an admin change is seen). Immutable apart from a one-entry cache.
 */
public final class PassThroughTargets {
  public static final PassThroughTargets NONE = of(PassThroughSettings.NONE, RouterSettings.defaults());

  private final PassThroughSettings settings;
  private final Map<String, ModelGroup> byPath;
  private final ModelGroup vllmApiBase;
  private volatile ModelGroup single;

  private PassThroughTargets(PassThroughSettings settings, Map<String, ModelGroup> byPath, ModelGroup vllmApiBase) {
    this.settings = settings;
    this.byPath = byPath;
    this.vllmApiBase = vllmApiBase;
  }

  public static PassThroughTargets of(PassThroughSettings s, RouterSettings router) {
    Map<String, ModelGroup> byPath = new HashMap<>();
    for (PassThroughEndpoint e : s.endpoints()) {
      String name = "pass-through " + e.path();
      DeploymentConfig c = new DeploymentConfig(name, Provider.OPENAI, "-", e.target(), null, null, null, null, null,
          "pass-through:" + e.path());
      byPath.put(e.path(), new ModelGroup(name, List.of(new Deployment(c,
          new DeploymentHealth(router.allowedFails(), router.cooldownTime())))));
    }
    ModelGroup base = null;
    if (s.vllmApiBase() != null) {
      DeploymentConfig c = new DeploymentConfig("VLLM_API_BASE", Provider.HOSTED_VLLM, "-", s.vllmApiBase(),
          s.vllmApiKey(), null, null, null, null, "VLLM_API_BASE");
      base = new ModelGroup("VLLM_API_BASE", List.of(new Deployment(c,
          new DeploymentHealth(router.allowedFails(), router.cooldownTime()))));
    }
    return new PassThroughTargets(s, Map.copyOf(byPath), base);
  }

  public PassThroughSettings settings() {
    return settings;
  }

  public List<PassThroughEndpoint> endpoints() {
    return settings.endpoints();
  }

  /** The target of a configured endpoint. */
  public ModelGroup endpoint(PassThroughEndpoint e) {
    return byPath.get(e.path());
  }

  /**
   * The {@code /vllm/*} target when the body names no model group: the {@code use_in_pass_through} deployment, else
   * {@code VLLM_API_BASE}; null when neither is configured.
   */
  public ModelGroup vllmDefault(DeploymentRegistry registry) {
    String id = settings.vllmDefaultDeployment();
    if (id != null) {
      Deployment d = registry.deployment(id);
      if (d != null) {
        return groupOf(d);
      }
    }
    return vllmApiBase;
  }

  /** A one-replica group for {@code d} (an explicitly chosen replica). */
  public ModelGroup groupOf(Deployment d) {
    ModelGroup g = single;
    if (g == null || g.deployments().get(0) != d) {
      g = new ModelGroup(d.modelGroup(), List.of(d));
      single = g;
    }
    return g;
  }
}
