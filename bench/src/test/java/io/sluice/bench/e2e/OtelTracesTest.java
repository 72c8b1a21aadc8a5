package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.opentelemetry.proto.trace.v1.Span;
import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyCache;
import io.sluice.auth.KeyHash;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.fake.RecordedRequest;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.PassThroughEndpoint;
import io.sluice.config.PassThroughSettings;
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
 * OpenTelemetry traces (issue 19) for real: Sluice with {@code litellm_settings.callbacks: ["otel"]} exports over
 * OTLP/HTTP to a receiver inside the test; a streamed chat with a virtual key and the client's {@code traceparent}
 * goes to the fake vLLM, which records the {@code traceparent} it got. One trace joins client, Sluice and replica.
 */
class OtelTracesTest {
  static final String MASTER = "sk-master-OT-SECRET";
  static final String REPLICA_KEY = "replica-OT-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final String CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  static final String CLIENT_SPAN = "00f067aa0ba902b7";

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static SluiceServer sluice;
  static OtlpReceiver collector;

  @BeforeAll
  static void start() throws Exception {
    collector = new OtlpReceiver();
    // The OTel way (system properties win over OTEL_* variables); cleared after, the JVM is shared.
    System.setProperty("otel.exporter.otlp.traces.endpoint", collector.tracesEndpoint());
    System.setProperty("otel.bsp.schedule.delay", "50");
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(5)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), Secret.of(REPLICA_KEY), null, null, null, null,
        "fake-a", null, 0.001, 0.002));
    URI fakeBase = URI.create("http://127.0.0.1:" + fake.port());
    // A pass-through that forwards only content-type, accept and x-request-id: traceparent must still go.
    PassThroughSettings pt = new PassThroughSettings(List.of(new PassThroughEndpoint("/vendor",
        URI.create(fakeBase + "/v1"), true, Map.of("Authorization", Secret.of("Bearer " + REPLICA_KEY)), null, false,
        true, List.of(), Map.of())),
        fakeBase, Secret.of(REPLICA_KEY), null, false);
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        new LitellmSettings(LitellmSettings.DEFAULT_REQUEST_TIMEOUT, true, true), ServerSettings.defaults(), pt);
    AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER)), Map.of(), KeyCache.NONE);
    sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane));
  }

  @AfterAll
  static void stop() {
    System.clearProperty("otel.exporter.otlp.traces.endpoint");
    System.clearProperty("otel.bsp.schedule.delay");
    if (sluice != null) {
      sluice.close();
    }
    if (fake != null) {
      fake.close();
    }
    if (db != null) {
      db.close();
    }
    if (collector != null) {
      collector.close();
    }
  }

  @Test
  void aStreamedChatIsOneTraceFromClientThroughSluiceToTheReplicaWithGenAiAttributesAndNoSecret()
      throws Exception {
    assertThat(VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/team/new", MASTER,
        "{\"team_id\":\"otel-team\"}").statusCode()).isEqualTo(200);
    String key = VirtualKeyE2ETestSupport.generateKey(sluice.port(), MASTER,
        "{\"key_alias\":\"otel-alias\",\"team_id\":\"otel-team\"}");
    fake.clearRequests();
    HttpResponse<String> r = VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/v1/chat/completions", key,
        "{\"model\":\"llama\",\"stream\":true,\"max_tokens\":64,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"one two three\"}]}",
        "traceparent", "00-" + CLIENT_TRACE + "-" + CLIENT_SPAN + "-01", "tracestate", "client=1");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.body()).endsWith("data: [DONE]\n\n");
    String requestId = r.headers().firstValue("x-request-id").orElseThrow();

    OtlpReceiver.Received server = collector.await(s -> s.span().getKind() == Span.SpanKind.SPAN_KIND_SERVER
        && requestId.equals(s.attributes().get("sluice.request_id")), Duration.ofSeconds(10));
    assertThat(server.traceId()).as("the client's trace").isEqualTo(CLIENT_TRACE);
    assertThat(server.parentSpanId()).as("child of the client's span").isEqualTo(CLIENT_SPAN);
    assertThat(server.span().getName()).as("GenAI: {operation} {request model}").isEqualTo("chat llama");
    assertThat(server.resource().getAttributesList())
        .anySatisfy(kv -> {
          assertThat(kv.getKey()).isEqualTo("service.name");
          assertThat(kv.getValue().getStringValue()).isEqualTo("sluice");
        });

    // The replica got Sluice's context, not the client's: its spans hang under Sluice's server span.
    RecordedRequest upstream = fake.requests().get(fake.requests().size() - 1);
    String tp = upstream.headers().get("traceparent");
    assertThat(tp).isNotNull();
    String[] f = tp.split("-");
    assertThat(f).hasSize(4);
    assertThat(f[0]).isEqualTo("00");
    assertThat(f[1]).as("same trace upstream").isEqualTo(CLIENT_TRACE);
    assertThat(f[2]).as("parent upstream = Sluice's server span").isEqualTo(server.spanId());
    assertThat(f[3]).isEqualTo("01");
    assertThat(upstream.headers().getAll("traceparent")).hasSize(1);
    assertThat(upstream.headers().get("tracestate")).as("the client's state, carried by the context")
        .isEqualTo("client=1");
    assertThat(upstream.headers().get("x-request-id")).isEqualTo(requestId);

    Map<String, String> a = server.attributes();
    JsonNode row = VirtualKeyE2ETestSupport.spendRow(sluice.port(), MASTER, requestId);
    assertThat(a).containsEntry("gen_ai.operation.name", "chat")
        .containsEntry("gen_ai.request.model", "llama")
        .containsEntry("gen_ai.response.model", SERVED)
        .containsEntry("gen_ai.provider.name", "vllm")
        .containsEntry("gen_ai.request.max_tokens", "64")
        .containsEntry("gen_ai.usage.input_tokens", row.get("prompt_tokens").asText())
        .containsEntry("gen_ai.usage.output_tokens", row.get("completion_tokens").asText())
        .containsEntry("server.address", "127.0.0.1")
        .containsEntry("server.port", Integer.toString(fake.port()))
        .containsEntry("http.request.method", "POST")
        .containsEntry("http.response.status_code", "200")
        .containsEntry("sluice.model_group", "llama")
        .containsEntry("sluice.deployment_id", "fake-a")
        .containsEntry("sluice.key_alias", "otel-alias")
        .containsEntry("sluice.team_id", "otel-team")
        .containsEntry("sluice.retries", "0")
        .containsEntry("sluice.fallback_used", "false")
        .containsEntry("sluice.stream", "true")
        .containsEntry("sluice.outcome", "completed");
    assertThat(row.get("completion_tokens").asLong()).isEqualTo(5);
    assertThat(server.span().getEventsList()).extracting(e -> e.getName())
        .containsExactly("gen_ai.first_token", "gen_ai.stream_end");
    assertThat(server.span().getStatus().getCode()).isNotEqualTo(
        io.opentelemetry.proto.trace.v1.Status.StatusCode.STATUS_CODE_ERROR);

    // The first request to the replica opened a connection: a child span of the server span.
    OtlpReceiver.Received connect = collector.await(s -> s.span().getName().equals("connect")
        && s.parentSpanId().equals(server.spanId()), Duration.ofSeconds(5));
    assertThat(connect.traceId()).isEqualTo(CLIENT_TRACE);

    KeyHash hash = KeyHash.of(key);
    for (String v : collector.values()) {
      assertThat(v).as("no secret in any attribute")
          .doesNotContain(key).doesNotContain(key.substring(3)).doesNotContain(hash.hex())
          .doesNotContain(hash.prefix()).doesNotContain(MASTER).doesNotContain(REPLICA_KEY).doesNotContain("SECRET");
    }
  }

  @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.CsvSource(delimiter = '|', value = {
      "/v1/messages|{\"model\":\"llama\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      "/vllm/v1/chat/completions|{\"model\":\"" + SERVED + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      "/vendor/chat/completions|{\"model\":\"" + SERVED + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
  })
  void everyRouteSendsSluicesSpanUpstreamAsTheTraceparentInsteadOfTheClients(String path, String body)
      throws Exception {
    String clientSpan = "1234567890abcdef";
    fake.clearRequests();
    HttpResponse<String> r = VirtualKeyE2ETestSupport.send(sluice.port(), "POST", path, MASTER, body,
        "traceparent", "00-" + CLIENT_TRACE + "-" + clientSpan + "-01");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    String requestId = r.headers().firstValue("x-request-id").orElseThrow();
    OtlpReceiver.Received server = collector.await(s -> s.span().getKind() == Span.SpanKind.SPAN_KIND_SERVER
        && requestId.equals(s.attributes().get("sluice.request_id")), Duration.ofSeconds(10));
    assertThat(server.parentSpanId()).isEqualTo(clientSpan);
    RecordedRequest upstream = fake.requests().get(fake.requests().size() - 1);
    assertThat(upstream.headers().getAll("traceparent")).as(path)
        .containsExactly("00-" + CLIENT_TRACE + "-" + server.spanId() + "-01");
  }

  @Test
  void aRequestWithoutTraceparentStartsATraceAndAFailureCarriesLiteLlmsErrorType() throws Exception {
    HttpResponse<String> r = VirtualKeyE2ETestSupport.send(sluice.port(), "POST", "/v1/chat/completions", MASTER,
        "{\"model\":\"no-such-model\",\"messages\":[]}");
    assertThat(r.statusCode()).isGreaterThanOrEqualTo(400);
    String requestId = r.headers().firstValue("x-request-id").orElseThrow();
    OtlpReceiver.Received s = collector.await(x -> requestId.equals(x.attributes().get("sluice.request_id")),
        Duration.ofSeconds(10));
    assertThat(s.span().getParentSpanId().isEmpty()).as("a root span").isTrue();
    assertThat(s.span().getStatus().getCode())
        .isEqualTo(io.opentelemetry.proto.trace.v1.Status.StatusCode.STATUS_CODE_ERROR);
    assertThat(s.attributes().get("error.type")).isNotBlank();
    assertThat(s.span().getStatus().getMessage()).isEqualTo(s.attributes().get("error.type"));
  }
}
