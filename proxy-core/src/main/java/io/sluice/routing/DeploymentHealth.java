package io.sluice.routing;

import java.time.Duration;

/**
 * Passive health of one replica, shared by every event loop: {@code allowed_fails} failures (connect error, reset
 * before a response, 5xx, timeout) within a minute cool it down for {@code cooldown_time}, during which routing
 * skips it (LiteLLM's router cooldown). Thread-safe; the hot-path read is one volatile load.
 */
public final class DeploymentHealth {
  private static final long WINDOW = Duration.ofMinutes(1).toNanos();

  private final int allowedFails;
  private final long cooldownNanos;
  private final long[] failures;
  private int next;
  private volatile long coolUntil;
  private volatile boolean cooling;
  private final java.util.concurrent.atomic.AtomicLong cooldowns = new java.util.concurrent.atomic.AtomicLong();
  /** When the last failure was recorded ({@link System#nanoTime()}), or {@link Long#MIN_VALUE}. */
  private volatile long lastFailure = Long.MIN_VALUE;

  public DeploymentHealth(int allowedFails, Duration cooldown) {
    this.allowedFails = allowedFails;
    this.cooldownNanos = cooldown.toNanos();
    this.failures = new long[allowedFails];
    java.util.Arrays.fill(failures, Long.MIN_VALUE);
  }

  /** True while the replica is cooling down at {@code now} ({@link System#nanoTime()}). */
  public boolean coolingAt(long now) {
    return cooling && now - coolUntil < 0;
  }

  /** Nanoseconds until the cooldown ends, 0 when not cooling. */
  public long remainingNanos(long now) {
    return coolingAt(now) ? coolUntil - now : 0;
  }

  /** An active probe failed: cool down now, whatever the failure count. */
  public synchronized void probeFailed(long now) {
    if (!coolingAt(now)) {
      cooldowns.incrementAndGet();
    }
    coolUntil = now + cooldownNanos;
    cooling = true;
  }

  /** An active probe passed: a cooled replica takes traffic again without waiting out its cooldown. */
  public synchronized void probePassed() {
    cooling = false;
  }

  /** Records a failure at {@code now}; returns true if it started a cooldown. */
  public synchronized boolean failure(long now) {
    lastFailure = now;
    failures[next] = now;
    next = (next + 1) % allowedFails;
    long oldest = failures[next]; // the failure allowed_fails - 1 failures ago
    if (oldest != Long.MIN_VALUE && now - oldest <= WINDOW && !coolingAt(now)) {
      coolUntil = now + cooldownNanos;
      cooling = true;
      cooldowns.incrementAndGet();
      java.util.Arrays.fill(failures, Long.MIN_VALUE);
      return true;
    }
    return false;
  }

  /** Cooldowns started since this replica joined routing. */
  public long cooldowns() {
    return cooldowns.get();
  }

  /**
   * LiteLLM's {@code litellm_deployment_state}: 2 (complete outage) while cooling down, 1 (partial outage) when a
   * failure was recorded within the last minute, else 0 (healthy).
   */
  public int state(long now) {
    if (coolingAt(now)) {
      return 2;
    }
    long f = lastFailure;
    return f != Long.MIN_VALUE && now - f <= WINDOW ? 1 : 0;
  }
}
