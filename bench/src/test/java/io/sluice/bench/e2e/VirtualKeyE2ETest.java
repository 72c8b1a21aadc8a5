package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyCache;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.fake.RecordedRequest;
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
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Virtual keys end to end: issued by the admin API, authenticating relayed requests to a (fake) vLLM, and revoked by
 * block, delete and expiry — on a real PostgreSQL, with one event loop, so a blocked loop would show.
 */
class VirtualKeyE2ETest {
  static final String MASTER = "sk-master-E2E-SECRET";
  static final String REPLICA_KEY = "replica-E2E-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final ObjectMapper JSON = new ObjectMapper();
  static final String CHAT = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static SluiceServer sluice;
  static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(4)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
        "fake-a"));
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults());
    AdminPlane.Settings settings = AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER));
    AdminPlane plane = AdminPlane.start(cfg, settings, Map.of(), KeyCache.NONE);
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

  @BeforeEach
  void reset() {
    fake.clearRequests();
  }

  static HttpResponse<String> send(String method, String path, String key, String body) throws Exception {
    return sendAsync(method, path, key, body).get(20, TimeUnit.SECONDS);
  }

  static CompletableFuture<HttpResponse<String>> sendAsync(String method, String path, String key, String body) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sluice.port() + path))
        .timeout(Duration.ofSeconds(30))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
        .header("Content-Type", "application/json");
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static String newKey(String body) throws Exception {
    HttpResponse<String> r = send("POST", "/key/generate", MASTER, body);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body()).get("key").asText();
  }

  @Test
  void aGeneratedKeyRelaysWithTheReplicaKeyAndNeverForwardsItself() throws Exception {
    String key = newKey("{\"models\":[\"llama\"]}");
    HttpResponse<String> r = send("POST", "/v1/chat/completions", key, CHAT);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.body()).contains("\"usage\"");
    RecordedRequest up = fake.requests().get(0);
    assertThat(up.headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
    assertThat(up.headers().toString()).doesNotContain(key);
    HttpResponse<String> sse = send("POST", "/v1/chat/completions", key,
        "{\"model\":\"llama\",\"stream\":true,\"messages\":[]}");
    assertThat(sse.body()).endsWith("data: [DONE]\n\n");
  }

  @Test
  void blockDeleteAndExpiryStopAKeyOnTheNextRequest() throws Exception {
    String key = newKey("{}");
    assertThat(send("POST", "/v1/chat/completions", key, CHAT).statusCode()).isEqualTo(200);
    send("POST", "/key/block", MASTER, "{\"key\":\"" + key + "\"}");
    HttpResponse<String> blocked = send("POST", "/v1/chat/completions", key, CHAT);
    assertThat(blocked.statusCode()).isEqualTo(401);
    assertThat(blocked.body()).contains("Key is blocked").contains("\"type\":\"auth_error\"");
    send("POST", "/key/unblock", MASTER, "{\"key\":\"" + key + "\"}");
    assertThat(send("POST", "/v1/chat/completions", key, CHAT).statusCode()).isEqualTo(200);
    send("POST", "/key/delete", MASTER, "{\"keys\":[\"" + key + "\"]}");
    HttpResponse<String> deleted = send("POST", "/v1/chat/completions", key, CHAT);
    assertThat(deleted.statusCode()).isEqualTo(401);
    assertThat(deleted.body()).contains("Invalid proxy server token passed");

    String shortLived = newKey("{\"duration\":\"2s\"}");
    assertThat(send("POST", "/v1/chat/completions", shortLived, CHAT).statusCode()).isEqualTo(200);
    Thread.sleep(2200);
    HttpResponse<String> expired = send("POST", "/v1/chat/completions", shortLived, CHAT);
    assertThat(expired.statusCode()).isEqualTo(401);
    assertThat(expired.body()).contains("\"type\":\"expired_key\"");
    assertThat(fake.requests()).hasSize(3);
  }

  @Test
  void cachedKeysKeepFlowingWhileTheDatabaseIsStuck() throws Exception {
    String cached = newKey("{}");
    String fresh = newKey("{}");
    assertThat(send("POST", "/v1/chat/completions", cached, CHAT).statusCode()).isEqualTo(200);
    try (Connection c = DriverManager.getConnection(db.url.jdbcUrl(), db.url.user(), db.url.password());
        Statement st = c.createStatement()) {
      c.setAutoCommit(false);
      st.execute("LOCK TABLE sluice_keys IN ACCESS EXCLUSIVE MODE"); // every key lookup now waits
      CompletableFuture<HttpResponse<String>> stuck = sendAsync("POST", "/v1/chat/completions", fresh, CHAT);
      Thread.sleep(300);
      for (int i = 0; i < 20; i++) {
        // One event loop serves both: these finish only because the stuck lookup is not on it.
        HttpResponse<String> r = sendAsync("POST", "/v1/chat/completions", cached, CHAT).get(5, TimeUnit.SECONDS);
        assertThat(r.statusCode()).isEqualTo(200);
      }
      assertThat(send("GET", "/health/liveliness", null, null).statusCode()).isEqualTo(200);
      assertThat(stuck).as("the uncached key waits for the database").isNotDone();
      c.rollback();
      assertThat(stuck.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    }
  }

  @Test
  void allowedRoutesAndTeamModelsAreEnforced() throws Exception {
    String modelsOnly = newKey("{\"allowed_routes\":[\"/v1/models\"]}");
    assertThat(send("GET", "/v1/models", modelsOnly, null).statusCode()).isEqualTo(200);
    HttpResponse<String> r = send("POST", "/v1/chat/completions", modelsOnly, CHAT);
    assertThat(r.statusCode()).isEqualTo(403);
    assertThat(r.body()).contains("Only allowed to call routes: [/v1/models]");
    String llmOnly = newKey("{\"key_type\":\"llm_api\"}");
    assertThat(send("POST", "/v1/chat/completions", llmOnly, CHAT).statusCode()).isEqualTo(200);
    assertThat(send("GET", "/key/info", llmOnly, null).statusCode()).isEqualTo(403);
    assertThat(send("POST", "/team/new", MASTER, "{\"team_id\":\"e2e-team\",\"models\":[\"other\"]}").statusCode())
        .isEqualTo(200);
    String teamKey = newKey("{\"team_id\":\"e2e-team\"}");
    HttpResponse<String> t = send("POST", "/v1/chat/completions", teamKey, CHAT);
    assertThat(t.statusCode()).isEqualTo(401);
    assertThat(t.body()).contains("team_model_access_denied");
    HttpResponse<String> list = send("GET", "/v1/models", teamKey, null);
    assertThat(JSON.readTree(list.body()).get("data")).isEmpty();
  }

  @Test
  void noSecretReachesTheLog() throws Exception {
    ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(
        org.slf4j.Logger.ROOT_LOGGER_NAME);
    ch.qos.logback.classic.Level before = root.getLevel();
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logs =
        new ch.qos.logback.core.read.ListAppender<>();
    logs.start();
    root.addAppender(logs);
    root.setLevel(ch.qos.logback.classic.Level.DEBUG);
    String key;
    try {
      key = newKey("{\"key\":\"sk-chosen-LOGCHECK-secret\"}");
      send("POST", "/v1/chat/completions", key, CHAT);
      send("POST", "/v1/chat/completions", key, "{\"model\":\"nope\"}");
      send("POST", "/key/" + key + "/regenerate", MASTER, "{}");
      send("POST", "/v1/chat/completions", key, CHAT); // 401: regenerated away
      send("POST", "/key/sk-missing-LOGCHECK/regenerate", MASTER, "{}");
      send("POST", "/model/new", MASTER, "{\"model_name\":\"x\",\"litellm_params\":{\"model\":\"bad\","
          + "\"api_key\":\"replica-LOGCHECK-secret\"}}");
      send("GET", "/v1/models", "sk-wrong-LOGCHECK-secret", null);
    } finally {
      root.detachAppender(logs);
      root.setLevel(before);
    }
    StringBuilder all = new StringBuilder();
    for (ch.qos.logback.classic.spi.ILoggingEvent e : logs.list) {
      all.append(e.getFormattedMessage()).append('\n');
      if (e.getThrowableProxy() != null) {
        all.append(e.getThrowableProxy().getMessage()).append('\n');
      }
    }
    assertThat(logs.list).as("DEBUG logging was on").isNotEmpty();
    assertThat(all.toString()).doesNotContain("LOGCHECK").doesNotContain(MASTER).doesNotContain(REPLICA_KEY);
  }

  @Test
  void aDeploymentAddedThroughTheApiServesAtOnce() throws Exception {
    HttpResponse<String> add = send("POST", "/model/new", MASTER, "{\"model_name\":\"added\",\"litellm_params\":"
        + "{\"model\":\"hosted_vllm/" + SERVED + "\",\"api_base\":\"http://127.0.0.1:" + fake.port() + "/v1\","
        + "\"api_key\":\"" + REPLICA_KEY + "\"},\"model_info\":{\"id\":\"added-1\"}}");
    assertThat(add.statusCode()).as(add.body()).isEqualTo(200);
    assertThat(add.body()).doesNotContain(REPLICA_KEY);
    HttpResponse<String> r = send("POST", "/v1/chat/completions", MASTER,
        "{\"model\":\"added\",\"messages\":[]}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(fake.requests().get(0).body()).contains("\"model\":\"" + SERVED + "\"");
    assertThat(send("POST", "/model/delete", MASTER, "{\"id\":\"added-1\"}").statusCode()).isEqualTo(200);
    assertThat(send("POST", "/v1/chat/completions", MASTER, "{\"model\":\"added\"}").statusCode()).isEqualTo(400);
  }
}
