package io.sluice.limits;

/**
 * A limiter's answer for one request. When admitted, the request holds one parallel slot in every scope that has a
 * {@code max_parallel_requests} until {@link RateLimiter#release}. Remaining/limit values describe the first scope
 * (the key's, when it has limits) for the {@code x-ratelimit-*} headers; -1 = no such limit.
 *
 * @param admitted           the request may go on
 * @param limit              the limit that refused it, or null when admitted
 * @param scope              the scope whose limit refused it, or null
 * @param retryAfterSeconds  when to try again (≥ 1), for {@code Retry-After}; 0 when unknown
 * @param limitRequests      the rpm limit reported in headers, or -1
 * @param remainingRequests  requests left in this minute, or -1
 * @param limitTokens        the tpm limit reported in headers, or -1
 * @param remainingTokens    tokens left in this minute, or -1
 */
public record Admission(boolean admitted, Limit limit, LimitScope.Kind scope, long retryAfterSeconds,
    long limitRequests, long remainingRequests, long limitTokens, long remainingTokens) {

  public enum Limit {
    RPM("rpm_limit", "requests per minute"),
    TPM("tpm_limit", "tokens per minute"),
    PARALLEL("max_parallel_requests", "parallel requests"),
    BUDGET("max_budget", "budget");

    private final String field;
    private final String words;

    Limit(String field, String words) {
      this.field = field;
      this.words = words;
    }

    /** The LiteLLM field that sets it, e.g. {@code rpm_limit}. */
    public String field() {
      return field;
    }

    public String words() {
      return words;
    }
  }

  /** Admitted, with no limits to report. */
  public static final Admission UNLIMITED = new Admission(true, null, null, 0, -1, -1, -1, -1);

  public static Admission admitted(long limitRequests, long remainingRequests, long limitTokens, long remainingTokens) {
    return new Admission(true, null, null, 0, limitRequests, remainingRequests, limitTokens, remainingTokens);
  }

  public static Admission refused(Limit limit, LimitScope.Kind scope, long retryAfterSeconds, long limitRequests,
      long remainingRequests, long limitTokens, long remainingTokens) {
    return new Admission(false, limit, scope, retryAfterSeconds, limitRequests, remainingRequests, limitTokens,
        remainingTokens);
  }
}
