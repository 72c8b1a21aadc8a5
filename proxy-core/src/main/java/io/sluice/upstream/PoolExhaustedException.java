package io.sluice.upstream;

/** No connection to a replica could be had within the pool's limits. */
public final class PoolExhaustedException extends Exception {
  private static final long serialVersionUID = 1L;

  PoolExhaustedException(String message) {
    super(message, null, false, false);
  }
}
