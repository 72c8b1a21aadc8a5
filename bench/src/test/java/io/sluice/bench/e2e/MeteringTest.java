package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyCache;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.AdminPlane;
import io.sluice.server.SluiceServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Token accounting, spend logs and per-key limits on one node (issue 6): exact counts read from the passing bytes,
 * the usage event Sluice asked for on the client's behalf never reaching the client, one spend row per request
 * (also when the client leaves), and rpm/tpm/parallel/budget limits answering 429 in LiteLLM's shape.
 */
class MeteringTest {
  static final String MASTER = "sk-master-MT-SECRET";
  static final String REPLICA_KEY = "replica-MT-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final double IN_COST = 0.001;
  static final double OUT_COST = 0.002;
  static final ObjectMapper JSON = new ObjectMapper();

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static SluiceServer sluice;

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(5)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
        "fake-a", null, IN_COST, OUT_COST));
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults());
    AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER)), Map.of(), KeyCache.NONE);
    sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (fake != null) {
      fake.close();
    }
    if (db != null) {
      db.close();
    }
  }

  static HttpResponse<String> send(String method, String path, String key, String body, String... headers)
      throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), method, path, key, body, headers);
  }

  static String key(String generateBody) throws Exception {
    var r = send("POST", "/key/generate", MASTER, generateBody);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body()).get("key").asText();
  }

  static String chat(boolean stream, String extra) {
    return "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]"
        + (stream ? ",\"stream\":true" : "") + extra + "}";
  }

  /** The spend row of {@code requestId} from GET /spend/logs, waiting for the batched writer. */
  static JsonNode spendRow(String requestId) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      var r = send("GET", "/spend/logs?request_id=" + requestId, MASTER, null);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      JsonNode rows = JSON.readTree(r.body());
      if (rows.size() > 0) {
        assertThat(rows.size()).as("one row per request").isEqualTo(1);
        return rows.get(0);
      }
      assertThat(System.nanoTime()).as("spend row for %s", requestId).isLessThan(deadline);
      Thread.sleep(50);
    }
  }

  static List<String> events(String body) {
    List<String> ev = new ArrayList<>();
    for (String part : body.split("\n\n")) {
      if (!part.isBlank()) {
        ev.add(part);
      }
    }
    return ev;
  }

  @Test
  void aStreamWhoseClientDidNotAskForUsageIsCountedExactlyAndTheClientNeverSeesTheUsageEvent() throws Exception {
    String k = key("{\"key_alias\":\"mt-stream\"}");
    fake.clearRequests();
    var r = send("POST", "/v1/chat/completions", k, chat(true, ""));
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    List<String> ev = events(r.body());
    assertThat(ev).as("role + 5 tokens + [DONE], no usage event").hasSize(1 + 5 + 1);
    assertThat(r.body()).doesNotContain("\"usage\"").doesNotContain("\"choices\":[]");
    assertThat(ev.get(ev.size() - 1)).isEqualTo("data: [DONE]");
    assertThat(fake.requests().get(0).body()).as("Sluice asked on the client's behalf")
        .contains("\"stream_options\":{\"include_usage\":true}");
    JsonNode row = spendRow(r.headers().firstValue("x-request-id").orElseThrow());
    assertThat(row.get("prompt_tokens").asLong()).isEqualTo(3);
    assertThat(row.get("completion_tokens").asLong()).isEqualTo(5);
    assertThat(row.get("total_tokens").asLong()).isEqualTo(8);
    assertThat(row.get("spend").asDouble()).isCloseTo(3 * IN_COST + 5 * OUT_COST, org.assertj.core.data.Offset.offset(1e-12));
    assertThat(row.get("model_group").asText()).isEqualTo("llama");
    assertThat(row.get("model_id").asText()).isEqualTo("fake-a");
    assertThat(row.toString()).contains("\"tokens_estimated\":false").doesNotContain(k).doesNotContain(REPLICA_KEY);
  }

  @Test
  void aStreamWhoseClientAskedForUsageGetsItUnchanged() throws Exception {
    String k = key("{}");
    fake.clearRequests();
    var r = send("POST", "/v1/chat/completions", k, chat(true, ",\"stream_options\":{\"include_usage\":true}"));
    assertThat(r.statusCode()).isEqualTo(200);
    List<String> ev = events(r.body());
    assertThat(ev).hasSize(1 + 5 + 1 + 1);
    assertThat(ev.get(ev.size() - 2)).contains("\"choices\":[]").contains("\"completion_tokens\":5");
    assertThat(fake.requests().get(0).body()).contains("\"stream_options\":{\"include_usage\":true}");
    JsonNode row = spendRow(r.headers().firstValue("x-request-id").orElseThrow());
    assertThat(row.get("completion_tokens").asLong()).isEqualTo(5);
    assertThat(row.get("prompt_tokens").asLong()).isEqualTo(3);
  }

  @Test
  void aJsonResponseIsCountedFromItsUsageAndTheSpendReachesKeyInfo() throws Exception {
    String k = key("{\"key_alias\":\"mt-json\"}");
    var r = send("POST", "/v1/chat/completions", k, chat(false, ""));
    assertThat(r.statusCode()).isEqualTo(200);
    JsonNode usage = JSON.readTree(r.body()).get("usage");
    JsonNode row = spendRow(r.headers().firstValue("x-request-id").orElseThrow());
    assertThat(row.get("prompt_tokens").asLong()).isEqualTo(usage.get("prompt_tokens").asLong());
    assertThat(row.get("completion_tokens").asLong()).isEqualTo(usage.get("completion_tokens").asLong());
    double expected = 3 * IN_COST + 5 * OUT_COST;
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    double spend;
    do {
      var info = send("GET", "/key/info?key=" + k, MASTER, null);
      assertThat(info.statusCode()).as(info.body()).isEqualTo(200);
      spend = JSON.readTree(info.body()).path("info").path("spend").asDouble();
    } while (Math.abs(spend - expected) > 1e-12 && System.nanoTime() < deadline);
    assertThat(spend).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-12));
  }

  @Test
  void aClientThatLeavesMidStreamIsCountedWithWhatWasGeneratedAndMarked() throws Exception {
    String k = key("{}");
    String rid = "mt-leave-" + System.nanoTime();
    String body = chat(true, "");
    try (Socket s = new Socket("127.0.0.1", sluice.port())) {
      OutputStream out = s.getOutputStream();
      out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + k
          + "\r\nContent-Type: application/json\r\nx-request-id: " + rid + "\r\nx-fake-tokens: 500\r\n"
          + "x-fake-itl-ms: 20\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
          .getBytes(StandardCharsets.UTF_8));
      out.flush();
      InputStream in = s.getInputStream();
      String seen = "";
      byte[] buf = new byte[4096];
      while (seen.split("\"content\":\"tok").length <= 5) { // five token events reached the client
        int n = in.read(buf);
        assertThat(n).isPositive();
        seen += new String(buf, 0, n, StandardCharsets.UTF_8);
      }
    }
    JsonNode row = spendRow(rid);
    assertThat(row.path("metadata").path("outcome").asText()).isEqualTo("client_gone");
    assertThat(row.path("metadata").path("stream_finished").asBoolean(true)).isFalse();
    assertThat(row.toString()).contains("\"tokens_estimated\":true");
    assertThat(row.get("completion_tokens").asLong()).as("tokens seen so far").isBetween(5L, 499L);
  }

  @Test
  void rpmLimitAnswers429InLiteLlmShapeWithRateLimitHeaders() throws Exception {
    String k = key("{\"rpm_limit\":3}");
    for (int i = 0; i < 3; i++) {
      var ok = send("POST", "/v1/chat/completions", k, chat(false, ""));
      assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
      assertThat(ok.headers().firstValue("x-ratelimit-limit-requests")).hasValue("3");
      assertThat(ok.headers().firstValue("x-ratelimit-remaining-requests")).hasValue(String.valueOf(2 - i));
    }
    var no = send("POST", "/v1/chat/completions", k, chat(false, ""));
    assertThat(no.statusCode()).isEqualTo(429);
    assertThat(no.headers().firstValue("retry-after")).isPresent();
    assertThat(Long.parseLong(no.headers().firstValue("retry-after").get())).isBetween(1L, 60L);
    assertThat(no.headers().firstValue("x-ratelimit-remaining-requests")).hasValue("0");
    JsonNode err = JSON.readTree(no.body()).get("error");
    assertThat(err.get("type").asText()).isEqualTo("rate_limit_error");
    assertThat(err.get("code").asText()).isEqualTo("429");
    assertThat(err.get("message").asText()).contains("rpm_limit").doesNotContain(k);
    PromText m = PromText.parse(send("GET", "/metrics", MASTER, null).body());
    assertThat(m.sum("sluice_rate_limit_rejections_total", Map.of("scope", "key", "limit", "rpm_limit")))
        .isGreaterThanOrEqualTo(1.0);
    assertThat(m.sum("litellm_proxy_failed_requests_metric_total", Map.of("exception_status", "429",
        "exception_class", "rate_limit_error"))).isGreaterThanOrEqualTo(1.0);
  }

  @Test
  void tpmLimitTripsOnCountedTokens() throws Exception {
    String k = key("{\"tpm_limit\":10}");
    var first = send("POST", "/v1/chat/completions", k, chat(false, "")); // 3 + 5 tokens
    assertThat(first.statusCode()).isEqualTo(200);
    var second = send("POST", "/v1/chat/completions", k, chat(true, "")); // 8 < 10: admitted, 16 after
    assertThat(second.statusCode()).isEqualTo(200);
    var third = send("POST", "/v1/chat/completions", k, chat(false, ""));
    assertThat(third.statusCode()).as(third.body()).isEqualTo(429);
    assertThat(third.body()).contains("tpm_limit");
  }

  @Test
  void maxParallelRequestsRefusesTheSecondWhileTheFirstStreams() throws Exception {
    String k = key("{\"max_parallel_requests\":1}");
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      long started0 = fake.streamsStarted();
      Future<HttpResponse<String>> slow = pool.submit(() -> send("POST", "/v1/chat/completions", k, chat(true, ""),
          "x-fake-tokens", "40", "x-fake-itl-ms", "25"));
      long started = started0;
      long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
      while (fake.streamsStarted() == started && System.nanoTime() < deadline) {
        Thread.sleep(2);
      }
      HttpResponse<String> second = send("POST", "/v1/chat/completions", k, chat(false, ""));
      assertThat(second.statusCode()).as(second.body()).isEqualTo(429);
      assertThat(second.body()).contains("max_parallel_requests");
      assertThat(slow.get().statusCode()).isEqualTo(200);
      var after = send("POST", "/v1/chat/completions", k, chat(false, ""));
      assertThat(after.statusCode()).as("the slot is free again").isEqualTo(200);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void anExhaustedBudgetIsRefusedWithBudgetExceeded() throws Exception {
    String k = key("{\"max_budget\":0.005}");
    var first = send("POST", "/v1/chat/completions", k, chat(false, "")); // 0.013 USD
    assertThat(first.statusCode()).isEqualTo(200);
    var second = send("POST", "/v1/chat/completions", k, chat(false, ""));
    assertThat(second.statusCode()).as("LiteLLM's status (issue 14 #4): " + second.body()).isEqualTo(400);
    JsonNode err = JSON.readTree(second.body()).get("error");
    assertThat(err.get("type").asText()).isEqualTo("budget_exceeded");
    assertThat(err.get("message").asText()).startsWith("Budget has been exceeded!");
    assertThat(err.get("code").asText()).isEqualTo("400");
  }
}
