package io.sluice.management;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Port: LiteLLM's management API ({@code /key/*}, {@code /user/*}, {@code /team/*}, {@code /model/*}), answered by
 * the admin plane. The data plane has authenticated the caller and read the (small, bounded) body; the
 * implementation checks the caller's role for the endpoint, does its work off the event loop and completes with
 * the whole response. It never blocks the calling thread.
 */
public interface ManagementApi {
  CompletionStage<ManagementResponse> handle(ManagementRequest request);

  /**
   * The routes {@link #handle} answers, path → HTTP methods, in a stable order, for {@code GET /routes}. A
   * {@code {name}} segment stands for any value. Empty: none listed.
   */
  default java.util.Map<String, java.util.List<String>> routes() {
    return java.util.Map.of();
  }

  /** No database configured: LiteLLM's answer ({@code no_db_connection}). */
  ManagementApi NONE = request -> CompletableFuture.completedFuture(new ManagementResponse(400,
      ("{\"error\":{\"message\":\"No connected db. Sluice was started without a database (--no-db); management "
          + "endpoints need one: start without --no-db, or set DATABASE_URL.\",\"type\":\"no_db_connection\","
          + "\"param\":\"None\",\"code\":\"400\"}}").getBytes(StandardCharsets.UTF_8)));
}
