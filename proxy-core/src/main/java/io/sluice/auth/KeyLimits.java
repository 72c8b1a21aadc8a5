package io.sluice.auth;

import java.time.Instant;

/**
 * Limits and spend as stored for a key, a user or a team; null = no limit. Enforced by the limits layer, carried in
 * the {@link KeyRecord} so one lookup serves authentication and limiting.
 *
 * @param tpmLimit            tokens per minute
 * @param rpmLimit            requests per minute
 * @param maxParallelRequests requests in flight at once
 * @param maxBudget           spend ceiling in USD
 * @param spend               spend so far in USD (this budget period), as last read from the database
 * @param budgetResetAt       when the budget next resets ({@code budget_reset_at}), or null for never
 */
public record KeyLimits(Long tpmLimit, Long rpmLimit, Integer maxParallelRequests, Double maxBudget, double spend,
    Instant budgetResetAt) {
  public static final KeyLimits NONE = new KeyLimits(null, null, null, null, 0, null);

  /** Without a budget reset. */
  public KeyLimits(Long tpmLimit, Long rpmLimit, Integer maxParallelRequests, Double maxBudget, double spend) {
    this(tpmLimit, rpmLimit, maxParallelRequests, maxBudget, spend, null);
  }

  /** Whether any limit is set. */
  public boolean limited() {
    return tpmLimit != null || rpmLimit != null || maxParallelRequests != null || maxBudget != null;
  }
}
