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
 * End users on the data plane (issue 14 §4): the request body's {@code user} (LiteLLM's customer) is looked up before
 * admission — off the event loop, cached — and a blocked one is refused with LiteLLM's 400, one over the budget of its
 * budget row with 400 {@code budget_exceeded}, one over its budget's rpm with 429; an unknown one is served, and every
 * request's spend is recorded as the spend row's {@code end_user} and added to the end user (created when new).
 */
class EndUserEnforcementTest {
  static final String MASTER = "sk-master-EU-SECRET";
  static final String REPLICA_KEY = "replica-EU-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final double IN_COST = 0.001;
  static final double OUT_COST = 0.002;
  /** 3 prompt tokens ("one two three") and 5 completion tokens per request. */
  static final double PER_REQUEST = 3 * IN_COST + 5 * OUT_COST;
  static final ObjectMapper JSON = new ObjectMapper();

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
        "fake-eu", null, IN_COST, OUT_COST));
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

  static HttpResponse<String> admin(String path, String body) throws Exception {
    HttpResponse<String> r = send("POST", path, MASTER, body);
    assertThat(r.statusCode()).as(path + ": " + r.body()).isEqualTo(200);
    return r;
  }

  static String chat(String user) {
    return "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}],\"user\":\"" + user
        + "\"}";
  }

  static JsonNode error(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body()).get("error");
  }

  @Test
  void aBlockedEndUserIsRefusedWithLiteLlmsFourHundredAndServedAgainOnceUnblocked() throws Exception {
    String key = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{}");
    String eu = "eu-blocked-" + System.nanoTime();
    var before = send("POST", "/v1/chat/completions", key, chat(eu));
    assertThat(before.statusCode()).as("an unknown end user is served (and now cached as unknown)").isEqualTo(200);
    admin("/customer/block", "{\"user_ids\":[\"" + eu + "\"]}");
    fake.clearRequests();
    var r = send("POST", "/v1/chat/completions", key, chat(eu));
    assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
    assertThat(error(r).get("message").asText()).isEqualTo("User blocked from making LLM API Calls. User=" + eu);
    assertThat(error(r).get("type").asText()).isEqualTo("invalid_request_error");
    assertThat(error(r).get("code").asText()).isEqualTo("400");
    assertThat(fake.requests()).as("a refused request never reaches a replica").isEmpty();
    var master = send("POST", "/v1/chat/completions", MASTER, chat(eu));
    assertThat(master.statusCode()).as("the master key's requests name end users too").isEqualTo(400);
    var other = send("POST", "/v1/chat/completions", key, chat(eu + "-other"));
    assertThat(other.statusCode()).as("another end user is not affected").isEqualTo(200);
    admin("/end_user/unblock", "{\"user_ids\":[\"" + eu + "\"]}");
    var after = send("POST", "/v1/chat/completions", key, chat(eu));
    assertThat(after.statusCode()).as("the unblock dropped the cached end user: " + after.body()).isEqualTo(200);
  }

  @Test
  void anUnknownEndUserIsServedAndItsSpendIsRecordedAndAddedToANewEndUser() throws Exception {
    String key = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{}");
    String eu = "eu-new-" + System.nanoTime();
    fake.clearRequests();
    var r = send("POST", "/v1/chat/completions", key, chat(eu));
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(fake.requests().get(0).body()).as("the body reaches the replica whole, user included")
        .isEqualTo(chat(eu).replace("\"llama\"", "\"" + SERVED + "\""));
    JsonNode row = VirtualKeyE2ETestSupport.spendRow(sluice.port(), MASTER,
        r.headers().firstValue("x-request-id").orElseThrow());
    assertThat(row.get("end_user").asText()).isEqualTo(eu);
    assertThat(row.get("spend").asDouble()).isCloseTo(PER_REQUEST, org.assertj.core.data.Offset.offset(1e-12));
    JsonNode info = awaitEndUserSpend(eu, PER_REQUEST);
    assertThat(info.get("user_id").asText()).isEqualTo(eu);
    assertThat(info.get("blocked").asBoolean()).isFalse();
  }

  @Test
  void anEndUserOverItsBudgetIsRefusedWithBudgetExceeded() throws Exception {
    String eu = "eu-budget-" + System.nanoTime();
    admin("/customer/new", "{\"user_id\":\"" + eu + "\",\"max_budget\":" + (PER_REQUEST / 2) + "}");
    String key = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{}");
    var first = send("POST", "/v1/chat/completions", key, chat(eu));
    assertThat(first.statusCode()).as("within budget: " + first.body()).isEqualTo(200);
    var second = send("POST", "/v1/chat/completions", key, chat(eu));
    assertThat(second.statusCode()).as(second.body()).isEqualTo(400);
    assertThat(error(second).get("type").asText()).isEqualTo("budget_exceeded");
    assertThat(error(second).get("message").asText()).startsWith("Budget has been exceeded! End User=" + eu
        + " over budget");
    String otherKey = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{}");
    assertThat(send("POST", "/v1/chat/completions", otherKey, chat(eu)).statusCode())
        .as("the end user's budget holds whichever key sends it").isEqualTo(400);
    awaitEndUserSpend(eu, PER_REQUEST);
  }

  @Test
  void anEndUsersRpmLimitFromItsBudgetHoldsAcrossKeys() throws Exception {
    String eu = "eu-rpm-" + System.nanoTime();
    admin("/budget/new", "{\"budget_id\":\"" + eu + "-tier\",\"rpm_limit\":2}");
    admin("/customer/new", "{\"user_id\":\"" + eu + "\",\"budget_id\":\"" + eu + "-tier\"}");
    String a = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{}");
    String b = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{}");
    assertThat(send("POST", "/v1/chat/completions", a, chat(eu)).statusCode()).isEqualTo(200);
    assertThat(send("POST", "/v1/chat/completions", b, chat(eu)).statusCode()).isEqualTo(200);
    var third = send("POST", "/v1/chat/completions", a, chat(eu));
    if (third.statusCode() == 200) {
      // The two requests fell into two minutes: the third one is the second of its minute, try once more.
      third = send("POST", "/v1/chat/completions", a, chat(eu));
      assertThat(third.statusCode()).isEqualTo(200);
      third = send("POST", "/v1/chat/completions", b, chat(eu));
    }
    assertThat(third.statusCode()).as(third.body()).isEqualTo(429);
    assertThat(error(third).get("type").asText()).isEqualTo("rate_limit_error");
    assertThat(error(third).get("message").asText()).contains("end user " + eu).contains("rpm_limit");
    assertThat(send("POST", "/v1/chat/completions", a, chat(eu + "-x")).statusCode())
        .as("the key itself is not limited").isEqualTo(200);
    admin("/budget/update", "{\"budget_id\":\"" + eu + "-tier\",\"rpm_limit\":100}");
    assertThat(send("POST", "/v1/chat/completions", a, chat(eu)).statusCode())
        .as("a budget update reaches the cached end user at once").isEqualTo(200);
  }

  /** The end user's /customer/info once its spend reached {@code atLeast} (the batched writer). */
  static JsonNode awaitEndUserSpend(String eu, double atLeast) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      var r = send("GET", "/customer/info?end_user_id=" + eu, MASTER, null);
      if (r.statusCode() == 200) {
        JsonNode info = JSON.readTree(r.body());
        if (info.path("spend").asDouble() >= atLeast - 1e-12) {
          return info;
        }
      }
      assertThat(System.nanoTime()).as("end user %s with spend %s: %s", eu, atLeast, r.body()).isLessThan(deadline);
      Thread.sleep(50);
    }
  }
}
