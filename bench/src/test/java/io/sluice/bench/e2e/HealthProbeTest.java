package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 §3: {@code GET /health} makes a real call per deployment (LiteLLM's perform_health_check), so a dead
 * replica shows unhealthy even though nothing has cooled it down; results are reused for {@code health_check_ttl};
 * and §2: {@code GET /routes}.
 */
class HealthProbeTest {
  static final String MASTER = "sk-master-SECRET-health";
  static final ObjectMapper JSON = new ObjectMapper();
  FakeVllm up;
  int closedPort;

  @BeforeEach
  void start() throws Exception {
    up = FakeVllm.builder().servedModel("m").apiKey("replica-SECRET-up").tokens(1).start();
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort(); // closed again at once: nothing listens there
    }
  }

  @AfterEach
  void stop() {
    up.close();
  }

  static final String USER_KEY = "sk-user-SECRET-health";

  /** One internal_user key, in memory. */
  private static io.sluice.auth.KeyStore userKey() {
    io.sluice.auth.KeyHash hash = io.sluice.auth.KeyHash.of(USER_KEY);
    io.sluice.auth.KeyRecord rec = new io.sluice.auth.KeyRecord(hash, "sk-...alth", null, "u1", null,
        io.sluice.auth.Role.INTERNAL_USER, java.util.Set.of(), java.util.Set.of(), List.of(), false, false, null,
        io.sluice.auth.KeyLimits.NONE, io.sluice.auth.KeyLimits.NONE, io.sluice.auth.KeyLimits.NONE);
    return h -> java.util.concurrent.CompletableFuture.completedFuture(
        h.equals(hash) ? java.util.Optional.of(rec) : java.util.Optional.empty());
  }

  private SluiceServer sluice(Duration ttl) throws InterruptedException {
    List<DeploymentConfig> models = List.of(
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + up.port() + "/v1"),
            Secret.of("replica-SECRET-up"), null, null, null, null, "up"),
        new DeploymentConfig("pair", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + closedPort + "/v1"),
            Secret.of("replica-SECRET-down"), null, null, null, null, "down"),
        new DeploymentConfig("solo", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:" + up.port() + "/v1"),
            Secret.of("replica-SECRET-up"), null, null, null, null, "solo"));
    ServerSettings d = ServerSettings.defaults();
    ServerSettings server = new ServerSettings(d.maxUriLength(), d.maxHeaderSize(), d.requestReadTimeout(),
        d.idleTimeout(), d.connectTimeout(), d.upstreamIdleTimeout(), d.maxConnectionsPerReplica(),
        d.maxIdlePerReplica(), false, false, null, null, d.tlsReloadInterval(), null, ttl, Duration.ofSeconds(5));
    RouterSettings router = new RouterSettings("simple-shuffle", null, 0, 3, Duration.ofSeconds(60), Map.of(), null);
    return SluiceServer.start(new SluiceConfig(null, models, GeneralSettings.defaults(), router,
        LitellmSettings.defaults(), server), new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        userKey(), true));
  }

  private long chatProbes() {
    return up.requests().stream().filter(r -> r.uri().equals("/v1/chat/completions")).count();
  }

  @Test
  void aDeadReplicaIsUnhealthyAtOnceAndResultsAreReusedWithinTheTtl() throws Exception {
    try (SluiceServer s = sluice(Duration.ofMinutes(5)); RawHttp c = new RawHttp(s.port())) {
      RawHttp.Response h = c.exchange("GET", "/health", null, "Authorization: Bearer " + MASTER);
      assertThat(h.status()).isEqualTo(200);
      JsonNode j = JSON.readTree(h.bodyText());
      assertThat(j.get("healthy_count").asInt()).as(h.bodyText()).isEqualTo(2);
      assertThat(j.get("unhealthy_count").asInt()).as("the closed port, though nothing cooled it down")
          .isEqualTo(1);
      JsonNode down = j.get("unhealthy_endpoints").get(0);
      assertThat(down.get("model_id").asText()).isEqualTo("down");
      assertThat(down.get("model_name").asText()).isEqualTo("pair");
      assertThat(down.get("error").asText()).isNotBlank();
      assertThat(h.bodyText()).as("never a key").doesNotContain("SECRET").doesNotContain("api_key");
      assertThat(chatProbes()).as("a real call per live deployment (up and solo share the fake)").isEqualTo(2);
      var probe = up.requests().stream().filter(r -> r.uri().equals("/v1/chat/completions")).findFirst()
          .orElseThrow();
      assertThat(probe.headers().get("Authorization")).as("with the deployment's own key")
          .isEqualTo("Bearer replica-SECRET-up");
      assertThat(probe.body()).contains("\"max_tokens\":1");

      RawHttp.Response again = c.exchange("GET", "/health", null, "Authorization: Bearer " + MASTER);
      assertThat(JSON.readTree(again.bodyText()).get("unhealthy_count").asInt()).isEqualTo(1);
      assertThat(chatProbes()).as("within the TTL: answered from the cache, no new probe").isEqualTo(2);

      RawHttp.Response one = c.exchange("GET", "/health?model=solo", null, "Authorization: Bearer " + MASTER);
      JsonNode o = JSON.readTree(one.bodyText());
      assertThat(o.get("healthy_count").asInt()).as("?model= limits it to one group").isEqualTo(1);
      assertThat(o.get("unhealthy_count").asInt()).isZero();
      assertThat(o.get("healthy_endpoints").get(0).get("model_id").asText()).isEqualTo("solo");

      RawHttp.Response unknown = c.exchange("GET", "/health?model=nope", null, "Authorization: Bearer " + MASTER);
      assertThat(unknown.status()).isEqualTo(400);
      assertThat(unknown.bodyText()).contains("nope");
      assertThat(c.exchange("GET", "/health", null).status()).as("needs a key").isEqualTo(401);
    }
  }

  @Test
  void anExpiredResultIsProbedAgain() throws Exception {
    try (SluiceServer s = sluice(Duration.ofMillis(1)); RawHttp c = new RawHttp(s.port())) {
      c.exchange("GET", "/health?model=solo", null, "Authorization: Bearer " + MASTER);
      long first = chatProbes();
      Thread.sleep(5); // past the 1 ms TTL
      c.exchange("GET", "/health?model=solo", null, "Authorization: Bearer " + MASTER);
      assertThat(chatProbes()).isEqualTo(first + 1);
    }
  }

  @Test
  void routesListsWhatSluiceServesForAdminsOnly() throws Exception {
    try (SluiceServer s = sluice(Duration.ofSeconds(10)); RawHttp c = new RawHttp(s.port())) {
      RawHttp.Response r = c.exchange("GET", "/routes", null, "Authorization: Bearer " + MASTER);
      assertThat(r.status()).isEqualTo(200);
      JsonNode routes = JSON.readTree(r.bodyText()).get("routes");
      assertThat(routes.isArray()).isTrue();
      JsonNode chat = null;
      for (JsonNode route : routes) {
        assertThat(route.has("path") && route.has("methods") && route.has("name") && route.has("endpoint"))
            .as(route.toString()).isTrue();
        if (route.get("path").asText().equals("/v1/chat/completions")) {
          chat = route;
        }
      }
      assertThat(chat).isNotNull();
      assertThat(chat.get("methods").toString()).isEqualTo("[\"POST\"]");
      assertThat(r.bodyText()).contains("\"/health\"").contains("\"/routes\"").contains("\"/vllm/{path}\"");
      assertThat(c.exchange("GET", "/routes", null).status()).isEqualTo(401);
      RawHttp.Response user = c.exchange("GET", "/routes", null, "Authorization: Bearer " + USER_KEY);
      assertThat(user.status()).as("admins only").isEqualTo(403);
      assertThat(user.bodyText()).contains("internal_user");
      assertThat(c.exchange("POST", "/routes", "{}", "Authorization: Bearer " + MASTER).status()).isEqualTo(405);
    }
  }
}
