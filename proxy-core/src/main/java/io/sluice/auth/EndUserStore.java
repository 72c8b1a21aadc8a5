package io.sluice.auth;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Port: finds end users (the request body's {@code user}) by id. Implementations complete off the event loop and
 * never block the caller. Empty = not a stored end user: such requests are served without end-user limits, as
 * LiteLLM does (its blocked-user hook and budget check treat an unknown end user as not blocked, without budget).
 */
public interface EndUserStore {
  CompletionStage<Optional<EndUser>> find(String id);

  /** No end users (no database): nothing is looked up. */
  EndUserStore NONE = id -> CompletableFuture.completedFuture(Optional.empty());
}
