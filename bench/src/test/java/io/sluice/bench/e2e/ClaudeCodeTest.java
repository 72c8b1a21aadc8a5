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
import io.sluice.config.PassThroughSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.AdminPlane;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 §3: Claude Code itself ({@code @anthropic-ai/claude-code} from npm), headless ({@code claude -p}), with
 * {@code ANTHROPIC_BASE_URL} at Sluice and the virtual key in {@code ANTHROPIC_CUSTOM_HEADERS: x-litellm-api-key},
 * against the fake vLLM's Anthropic Messages API — BYOK off (the deployment's key goes upstream) and on (the
 * caller's own {@code ANTHROPIC_API_KEY} goes upstream instead, LiteLLM PR #22964's scenario). Claude Code runs its
 * tool-use loop: the fake answers the first turn with a call of Claude Code's first tool and the second, which
 * carries the {@code tool_result}, with text. With {@code CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1} Claude Code
 * connects to nothing but Sluice (checked with strace when this was written; without it, it also resolves
 * {@code api.anthropic.com}, and works anyway).
 */
class ClaudeCodeTest {
  static final String MASTER = "sk-master-CC-SECRET-0001";
  static final String REPLICA_KEY = "replica-CC-SECRET";
  static final String PROVIDER_KEY = "sk-ant-client-own-CC-SECRET-42";
  static final String SERVED = "Qwen/Qwen3-Coder-30B-A3B-Instruct";
  static final ObjectMapper JSON = new ObjectMapper();

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;      // takes the deployment's key
  static FakeVllm byokFake;  // takes only the caller's own provider key
  static SluiceServer byokOn;
  static SluiceServer byokOff;
  static String key;

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(4)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    byokFake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(PROVIDER_KEY).tokens(4)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(
        new DeploymentConfig("claude-local", Provider.HOSTED_VLLM, SERVED, URI.create("http://127.0.0.1:"
            + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null, "cc-replica", null, 0.001, 0.002),
        new DeploymentConfig("claude-byok", Provider.HOSTED_VLLM, SERVED, URI.create("http://127.0.0.1:"
            + byokFake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null, "cc-byok", null, 0.001,
            0.002));
    SluiceConfig on = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults(), new PassThroughSettings(List.of(), null, null, null,
        true));
    AdminPlane plane = AdminPlane.start(on, AdminPlane.Settings.from(on, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER)), Map.of(), KeyCache.NONE);
    byokOn = SluiceServer.start(on, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane));
    // The same keys and spend store, BYOK off.
    SluiceConfig off = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults(), PassThroughSettings.NONE);
    byokOff = SluiceServer.start(off, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        plane.keys(), true, plane.api(), plane.readiness(), null, null, plane.metering()));
    key = VirtualKeyE2ETestSupport.generateKey(byokOn.port(), MASTER,
        "{\"models\":[\"claude-local\",\"claude-byok\"],\"key_alias\":\"claude-code\"}");
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {byokOff, byokOn, fake, byokFake, db}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // closing anyway
      }
    }
  }

  static Map<String, String> env(SluiceServer node, String model, String apiKey) {
    return Map.ofEntries(Map.entry("ANTHROPIC_BASE_URL", "http://127.0.0.1:" + node.port()),
        Map.entry("ANTHROPIC_API_KEY", apiKey),
        Map.entry("ANTHROPIC_CUSTOM_HEADERS", "x-litellm-api-key: " + key),
        Map.entry("ANTHROPIC_MODEL", model), Map.entry("ANTHROPIC_SMALL_FAST_MODEL", model),
        Map.entry("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"), Map.entry("DISABLE_AUTOUPDATER", "1"));
  }

  @Test
  void claudeCodeRunsHeadlessThroughSluiceWithBringYourOwnKeyOffAndOn() throws Exception {
    String cases = JSON.writeValueAsString(List.of(
        Map.of("name", "byokOff", "env", env(byokOff, "claude-local", "sk-ant-placeholder-CC-NOT-FORWARDED")),
        Map.of("name", "byokOn", "env", env(byokOn, "claude-byok", PROVIDER_KEY))));
    Map<String, JsonNode>[] out = new Map[1];
    String logs = VirtualKeyE2ETestSupport.captureLogs(() -> out[0] = VirtualKeyE2ETestSupport.runNodeClient(
        "claude-code", "@anthropic-ai/claude-code", Map.of("CC_CASES", cases)));
    Map<String, JsonNode> r = out[0];

    for (String c : List.of("byokOff", "byokOn")) {
      JsonNode run = r.get(c);
      assertThat(run).as(String.valueOf(r)).isNotNull();
      assertThat(run.path("rc").asInt()).as(run.toString()).isZero();
      JsonNode result = run.get("result");
      assertThat(result.path("is_error").asBoolean()).as(run.toString()).isFalse();
      assertThat(result.path("result").asText()).as("the fake's text, through Sluice").startsWith("tok0 tok1");
      assertThat(result.path("num_turns").asInt()).as("a tool-use turn, then the answer").isGreaterThanOrEqualTo(2);
    }
    assertTurns(fake.requests(), "Bearer " + REPLICA_KEY);
    assertTurns(byokFake.requests(), "Bearer " + PROVIDER_KEY);
    assertThat(fake.requests()).allSatisfy(q -> assertThat(q.headers().toString())
        .doesNotContain("sk-ant-placeholder-CC-NOT-FORWARDED").doesNotContain(PROVIDER_KEY));

    // Metered on the virtual key (both nodes share one spend store), and no key in any log line.
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    double spend = 0;
    while (spend <= 0 && System.nanoTime() < deadline) {
      var info = VirtualKeyE2ETestSupport.send(byokOn.port(), "GET", "/key/info?key=" + key, MASTER, null);
      spend = JSON.readTree(info.body()).at("/info/spend").asDouble();
      Thread.sleep(100);
    }
    assertThat(spend).as("the key's spend").isPositive();
    assertThat(logs).doesNotContain(PROVIDER_KEY).doesNotContain(key).doesNotContain(REPLICA_KEY)
        .doesNotContain("sk-ant-placeholder-CC-NOT-FORWARDED");
  }

  /** Claude Code's turns as the replica got them: its own model name, the key it takes, no Sluice key, a tool turn. */
  static void assertTurns(List<RecordedRequest> got, String authorization) throws Exception {
    List<RecordedRequest> messages = got.stream().filter(q -> q.uri().startsWith("/v1/messages")).toList();
    assertThat(messages).as("Claude Code's turns").hasSizeGreaterThanOrEqualTo(2);
    boolean toolResult = false;
    for (RecordedRequest q : messages) {
      assertThat(q.method()).isEqualTo("POST");
      assertThat(q.headers().get("authorization")).isEqualTo(authorization);
      assertThat(q.headers().contains("x-litellm-api-key")).as("never forwarded").isFalse();
      assertThat(q.headers().toString()).doesNotContain(key);
      assertThat(q.headers().get("anthropic-version")).as("forwarded").isNotBlank();
      JsonNode body = JSON.readTree(q.body());
      assertThat(body.get("model").asText()).isEqualTo(SERVED);
      toolResult |= body.path("messages").toString().contains("\"tool_result\"");
    }
    assertThat(toolResult).as("a turn carried Claude Code's tool_result back").isTrue();
  }
}
