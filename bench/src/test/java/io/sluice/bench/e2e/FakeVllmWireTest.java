package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.bench.fake.FakeVllm;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The fake speaks vLLM's wire format (shared/reference/vllm-wire.md), or every relay test would prove little. */
class FakeVllmWireTest {
  static final String KEY = "replica-key";
  static FakeVllm fake;

  @BeforeAll
  static void start() throws InterruptedException {
    fake = FakeVllm.builder().servedModel("m").apiKey(KEY).tokens(3).created(1718000000L).start();
  }

  @AfterAll
  static void stop() {
    fake.close();
  }

  @BeforeEach
  void reset() {
    fake.faults().reset();
  }

  private RawHttp.Response post(String path, String body, String... headers) throws IOException {
    try (RawHttp c = new RawHttp(fake.port())) {
      return c.exchange("POST", path, body, headers);
    }
  }

  private static final String AUTH = "Authorization: Bearer " + KEY;

  @Test
  void sseFramingRoleTokensFinishDoneAndChunkedEncoding() throws IOException {
    RawHttp.Response r = post("/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}", AUTH,
        "X-Request-Id: abc");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.chunked()).isTrue();
    assertThat(r.headers()).containsEntry("content-type", "text/event-stream; charset=utf-8")
        .doesNotContainKey("content-length");
    assertThat(r.bodyText()).doesNotContain("\r");
    List<String> ev = r.events();
    assertThat(ev).containsExactly(
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
            + "\"finish_reason\":null}]}",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok0 \"},\"logprobs\":null,\"finish_reason\":null}]}",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok1 \"},\"logprobs\":null,\"finish_reason\":null}]}",
        "data: {\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok2 \"},\"logprobs\":null,\"finish_reason\":\"stop\","
            + "\"stop_reason\":null}]}",
        "data: [DONE]");
  }

  @Test
  void usageChunkOnlyWhenStreamOptionsAsk() throws IOException {
    String on = post("/v1/chat/completions", "{\"stream\":true,\"stream_options\":{},\"messages\":[{\"role\":\"user\","
        + "\"content\":\"a b c d\"}]}", AUTH).bodyText();
    assertThat(on).contains("\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"total_tokens\":7,\"completion_tokens\":3}}");
    String off = post("/v1/chat/completions", "{\"stream\":true,\"stream_options\":{\"include_usage\":false},"
        + "\"messages\":[]}", AUTH).bodyText();
    assertThat(off).doesNotContain("usage");
    assertThat(post("/v1/chat/completions", "{\"stream\":true,\"messages\":[]}", AUTH).bodyText())
        .doesNotContain("usage");
    assertThat(post("/v1/chat/completions", "{\"stream_options\":{},\"messages\":[]}", AUTH).status())
        .as("stream_options without stream is a 400 in vLLM").isEqualTo(400);
  }

  @Test
  void jsonResponseKeepsVllmsNullFields() throws IOException {
    RawHttp.Response r = post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", AUTH);
    assertThat(r.headers()).containsEntry("content-type", "application/json").containsKey("content-length");
    assertThat(r.bodyText()).contains("\"object\":\"chat.completion\"").contains("\"reasoning_content\":null")
        .contains("\"tool_calls\":[]").contains("\"stop_reason\":null").contains("\"prompt_tokens_details\":null")
        .contains("\"prompt_logprobs\":null").contains("\"kv_transfer_params\":null")
        .contains("\"usage\":{\"prompt_tokens\":1,\"total_tokens\":4,\"completion_tokens\":3");
  }

  @Test
  void apiKeyGuardsOnlyV1PathsAndOnlyAsBearer() throws IOException {
    RawHttp.Response none = post("/v1/chat/completions", "{}");
    assertThat(none.status()).isEqualTo(401);
    assertThat(none.bodyText()).isEqualTo("{\"error\":\"Unauthorized\"}");
    assertThat(post("/v1/chat/completions", "{}", "x-api-key: " + KEY).status())
        .as("vLLM ignores x-api-key").isEqualTo(401);
    assertThat(post("/v1/chat/completions", "{\"messages\":[]}", "authorization: bearer " + KEY).status())
        .as("scheme case-insensitive").isEqualTo(200);
    try (RawHttp c = new RawHttp(fake.port())) {
      assertThat(c.exchange("GET", "/health", null).status()).isEqualTo(200);
      assertThat(c.exchange("GET", "/metrics", null).bodyText()).contains("vllm:num_requests_running{")
          .contains("vllm:num_requests_waiting{").contains("vllm:kv_cache_usage_perc{")
          .contains("# TYPE vllm:generation_tokens_total counter");
    }
  }

  @Test
  void errorShapesAreVllms() throws IOException {
    RawHttp.Response unknown = post("/v1/chat/completions", "{\"model\":\"other\"}", AUTH);
    assertThat(unknown.status()).isEqualTo(404);
    assertThat(unknown.bodyText()).isEqualTo("{\"error\":{\"message\":\"The model `other` does not exist.\","
        + "\"type\":\"NotFoundError\",\"param\":\"model\",\"code\":404}}");
    fake.faults().status(503);
    RawHttp.Response down = post("/v1/chat/completions", "{}", AUTH);
    assertThat(down.status()).isEqualTo(503);
    assertThat(down.bodyText()).contains("\"type\":\"ServiceUnavailableError\"").contains("\"code\":503}");
    fake.faults().reset().errorAfterTokens(1);
    List<String> ev = post("/v1/chat/completions", "{\"stream\":true}", AUTH).events();
    assertThat(ev.get(ev.size() - 2)).startsWith("data: {\"error\":{").contains("\"code\":500");
    assertThat(ev.get(ev.size() - 1)).isEqualTo("data: [DONE]");
  }

  @Test
  void closingMidStreamAbortsTheGeneration() throws Exception {
    fake.faults().interTokenDelay(Duration.ofMillis(20)).tokens(1000);
    long before = fake.streamsAborted();
    RawHttp c = new RawHttp(fake.port());
    c.send("POST", "/v1/chat/completions", "{\"stream\":true}", AUTH);
    c.readHead(new int[1]);
    c.close();
    assertThat(fake.awaitAborted((int) before + 1, Duration.ofSeconds(5))).isTrue();
  }

  /**
   * close() ends open streams with a FIN, as a dying vLLM's kernel would: the relay's mid-stream error path depends
   * on it (seen: under CPU load, a loop shutdown alone left the accepted socket open, and a "dead" replica's stream
   * never ended).
   */
  @Test
  void closeEndsOpenStreamsAsADyingReplicaWould() throws Exception {
    FakeVllm a = FakeVllm.builder().host("127.0.0.1").servedModel("m").tokens(200)
        .interTokenDelay(java.time.Duration.ofMillis(20)).start();
    try (RawHttp h = new RawHttp(a.port())) {
      h.socket.setSoTimeout(10_000);
      h.send("POST", "/v1/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}");
      int[] st = new int[1];
      h.readHead(st);
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (a.tokensWritten() < 5 && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      a.close();
      byte[] buf = new byte[4096];
      while (h.in().read(buf) != -1) {
        // drain what was sent before the close; -1 (EOF) ends the loop, a timeout fails the test
      }
    }
  }
}
