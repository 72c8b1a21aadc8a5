package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.config.ServerSettings;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 14 §6: responses carry the model name the client sent, as LiteLLM's proxy answers (its PR #19943), not the
 * replica's — in a JSON answer (whose Content-Length becomes chunked framing, since the length changes), in every
 * SSE chunk of a stream (re-framed chunk by chunk on the raw relay path), in Anthropic's {@code message_start} and
 * in a wildcard group's answers; {@code sluice_settings.response_model_name: served} keeps the replica's.
 */
class ResponseModelTest {
  static final String MASTER = "sk-master-RM-SECRET";
  static final String SERVED = "meta-llama/Meta-Llama-3-8B-Instruct";
  static final ObjectMapper JSON = new ObjectMapper();

  static FakeVllm fake;
  static SluiceServer sluice;
  static SluiceServer served;

  @BeforeAll
  static void start() throws Exception {
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(5).ttft(Duration.ZERO)
        .interTokenDelay(Duration.ZERO).start();
    URI base = URI.create("http://127.0.0.1:" + fake.port() + "/v1");
    List<DeploymentConfig> models = List.of(
        new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED, base, null, null, null, null, null, "rm-a"),
        new DeploymentConfig(SERVED, Provider.HOSTED_VLLM, SERVED, base, null, null, null, null, null, "rm-same"),
        new DeploymentConfig("meta-llama/*", Provider.HOSTED_VLLM, "meta-llama/*", base, null, null, null, null, null,
            "rm-wild"));
    sluice = Gateway.builder(MASTER).models(models).start();
    served = Gateway.builder(MASTER).models(models).server(ServerSettings.defaults().withServedModelName(true)).start();
  }

  @AfterAll
  static void stop() {
    for (AutoCloseable c : new AutoCloseable[] {served, sluice, fake}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // closing anyway
      }
    }
  }

  static HttpResponse<String> post(SluiceServer s, String path, String body) throws Exception {
    var r = VirtualKeyE2ETestSupport.send(s.port(), "POST", path, MASTER, body, "anthropic-version", "2023-06-01");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return r;
  }

  static List<JsonNode> events(String body) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String ev : body.split("\n\n")) {
      for (String line : ev.split("\n")) {
        if (line.startsWith("data: {")) {
          out.add(JSON.readTree(line.substring(6)));
        }
      }
    }
    return out;
  }

  @Test
  void aJsonAnswerCarriesTheClientsNameWithItsNewContentLength() throws Exception {
    var r = post(sluice, "/v1/chat/completions", "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    JsonNode j = JSON.readTree(r.body());
    assertThat(j.get("model").asText()).isEqualTo("llama");
    assertThat(j.at("/choices/0/message/content").asText()).startsWith("tok0");
    // The fake writes head and body at once, so the whole body is in hand with the head: its new length is counted.
    assertThat(r.headers().firstValue("content-length")).as("the new length, not chunked")
        .hasValue(String.valueOf(r.body().getBytes(java.nio.charset.StandardCharsets.UTF_8).length));
    assertThat(r.headers().firstValue("transfer-encoding")).isEmpty();
    var c = post(sluice, "/v1/completions", "{\"model\":\"llama\",\"prompt\":\"x\"}");
    assertThat(JSON.readTree(c.body()).get("model").asText()).isEqualTo("llama");
    var e = post(sluice, "/v1/embeddings", "{\"model\":\"llama\",\"input\":\"x\"}");
    assertThat(JSON.readTree(e.body()).get("model").asText()).isEqualTo("llama");
  }

  @Test
  void everyChunkOfAStreamCarriesTheClientsName() throws Exception {
    for (String opts : List.of("", ",\"stream_options\":{\"include_usage\":true}")) {
      var r = post(sluice, "/v1/chat/completions", "{\"model\":\"llama\",\"stream\":true" + opts
          + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
      List<JsonNode> ev = events(r.body());
      assertThat(ev).hasSizeGreaterThanOrEqualTo(6);
      assertThat(ev).allSatisfy(n -> assertThat(n.get("model").asText()).isEqualTo("llama"));
      assertThat(r.body()).endsWith("data: [DONE]\n\n").doesNotContain(SERVED);
      StringBuilder text = new StringBuilder();
      ev.forEach(n -> text.append(n.at("/choices/0/delta/content").asText("")));
      assertThat(text.toString()).isEqualTo("tok0 tok1 tok2 tok3 tok4 ");
    }
  }

  @Test
  void anthropicMessagesCarryTheClientsName() throws Exception {
    String body = "{\"model\":\"llama\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    assertThat(JSON.readTree(post(sluice, "/v1/messages", body + "}").body()).get("model").asText())
        .isEqualTo("llama");
    var s = post(sluice, "/v1/messages", body + ",\"stream\":true}");
    JsonNode start = events(s.body()).get(0);
    assertThat(start.at("/message/model").asText()).isEqualTo("llama");
    assertThat(s.body()).doesNotContain(SERVED);
  }

  @Test
  void aWildcardGroupAnswersWithTheNameSentAndANameThatIsTheReplicasStaysAsItIs() throws Exception {
    var w = post(sluice, "/v1/chat/completions", "{\"model\":\"meta-llama/Meta-Llama-3-8B-Instruct\","
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    JsonNode j = JSON.readTree(w.body());
    assertThat(j.get("model").asText()).isEqualTo(SERVED);
    assertThat(w.headers().firstValue("content-length")).as("nothing to change: relayed as sent").isPresent();
  }

  @Test
  void responseModelNameServedKeepsTheReplicasName() throws Exception {
    var r = post(served, "/v1/chat/completions", "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertThat(JSON.readTree(r.body()).get("model").asText()).isEqualTo(SERVED);
    assertThat(r.headers().firstValue("content-length")).isPresent();
    var s = post(served, "/v1/chat/completions", "{\"model\":\"llama\",\"stream\":true,\"messages\":[]}");
    assertThat(events(s.body())).allSatisfy(n -> assertThat(n.get("model").asText()).isEqualTo(SERVED));
  }

  /**
   * A JSON answer whose body comes after its head (another read): the relay cannot know the new length when the head
   * goes out, so the client gets it chunked, the name changed even where it straddles two of the replica's writes.
   */
  @Test
  void aJsonAnswerWhoseBodyComesLaterIsChunkedWithTheClientsName() throws Exception {
    String body = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"" + SERVED
        + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hello\"}}]}";
    byte[] b = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    int cut = body.indexOf("\"model\"") + 5; // inside the name's pattern
    try (java.net.ServerSocket replica = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      Thread t = new Thread(() -> {
        try (java.net.Socket c = replica.accept()) {
          java.io.InputStream in = c.getInputStream();
          byte[] buf = new byte[65536];
          StringBuilder seen = new StringBuilder();
          while (!seen.toString().contains("\r\n\r\n") || !seen.toString().endsWith("}")) {
            int n = in.read(buf);
            if (n < 0) {
              return;
            }
            seen.append(new String(buf, 0, n, java.nio.charset.StandardCharsets.ISO_8859_1));
          }
          java.io.OutputStream out = c.getOutputStream();
          out.write(("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + b.length
              + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
          out.flush();
          Thread.sleep(50);
          out.write(b, 0, cut);
          out.flush();
          Thread.sleep(50);
          out.write(b, cut, b.length - cut);
          out.flush();
          Thread.sleep(200);
        } catch (Exception e) {
          // the test fails on what the client got
        }
      }, "split-replica");
      t.setDaemon(true);
      t.start();
      URI base = URI.create("http://127.0.0.1:" + replica.getLocalPort() + "/v1");
      try (SluiceServer s = Gateway.builder(MASTER).model(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
          base, null, null, null, null, null, "rm-split")).start()) {
        var r = post(s, "/v1/chat/completions", "{\"model\":\"llama\",\"messages\":[]}");
        assertThat(JSON.readTree(r.body()).get("model").asText()).isEqualTo("llama");
        assertThat(r.body()).isEqualTo(body.replace("\"model\":\"" + SERVED + "\"", "\"model\":\"llama\""));
        assertThat(r.headers().firstValue("content-length")).as("not known when the head went out").isEmpty();
      }
    }
  }
}
