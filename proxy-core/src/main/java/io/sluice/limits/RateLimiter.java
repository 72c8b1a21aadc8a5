package io.sluice.limits;

import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * Port: per key/user/team limits — {@code rpm_limit}, {@code tpm_limit}, {@code max_parallel_requests},
 * {@code max_budget}. In-process per node ({@link LocalRateLimiter}), or shared by all nodes (Redis, Lua scripts: one
 * round-trip per request). Called on event loops: never blocks; a remote answer completes on another thread and the
 * caller hops back to its loop.
 *
 * <p>Semantics, the same for every implementation:
 * <ul>
 *   <li>rpm: requests admitted in the current one-minute window (epoch minute), per scope; admitted only if below
 *       the limit, and then counted.</li>
 *   <li>tpm: tokens reported by {@link #release} in the current window; admitted only while below the limit (the
 *       request that crosses it completes; the next one is refused).</li>
 *   <li>parallel: admitted requests not yet released; admitted only while below the limit.</li>
 *   <li>budget: max(stored spend, spend reported by {@link #release} in this budget period) below {@code max_budget}.</li>
 *   <li>All scopes are checked first and counted only if every one admits (no partial counts).</li>
 * </ul>
 */
public interface RateLimiter {
  /** Checks and counts one request against {@code scopes} (non-empty, each {@link LimitScope#limited()}). */
  CompletionStage<Admission> acquire(List<LimitScope> scopes, long nowMillis);

  /**
   * The admitted request ended: frees its parallel slots and adds its tokens (to the window of {@code nowMillis})
   * and spend (to the budget period). Fire and forget; exactly once per admitted request.
   */
  void release(List<LimitScope> scopes, long tokens, double spend, long nowMillis);

  /** Where counters live, for the README/logs: "local" or "redis". */
  String describe();
}
