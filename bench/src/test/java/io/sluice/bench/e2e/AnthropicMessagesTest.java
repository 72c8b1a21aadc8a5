package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.fake.RecordedRequest;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.PassThroughSettings;
import io.sluice.config.Provider;
import io.sluice.config.Secret;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 §1: Anthropic's {@code /v1/messages} and {@code /v1/messages/count_tokens} through Sluice, with real
 * sockets — Sluice (admin plane on a real PostgreSQL, {@code forward_llm_provider_auth_headers: true}), a second
 * Sluice with BYOK off, and the fake vLLM speaking vLLM's Anthropic wire format (bench/ANTHROPIC-WIRE.md). Routed by
 * the body's {@code model} like chat, relayed as bytes, metered from Anthropic's usage, errors in Anthropic's shape,
 * and the six review findings of LiteLLM PR #22964 as named tests ({@code byokFinding1…6}).
 */
class AnthropicMessagesTest {
  static final String MASTER = "sk-master-ANT-SECRET-0001";
  static final String REPLICA_KEY = "replica-ANT-SECRET";
  static final String PROVIDER_KEY = "client-provider-key-ANT-SECRET-42";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final double IN_COST = 0.001;
  static final double OUT_COST = 0.002;
  static final ObjectMapper JSON = new ObjectMapper();

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;       // model group "claude-sonnet" (served as SERVED), --api-key REPLICA_KEY
  static FakeVllm byokFake;   // model group "byok": a replica that takes the caller's own provider key
  static SluiceServer sluice;  // BYOK on
  static SluiceServer plain;   // BYOK off, master key only
  static String userKey;

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(4)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    byokFake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(PROVIDER_KEY).tokens(4)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(
        new DeploymentConfig("claude-sonnet", Provider.HOSTED_VLLM, SERVED, URI.create("http://127.0.0.1:"
            + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null, "replica-a", null, IN_COST,
            OUT_COST),
        Gateway.vllm("byok", SERVED, byokFake, REPLICA_KEY, "replica-byok"));
    PassThroughSettings byok = new PassThroughSettings(List.of(), null, null, null, true);
    sluice = Gateway.builder(MASTER).models(models).passThrough(byok).database(db.litellmUrl()).start();
    plain = Gateway.builder(MASTER).models(models).passThrough(PassThroughSettings.NONE).start();
    userKey = json(send("POST", "/user/new", MASTER, "{\"user_id\":\"ant-user\",\"user_role\":\"internal_user\"}"))
        .get("key").asText();
  }

  @AfterAll
  static void stop() {
    for (SluiceServer s : new SluiceServer[] {sluice, plain}) {
      if (s != null) {
        s.close();
      }
    }
    for (FakeVllm f : new FakeVllm[] {fake, byokFake}) {
      if (f != null) {
        f.close();
      }
    }
    if (db != null) {
      db.close();
    }
  }

  @BeforeEach
  void reset() {
    fake.clearRequests();
    byokFake.clearRequests();
    fake.faults().reset();
  }

  /** {@code headers} as name, value pairs; no credential added. */
  static HttpResponse<String> send(String method, String path, String key, String body, String... headers)
      throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), method, path, key, body, headers);
  }

  static HttpResponse<String> messages(String body, String... headers) throws Exception {
    return send("POST", "/v1/messages", null, body, headers);
  }

  static JsonNode json(HttpResponse<String> r) throws Exception {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  static String generate(String body) throws Exception {
    return json(send("POST", "/key/generate", MASTER, body)).get("key").asText();
  }

  static String body(String model, boolean stream) {
    return "{\"model\":\"" + model + "\",\"max_tokens\":64,\"system\":\"be brief\",\"messages\":[{\"role\":\"user\","
        + "\"content\":\"one two three\"}]" + (stream ? ",\"stream\":true" : "") + "}";
  }

  static RecordedRequest last(FakeVllm f) {
    assertThat(f.requests()).as("the replica got the request").isNotEmpty();
    return f.requests().get(f.requests().size() - 1);
  }

  static String headersOf(RecordedRequest r) {
    StringBuilder sb = new StringBuilder();
    r.headers().forEach(e -> sb.append(e.getKey()).append(": ").append(e.getValue()).append('\n'));
    return sb.toString();
  }

  /** The spend row of {@code requestId} from GET /spend/logs, waiting for the batched writer. */
  static JsonNode spendRow(String requestId) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      var r = send("GET", "/spend/logs?request_id=" + requestId, MASTER, null);
      JsonNode rows = json(r);
      if (rows.size() > 0) {
        assertThat(rows.size()).as("one row per request").isEqualTo(1);
        return rows.get(0);
      }
      assertThat(System.nanoTime()).as("spend row for %s", requestId).isLessThan(deadline);
      Thread.sleep(50);
    }
  }

  static List<String> events(String body) {
    List<String> ev = new ArrayList<>();
    for (String part : body.split("\n\n")) {
      if (!part.isBlank()) {
        ev.add(part);
      }
    }
    return ev;
  }

  // ---- routing, relay, credentials

  @Test
  void messagesAreRoutedByModelWithTheReplicaNameSplicedAndTheAnswerRelayedAsTheReplicaSentIt() throws Exception {
    var r = messages(body("claude-sonnet", false), "x-api-key", userKey, "anthropic-version", "2023-06-01",
        "anthropic-beta", "prompt-caching-2024-07-31");
    JsonNode m = json(r);
    assertThat(m.get("type").asText()).isEqualTo("message");
    assertThat(m.get("content").get(0).get("text").asText()).isEqualTo("tok0 tok1 tok2 tok3 ");
    assertThat(m.get("usage").get("output_tokens").asInt()).isEqualTo(4);
    RecordedRequest up = last(fake);
    assertThat(up.uri()).isEqualTo("/v1/messages");
    assertThat(up.body()).as("only the model literal changed").isEqualTo(body(SERVED, false));
    assertThat(up.headers().get("Authorization")).as("the deployment's key, what vLLM checks")
        .isEqualTo("Bearer " + REPLICA_KEY);
    assertThat(up.headers().get("anthropic-version")).isEqualTo("2023-06-01");
    assertThat(up.headers().get("anthropic-beta")).isEqualTo("prompt-caching-2024-07-31");
    assertThat(up.headers().get("x-api-key")).as("the Sluice key that authenticated").isNull();
  }

  @Test
  void aStreamIsRelayedEventByEventInVllmsAnthropicSequence() throws Exception {
    var r = messages(body("claude-sonnet", true), "x-api-key", userKey, "anthropic-version", "2023-06-01");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
    List<String> ev = events(r.body());
    assertThat(ev.get(0)).startsWith("event: message_start\ndata: {\"type\":\"message_start\"");
    assertThat(ev.get(1)).startsWith("event: content_block_start\n");
    assertThat(ev.subList(2, 6)).allMatch(e -> e.startsWith("event: content_block_delta\n"));
    assertThat(ev.get(6)).startsWith("event: content_block_stop\n");
    assertThat(ev.get(7)).startsWith("event: message_delta\n").contains("\"output_tokens\":4");
    assertThat(ev.get(8)).isEqualTo("event: message_stop\ndata: {\"type\":\"message_stop\"}");
    assertThat(ev.get(9)).as("vLLM ends its Anthropic stream so too").isEqualTo("data: [DONE]");
    assertThat(last(fake).body()).as("no stream_options spliced into an Anthropic request")
        .isEqualTo(body(SERVED, true));
  }

  @Test
  void everyCredentialHeaderAnAnthropicClientSendsAuthenticates() throws Exception {
    String[][] ways = {{"x-api-key", userKey}, {"Authorization", "Bearer " + userKey},
        {"x-litellm-api-key", userKey}, {"x-litellm-api-key", "Bearer " + userKey}, {"x-api-key", MASTER}};
    for (String[] h : ways) {
      fake.clearRequests();
      var r = messages(body("claude-sonnet", false), h[0], h[1]);
      assertThat(r.statusCode()).as(h[0] + ": " + r.body()).isEqualTo(200);
      String seen = headersOf(last(fake));
      assertThat(seen).as(h[0]).doesNotContain(userKey).doesNotContain(MASTER);
    }
  }

  @Test
  void countTokensIsRoutedAndRelayedButNotCountedAsGeneration() throws Exception {
    String b = "{\"model\":\"claude-sonnet\",\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}";
    var r = send("POST", "/v1/messages/count_tokens", null, b, "x-api-key", userKey, "x-request-id", "ant-count-1");
    assertThat(json(r).get("input_tokens").asInt()).isEqualTo(3);
    assertThat(last(fake).uri()).isEqualTo("/v1/messages/count_tokens");
    assertThat(last(fake).body()).contains("\"model\":\"" + SERVED + "\"");
    JsonNode row = spendRow("ant-count-1");
    assertThat(row.get("prompt_tokens").asLong()).as("a count is no prompt").isZero();
    assertThat(row.get("spend").asDouble()).isZero();
  }

  @Test
  void countTokensIsAnsweredFromTheReplicasTokenizeWhenItsVllmHasNoCountRoute() throws Exception {
    fake.faults().noCountTokens(true);
    String b = "{\"model\":\"claude-sonnet\",\"system\":[{\"type\":\"text\",\"text\":\"be brief\"}],"
        + "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"one two three\"}]}],"
        + "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}]}";
    for (int i = 0; i < 2; i++) { // twice: the connection that carried the /tokenize answer is reused cleanly
      fake.clearRequests();
      var r = send("POST", "/v1/messages/count_tokens", null, b, "x-api-key", userKey);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      assertThat(r.body()).isEqualTo("{\"input_tokens\":5}");
      assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("application/json");
      assertThat(fake.requests()).extracting(RecordedRequest::uri)
          .containsExactly("/v1/messages/count_tokens", "/tokenize");
      RecordedRequest tokenize = fake.requests().get(1);
      JsonNode t = JSON.readTree(tokenize.body());
      assertThat(t.get("model").asText()).as("the replica's model name").isEqualTo(SERVED);
      assertThat(t.get("messages").toString()).isEqualTo("[{\"role\":\"system\",\"content\":\"be brief\"},"
          + "{\"role\":\"user\",\"content\":\"one two three\"}]");
      assertThat(t.at("/tools/0/function/name").asText()).isEqualTo("get_weather");
      assertThat(tokenize.headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
    }
    var chat = messages(body("claude-sonnet", true), "x-api-key", userKey);
    assertThat(chat.statusCode()).as("the next request on Sluice is served as usual").isEqualTo(200);
  }

  @Test
  void noSluiceKeyReachesTheReplicaInAnyHeaderOnMessages() throws Exception {
    String second = generate("{}"); // a valid key this node has not seen yet
    List<String[]> combos = List.of(
        new String[] {"x-api-key", userKey, "Authorization", "Bearer " + userKey},
        new String[] {"x-litellm-api-key", userKey, "x-api-key", userKey},
        new String[] {"x-litellm-api-key", userKey, "x-api-key", second},
        new String[] {"x-litellm-api-key", userKey, "Authorization", "Bearer " + second, "api-key", second},
        new String[] {"Authorization", "Bearer " + userKey, "x-api-key", MASTER},
        new String[] {"x-api-key", userKey, "x-custom-trace", userKey, "Cookie", "s=" + userKey + "; t=1"},
        new String[] {"x-api-key", MASTER, "anthropic-beta", MASTER});
    for (boolean stream : new boolean[] {false, true}) {
      for (String[] h : combos) {
        fake.clearRequests();
        var r = messages(body("claude-sonnet", stream), h);
        String what = String.join(" | ", h).replace(userKey, "<key>").replace(second, "<2nd>")
            .replace(MASTER, "<master>") + (stream ? " (stream)" : "");
        assertThat(r.statusCode()).as(what + ": " + r.body()).isEqualTo(200);
        RecordedRequest up = last(fake);
        String seen = headersOf(up);
        assertThat(seen).as(what).doesNotContain(userKey).doesNotContain(second).doesNotContain(MASTER);
        assertThat(up.headers().get("Authorization")).as(what + ": a Sluice key is no provider key")
            .isEqualTo("Bearer " + REPLICA_KEY);
      }
    }
  }

  // ---- BYOK: LiteLLM PR #22964's six review findings

  @Test
  void byokFinding1_aMixedCaseProviderKeyHeaderIsForwarded() throws Exception {
    for (String name : new String[] {"X-Api-Key", "X-API-KEY", "x-API-key"}) {
      byokFake.clearRequests();
      var r = messages(body("byok", false), "X-LiteLLM-Api-Key", userKey, name, PROVIDER_KEY);
      assertThat(r.statusCode()).as(name + ": " + r.body()).isEqualTo(200);
      RecordedRequest up = last(byokFake);
      assertThat(up.headers().get("authorization")).as(name).isEqualTo("Bearer " + PROVIDER_KEY);
      assertThat(up.headers().get("x-api-key")).as(name + ": sent in the header vLLM checks, not as it came")
          .isNull();
    }
  }

  @Test
  void byokFinding2_theAuthHeaderIsTheOneAuthAcceptedNotTheOnesPresent() throws Exception {
    // Authenticated by Authorization: x-api-key is the caller's provider key.
    var viaAuthorization = messages(body("byok", false), "Authorization", "Bearer " + userKey, "x-api-key",
        PROVIDER_KEY);
    assertThat(viaAuthorization.statusCode()).as(viaAuthorization.body()).isEqualTo(200);
    assertThat(last(byokFake).headers().get("Authorization")).isEqualTo("Bearer " + PROVIDER_KEY);
    // Authenticated by x-api-key itself (no other credential header): it is the Sluice key, never forwarded,
    // although BYOK is on and an x-api-key header is present.
    fake.clearRequests();
    var viaApiKey = messages(body("claude-sonnet", false), "x-api-key", userKey);
    assertThat(viaApiKey.statusCode()).as(viaApiKey.body()).isEqualTo(200);
    assertThat(last(fake).headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
    // x-litellm-api-key present with an Authorization carrying something else: auth read x-litellm-api-key, so
    // x-api-key is still the provider key and Authorization is not forwarded as it came.
    byokFake.clearRequests();
    var both = messages(body("byok", false), "x-litellm-api-key", userKey, "Authorization", "Bearer oauth-token-1",
        "x-api-key", PROVIDER_KEY);
    assertThat(both.statusCode()).as(both.body()).isEqualTo(200);
    assertThat(last(byokFake).headers().get("Authorization")).isEqualTo("Bearer " + PROVIDER_KEY);
    assertThat(headersOf(last(byokFake))).doesNotContain("oauth-token-1");
  }

  @Test
  void byokFinding3_anUnknownAuthSourceNeverForwards() throws Exception {
    // The unit test ByokProviderKeyTest covers credentialHeader == null (no credential read at all); end to end,
    // a request whose key header is absent is refused before anything is forwarded.
    var r = messages(body("byok", false), "x-goog-api-key", userKey, "api-key", PROVIDER_KEY);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(401);
    assertThat(byokFake.requests()).as("nothing reached the replica").isEmpty();
  }

  @Test
  void byokFinding4_noFallbackBranchTurnsByokOffForEitherAcceptedHeader() throws Exception {
    for (String[] auth : new String[][] {{"x-litellm-api-key", userKey}, {"Authorization", "Bearer " + userKey},
        {"x-litellm-api-key", MASTER}, {"Authorization", "Bearer " + MASTER}}) {
      for (boolean stream : new boolean[] {false, true}) {
        byokFake.clearRequests();
        var r = messages(body("byok", stream), auth[0], auth[1], "x-api-key", PROVIDER_KEY);
        assertThat(r.statusCode()).as(auth[0] + ": " + r.body()).isEqualTo(200);
        assertThat(last(byokFake).headers().get("Authorization")).as(auth[0]).isEqualTo("Bearer " + PROVIDER_KEY);
      }
    }
    // BYOK off: the client's x-api-key is dropped and the deployment's key goes (no silent forward either).
    var off = VirtualKeyE2ETestSupport.send(plain.port(), "POST", "/v1/messages", null, body("claude-sonnet", false),
        "x-litellm-api-key", MASTER, "x-api-key", PROVIDER_KEY);
    assertThat(off.statusCode()).as(off.body()).isEqualTo(200);
    assertThat(last(fake).headers().get("Authorization")).isEqualTo("Bearer " + REPLICA_KEY);
    assertThat(headersOf(last(fake))).doesNotContain(PROVIDER_KEY);
  }

  @Test
  void byokFinding5_theClientProviderKeyIsInNoLogLineErrorOrSpendRow() throws Exception {
    String[] rid = {null};
    String logs = VirtualKeyE2ETestSupport.captureLogs(() -> {
      var ok = messages(body("byok", true), "x-litellm-api-key", userKey, "x-api-key", PROVIDER_KEY, "x-request-id",
          "ant-byok-5");
      assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
      rid[0] = "ant-byok-5";
      var refused = messages(body("nope", false), "x-litellm-api-key", userKey, "x-api-key", PROVIDER_KEY);
      assertThat(refused.statusCode()).isEqualTo(400);
      assertThat(refused.body()).doesNotContain(PROVIDER_KEY);
      var wrongKey = messages(body("byok", false), "x-litellm-api-key", "sk-wrong-one", "x-api-key", PROVIDER_KEY);
      assertThat(wrongKey.statusCode()).isEqualTo(401);
      assertThat(wrongKey.body()).doesNotContain(PROVIDER_KEY);
    });
    assertThat(logs).doesNotContain(PROVIDER_KEY);
    JsonNode row = spendRow(rid[0]);
    assertThat(row.toString()).doesNotContain(PROVIDER_KEY);
  }

  @Test
  void byokFinding6_xLitellmApiKeyIsNeverForwarded() throws Exception {
    for (boolean stream : new boolean[] {false, true}) {
      byokFake.clearRequests();
      var r = messages(body("byok", stream), "x-litellm-api-key", userKey, "x-api-key", PROVIDER_KEY);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      RecordedRequest up = last(byokFake);
      assertThat(up.headers().contains("x-litellm-api-key")).isFalse();
      assertThat(headersOf(up)).doesNotContain(userKey);
    }
  }

  // ---- errors in Anthropic's shape

  @Test
  void errorsSluiceMakesOnMessagesAreInAnthropicsShapeWithTheTypeOfTheirStatus() throws Exception {
    var noKey = messages(body("claude-sonnet", false));
    assertThat(noKey.statusCode()).isEqualTo(401);
    JsonNode e = JSON.readTree(noKey.body());
    assertThat(e.get("type").asText()).isEqualTo("error");
    assertThat(e.get("error").get("type").asText()).isEqualTo("authentication_error");
    assertThat(e.get("error").get("message").asText()).contains("x-api-key");

    var wrongKey = messages(body("claude-sonnet", false), "x-api-key", "sk-not-a-key");
    assertThat(JSON.readTree(wrongKey.body()).at("/error/type").asText()).isEqualTo("authentication_error");

    var badModel = messages(body("no-such-model", false), "x-api-key", userKey);
    assertThat(badModel.statusCode()).isEqualTo(400);
    assertThat(JSON.readTree(badModel.body()).at("/error/type").asText()).isEqualTo("invalid_request_error");
    assertThat(JSON.readTree(badModel.body()).at("/error/message").asText()).contains("no-such-model");

    String restricted = generate("{\"models\":[\"byok\"]}");
    var denied = messages(body("claude-sonnet", false), "x-api-key", restricted);
    assertThat(denied.statusCode()).isEqualTo(401);
    assertThat(JSON.readTree(denied.body()).at("/error/type").asText()).isEqualTo("authentication_error");

    String routeLimited = generate("{\"allowed_routes\":[\"openai_routes\"]}");
    var forbidden = messages(body("claude-sonnet", false), "x-api-key", routeLimited);
    assertThat(forbidden.statusCode()).isEqualTo(403);
    assertThat(JSON.readTree(forbidden.body()).at("/error/type").asText()).isEqualTo("permission_error");
    String anthropicOnly = generate("{\"allowed_routes\":[\"anthropic_routes\"]}");
    assertThat(messages(body("claude-sonnet", false), "x-api-key", anthropicOnly).statusCode()).isEqualTo(200);

    var notJson = messages("{\"model\":", "x-api-key", userKey);
    assertThat(notJson.statusCode()).isEqualTo(400);
    assertThat(JSON.readTree(notJson.body()).get("type").asText()).isEqualTo("error");

    // The OpenAI routes keep LiteLLM's shape.
    var chat = send("POST", "/v1/chat/completions", null, "{\"model\":\"claude-sonnet\",\"messages\":[]}");
    assertThat(chat.statusCode()).isEqualTo(401);
    assertThat(JSON.readTree(chat.body()).at("/error/type").asText()).isEqualTo("auth_error");
    assertThat(JSON.readTree(chat.body()).at("/error/code").asText()).isEqualTo("401");
  }

  @Test
  void limitsOnMessagesAnswer429InAnthropicsShape() throws Exception {
    String limited = generate("{\"rpm_limit\":1}");
    assertThat(messages(body("claude-sonnet", false), "x-api-key", limited).statusCode()).isEqualTo(200);
    var over = messages(body("claude-sonnet", false), "x-api-key", limited);
    assertThat(over.statusCode()).isEqualTo(429);
    assertThat(JSON.readTree(over.body()).at("/error/type").asText()).isEqualTo("rate_limit_error");
    assertThat(over.headers().firstValue("retry-after")).isPresent();
  }

  @Test
  void errorsTheReplicaMakesAreRelayedAsItSentThem() throws Exception {
    fake.faults().status(500);
    var r = messages(body("claude-sonnet", false), "x-api-key", userKey);
    assertThat(r.statusCode()).isEqualTo(500);
    assertThat(JSON.readTree(r.body()).at("/error/type").asText()).as("vLLM's own type")
        .isEqualTo("InternalServerError");
  }

  @Test
  void aReplicaLostMidStreamEndsTheStreamWithAnthropicsErrorEvent() throws Exception {
    fake.faults().resetAfterTokens(2);
    var r = messages(body("claude-sonnet", true), "x-api-key", userKey, "x-request-id", "ant-cut-1");
    assertThat(r.statusCode()).isEqualTo(200);
    List<String> ev = events(r.body());
    assertThat(ev.get(0)).startsWith("event: message_start\n");
    String lastEvent = ev.get(ev.size() - 1);
    assertThat(lastEvent).startsWith("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"");
    assertThat(r.body()).as("Anthropic's streams have no [DONE]; vLLM's error shape is not used here")
        .doesNotContain("[DONE]").doesNotContain("data: {\"error\"");
    JsonNode row = spendRow("ant-cut-1");
    assertThat(row.toString()).contains("\"tokens_estimated\":true");
    assertThat(row.get("prompt_tokens").asLong()).as("message_start said it").isEqualTo(5);
    assertThat(row.get("completion_tokens").asLong()).as("one per content delta that passed").isEqualTo(2);
  }

  // ---- usage and spend

  @Test
  void usageAndSpendComeFromAnthropicsUsageStreamedAndNot() throws Exception {
    for (boolean stream : new boolean[] {false, true}) {
      String rid = "ant-usage-" + stream;
      var r = messages(body("claude-sonnet", stream), "x-api-key", userKey, "x-request-id", rid);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      JsonNode row = spendRow(rid);
      // The fake counts words: "be brief" + "one two three" = 5 input tokens; 4 output tokens.
      assertThat(row.get("prompt_tokens").asLong()).as("input_tokens, stream=" + stream).isEqualTo(5);
      assertThat(row.get("completion_tokens").asLong()).as("output_tokens, stream=" + stream).isEqualTo(4);
      assertThat(row.toString()).contains("\"tokens_estimated\":false");
      assertThat(row.get("spend").asDouble()).isCloseTo(5 * IN_COST + 4 * OUT_COST, org.assertj.core.data.Offset
          .offset(1e-9));
      assertThat(row.get("model_group").asText()).isEqualTo("claude-sonnet");
    }
  }

  // ---- the official Anthropic TypeScript SDK (npm @anthropic-ai/sdk), unchanged, against Sluice

  /**
   * Runs {@code src/test/node/anthropic-sdk/client.mjs} with Node: installs the pinned SDK into
   * {@code target/anthropic-sdk} first (fails, saying how to install them, when Node or npm is missing).
   */
  static Map<String, JsonNode> runSdk(String key, String model) throws Exception {
    return VirtualKeyE2ETestSupport.runNodeClient("anthropic-sdk", "@anthropic-ai/sdk", Map.of(
        "SLUICE_URL", "http://127.0.0.1:" + sluice.port(), "SLUICE_KEY", key, "MODEL", model,
        "ANTHROPIC_API_KEY", "", "ANTHROPIC_AUTH_TOKEN", "", "ANTHROPIC_BASE_URL", ""));
  }

  @Test
  void theOfficialAnthropicSdkWorksUnchangedThroughSluice() throws Exception {
    Map<String, JsonNode> r = runSdk(userKey, "claude-sonnet");
    assertThat(r.get("create").toString()).as("messages.create").contains("\"text\":\"tok0 tok1 tok2 tok3 \"")
        .contains("\"stop_reason\":\"end_turn\"").contains("\"input_tokens\":5").contains("\"output_tokens\":4");
    assertThat(r.get("create-x-api-key").toString()).as("key in x-api-key").contains("tok0 tok1 tok2 tok3 ");
    JsonNode stream = r.get("stream");
    assertThat(stream.has("thrown")).as(stream.toString()).isFalse();
    assertThat(stream.get("text").asText()).isEqualTo("tok0 tok1 tok2 tok3 ");
    assertThat(stream.get("types").toString()).isEqualTo("[\"message_start\",\"content_block_start\","
        + "\"content_block_delta\",\"content_block_delta\",\"content_block_delta\",\"content_block_delta\","
        + "\"content_block_stop\",\"message_delta\",\"message_stop\"]");
    assertThat(stream.get("usage").get("output_tokens").asInt()).isEqualTo(4);
    assertThat(r.get("stream-helper").toString()).as("messages.stream().finalMessage()")
        .contains("tok0 tok1 tok2 tok3 ").contains("\"output_tokens\":4");
    assertThat(r.get("count").get("input_tokens").asInt()).as("messages.countTokens").isEqualTo(3);
    assertThat(r.get("tool-use").toString()).as("a tool-use turn and its answer").isEqualTo("{\"case\":\"tool-use\","
        + "\"stop_reason\":\"tool_use\",\"name\":\"get_weather\",\"input\":{\"city\":\"tok0\"},"
        + "\"answer\":\"tok0 tok1 tok2 tok3 \"}");
    assertThat(r.get("tool-use-stream").toString()).as("a streamed tool-use turn, accumulated by the SDK")
        .isEqualTo("{\"case\":\"tool-use-stream\",\"stop_reason\":\"tool_use\",\"name\":\"get_weather\","
            + "\"input\":{\"city\":\"tok0\"}}");
    JsonNode wrong = r.get("wrong-key");
    assertThat(wrong.get("thrown").asText()).as(wrong.toString()).isEqualTo("AuthenticationError");
    assertThat(wrong.get("status").asInt()).isEqualTo(401);
    assertThat(wrong.get("type").asText()).isEqualTo("authentication_error");
    JsonNode unknown = r.get("unknown-model");
    assertThat(unknown.get("thrown").asText()).as(unknown.toString()).isEqualTo("BadRequestError");
    assertThat(unknown.get("type").asText()).isEqualTo("invalid_request_error");
    assertThat(unknown.get("message").asText()).contains("Invalid model name passed in model=no-such-model");
  }
}
