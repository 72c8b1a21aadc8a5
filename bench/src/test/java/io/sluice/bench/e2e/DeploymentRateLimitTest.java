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
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Per-deployment {@code litellm_params.rpm}/{@code tpm} (issue 14 §5), enforced where LiteLLM enforces them: with
 * {@code usage-based-routing(-v2)} (its lowest_tpm_rpm_v2 strategy leaves deployments over their limits out) and, for
 * any strategy, with {@code enforce_model_rate_limits} (its model_rate_limit_check pre-call check). A deployment at its
 * limit for the minute is skipped for another of the group; with all of them at theirs the answer is LiteLLM's 429.
 * Under {@code simple-shuffle} alone the numbers stay weights, as in LiteLLM.
 */
class DeploymentRateLimitTest {
  static final String MASTER = "sk-master-SECRET-drl";
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

  private SluiceServer sluice(String strategy, boolean enforce, Integer rpmA, Integer tpmA, Integer rpmB)
      throws InterruptedException {
    List<DeploymentConfig> models = List.of(
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + a.port() + "/v1"),
            null, rpmA, tpmA, null, null, "a", null),
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + b.port() + "/v1"),
            null, rpmB, null, null, null, "b", null));
    RouterSettings router = new RouterSettings(strategy, null, 2, 3, Duration.ofSeconds(5), Map.of(), null, Map.of(),
        enforce);
    return SluiceServer.start(new SluiceConfig(null, models, GeneralSettings.defaults(), router,
        LitellmSettings.defaults(), ServerSettings.defaults()), new SluiceServer.Options("127.0.0.1", 0, 1,
        Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true));
  }

  private static final String CHAT = "{\"model\":\"pair\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  private static long chats(FakeVllm f) {
    return f.requests().stream().filter(r -> r.uri().startsWith("/v1/chat")).count();
  }

  private static RawHttp.Response chat(RawHttp c) throws Exception {
    return c.exchange("POST", "/v1/chat/completions", CHAT, "Authorization: Bearer " + MASTER);
  }

  /**
   * The limits count in fixed one-minute windows of the JVM's monotonic clock (the one Sluice reads in this same
   * process): a test that needs its requests in one window starts early in one rather than 2 s before it ends.
   */
  private static void freshWindow() throws InterruptedException {
    long into = Math.floorMod(System.nanoTime(), 60_000_000_000L);
    if (into > 45_000_000_000L) {
      Thread.sleep((60_000_000_000L - into) / 1_000_000 + 50);
    }
  }

  @Test
  void usageBasedRoutingSkipsADeploymentAtItsRpmAndAnswersLiteLlms429WhenEveryOneIsAtIt() throws Exception {
    freshWindow();
    try (SluiceServer s = sluice("usage-based-routing-v2", false, 2, null, 3); RawHttp c = new RawHttp(s.port())) {
      for (int i = 0; i < 5; i++) {
        assertThat(chat(c).status()).as("request %d of the 5 the two deployments allow", i + 1).isEqualTo(200);
      }
      assertThat(chats(a)).as("a's rpm").isEqualTo(2);
      assertThat(chats(b)).as("b's rpm").isEqualTo(3);
      RawHttp.Response r = chat(c);
      assertThat(r.status()).as(r.bodyText()).isEqualTo(429);
      assertThat(r.bodyText()).contains("\"type\":\"rate_limit_error\"")
          .contains("No deployments available for selected model, passed model=pair")
          .contains("\"code\":\"429\"");
      assertThat(Long.parseLong(r.headers().get("retry-after"))).isBetween(1L, 60L);
      assertThat(chats(a) + chats(b)).as("nothing sent over the limits").isEqualTo(5);
    }
  }

  @Test
  void aDeploymentAtItsTpmGetsNoMoreRequestsThisMinute() throws Exception {
    freshWindow();
    try (SluiceServer s = sluice("usage-based-routing", false, null, 1, null); RawHttp c = new RawHttp(s.port())) {
      for (int i = 0; i < 8; i++) {
        assertThat(chat(c).status()).isEqualTo(200);
      }
      assertThat(chats(a)).as("a reached its tpm of 1 with its first response").isLessThanOrEqualTo(1);
      assertThat(chats(b)).isGreaterThanOrEqualTo(7);
    }
  }

  @Test
  void simpleShuffleTakesRpmAsAWeightOnlyAsLiteLlmDoes() throws Exception {
    freshWindow();
    try (SluiceServer s = sluice("simple-shuffle", false, 1, null, 1); RawHttp c = new RawHttp(s.port())) {
      for (int i = 0; i < 6; i++) {
        assertThat(chat(c).status()).isEqualTo(200);
      }
    }
  }

  @Test
  void enforceModelRateLimitsMakesThemLimitsUnderAnyStrategy() throws Exception {
    freshWindow();
    try (SluiceServer s = sluice("simple-shuffle", true, 1, null, 1); RawHttp c = new RawHttp(s.port())) {
      assertThat(chat(c).status()).isEqualTo(200);
      assertThat(chat(c).status()).as("the other deployment").isEqualTo(200);
      assertThat(chats(a)).isEqualTo(1);
      assertThat(chats(b)).isEqualTo(1);
      assertThat(chat(c).status()).isEqualTo(429);
    }
  }
}
