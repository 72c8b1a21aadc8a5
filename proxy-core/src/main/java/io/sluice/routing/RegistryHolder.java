package io.sluice.routing;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.RouterSettings;
import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The current {@link DeploymentRegistry}; a volatile read on the hot path, an atomic swap on change.
 *
 * <p>Two things change it, and both go through here so neither undoes the other: the deployment list
 * ({@link #rebuild}: config.yaml plus the admin API's stored ones) and the replicas a {@link ReplicaDiscovery} finds
 * for {@code k8s://} templates ({@link #replicas}). Each change builds a new snapshot from both, keeping every
 * unchanged deployment (its health, load and in-flight requests) as it was. Writers are serialised; readers never
 * wait.
 *
 * <p>It also holds the clock of every decision about its replicas' state ({@link #nanoTime}): cooldowns, health
 * failures, rate-limit windows at routing, the state the metrics, {@code /health} and the UI report. The process
 * uses {@link System#nanoTime}; a test passes its own and moves time instead of sleeping through a cooldown.
 * Latency measurements stay on {@link System#nanoTime}, and so do the token counts a request adds at its end (the
 * same clock unless a test gave its own).
 */
public final class RegistryHolder {
  private volatile DeploymentRegistry current;
  private List<DeploymentConfig> configs;
  private RouterSettings router;
  private final Map<String, List<URI>> replicas = new HashMap<>();

  private final java.util.function.LongSupplier nanos;

  public RegistryHolder(DeploymentRegistry initial) {
    this.current = Objects.requireNonNull(initial);
    this.nanos = System::nanoTime;
  }

  /** Built from {@code configs}; {@link #replicas} can fill its discovered templates later. */
  public RegistryHolder(List<DeploymentConfig> configs, RouterSettings router) {
    this(configs, router, System::nanoTime);
  }

  /** As above, its replicas' state judged on {@code nanos} (a test's clock). */
  public RegistryHolder(List<DeploymentConfig> configs, RouterSettings router, java.util.function.LongSupplier nanos) {
    this.configs = List.copyOf(configs);
    this.router = router;
    this.current = DeploymentRegistry.of(configs, router);
    this.nanos = Objects.requireNonNull(nanos);
  }

  /** Now, for decisions about the replicas' state: {@link System#nanoTime} unless a test gave its own clock. */
  public long nanoTime() {
    return nanos.getAsLong();
  }

  public DeploymentRegistry get() {
    return current;
  }

  public synchronized void set(DeploymentRegistry next) {
    this.current = Objects.requireNonNull(next);
  }

  /** A new deployment list (discovered templates expanded with the replicas known for them). */
  public synchronized void rebuild(List<DeploymentConfig> next, RouterSettings routerSettings) {
    this.configs = List.copyOf(next);
    this.router = routerSettings;
    current = DeploymentRegistry.of(configs, router, current, Map.copyOf(replicas));
  }

  /**
   * The ready replicas of discovered template {@code templateId}, the whole set (base URLs); replaces the previous
   * set. Replicas still in it keep their deployment object, so their in-flight requests are untouched; the ones
   * left out get no new requests (the ones they are serving run to their end). Any thread but an event loop's.
   */
  public synchronized void replicas(String templateId, List<URI> bases) {
    replicas.put(templateId, List.copyOf(bases));
    if (configs != null) {
      current = DeploymentRegistry.of(configs, router, current, Map.copyOf(replicas));
    }
  }

  /** The deployment list last given to {@link #rebuild} or the constructor; empty when built from a snapshot. */
  public synchronized List<DeploymentConfig> configs() {
    return configs == null ? List.of() : configs;
  }
}
