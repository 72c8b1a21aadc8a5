package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyCache;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.PassThroughSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.AdminPlane;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code GET /metrics} (issue 8): Prometheus text that a strict reader accepts, LiteLLM's metric names, a request,
 * its tokens, spend, status and latency counted once, per model group and deployment — and never a secret in a
 * metric line.
 */
class MetricsTest {
  static final String MASTER = "sk-master-MT-SECRET";
  static final String REPLICA_KEY = "replica-MT-SECRET";
  static final String PROVIDER_KEY = "provider-MT-SECRET";
  static final ObjectMapper JSON = new ObjectMapper();

  static SluiceConfig config(int fakePort, boolean keyLabels, boolean requireAuth) {
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, "m",
        URI.create("http://127.0.0.1:" + fakePort + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
        "fake-a", null, 0.001, 0.002));
    ServerSettings d = ServerSettings.defaults();
    ServerSettings server = new ServerSettings(d.maxUriLength(), d.maxHeaderSize(), d.requestReadTimeout(),
        d.idleTimeout(), d.connectTimeout(), d.upstreamIdleTimeout(), d.maxConnectionsPerReplica(),
        d.maxIdlePerReplica(), false, keyLabels);
    return new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        new LitellmSettings(LitellmSettings.DEFAULT_REQUEST_TIMEOUT, requireAuth), server,
        new PassThroughSettings(List.of(), null, null, null, true));
  }

  @Test
  void metricsParseAsPrometheusTextAndCountARequestItsTokensSpendAndStatusWithoutASecret() throws Exception {
    try (TestDatabases.TestDatabase db = TestDatabases.create();
        FakeVllm fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel("m").tokens(3)
            .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start()) {
      SluiceConfig cfg = config(fake.port(), true, true);
      AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL",
          db.litellmUrl()), Secret.of(MASTER)), Map.of(), KeyCache.NONE);
      try (SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1,
          Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane))) {
        int port = sluice.port();
        var gen = VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER,
            "{\"key_alias\":\"mt-alias\",\"user_id\":\"mt-user\"}");
        assertThat(gen.statusCode()).as(gen.body()).isEqualTo(200);
        String key = JSON.readTree(gen.body()).get("key").asText();
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
            .digest(key.getBytes(StandardCharsets.UTF_8)));
        String chat = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}]}";
        String stream = "{\"model\":\"llama\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}]}";
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", key, chat).statusCode())
            .isEqualTo(200);
        HttpResponse<String> s = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", key, stream);
        assertThat(s.statusCode()).isEqualTo(200);
        assertThat(s.body()).doesNotContain("\"usage\""); // the injected usage chunk never reaches the client
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", key, chat,
            "x-api-key", PROVIDER_KEY).statusCode()).isEqualTo(200);
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", "sk-wrong-MT-SECRET", chat)
            .statusCode()).isEqualTo(401);
        assertThat(VirtualKeyE2ETestSupport.send(port, "GET", "/no/such/route", key, null).statusCode())
            .isEqualTo(404);

        HttpResponse<String> r = VirtualKeyE2ETestSupport.send(port, "GET", "/metrics", MASTER, null);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
        String text = r.body();
        PromText p = PromText.parse(text);

        Map<String, String> owner = Map.of("hashed_api_key", hash.substring(0, 12), "api_key_alias", "mt-alias",
            "team", "", "user", "mt-user");
        assertThat(p.value("litellm_proxy_total_requests_metric_total", with(owner, "requested_model", "llama",
            "route", "chat_completions", "status_code", "200"))).isEqualTo(3.0);
        assertThat(p.sum("litellm_proxy_failed_requests_metric_total", Map.of("exception_status", "401",
            "exception_class", "auth_error", "route", "chat_completions"))).isEqualTo(1.0);
        assertThat(p.value("litellm_requests_metric_total", with(owner, "model", "llama"))).isEqualTo(3.0);
        assertThat(p.sum("litellm_proxy_total_requests_metric_total", Map.of("route", "unknown", "status_code",
            "404"))).isEqualTo(1.0);
        Map<String, String> tokens = with(owner, "model", "llama", "requested_model", "llama");
        assertThat(p.value("litellm_input_tokens_total", tokens)).isEqualTo(6.0); // "a b" = 2, three times
        assertThat(p.value("litellm_output_tokens_total", tokens)).isEqualTo(9.0);
        assertThat(p.value("litellm_total_tokens_total", tokens)).isEqualTo(15.0);
        assertThat(p.value("litellm_spend_metric_total", with(owner, "model", "llama")))
            .isCloseTo(6 * 0.001 + 9 * 0.002, org.assertj.core.data.Offset.offset(1e-9));

        Map<String, String> dep = Map.of("requested_model", "llama", "litellm_model_name", "hosted_vllm/m",
            "model_id", "fake-a", "api_base", "http://127.0.0.1:" + fake.port() + "/v1", "api_provider",
            "hosted_vllm");
        assertThat(p.value("litellm_deployment_success_responses_total", dep)).isEqualTo(3.0);
        assertThat(p.value("litellm_deployment_total_requests_total", with(dep, "route", "chat_completions",
            "status_class", "2xx"))).isEqualTo(3.0);
        assertThat(p.value("litellm_deployment_state", Map.of("litellm_model_name", "hosted_vllm/m", "model_id",
            "fake-a", "api_base", "http://127.0.0.1:" + fake.port() + "/v1", "api_provider", "hosted_vllm")))
            .isEqualTo(0.0);
        assertThat(p.value("litellm_request_total_latency_metric_count", Map.of("requested_model", "llama",
            "model", "llama", "model_id", "fake-a"))).isEqualTo(3.0);
        assertThat(p.value("litellm_llm_api_time_to_first_token_metric_count", Map.of("model", "llama",
            "model_id", "fake-a"))).isEqualTo(3.0);
        assertThat(p.value("sluice_deployment_in_flight_requests", Map.of("model_group", "llama",
            "model_id", "fake-a"))).isEqualTo(0.0);
        assertThat(p.value("sluice_upstream_connections", Map.of("upstream", "http://127.0.0.1:" + fake.port(),
            "state", "open"))).isGreaterThanOrEqualTo(1.0);
        assertThat(p.sum("sluice_key_cache_misses_total", Map.of("layer", "l1"))).isGreaterThanOrEqualTo(1.0);
        assertThat(p.sum("sluice_key_cache_hits_total", Map.of("layer", "l1"))).isGreaterThanOrEqualTo(1.0);
        assertThat(p.value("sluice_spend_queue_depth", Map.of())).isNotNull();
        assertThat(p.value("sluice_spend_rows_dropped_total", Map.of())).isEqualTo(0.0);
        assertThat(p.value("sluice_event_loop_pending_tasks", Map.of("loop", "0"))).isNotNull();
        assertThat(p.value("sluice_buffer_leaks_total", Map.of())).isEqualTo(0.0);
        assertThat(p.has("sluice_build", Map.of())).isTrue();
        assertThat(p.types).containsKey("jvm_memory_heap_used");
        assertThat(p.types.get("litellm_request_total_latency_metric")).isEqualTo("histogram");
        // The scrape itself and the probes are not requests.
        assertThat(p.has("litellm_proxy_total_requests_metric_total", Map.of("route", "metrics"))).isFalse();

        assertThat(text).doesNotContain(MASTER).doesNotContain(key).doesNotContain(hash)
            .doesNotContain(REPLICA_KEY).doesNotContain(PROVIDER_KEY).doesNotContain("MT-SECRET");

        // A second scrape sees the first one's request? No: scrapes are not counted; counters only grow.
        PromText again = PromText.parse(VirtualKeyE2ETestSupport.send(port, "GET", "/metrics/", MASTER, null)
            .body());
        assertThat(again.value("litellm_proxy_total_requests_metric_total", with(owner, "requested_model",
            "llama", "route", "chat_completions", "status_code", "200"))).isEqualTo(3.0);
      }
    }
  }

  @Test
  void metricsNeedAnAdminKeyUnlessRequireAuthForMetricsEndpointIsFalse() throws Exception {
    try (TestDatabases.TestDatabase db = TestDatabases.create();
        FakeVllm fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel("m").start()) {
      SluiceConfig cfg = config(fake.port(), false, true);
      AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL",
          db.litellmUrl()), Secret.of(MASTER)), Map.of(), KeyCache.NONE);
      try (SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1,
          Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane))) {
        int port = sluice.port();
        String user = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER,
            "{}").body()).get("key").asText();
        String viewer = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "POST", "/user/new", MASTER,
            "{\"user_role\":\"proxy_admin_viewer\"}").body()).get("key").asText();
        HttpResponse<String> none = VirtualKeyE2ETestSupport.send(port, "GET", "/metrics", null, null);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(JSON.readTree(none.body()).get("error").get("type").asText()).isEqualTo("auth_error");
        HttpResponse<String> internal = VirtualKeyE2ETestSupport.send(port, "GET", "/metrics", user, null);
        assertThat(internal.statusCode()).isEqualTo(403);
        assertThat(internal.body()).contains("require_auth_for_metrics_endpoint").doesNotContain(user);
        assertThat(VirtualKeyE2ETestSupport.send(port, "GET", "/metrics", viewer, null).statusCode())
            .isEqualTo(200);
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/metrics", MASTER, "{}").statusCode())
            .isEqualTo(405);
        // Key labels are off by default: no per-key label anywhere.
        String text = VirtualKeyE2ETestSupport.send(port, "GET", "/metrics", MASTER, null).body();
        assertThat(PromText.parse(text).samples).noneMatch(x -> x.labels().containsKey("api_key_alias")
            || x.labels().containsKey("hashed_api_key"));
      }
    }
    try (FakeVllm fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel("m").start();
        SluiceServer open = SluiceServer.start(config(fake.port(), false, false), new SluiceServer.Options(
            "127.0.0.1", 0, 1, Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true))) {
      HttpResponse<String> r = VirtualKeyE2ETestSupport.send(open.port(), "GET", "/metrics", null, null);
      assertThat(r.statusCode()).isEqualTo(200);
      PromText.parse(r.body());
    }
  }

  static Map<String, String> with(Map<String, String> base, String... kv) {
    java.util.HashMap<String, String> m = new java.util.HashMap<>(base);
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }
}
