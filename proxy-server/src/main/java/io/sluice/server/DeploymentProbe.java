package io.sluice.server;

import io.sluice.routing.Deployment;
import io.sluice.routing.EndpointProbe;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * {@code GET /health}'s real call per deployment, as LiteLLM's {@code ahealth_check} picks it by
 * {@code model_info.mode}: {@code chat} (the default) a one-token chat completion, {@code completion} a one-token
 * completion, {@code embedding} an embedding of one word, {@code rerank} a rerank of one document; any other mode,
 * and a wildcard deployment (no concrete model to call), {@code GET /models}. Sent with the deployment's own
 * {@code Authorization}, on the JDK client and its own two daemon threads (never an event loop). Only a 2xx counts;
 * the error says the status or the exception's type — never the response body, a header or the key.
 */
final class DeploymentProbe implements EndpointProbe, AutoCloseable {
  private final ExecutorService threads = Executors.newFixedThreadPool(2, r -> {
    Thread t = new Thread(r, "sluice-health-probe");
    t.setDaemon(true);
    return t;
  });
  private final HttpClient http;
  private final Duration timeout;

  DeploymentProbe(Duration connectTimeout, Duration timeout) {
    this.http = HttpClient.newBuilder().connectTimeout(connectTimeout).executor(threads)
        .version(HttpClient.Version.HTTP_1_1).build();
    this.timeout = timeout;
  }

  /** Builds and sends on this probe's own threads: nothing of it runs on the caller's (an event loop's) thread. */
  @Override
  public CompletionStage<Result> probe(Deployment d) {
    try {
      return CompletableFuture.supplyAsync(() -> d, threads).thenCompose(this::send);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      return CompletableFuture.completedFuture(Result.failed("Sluice is shutting down"));
    }
  }

  private CompletableFuture<Result> send(Deployment d) {
    HttpRequest req;
    try {
      req = request(d);
    } catch (IllegalArgumentException e) {
      return CompletableFuture.completedFuture(Result.failed("invalid api_base"));
    }
    return http.sendAsync(req, HttpResponse.BodyHandlers.discarding()).handle((res, err) -> {
      if (err != null) {
        Throwable c = err.getCause() != null ? err.getCause() : err;
        return Result.failed(c instanceof java.net.ConnectException ? "connection refused or unreachable"
            : c instanceof java.net.http.HttpTimeoutException ? "no answer within " + timeout.toMillis() + " ms"
            : c.getClass().getSimpleName());
      }
      return res.statusCode() / 100 == 2 ? Result.OK : Result.failed("HTTP " + res.statusCode() + " from "
          + req.uri().getPath());
    });
  }

  private HttpRequest request(Deployment d) {
    String base = d.config().apiBase().toString().replaceAll("/+$", "");
    Object m = d.config().modelInfo() == null ? null : d.config().modelInfo().get("mode");
    String mode = m == null ? "chat" : m.toString();
    String model = jsonString(d.upstreamModel());
    String path;
    String body;
    if (d.wildcard()) {
      path = "/models";
      body = null;
    } else {
      switch (mode) {
        case "chat" -> {
          path = "/chat/completions";
          body = "{\"model\":" + model + ",\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}],\"max_tokens\":1}";
        }
        case "completion" -> {
          path = "/completions";
          body = "{\"model\":" + model + ",\"prompt\":\"ping\",\"max_tokens\":1}";
        }
        case "embedding" -> {
          path = "/embeddings";
          body = "{\"model\":" + model + ",\"input\":\"ping\"}";
        }
        case "rerank" -> {
          path = "/rerank";
          body = "{\"model\":" + model + ",\"query\":\"ping\",\"documents\":[\"ping\"]}";
        }
        default -> {
          path = "/models";
          body = null;
        }
      }
    }
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(timeout)
        .header("x-request-id", "sluice-health-" + d.id());
    if (d.authorization() != null) {
      b.header("Authorization", d.authorization().toString());
    }
    return body == null ? b.GET().build()
        : b.header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
  }

  private static String jsonString(String s) {
    StringBuilder out = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.append('"').toString();
  }

  @Override
  public void close() {
    threads.shutdownNow();
  }
}
