package io.sluice.metrics;

import java.io.IOException;
import java.io.OutputStream;

/**
 * Renders the gateway's metrics for {@code GET /metrics} (the port; the Prometheus bridge in {@code proxy-server}
 * implements it). Called off the event loops, one scrape at a time per caller.
 */
public interface MetricsExposition {
  /** The response's {@code Content-Type}. */
  String contentType();

  /** Writes every metric, in the text format named by {@link #contentType()}. */
  void write(OutputStream out) throws IOException;
}
