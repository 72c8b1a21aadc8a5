package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.sluice.auth.Authenticator;
import io.sluice.auth.KeyStore;
import io.sluice.auth.UiSessions;
import io.sluice.management.ManagementApi;
import io.sluice.management.ManagementResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The admin UI's routes and its session cookie through the real pipeline, fed raw bytes: sign-in, the cookie's
 * attributes, CSRF and origin checks on writes, sign-out, the cookie never standing in for a key on LLM routes, and
 * the static files' security headers. (The browser-level test is bench's AdminUiBrowserTest.)
 */
class UiGatewayTest {
  static final String MASTER = GatewayPipelineTest.MASTER;
  private EmbeddedChannel ch;
  private UiSessions sessions;
  private final List<String> calls = new CopyOnWriteArrayList<>();

  @BeforeEach
  void open() {
    sessions = UiSessions.defaults();
    ManagementApi api = req -> {
      calls.add(req.method() + " " + req.path() + " as " + req.caller().role().wireName());
      return CompletableFuture.completedFuture(new ManagementResponse(200, "{\"ok\":true}".getBytes(
          StandardCharsets.UTF_8)));
    };
    GatewayContext base = GatewayPipelineTest.context(null, KeyStore.NONE, api);
    GatewayContext gw = new GatewayContext(base.server(), base.maxRequestBodyBytes(), base.defaultTimeout(),
        new Authenticator(io.sluice.config.Secret.of(MASTER), false, null, KeyStore.NONE, Clock.systemUTC()),
        base.registry(), base.pools(), "test", 2, Duration.ofSeconds(5), new Drain(), null,
        io.sluice.routing.Strategy.SIMPLE_SHUFFLE, api, Readiness.NO_DATABASE,
        io.sluice.routing.PassThroughTargets.NONE, Metering.NONE, AccessLog.NONE, null, sessions);
    ch = new EmbeddedChannel(new GatewayInitializer(gw));
  }

  @AfterEach
  void finish() {
    ch.finishAndReleaseAll();
    assertThat(ch.finishAndReleaseAll()).as("nothing left unread or unreleased").isFalse();
  }

  private String exchange(String raw) {
    ch.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1));
    ch.runPendingTasks();
    StringBuilder sb = new StringBuilder();
    ByteBuf b;
    while ((b = ch.readOutbound()) != null) {
      sb.append(b.toString(StandardCharsets.UTF_8));
      b.release();
    }
    return sb.toString();
  }

  private static String get(String path, String... headers) {
    return "GET " + path + " HTTP/1.1\r\nHost: sluice:4000\r\n" + String.join("", headers) + "\r\n";
  }

  private static String post(String path, String body, String... headers) {
    return "POST " + path + " HTTP/1.1\r\nHost: sluice:4000\r\nContent-Type: application/json\r\nContent-Length: "
        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n" + String.join("", headers) + "\r\n" + body;
  }

  record Signed(String cookie, String csrf) {
    String header() {
      return "Cookie: theme=dark; sluice_session=" + cookie + "\r\n";
    }

    String token() {
      return "X-Sluice-CSRF: " + csrf + "\r\n";
    }
  }

  private Signed signIn(String... headers) {
    String r = exchange(post("/ui/login", "{\"key\":\"" + MASTER + "\"}", headers));
    assertThat(r).startsWith("HTTP/1.1 200 OK");
    Matcher c = Pattern.compile("set-cookie: sluice_session=([A-Za-z0-9_-]+);").matcher(r);
    Matcher t = Pattern.compile("\"csrf_token\":\"([A-Za-z0-9_-]+)\"").matcher(r);
    assertThat(c.find()).as(r).isTrue();
    assertThat(t.find()).as(r).isTrue();
    return new Signed(c.group(1), t.group(1));
  }

  @Test
  void signingInWithTheMasterKeySetsAnHttpOnlyStrictCookieAndNeverEchoesTheKey() {
    String r = exchange(post("/ui/login", "{\"key\":\"" + MASTER + "\"}"));
    assertThat(r).startsWith("HTTP/1.1 200 OK").contains("HttpOnly").contains("SameSite=Strict").contains("Path=/")
        .contains("Max-Age=28800").doesNotContain("Secure").doesNotContain(MASTER)
        .contains("\"role\":\"proxy_admin\"").contains("\"read_only\":false").contains("cache-control: no-store");
    assertThat(sessions.size()).isEqualTo(1);
    String tls = exchange(post("/ui/login", "{\"key\":\"" + MASTER + "\"}", "X-Forwarded-Proto: https\r\n"));
    assertThat(tls).as("behind a TLS-terminating proxy the cookie is Secure").contains("; Secure");
  }

  @Test
  void badSignInsAreRefusedInLiteLLMsShape() {
    assertThat(exchange(post("/ui/login", "{\"key\":\"wrong\"}"))).startsWith("HTTP/1.1 401")
        .contains("\"type\":\"auth_error\"").doesNotContain("set-cookie");
    assertThat(exchange(post("/ui/login", "{\"key\":\"sk-unknown\"}"))).startsWith("HTTP/1.1 401")
        .contains("Invalid proxy server token");
    assertThat(exchange(post("/ui/login", "not json"))).startsWith("HTTP/1.1 400").contains("\"param\":\"None\"");
    assertThat(exchange(get("/ui/login"))).startsWith("HTTP/1.1 405");
    assertThat(exchange(post("/ui/login", "{\"key\":\"" + MASTER + "\"}", "Origin: https://evil.example\r\n")))
        .as("login CSRF").startsWith("HTTP/1.1 403").doesNotContain("set-cookie");
    assertThat(sessions.size()).isZero();
    assertThat(exchange(post("/ui/login", "{\"key\":\"" + "x".repeat(9000) + "\"}"))).startsWith("HTTP/1.1 413");
  }

  @Test
  void theCookieAuthenticatesTheUisReadsAndWritesOnlyWithItsCsrfToken() {
    Signed s = signIn();
    assertThat(exchange(get("/key/list", s.header()))).as("a read needs no token").startsWith("HTTP/1.1 200");
    assertThat(exchange(post("/key/generate", "{}", s.header()))).startsWith("HTTP/1.1 403")
        .contains("CSRF check failed");
    assertThat(exchange(post("/key/generate", "{}", s.header(), "X-Sluice-CSRF: wrong\r\n")))
        .startsWith("HTTP/1.1 403");
    assertThat(exchange(post("/key/generate", "{}", s.header(), s.token(), "Origin: http://evil.example\r\n")))
        .startsWith("HTTP/1.1 403").contains("Cross-site request refused");
    assertThat(exchange(post("/key/generate", "{}", s.header(), s.token(), "Sec-Fetch-Site: cross-site\r\n")))
        .startsWith("HTTP/1.1 403");
    assertThat(exchange(post("/key/generate", "{}", s.header(), s.token(), "Origin: http://sluice:4000\r\n",
        "Sec-Fetch-Site: same-origin\r\n"))).startsWith("HTTP/1.1 200");
    assertThat(calls).containsExactly("GET /key/list as proxy_admin", "POST /key/generate as proxy_admin");
    assertThat(exchange(get("/ui/api/deployments", s.header()))).startsWith("HTTP/1.1 200")
        .contains("\"model_id\":\"dep-a\"").contains("\"state\":\"healthy\"").contains("\"in_flight\":0")
        .doesNotContain("replica-SECRET-key");
  }

  @Test
  void theCookieNeverStandsInForAKeyOnLlmRoutesAndAKeyHeaderWins() {
    Signed s = signIn();
    assertThat(exchange(post("/v1/chat/completions", "{\"model\":\"llama\"}", s.header(), s.token())))
        .startsWith("HTTP/1.1 401").contains("No api key passed in");
    assertThat(exchange(get("/key/list", s.header(), "Authorization: Bearer sk-wrong\r\n")))
        .as("a key header decides, not the cookie").startsWith("HTTP/1.1 401");
  }

  @Test
  void signingOutEndsTheSessionOnTheServer() {
    Signed s = signIn();
    assertThat(exchange(post("/ui/logout", "{}", s.header()))).as("sign-out needs the token too")
        .startsWith("HTTP/1.1 403");
    String out = exchange(post("/ui/logout", "{}", s.header(), s.token()));
    assertThat(out).startsWith("HTTP/1.1 200").contains("sluice_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    assertThat(exchange(get("/key/list", s.header()))).startsWith("HTTP/1.1 401").contains("sign in again");
    assertThat(exchange(get("/ui/session", s.header()))).startsWith("HTTP/1.1 401");
    assertThat(calls).isEmpty();
  }

  @Test
  void staticFilesComeFromTheJarWithSecurityHeaders() {
    String index = exchange(get("/ui"));
    assertThat(index).startsWith("HTTP/1.1 200").contains("content-type: text/html")
        .contains("content-security-policy: default-src 'none'; script-src 'self'")
        .contains("x-frame-options: DENY").contains("x-content-type-options: nosniff")
        .contains("<script type=\"module\" src=\"/ui/app.js\">");
    assertThat(exchange(get("/ui/app.js"))).startsWith("HTTP/1.1 200").contains("content-type: text/javascript");
    assertThat(exchange(get("/ui/style.css"))).startsWith("HTTP/1.1 200").contains("content-type: text/css");
    assertThat(exchange(get("/ui/missing.js"))).startsWith("HTTP/1.1 404");
    assertThat(exchange(get("/ui/META-INF%2fMANIFEST.MF"))).startsWith("HTTP/1.1 4");
    assertThat(exchange(get("/ui/Index.HTML"))).as("only known file names").startsWith("HTTP/1.1 404");
    assertThat(exchange(post("/ui/app.js", "{}"))).startsWith("HTTP/1.1 405");
    assertThat(exchange(get("/ui/api/deployments"))).as("no cookie, no key").startsWith("HTTP/1.1 401");
  }
}
