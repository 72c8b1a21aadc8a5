package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.fake.RecordedRequest;
import io.sluice.config.GeneralSettings;
import io.sluice.config.PassThroughEndpoint;
import io.sluice.config.PassThroughSettings;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Pass-through routes (issue 5). Each test is named after the LiteLLM bug it prevents; on LiteLLM's behaviour it
 * fails (no upstream key on /vllm → vLLM's 401; non-admin keys rejected on auth:true routes; the proxy credential
 * forwarded with forward_headers).
 */
class PassThroughTest {
  static final String MASTER = "sk-master-PT-SECRET";
  static final String REPLICA_KEY = "replica-PT-SECRET";
  static final String DEFAULT_KEY = "vllm-default-PT-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final String HDR_SECRET = "target-HDR-SECRET";
  static final ObjectMapper JSON = new ObjectMapper();

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;      // the replica: --api-key REPLICA_KEY
  static FakeVllm open;      // a second vLLM without --api-key: the default target and the generic endpoints' target
  static SluiceServer sluice;
  static String userKey;     // an internal_user's virtual key

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(4)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    open = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(4)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    URI openBase = URI.create("http://127.0.0.1:" + open.port());
    PassThroughSettings pt = new PassThroughSettings(List.of(
        new PassThroughEndpoint("/open-health", URI.create(openBase + "/health"), false, Map.of(), null, false,
            true, List.of(), Map.of()),
        new PassThroughEndpoint("/vendor", URI.create(openBase + "/v1"), true,
            Map.of("Authorization", Secret.of("Bearer " + HDR_SECRET)), null, true, true, List.of("POST", "GET"),
            Map.of("api-version", "2024")),
        new PassThroughEndpoint("/public", openBase, true, Map.of(), null, false, false, List.of(), Map.of())),
        openBase, Secret.of(DEFAULT_KEY), null, true);
    sluice = Gateway.builder(MASTER).model(Gateway.vllm("llama", SERVED, fake, REPLICA_KEY, "replica-a"))
        .passThrough(pt).database(db.litellmUrl()).start();
    var u = send("POST", "/user/new", MASTER, "{\"user_id\":\"pt-user\",\"user_role\":\"internal_user\"}");
    userKey = JSON.readTree(u.body()).get("key").asText();
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    for (FakeVllm f : new FakeVllm[] {fake, open}) {
      if (f != null) {
        f.close();
      }
    }
    if (db != null) {
      db.close();
    }
  }

  @BeforeEach
  void reset() {
    fake.clearRequests();
    open.clearRequests();
  }

  static java.net.http.HttpResponse<String> send(String method, String path, String key, String body,
      String... headers) throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), method, path, key, body, headers);
  }

  @Test
  void vllmPassThroughSendsDeploymentKey() throws Exception {
    var r = send("POST", "/vllm/v1/chat/completions", userKey, "{\"model\":\"llama\",\"messages\":[]}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    RecordedRequest up = fake.requests().get(0);
    assertThat(up.uri()).isEqualTo("/v1/chat/completions");
    assertThat(up.headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
    assertThat(up.body()).contains("\"model\":\"" + SERVED + "\"");
    assertThat(up.headers().toString()).doesNotContain(userKey);

    var add = send("POST", "/model/new", MASTER, "{\"model_name\":\"db-llama\",\"litellm_params\":{\"model\":"
        + "\"hosted_vllm/" + SERVED + "\",\"api_base\":\"http://127.0.0.1:" + fake.port() + "/v1\",\"api_key\":\""
        + REPLICA_KEY + "\"},\"model_info\":{\"id\":\"db-replica\"}}");
    assertThat(add.statusCode()).as(add.body()).isEqualTo(200);
    fake.clearRequests();
    var viaDb = send("POST", "/vllm/v1/completions", userKey, "{\"model\":\"db-llama\",\"prompt\":\"hi\"}");
    assertThat(viaDb.statusCode()).as(viaDb.body()).isEqualTo(200);
    assertThat(fake.requests().get(0).headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
  }

  @Test
  void vllmMetricsThroughPassThrough() throws Exception {
    var m = send("GET", "/vllm/metrics", userKey, null);
    assertThat(m.statusCode()).isEqualTo(200);
    assertThat(m.body()).contains("vllm:num_requests_running");
    RecordedRequest up = open.requests().get(0);
    assertThat(up.uri()).isEqualTo("/metrics");
    assertThat(up.headers().get("Authorization")).isEqualTo("Bearer " + DEFAULT_KEY);
    // One replica's metrics, chosen by its model_info.id.
    var one = send("GET", "/vllm/metrics?x=1", userKey, null, "x-sluice-deployment", "replica-a");
    assertThat(one.statusCode()).isEqualTo(200);
    RecordedRequest chosen = fake.requests().get(0);
    assertThat(chosen.uri()).isEqualTo("/metrics?x=1");
    assertThat(chosen.headers().get("x-sluice-deployment")).isNull();
    assertThat(send("GET", "/vllm/metrics", userKey, null, "x-sluice-deployment", "nope").statusCode())
        .isEqualTo(404);
    assertThat(send("GET", "/vllm/metrics", null, null).statusCode()).as("a key is required").isEqualTo(401);
    assertThat(send("POST", "/vllm/tokenize", userKey, "{\"prompt\":\"hello world\"}").body()).contains("tokens");
  }

  @Test
  void vllmStreamingThroughPassThrough() throws Exception {
    var r = send("POST", "/vllm/v1/chat/completions", userKey,
        "{\"model\":\"llama\",\"stream\":true,\"messages\":[]}");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
    assertThat(r.body()).startsWith("data: ").endsWith("data: [DONE]\n\n");
  }

  @Test
  void vllmStreamAbortsUpstreamWhenTheClientLeaves() throws Exception {
    fake.faults().interTokenDelay(Duration.ofMillis(50));
    try {
      long abortedBefore = fake.streamsAborted();
      RawHttp via = new RawHttp(sluice.port());
      via.send("POST", "/vllm/v1/chat/completions", "{\"model\":\"llama\",\"stream\":true,\"messages\":[]}",
          "Authorization: Bearer " + userKey, "x-fake-tokens: 1000");
      int[] status = new int[1];
      via.readHead(status);
      assertThat(status[0]).isEqualTo(200);
      via.line(); // the stream is running
      via.close();
      assertThat(fake.awaitAborted((int) abortedBefore + 1, Duration.ofSeconds(5))).isTrue();
    } finally {
      fake.faults().reset();
    }
  }

  @Test
  void passThroughAuthAdmitsNonAdminKeys() throws Exception {
    var r = send("GET", "/open-health", userKey, null);
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(open.requests().get(0).uri()).isEqualTo("/health");
    assertThat(send("GET", "/open-health", null, null).statusCode()).isEqualTo(401);
    assertThat(send("GET", "/public/health", null, null).statusCode()).as("auth: false needs no key")
        .isEqualTo(200);
    String routesOnly = JSON.readTree(send("POST", "/key/generate", MASTER, "{\"allowed_routes\":[\"/v1/models\"]}")
        .body()).get("key").asText();
    assertThat(send("GET", "/open-health", routesOnly, null).statusCode()).as("allowed_routes still apply")
        .isEqualTo(403);
  }

  @Test
  void forwardHeadersNeverLeaksProxyKey() throws Exception {
    var r = send("POST", "/vendor/chat/completions?q=1", userKey, "{\"model\":\"" + SERVED + "\",\"messages\":[]}",
        "x-custom", "kept", "x-pass-x-target-token", "passed", "x-pass-authorization", "smuggled");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    RecordedRequest up = open.requests().get(0);
    assertThat(up.uri()).isEqualTo("/v1/chat/completions?q=1&api-version=2024");
    assertThat(up.headers().get("x-custom")).isEqualTo("kept");
    assertThat(up.headers().get("x-target-token")).isEqualTo("passed");
    assertThat(up.headers().get("Authorization")).isEqualTo("Bearer " + HDR_SECRET);
    assertThat(up.headers().toString()).doesNotContain(userKey).doesNotContain("smuggled");
    assertThat(up.body()).as("relayed untouched").contains("\"model\":\"" + SERVED + "\"");
    assertThat(send("DELETE", "/vendor/x", userKey, null).statusCode()).isEqualTo(405);
  }

  @Test
  void passThroughPathTraversalRejected() throws Exception {
    assertThat(send("GET", "/vllm/v1/../../../etc/passwd", userKey, null).statusCode()).isEqualTo(400);
    assertThat(send("GET", "/vllm/%2e%2e/%2e%2e/%2e%2e/etc/passwd", userKey, null).statusCode()).isEqualTo(400);
    assertThat(send("GET", "/vllm/v1/%2fetc", userKey, null).statusCode()).isEqualTo(400);
    var collapsed = send("GET", "/vllm//metrics", userKey, null);
    assertThat(collapsed.statusCode()).isEqualTo(200);
    assertThat(send("GET", "/public/../../x", null, null).statusCode()).isEqualTo(400);
    for (RecordedRequest r : open.requests()) {
      assertThat(r.uri()).doesNotContain("..").doesNotContain("etc");
    }
    assertThat(fake.requests()).isEmpty();
  }

  @Test
  void byokHeaderCaseInsensitive() throws Exception {
    for (String name : new String[] {"x-api-key", "X-Api-Key", "X-API-KEY", "api-key"}) {
      fake.clearRequests();
      send("POST", "/v1/chat/completions", userKey, "{\"model\":\"llama\",\"messages\":[]}", name,
          "client-provider-KEY-1");
      RecordedRequest up = fake.requests().get(0);
      assertThat(up.headers().get("Authorization")).as(name).isEqualTo("Bearer client-provider-KEY-1");
      assertThat(up.headers().get("x-api-key")).isNull();
      assertThat(up.headers().get("api-key")).isNull();
    }
    fake.clearRequests();
    send("POST", "/vllm/v1/chat/completions", userKey, "{\"model\":\"llama\",\"messages\":[]}", "X-Api-Key",
        "client-provider-KEY-2");
    assertThat(fake.requests().get(0).headers().get("Authorization")).isEqualTo("Bearer client-provider-KEY-2");
  }

  @Test
  void byokNeverForwardsProxyCredential() throws Exception {
    var r = send("POST", "/v1/chat/completions", null, "{\"model\":\"llama\",\"messages\":[]}",
        "x-litellm-api-key", userKey, "Authorization", "Bearer client-provider-KEY-3");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    RecordedRequest up = fake.requests().get(0);
    assertThat(up.headers().toString()).doesNotContain(userKey).doesNotContain("client-provider-KEY-3");
    assertThat(up.headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
    fake.clearRequests();
    send("POST", "/v1/chat/completions", userKey, "{\"model\":\"llama\",\"messages\":[]}");
    assertThat(fake.requests().get(0).headers().get("Authorization")).as("no provider key: the deployment's")
        .isEqualTo("Bearer " + REPLICA_KEY);
  }

  @Test
  void byokDoesNotTakeTheHeaderThatAuthenticatedTheCaller() throws Exception {
    // litellm_key_header_name: x-api-key — the Sluice key arrives in x-api-key; it must not become a provider key.
    try (SluiceServer s = Gateway.builder(MASTER).model(Gateway.vllm("llama", SERVED, fake, REPLICA_KEY, "replica-a"))
        .general(new GeneralSettings(null, "x-api-key", GeneralSettings.DEFAULT_MAX_REQUEST_SIZE))
        .passThrough(new PassThroughSettings(List.of(), null, null, null, true)).start()) {
      var r = VirtualKeyE2ETestSupport.send(s.port(), "POST", "/v1/chat/completions", null,
          "{\"model\":\"llama\",\"messages\":[]}", "X-API-Key", MASTER, "api-key", "client-provider-KEY-5");
      assertThat(r.statusCode()).as("the replica's own 401: it was sent the client's provider key").isEqualTo(401);
      RecordedRequest up = fake.requests().get(0);
      assertThat(up.headers().toString()).doesNotContain(MASTER);
      assertThat(up.headers().get("Authorization")).as("api-key is the provider key, x-api-key authenticated")
          .isEqualTo("Bearer client-provider-KEY-5");
    }
  }

  @Test
  void litellmDocsVllmExampleWorksUnchanged(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    // docs.litellm.ai/docs/pass_through/vllm: the config and the /vllm/score call, with the fake vLLM as the server
    // (and a key, which LiteLLM would not send).
    java.nio.file.Path yaml = dir.resolve("config.yaml");
    java.nio.file.Files.writeString(yaml, """
        model_list:
          - model_name: "my-vllm-model"
            litellm_params:
              model: hosted_vllm/vllm-1.72
              api_base: http://127.0.0.1:%d
              api_key: os.environ/VLLM_KEY
        general_settings:
          pass_through_endpoints:
            - path: /fake-vllm
              target: http://127.0.0.1:%d
              include_subpath: true
              headers: {Authorization: "Bearer os.environ/VLLM_KEY"}
              auth: true
        """.formatted(fake.port(), fake.port()));
    SluiceConfig cfg = io.sluice.config.ConfigLoader.load(yaml, Map.of("VLLM_KEY", REPLICA_KEY));
    try (SluiceServer s = Gateway.start(cfg, MASTER)) {
      var r = VirtualKeyE2ETestSupport.send(s.port(), "POST", "/vllm/score", MASTER, """
          {"model": "my-vllm-model", "encoding_format": "float", "text_1": "What is the capital of France?",
           "text_2": "The capital of France is Paris."}""", "accept", "application/json");
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      assertThat(r.body()).contains("\"object\":\"score\"");
      RecordedRequest up = fake.requests().get(0);
      assertThat(up.uri()).isEqualTo("/score");
      assertThat(up.body()).startsWith("{\"model\": \"vllm-1.72\", \"encoding_format\"");
      assertThat(up.headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
      var v1 = VirtualKeyE2ETestSupport.send(s.port(), "GET", "/fake-vllm/v1/models", MASTER, null);
      assertThat(v1.statusCode()).as("the configured header carries the replica key").isEqualTo(200);
    }
  }

  @Test
  void byokKeyNeverLogged() throws Exception {
    String logs = VirtualKeyE2ETestSupport.captureLogs(() -> {
      send("POST", "/v1/chat/completions", userKey, "{\"model\":\"llama\",\"messages\":[]}", "X-Api-Key",
          "client-provider-LOGGED-4");
      send("POST", "/v1/chat/completions", userKey, "{\"model\":\"nope\"}", "X-Api-Key", "client-provider-LOGGED-4");
      send("POST", "/vllm/v1/chat/completions", userKey, "{\"model\":\"llama\"}", "api-key",
          "client-provider-LOGGED-4");
      send("GET", "/vendor/x", userKey, null, "x-pass-x-api-key", "client-provider-LOGGED-4");
    });
    assertThat(logs).isNotEmpty().doesNotContain("client-provider-LOGGED-4").doesNotContain(HDR_SECRET)
        .doesNotContain(REPLICA_KEY).doesNotContain(userKey);
  }
}
