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
import java.io.File;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SIGTERM during streams: nothing in flight is cut (issue 7, drain). */
class DrainTest {
  static final String MASTER = "sk-master-SECRET-drain";
  static final String BODY = "{\"model\":\"llama\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  @TempDir
  Path dir;

  private static List<Future<RawHttp.Response>> streams(ExecutorService pool, int port, int n) {
    List<Future<RawHttp.Response>> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(pool.submit(() -> {
        try (RawHttp c = new RawHttp(port)) {
          c.socket.setSoTimeout(30_000);
          return c.exchange("POST", "/v1/chat/completions", BODY, "Authorization: Bearer " + MASTER);
        }
      }));
    }
    return out;
  }

  private static void awaitStarted(FakeVllm fake, long n) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (fake.streamsStarted() < n && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(fake.streamsStarted()).isGreaterThanOrEqualTo(n);
  }

  @Test
  void drainLetsFiftyStreamsFinishAndReadinessSays503() throws Exception {
    try (FakeVllm fake = FakeVllm.builder().servedModel("m").tokens(40).interTokenDelay(Duration.ofMillis(25)).start()) {
      SluiceConfig cfg = new SluiceConfig(null, List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, "m",
          URI.create("http://127.0.0.1:" + fake.port() + "/v1"), null, null, null, null, null, "f")),
          GeneralSettings.defaults(), RouterSettings.defaults(), LitellmSettings.defaults(), ServerSettings.defaults());
      SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 2, Secret.of(MASTER),
          false, io.sluice.auth.KeyStore.NONE, true));
      ExecutorService pool = Executors.newFixedThreadPool(51);
      try {
        List<Future<RawHttp.Response>> running = streams(pool, sluice.port(), 50);
        awaitStarted(fake, 50);
        Future<Integer> drained = pool.submit(() -> sluice.drainAndClose(Duration.ofSeconds(20)));
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!sluice.drain().draining() && System.nanoTime() < deadline) {
          Thread.sleep(5);
        }
        try (RawHttp probe = new RawHttp(sluice.port())) {
          RawHttp.Response ready = probe.exchange("GET", "/health/readiness", null);
          assertThat(ready.status()).as("a load balancer sees the node leaving").isEqualTo(503);
          assertThat(ready.headers()).containsEntry("connection", "close");
        }
        for (Future<RawHttp.Response> f : running) {
          RawHttp.Response r = f.get(30, TimeUnit.SECONDS);
          assertThat(r.status()).isEqualTo(200);
          List<String> ev = r.events();
          assertThat(ev).as("every stream completes").hasSize(1 + 40 + 1);
          assertThat(ev.get(ev.size() - 1)).isEqualTo("data: [DONE]");
        }
        assertThat(drained.get(30, TimeUnit.SECONDS)).as("nothing was cut by the drain timeout").isZero();
        assertThat(fake.streamsAborted()).isZero();
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void sigtermDuringFiftyStreamsLetsAllFiftyCompleteAndExitsZero() throws Exception {
    try (FakeVllm fake = FakeVllm.builder().servedModel("m").tokens(30).interTokenDelay(Duration.ofMillis(30)).start()) {
      int port;
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      Path cfg = dir.resolve("config.yaml");
      Files.writeString(cfg, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, "
          + "api_base: 'http://127.0.0.1:" + fake.port() + "/v1'}\n");
      ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-cp", System.getProperty("java.class.path"), "io.sluice.server.SluiceMain", "--config", cfg.toString(),
          "--host", "127.0.0.1", "--port", String.valueOf(port), "--drain-timeout", "20s",
          "--data-dir", dir.resolve("data").toString());
      pb.environment().put("SLUICE_MASTER_KEY", MASTER);
      File log = dir.resolve("sluice.log").toFile();
      pb.redirectErrorStream(true).redirectOutput(log);
      Process p = pb.start();
      ExecutorService pool = Executors.newFixedThreadPool(50);
      try {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        boolean up = false;
        while (!up && System.nanoTime() < deadline) {
          try (RawHttp c = new RawHttp(port)) {
            up = c.exchange("GET", "/health/liveliness", null).status() == 200;
          } catch (java.io.IOException e) {
            Thread.sleep(50);
          }
        }
        assertThat(up).as("sluice started: %s", Files.readString(log.toPath())).isTrue();
        List<Future<RawHttp.Response>> running = streams(pool, port, 50);
        awaitStarted(fake, 50);
        p.destroy(); // SIGTERM
        for (Future<RawHttp.Response> f : running) {
          List<String> ev = f.get(30, TimeUnit.SECONDS).events();
          assertThat(ev.get(ev.size() - 1)).isEqualTo("data: [DONE]");
          assertThat(ev).hasSize(1 + 30 + 1);
        }
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("exit 0 after a clean drain: %s", Files.readString(log.toPath())).isZero();
        assertThat(Files.readString(log.toPath())).contains("SIGTERM received").contains("Drained")
            .doesNotContain(MASTER);
      } finally {
        pool.shutdownNow();
        p.destroyForcibly();
      }
    }
  }
}
