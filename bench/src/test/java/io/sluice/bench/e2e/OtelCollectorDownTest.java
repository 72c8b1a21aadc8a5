package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tracing on, collector down (issue 19): the OTLP endpoint is a closed port. 10 000 requests over four keep-alive
 * connections all succeed; the spans that could not be exported cost nothing but a count in
 * {@code sluice_otel_spans_dropped_total}.
 */
class OtelCollectorDownTest {
  static final String MASTER = "sk-master-OCD-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final int REQUESTS = 10_000;
  static final int CONNECTIONS = 4;

  static FakeVllm fake;
  static SluiceServer sluice;

  @BeforeAll
  static void start() throws Exception {
    int closed;
    try (ServerSocket s = new ServerSocket(0)) {
      closed = s.getLocalPort(); // nothing listens here once closed: every export is refused
    }
    System.setProperty("otel.exporter.otlp.endpoint", "http://127.0.0.1:" + closed);
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(2)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), null, null, null, null, null, "fake-a", null,
        null, null));
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        new LitellmSettings(LitellmSettings.DEFAULT_REQUEST_TIMEOUT, true, true), ServerSettings.defaults());
    sluice = SluiceServer.start(cfg, SluiceServer.Options.of("127.0.0.1", 0, Secret.of(MASTER)));
  }

  @AfterAll
  static void stop() {
    System.clearProperty("otel.exporter.otlp.endpoint");
    if (sluice != null) {
      sluice.close();
    }
    if (fake != null) {
      fake.close();
    }
  }

  static final Pattern DROPPED = Pattern.compile(
      "^sluice_otel_spans_dropped_total\\{reason=\"([a-z_]+)\"} ([0-9.eE+]+)$", Pattern.MULTILINE);

  static double dropped(HttpClient http) throws Exception {
    String text = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sluice.port() + "/metrics"))
        .header("Authorization", "Bearer " + MASTER).build(), HttpResponse.BodyHandlers.ofString()).body();
    Matcher m = DROPPED.matcher(text);
    double n = 0;
    int series = 0;
    while (m.find()) {
      n += Double.parseDouble(m.group(2));
      series++;
    }
    assertThat(series).as("queue_full and export_failed series in /metrics").isEqualTo(2);
    return n;
  }

  @Test
  void tenThousandRequestsWithTheCollectorDownAllSucceedAndTheLostSpansAreCounted() throws Exception {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .executor(Executors.newFixedThreadPool(2)).build();
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sluice.port() + "/v1/chat/completions"))
        .header("Authorization", "Bearer " + MASTER).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(
            "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
        .timeout(Duration.ofSeconds(10)).build();
    ExecutorService clients = Executors.newFixedThreadPool(CONNECTIONS);
    long t0 = System.nanoTime();
    List<Future<Integer>> errors = new ArrayList<>();
    for (int c = 0; c < CONNECTIONS; c++) {
      errors.add(clients.submit(() -> {
        int bad = 0;
        for (int i = 0; i < REQUESTS / CONNECTIONS; i++) {
          HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() != 200 || !r.body().contains("\"usage\"")) {
            bad++;
          }
        }
        return bad;
      }));
    }
    int bad = 0;
    for (Future<Integer> f : errors) {
      bad += f.get();
    }
    clients.shutdown();
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertThat(bad).as("errors among %d requests (%s)", REQUESTS, took).isZero();
    // Every span is lost one way or the other: the bounded queue was full, or its export was refused. The batch
    // processor counts a queue-full drop at once; a refused export once the exporter's retries gave up.
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    double lost = dropped(http);
    while (lost < REQUESTS - 2048 && System.nanoTime() < deadline) {
      Thread.sleep(100);
      lost = dropped(http);
    }
    assertThat(lost).as("spans dropped after %s", took).isGreaterThanOrEqualTo(REQUESTS - 2048);
  }
}
