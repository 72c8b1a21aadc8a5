package io.sluice.upstream;

import io.sluice.routing.Endpoint;

/** No connection to a replica could be had within the pool's limits. */
public final class PoolExhaustedException extends Exception {
  private static final long serialVersionUID = 1L;

  PoolExhaustedException(Endpoint endpoint, int max, long waitedMillis) {
    super("all " + max + " connections to " + endpoint + " from this event loop are busy"
        + (waitedMillis > 0 ? " (waited " + waitedMillis + " ms)" : ""), null, false, false);
  }
}
