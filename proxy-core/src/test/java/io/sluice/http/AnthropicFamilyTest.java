package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import io.sluice.auth.Authenticator;
import io.sluice.auth.KeyStore;
import io.sluice.config.Secret;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The Anthropic route family (issue 15 §1): where its key may come from, its error shape, and the BYOK decision
 * in the cases the end-to-end test cannot reach (LiteLLM PR #22964 findings 3 and 4).
 */
class AnthropicFamilyTest {
  static final String MASTER = "sk-master-UNIT-0001";
  static final String PROVIDER = "provider-key-UNIT-0002";
  final Authenticator auth = new Authenticator(Secret.of(MASTER), false, null, KeyStore.NONE, Clock.systemUTC());

  static HttpHeaders headers(String... nv) {
    HttpHeaders h = new DefaultHttpHeaders();
    for (int i = 0; i < nv.length; i += 2) {
      h.add(nv[i], nv[i + 1]);
    }
    return h;
  }

  @Test
  void messagesRoutesAreAnthropicAndServedWithAndWithoutV1() {
    assertThat(Route.forPath("/v1/messages")).isEqualTo(Route.MESSAGES);
    assertThat(Route.forPath("/messages")).isEqualTo(Route.MESSAGES);
    assertThat(Route.forPath("/v1/messages/count_tokens")).isEqualTo(Route.MESSAGES_COUNT_TOKENS);
    assertThat(Route.MESSAGES.family).isEqualTo(Route.Family.ANTHROPIC);
    assertThat(Route.CHAT_COMPLETIONS.family).isEqualTo(Route.Family.OPENAI);
    assertThat(Route.MESSAGES_COUNT_TOKENS.countsUsage()).as("a token count is no generation").isFalse();
  }

  @Test
  void xApiKeyIsACredentialOnlyOnTheAnthropicRoutesAndOnlyAfterTheOtherTwo() {
    HttpHeaders onlyApiKey = headers("x-api-key", MASTER);
    assertThat((Object) auth.authenticate(onlyApiKey, null, true).toCompletableFuture().join().credentialHeader())
        .isEqualTo(Authenticator.X_API_KEY);
    assertThat(auth.authenticate(onlyApiKey, null, false).toCompletableFuture().join().accepted())
        .as("OpenAI routes read x-litellm-api-key and Authorization only").isFalse();
    HttpHeaders both = headers("x-api-key", PROVIDER, "Authorization", "Bearer " + MASTER);
    var o = auth.authenticate(both, null, true).toCompletableFuture().join();
    assertThat(o.accepted()).isTrue();
    assertThat((Object) o.credentialHeader()).isEqualTo(HttpHeaderNames.AUTHORIZATION);
    HttpHeaders litellm = headers("x-api-key", PROVIDER, "x-litellm-api-key", MASTER);
    assertThat((Object) auth.authenticate(litellm, null, true).toCompletableFuture().join().credentialHeader())
        .isEqualTo(Authenticator.X_LITELLM_API_KEY);
  }

  @Test
  void byokFinding3_noCredentialHeaderRecordedMeansNoProviderKeyForwarded() {
    HttpHeaders h = headers("x-api-key", PROVIDER);
    assertThat((Object) HeaderRules.providerAuthorization(h, null, Credentials.none(auth), auth)).isNull();
  }

  @Test
  void byokFinding4_aCustomKeyHeaderStillLetsTheProviderKeyThrough() {
    // litellm_key_header_name: the caller authenticated by a header no fallback branch foresaw.
    AsciiString custom = AsciiString.of("x-my-sluice-key");
    HttpHeaders h = headers("x-my-sluice-key", MASTER, "X-Api-Key", PROVIDER);
    Credentials c = Credentials.of(h, custom, auth);
    assertThat((Object) HeaderRules.providerAuthorization(h, custom, c, auth)).hasToString("Bearer " + PROVIDER);
    // …but never the header that authenticated, and never a Sluice key.
    HttpHeaders viaApiKey = headers("x-api-key", MASTER);
    assertThat((Object) HeaderRules.providerAuthorization(viaApiKey, Authenticator.X_API_KEY,
        Credentials.of(viaApiKey, Authenticator.X_API_KEY, auth), auth)).isNull();
    HttpHeaders masterAsProvider = headers("x-litellm-api-key", "sk-other", "x-api-key", MASTER);
    assertThat((Object) HeaderRules.providerAuthorization(masterAsProvider, Authenticator.X_LITELLM_API_KEY,
        Credentials.of(masterAsProvider, Authenticator.X_LITELLM_API_KEY, auth), auth)).isNull();
  }

  @Test
  void anthropicErrorBodiesCarryTheTypeOfTheirStatus() {
    record Case(ProxyError error, String type) {}
    for (Case c : List.of(new Case(ProxyError.BAD_REQUEST, "invalid_request_error"),
        new Case(ProxyError.AUTH, "authentication_error"), new Case(ProxyError.FORBIDDEN, "permission_error"),
        new Case(ProxyError.NOT_FOUND, "not_found_error"), new Case(ProxyError.PAYLOAD_TOO_LARGE, "request_too_large"),
        new Case(ProxyError.RATE_LIMITED, "rate_limit_error"), new Case(ProxyError.INTERNAL, "api_error"),
        new Case(ProxyError.UPSTREAM_UNREACHABLE, "api_error"),
        new Case(ProxyError.UPSTREAM_POOL_EXHAUSTED, "overloaded_error"),
        new Case(ProxyError.UPSTREAM_TIMEOUT, "timeout_error"))) {
      ByteBuf b = c.error().json(ByteBufAllocator.DEFAULT, "m \"q\"", Route.Family.ANTHROPIC);
      try {
        assertThat(b.toString(StandardCharsets.UTF_8)).as(c.error().name())
            .isEqualTo("{\"type\":\"error\",\"error\":{\"type\":\"" + c.type() + "\",\"message\":\"m \\\"q\\\"\"}}");
      } finally {
        b.release();
      }
    }
    ByteBuf sse = ProxyError.UPSTREAM_BROKEN.sseEvents(ByteBufAllocator.DEFAULT, "gone", Route.Family.ANTHROPIC);
    try {
      assertThat(sse.toString(StandardCharsets.UTF_8)).isEqualTo(
          "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"gone\"}}\n\n");
    } finally {
      sse.release();
    }
    ByteBuf openai = ProxyError.AUTH.json(ByteBufAllocator.DEFAULT, "x", Route.Family.OPENAI);
    try {
      assertThat(openai.toString(StandardCharsets.UTF_8))
          .isEqualTo("{\"error\":{\"message\":\"x\",\"type\":\"auth_error\",\"param\":\"None\",\"code\":\"401\"}}");
    } finally {
      openai.release();
    }
  }

  @Test
  void countTokensIsRestatedForTokenizeAndOnlyTheCountIsReadBack() {
    ByteBuf in = io.netty.buffer.Unpooled.copiedBuffer("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
        + "\"text\",\"text\":\"hi\"},{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"sunny\"}]}],"
        + "\"model\":\"group\",\"system\":\"sys\"}", StandardCharsets.UTF_8);
    TokenCount.Request t = TokenCount.tokenizeRequest(ByteBufAllocator.DEFAULT, in, "group");
    try {
      String body = t.body().toString(StandardCharsets.UTF_8);
      assertThat(body).isEqualTo("{\"model\":\"group\",\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
          + "{\"role\":\"user\",\"content\":\"hi\\n{\\\"type\\\":\\\"tool_result\\\",\\\"tool_use_id\\\":\\\"t1\\\","
          + "\\\"content\\\":\\\"sunny\\\"}\"}]}");
      assertThat(body.substring(t.modelStart(), t.modelEnd())).isEqualTo("\"group\"");
    } finally {
      t.body().release();
      in.release();
    }
    ByteBuf notJson = io.netty.buffer.Unpooled.copiedBuffer("[1]", StandardCharsets.UTF_8);
    assertThat(TokenCount.tokenizeRequest(ByteBufAllocator.DEFAULT, notJson, "g")).isNull();
    notJson.release();

    TokenCount c = new TokenCount();
    for (String part : new String[] {"{\"cou", "nt\": 4", "2,\"max_model_len\":8192,\"tokens\":[1,2"}) {
      ByteBuf b = io.netty.buffer.Unpooled.copiedBuffer(part, StandardCharsets.UTF_8);
      c.feed(b);
      assertThat(b.readerIndex()).as("borrowed").isZero();
      b.release();
    }
    assertThat(c.count()).isEqualTo(42);
    assertThat(new TokenCount().count()).isEqualTo(-1);
  }
}
