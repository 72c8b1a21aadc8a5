package io.sluice.usage;

/**
 * Port: where the data plane hands each request's {@link UsageEvent} (the spend-log writer in the admin plane).
 * Called on an event loop: {@link #offer} must never block; a full queue refuses, and the implementation counts and
 * logs what it refused.
 */
public interface UsageSink {
  /** Queues {@code event}; false when it was dropped (queue full, or the sink closed). Never blocks. */
  boolean offer(UsageEvent event);

  /**
   * Runs the sink's real write path on {@code events} and keeps none of them: the start-up warm-up's, so the JIT
   * compiles the spend path before readiness rather than under the first real traffic. Blocking (never on an event
   * loop); throws what the write would (the warm-up then stops rehearsing).
   *
   * @return how many rows the write would have stored (0: nothing to rehearse, as here)
   */
  default int rehearse(java.util.Collection<UsageEvent> events) {
    return 0;
  }

  /** No spend logging (no database). */
  UsageSink NONE = event -> true;
}
