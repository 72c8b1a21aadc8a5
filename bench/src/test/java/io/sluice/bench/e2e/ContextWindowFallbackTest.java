package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.ConfigLoader;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code context_window_fallbacks} (issue 14 §5), from {@code router_settings} (or {@code litellm_settings}) and per
 * request in the body: a replica's 400 saying the request exceeds its context window (vLLM: "This model's maximum
 * context length is …") is not relayed; the request goes to the next context window fallback group, as LiteLLM's
 * router does with its ContextWindowExceededError. Per-request groups are checked against the key's model access.
 */
class ContextWindowFallbackTest {
  static final String MASTER = "sk-master-CW-SECRET";
  static final ObjectMapper JSON = new ObjectMapper();
  static final String LONG_PROMPT = "one two three four five six seven eight nine ten eleven twelve";

  static TestDatabases.TestDatabase db;
  static FakeVllm small;
  static FakeVllm large;
  static SluiceServer sluice;

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    small = FakeVllm.builder().host("127.0.0.1").port(0).servedModel("small-4k").tokens(3).ttft(Duration.ZERO)
        .interTokenDelay(Duration.ZERO).start();
    large = FakeVllm.builder().host("127.0.0.1").port(0).servedModel("large-128k").tokens(3).ttft(Duration.ZERO)
        .interTokenDelay(Duration.ZERO).start();
    Path file = Files.createTempFile("sluice-cw", ".yaml");
    Files.writeString(file, """
        model_list:
          - model_name: small
            litellm_params: {model: hosted_vllm/small-4k, api_base: http://127.0.0.1:%d/v1}
          - model_name: tiny
            litellm_params: {model: hosted_vllm/small-4k, api_base: http://127.0.0.1:%d/v1}
          - model_name: large
            litellm_params: {model: hosted_vllm/large-128k, api_base: http://127.0.0.1:%d/v1}
        router_settings:
          context_window_fallbacks: [{"small": ["large"]}]
        """.formatted(small.port(), small.port(), large.port()));
    SluiceConfig cfg = ConfigLoader.load(file, Map.of());
    Files.delete(file);
    sluice = Gateway.start(cfg, MASTER, db.litellmUrl());
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (small != null) {
      small.close();
    }
    if (large != null) {
      large.close();
    }
    if (db != null) {
      db.close();
    }
  }

  @BeforeEach
  void reset() {
    small.clearRequests();
    large.clearRequests();
    small.faults().maxModelLen(5); // "small" serves at most 5 prompt tokens
  }

  static String chat(String model, String prompt, String extra) {
    return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]" + extra
        + "}";
  }

  static java.net.http.HttpResponse<String> send(String key, String body) throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/v1/chat/completions", key, body);
  }

  @Test
  void aRequestTooLongForTheReplicaGoesToTheConfiguredContextWindowFallback() throws Exception {
    var r = send(MASTER, chat("small", LONG_PROMPT, ""));
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(small.requests()).as("tried once: its replicas share its context window").hasSize(1);
    assertThat(large.requests()).hasSize(1);
    assertThat(JSON.readTree(large.requests().get(0).body()).get("model").asText())
        .as("the fallback group's replica gets its own model name").isEqualTo("large-128k");
    assertThat(r.body()).doesNotContain("maximum context length");
  }

  @Test
  void aStreamTooLongForTheReplicaFallsBackToo() throws Exception {
    var r = send(MASTER, chat("small", LONG_PROMPT, ",\"stream\":true"));
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.body()).contains("data: [DONE]").doesNotContain("\"error\"");
    assertThat(large.requests()).hasSize(1);
  }

  @Test
  void aRequestThatFitsStaysOnItsGroup() throws Exception {
    var r = send(MASTER, chat("small", "one two", ""));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(small.requests()).hasSize(1);
    assertThat(large.requests()).isEmpty();
  }

  @Test
  void withoutContextWindowFallbacksTheReplicasFourHundredIsRelayedAsItIs() throws Exception {
    var r = send(MASTER, chat("tiny", LONG_PROMPT, ""));
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.body()).contains("This model's maximum context length is 5 tokens");
    assertThat(large.requests()).isEmpty();
  }

  @Test
  void anotherFourHundredIsRelayedAsItIsEvenWithFallbacks() throws Exception {
    small.faults().status(400);
    try {
      var r = send(MASTER, chat("small", "one", ""));
      assertThat(r.statusCode()).isEqualTo(400);
      assertThat(r.body()).contains("Injected fault");
      assertThat(large.requests()).as("not a context window error: no fallback").isEmpty();
    } finally {
      small.faults().status(0);
    }
  }

  @Test
  void theBodysOwnContextWindowFallbacksAreUsedAndCheckedAgainstTheKeysModels() throws Exception {
    var r = send(MASTER, chat("tiny", LONG_PROMPT, ",\"context_window_fallbacks\":[\"large\"]"));
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(large.requests()).hasSize(1);
    assertThat(JSON.readTree(large.requests().get(0).body()).has("context_window_fallbacks"))
        .as("the body goes on as the client sent it").isTrue();

    large.clearRequests();
    var routerForm = send(MASTER, chat("tiny", LONG_PROMPT,
        ",\"context_window_fallbacks\":[{\"small\":[\"small\"]},{\"tiny\":[\"large\"]}]"));
    assertThat(routerForm.statusCode())
        .as("LiteLLM's router form, the entry of the requested group: " + routerForm.body()).isEqualTo(200);
    assertThat(large.requests()).hasSize(1);
    large.clearRequests();
    var generic = send(MASTER, chat("tiny", LONG_PROMPT, ",\"context_window_fallbacks\":[{\"*\":[\"large\"]}]"));
    assertThat(generic.statusCode()).as("its generic \"*\" entry: " + generic.body()).isEqualTo(200);
    assertThat(large.requests()).hasSize(1);

    String limited = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{\"models\":[\"tiny\"]}");
    small.clearRequests();
    large.clearRequests();
    var denied = send(limited, chat("tiny", LONG_PROMPT, ",\"context_window_fallbacks\":[\"large\"]"));
    assertThat(denied.statusCode()).as(denied.body()).isEqualTo(401);
    assertThat(denied.body()).contains("key_model_access_denied").contains("context_window_fallbacks");
    assertThat(small.requests().size() + large.requests().size()).as("refused before any replica").isZero();
    var unknown = send(MASTER, chat("tiny", "one", ",\"context_window_fallbacks\":[\"nope\"]"));
    assertThat(unknown.statusCode()).isEqualTo(400);
    assertThat(unknown.body()).contains("context_window_fallbacks: nope is not a model group");
    var shape = send(MASTER, chat("tiny", "one", ",\"context_window_fallbacks\":{\"tiny\":[\"large\"]}"));
    assertThat(shape.statusCode()).isEqualTo(400);
    assertThat(shape.body()).contains("\\\"context_window_fallbacks\\\" must be a list of model group names");
    var badRouterForm = send(MASTER, chat("tiny", "one", ",\"context_window_fallbacks\":[{\"tiny\":\"large\"}]"));
    assertThat(badRouterForm.statusCode()).isEqualTo(400);
    assertThat(badRouterForm.body()).contains("or LiteLLM's router form");
    var deniedRouterForm = send(limited, chat("tiny", "one", ",\"context_window_fallbacks\":[{\"tiny\":[\"large\"]}]"));
    assertThat(deniedRouterForm.statusCode()).as("the router form is checked against the key too").isEqualTo(401);
  }
}
