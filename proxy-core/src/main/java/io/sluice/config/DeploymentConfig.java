package io.sluice.config;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;

/**
 * One {@code model_list[]} entry: a replica that serves a model group.
 *
 * @param modelName     {@code model_name}, the public model group name clients send
 * @param provider      from the {@code litellm_params.model} prefix
 * @param upstreamModel text after the prefix: the {@code model} sent to the replica
 * @param apiBase       {@code litellm_params.api_base}, absolute http(s) URI, normally ending in {@code /v1};
 *                      no trailing slash
 * @param apiKey        {@code litellm_params.api_key} after {@code os.environ/} resolution; null = none sent
 * @param rpm           {@code litellm_params.rpm} or null
 * @param tpm           {@code litellm_params.tpm} or null
 * @param weight        {@code litellm_params.weight} or null
 * @param timeout       {@code litellm_params.timeout} (seconds in YAML) or null
 * @param id            {@code model_info.id}; when absent, a stable id derived from the entry (never from the key)
 * @param order         {@code litellm_params.order}: priority tier, lower first; null = after every ordered tier
 * @param inputCostPerToken  USD per prompt token ({@code model_info} or {@code litellm_params}
 *                           {@code input_cost_per_token}); null = 0
 * @param outputCostPerToken USD per completion token; null = 0
 * @param modelInfo     the entry's {@code model_info} as written (custom fields kept, shown by {@code /model/info});
 *                      never null, unmodifiable
 * @param maxParallelRequests {@code litellm_params.max_parallel_requests}: requests this node sends the replica at
 *                      once; at it, the replica is saturated and fair admission queues new requests in Sluice (issue
 *                      20 §2); null = no limit
 */
public record DeploymentConfig(
    String modelName,
    Provider provider,
    String upstreamModel,
    URI apiBase,
    Secret apiKey,
    Integer rpm,
    Integer tpm,
    Double weight,
    Duration timeout,
    String id,
    Integer order,
    Double inputCostPerToken,
    Double outputCostPerToken,
    java.util.Map<String, Object> modelInfo,
    Integer maxParallelRequests) {

  /** Without {@code max_parallel_requests}. */
  public DeploymentConfig(String modelName, Provider provider, String upstreamModel, URI apiBase, Secret apiKey,
      Integer rpm, Integer tpm, Double weight, Duration timeout, String id, Integer order, Double inputCostPerToken,
      Double outputCostPerToken, java.util.Map<String, Object> modelInfo) {
    this(modelName, provider, upstreamModel, apiBase, apiKey, rpm, tpm, weight, timeout, id, order, inputCostPerToken,
        outputCostPerToken, modelInfo, null);
  }

  /** Without a {@code model_info} beyond the fields above. */
  public DeploymentConfig(String modelName, Provider provider, String upstreamModel, URI apiBase, Secret apiKey,
      Integer rpm, Integer tpm, Double weight, Duration timeout, String id, Integer order, Double inputCostPerToken,
      Double outputCostPerToken) {
    this(modelName, provider, upstreamModel, apiBase, apiKey, rpm, tpm, weight, timeout, id, order, inputCostPerToken,
        outputCostPerToken, java.util.Map.of());
  }

  /**
   * {@code model_info.access_groups}: names a key's or team's {@code models} may hold to allow this deployment's
   * group (LiteLLM's model access groups).
   */
  public java.util.Set<String> accessGroups() {
    Object g = modelInfo.get("access_groups");
    if (!(g instanceof java.util.List<?> list)) {
      return java.util.Set.of();
    }
    java.util.Set<String> out = new java.util.HashSet<>();
    for (Object o : list) {
      if (o instanceof String str) {
        out.add(str);
      }
    }
    return out;
  }

  /** Without costs. */
  public DeploymentConfig(String modelName, Provider provider, String upstreamModel, URI apiBase, Secret apiKey,
      Integer rpm, Integer tpm, Double weight, Duration timeout, String id, Integer order) {
    this(modelName, provider, upstreamModel, apiBase, apiKey, rpm, tpm, weight, timeout, id, order, null, null);
  }

  /** Without a priority tier. */
  public DeploymentConfig(String modelName, Provider provider, String upstreamModel, URI apiBase, Secret apiKey,
      Integer rpm, Integer tpm, Double weight, Duration timeout, String id) {
    this(modelName, provider, upstreamModel, apiBase, apiKey, rpm, tpm, weight, timeout, id, null);
  }

  /**
   * True when {@code api_base} names a Kubernetes service ({@code k8s://SERVICE.NAMESPACE:PORT/path}) instead of a
   * replica: the entry is a template, and its replicas are the service's ready pods, found at run time.
   */
  public boolean discovered() {
    return "k8s".equalsIgnoreCase(apiBase.getScheme());
  }

  /**
   * A replica of this template at {@code base} ({@code http://POD_IP:PORT/path}): the same entry with its own
   * {@code api_base} and the id {@code <template id>@<host:port>}, stable for as long as the pod keeps its address.
   */
  public DeploymentConfig replicaAt(URI base) {
    return new DeploymentConfig(modelName, provider, upstreamModel, base, apiKey, rpm, tpm, weight, timeout,
        id + "@" + base.getRawAuthority(), order, inputCostPerToken, outputCostPerToken, modelInfo,
        maxParallelRequests);
  }

  public DeploymentConfig {
    Objects.requireNonNull(modelName, "modelName");
    Objects.requireNonNull(provider, "provider");
    Objects.requireNonNull(upstreamModel, "upstreamModel");
    Objects.requireNonNull(apiBase, "apiBase");
    Objects.requireNonNull(id, "id");
    if (maxParallelRequests != null && maxParallelRequests < 1) {
      throw new IllegalArgumentException("max_parallel_requests: " + maxParallelRequests + " (expected: >= 1)");
    }
    modelInfo = modelInfo == null ? java.util.Map.of() : java.util.Collections.unmodifiableMap(
        new java.util.LinkedHashMap<>(modelInfo));
  }
}
