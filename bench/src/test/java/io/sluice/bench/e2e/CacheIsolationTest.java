package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 20 §4: {@code sluice_settings.cache_isolation: team} — every chat, completion and Responses request reaches
 * vLLM with {@code cache_salt} set to its tenant's salt (spliced before the closing brace, last, so it overrides the
 * client's), the same for one team's keys and on every node of one master key, different across tenants; nothing
 * on routes whose vLLM request has no such field, nothing when off.
 */
class CacheIsolationTest {
  static final String MASTER = "sk-master-CI-SECRET";
  static final String SERVED = "m-served";
  static final ObjectMapper JSON = new ObjectMapper();
  static final String CHAT = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static SluiceServer node;
  static SluiceServer sameSecret;
  static SluiceServer off;
  static String a1;
  static String a2;
  static String b;
  static String lone;

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(2).ttft(Duration.ZERO)
        .interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), null, null, null, null, null, "ci-a"));
    ServerSettings team = ServerSettings.defaults().withCacheIsolation(ServerSettings.CacheIsolation.TEAM);
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), team);
    AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER)), Map.of(), KeyCache.NONE);
    node = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane));
    // Another node of the same deployment (same master key, same keys), and one with isolation off.
    sameSecret = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        plane.keys(), true, plane.api(), plane.readiness(), null, null, plane.metering()));
    SluiceConfig offCfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults());
    off = SluiceServer.start(offCfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        plane.keys(), true, plane.api(), plane.readiness(), null, null, plane.metering()));
    for (String t : List.of("ci-team-a", "ci-team-b")) {
      assertThat(VirtualKeyE2ETestSupport.send(node.port(), "POST", "/team/new", MASTER,
          "{\"team_id\":\"" + t + "\"}").statusCode()).isEqualTo(200);
    }
    a1 = VirtualKeyE2ETestSupport.generateKey(node.port(), MASTER, "{\"team_id\":\"ci-team-a\"}");
    a2 = VirtualKeyE2ETestSupport.generateKey(node.port(), MASTER, "{\"team_id\":\"ci-team-a\"}");
    b = VirtualKeyE2ETestSupport.generateKey(node.port(), MASTER, "{\"team_id\":\"ci-team-b\"}");
    lone = VirtualKeyE2ETestSupport.generateKey(node.port(), MASTER, "{}");
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {off, sameSecret, node, fake, db}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // closing anyway
      }
    }
  }

  /** The body the replica got for {@code body} sent with {@code key} to {@code path} on {@code at}. */
  static String upstreamBody(SluiceServer at, String key, String path, String body) throws Exception {
    fake.clearRequests();
    var r = VirtualKeyE2ETestSupport.send(at.port(), "POST", path, key, body);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    List<RecordedRequest> got = fake.requests();
    assertThat(got).hasSize(1);
    return got.get(0).body();
  }

  static String salt(SluiceServer at, String key, String body) throws Exception {
    JsonNode n = JSON.readTree(upstreamBody(at, key, "/v1/chat/completions", body));
    assertThat(n.get("model").asText()).isEqualTo(SERVED);
    return n.path("cache_salt").asText(null);
  }

  @Test
  void oneTeamSharesASaltEveryOtherTenantHasItsOwnAndEveryNodeAgrees() throws Exception {
    String sa1 = salt(node, a1, CHAT);
    assertThat(sa1).matches("[A-Za-z0-9_-]{43}");
    assertThat(salt(node, a2, CHAT)).as("the same team").isEqualTo(sa1);
    Set<String> tenants = new HashSet<>(List.of(sa1, salt(node, b, CHAT), salt(node, lone, CHAT),
        salt(node, MASTER, CHAT)));
    assertThat(tenants).as("team a, team b, a key without a team, the master key").hasSize(4);
    assertThat(salt(sameSecret, a2, CHAT)).as("another node of the same master key").isEqualTo(sa1);
    assertThat(salt(off, a1, CHAT)).as("cache_isolation off").isNull();
    assertThat(upstreamBody(off, a1, "/v1/chat/completions", CHAT)).isEqualTo(CHAT.replace("\"llama\"",
        "\"" + SERVED + "\""));
  }

  @Test
  void theClientsOwnSaltIsOverriddenAndOtherSplicesStayValid() throws Exception {
    String sa = salt(node, a1, CHAT);
    String mine = upstreamBody(node, a1, "/v1/chat/completions",
        "{\"cache_salt\":\"guess-team-a\",\"model\":\"llama\",\"messages\":[]}");
    assertThat(JSON.readTree(mine).get("cache_salt").asText()).as("Sluice's is last: it wins").isEqualTo(sa);
    assertThat(mine).endsWith(",\"cache_salt\":\"" + sa + "\"}");
    // A stream whose usage chunk Sluice asks for: both fields appended, in order, valid JSON.
    String stream = upstreamBody(node, a1, "/v1/chat/completions",
        "{\"model\":\"llama\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}  ");
    assertThat(stream).endsWith(",\"stream_options\":{\"include_usage\":true},\"cache_salt\":\"" + sa + "\"}  ");
    assertThat(JSON.readTree(stream).at("/stream_options/include_usage").asBoolean()).isTrue();
    // The Responses API: the response id and the salt.
    JsonNode resp = JSON.readTree(upstreamBody(node, a1, "/v1/responses", "{\"model\":\"llama\",\"input\":\"x\"}"));
    assertThat(resp.get("cache_salt").asText()).isEqualTo(sa);
    assertThat(resp.get("request_id").asText()).startsWith("resp_");
    JsonNode completion = JSON.readTree(upstreamBody(node, b, "/v1/completions",
        "{\"model\":\"llama\",\"prompt\":\"x\"}"));
    assertThat(completion.get("cache_salt").asText()).isEqualTo(salt(node, b, CHAT));
  }

  @Test
  void routesWhoseVllmRequestHasNoCacheSaltGetNone() throws Exception {
    String emb = upstreamBody(node, a1, "/v1/embeddings", "{\"model\":\"llama\",\"input\":\"x\"}");
    assertThat(emb).doesNotContain("cache_salt");
  }
}
