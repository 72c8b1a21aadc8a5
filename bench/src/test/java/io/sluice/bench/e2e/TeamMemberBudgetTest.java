package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Team members' budgets within a team (issue 14 §4): {@code max_budget_in_team} from {@code /team/member_add} or
 * {@code /team/member_update} bounds the member's spend in that team (LiteLLM_TeamMembership.spend, which every
 * request of the member's keys in the team adds to) and is refused as LiteLLM does, 400 {@code budget_exceeded}
 * "Budget has been exceeded! User=… in Team=…".
 */
class TeamMemberBudgetTest {
  static final String MASTER = "sk-master-TM-SECRET";
  static final String REPLICA_KEY = "replica-TM-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final double IN_COST = 0.001;
  static final double OUT_COST = 0.002;
  static final double PER_REQUEST = 3 * IN_COST + 5 * OUT_COST;
  static final ObjectMapper JSON = new ObjectMapper();
  static final String CHAT = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}";

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static SluiceServer sluice;

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(5)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
        "fake-tm", null, IN_COST, OUT_COST));
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults());
    AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER)), Map.of(), KeyCache.NONE);
    sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (fake != null) {
      fake.close();
    }
    if (db != null) {
      db.close();
    }
  }

  static HttpResponse<String> send(String method, String path, String key, String body) throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), method, path, key, body);
  }

  static JsonNode admin(String path, String body) throws Exception {
    HttpResponse<String> r = send("POST", path, MASTER, body);
    assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  static String chat(String key) throws Exception {
    HttpResponse<String> r = send("POST", "/v1/chat/completions", key, CHAT);
    return r.statusCode() + " " + r.body();
  }

  static String key(String user, String team) throws Exception {
    return VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER,
        "{\"user_id\":\"" + user + "\",\"team_id\":\"" + team + "\"}");
  }

  @Test
  void aMemberOverItsBudgetInTheTeamIsRefusedThereAndOnlyThere() throws Exception {
    String n = Long.toString(System.nanoTime());
    String user = "tm-u-" + n;
    String other = "tm-o-" + n;
    String team = "tm-t-" + n;
    String team2 = "tm-t2-" + n;
    admin("/user/new", "{\"user_id\":\"" + user + "\",\"auto_create_key\":false}");
    admin("/user/new", "{\"user_id\":\"" + other + "\",\"auto_create_key\":false}");
    admin("/team/new", "{\"team_id\":\"" + team + "\"}");
    admin("/team/new", "{\"team_id\":\"" + team2 + "\"}");
    String k = key(user, team); // made and cached before the member has a budget
    assertThat(chat(k)).as("no member yet").startsWith("200 ");
    // Its spend is written by the batched writer: wait until it is, so it lands before the member exists (else the
    // writer, finding the member, counts it in the team too).
    long deadline = System.nanoTime() + java.time.Duration.ofSeconds(10).toNanos();
    while (JSON.readTree(send("GET", "/key/info?key=" + k, MASTER, null).body()).at("/info/spend").asDouble() <= 0) {
      assertThat(System.nanoTime()).as("the first request's spend written").isLessThan(deadline);
      Thread.sleep(20);
    }
    admin("/team/member_add", "{\"team_id\":\"" + team + "\",\"member\":[{\"role\":\"user\",\"user_id\":\"" + user
        + "\"},{\"role\":\"user\",\"user_id\":\"" + other + "\"}],\"max_budget_in_team\":" + (PER_REQUEST * 1.5)
        + "}");
    admin("/team/member_add", "{\"team_id\":\"" + team2 + "\",\"member\":{\"role\":\"user\",\"user_id\":\"" + user
        + "\"}}");
    assertThat(chat(k)).as("the first request's spend was before the member existed").startsWith("200 ");
    assertThat(chat(k)).as("1 request within the team: under 1.5").startsWith("200 ");
    String refused = chat(k);
    assertThat(refused).startsWith("400 ");
    JsonNode err = JSON.readTree(refused.substring(4)).get("error");
    assertThat(err.get("type").asText()).isEqualTo("budget_exceeded");
    assertThat(err.get("message").asText()).startsWith("Budget has been exceeded! User=" + user + " in Team=" + team);
    assertThat(chat(key(user, team))).as("every key of the member in the team").startsWith("400 ");
    assertThat(chat(key(other, team))).as("another member of the team has a budget of its own").startsWith("200 ");
    assertThat(chat(key(user, team2))).as("the same user in another team").startsWith("200 ");
    JsonNode info = awaitMemberSpend(team, user, 2 * PER_REQUEST);
    assertThat(info.get("spend").asDouble()).as("the member's spend within the team")
        .isCloseTo(2 * PER_REQUEST, org.assertj.core.data.Offset.offset(1e-9));
    admin("/team/member_update", "{\"team_id\":\"" + team + "\",\"user_id\":\"" + user
        + "\",\"max_budget_in_team\":1}");
    assertThat(chat(k)).as("a raised budget takes effect at once (the key was dropped from the cache)")
        .startsWith("200 ");
  }

  @Test
  void aMemberUpdateSettingABudgetOnAnExistingMemberIsEnforced() throws Exception {
    String n = Long.toString(System.nanoTime());
    String user = "tm-v-" + n;
    String team = "tm-w-" + n;
    admin("/user/new", "{\"user_id\":\"" + user + "\",\"auto_create_key\":false}");
    admin("/team/new", "{\"team_id\":\"" + team + "\",\"members_with_roles\":[{\"role\":\"user\",\"user_id\":\""
        + user + "\"}]}");
    String k = key(user, team);
    assertThat(chat(k)).startsWith("200 ");
    awaitMemberSpend(team, user, PER_REQUEST);
    admin("/team/member_update", "{\"team_id\":\"" + team + "\",\"user_id\":\"" + user
        + "\",\"max_budget_in_team\":" + (PER_REQUEST / 2) + "}");
    assertThat(chat(k)).as("the stored member spend is over the new budget").startsWith("400 ")
        .contains("Budget has been exceeded! User=" + user + " in Team=" + team);
  }

  /** The member's row in /team/info once its spend reached {@code atLeast}. */
  static JsonNode awaitMemberSpend(String team, String user, double atLeast) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      var r = send("GET", "/team/info?team_id=" + team, MASTER, null);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      for (JsonNode m : JSON.readTree(r.body()).get("team_memberships")) {
        if (m.get("user_id").asText().equals(user) && m.path("spend").asDouble() >= atLeast - 1e-9) {
          return m;
        }
      }
      assertThat(System.nanoTime()).as("member %s of %s with spend %s: %s", user, team, atLeast, r.body())
          .isLessThan(deadline);
      Thread.sleep(50);
    }
  }
}
