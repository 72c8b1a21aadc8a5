package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.Role;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.AdmissionSettings;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fair admission end to end (issue 20 §2): replicas at {@code max_parallel_requests} make new requests wait in
 * Sluice, not at the replica; waiters are served fairly between tenants; a deadline answers 429 with
 * {@code Retry-After} in LiteLLM's shape; a body past the byte cap is refused at once; a client that leaves is removed.
 */
class FairAdmissionTest {
  static final String MASTER = "sk-master-SECRET-fair";
  static final String HEAVY = "sk-heavy-SECRET";
  static final String LIGHT = "sk-light-SECRET";
  static FakeVllm fast;
  static FakeVllm slow;
  static SluiceServer sluice;

  static DeploymentConfig dep(String group, int port, String id, int parallel) {
    return new DeploymentConfig(group, Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + port + "/v1"),
        null, null, null, null, null, id, null, null, null, Map.of(), parallel);
  }

  @BeforeAll
  static void start() throws Exception {
    fast = FakeVllm.builder().servedModel("m").tokens(2).ttft(Duration.ofMillis(200)).start();
    slow = FakeVllm.builder().servedModel("m").tokens(2).ttft(Duration.ofSeconds(8)).start();
    AdmissionSettings admission = new AdmissionSettings(true, Duration.ofSeconds(3), null, null, 4000, Map.of(),
        Map.of());
    RouterSettings router = new RouterSettings("simple-shuffle", null, 0, 3, Duration.ofSeconds(5), Map.of(), null,
        Map.of(), false, null, admission);
    SluiceConfig cfg = new SluiceConfig(null, List.of(dep("two", fast.port(), "two-a", 2),
        dep("one", fast.port(), "one-a", 1), dep("slow", slow.port(), "slow-a", 1)), GeneralSettings.defaults(),
        router, LitellmSettings.defaults(), ServerSettings.defaults());
    Map<KeyHash, KeyRecord> keys = Map.of(
        KeyHash.of(HEAVY), KeyRecord.simple(KeyHash.of(HEAVY), "heavy", Role.INTERNAL_USER, Set.of(), false, null),
        KeyHash.of(LIGHT), KeyRecord.simple(KeyHash.of(LIGHT), "light", Role.INTERNAL_USER, Set.of(), false, null));
    sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 2, Secret.of(MASTER), false,
        hash -> CompletableFuture.completedFuture(Optional.ofNullable(keys.get(hash))), true));
  }

  @AfterAll
  static void stop() {
    sluice.close();
    fast.close();
    slow.close();
  }

  private static String chat(String model) {
    return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";
  }

  private static RawHttp.Response call(String model, String key) throws Exception {
    try (RawHttp c = new RawHttp(sluice.port())) {
      return c.exchange("POST", "/v1/chat/completions", chat(model), "Authorization: Bearer " + key);
    }
  }

  private static PromText metrics() throws Exception {
    return PromText.parse(metricsText());
  }

  private static String metricsText() throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), "GET", "/metrics", MASTER, null).body();
  }

  @Test
  void requestsPastMaxParallelWaitInSluiceAndAllComplete() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(6);
    try {
      long t0 = System.nanoTime();
      List<Future<RawHttp.Response>> rs = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        rs.add(pool.submit(() -> call("two", MASTER)));
      }
      for (Future<RawHttp.Response> f : rs) {
        RawHttp.Response r = f.get();
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.bodyText()).contains("[DONE]").doesNotContain("error");
      }
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertThat(ms).as("2 at a time at 200 ms each: three waves, never 6 at the replica").isGreaterThanOrEqualTo(550);
      PromText m = metrics();
      assertThat(m.sum("sluice_admission_admitted_total", Map.of("model_group", "two")))
          .as("4 of the 6 waited in Sluice").isGreaterThanOrEqualTo(4.0);
      assertThat(m.sum("sluice_admission_queue_depth", Map.of("model_group", "two"))).isZero();
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aLightTenantIsServedBetweenAHeavyOnesBacklog() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(12);
    ConcurrentLinkedQueue<String> done = new ConcurrentLinkedQueue<>();
    try {
      List<Future<?>> rs = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        rs.add(pool.submit(() -> {
          assertThat(call("one", HEAVY).status()).isEqualTo(200);
          done.add("heavy");
          return null;
        }));
      }
      // One slot, 200 ms a request: wait until the heavy backlog is queued, then the light tenant sends one.
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (metrics().sum("sluice_admission_queue_depth", Map.of("model_group", "one", "tenant", "heavy")) < 4
          && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      double heavyQueued = metrics().sum("sluice_admission_queue_depth", Map.of("model_group", "one",
          "tenant", "heavy"));
      assertThat(heavyQueued).as("the heavy tenant's backlog waits in Sluice").isGreaterThanOrEqualTo(4);
      rs.add(pool.submit(() -> {
        assertThat(call("one", LIGHT).status()).isEqualTo(200);
        done.add("light");
        return null;
      }));
      // Count from the moment the light request is in the queue (this machine may take a while to send it).
      deadline = System.nanoTime() + 5_000_000_000L;
      while (metrics().sum("sluice_admission_queue_depth", Map.of("model_group", "one", "tenant", "light")) < 1
          && !done.contains("light") && System.nanoTime() < deadline) {
        Thread.sleep(2);
      }
      int heavyDoneBefore = done.size();
      for (Future<?> f : rs) {
        f.get();
      }
      List<String> order = new ArrayList<>(done);
      int heavyAhead = order.indexOf("light") - heavyDoneBefore;
      assertThat(heavyAhead).as("after it queued, the light tenant's request waits for at most the heavy request in "
          + "flight and one more (equal virtual tags), not for the %s queued heavy ones: %s (%s done before)",
          heavyQueued, order, heavyDoneBefore).isLessThanOrEqualTo(2);
      PromText m = metrics();
      assertThat(m.sum("sluice_admission_admitted_total", Map.of("model_group", "one", "tenant", "light")))
          .as("tenant label: the key's alias, never the key").isEqualTo(1.0);
      assertThat(metricsText()).doesNotContain(HEAVY).doesNotContain(LIGHT);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aDeadlineAnswers429WithRetryAfterABigBodyIsRefusedAtOnceAndALeaverIsRemoved() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<RawHttp.Response> holder = pool.submit(() -> call("slow", MASTER)); // takes the one slot for 8 s
      Thread.sleep(200);
      long t0 = System.nanoTime();
      RawHttp.Response r = call("slow", MASTER);
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertThat(r.status()).isEqualTo(429);
      assertThat(r.headers()).containsKey("retry-after");
      assertThat(r.bodyText()).contains("\"type\":\"rate_limit_error\"").contains("queue_timeout");
      assertThat(ms).as("after queue_timeout (3 s), not the replica's 8 s").isBetween(2900L, 6500L);

      String big = "{\"model\":\"slow\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(5000)
          + "\"}]}";
      t0 = System.nanoTime();
      RawHttp.Response full;
      try (RawHttp c = new RawHttp(sluice.port())) {
        full = c.exchange("POST", "/v1/chat/completions", big, "Authorization: Bearer " + MASTER);
      }
      assertThat(full.status()).isEqualTo(429);
      assertThat(full.bodyText()).contains("max_queued_bytes");
      assertThat((System.nanoTime() - t0) / 1_000_000).as("at once").isLessThan(1000);

      RawHttp leaver = new RawHttp(sluice.port());
      leaver.send("POST", "/v1/chat/completions", chat("slow"), "Authorization: Bearer " + MASTER);
      long deadline = System.nanoTime() + 1_000_000_000L;
      while (metrics().sum("sluice_admission_queue_depth", Map.of("model_group", "slow")) < 1
          && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
      assertThat(metrics().sum("sluice_admission_queue_depth", Map.of("model_group", "slow"))).isEqualTo(1.0);
      leaver.close();
      deadline = System.nanoTime() + 1_000_000_000L;
      while (metrics().sum("sluice_admission_shed_total", Map.of("model_group", "slow", "reason", "gone")) < 1
          && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
      PromText m = metrics();
      assertThat(m.sum("sluice_admission_shed_total", Map.of("model_group", "slow", "reason", "gone")))
          .as("removed as soon as the client left, well before its deadline").isEqualTo(1.0);
      assertThat(m.sum("sluice_admission_queue_depth", Map.of("model_group", "slow"))).isZero();
      assertThat(m.sum("sluice_admission_shed_total", Map.of("model_group", "slow", "reason", "timeout")))
          .isEqualTo(1.0);
      assertThat(m.sum("sluice_admission_shed_total", Map.of("model_group", "slow", "reason", "full")))
          .isEqualTo(1.0);
      assertThat(holder.get().status()).isEqualTo(200);
    } finally {
      pool.shutdownNow();
    }
  }
}
