package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.context.Context;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.Principal;
import io.sluice.auth.Role;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.config.Secret;
import io.sluice.routing.Deployment;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * W3C Trace Context parsing of the client's {@code traceparent} (Trace Context Level 1, §3.2), the child context
 * sent upstream, and the span attributes an exchange maps to (GenAI semantic conventions; never a credential).
 */
class TracingTest {
  static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  static final String SPAN = "00f067aa0ba902b7";

  static SpanContext parsed(String traceparent, String tracestate) {
    HttpHeaders h = new DefaultHttpHeaders();
    if (traceparent != null) {
      h.set("traceparent", traceparent);
    }
    if (tracestate != null) {
      h.set("tracestate", tracestate);
    }
    return Span.fromContext(Tracing.parent(h)).getSpanContext();
  }

  @Test
  void aValidTraceparentIsTheParentWithItsFlagsAndState() {
    SpanContext c = parsed("00-" + TRACE + "-" + SPAN + "-01", "vendor=abc");
    assertThat(c.isValid()).isTrue();
    assertThat(c.isRemote()).isTrue();
    assertThat(c.getTraceId()).isEqualTo(TRACE);
    assertThat(c.getSpanId()).isEqualTo(SPAN);
    assertThat(c.isSampled()).isTrue();
    assertThat(c.getTraceState().get("vendor")).isEqualTo("abc");
    assertThat(parsed("00-" + TRACE + "-" + SPAN + "-00", null).isSampled()).as("not sampled upstream").isFalse();
  }

  @Test
  void aLaterVersionIsReadByItsVersion00PrefixAsTheSpecAsks() {
    // §3.2.4: a version above 00 is parsed as 00 where it can be (the first 55 characters), extra fields ignored.
    assertThat(parsed("01-" + TRACE + "-" + SPAN + "-01-extra", null).getTraceId()).isEqualTo(TRACE);
  }

  @Test
  void anInvalidTraceparentStartsANewTrace() {
    String[] bad = {
        "ff-" + TRACE + "-" + SPAN + "-01", // §3.2.2.1: version ff is invalid
        "00-00000000000000000000000000000000-" + SPAN + "-01", // all-zero trace id
        "00-" + TRACE + "-0000000000000000-01", // all-zero parent id
        "00-" + TRACE.substring(1) + "-" + SPAN + "-01", // trace id one short
        "00-" + TRACE + "-" + SPAN + "0-01", // parent id one long
        "00-" + TRACE + "-" + SPAN + "-1", // flags one short
        "00-" + TRACE.toUpperCase() + "-" + SPAN + "-01", // upper-case hex
        "00-" + TRACE + "-" + SPAN + "-01-extra", // version 00 has exactly four fields
        "0-" + TRACE + "-" + SPAN + "-01",
        "",
        "garbage",
    };
    for (String b : bad) {
      assertThat(parsed(b, "vendor=abc").isValid()).as(b).isFalse();
    }
    assertThat(parsed(null, "vendor=abc").isValid()).as("no traceparent").isFalse();
  }

  static Exchange exchange(Route route, String path, String traceparent) {
    EmbeddedChannel ch = new EmbeddedChannel();
    DefaultHttpRequest req = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, path);
    if (traceparent != null) {
      req.headers().set("traceparent", traceparent);
    }
    return new Exchange(new ClientConnection(ch), req, route, path, "", "req-1", e -> { }, new Drain(),
        new ExchangeObserver(null, AccessLog.NONE));
  }

  @Test
  void theChildContextReplacesTheClientsTraceparentUpstream() {
    Exchange ex = exchange(Route.CHAT_COMPLETIONS, "/v1/chat/completions", "00-" + TRACE + "-" + SPAN + "-01");
    ex.request.headers().set("tracestate", "client=1");
    SpanContext mine = SpanContext.create(TRACE, "1111111111111111", TraceFlags.getSampled(), TraceState.getDefault());
    ex.trace = new Tracing.Trace(null, Span.wrap(mine));
    Tracing.inject(ex, ex.request.headers());
    assertThat(ex.request.headers().getAll("traceparent")).containsExactly("00-" + TRACE + "-1111111111111111-01");
    assertThat(ex.request.headers().contains("tracestate")).as("the client's state went with its context").isFalse();
  }

  @Test
  void maxTokensIsReadFromTheTopLevelOnly() {
    assertThat(maxTokens("{\"model\":\"m\",\"max_tokens\":64}")).isEqualTo(64);
    assertThat(maxTokens("{\"max_completion_tokens\":32,\"model\":\"m\"}")).isEqualTo(32);
    assertThat(maxTokens("{\"x\":{\"max_tokens\":5},\"messages\":[{\"max_tokens\":6}]}")).isEqualTo(-1);
    assertThat(maxTokens("--boundary\r\n")).isEqualTo(-1);
    ByteBuf b = Unpooled.copiedBuffer("{\"max_tokens\":7}", StandardCharsets.UTF_8);
    int before = b.readerIndex();
    assertThat(Tracing.maxTokens(b)).isEqualTo(7);
    assertThat(b.readerIndex()).as("borrowed, not consumed").isEqualTo(before);
    b.release();
  }

  static long maxTokens(String json) {
    ByteBuf b = Unpooled.copiedBuffer(json, StandardCharsets.UTF_8);
    try {
      return Tracing.maxTokens(b);
    } finally {
      b.release();
    }
  }

  @Test
  void attributesFollowTheGenAiConventionsAndCarryNoCredential() {
    String secret = "sk-attr-TEST-SECRET-123";
    KeyHash hash = KeyHash.of(secret);
    KeyRecord key = new KeyRecord(hash, "sk-...123", "my-alias", "user-1", "team-1", Role.INTERNAL_USER, Set.of(),
        Set.of(), java.util.List.of(), false, false, null, io.sluice.auth.KeyLimits.NONE);
    Exchange ex = exchange(Route.CHAT_COMPLETIONS, "/v1/chat/completions", null);
    ex.principal = Principal.of(key);
    ex.model = "llama";
    ex.stream = true;
    ex.deployment = new Deployment(new DeploymentConfig("llama", Provider.HOSTED_VLLM, "meta/Llama-3",
        URI.create("http://vllm-a.internal:8000/v1"), Secret.of("replica-SECRET"), null, null, null, null,
        "dep-a", null, 0.0, 0.0));
    ex.metering = Metering.NONE;
    ex.usage = new io.sluice.json.UsageScanner();
    ex.promptTokens = 3;
    ex.completionTokens = 5;
    ex.attempts = 2;
    ex.trace = new Tracing.Trace(null, Span.getInvalid());
    ex.trace.maxTokens = 64;
    ex.status = 502;
    ex.failure = ProxyError.UPSTREAM_UNREACHABLE;
    Attributes a = Tracing.attributes(ex, false);
    assertThat(a.get(Tracing.OPERATION)).isEqualTo("chat");
    assertThat(a.get(Tracing.REQUEST_MODEL)).isEqualTo("llama");
    assertThat(a.get(Tracing.RESPONSE_MODEL)).isEqualTo("meta/Llama-3");
    assertThat(a.get(Tracing.PROVIDER)).isEqualTo("vllm");
    assertThat(a.get(Tracing.SERVER_ADDRESS)).isEqualTo("vllm-a.internal");
    assertThat(a.get(Tracing.SERVER_PORT)).isEqualTo(8000L);
    assertThat(a.get(Tracing.INPUT_TOKENS)).isEqualTo(3L);
    assertThat(a.get(Tracing.OUTPUT_TOKENS)).isEqualTo(5L);
    assertThat(a.get(Tracing.MAX_TOKENS)).isEqualTo(64L);
    assertThat(a.get(Tracing.RETRIES)).isEqualTo(1L);
    assertThat(a.get(Tracing.DEPLOYMENT)).isEqualTo("dep-a");
    assertThat(a.get(Tracing.KEY_ALIAS)).isEqualTo("my-alias");
    assertThat(a.get(Tracing.TEAM)).isEqualTo("team-1");
    assertThat(a.get(Tracing.ERROR_TYPE)).as("LiteLLM's error type").isEqualTo("api_connection_error");
    assertThat(a.get(Tracing.STATUS)).isEqualTo(502L);
    a.forEach((k, v) -> assertThat(String.valueOf(v)).as(k.getKey())
        .doesNotContain(secret).doesNotContain(hash.prefix()).doesNotContain("replica-SECRET")
        .doesNotContain("sk-...123"));
    assertThat(a.asMap().keySet()).allSatisfy(k -> assertThat(Tracing.keys()).contains((AttributeKey<?>) k));
  }

  @Test
  void routesMapToTheConventionsOperationNames() {
    assertThat(Tracing.operation(Route.CHAT_COMPLETIONS)).isEqualTo("chat");
    assertThat(Tracing.operation(Route.MESSAGES)).isEqualTo("chat");
    assertThat(Tracing.operation(Route.COMPLETIONS)).isEqualTo("text_completion");
    assertThat(Tracing.operation(Route.EMBEDDINGS)).isEqualTo("embeddings");
    assertThat(Tracing.operation(Route.VLLM)).isNull();
    assertThat(Tracing.operation(null)).isNull();
  }

  @Test
  void noContextIsRootSoTheServerSpanStartsATrace() {
    assertThat(Tracing.parent(new DefaultHttpHeaders())).isSameAs(Context.root());
  }
}
