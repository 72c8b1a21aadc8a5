package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.fake.RecordedRequest;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.config.Secret;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 15 §2: vLLM's other routes on the model-routed path — tokenize, detokenize, pooling, classify, score, the
 * three reranks — and {@code GET /v1/models/{id}}. Each is authenticated by a virtual key, routed by the body's
 * {@code model} (the key's model list applies), sent to the replica's path with the replica's own key and the
 * replica's model name spliced in, and metered from the answer's {@code usage} into a spend row.
 */
class VllmRoutesTest {
  static final String MASTER = "sk-master-VR-SECRET";
  static final String REPLICA_KEY = "replica-VR-SECRET";
  static final String SERVED = "BAAI/bge-reranker-v2-m3";
  static final double IN_COST = 0.001;
  static final ObjectMapper JSON = new ObjectMapper();

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static SluiceServer sluice;
  static String key;

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(3)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    sluice = Gateway.builder(MASTER)
        .model(new DeploymentConfig("reranker", Provider.HOSTED_VLLM, SERVED,
            URI.create("http://127.0.0.1:" + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
            "fake-r", null, IN_COST, 0.0))
        .model(Gateway.vllm("hosted_vllm/other", SERVED, fake, REPLICA_KEY, "fake-o"))
        .database(db.litellmUrl())
        .start();
    key = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER, "{\"models\":[\"reranker\"],\"key_alias\":\"vr\"}");
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

  static HttpResponse<String> send(String method, String path, String k, String body) throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), method, path, k, body);
  }

  @ParameterizedTest(name = "{0} → {1}")
  @CsvSource(delimiter = ';', value = {
      // client path; path the replica gets; body after the model; prompt tokens of the spend row (-1: no row check)
      "/tokenize;       /tokenize;      \"prompt\":\"a b c\";                                        0",
      "/detokenize;     /detokenize;    \"tokens\":[1000,1001];                                      0",
      "/pooling;        /pooling;       \"input\":\"a b c d\";                                       4",
      "/classify;       /classify;      \"input\":[\"a b\"];                                         2",
      "/score;          /v1/score;      \"text_1\":\"q\",\"text_2\":[\"a\",\"b\"];                   17",
      "/v1/score;       /v1/score;      \"text_1\":\"q\",\"text_2\":[\"a\"];                         9",
      "/rerank;         /v1/rerank;     \"query\":\"q w\",\"documents\":[\"a b\",\"c\"];             5",
      "/v1/rerank;      /v1/rerank;     \"query\":\"q\",\"documents\":[\"a\"];                       2",
      "/v2/rerank;      /v2/rerank;     \"query\":\"q\",\"documents\":[\"a\",\"b c\"],\"top_n\":1;    4",
  })
  void eachRouteIsModelRoutedWithTheReplicasKeyAndNameAndMetered(String path, String upstream, String rest,
      long promptTokens) throws Exception {
    fake.clearRequests();
    String id = "vr-" + path.replace('/', '-');
    var r = VirtualKeyE2ETestSupport.send(sluice.port(), "POST", path, key,
        "{\"model\":\"reranker\"," + rest + "}", "x-request-id", id);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    List<RecordedRequest> got = fake.requests();
    assertThat(got).hasSize(1);
    RecordedRequest q = got.get(0);
    assertThat(q.uri()).isEqualTo(upstream);
    assertThat(q.headers().get("authorization")).isEqualTo("Bearer " + REPLICA_KEY);
    assertThat(JSON.readTree(q.body()).get("model").asText()).as("the replica's own model name").isEqualTo(SERVED);
    assertThat(q.body()).contains(rest);
    JsonNode row = VirtualKeyE2ETestSupport.spendRow(sluice.port(), MASTER, id);
    assertThat(row.get("model_group").asText()).isEqualTo("reranker");
    assertThat(row.get("prompt_tokens").asLong()).as(row.toString()).isEqualTo(promptTokens);
    assertThat(row.get("completion_tokens").asLong()).isZero();
    assertThat(row.get("spend").asDouble()).isCloseTo(promptTokens * IN_COST, org.assertj.core.data.Offset.offset(1e-12));
  }

  @Test
  void aKeyLimitedToOneModelCannotReachAnotherThroughTheseRoutes() throws Exception {
    fake.clearRequests();
    var r = send("POST", "/tokenize", key, "{\"model\":\"hosted_vllm/other\",\"prompt\":\"x\"}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(401);
    assertThat(JSON.readTree(r.body()).path("error").path("param").asText()).isEqualTo("model");
    var none = send("POST", "/v2/rerank", key, "{\"query\":\"q\",\"documents\":[\"a\"]}");
    assertThat(none.statusCode()).isEqualTo(400);
    assertThat(none.body()).contains("No \\\"model\\\" in the request body");
    var get = send("GET", "/pooling", key, null);
    assertThat(get.statusCode()).isEqualTo(405);
    assertThat(fake.requests()).isEmpty();
    assertThat(send("POST", "/tokenize", "sk-wrong-VR-SECRET", "{\"model\":\"reranker\"}").statusCode())
        .isEqualTo(401);
  }

  @Test
  void modelsRetrieveAnswersForModelsTheKeyMaySeeAnd404ForTheRest() throws Exception {
    var ok = send("GET", "/v1/models/reranker", key, null);
    assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
    JsonNode m = JSON.readTree(ok.body());
    assertThat(m.get("id").asText()).isEqualTo("reranker");
    assertThat(m.get("object").asText()).isEqualTo("model");
    assertThat(send("GET", "/models/reranker", key, null).statusCode()).isEqualTo(200);
    var slash = send("GET", "/v1/models/hosted_vllm%2Fother", MASTER, null);
    assertThat(slash.statusCode()).as(slash.body()).isEqualTo(200);
    assertThat(JSON.readTree(slash.body()).get("id").asText()).isEqualTo("hosted_vllm/other");
    var hidden = send("GET", "/v1/models/hosted_vllm/other", key, null);
    assertThat(hidden.statusCode()).isEqualTo(404);
    JsonNode e = JSON.readTree(hidden.body()).get("error");
    assertThat(e.get("param").asText()).isEqualTo("model");
    assertThat(e.get("message").asText()).contains("does not exist");
    var missing = send("GET", "/v1/models/nope", MASTER, null);
    assertThat(missing.statusCode()).isEqualTo(404);
    assertThat(send("GET", "/v1/models/reranker", null, null).statusCode()).isEqualTo(401);
  }

  @Test
  void theOfficialOpenAiSdkRetrievesModelsAndTranscribesThroughSluice() throws Exception {
    Map<String, JsonNode> r = VirtualKeyE2ETestSupport.runNodeClient("openai-sdk", "openai", Map.of(
        "SLUICE_URL", "http://127.0.0.1:" + sluice.port(), "SLUICE_KEY", key, "SLUICE_MASTER", MASTER,
        "MODEL", "reranker", "SLASHED_MODEL", "hosted_vllm/other"));
    assertThat(r.get("retrieve").path("result").path("id").asText()).as(r.toString()).isEqualTo("reranker");
    assertThat(r.get("retrieveSlashed").path("result").path("id").asText()).as(r.toString())
        .isEqualTo("hosted_vllm/other");
    assertThat(r.get("retrieveHidden").path("status").asInt()).isEqualTo(404);
    assertThat(r.get("retrieveHidden").path("type").asText()).isEqualTo("NotFoundError");
    assertThat(r.get("retrieveMissing").path("status").asInt()).isEqualTo(404);
    assertThat(r.get("retrieveMissing").path("message").asText()).contains("does not exist");
    assertThat(r.get("list").path("result").toString()).isEqualTo("[\"reranker\"]");
    JsonNode t = r.get("transcribe");
    assertThat(t.path("ok").asBoolean()).as(t.toString()).isTrue();
    assertThat(t.path("result").path("text").asText()).as("the SDK's multipart upload, routed by its model field")
        .startsWith("audio " + t.path("result").path("size").asInt() + " bytes crc ");
  }

  // ---- audio: multipart/form-data, routed by its model field ---------------------------------------------------

  static final String BOUNDARY = "----sluiceTestBoundary0x51CE";

  /** A multipart body: the fields in order, the file (raw bytes) after {@code fileAfter} of them. */
  static byte[] multipart(byte[] file, int fileAfter, String... fields) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (int i = 0; i <= fields.length; i += 2) {
      if (i / 2 == fileAfter) {
        out.writeBytes(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            + "Content-Type: audio/wav\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.writeBytes(file);
        out.writeBytes("\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      }
      if (i < fields.length) {
        out.writeBytes(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"" + fields[i] + "\"\r\n\r\n"
            + fields[i + 1] + "\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
      }
    }
    out.writeBytes(("--" + BOUNDARY + "--\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    return out.toByteArray();
  }

  static HttpResponse<String> postMultipart(String path, String k, byte[] body, String id) throws Exception {
    java.net.http.HttpRequest req = java.net.http.HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + sluice.port() + path))
        .timeout(Duration.ofSeconds(20))
        .header("Authorization", "Bearer " + k)
        .header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
        .header("x-request-id", id)
        .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(body)).build();
    return java.net.http.HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString());
  }

  static String crc(byte[] b) {
    java.util.zip.CRC32 c = new java.util.zip.CRC32();
    c.update(b);
    return Long.toHexString(c.getValue());
  }

  @Test
  void anAudioUploadIsRoutedByItsModelFieldRewrittenInPlaceAndTheFileArrivesIntact() throws Exception {
    byte[] audio = new byte[300_000]; // several reads; random bytes hold CR, LF and dashes
    new java.util.Random(15).nextBytes(audio);
    for (String path : new String[] {"/v1/audio/transcriptions", "/v1/audio/translations"}) {
      for (int fileAfter : new int[] {0, 1}) { // the model field before and after the file
        fake.clearRequests();
        String id = "vr-audio-" + path.length() + "-" + fileAfter;
        var r = postMultipart(path, key, multipart(audio, fileAfter, "model", "reranker", "language", "en"), id);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).get("text").asText())
            .isEqualTo("audio " + audio.length + " bytes crc " + crc(audio));
        RecordedRequest q = fake.requests().get(0);
        assertThat(q.uri()).isEqualTo(path);
        assertThat(q.headers().get("authorization")).isEqualTo("Bearer " + REPLICA_KEY);
        assertThat(q.headers().get("content-type")).contains(BOUNDARY);
        JsonNode row = VirtualKeyE2ETestSupport.spendRow(sluice.port(), MASTER, id);
        assertThat(row.get("prompt_tokens").asLong()).as("nothing estimated from the audio's bytes").isZero();
      }
    }
  }

  @Test
  void aStreamingTranscriptionIsRelayedAsSseAndMeteredFromItsUsageChunk() throws Exception {
    byte[] audio = "RIFF....WAVEfmt \r\n--x".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    var r = postMultipart("/v1/audio/transcriptions", key, multipart(audio, 0, "model", "reranker", "stream",
        "true", "stream_include_usage", "true"), "vr-audio-stream");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
    assertThat(r.body()).contains("\"object\":\"transcription.chunk\"").endsWith("data: [DONE]\n\n");
    JsonNode row = VirtualKeyE2ETestSupport.spendRow(sluice.port(), MASTER, "vr-audio-stream");
    assertThat(row.get("prompt_tokens").asLong()).isEqualTo(10);
    assertThat(row.get("completion_tokens").asLong()).isEqualTo(5);
  }

  @Test
  void aBadAudioRequestGetsA400SayingWhatIsWrongAndReachesNoReplica() throws Exception {
    fake.clearRequests();
    byte[] audio = {1, 2, 3};
    var noModel = postMultipart("/v1/audio/transcriptions", key, multipart(audio, 0, "language", "en"), "vr-a1");
    assertThat(noModel.statusCode()).isEqualTo(400);
    assertThat(noModel.body()).contains("No \\\"model\\\" field in the multipart/form-data body");
    var twice = postMultipart("/v1/audio/transcriptions", key, multipart(audio, 0, "model", "reranker", "model",
        "hosted_vllm/other"), "vr-a2");
    assertThat(twice.statusCode()).isEqualTo(400);
    assertThat(twice.body()).contains("two \\\"model\\\" fields");
    var denied = postMultipart("/v1/audio/transcriptions", key, multipart(audio, 0, "model", "hosted_vllm/other"),
        "vr-a3");
    assertThat(denied.statusCode()).isEqualTo(401);
    var json = send("POST", "/v1/audio/transcriptions", key, "{\"model\":\"reranker\"}");
    assertThat(json.statusCode()).isEqualTo(400);
    assertThat(json.body()).contains("takes multipart/form-data");
    assertThat(fake.requests()).isEmpty();
  }
}
