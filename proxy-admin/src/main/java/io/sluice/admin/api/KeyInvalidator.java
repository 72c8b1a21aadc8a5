package io.sluice.admin.api;

import io.sluice.auth.KeyHash;
import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Told after an admin write committed which keys changed (blocked, deleted, updated, or their user or team
 * changed), so the data plane's caches drop them before the write is answered.
 */
public interface KeyInvalidator {
  CompletionStage<Void> invalidate(Collection<KeyHash> keys);

  /**
   * End users or budgets changed ({@code /customer/*}, {@code /budget/update}): every cached end user is dropped,
   * on this node and the others. Completes when this node's cache has dropped them.
   */
  default CompletionStage<Void> endUsersChanged() {
    return CompletableFuture.completedFuture(null);
  }

  KeyInvalidator NONE = keys -> CompletableFuture.completedFuture(null);
}
