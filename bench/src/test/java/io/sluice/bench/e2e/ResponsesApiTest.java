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
import io.sluice.routing.ResponseIds;
import io.sluice.server.AdminPlane;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 15 §2, the stateful Responses API: vLLM keeps a stored response on the replica that made it, so Sluice gives
 * each response an id that names that replica ({@link ResponseIds}) and sends {@code GET/DELETE /v1/responses/{id}},
 * {@code …/cancel} and any {@code previous_response_id} there — from every node, with nothing shared between nodes.
 * Two replicas of one model group behind two Sluice nodes of the same config: random routing would send about half
 * of the follow-ups to the replica that does not hold the conversation (the fake answers those 404, as vLLM).
 */
class ResponsesApiTest {
  static final String MASTER = "sk-master-RS-SECRET";
  static final String SERVED = "Qwen/Qwen3-0.6B";
  static final ObjectMapper JSON = new ObjectMapper();

  static TestDatabases.TestDatabase db;
  static FakeVllm a;
  static FakeVllm b;
  static FakeVllm other;
  static FakeVllm doomed;
  static SluiceServer nodeA;
  static SluiceServer nodeB;
  static String key;
  static String otherKey;

  static DeploymentConfig deployment(String group, FakeVllm f, String id) {
    return new DeploymentConfig(group, Provider.HOSTED_VLLM, SERVED, URI.create("http://127.0.0.1:" + f.port() + "/v1"),
        null, null, null, null, null, id, null, 0.001, 0.002);
  }

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    a = fake();
    b = fake();
    other = fake();
    doomed = fake();
    List<DeploymentConfig> models = List.of(deployment("chat", a, "resp-a"), deployment("chat", b, "resp-b"),
        deployment("other", other, "resp-other"), deployment("doomed", doomed, "resp-doomed"));
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults());
    AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER)), Map.of(), KeyCache.NONE);
    nodeA = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane));
    // A second node of the same config, sharing nothing with the first (no database: the master key only).
    nodeB = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true));
    key = VirtualKeyE2ETestSupport.generateKey(nodeA.port(), MASTER, "{\"models\":[\"chat\",\"doomed\"]}");
    otherKey = VirtualKeyE2ETestSupport.generateKey(nodeA.port(), MASTER, "{\"models\":[\"other\"]}");
  }

  static FakeVllm fake() throws Exception {
    return FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(3).ttft(Duration.ofMillis(300))
        .interTokenDelay(Duration.ZERO).start();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {nodeB, nodeA, a, b, other, doomed, db}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // closing anyway
      }
    }
  }

  static HttpResponse<String> send(SluiceServer node, String method, String path, String k, String body,
      String... headers) throws Exception {
    return VirtualKeyE2ETestSupport.send(node.port(), method, path, k, body, headers);
  }

  /** The fake holding {@code id}, checked to be the replica its tag names. */
  static FakeVllm holder(String id) {
    FakeVllm h = a.holdsResponse(id) ? a : b.holdsResponse(id) ? b : null;
    assertThat(h).as("a replica holds %s", id).isNotNull();
    assertThat(ResponseIds.tagOf(id)).isEqualTo(ResponseIds.tag(h == a ? "resp-a" : "resp-b"));
    return h;
  }

  @Test
  void conversationsStayOnTheReplicaThatHoldsThemFromEitherNode() throws Exception {
    int onA = 0;
    for (int c = 0; c < 8; c++) {
      SluiceServer first = c % 2 == 0 ? nodeA : nodeB;
      SluiceServer second = first == nodeA ? nodeB : nodeA;
      String k = first == nodeA ? key : MASTER;
      var r1 = send(first, "POST", "/v1/responses", k, "{\"model\":\"chat\",\"input\":\"one two three\"}");
      assertThat(r1.statusCode()).as(r1.body()).isEqualTo(200);
      JsonNode j1 = JSON.readTree(r1.body());
      String id1 = j1.get("id").asText();
      assertThat(id1).matches("resp_[0-9a-f]{12}_[0-9a-f]{32}");
      FakeVllm h = holder(id1);
      onA += h == a ? 1 : 0;
      // The follow-up arrives at the other node: it must reach the same replica, or that replica's store is missed.
      var r2 = send(second, "POST", "/responses", MASTER, "{\"model\":\"chat\",\"input\":\"four five\","
          + "\"previous_response_id\":\"" + id1 + "\"}");
      assertThat(r2.statusCode()).as(r2.body()).isEqualTo(200);
      JsonNode j2 = JSON.readTree(r2.body());
      assertThat(j2.get("previous_response_id").asText()).isEqualTo(id1);
      assertThat(holder(j2.get("id").asText())).isSameAs(h);
      assertThat(j2.at("/usage/input_tokens").asInt()).as("the replica had the conversation")
          .isEqualTo(j1.at("/usage/total_tokens").asInt() + 2);
      for (SluiceServer node : List.of(nodeA, nodeB)) {
        var got = send(node, "GET", "/v1/responses/" + j2.get("id").asText(), MASTER, null);
        assertThat(got.statusCode()).as(got.body()).isEqualTo(200);
        assertThat(JSON.readTree(got.body()).get("id").asText()).isEqualTo(j2.get("id").asText());
      }
    }
    assertThat(onA).as("new conversations still spread over both replicas").isBetween(1, 7);
  }

  @Test
  void theReplicaGetsItsOwnModelNameAndSluicesRequestIdWhichReplacesTheClients() throws Exception {
    a.clearRequests();
    b.clearRequests();
    var r = send(nodeB, "POST", "/v1/responses", MASTER, "{\"model\":\"chat\",\"request_id\":\"mine\",\"input\":\"x\"}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    String id = JSON.readTree(r.body()).get("id").asText();
    assertThat(id).isNotEqualTo("mine");
    FakeVllm h = holder(id);
    RecordedRequest q = h.requests().get(0);
    assertThat(q.body()).as("inserted last, so it wins over the client's (Python's json keeps the last)")
        .startsWith("{\"model\":\"" + SERVED + "\",\"request_id\":\"mine\",\"input\":\"x\"")
        .endsWith(",\"request_id\":\"" + id + "\"}");
    assertThat(JSON.readTree(q.body()).get("request_id").asText()).isEqualTo(id);
  }

  @Test
  void streamedResponsesAreTaggedRelayedAndMetered() throws Exception {
    var r = send(nodeA, "POST", "/v1/responses", key, "{\"model\":\"chat\",\"input\":\"a b c d\",\"stream\":true}",
        "x-request-id", "rs-stream-1");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
    List<String> types = new ArrayList<>();
    JsonNode completed = null;
    for (String ev : r.body().split("\n\n")) {
      if (ev.isBlank()) {
        continue;
      }
      String[] lines = ev.split("\n");
      assertThat(lines[0]).startsWith("event: ");
      types.add(lines[0].substring(7));
      JsonNode data = JSON.readTree(lines[1].substring(6));
      if (lines[0].equals("event: response.completed")) {
        completed = data.get("response");
      }
    }
    assertThat(types).startsWith("response.created", "response.in_progress").endsWith("response.completed")
        .contains("response.output_text.delta");
    assertThat(completed).isNotNull();
    holder(completed.get("id").asText());
    JsonNode row = VirtualKeyE2ETestSupport.spendRow(nodeA.port(), MASTER, "rs-stream-1");
    assertThat(row.get("model_group").asText()).isEqualTo("chat");
    assertThat(row.get("prompt_tokens").asLong()).isEqualTo(completed.at("/usage/input_tokens").asLong());
    assertThat(row.get("completion_tokens").asLong()).isEqualTo(3);
  }

  @Test
  void backgroundResponsesAreCancelledOnTheirReplicaAndDeleteGetsTheReplicasAnswer() throws Exception {
    var r = send(nodeA, "POST", "/v1/responses", key,
        "{\"model\":\"chat\",\"input\":\"later\",\"background\":true,\"store\":true}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode j = JSON.readTree(r.body());
    assertThat(j.get("status").asText()).isEqualTo("queued");
    String id = j.get("id").asText();
    FakeVllm h = holder(id);
    FakeVllm notH = h == a ? b : a;
    notH.clearRequests();
    var cancel = send(nodeB, "POST", "/v1/responses/" + id + "/cancel", MASTER, null);
    assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
    assertThat(JSON.readTree(cancel.body()).get("status").asText()).isEqualTo("cancelled");
    var again = send(nodeA, "POST", "/v1/responses/" + id + "/cancel", key, "{}");
    assertThat(again.statusCode()).as("the replica's own answer, relayed").isEqualTo(400);
    assertThat(again.body()).contains("Cannot cancel a synchronous response.");
    var delete = send(nodeB, "DELETE", "/v1/responses/" + id, MASTER, null);
    assertThat(delete.statusCode()).as("vLLM has no DELETE route: its 405, relayed").isEqualTo(405);
    assertThat(h.requests().stream().map(q -> q.method() + " " + q.uri()).toList())
        .contains("POST /v1/responses/" + id + "/cancel", "DELETE /v1/responses/" + id);
    assertThat(notH.requests()).as("the other replica is never asked").isEmpty();
    var get = send(nodeB, "GET", "/v1/responses/" + id + "?include[]=x", MASTER, null);
    assertThat(get.statusCode()).isEqualTo(200);
    assertThat(h.requests().get(h.requests().size() - 1).uri()).as("the query goes along")
        .isEqualTo("/v1/responses/" + id + "?include[]=x");
    var post = send(nodeB, "POST", "/v1/responses/" + id, MASTER, "{}");
    assertThat(post.statusCode()).isEqualTo(405);
    assertThat(post.body()).contains("use GET (or DELETE) /v1/responses/{id}");
  }

  @Test
  void idsSluiceCannotPlaceGetAClearErrorAndReachNoReplica() throws Exception {
    a.clearRequests();
    b.clearRequests();
    var foreign = send(nodeA, "GET", "/v1/responses/resp_0123456789abcdef", key, null);
    assertThat(foreign.statusCode()).isEqualTo(404);
    JsonNode e = JSON.readTree(foreign.body()).get("error");
    assertThat(e.get("param").asText()).isEqualTo("response_id");
    assertThat(e.get("message").asText()).contains("was not made through this proxy");
    String removed = ResponseIds.newId(ResponseIds.tag("a-replica-removed-since"));
    var gone = send(nodeB, "GET", "/v1/responses/" + removed, MASTER, null);
    assertThat(gone.statusCode()).isEqualTo(404);
    assertThat(gone.body()).contains("no longer in this proxy's model list");
    var prev = send(nodeA, "POST", "/v1/responses", key, "{\"model\":\"chat\",\"input\":\"x\",\"previous_response_id\":\""
        + removed + "\"}");
    assertThat(prev.statusCode()).isEqualTo(404);
    assertThat(JSON.readTree(prev.body()).at("/error/param").asText()).isEqualTo("previous_response_id");
    assertThat(a.requests()).isEmpty();
    assertThat(b.requests()).isEmpty();
  }

  @Test
  void aStoredResponseIsReachableOnlyWithAccessToItsModelGroupAndOnlyWithinIt() throws Exception {
    var r = send(nodeA, "POST", "/v1/responses", key, "{\"model\":\"chat\",\"input\":\"mine\"}");
    String id = JSON.readTree(r.body()).get("id").asText();
    var denied = send(nodeA, "GET", "/v1/responses/" + id, otherKey, null);
    assertThat(denied.statusCode()).as(denied.body()).isEqualTo(401);
    assertThat(JSON.readTree(denied.body()).at("/error/param").asText()).isEqualTo("model");
    var elsewhere = send(nodeA, "POST", "/v1/responses", otherKey, "{\"model\":\"other\",\"input\":\"x\","
        + "\"previous_response_id\":\"" + id + "\"}");
    assertThat(elsewhere.statusCode()).as(elsewhere.body()).isEqualTo(401);
    var mismatch = send(nodeB, "POST", "/v1/responses", MASTER, "{\"model\":\"other\",\"input\":\"x\","
        + "\"previous_response_id\":\"" + id + "\"}");
    assertThat(mismatch.statusCode()).isEqualTo(400);
    assertThat(mismatch.body()).contains("was made by model group chat");
  }

  @Test
  void whenTheHoldingReplicaIsDownTheRequestFailsWithoutTryingAnother() throws Exception {
    var r = send(nodeA, "POST", "/v1/responses", key, "{\"model\":\"doomed\",\"input\":\"x\"}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    String id = JSON.readTree(r.body()).get("id").asText();
    assertThat(doomed.holdsResponse(id)).isTrue();
    doomed.close();
    a.clearRequests();
    b.clearRequests();
    var got = send(nodeB, "GET", "/v1/responses/" + id, MASTER, null);
    assertThat(got.statusCode()).as(got.body()).isEqualTo(502);
    assertThat(got.body()).contains("resp-doomed");
    var next = send(nodeA, "POST", "/v1/responses", key, "{\"model\":\"doomed\",\"input\":\"y\",\"previous_response_id\":\""
        + id + "\"}");
    assertThat(next.statusCode()).as(next.body()).isIn(502, 503);
    assertThat(a.requests()).isEmpty();
    assertThat(b.requests()).isEmpty();
  }

  @Test
  void theOpenAiSdkKeepsConversationsAcrossTwoReplicasAndTwoNodes() throws Exception {
    // Node B has no database: the SDK uses the master key on both (the key decides nothing about placement).
    Map<String, JsonNode> r = VirtualKeyE2ETestSupport.runNodeClient("openai-responses", "openai", Map.of(
        "SLUICE_A", "http://127.0.0.1:" + nodeA.port(), "SLUICE_B", "http://127.0.0.1:" + nodeB.port(),
        "SLUICE_KEY", MASTER, "MODEL", "chat"));
    for (int c = 0; c < 6; c++) {
      JsonNode conv = r.get("conversation" + c);
      assertThat(conv.path("ok").asBoolean()).as(String.valueOf(conv)).isTrue();
      JsonNode turns = conv.at("/result/turns");
      FakeVllm h = holder(turns.get(0).get("id").asText());
      int before = 0;
      for (JsonNode t : turns) {
        assertThat(holder(t.get("id").asText())).isSameAs(h);
        assertThat(t.get("inputTokens").asInt()).as("each turn sees the whole conversation").isGreaterThan(before);
        before = t.get("inputTokens").asInt() + t.get("outputTokens").asInt();
      }
      assertThat(conv.at("/result/readBack").toString()).isEqualTo("[\"" + turns.get(2).get("id").asText() + "\",\""
          + turns.get(2).get("id").asText() + "\"]");
    }
    JsonNode stream = r.get("stream");
    assertThat(stream.path("ok").asBoolean()).as(String.valueOf(stream)).isTrue();
    assertThat(stream.at("/result/types").toString()).contains("response.output_text.delta", "response.completed");
    assertThat(holder(stream.at("/result/next").asText())).isSameAs(holder(stream.at("/result/id").asText()));
    JsonNode foreign = r.get("retrieveForeign");
    assertThat(foreign.path("status").asInt()).isEqualTo(404);
    assertThat(foreign.path("type").asText()).isEqualTo("NotFoundError");
    assertThat(foreign.path("message").asText()).contains("was not made through this proxy");
  }
}
