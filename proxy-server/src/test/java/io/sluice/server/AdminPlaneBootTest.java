package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The process with its admin plane: keys issued over HTTP authenticate the next request; embedded PG persists. */
class AdminPlaneBootTest {
  static final String MASTER = "sk-master-BOOT-SECRET";
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir
  Path dir;
  private final HttpClient http = HttpClient.newHttpClient();

  private record Run(SluiceServer server, String stderr) {}

  private Run boot(Map<String, String> env, String... extra) throws Exception {
    Path cfg = dir.resolve("config.yaml");
    Files.writeString(cfg, "general_settings:\n  master_key: " + MASTER + "\nmodel_list:\n"
        + "  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, api_base: 'http://127.0.0.1:9/v1'}\n"
        + "  - model_name: other\n    litellm_params: {model: hosted_vllm/o, api_base: 'http://127.0.0.1:9/v1'}\n");
    StringWriter err = new StringWriter();
    SluiceMain main = new SluiceMain(env, new PrintWriter(err, true));
    String[] base = {"--config", cfg.toString(), "--host", "127.0.0.1", "--port", "0"};
    String[] args = new String[base.length + extra.length];
    System.arraycopy(base, 0, args, 0, base.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    new CommandLine(main).parseArgs(args);
    return new Run(main.boot(), err.toString());
  }

  private HttpResponse<String> send(SluiceServer s, String method, String path, String key, String body)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aGeneratedKeyWorksAtOnceAndStopsWorkingWhenBlockedOrDeleted() throws Exception {
    try (TestDatabases.TestDatabase db = TestDatabases.create()) {
      Map<String, String> env = new HashMap<>();
      env.put("DATABASE_URL", db.litellmUrl());
      Run r = boot(env);
      assertThat(r.server()).as(r.stderr()).isNotNull();
      try (SluiceServer s = r.server()) {
        HttpResponse<String> gen = send(s, "POST", "/key/generate", MASTER, "{\"models\":[\"llama\"]}");
        assertThat(gen.statusCode()).as(gen.body()).isEqualTo(200);
        String key = JSON.readTree(gen.body()).get("key").asText();
        HttpResponse<String> models = send(s, "GET", "/v1/models", key, null);
        assertThat(models.statusCode()).isEqualTo(200);
        JsonNode data = JSON.readTree(models.body()).get("data");
        assertThat(data).hasSize(1);
        assertThat(data.get(0).get("id").asText()).isEqualTo("llama");
        HttpResponse<String> denied = send(s, "POST", "/v1/chat/completions", key, "{\"model\":\"other\"}");
        assertThat(denied.statusCode()).isEqualTo(401);
        assertThat(denied.body()).contains("key_model_access_denied");
        assertThat(send(s, "POST", "/key/block", MASTER, "{\"key\":\"" + key + "\"}").statusCode()).isEqualTo(200);
        HttpResponse<String> blocked = send(s, "GET", "/v1/models", key, null);
        assertThat(blocked.statusCode()).isEqualTo(401);
        assertThat(blocked.body()).contains("Key is blocked").doesNotContain(key);
        send(s, "POST", "/key/unblock", MASTER, "{\"key\":\"" + key + "\"}");
        assertThat(send(s, "GET", "/v1/models", key, null).statusCode()).isEqualTo(200);
        send(s, "POST", "/key/delete", MASTER, "{\"keys\":[\"" + key + "\"]}");
        assertThat(send(s, "GET", "/v1/models", key, null).statusCode()).isEqualTo(401);
        HttpResponse<String> ready = send(s, "GET", "/health/readiness", null, null);
        assertThat(ready.body()).contains("\"db\":\"connected\"");
      }
    }
  }

  @Test
  void theWarmupRehearsesTheSpendPathOnTheRealDatabaseAndKeepsNothing() throws Exception {
    try (TestDatabases.TestDatabase db = TestDatabases.create()) {
      Map<String, String> env = new HashMap<>();
      env.put("DATABASE_URL", db.litellmUrl());
      Run r = boot(env, "--warmup-seconds", "0");
      assertThat(r.server()).as(r.stderr()).isNotNull();
      try (SluiceServer s = r.server()) {
        Warmup.Report w = s.warmupForTest(java.time.Duration.ofSeconds(4));
        assertThat(w.rehearsal()).as("the rehearsals ran to the end").isNull();
        assertThat(w.rehearsedRows()).as("spend rows through the real spend path").isGreaterThan(10);
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(db.url.jdbcUrl(), db.url.user(),
            db.url.password()); java.sql.Statement st = c.createStatement()) {
          for (String table : new String[] {"sluice_spend_logs", "sluice_spend_daily", "sluice_end_users"}) {
            try (java.sql.ResultSet rs = st.executeQuery("SELECT count(*) FROM " + table)) {
              rs.next();
              assertThat(rs.getLong(1)).as("rows left in " + table).isZero();
            }
          }
        }
      }
    }
  }

  @Test
  void nodesShareKeysThroughRedisSoACachedKeyWorksOnAnotherNodeWhileTheDatabaseIsStuck() throws Exception {
    try (TestDatabases.TestDatabase db = TestDatabases.create()) {
      Map<String, String> env = new HashMap<>();
      env.put("DATABASE_URL", db.litellmUrl());
      env.put("REDIS_URL", System.getenv().getOrDefault("REDIS_URL", "redis://127.0.0.1:6379"));
      Run a = boot(env);
      Run b = boot(env);
      assertThat(a.server()).as(a.stderr()).isNotNull();
      assertThat(b.server()).as(b.stderr()).isNotNull();
      try (SluiceServer nodeA = a.server(); SluiceServer nodeB = b.server()) {
        String key = JSON.readTree(send(nodeA, "POST", "/key/generate", MASTER, "{}").body()).get("key").asText();
        String other = JSON.readTree(send(nodeA, "POST", "/key/generate", MASTER, "{}").body()).get("key").asText();
        assertThat(send(nodeA, "GET", "/v1/models", key, null).statusCode()).isEqualTo(200); // A's lookup fills Redis
        Thread.sleep(200); // the L2 put is fire-and-forget
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(db.url.jdbcUrl(), db.url.user(),
            db.url.password()); java.sql.Statement st = c.createStatement()) {
          c.setAutoCommit(false);
          st.execute("LOCK TABLE sluice_keys IN ACCESS EXCLUSIVE MODE");
          java.util.concurrent.CompletableFuture<HttpResponse<String>> stuck = http.sendAsync(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + nodeB.port() + "/v1/models")).header("Authorization", "Bearer " + other)
              .build(), HttpResponse.BodyHandlers.ofString());
          assertThat(send(nodeB, "GET", "/v1/models", key, null).statusCode())
              .as("node B never saw this key: served from Redis, not the locked table").isEqualTo(200);
          assertThat(stuck).isNotDone();
          c.rollback();
          assertThat(stuck.get(10, java.util.concurrent.TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        }
        // Blocking on A drops the key from Redis at once; B's own cache is the revocation issue's to clear.
        send(nodeA, "POST", "/key/block", MASTER, "{\"key\":\"" + key + "\"}");
        assertThat(send(nodeA, "GET", "/v1/models", key, null).statusCode()).isEqualTo(401);
      }
    }
  }

  @Test
  void theEmbeddedDatabaseKeepsKeysAcrossRestarts() throws Exception {
    Map<String, String> env = new HashMap<>();
    Path data = dir.resolve("data");
    String key;
    Run first = boot(env, "--data-dir", data.toString());
    assertThat(first.server()).as(first.stderr()).isNotNull();
    try (SluiceServer s = first.server()) {
      key = JSON.readTree(send(s, "POST", "/key/generate", MASTER, "{}").body()).get("key").asText();
      assertThat(send(s, "GET", "/v1/models", key, null).statusCode()).isEqualTo(200);
    }
    assertThat(Files.exists(data.resolve("pg").resolve("PG_VERSION"))).isTrue();
    Run second = boot(env, "--data-dir", data.toString());
    assertThat(second.server()).as(second.stderr()).isNotNull();
    try (SluiceServer s = second.server()) {
      assertThat(send(s, "GET", "/v1/models", key, null).statusCode()).isEqualTo(200);
    }
  }

  @Test
  void anUnreachableDatabaseStopsStartUpWithAClearMessage() throws Exception {
    Map<String, String> env = new HashMap<>();
    env.put("DATABASE_URL", "postgresql://u:DB-PASSWORD-SECRET@127.0.0.1:1/x");
    Run r = boot(env);
    assertThat(r.server()).isNull();
    assertThat(r.stderr()).contains("Cannot connect to PostgreSQL at 127.0.0.1:1/x")
        .doesNotContain("DB-PASSWORD-SECRET");
  }
}
