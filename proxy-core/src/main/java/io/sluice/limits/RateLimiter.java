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
 *   <li>tpm: tokens reported by {@link #release} in the current window, plus the tokens other requests in flight
 *       hold ({@link Reservation}); admitted only if this request's reservation fits below the limit too (see
 *       {@link LimitWindows#fits}: one whose reservation alone exceeds the limit is admitted only while nothing else
 *       is held, and may cross the limit, as before reservations).</li>
 *   <li>parallel: admitted requests not yet released; admitted only while below the limit.</li>
 *   <li>budget: max(stored spend, spend reported by {@link #release} in this budget period) below
 *       {@code max_budget}, and with the spend held by requests in flight plus this one's reservation fitting
 *       within it, as for tpm.</li>
 *   <li>All scopes are checked first and counted only if every one admits (no partial counts).</li>
 *   <li>A reservation is held until the request's release, or until it expires (a node that crashed never
 *       releases): per node for {@link LocalRateLimiter} (gone with the process), per reservation with a TTL on
 *       Redis.</li>
 * </ul>
 */
public interface RateLimiter {
  /** Checks and counts one request against {@code scopes}, holding nothing ({@link Reservation#NONE}). */
  default CompletionStage<Admission> acquire(List<LimitScope> scopes, long nowMillis) {
    return acquire(scopes, Reservation.NONE, nowMillis);
  }

  /**
   * Checks and counts one request against {@code scopes} (non-empty, each {@link LimitScope#limited()}); when
   * admitted, {@code reservation} is held in every scope with a tpm limit (its tokens) or a budget (its spend).
   */
  CompletionStage<Admission> acquire(List<LimitScope> scopes, Reservation reservation, long nowMillis);

  /** {@link #release(List, Reservation, long, double, long)} of a request that held nothing. */
  default void release(List<LimitScope> scopes, long tokens, double spend, long nowMillis) {
    release(scopes, Reservation.NONE, tokens, spend, nowMillis);
  }

  /**
   * The admitted request ended: frees its parallel slots and its {@code reservation} (the one its acquire got), and
   * adds its actual tokens (to the window of {@code nowMillis}) and spend (to the budget period). Fire and forget;
   * exactly once per admitted request.
   */
  void release(List<LimitScope> scopes, Reservation reservation, long tokens, double spend, long nowMillis);

  /** Where counters live, for the README/logs: "local" or "redis". */
  String describe();
}
