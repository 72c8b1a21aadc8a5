package io.sluice.limits;

import java.util.List;

/**
 * The arithmetic every {@link RateLimiter} shares, so that each answers alike: one-minute windows, the
 * {@code Retry-After} of a refusal, and the {@code x-ratelimit-*} values of the header scope. Stateless.
 */
public final class LimitWindows {
  public static final long MINUTE_MILLIS = 60_000;

  private LimitWindows() {}

  /** The fixed one-minute window {@code nowMillis} falls in (epoch minute). */
  public static long epochMinute(long nowMillis) {
    return Math.floorDiv(nowMillis, MINUTE_MILLIS);
  }

  /**
   * Seconds a client refused by {@code limit} of {@code scope} should wait: rpm/tpm until the minute ends (≥ 1);
   * parallel 1; budget until {@link LimitScope#budgetResetEpochSecond()} (≥ 1), or 0 (unknown) when it never resets.
   */
  public static long retryAfterSeconds(Admission.Limit limit, LimitScope scope, long nowMillis) {
    switch (limit) {
      case RPM:
      case TPM:
        long end = (epochMinute(nowMillis) + 1) * MINUTE_MILLIS;
        return Math.max(1, ceilSeconds(end - nowMillis));
      case PARALLEL:
        return 1;
      case BUDGET:
        long reset = scope.budgetResetEpochSecond();
        if (reset <= 0) {
          return 0;
        }
        return Math.max(1, ceilSeconds(reset * 1000 - nowMillis));
      default:
        throw new AssertionError(limit);
    }
  }

  private static long ceilSeconds(long millis) {
    return millis <= 0 ? 0 : (millis + 999) / 1000;
  }

  /**
   * Whether one more request fits under a limit (budget in USD, or tpm in tokens), given what was counted
   * ({@code used}, already below {@code max}), what requests in flight hold ({@code held}) and what this one would
   * hold ({@code mine}). Nothing to hold: {@code used + held < max}. Otherwise {@code used + held + mine <= max};
   * and a request whose reservation alone exceeds the whole limit (it could never fit) is admitted only when
   * nothing else is held — at most one such request in flight per scope, which may cross the limit by its actual
   * cost (as every request could before reservations). The same rule in the Redis script.
   */
  public static boolean fits(double used, double held, double mine, double max) {
    if (mine <= 0) {
      return used + held < max;
    }
    if (used + held + mine <= max) {
      return true;
    }
    return mine > max && held <= 0;
  }

  /** Index of the scope whose rpm/tpm limits the headers report: the first with either, or -1. */
  public static int headerScope(List<LimitScope> scopes) {
    for (int i = 0, n = scopes.size(); i < n; i++) {
      LimitScope s = scopes.get(i);
      if (s.rpmLimit() != null || s.tpmLimit() != null) {
        return i;
      }
    }
    return -1;
  }

  /**
   * The answer, with the header scope's counts as they stand after this request was counted (admitted) or
   * without it (refused). {@code header} null = no rpm/tpm anywhere (all -1).
   *
   * @param limit    null = admitted
   * @param requests requests counted in the header scope's current window
   * @param tokens   tokens counted in the header scope's current window
   */
  public static Admission answer(Admission.Limit limit, LimitScope refusing, long nowMillis, LimitScope header,
      long requests, long tokens) {
    long limitRequests = -1;
    long remainingRequests = -1;
    long limitTokens = -1;
    long remainingTokens = -1;
    if (header != null) {
      if (header.rpmLimit() != null) {
        limitRequests = header.rpmLimit();
        remainingRequests = Math.max(0, limitRequests - requests);
      }
      if (header.tpmLimit() != null) {
        limitTokens = header.tpmLimit();
        remainingTokens = Math.max(0, limitTokens - tokens);
      }
    }
    if (limit == null) {
      return header == null ? Admission.UNLIMITED
          : Admission.admitted(limitRequests, remainingRequests, limitTokens, remainingTokens);
    }
    return Admission.refused(limit, refusing.kind(), retryAfterSeconds(limit, refusing, nowMillis), limitRequests,
        remainingRequests, limitTokens, remainingTokens);
  }
}
