package io.sluice.routing;

import io.sluice.config.DeploymentConfig;
import java.net.URI;
import java.util.List;
import java.util.function.Consumer;

/**
 * Port: finds the replicas behind a discovered deployment template ({@code api_base: k8s://SERVICE.NAMESPACE:PORT/v1},
 * {@link DeploymentConfig#discovered()}). The Kubernetes adapter lives in proxy-server; tests use fakes.
 */
public interface ReplicaDiscovery extends AutoCloseable {
  /**
   * Starts watching {@code template}'s service and calls {@code onChange} with the base URL of every ready replica
   * ({@code http://POD_IP:PORT/path}) — the whole set, each time it changes, first as soon as it is known. Calls
   * come from the adapter's own thread, never an event loop's, one at a time per template.
   */
  void watch(DeploymentConfig template, Consumer<List<URI>> onChange);

  /** Stops every watch. */
  @Override
  void close();
}
