package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.config.ConfigLoader;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Warm before ready: readiness is 503 while synthetic traffic runs through the real pipeline, then 200; the
 * warm-up's requests never show in the gateway's own metrics; the gateway serves normally afterwards.
 */
class WarmupTest {
  private static final String MASTER = "sk-warmup-test-master";

  @TempDir
  Path dir;

  @Test
  void readinessIs503WhileWarmingThen200AndTheRealMetricsSawNothing() throws Exception {
    Path cfg = dir.resolve("config.yaml");
    Files.writeString(cfg, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, "
        + "api_base: 'http://127.0.0.1:9/v1'}\n");
    SluiceConfig c = ConfigLoader.load(cfg, Map.of());
    long t0 = System.nanoTime();
    try (SluiceServer s = SluiceServer.start(c, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER),
        false, io.sluice.auth.KeyStore.NONE, true), Duration.ofSeconds(20))) {
      HttpClient http = HttpClient.newHttpClient();
      HttpResponse<String> first = get(http, s.port(), "/health/readiness");
      assertThat(first.statusCode()).as("readiness while warming").isEqualTo(503);
      assertThat(first.body()).contains("warming up");
      assertThat(get(http, s.port(), "/health/liveliness").statusCode()).as("alive meanwhile").isEqualTo(200);
      int status = 503;
      while (status == 503 && System.nanoTime() - t0 < Duration.ofSeconds(40).toNanos()) {
        Thread.sleep(100);
        status = get(http, s.port(), "/health/readiness").statusCode();
      }
      assertThat(status).as("ready once warm (at most the 20 s limit)").isEqualTo(200);
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
      String metrics = get(http, s.port(), "/metrics").body();
      assertThat(metrics).as("the warm-up's requests are not the gateway's")
          .doesNotContain("sluice-warmup").doesNotContain("litellm_proxy_total_requests_metric_total{");
    }
  }

  @Test
  void theWarmupRelaysThroughThePipelineWithoutErrors() throws Exception {
    Path cfg = dir.resolve("config.yaml");
    Files.writeString(cfg, "model_list: []\n");
    SluiceConfig c = ConfigLoader.load(cfg, Map.of());
    try (SluiceServer s = SluiceServer.start(c, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER),
        false, io.sluice.auth.KeyStore.NONE, true))) {
      Warmup.Report r = s.warmupForTest(Duration.ofSeconds(4));
      assertThat(r.requests()).as("requests relayed").isGreaterThan(100);
      assertThat(r.errors()).as("every synthetic request got its status; last other: %s", r.unexpected()).isZero();
      assertThat(r.answered().keySet()).as("every kind of request ran and got its own status").containsExactlyInAnyOrder(
          "chat", "stream", "GET /health/liveliness", "GET /health/readiness", "GET /metrics", "GET /v1/models",
          "a wrong key", "a model the key may not use", "a body that is not JSON", "an unknown route",
          "Connection: close");
    }
  }

  private static HttpResponse<String> get(HttpClient http, int port, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .header("Authorization", "Bearer " + MASTER).build(), HttpResponse.BodyHandlers.ofString());
  }
}
