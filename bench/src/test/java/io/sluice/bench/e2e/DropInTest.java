package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyCache;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.ConfigLoader;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import io.sluice.server.AdminPlane;
import io.sluice.server.SluiceServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14: a LiteLLM config as teams have it — vLLM behind a wildcard group next to cloud entries Sluice does not
 * serve — loads and serves its vLLM part, with the client's model name sent upstream.
 */
class DropInTest {
  static final String MASTER = "sk-master-DROPIN-SECRET";
  static final String SERVED = "Qwen/Qwen2-7B-Instruct";
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir
  Path dir;

  @Test
  void aMixedConfigWithAWildcardGroupServesItsVllmPartAndSendsTheClientsModelUpstream() throws Exception {
    try (TestDatabases.TestDatabase db = TestDatabases.create();
        FakeVllm fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(3)
            .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start()) {
      Path file = dir.resolve("config.yaml");
      Files.writeString(file, """
          model_list:
            - model_name: "hosted_vllm/*"
              litellm_params:
                model: "hosted_vllm/*"
                api_base: http://127.0.0.1:%d/v1
            - model_name: team-llm
              litellm_params:
                model: hosted_vllm/%s
                api_base: http://127.0.0.1:%d/v1
              model_info: {id: vllm-a, access_groups: [beta-models], custom_label: gold, max_input_tokens: 8192, mode: chat}
            - model_name: primary
              litellm_params: {model: hosted_vllm/gone, api_base: 'http://127.0.0.1:1/v1'}
            - model_name: backup
              litellm_params: {model: hosted_vllm/%s, api_base: 'http://127.0.0.1:%d/v1'}
            - model_name: gpt-3.5-turbo
              litellm_params: {model: gpt-3.5-turbo, api_key: os.environ/OPENAI_API_KEY}
            - model_name: claude
              litellm_params: {model: anthropic/claude-3-5-sonnet-20240620}
          router_settings:
            fallbacks: [{"hosted_vllm/*": [gpt-3.5-turbo]}]
          """.formatted(fake.port(), SERVED, fake.port(), SERVED, fake.port()));
      SluiceConfig cfg = ConfigLoader.load(file, Map.of("OPENAI_API_KEY", "sk-openai-DROPIN-SECRET"));
      AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL",
          db.litellmUrl()), Secret.of(MASTER)), Map.of(), KeyCache.NONE);
      try (SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1,
          Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane))) {
        int port = sluice.port();
        String body = "{\"model\":\"hosted_vllm/" + SERVED + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        var r = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER, body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(fake.requests().get(0).body()).get("model").asText())
            .as("the part the wildcard matched goes upstream").isEqualTo(SERVED);
        var stream = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER,
            body.replace("{\"model\"", "{\"stream\":true,\"model\""));
        assertThat(stream.statusCode()).isEqualTo(200);
        assertThat(stream.body()).contains("data: [DONE]");

        String patternKey = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER,
            "{\"models\":[\"hosted_vllm/*\"]}").body()).get("key").asText();
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", patternKey, body).statusCode())
            .as("a key allowed hosted_vllm/* reaches it").isEqualTo(200);
        String otherKey = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER,
            "{\"models\":[\"openai/*\"]}").body()).get("key").asText();
        var denied = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", otherKey, body);
        assertThat(denied.statusCode()).isEqualTo(401);
        assertThat(denied.body()).contains("key_model_access_denied").contains("['openai/*']");
        // LiteLLM's response headers (issue 14 #5) and its per-request x-litellm-timeout.
        assertThat(r.headers().firstValue("x-litellm-model-group")).hasValue("hosted_vllm/*");
        assertThat(r.headers().firstValue("x-litellm-model-id")).hasValueSatisfying(v -> assertThat(v).isNotBlank());
        assertThat(r.headers().firstValue("x-litellm-attempted-retries")).hasValue("0");
        assertThat(r.headers().firstValue("x-litellm-max-retries")).isPresent();
        assertThat(r.headers().firstValue("x-litellm-timeout")).hasValue("6000");
        var keyed = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", patternKey, body);
        assertThat(keyed.headers().firstValue("x-litellm-key-spend")).isPresent();
        long t0 = System.nanoTime();
        var slow = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER, body,
            "x-litellm-timeout", "0.3", "x-fake-ttft-ms", "3000");
        assertThat(slow.statusCode()).as(slow.body()).isEqualTo(504);
        assertThat((System.nanoTime() - t0) / 1_000_000).as("the per-request timeout, not the 6000 s default")
            .isLessThan(2500);
        assertThat(fake.requests().get(fake.requests().size() - 1).headers().get("x-litellm-timeout"))
            .as("consumed, not forwarded").isNull();
        var bad = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER, body,
            "x-litellm-timeout", "soon");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("x-litellm-timeout");
        // model_info as written (custom fields, access groups) is kept and shown; access groups grant access.
        var info = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "GET", "/model/info", MASTER, null).body());
        assertThat(info.toString()).contains("\"custom_label\":\"gold\"").contains("\"access_groups\":[\"beta-models\"]");
        assertThat(VirtualKeyE2ETestSupport.send(port, "GET", "/v2/model/info", MASTER, null).body())
            .contains("\"custom_label\":\"gold\"");
        var groups = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "GET", "/model_group/info?model_group=team-llm",
            MASTER, null).body()).get("data");
        assertThat(groups).hasSize(1);
        assertThat(groups.get(0).get("model_group").asText()).isEqualTo("team-llm");
        assertThat(groups.get(0).get("max_input_tokens").asInt()).isEqualTo(8192);
        assertThat(groups.get(0).get("mode").asText()).isEqualTo("chat");
        assertThat(groups.get(0).get("providers").toString()).isEqualTo("[\"hosted_vllm\"]");
        String betaKey = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER,
            "{\"models\":[\"beta-models\"]}").body()).get("key").asText();
        String teamBody = body.replace("hosted_vllm/" + SERVED, "team-llm");
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", betaKey, teamBody).statusCode())
            .as("an access group in the key's models allows its deployments' group").isEqualTo(200);
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", betaKey, body).statusCode())
            .as("and nothing else").isEqualTo(401);
        assertThat(VirtualKeyE2ETestSupport.send(port, "GET", "/model_group/info", betaKey, null).body())
            .contains("team-llm").doesNotContain("hosted_vllm/*");
        // Per-request fallbacks (issue 14 #5): the body's own list, checked against the key like the model.
        String primary = "{\"model\":\"primary\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER, primary + "}")
            .statusCode()).as("no fallbacks configured: the dead replica's 502").isEqualTo(502);
        var fellBack = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER,
            primary + ",\"fallbacks\":[\"backup\"]}");
        assertThat(fellBack.statusCode()).as(fellBack.body()).isEqualTo(200);
        assertThat(fellBack.headers().firstValue("x-litellm-model-group")).hasValue("backup");
        String primaryOnly = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER,
            "{\"models\":[\"primary\"]}").body()).get("key").asText();
        var notAllowed = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", primaryOnly,
            primary + ",\"fallbacks\":[\"backup\"]}");
        assertThat(notAllowed.statusCode()).isEqualTo(401);
        assertThat(notAllowed.body()).contains("in \\\"fallbacks\\\"").contains("Tried to access backup");
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER,
            primary + ",\"fallbacks\":[\"nope\"]}").statusCode()).isEqualTo(400);
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER,
            primary + ",\"fallbacks\":\"backup\"}").body()).contains("must be a list of model group names");
        // The user's own models list holds for its keys at request time, also after it changed (issue 14 #3).
        String userKey = JSON.readTree(VirtualKeyE2ETestSupport.send(port, "POST", "/user/new", MASTER,
            "{\"user_id\":\"scoped\",\"models\":[\"team-llm\"]}").body()).get("key").asText();
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", userKey, teamBody).statusCode())
            .isEqualTo(200);
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/user/update", MASTER,
            "{\"user_id\":\"scoped\",\"models\":[\"backup\"]}").statusCode()).isEqualTo(200);
        var userDenied = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", userKey, teamBody);
        assertThat(userDenied.statusCode()).as(userDenied.body()).isEqualTo(401);
        assertThat(userDenied.body()).contains("user_model_access_denied").contains("This user can only access "
            + "models=['backup']");
        // Team model_aliases and key aliases (issue 14 #3): a name the client sends stands for a model group.
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/team/new", MASTER, "{\"team_id\":\"aliased\","
            + "\"model_aliases\":{\"gpt-4\":\"team-llm\",\"gpt-4o\":\"team-llm\"}}").statusCode()).isEqualTo(200);
        var teamKeyGen = VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER, "{\"team_id\":\"aliased\","
            + "\"aliases\":{\"gpt-4o\":\"backup\"}}");
        String teamKey = JSON.readTree(teamKeyGen.body()).get("key").asText();
        assertThat(JSON.readTree(teamKeyGen.body()).get("aliases").toString()).isEqualTo("{\"gpt-4o\":\"backup\"}");
        fake.clearRequests();
        var viaAlias = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", teamKey,
            body.replace("hosted_vllm/" + SERVED, "gpt-4"));
        assertThat(viaAlias.statusCode()).as(viaAlias.body()).isEqualTo(200);
        assertThat(viaAlias.headers().firstValue("x-litellm-model-group")).hasValue("team-llm");
        assertThat(JSON.readTree(fake.requests().get(0).body()).get("model").asText()).isEqualTo(SERVED);
        var keyWins = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", teamKey,
            body.replace("hosted_vllm/" + SERVED, "gpt-4o"));
        assertThat(keyWins.headers().firstValue("x-litellm-model-group")).as("the key's alias over the team's")
            .hasValue("backup");
        assertThat(VirtualKeyE2ETestSupport.send(port, "POST", "/key/generate", MASTER,
            "{\"aliases\":{\"gpt-4\":3}}").statusCode()).as("an alias must name a group").isEqualTo(400);
        var cloud = VirtualKeyE2ETestSupport.send(port, "POST", "/v1/chat/completions", MASTER,
            body.replace("hosted_vllm/" + SERVED, "claude"));
        assertThat(cloud.statusCode()).as("a skipped cloud entry is not a model group").isEqualTo(400);
        assertThat(cloud.body()).contains("Invalid model name passed in model=claude");
      }
    }
  }
}
