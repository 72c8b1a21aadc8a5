package io.sluice.auth;

import java.util.Objects;

/**
 * An end user as the data plane needs it: the body's {@code user} (LiteLLM's customer, LiteLLM_EndUserTable), whether
 * it is blocked, and the limits of its budget row ({@code rpm_limit}, {@code tpm_limit}, {@code max_parallel_requests},
 * {@code max_budget}) with its spend. Immutable, so it can be cached.
 *
 * @param id      the end user id as the request body names it
 * @param blocked {@code /customer/block}: every request naming it is refused
 * @param limits  its budget row's limits and its own spend; {@link KeyLimits#NONE} without a budget
 */
public record EndUser(String id, boolean blocked, KeyLimits limits) {
  public EndUser {
    Objects.requireNonNull(id, "id");
    if (limits == null) {
      limits = KeyLimits.NONE;
    }
  }
}
