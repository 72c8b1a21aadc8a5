package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyCache;
import io.sluice.bench.fake.FakeVllm;
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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * The access log (issue 8): one JSON line per request on {@code sluice.access}, written off the event loop, with the
 * request's route, model, deployment, status, timings, tokens, bytes, owner and outcome — and never a key.
 */
class AccessLogTest {
  static final String MASTER = "sk-master-AL-SECRET";
  static final String REPLICA_KEY = "replica-AL-SECRET";
  static final String PROVIDER_KEY = "provider-AL-SECRET";
  static final String SERVED = "m";
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void oneJsonLinePerRequestAndNeverASecret() throws Exception {
    Logger access = (Logger) LoggerFactory.getLogger("sluice.access");
    ListAppender<ILoggingEvent> lines = new ListAppender<>();
    lines.start();
    access.addAppender(lines);
    Level before = access.getLevel();
    access.setLevel(Level.INFO);
    try (TestDatabases.TestDatabase db = TestDatabases.create();
        FakeVllm fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(3)
            .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
        FakeVllm slow = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(200)
            .ttft(Duration.ZERO).interTokenDelay(Duration.ofMillis(20)).start()) {
      List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
          URI.create("http://127.0.0.1:" + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
          "fake-a"), new DeploymentConfig("slow", Provider.HOSTED_VLLM, SERVED,
          URI.create("http://127.0.0.1:" + slow.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
          "fake-slow"));
      SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
          LitellmSettings.defaults(), ServerSettings.defaults(),
          new PassThroughSettings(List.of(), null, null, null, true));
      AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL",
          db.litellmUrl()), Secret.of(MASTER)), Map.of(), KeyCache.NONE);
      List<String> ids = new ArrayList<>();
      String key;
      try (SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1,
          Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane))) {
        var gen = VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/key/generate", MASTER,
            "{\"key_alias\":\"al-alias\",\"user_id\":\"al-user\"}");
        assertThat(gen.statusCode()).as(gen.body()).isEqualTo(200);
        key = JSON.readTree(gen.body()).get("key").asText();
        String chat = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"a b\"}]}";
        String stream = "{\"model\":\"llama\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}";
        String[][] calls = {
            {"al-json", key, chat, null},
            {"al-stream", key, stream, null},
            {"al-byok", key, chat, PROVIDER_KEY},
            {"al-denied", "sk-not-a-key-AL-SECRET", chat, null}};
        for (String[] c : calls) {
          var r = c[3] == null
              ? VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/v1/chat/completions", c[1], c[2],
                  "x-request-id", c[0])
              : VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/v1/chat/completions", c[1], c[2],
                  "x-request-id", c[0], "x-api-key", c[3]);
          assertThat(r.statusCode()).isEqualTo(c[0].equals("al-denied") ? 401 : 200);
          ids.add(c[0]);
        }
        // A client that leaves mid-stream: its one line comes after the relay let the replica go, with the tokens
        // metered so far (the exchange's one observer: metering, then metrics, then this log).
        String body = "{\"model\":\"slow\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}";
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", sluice.port())) {
          s.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key
              + "\r\nx-request-id: al-gone\r\nContent-Type: application/json\r\nContent-Length: "
              + body.length() + "\r\n\r\n" + body).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
          s.getOutputStream().flush();
          java.io.InputStream in = s.getInputStream();
          StringBuilder seen = new StringBuilder();
          int events = 0;
          while (events < 5) {
            int b = in.read();
            assertThat(b).as(seen.toString()).isNotNegative();
            seen.append((char) b);
            if (seen.length() >= 6 && seen.substring(seen.length() - 6).equals("data: ")) {
              events++;
            }
          }
        }
        ids.add("al-gone");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (slow.openConnections() > 0 && System.nanoTime() < deadline) {
          Thread.sleep(10);
        }
        assertThat(slow.openConnections()).as("the replica's connection closed (generation aborted)")
            .isZero();
        assertThat(slow.streamsAborted()).isEqualTo(1);
      } // close() writes the last lines
      Map<String, JsonNode> byId = new HashMap<>();
      StringBuilder all = new StringBuilder();
      for (ILoggingEvent e : List.copyOf(lines.list)) {
        String line = e.getFormattedMessage();
        all.append(line).append('\n');
        JsonNode j = JSON.readTree(line);
        byId.merge(j.get("request_id").asText(), j, (a, b) -> {
          throw new AssertionError("two lines for " + a.get("request_id"));
        });
      }
      assertThat(byId.keySet()).containsAll(ids);
      JsonNode json = byId.get("al-json");
      assertThat(json.get("route").asText()).isEqualTo("/v1/chat/completions");
      assertThat(json.get("method").asText()).isEqualTo("POST");
      assertThat(json.get("model_group").asText()).isEqualTo("llama");
      assertThat(json.get("deployment_id").asText()).isEqualTo("fake-a");
      assertThat(json.get("status").asInt()).isEqualTo(200);
      assertThat(json.get("outcome").asText()).isEqualTo("completed");
      assertThat(json.get("prompt_tokens").asLong()).isEqualTo(2);
      assertThat(json.get("completion_tokens").asLong()).isEqualTo(3);
      assertThat(json.get("bytes_in").asLong()).isPositive();
      assertThat(json.get("bytes_out").asLong()).isPositive();
      assertThat(json.get("ttfb_ms").asDouble()).isPositive();
      assertThat(json.get("duration_ms").asDouble()).isGreaterThanOrEqualTo(json.get("ttfb_ms").asDouble());
      assertThat(json.get("key_alias").asText()).isEqualTo("al-alias");
      assertThat(json.get("user").asText()).isEqualTo("al-user");
      assertThat(json.get("client").asText()).startsWith("127.0.0.1:");
      assertThat(byId.get("al-stream").get("completion_tokens").asLong()).isEqualTo(3);
      assertThat(byId.get("al-denied").get("status").asInt()).isEqualTo(401);
      assertThat(byId.get("al-denied").get("outcome").asText()).isEqualTo("rejected");
      JsonNode gone = byId.get("al-gone");
      assertThat(gone.get("outcome").asText()).isEqualTo("client_gone");
      assertThat(gone.get("deployment_id").asText()).isEqualTo("fake-slow");
      assertThat(gone.get("completion_tokens").asLong()).as(gone.toString()).isBetween(3L, 199L);
      assertThat(all.toString()).doesNotContain(MASTER).doesNotContain(key).doesNotContain(REPLICA_KEY)
          .doesNotContain(PROVIDER_KEY).doesNotContain("AL-SECRET");
    } finally {
      access.detachAppender(lines);
      access.setLevel(before);
    }
  }
}
