package io.sluice.http;

/**
 * The one observer of an exchange's end, told once per exchange by {@link Exchange} — when its response's last byte
 * is written, or when the client leaves first — and, in this order: metering (tokens, spend row, limiter release;
 * only for an exchange the relay metered), then the request metrics, then the access log (each later one reads
 * what the earlier ones counted), then the trace span's end. No other handler records an exchange's end. Shared by every connection of a
 * gateway; each call runs on the exchange's event loop.
 */
final class ExchangeObserver {
  /** Null: no metrics. */
  private final RequestMetrics metrics;
  private final AccessLog accessLog;
  /** Null: tracing off. */
  private final Tracing tracing;

  ExchangeObserver(RequestMetrics metrics, AccessLog accessLog) {
    this(metrics, accessLog, null);
  }

  ExchangeObserver(RequestMetrics metrics, AccessLog accessLog, Tracing tracing) {
    this.metrics = metrics;
    this.accessLog = accessLog;
    this.tracing = tracing;
  }

  /** {@code ex} has its head (told by the guard): starts its trace span when tracing is on. */
  void started(Exchange ex) {
    if (tracing != null) {
      tracing.start(ex);
    }
  }

  /** {@code ex} is over; {@code clientGone}: the client left before its response ended. */
  void ended(Exchange ex, boolean clientGone) {
    if (ex.metering != null) {
      ex.metering.ended(ex, clientGone);
    }
    if (metrics != null) {
      metrics.ended(ex, clientGone);
    }
    accessLog.record(ex, clientGone);
    if (ex.trace != null) {
      tracing.end(ex, clientGone); // last: reads the tokens metering counted
    }
  }
}
