package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

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
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.File;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * No lost spend rows (issue 6): PostgreSQL stopped and started again under load, and SIGTERM right after a burst —
 * every relayed request has exactly one spend row afterwards.
 */
class SpendDurabilityTest {
  static final String MASTER = "sk-master-SD-SECRET";
  static final String CHAT = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"a b c\"}]}";

  @TempDir
  Path dir;

  static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  static EmbeddedPostgres startPg(Path data, int port) throws Exception {
    return EmbeddedPostgres.builder().setDataDirectory(data).setCleanDataDirectory(false).setPort(port)
        .setPGStartupWait(Duration.ofSeconds(30)).start();
  }

  static Set<String> rows(String jdbcUrl, String user, String password) throws Exception {
    Set<String> ids = new HashSet<>();
    try (Connection c = DriverManager.getConnection(jdbcUrl, user, password);
        Statement s = c.createStatement();
        ResultSet r = s.executeQuery("SELECT request_id FROM sluice_spend_logs")) {
      while (r.next()) {
        assertThat(ids.add(r.getString(1))).as("one row per request").isTrue();
      }
    }
    return ids;
  }

  @Test
  void postgresStoppedAndStartedAgainMidLoadLosesNoSpendRow() throws Exception {
    int pgPort = freePort();
    Path data = dir.resolve("pg");
    EmbeddedPostgres pg = startPg(data, pgPort);
    try (FakeVllm fake = FakeVllm.builder().servedModel("m").tokens(3).ttft(Duration.ZERO)
        .interTokenDelay(Duration.ZERO).start()) {
      SluiceConfig cfg = new SluiceConfig(null, List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, "m",
          URI.create("http://127.0.0.1:" + fake.port() + "/v1"), null, null, null, null, null, "fake-a")),
          GeneralSettings.defaults(), RouterSettings.defaults(), LitellmSettings.defaults(),
          ServerSettings.defaults());
      AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg,
          Map.of("DATABASE_URL", "postgresql://postgres@127.0.0.1:" + pgPort + "/postgres"), Secret.of(MASTER))
          .withSpendSpillFile(dir.resolve("spill.jsonl")), Map.of(), KeyCache.NONE);
      Set<String> relayed = ConcurrentHashMap.newKeySet();
      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger failures = new AtomicInteger();
      try (SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1,
          Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane))) {
        ExecutorService load = Executors.newFixedThreadPool(4);
        AtomicInteger seq = new AtomicInteger();
        for (int t = 0; t < 4; t++) {
          load.submit(() -> {
            while (!stop.get()) {
              String id = "sd-" + seq.incrementAndGet();
              try {
                var r = VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/v1/chat/completions", MASTER, CHAT,
                    "x-request-id", id);
                if (r.statusCode() == 200) {
                  relayed.add(id);
                } else {
                  failures.incrementAndGet();
                }
              } catch (Exception e) {
                failures.incrementAndGet();
              }
            }
            return null;
          });
        }
        Thread.sleep(1000);
        int beforeStop = relayed.size();
        pg.close(); // PostgreSQL stops: the writer holds rows, then spills
        Thread.sleep(2500);
        int whileDown = relayed.size() - beforeStop;
        pg = startPg(data, pgPort);
        Thread.sleep(1000);
        stop.set(true);
        load.shutdown();
        assertThat(load.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        assertThat(whileDown).as("requests kept flowing while PostgreSQL was down").isPositive();
        assertThat(failures.get()).as("requests never fail because the spend log cannot be written").isZero();
        assertThat(plane.spend().flush(Duration.ofSeconds(60))).as(String.valueOf(plane.spend().lastError()))
            .isTrue();
        assertThat(plane.spend().dropped()).isZero();
        Set<String> ids = rows(pg.getJdbcUrl("postgres", "postgres"), "postgres", null);
        assertThat(ids).as("every relayed request has its row").containsAll(relayed);
        assertThat(ids).hasSameSizeAs(relayed);
      }
    } finally {
      pg.close();
    }
  }

  @Test
  void sigtermWritesTheSpendRowsOfEveryRequestBeforeExit() throws Exception {
    try (TestDatabases.TestDatabase db = TestDatabases.create();
        FakeVllm fake = FakeVllm.builder().servedModel("m").tokens(3).start()) {
      int port = freePort();
      Path cfg = dir.resolve("config.yaml");
      Files.writeString(cfg, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, "
          + "api_base: 'http://127.0.0.1:" + fake.port() + "/v1'}\n");
      ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-cp", System.getProperty("java.class.path"), "io.sluice.server.SluiceMain", "--config", cfg.toString(),
          "--host", "127.0.0.1", "--port", String.valueOf(port), "--data-dir", dir.resolve("data").toString());
      pb.environment().put("SLUICE_MASTER_KEY", MASTER);
      pb.environment().put("DATABASE_URL", db.litellmUrl());
      pb.environment().remove("REDIS_URL");
      pb.environment().remove("REDIS_HOST");
      File log = dir.resolve("sluice.log").toFile();
      pb.redirectErrorStream(true).redirectOutput(log);
      Process p = pb.start();
      try {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        boolean up = false;
        while (!up && System.nanoTime() < deadline) {
          try {
            up = VirtualKeyE2ETestSupport.send(port, "GET", "/health/liveliness", null, null).statusCode() == 200;
          } catch (java.io.IOException e) {
            Thread.sleep(50);
          }
        }
        assertThat(up).as("sluice started: %s", Files.readString(log.toPath())).isTrue();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
          String id = "term-" + i;
          var r = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER, CHAT, "x-request-id",
              id);
          assertThat(r.statusCode()).isEqualTo(200);
          ids.add(id);
        }
        p.destroy(); // SIGTERM right after the last response: rows still queued must be written
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(log.toPath())).isZero();
        assertThat(rows(db.jdbcUrl(), db.url.user(), db.url.password())).containsExactlyInAnyOrderElementsOf(ids);
        assertThat(Files.readString(log.toPath())).doesNotContain(MASTER);
      } finally {
        p.destroyForcibly();
      }
    }
  }

  @Test
  void readinessAnswers503WhilePostgresIsDownAndHealthyAgainAfter() throws Exception {
    int pgPort = freePort();
    Path data = dir.resolve("pg-ready");
    EmbeddedPostgres pg = startPg(data, pgPort);
    try {
      SluiceConfig cfg = new SluiceConfig(null, List.of(), GeneralSettings.defaults(), RouterSettings.defaults(),
          LitellmSettings.defaults(), ServerSettings.defaults());
      AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg,
          Map.of("DATABASE_URL", "postgresql://postgres@127.0.0.1:" + pgPort + "/postgres"), Secret.of(MASTER))
          .withSpendSpillFile(dir.resolve("spill-ready.jsonl")), Map.of(), KeyCache.NONE);
      try (SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1,
          Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane))) {
        var up = VirtualKeyE2ETestSupport.send(sluice.port(), "GET", "/health/readiness", null, null);
        assertThat(up.statusCode()).isEqualTo(200);
        assertThat(up.body()).contains("\"db\":\"connected\"");
        pg.close();
        assertThat(awaitReadiness(sluice.port(), 503)).as("503 once the database stops answering").isTrue();
        pg = startPg(data, pgPort);
        assertThat(awaitReadiness(sluice.port(), 200)).as("ready again").isTrue();
      }
    } finally {
      pg.close();
    }
  }

  static boolean awaitReadiness(int port, int status) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (System.nanoTime() < deadline) {
      if (VirtualKeyE2ETestSupport.send(port, "GET", "/health/readiness", null, null).statusCode() == status) {
        return true;
      }
      Thread.sleep(100);
    }
    return false;
  }
}
