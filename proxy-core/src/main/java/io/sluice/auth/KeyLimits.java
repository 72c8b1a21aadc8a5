package io.sluice.auth;

/**
 * A key's limits and spend as stored; null = no limit. Enforced by the limits layer, carried here so one lookup
 * serves authentication and limiting.
 *
 * @param tpmLimit            tokens per minute
 * @param rpmLimit            requests per minute
 * @param maxParallelRequests requests in flight at once
 * @param maxBudget           spend ceiling in USD
 * @param spend               spend so far in USD, as last read from the database
 */
public record KeyLimits(Long tpmLimit, Long rpmLimit, Integer maxParallelRequests, Double maxBudget, double spend) {
  public static final KeyLimits NONE = new KeyLimits(null, null, null, null, 0);
}
