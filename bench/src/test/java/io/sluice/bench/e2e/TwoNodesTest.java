package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.server.redis.RedisConnection;
import io.sluice.server.redis.RedisSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.net.http.HttpResponse;
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
 * Two Sluice processes on one PostgreSQL and one Redis (issue 6): limits hold for both together, and a key blocked or a
 * deployment added on one node takes effect on the other within a second — not after the other node's key cache TTL
 * (60 s) or deployment reload (10 s).
 */
class TwoNodesTest {
  static final String MASTER = "sk-master-2N-SECRET";
  static final String SERVED = "m";
  static final ObjectMapper JSON = new ObjectMapper();
  static final String CHAT = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static Path dir;
  static Node a;
  static Node b;

  static RedisSettings redis() {
    String url = System.getenv("REDIS_URL");
    RedisSettings s = RedisSettings.fromEnv(Map.of("REDIS_URL", url != null ? url : "redis://127.0.0.1:6379"))
        .orElseThrow();
    try (RedisConnection c = RedisConnection.connect(s)) {
      if (!c.ping()) {
        fail("no Redis for the two-node tests: start one with `redis-server --port 6379` or set REDIS_URL");
      }
    }
    return s;
  }

  /** One Sluice process: {@code SluiceMain} with the test's database, Redis and config. */
  static final class Node implements AutoCloseable {
    final Process process;
    final int port;
    final Path log;

    Node(Path cfg, Path dir, String redisUrl, String name) throws Exception {
      this(cfg, dir, redisUrl, name, db.litellmUrl());
    }

    /** A node on the database at {@code databaseUrl} (other test classes have their own). */
    Node(Path cfg, Path dir, String redisUrl, String name, String databaseUrl) throws Exception {
      this(cfg, dir, redisUrl, name, databaseUrl, java.util.Map.of());
    }

    /** As above, with {@code env} added to the node's environment. */
    Node(Path cfg, Path dir, String redisUrl, String name, String databaseUrl, java.util.Map<String, String> env)
        throws Exception {
      try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
        port = s.getLocalPort();
      }
      log = dir.resolve(name + ".log");
      ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-Xmx512m", "-cp", System.getProperty("java.class.path"), "io.sluice.server.SluiceMain", "--config",
          cfg.toString(), "--host", "127.0.0.1", "--port", String.valueOf(port), "--threads", "1",
          "--data-dir", dir.resolve(name).toString());
      pb.environment().put("SLUICE_MASTER_KEY", MASTER);
      pb.environment().put("DATABASE_URL", databaseUrl);
      pb.environment().put("REDIS_URL", redisUrl);
      pb.environment().putAll(env);
      pb.redirectErrorStream(true).redirectOutput(log.toFile());
      process = pb.start();
      long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
      while (true) {
        try {
          if (VirtualKeyE2ETestSupport.send(port, "GET", "/health/liveliness", null, null).statusCode() == 200) {
            break;
          }
        } catch (java.io.IOException e) {
          // not listening yet
        }
        if (!process.isAlive() || System.nanoTime() > deadline) {
          fail(name + " did not start: " + Files.readString(log));
        }
        Thread.sleep(50);
      }
    }

    int port() {
      return port;
    }

    @Override
    public void close() throws Exception {
      process.destroy(); // SIGTERM: drain, flush spend rows, exit
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }

  @BeforeAll
  static void start() throws Exception {
    redis();
    String url = System.getenv("REDIS_URL") != null ? System.getenv("REDIS_URL") : "redis://127.0.0.1:6379";
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(2).ttft(Duration.ZERO)
        .interTokenDelay(Duration.ZERO).start();
    dir = Files.createTempDirectory("sluice-two-nodes");
    Path cfg = dir.resolve("config.yaml");
    Files.writeString(cfg, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/" + SERVED
        + ", api_base: 'http://127.0.0.1:" + fake.port() + "/v1'}\n    model_info: {id: fake-a}\n");
    a = new Node(cfg, dir, url, "node-a");
    b = new Node(cfg, dir, url, "node-b");
  }

  @AfterAll
  static void stop() throws Exception {
    for (Node n : new Node[] {a, b}) {
      if (n != null) {
        n.close();
      }
    }
    if (fake != null) {
      fake.close();
    }
    if (db != null) {
      db.close();
    }
    for (Node n : new Node[] {a, b}) {
      if (n != null) {
        assertThat(Files.readString(n.log)).as("no secret in a node's log").doesNotContain(MASTER);
      }
    }
  }

  static HttpResponse<String> send(Node node, String method, String path, String key, String body)
      throws Exception {
    return VirtualKeyE2ETestSupport.send(node.port(), method, path, key, body);
  }

  static String key(String body) throws Exception {
    var r = send(a, "POST", "/key/generate", MASTER, body);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body()).get("key").asText();
  }

  @Test
  void anRpmLimitHoldsAcrossBothNodes() throws Exception {
    // Stay inside one one-minute window.
    long intoMinute = System.currentTimeMillis() % 60_000;
    if (intoMinute > 50_000) {
      Thread.sleep(60_000 - intoMinute + 100);
    }
    String k = key("{\"rpm_limit\":20}");
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<Integer>> all = new ArrayList<>();
      for (int i = 0; i < 60; i++) {
        Node node = i % 2 == 0 ? a : b;
        all.add(pool.submit(() -> send(node, "POST", "/v1/chat/completions", k, CHAT).statusCode()));
      }
      int ok = 0;
      int limited = 0;
      for (Future<Integer> f : all) {
        int s = f.get();
        if (s == 200) {
          ok++;
        } else if (s == 429) {
          limited++;
        }
      }
      assertThat(ok).as("2xx over both nodes").isEqualTo(20);
      assertThat(limited).isEqualTo(40);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aKeyBlockedOnNodeAIsRefusedOnNodeBWithinOneSecond() throws Exception {
    String k = key("{}");
    assertThat(send(b, "POST", "/v1/chat/completions", k, CHAT).statusCode()).isEqualTo(200); // cached on B
    var block = send(a, "POST", "/key/block", MASTER, "{\"key\":\"" + k + "\"}");
    assertThat(block.statusCode()).as(block.body()).isEqualTo(200);
    long t0 = System.nanoTime();
    int status;
    do {
      status = send(b, "POST", "/v1/chat/completions", k, CHAT).statusCode();
    } while (status == 200 && System.nanoTime() - t0 < Duration.ofSeconds(3).toNanos());
    assertThat(status).isEqualTo(401);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
    var unblock = send(a, "POST", "/key/unblock", MASTER, "{\"key\":\"" + k + "\"}");
    assertThat(unblock.statusCode()).isEqualTo(200);
    t0 = System.nanoTime();
    do {
      status = send(b, "POST", "/v1/chat/completions", k, CHAT).statusCode();
    } while (status != 200 && System.nanoTime() - t0 < Duration.ofSeconds(3).toNanos());
    assertThat(status).isEqualTo(200);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
  }

  @Test
  void anEndUserBlockedOnNodeAIsRefusedOnNodeBWithinOneSecond() throws Exception {
    String k = key("{}");
    String eu = "two-nodes-eu-" + System.nanoTime();
    String body = CHAT.substring(0, CHAT.lastIndexOf('}')) + ",\"user\":\"" + eu + "\"}";
    assertThat(send(b, "POST", "/v1/chat/completions", k, body).statusCode()).as("cached on B as unknown")
        .isEqualTo(200);
    var block = send(a, "POST", "/customer/block", MASTER, "{\"user_ids\":[\"" + eu + "\"]}");
    assertThat(block.statusCode()).as(block.body()).isEqualTo(200);
    long t0 = System.nanoTime();
    HttpResponse<String> r;
    do {
      r = send(b, "POST", "/v1/chat/completions", k, body);
    } while (r.statusCode() == 200 && System.nanoTime() - t0 < Duration.ofSeconds(3).toNanos());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
    assertThat(r.body()).contains("User blocked from making LLM API Calls. User=" + eu);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
  }

  @Test
  void aKeyDeletedOnNodeAIsRefusedOnNodeBWithinOneSecond() throws Exception {
    String k = key("{}");
    assertThat(send(b, "POST", "/v1/chat/completions", k, CHAT).statusCode()).isEqualTo(200);
    assertThat(send(a, "POST", "/key/delete", MASTER, "{\"keys\":[\"" + k + "\"]}").statusCode()).isEqualTo(200);
    long t0 = System.nanoTime();
    int status;
    do {
      status = send(b, "POST", "/v1/chat/completions", k, CHAT).statusCode();
    } while (status == 200 && System.nanoTime() - t0 < Duration.ofSeconds(3).toNanos());
    assertThat(status).isEqualTo(401);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
  }

  @Test
  void aDeploymentAddedOnNodeAIsRoutableOnNodeBWithinOneSecond() throws Exception {
    String body = "{\"model\":\"added\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assertThat(send(b, "POST", "/v1/chat/completions", MASTER, body).statusCode()).isEqualTo(400);
    var add = send(a, "POST", "/model/new", MASTER, "{\"model_name\":\"added\",\"litellm_params\":{\"model\":"
        + "\"hosted_vllm/" + SERVED + "\",\"api_base\":\"http://127.0.0.1:" + fake.port() + "/v1\"},"
        + "\"model_info\":{\"id\":\"added-1\"}}");
    assertThat(add.statusCode()).as(add.body()).isEqualTo(200);
    long t0 = System.nanoTime();
    int status;
    do {
      status = send(b, "POST", "/v1/chat/completions", MASTER, body).statusCode();
    } while (status != 200 && System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos());
    assertThat(status).isEqualTo(200);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(1));
  }
}
