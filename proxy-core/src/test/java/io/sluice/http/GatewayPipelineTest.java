package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.sluice.auth.Authenticator;
import io.sluice.auth.KeyStore;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.RegistryHolder;
import io.sluice.upstream.UpstreamPools;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The gateway pipeline up to the relay, fed raw bytes through the real codec: everything Sluice answers itself
 * (guard limits, auth, local endpoints, body errors) without an upstream.
 */
class GatewayPipelineTest {
  static final String MASTER = "sk-master-SECRET-4242";
  static final long MAX_BODY = 1024;

  private EmbeddedChannel ch;

  static GatewayContext context(String customHeader) {
    return context(customHeader, KeyStore.NONE);
  }

  static GatewayContext context(String customHeader, KeyStore keys) {
    return context(customHeader, keys, io.sluice.management.ManagementApi.NONE);
  }

  static GatewayContext context(String customHeader, KeyStore keys, io.sluice.management.ManagementApi api) {
    ServerSettings s = new ServerSettings(512, 2048, Duration.ofSeconds(60), Duration.ofSeconds(75),
        Duration.ofSeconds(1), Duration.ofSeconds(4), 16, 4);
    DeploymentConfig d = new DeploymentConfig("llama", Provider.HOSTED_VLLM, "meta/llama", URI.create(
        "http://127.0.0.1:9/v1"), Secret.of("replica-SECRET-key"), null, null, null, null, "dep-a");
    return new GatewayContext(s, MAX_BODY, Duration.ofSeconds(5),
        new Authenticator(Secret.of(MASTER), false, customHeader, keys, Clock.systemUTC()),
        new RegistryHolder(DeploymentRegistry.of(List.of(d))),
        new UpstreamPools(s, NioSocketChannel::new, DefaultAddressResolverGroup.INSTANCE,
            GatewayInitializer.upstreamHandlers()), "test", 2, Duration.ofSeconds(5), new Drain(), null,
        io.sluice.routing.Strategy.SIMPLE_SHUFFLE, api, Readiness.NO_DATABASE, io.sluice.routing.PassThroughTargets.NONE);
  }

  private String exchange(String raw) {
    if (ch == null) {
      ch = new EmbeddedChannel(new GatewayInitializer(context(null)));
    }
    ch.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1));
    ch.runPendingTasks();
    return drain();
  }

  private String drain() {
    StringBuilder sb = new StringBuilder();
    ByteBuf b;
    while ((b = ch.readOutbound()) != null) {
      sb.append(b.toString(StandardCharsets.UTF_8));
      b.release();
    }
    return sb.toString();
  }

  @AfterEach
  void finish() {
    if (ch != null) {
      // True when a message was still queued (in or out): something a test neither read nor released.
      assertThat(ch.finishAndReleaseAll()).as("nothing left unread or unreleased").isFalse();
    }
  }

  private static String get(String path, String... headers) {
    return "GET " + path + " HTTP/1.1\r\nHost: sluice\r\n" + String.join("", headers) + "\r\n";
  }

  private static String post(String path, String body, String... headers) {
    return "POST " + path + " HTTP/1.1\r\nHost: sluice\r\nContent-Type: application/json\r\nContent-Length: "
        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n" + String.join("", headers) + "\r\n" + body;
  }

  private static String bearer(String key) {
    return "Authorization: Bearer " + key + "\r\n";
  }

  @Test
  void healthRoutesArePublicAndNeverAskForAKey() {
    assertThat(exchange(get("/health/liveliness"))).startsWith("HTTP/1.1 200 OK").endsWith("\"I'm alive!\"");
    assertThat(exchange(get("/health/liveness"))).startsWith("HTTP/1.1 200 OK").endsWith("\"I'm alive!\"");
    assertThat(exchange(get("/health/readiness", "Authorization: Bearer wrong\r\n")))
        .as("a wrong key on a public route is ignored, not 401").startsWith("HTTP/1.1 200 OK")
        .contains("\"status\":\"healthy\"");
  }

  @Test
  void modelsNeedAKeyAndListTheModelGroups() {
    String none = exchange(get("/v1/models"));
    assertThat(none).startsWith("HTTP/1.1 401 Unauthorized")
        .contains("{\"error\":{\"message\":\"Authentication Error, No api key passed in.")
        .contains("\"type\":\"auth_error\",\"param\":\"None\",\"code\":\"401\"}}");
    assertThat(exchange(get("/v1/models", bearer(MASTER)))).startsWith("HTTP/1.1 200 OK")
        .endsWith("{\"data\":[{\"id\":\"llama\",\"object\":\"model\",\"created\":1677610602,\"owned_by\":\"openai\"}],"
            + "\"object\":\"list\"}");
    assertThat(exchange(get("/models", "X-LiteLLM-API-Key: " + MASTER + "\r\n")))
        .as("x-litellm-api-key, any case, Bearer optional").startsWith("HTTP/1.1 200 OK");
    assertThat(exchange(get("/models", "x-litellm-api-key: Bearer " + MASTER + "\r\n"))).startsWith("HTTP/1.1 200");
    assertThat(exchange(get("/v1/models", "authorization: bearer " + MASTER + "\r\n")))
        .as("scheme is case-insensitive").startsWith("HTTP/1.1 200");
  }

  @Test
  void wrongOrMalformedKeysAre401AndNeverEchoed() {
    String wrong = exchange(get("/v1/models", bearer("sk-wrong-SECRET-9999")));
    assertThat(wrong).startsWith("HTTP/1.1 401").contains("Invalid proxy server token passed")
        .doesNotContain("sk-wrong-SECRET-9999").doesNotContain(MASTER);
    String basic = exchange(get("/v1/models", "Authorization: Basic dXNlcjpwYXNz\r\n"));
    assertThat(basic).startsWith("HTTP/1.1 401").contains("Malformed API Key").doesNotContain("dXNlcjpwYXNz");
    String notSk = exchange(get("/v1/models", bearer("not-a-virtual-key-SECRET")));
    assertThat(notSk).startsWith("HTTP/1.1 401").contains("does not start with 'sk-'")
        .doesNotContain("not-a-virtual-key-SECRET");
    String almost = exchange(get("/v1/models", bearer(MASTER + "x")));
    assertThat(almost).startsWith("HTTP/1.1 401");
  }

  @Test
  void customKeyHeaderIsTheOnlyOneThatCounts() {
    ch = new EmbeddedChannel(new GatewayInitializer(context("X-Gateway-Key")));
    assertThat(exchange(get("/v1/models", bearer(MASTER)))).startsWith("HTTP/1.1 401")
        .contains("X-Gateway-Key".toLowerCase());
    assertThat(exchange(get("/v1/models", "x-gateway-key: Bearer " + MASTER + "\r\n"))).startsWith("HTTP/1.1 200");
  }

  /**
   * The guard's refusals, one row each: what the request breaks, its raw bytes, the status, what the answer must say,
   * and whether the connection must close (framing that cannot be trusted never keeps a connection).
   */
  static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> refusals() {
    String first = "{\"model\":\"llama\",\"prompt\":\"" + "x".repeat(680);
    String chunk1 = Integer.toHexString(first.length()) + "\r\n" + first + "\r\n";
    String chunk2 = Integer.toHexString(700) + "\r\n" + "x".repeat(700) + "\r\n";
    String post = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n";
    return java.util.stream.Stream.of(
        row("request line over max_uri_length", get("/v1/models?" + "a".repeat(600)), 414, true, "\"code\":\"414\""),
        row("headers over max_header_size", get("/v1/models", "X-Big: " + "b".repeat(3000) + "\r\n"), 431, false),
        row("CL and TE together (RFC 9112 §6.3)",
            post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false),
        row("declared body over the limit", post + "Content-Length: 5000\r\n" + bearer(MASTER) + "\r\n", 413, false,
            "max_request_size_mb", "connection: close"),
        row("chunked body crossing the limit", post + "Transfer-Encoding: chunked\r\n" + bearer(MASTER) + "\r\n"
            + chunk1 + chunk2 + "0\r\n\r\n", 413, false),
        row("a coding Sluice does not implement (§6.1)", post + "Transfer-Encoding: gzip, chunked\r\n" + bearer(MASTER)
            + "\r\n0\r\n\r\n", 501, false, "gzip, chunked", "connection: close"),
        row("the codings of every Transfer-Encoding line count", "POST /vllm/x HTTP/1.1\r\nHost: x\r\n"
            + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n" + bearer(MASTER) + "\r\n0\r\n\r\n", 501,
            false),
        row("chunked not final: length unknowable (§6.3)", post + "Transfer-Encoding: chunked, gzip\r\n"
            + bearer(MASTER) + "\r\n", 400, false, "connection: close"),
        row("two different Content-Length values (§6.3)", post + "Content-Length: 5\r\nContent-Length: 6\r\n"
            + bearer(MASTER) + "\r\n123456", 400, false, "connection: close"),
        row("a signed Content-Length (§8.6: 1*DIGIT)", post + "Content-Length: +5\r\n" + bearer(MASTER)
            + "\r\n12345", 400, false, "connection: close"),
        row("whitespace between a field name and its colon (§5.1)", post + "Content-Length : 5\r\n"
            + bearer(MASTER) + "\r\n12345", 400, false, "connection: close"));
  }

  private static org.junit.jupiter.params.provider.Arguments row(String what, String raw, int status,
      boolean mustClose, String... says) {
    return org.junit.jupiter.params.provider.Arguments.of(what, raw, status, mustClose, says);
  }

  @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.MethodSource("refusals")
  void theGuardRefuses(String what, String raw, int status, boolean mustClose, String[] says) {
    String out = exchange(raw);
    assertThat(out).as(what).startsWith("HTTP/1.1 " + status).contains("\"code\":\"" + status + "\"");
    for (String s : says) {
      assertThat(out).as(what).contains(s);
    }
    if (mustClose) {
      assertThat(ch.isOpen()).as(what + ": the connection closes").isFalse();
    }
    ch.finishAndReleaseAll(); // a refused body may still sit unread: the channel is dropped, as a closed one would be
    ch = null;
  }

  @Test
  void routingErrors() {
    assertThat(exchange(get("/v1/../../etc/passwd"))).startsWith("HTTP/1.1 400").contains("climbs above the root");
    assertThat(exchange(get("/nope", bearer(MASTER)))).startsWith("HTTP/1.1 404").contains("not_found_error");
    assertThat(exchange(get("/v1/chat/completions", bearer(MASTER)))).startsWith("HTTP/1.1 405")
        .contains("use POST");
  }

  @Test
  void bodyErrorsSayWhatIsWrong() {
    assertThat(exchange(post("/v1/chat/completions", "{\"model\":", bearer(MASTER)))).startsWith("HTTP/1.1 400")
        .contains("Malformed JSON").contains("truncated");
    assertThat(exchange(post("/v1/chat/completions", "{\"messages\":[]}", bearer(MASTER))))
        .startsWith("HTTP/1.1 400").contains("No \\\"model\\\" in the request body");
    assertThat(exchange(post("/chat/completions", "{\"model\":\"nope\"}", bearer(MASTER))))
        .startsWith("HTTP/1.1 400").contains("Invalid model name passed in model=nope")
        .contains("\"type\":\"bad_request_error\"").doesNotContain("replica-SECRET-key");
    assertThat(exchange(post("/v1/embeddings", "", bearer(MASTER)))).startsWith("HTTP/1.1 400")
        .contains("Request body is empty");
    assertThat(ch.isOpen()).as("body errors keep the connection").isTrue();
  }

  @Test
  void unauthenticatedBodyIsDiscardedAndTheConnectionKept() {
    String out = exchange(post("/v1/chat/completions", "{\"model\":\"llama\"}")
        + get("/health/liveliness"));
    assertThat(out).startsWith("HTTP/1.1 401");
    assertThat(out).as("the next request on the connection is served").contains("HTTP/1.1 200 OK")
        .endsWith("\"I'm alive!\"");
  }

  @Test
  void pipelinedRequestsAreAnsweredInOrder() {
    String out = exchange(get("/health/liveness") + get("/v1/models", bearer(MASTER)) + get("/health/readiness"));
    int a = out.indexOf("I'm alive!");
    int b = out.indexOf("\"object\":\"list\"");
    int c = out.indexOf("\"status\":\"healthy\"");
    assertThat(a).isPositive();
    assertThat(b).isGreaterThan(a);
    assertThat(c).isGreaterThan(b);
    assertThat(ch.config().isAutoRead()).as("reads resume once the queue is drained").isTrue();
  }

  @Test
  void expectContinueIsAnsweredOnlyAfterAuth() {
    String ok = exchange("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\nExpect: 100-continue\r\n"
        + bearer(MASTER) + "\r\n");
    assertThat(ok).startsWith("HTTP/1.1 100 Continue");
    assertThat(exchange("{\"model\":\"nope\"}")).startsWith("HTTP/1.1 400").contains("model=nope");
    ch.finishAndReleaseAll();
    ch = null;
    String refused = exchange("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n"
        + "Expect: 100-continue\r\n\r\n");
    assertThat(refused).startsWith("HTTP/1.1 401").doesNotContain("100 Continue").contains("connection: close");
  }

  @Test
  void slowRequestIs408AndClosesWhileAKeepAliveConnectionIsServedAcrossManyRequests() {
    String partial = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n" + bearer(MASTER)
        + "\r\n{\"model\":";
    assertThat(exchange(partial)).isEmpty();
    ch.advanceTimeBy(59, java.util.concurrent.TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(drain()).as("not yet: request_read_timeout is 60 s").isEmpty();
    ch.advanceTimeBy(2, java.util.concurrent.TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(drain()).startsWith("HTTP/1.1 408").contains("request_read_timeout").contains("connection: close");
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void idleKeepAliveConnectionIsClosedAfterIdleTimeoutButNotBefore() {
    for (int i = 0; i < 3; i++) {
      assertThat(exchange(get("/health/liveness"))).startsWith("HTTP/1.1 200");
      ch.advanceTimeBy(70, java.util.concurrent.TimeUnit.SECONDS);
      ch.runScheduledPendingTasks();
      assertThat(ch.isOpen()).as("activity every 70 s keeps a 75 s idle timeout from firing").isTrue();
    }
    ch.advanceTimeBy(6, java.util.concurrent.TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(ch.isOpen()).as("75 s after the last response").isFalse();
  }

  @Test
  void requestIdIsPropagatedOrGenerated() {
    assertThat(exchange(get("/health/liveness", "X-Request-Id: my-trace-1\r\n"))).contains("x-request-id: my-trace-1");
    assertThat(exchange(get("/health/liveness"))).containsPattern("x-request-id: [0-9a-f]{32}");
  }

  // Issue 13 regressions (findings 4, 5, 8, 9 and the last-resort handler), each through the real codec.

  @Test
  void aSlowRequestHeadIs408AtRequestReadTimeoutCountedFromItsFirstByte() {
    assertThat(exchange("GET /health/liveliness HTTP/1.1\r\nHo")).isEmpty();
    ch.advanceTimeBy(59, java.util.concurrent.TimeUnit.SECONDS);
    ch.writeInbound(Unpooled.copiedBuffer("s", StandardCharsets.ISO_8859_1)); // a byte a second keeps it going
    ch.runScheduledPendingTasks();
    assertThat(drain()).as("not yet: request_read_timeout is 60 s").isEmpty();
    ch.advanceTimeBy(2, java.util.concurrent.TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(drain()).startsWith("HTTP/1.1 408").contains("request_read_timeout").contains("connection: close")
        .contains("\"type\":\"timeout_error\"");
    assertThat(ch.isOpen()).as("closed at request_read_timeout, not at idle_timeout (75 s)").isFalse();
  }

  @Test
  void aRefusedChunkedBodyIsDrainedOnlyUpToABoundThenTheConnectionCloses() {
    String out = exchange("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    assertThat(out).as("no key: refused at once").startsWith("HTTP/1.1 401");
    String chunk = "200\r\n" + "a".repeat(512) + "\r\n";
    exchange(chunk);
    assertThat(ch.isOpen()).as("a little of the refused body is read and dropped, the connection kept").isTrue();
    for (int i = 0; i < 4 && ch.isOpen(); i++) {
      exchange(chunk);
    }
    assertThat(ch.isOpen()).as("past the bound (and max_request_size_mb = 1 KiB here) the connection closes")
        .isFalse();
  }

  @Test
  void aBodyTrickledAfterAnEarlyAnswerIsCutOffAtRequestReadTimeout() {
    String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n" + bearer(MASTER) + "\r\n";
    assertThat(exchange(head + "{\"model\":x")).as("bad JSON: answered before the body is whole")
        .startsWith("HTTP/1.1 400");
    for (int i = 0; i < 30; i++) {
      ch.advanceTimeBy(2, java.util.concurrent.TimeUnit.SECONDS);
      ch.writeInbound(Unpooled.copiedBuffer("aaaa", StandardCharsets.ISO_8859_1));
      ch.runScheduledPendingTasks();
    }
    assertThat(drain()).isEmpty();
    assertThat(ch.isOpen()).as("request_read_timeout (60 s) holds after the answer too").isFalse();
  }

  @Test
  void illFormedUtf8InAScannedBodyIs400Rfc3629() {
    for (String bad : new String[] {"\u00c0\u00ae\u00c0\u00ae", "\u00ed\u00a0\u0080", "\u00f4\u0090\u0080\u0080", "\u00e2\u0082"}) {
      byte[] prefix = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"".getBytes(StandardCharsets.US_ASCII);
      byte[] badBytes = bad.getBytes(StandardCharsets.ISO_8859_1);
      byte[] suffix = "\"}]}".getBytes(StandardCharsets.US_ASCII);
      int len = prefix.length + badBytes.length + suffix.length;
      String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + len + "\r\n" + bearer(MASTER)
          + "\r\n";
      String out = exchange(head + new String(prefix, StandardCharsets.ISO_8859_1) + bad
          + new String(suffix, StandardCharsets.ISO_8859_1));
      assertThat(out).as("ill-formed %s", bad.chars().mapToObj(Integer::toHexString).toList())
          .startsWith("HTTP/1.1 400").contains("not valid UTF-8").contains("RFC 3629");
    }
  }

  @Test
  void aThrowingHandlerIsA500InLiteLlmShapeAndTheConnectionClosesWithoutALeak() {
    ch = new EmbeddedChannel(new GatewayInitializer(context(null)));
    ch.pipeline().addAfter("auth", "bug", new io.netty.channel.ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Exchange) {
          throw new IllegalStateException("a handler bug");
        }
        ctx.fireChannelRead(msg);
      }
    });
    String out = exchange(post("/v1/chat/completions", "{\"model\":\"llama\"}", bearer(MASTER)));
    assertThat(out).startsWith("HTTP/1.1 500").contains("connection: close")
        .contains("{\"error\":{\"message\":\"Internal error in Sluice").contains("\"type\":\"internal_server_error\"");
    assertThat(ch.isOpen()).isFalse();
  }
}
