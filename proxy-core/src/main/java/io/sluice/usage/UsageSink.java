package io.sluice.usage;

/**
 * Port: where the data plane hands each request's {@link UsageEvent} (the spend-log writer in the admin plane).
 * Called on an event loop: {@link #offer} must never block; a full queue refuses, and the implementation counts and
 * logs what it refused.
 */
public interface UsageSink {
  /** Queues {@code event}; false when it was dropped (queue full, or the sink closed). Never blocks. */
  boolean offer(UsageEvent event);

  /** No spend logging (no database). */
  UsageSink NONE = event -> true;
}
