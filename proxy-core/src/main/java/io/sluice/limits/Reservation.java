package io.sluice.limits;

import java.util.concurrent.ThreadLocalRandom;

/**
 * A request's worst case, held against its scopes' {@code max_budget} and {@code tpm_limit} from admission
 * ({@link RateLimiter#acquire(java.util.List, Reservation, long)}) until its one settlement
 * ({@link RateLimiter#release(java.util.List, Reservation, long, double, long)}), which replaces it with the actual
 * tokens and spend. Held tokens count against a scope's tpm window and held spend against its budget, so requests
 * in flight together can never be admitted past a limit (LiteLLM's budget race). Immutable.
 *
 * @see LimitWindows#fits
 */
public final class Reservation {
  /** Nothing held: the limits are checked against what was counted, as before reservations. */
  public static final Reservation NONE = new Reservation(0, 0, 0);

  private final long tokens;
  private final double spend;
  private final long id;

  private Reservation(long tokens, double spend, long id) {
    this.tokens = tokens;
    this.spend = spend;
    this.id = id;
  }

  /**
   * A reservation of {@code tokens} (prompt estimate + output cap) costing at most {@code spend} USD, with a random
   * id (distinct across nodes: a shared limiter stores each reservation by it). Negative or non-finite values count
   * as 0; all zero is {@link #NONE}.
   */
  public static Reservation of(long tokens, double spend) {
    long t = Math.max(0, tokens);
    double s = spend > 0 && Double.isFinite(spend) ? spend : 0;
    if (t == 0 && s == 0) {
      return NONE;
    }
    return new Reservation(t, s, ThreadLocalRandom.current().nextLong());
  }

  /** Tokens held against each tpm window the request counts in. */
  public long tokens() {
    return tokens;
  }

  /** USD held against each budget the request counts against. */
  public double spend() {
    return spend;
  }

  public long id() {
    return id;
  }

  public boolean none() {
    return this == NONE;
  }

  @Override
  public String toString() {
    return "Reservation[" + tokens + " tokens, " + spend + " USD]";
  }
}
