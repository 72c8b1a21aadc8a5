package io.sluice.limits;

import java.util.Objects;

/**
 * One set of limits a request counts against: its key's, its user's, its team's (LiteLLM has limits on all
 * three), its user's within its team, or its end user's (the body's {@code user}, by its budget row). A null limit is no limit. Immutable; built per request from the cached key record.
 *
 * @param kind         whose limits
 * @param id           the key's SHA-256 hex, the user id, the team id or the end user id (never a key)
 * @param rpmLimit     requests per minute (fixed one-minute windows, as LiteLLM counts them)
 * @param tpmLimit     tokens per minute, counted from each response's usage when it ends
 * @param maxParallel  requests in flight at once
 * @param maxBudget    spend ceiling in USD for the current budget period
 * @param storedSpend  spend as last read from the database (the limiter's own count since then may be higher)
 * @param budgetPeriod identifies the current budget period (e.g. the epoch second of its reset), so a reset starts
 *                     a new count; "-" when the budget never resets
 * @param budgetResetEpochSecond when the budget resets, or 0 for never (for {@code Retry-After})
 */
public record LimitScope(Kind kind, String id, Long rpmLimit, Long tpmLimit, Integer maxParallel, Double maxBudget,
    double storedSpend, String budgetPeriod, long budgetResetEpochSecond) {

  public enum Kind {
    KEY("key"), USER("user"), TEAM("team"),
    /** The request body's {@code user} (LiteLLM's end user / customer), limited by its budget row. */
    END_USER("end_user"),
    /** A key's user within the key's team (LiteLLM's team membership budget, {@code max_budget_in_team}). */
    TEAM_MEMBER("team_member");

    private final String label;

    Kind(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  public LimitScope {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(id, "id");
    if (budgetPeriod == null) {
      budgetPeriod = "-";
    }
  }

  /** Whether any limit is set (a scope without limits is never sent to the limiter). */
  public boolean limited() {
    return rpmLimit != null || tpmLimit != null || maxParallel != null || maxBudget != null;
  }

  /** Whether the response's tokens or spend must be reported back ({@link RateLimiter#release}). */
  public boolean countsUsage() {
    return tpmLimit != null || maxBudget != null;
  }
}
