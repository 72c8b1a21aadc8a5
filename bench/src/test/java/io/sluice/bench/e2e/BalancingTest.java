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
import io.sluice.routing.Deployment;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Load-aware balancing (issue 7): least-busy and vllm-load. */
class BalancingTest {
  static final String MASTER = "sk-master-SECRET-bal";
  FakeVllm a;
  FakeVllm b;

  @BeforeEach
  void start() throws InterruptedException {
    a = FakeVllm.builder().servedModel("m").tokens(3).start();
    b = FakeVllm.builder().servedModel("m").tokens(3).start();
  }

  @AfterEach
  void stop() {
    a.close();
    b.close();
  }

  private SluiceServer sluice(String strategy) throws InterruptedException {
    return sluice(strategy, null, null);
  }

  private SluiceServer sluice(String strategy, Integer orderA, Integer orderB) throws InterruptedException {
    List<DeploymentConfig> models = List.of(
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + a.port() + "/v1"),
            null, null, null, null, null, "a", orderA),
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + b.port() + "/v1"),
            null, null, null, null, null, "b", orderB));
    RouterSettings router = new RouterSettings(strategy, null, 2, 3, Duration.ofSeconds(5), Map.of(), null);
    return SluiceServer.start(new SluiceConfig(null, models, GeneralSettings.defaults(), router,
        LitellmSettings.defaults(), ServerSettings.defaults()), new SluiceServer.Options("127.0.0.1", 0, 1,
        Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true));
  }

  private static String chat(boolean stream) {
    return "{\"model\":\"pair\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" + (stream ? ",\"stream\":true" : "")
        + "}";
  }

  private static long chats(FakeVllm f) {
    return f.requests().stream().filter(r -> r.uri().startsWith("/v1/chat")).count();
  }

  private static void await(BooleanSupplier cond, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!cond.getAsBoolean() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(cond.getAsBoolean()).as(what).isTrue();
  }

  private static List<Deployment> deployments(SluiceServer s) {
    return s.registry().get().group("pair").deployments();
  }

  @Test
  void backgroundProbesCoolAFailingReplicaAndBringItBackAndHealthReportsIt() throws Exception {
    List<DeploymentConfig> models = List.of(
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + a.port() + "/v1"),
            io.sluice.config.Secret.of("replica-SECRET-health"), null, null, null, null, "a"),
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + b.port() + "/v1"),
            null, null, null, null, null, "b"));
    GeneralSettings general = new GeneralSettings(null, null, GeneralSettings.DEFAULT_MAX_REQUEST_SIZE, true,
        Duration.ofMillis(100));
    RouterSettings router = new RouterSettings("simple-shuffle", null, 2, 3, Duration.ofSeconds(60), Map.of(), null);
    a.faults().healthStatus(503);
    try (SluiceServer s = SluiceServer.start(new SluiceConfig(null, models, general, router,
        LitellmSettings.defaults(), ServerSettings.defaults()), new SluiceServer.Options("127.0.0.1", 0, 1,
        Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true)); RawHttp c = new RawHttp(s.port())) {
      assertThat(c.exchange("GET", "/health", null).status()).as("/health needs a key").isEqualTo(401);
      await(() -> deployments(s).get(0).health().coolingAt(System.nanoTime()), "a's failed probe cools it");
      RawHttp.Response h = c.exchange("GET", "/health", null, "Authorization: Bearer " + MASTER);
      assertThat(h.status()).isEqualTo(200);
      assertThat(h.bodyText()).contains("\"healthy_count\":1").contains("\"unhealthy_count\":1")
          .contains("\"unhealthy_endpoints\":[{\"model\":\"hosted_vllm/m\",\"model_name\":\"pair\",\"model_id\":\"a\"")
          .doesNotContain("replica-SECRET-health");
      long a0 = chats(a);
      for (int i = 0; i < 10; i++) {
        assertThat(c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER)
            .status()).isEqualTo(200);
      }
      assertThat(chats(a) - a0).as("no traffic to a replica whose probe fails").isZero();
      a.faults().healthStatus(200);
      await(() -> !deployments(s).get(0).health().coolingAt(System.nanoTime()),
          "a passing probe ends the 60 s cooldown early");
      await(() -> {
        try {
          c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER);
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        return chats(a) > a0;
      }, "a serves again");
    }
  }

  @Test
  void orderTiersAreTriedLowestFirstAndTheNextTierOnlyWhenItCannotServe() throws Exception {
    try (SluiceServer s = sluice("simple-shuffle", 1, 2); RawHttp c = new RawHttp(s.port())) {
      for (int i = 0; i < 10; i++) {
        assertThat(c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER)
            .status()).isEqualTo(200);
      }
      assertThat(chats(a)).as("order 1 takes everything while healthy").isEqualTo(10);
      assertThat(chats(b)).isZero();
      a.faults().status(503);
      for (int i = 0; i < 5; i++) {
        assertThat(c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER)
            .status()).as("order 2 serves when order 1 fails").isEqualTo(200);
      }
      assertThat(chats(b)).isEqualTo(5);
    }
  }

  @Test
  void latencyBasedPrefersTheReplicaThatAnswersFirst() throws Exception {
    a.faults().ttft(Duration.ofMillis(150));
    try (SluiceServer s = sluice("latency-based-routing"); RawHttp c = new RawHttp(s.port())) {
      for (int i = 0; i < 4; i++) { // let both replicas be measured
        c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER);
      }
      await(() -> deployments(s).stream().allMatch(d -> d.load().ttfbEwmaNanos() > 0) || chats(a) > 0 && chats(b) > 0,
          "both measured");
      long a0 = chats(a);
      for (int i = 0; i < 20; i++) {
        assertThat(c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER)
            .status()).isEqualTo(200);
      }
      assertThat(chats(a) - a0).as("the slow replica gets (almost) nothing once measured").isLessThanOrEqualTo(1);
    }
  }

  @Test
  void usageBasedSendsWorkToTheReplicaThatServedFewerTokensThisMinute() throws Exception {
    a.faults().tokens(1000);
    b.faults().tokens(10);
    try (SluiceServer s = sluice("usage-based-routing"); RawHttp c = new RawHttp(s.port())) {
      for (int i = 0; i < 20; i++) {
        assertThat(c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER)
            .status()).isEqualTo(200);
      }
      Deployment da = deployments(s).get(0);
      assertThat(chats(a)).as("once a served 1000 tokens, b (10 per request) stays below it for 20 requests")
          .isEqualTo(1);
      assertThat(da.load().tokensPerMinute(System.nanoTime())).as("counted from the replica's usage")
          .isGreaterThanOrEqualTo(1000);
    }
  }

  @Test
  void leastBusySendsTheSecondStreamToTheIdleReplica() throws Exception {
    a.faults().interTokenDelay(Duration.ofMillis(50)).tokens(20);
    b.faults().interTokenDelay(Duration.ofMillis(50)).tokens(20);
    try (SluiceServer s = sluice("least-busy"); RawHttp one = new RawHttp(s.port()); RawHttp two = new RawHttp(s.port())) {
      one.send("POST", "/v1/chat/completions", chat(true), "Authorization: Bearer " + MASTER);
      one.readHead(new int[1]);
      two.send("POST", "/v1/chat/completions", chat(true), "Authorization: Bearer " + MASTER);
      two.readHead(new int[1]);
      assertThat(a.streamsStarted()).as("one stream each").isEqualTo(1);
      assertThat(b.streamsStarted()).isEqualTo(1);
      one.close();
      two.close();
      await(() -> deployments(s).stream().allMatch(d -> d.load().inFlight() == 0),
          "in-flight counters return to zero once the streams end");
    }
  }

  @Test
  void vllmLoadSteersNewWorkAwayFromALongQueueAndAFullKvCache() throws Exception {
    a.faults().numRequestsWaiting(50);
    try (SluiceServer s = sluice("vllm-load"); RawHttp c = new RawHttp(s.port())) {
      Deployment da = deployments(s).get(0);
      await(() -> da.load().hasScrape() && da.load().waiting() == 50, "replica a's /metrics scraped");
      long a0 = chats(a);
      for (int i = 0; i < 20; i++) {
        assertThat(c.exchange("POST", "/v1/chat/completions", chat(i % 2 == 0), "Authorization: Bearer " + MASTER)
            .status()).isEqualTo(200);
      }
      assertThat(chats(a) - a0).as("nothing goes to the replica with 50 queued requests").isZero();
      assertThat(chats(b)).isGreaterThanOrEqualTo(20);

      a.faults().numRequestsWaiting(0);
      b.faults().kvCacheUsagePerc(0.99);
      Deployment db = deployments(s).get(1);
      await(() -> db.load().kvCache() >= 0.99 && da.load().waiting() == 0, "new scrapes seen");
      long b0 = chats(b);
      for (int i = 0; i < 10; i++) {
        assertThat(c.exchange("POST", "/v1/chat/completions", chat(false), "Authorization: Bearer " + MASTER)
            .status()).isEqualTo(200);
      }
      assertThat(chats(b) - b0).as("a KV cache at 99 % takes no new work while another replica has room").isZero();
      await(() -> deployments(s).stream().allMatch(d -> d.load().inFlight() == 0), "in-flight back to zero");
    }
  }
}
