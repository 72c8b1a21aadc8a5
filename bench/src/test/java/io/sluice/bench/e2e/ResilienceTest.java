package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.RouterSettings;
import io.sluice.config.ServerSettings;
import io.sluice.server.SluiceServer;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two fake replicas behind Sluice: failures before the first response byte are retried on another replica, failing
 * replicas cool down and recover, fallbacks serve a group that cannot, and nothing is retried after the first byte
 * (issue 7, passive health and retries).
 */
class ResilienceTest {
  static final String MASTER = "sk-master-SECRET-res";
  static final String KEY = "replica-key-res";
  static FakeVllm a;
  static FakeVllm b;
  static SluiceServer sluice;
  /**
   * The replicas' clock (cooldowns, health failures): it stands still until a test {@link #skip}s, so a cooldown lasts
   * exactly until a test moves past it — no sleeping through the 1 s, and no test racing it on a slow machine. The
   * relay's timeouts (connect, first byte, stream) stay on real time.
   */
  static final long BASE = System.nanoTime();
  static final java.util.concurrent.atomic.AtomicLong skipped = new java.util.concurrent.atomic.AtomicLong();

  static void skip(Duration d) {
    skipped.addAndGet(d.toNanos());
  }

  static DeploymentConfig dep(String group, String model, int port, String id) {
    return Gateway.vllm(group, model, port, KEY, null, id);
  }

  @BeforeAll
  static void start() throws Exception {
    a = FakeVllm.builder().servedModel("m").apiKey(KEY).tokens(4).start();
    b = FakeVllm.builder().servedModel("m").apiKey(KEY).tokens(4).start();
    int dead;
    try (ServerSocket s = new ServerSocket(0)) {
      dead = s.getLocalPort();
    }
    List<DeploymentConfig> models = List.of(
        dep("pair", "m", a.port(), "a"), dep("pair", "m", b.port(), "b"),
        dep("mixed", "m", dead, "mixed-dead"), dep("mixed", "m", b.port(), "mixed-b"),
        dep("primary", "primary-model", dead, "primary-dead"),
        dep("backup", "m", b.port(), "backup-b"),
        dep("lonely", "m", dead, "lonely-dead"),
        Gateway.vllm("slowpoke", "m", a.port(), KEY, Duration.ofMillis(300), "slowpoke-a"));
    RouterSettings router = new RouterSettings("simple-shuffle", null, 2, 2, Duration.ofSeconds(1),
        Map.of("primary", List.of("backup")), null);
    sluice = Gateway.builder(MASTER).models(models).router(router)
        .clock(() -> BASE + skipped.get()).start();
  }

  @AfterAll
  static void stop() {
    sluice.close();
    a.close();
    b.close();
  }

  @BeforeEach
  void reset() {
    a.faults().reset();
    b.faults().reset();
  }

  private static String chat(String model, boolean stream) {
    return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
        + (stream ? ",\"stream\":true" : "") + "}";
  }

  private static RawHttp.Response call(RawHttp c, String model, boolean stream) throws IOException {
    return c.exchange("POST", "/v1/chat/completions", chat(model, stream), "Authorization: Bearer " + MASTER);
  }

  private static PromText metrics() throws IOException {
    try {
      var r = VirtualKeyE2ETestSupport.send(sluice.port(), "GET", "/metrics", MASTER, null);
      assertThat(r.statusCode()).isEqualTo(200);
      return PromText.parse(r.body());
    } catch (IOException e) {
      throw e;
    } catch (Exception e) {
      throw new IOException(e);
    }
  }

  private static long requestsTo(FakeVllm f) {
    return f.requests().stream().filter(r -> r.uri().startsWith("/v1/chat")).count();
  }

  @Test
  void aReplicaAnswering503IsRetriedElsewhereCoolsDownAndRecovers() throws Exception {
    skip(Duration.ofMillis(1100)); // any earlier cooldown of "a" has run out
    a.clearRequests();
    a.faults().status(503);
    try (RawHttp c = new RawHttp(sluice.port())) {
      for (int i = 0; i < 30; i++) {
        RawHttp.Response r = call(c, "pair", i % 2 == 0);
        assertThat(r.status()).as("request %s: the client never sees the failing replica", i).isEqualTo(200);
        assertThat(r.bodyText()).doesNotContain("error");
      }
      assertThat(requestsTo(a)).as("allowed_fails = 2: after two failures \"a\" cools down and gets nothing")
          .isBetween(1L, 2L);
      PromText m = metrics();
      assertThat(m.sum("litellm_deployment_failure_responses_total", Map.of("model_id", "a",
          "exception_status", "503", "requested_model", "pair"))).isGreaterThanOrEqualTo(1.0);
      assertThat(m.sum("litellm_deployment_cooled_down_total", Map.of("model_id", "a"))).isGreaterThanOrEqualTo(1.0);
      assertThat(m.value("litellm_deployment_state", Map.of("model_id", "a", "litellm_model_name", "hosted_vllm/m",
          "api_base", "http://127.0.0.1:" + a.port() + "/v1", "api_provider", "hosted_vllm"))).isEqualTo(2.0);
      assertThat(m.sum("sluice_retries_total", Map.of("requested_model", "pair"))).isGreaterThanOrEqualTo(1.0);
      assertThat(m.sum("litellm_proxy_total_requests_metric_total", Map.of("requested_model", "pair",
          "status_code", "200"))).isGreaterThanOrEqualTo(30.0);
      a.faults().reset();
      long before = requestsTo(a);
      for (int i = 0; i < 20 && requestsTo(a) == before; i++) {
        assertThat(call(c, "pair", false).status()).isEqualTo(200);
      }
      assertThat(requestsTo(a)).as("still cooling down: \"a\" gets nothing").isEqualTo(before);
      skip(Duration.ofMillis(1100));
      for (int i = 0; i < 64 && requestsTo(a) == before; i++) { // shuffle: "a" is picked within a few
        assertThat(call(c, "pair", false).status()).isEqualTo(200);
      }
      assertThat(requestsTo(a)).as("after cooldown_time (1 s) \"a\" serves again").isGreaterThan(before);
    }
  }

  @Test
  void refusedConnectionsAreRetriedOnAnotherReplica() throws IOException {
    try (RawHttp c = new RawHttp(sluice.port())) {
      for (int i = 0; i < 10; i++) {
        assertThat(call(c, "mixed", i % 2 == 1).status()).isEqualTo(200);
      }
    }
  }

  /** Waits out cooldowns, then makes sure both replicas have just served a request on their pooled connection. */
  private static void bothFreshlyServing() throws Exception {
    skip(Duration.ofMillis(1100));
    long a0 = requestsTo(a);
    long b0 = requestsTo(b);
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    try (RawHttp c = new RawHttp(sluice.port())) {
      while ((requestsTo(a) == a0 || requestsTo(b) == b0) && System.nanoTime() < deadline) {
        assertThat(call(c, "pair", false).status()).isEqualTo(200);
      }
    }
  }

  @Test
  void resetBeforeAnyResponseByteIsRetried() throws Exception {
    bothFreshlyServing();
    a.faults().resetAfterTokens(0); // non-streaming: RST before the response
    b.faults().resetAfterTokens(0);
    long aBefore = requestsTo(a);
    long bBefore = requestsTo(b);
    try (RawHttp c = new RawHttp(sluice.port())) {
      RawHttp.Response r = call(c, "pair", false);
      assertThat(r.status()).as("both replicas reset: the last error").isEqualTo(502);
      assertThat(r.bodyText()).contains("before responding");
    }
    assertThat(requestsTo(a) - aBefore).as("each replica tried once, never the same twice").isEqualTo(1);
    assertThat(requestsTo(b) - bBefore).isEqualTo(1);
    skip(Duration.ofMillis(1100));
    a.faults().reset();
    try (RawHttp c = new RawHttp(sluice.port())) {
      for (int i = 0; i < 6; i++) {
        assertThat(call(c, "pair", false).status()).as("b resets, a answers").isEqualTo(200);
      }
    }
  }

  @Test
  void neverRetriedAfterTheFirstByteSoTheClientNeverSeesTwoStreams() throws Exception {
    skip(Duration.ofMillis(1100));
    a.faults().resetAfterTokens(2);
    b.faults().resetAfterTokens(2);
    long started = a.streamsStarted() + b.streamsStarted();
    try (RawHttp c = new RawHttp(sluice.port())) {
      RawHttp.Response r = call(c, "pair", true);
      assertThat(r.status()).isEqualTo(200);
      List<String> ev = r.events();
      assertThat(ev.get(ev.size() - 1)).isEqualTo("data: [DONE]");
      assertThat(ev.get(ev.size() - 2)).contains("\"error\"");
      assertThat(ev.stream().filter(e -> e.contains("\"role\":\"assistant\"")).count())
          .as("one stream, one role chunk").isEqualTo(1);
    }
    assertThat(a.streamsStarted() + b.streamsStarted() - started).as("exactly one generation started").isEqualTo(1);
  }

  @Test
  void fallbackGroupServesWhenThePrimaryCannotWithTheModelRewritten() throws IOException {
    long before = requestsTo(b);
    try (RawHttp c = new RawHttp(sluice.port())) {
      RawHttp.Response r = call(c, "primary", false);
      assertThat(r.status()).isEqualTo(200);
    }
    assertThat(requestsTo(b)).isEqualTo(before + 1);
    assertThat(b.requests().get(b.requests().size() - 1).body()).contains("\"model\":\"m\"");
    PromText m = metrics();
    assertThat(m.sum("litellm_deployment_successful_fallbacks_total", Map.of("requested_model", "primary",
        "fallback_model", "backup"))).isGreaterThanOrEqualTo(1.0);
    assertThat(m.sum("litellm_deployment_failure_responses_total", Map.of("model_id", "primary-dead",
        "exception_status", "502"))).isGreaterThanOrEqualTo(1.0);
    assertThat(m.sum("litellm_requests_metric_total", Map.of("model", "backup"))).isGreaterThanOrEqualTo(1.0);
  }

  @Test
  void aSilentStreamEndsWithAnErrorEventAfterStreamTimeoutAndTheGenerationIsAborted() throws Exception {
    RouterSettings router = new RouterSettings("simple-shuffle", null, 2, 100, Duration.ofSeconds(1), Map.of(),
        Duration.ofMillis(300));
    b.faults().stallAfterTokens(2);
    long aborted = b.streamsAborted();
    try (SluiceServer s = Gateway.builder(MASTER).model(dep("pair", "m", b.port(), "b")).router(router).start();
        RawHttp c = new RawHttp(s.port())) {
      long t0 = System.nanoTime();
      RawHttp.Response r = call(c, "pair", true);
      long ms = (System.nanoTime() - t0) / 1_000_000;
      List<String> ev = r.events();
      assertThat(ev.get(ev.size() - 1)).isEqualTo("data: [DONE]");
      assertThat(ev.get(ev.size() - 2)).contains("sent nothing for 300 ms mid-response").contains("stream_timeout")
          .contains("\"code\":\"504\"");
      assertThat(r.bodyText()).contains("tok1 ");
      assertThat(ms).isBetween(250L, 3000L);
      assertThat(b.awaitAborted((int) aborted + 1, Duration.ofSeconds(5))).as("the replica's generation aborted")
          .isTrue();
    }
  }

  @Test
  void aReplicaThatNeverAcceptsTheConnectionIs504AfterConnectTimeout() throws Exception {
    // A listening socket whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
    try (ServerSocket blackhole = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      List<java.net.Socket> fillers = new java.util.ArrayList<>();
      try {
        for (int i = 0; i < 4; i++) {
          java.net.Socket f = new java.net.Socket();
          try {
            f.connect(blackhole.getLocalSocketAddress(), 200);
            fillers.add(f);
          } catch (IOException full) {
            f.close();
            break;
          }
        }
        ServerSettings s = new ServerSettings(8192, 16384, Duration.ofSeconds(60), Duration.ofSeconds(75),
            Duration.ofMillis(300), Duration.ofSeconds(4), 16, 4);
        try (SluiceServer sl = Gateway.builder(MASTER).model(dep("hole", "m", blackhole.getLocalPort(), "hole-1"))
            .server(s).start(); RawHttp c = new RawHttp(sl.port())) {
          RawHttp.Response r = call(c, "hole", false);
          assertThat(r.status()).isEqualTo(504);
          assertThat(r.bodyText()).contains("did not accept a connection within 300 ms")
              .contains("sluice_settings.connect_timeout");
        }
      } finally {
        for (java.net.Socket f : fillers) {
          f.close();
        }
      }
    }
  }

  /**
   * Issue 20 §2: timeouts are an overload symptom; the group's only replica is never cooled down for them (a slow
   * replica must not become "no healthy deployment"): every request still reaches it and gets its 504.
   */
  @Test
  void theLastAvailableReplicaIsNotCooledDownForTimeouts() throws IOException {
    a.faults().ttft(Duration.ofSeconds(2));
    long before = requestsTo(a);
    try (RawHttp c = new RawHttp(sluice.port())) {
      for (int i = 0; i < 4; i++) { // allowed_fails is 2: the third timeout would have cooled it down
        RawHttp.Response r = call(c, "slowpoke", false);
        assertThat(r.status()).as("attempt %d", i + 1).isEqualTo(504);
        assertThat(r.bodyText()).contains("sent no response within 300 ms");
      }
    }
    assertThat(requestsTo(a) - before).as("every request reached the replica").isEqualTo(4);
    a.faults().reset();
    try (RawHttp c = new RawHttp(sluice.port())) {
      assertThat(call(c, "slowpoke", false).status()).as("serving again at once").isEqualTo(200);
    }
  }

  @Test
  void everyReplicaCoolingIs429WithRetryAfter() throws IOException {
    try (RawHttp c = new RawHttp(sluice.port())) {
      assertThat(call(c, "lonely", false).status()).isEqualTo(502);
      assertThat(call(c, "lonely", false).status()).isEqualTo(502);
      RawHttp.Response r = call(c, "lonely", false);
      assertThat(r.status()).as("two failures within a minute cooled the only replica").isEqualTo(429);
      assertThat(r.headers()).containsEntry("retry-after", "1");
      assertThat(r.bodyText()).contains("No healthy deployment available for model lonely")
          .contains("\"code\":\"429\"");
    }
  }
}
