package io.sluice.routing;

import java.util.Objects;

/** The current {@link DeploymentRegistry}; a volatile read on the hot path, an atomic swap on change. */
public final class RegistryHolder {
  private volatile DeploymentRegistry current;

  public RegistryHolder(DeploymentRegistry initial) {
    this.current = Objects.requireNonNull(initial);
  }

  public DeploymentRegistry get() {
    return current;
  }

  public void set(DeploymentRegistry next) {
    this.current = Objects.requireNonNull(next);
  }
}
