package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.fake.RecordedRequest;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.PassThroughEndpoint;
import io.sluice.config.PassThroughSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.server.SluiceServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 13: the ten findings of the attack run, each a named regression with real sockets — Sluice, two fake vLLM
 * replicas, a fake default vLLM target and a replica that misbehaves on purpose ({@link ScriptedUpstream}) on
 * ephemeral ports, with the admin plane on a real PostgreSQL. Each test fails on the code before the fix.
 */
class SecurityRegressionTest {
  static final String MASTER = "sk-master-SEC-SECRET-0001";
  static final String REPLICA_KEY = "replica-SEC-SECRET";
  static final String OTHER_KEY = "other-replica-SEC-SECRET";
  static final String DEFAULT_KEY = "vllm-default-SEC-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final String OTHER_SERVED = "Qwen/Qwen2-7B";
  static final ObjectMapper JSON = new ObjectMapper();
  static final Duration READ_TIMEOUT = Duration.ofSeconds(2);

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;      // model group "llama" (served as SERVED), --api-key REPLICA_KEY
  static FakeVllm other;     // model group "other", --api-key OTHER_KEY
  static FakeVllm open;      // VLLM_API_BASE (the /vllm/* default) and the configured pass-through targets
  static ScriptedUpstream evil; // model group "evil"
  static SluiceServer sluice;
  static String userKey;     // an internal_user's virtual key, no model list
  static String llamaOnly;   // {"models":["llama"]}

  @BeforeAll
  static void start() throws Exception {
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).apiKey(REPLICA_KEY).tokens(3)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    other = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(OTHER_SERVED).apiKey(OTHER_KEY).tokens(3)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    open = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(3)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    evil = new ScriptedUpstream();
    List<DeploymentConfig> models = List.of(
        Gateway.vllm("llama", SERVED, fake, REPLICA_KEY, "replica-llama"),
        Gateway.vllm("other", OTHER_SERVED, other, OTHER_KEY, "replica-other"),
        evil("evil-1"), evil("evil-2"), evil("evil-3"), evil("evil-4"), evil("evil-5"),
        Gateway.vllm("evil-renamed", "evil", evil.port(), null, null, "replica-evil-renamed"));
    URI openRoot = URI.create("http://127.0.0.1:" + open.port());
    PassThroughSettings pt = new PassThroughSettings(List.of(
        new PassThroughEndpoint("/ptfwd", openRoot, true, Map.of(), null, true, true, List.of(), Map.of()),
        new PassThroughEndpoint("/ptkey", openRoot, true, Map.of(), "x-my-key", true, true, List.of(), Map.of()),
        new PassThroughEndpoint("/ptroot", openRoot, true, Map.of(), null, false, true, List.of(), Map.of())),
        openRoot, Secret.of(DEFAULT_KEY), null, true);
    ServerSettings d = ServerSettings.defaults();
    ServerSettings server = new ServerSettings(d.maxUriLength(), d.maxHeaderSize(), READ_TIMEOUT, d.idleTimeout(),
        d.connectTimeout(), d.upstreamIdleTimeout(), d.maxConnectionsPerReplica(), d.maxIdlePerReplica(),
        d.limitsFailClosed());
    sluice = Gateway.builder(MASTER).models(models).server(server).passThrough(pt).database(db.litellmUrl()).start();
    userKey = json(send("POST", "/user/new", MASTER, "{\"user_id\":\"sec-user\",\"user_role\":\"internal_user\"}"))
        .get("key").asText();
    llamaOnly = generate("{\"models\":[\"llama\"]}");
  }

  /** A group of its own per misbehaving request: each failure cools its replica down. */
  /** The scripted replica as {@code group}, serving a model of that name (its answers need no restamp). */
  static DeploymentConfig evil(String group) {
    return Gateway.vllm(group, group, evil.port(), null, null, "replica-" + group);
  }

  @AfterAll
  static void stop() throws IOException {
    if (sluice != null) {
      sluice.close();
    }
    for (FakeVllm f : new FakeVllm[] {fake, other, open}) {
      if (f != null) {
        f.close();
      }
    }
    if (evil != null) {
      evil.close();
    }
    if (db != null) {
      db.close();
    }
  }

  @BeforeEach
  void reset() {
    fake.clearRequests();
    other.clearRequests();
    open.clearRequests();
  }

  static java.net.http.HttpResponse<String> send(String method, String path, String key, String body,
      String... headers) throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), method, path, key, body, headers);
  }

  static JsonNode json(java.net.http.HttpResponse<String> r) throws IOException {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  static String generate(String body) throws Exception {
    return json(send("POST", "/key/generate", MASTER, body)).get("key").asText();
  }

  /** Every header the upstream received, as one text: what a grep for a secret runs over. */
  static String headersOf(RecordedRequest r) {
    StringBuilder sb = new StringBuilder();
    r.headers().forEach(e -> sb.append(e.getKey()).append(": ").append(e.getValue()).append('\n'));
    return sb.toString();
  }

  // ---- 1. no Sluice credential ever leaves, whichever header carries it, on every route class

  record RouteCase(String name, String method, String path, String body, FakeVllm target, boolean llm,
      boolean ownKeyHeader) {}

  @Test
  void finding1_noSluiceCredentialReachesAnUpstreamInAnyHeaderOnAnyRouteClass() throws Exception {
    String chat = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    List<RouteCase> routes = List.of(
        new RouteCase("llm + BYOK", "POST", "/v1/chat/completions", chat, fake, true, false),
        new RouteCase("/vllm/*", "POST", "/vllm/v1/chat/completions", chat, fake, true, false),
        new RouteCase("/vllm default target", "GET", "/vllm/metrics", null, open, false, false),
        new RouteCase("pass-through forward_headers", "GET", "/ptfwd/x", null, open, false, false),
        new RouteCase("pass-through litellm_user_api_key", "GET", "/ptkey/x", null, open, false, true));
    int checked = 0;
    for (String key : new String[] {MASTER, userKey}) {
      String second = generate("{}"); // a valid key this node has not seen yet, presented next to the caller's
      for (RouteCase rc : routes) {
        String auth = rc.ownKeyHeader ? "x-my-key" : "x-litellm-api-key";
        List<String[]> combos = new ArrayList<>();
        combos.add(new String[] {auth, key, "Authorization", "Bearer " + key});
        combos.add(new String[] {auth, key, "x-custom-trace", key, "Cookie", "session=" + key + "; theme=dark"});
        combos.add(new String[] {auth, key, "Authorization", "Bearer " + second});
        combos.add(new String[] {auth, key, "x-api-key", key, "api-key", "Bearer " + second});
        if (!rc.ownKeyHeader) {
          combos.add(new String[] {"Authorization", "Bearer " + key, "x-api-key", key});
          combos.add(new String[] {"Authorization", "Bearer " + key, "x-litellm-api-key", "Bearer " + key});
        }
        for (String[] headers : combos) {
          rc.target.clearRequests();
          var r = send(rc.method, rc.path, null, rc.body, headers);
          String what = rc.name + " with " + String.join(" | ", headers).replace(key, "<key>").replace(second, "<2nd>");
          assertThat(r.statusCode()).as(what + ": " + r.body()).isLessThan(500).isNotIn(401, 403);
          assertThat(rc.target.requests()).as(what).hasSize(1);
          RecordedRequest up = rc.target.requests().get(0);
          String seen = headersOf(up);
          assertThat(seen).as(what + ": the caller's key").doesNotContain(key);
          assertThat(seen).as(what + ": the master key").doesNotContain(MASTER);
          assertThat(seen).as(what + ": another valid key presented").doesNotContain(second);
          if (rc.llm) {
            assertThat(up.headers().get("Authorization")).as(what).isEqualTo("Bearer " + REPLICA_KEY);
          }
          checked++;
        }
      }
    }
    assertThat(checked).isEqualTo(2 * (4 * 6 + 1 * 4));
    // A client provider key (BYOK) is still what it was: forwarded when it is not a Sluice credential.
    var byok = send("POST", "/v1/chat/completions", null, chat, "x-litellm-api-key", userKey, "x-api-key", REPLICA_KEY);
    assertThat(byok.statusCode()).as(byok.body()).isEqualTo(200);
    assertThat(fake.requests().get(fake.requests().size() - 1).headers().get("Authorization"))
        .isEqualTo("Bearer " + REPLICA_KEY);
  }

  // ---- 2. a key's models allow-list holds on /vllm/* too

  @Test
  void finding2_aModelRestrictedKeyReachesOnlyItsGroupsThroughVllm() throws Exception {
    String[] refused = {"{\"model\":\"" + SERVED + "\",\"prompt\":\"x\"}", "{\"prompt\":\"no model\"}",
        "{\"model\":\"" + OTHER_SERVED + "\",\"prompt\":\"x\"}", "{\"model\":\"other\",\"prompt\":\"x\"}", "not json"};
    for (String body : refused) {
      var r = send("POST", "/vllm/v1/completions", llamaOnly, body);
      assertThat(r.statusCode()).as(body + ": " + r.body()).isEqualTo(401);
      assertThat(r.body()).contains("key_model_access_denied").contains("['llama']").contains("\"param\":\"model\"");
    }
    var dup = send("POST", "/vllm/v1/chat/completions", llamaOnly, "{\"model\":\"llama\",\"model\":\"other\"}");
    assertThat(dup.statusCode()).as(dup.body()).isEqualTo(400);
    assertThat(dup.body()).contains("more than one top-level \\\"model\\\"");
    assertThat(send("GET", "/vllm/metrics", llamaOnly, null).statusCode()).as("the default target's group")
        .isEqualTo(401);
    assertThat(open.requests()).as("nothing reached the default target").isEmpty();
    assertThat(other.requests()).as("nothing reached the other group's replica").isEmpty();

    var ok = send("POST", "/vllm/v1/completions", llamaOnly, "{\"model\":\"llama\",\"prompt\":\"x\"}");
    assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
    assertThat(fake.requests()).hasSize(1);
    String withDefault = generate("{\"models\":[\"llama\",\"VLLM_API_BASE\"]}");
    assertThat(send("GET", "/vllm/metrics", withDefault, null).statusCode())
        .as("a key allowed the default target's group may use it").isEqualTo(200);
    assertThat(send("POST", "/vllm/v1/completions", userKey, "{\"model\":\"" + SERVED + "\",\"prompt\":\"x\"}")
        .statusCode()).as("an unrestricted key still reaches the default target").isEqualTo(200);
    var mainDup = send("POST", "/v1/chat/completions", userKey, "{\"model\":\"llama\",\"model\":\"other\"}");
    assertThat(mainDup.statusCode()).as("as on the main routes").isEqualTo(400);
  }

  // ---- 3. a length-delimited response cut short closes the client connection, nothing written past it

  @Test
  void finding3_anSseResponseFramedByContentLengthAndCutShortClosesTheConnection() throws Exception {
    String event = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
        + "\"delta\":{\"content\":\"a\"}}]}\n\n";
    evil.script("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 2147483648\r\n\r\n" + event);
    try (RawHttp c = new RawHttp(sluice.port())) {
      c.send("POST", "/v1/chat/completions", "{\"model\":\"evil-1\",\"stream\":true}", "Authorization: Bearer " + MASTER);
      int[] status = new int[1];
      var h = c.readHead(status);
      assertThat(status[0]).isEqualTo(200);
      assertThat(h.get("content-length")).isEqualTo("2147483648");
      String rest = readToEof(c.in());
      assertThat(rest).as("the event, then the connection closes: nothing inside the declared body").isEqualTo(event);
    }
    // Same for any length-delimited response: a JSON body cut short.
    evil.script("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"id\":\"x\"");
    try (RawHttp c = new RawHttp(sluice.port())) {
      c.send("POST", "/v1/chat/completions", "{\"model\":\"evil-2\"}", "Authorization: Bearer " + MASTER);
      int[] status = new int[1];
      c.readHead(status);
      assertThat(readToEof(c.in())).isEqualTo("{\"id\":\"x\"");
    }
    // Restamped (the client's model name differs from the replica's): the length changes, so the answer is chunked,
    // and a body cut short still closes the connection without the last chunk, so the client sees it incomplete.
    evil.script("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
        + "{\"id\":\"x\",\"model\":\"evil\"");
    try (RawHttp c = new RawHttp(sluice.port())) {
      c.send("POST", "/v1/chat/completions", "{\"model\":\"evil-renamed\"}", "Authorization: Bearer " + MASTER);
      int[] status = new int[1];
      var h = c.readHead(status);
      assertThat(h.get("transfer-encoding")).isEqualTo("chunked");
      String rest = readToEof(c.in());
      assertThat(rest).contains("{\"id\":\"x\",\"model\":\"evil-renamed\"").doesNotContain("\r\n0\r\n");
    }
  }

  /** Reads until the peer closes; fails if it keeps the connection open (read timeout). */
  static String readToEof(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    try {
      int n;
      while ((n = in.read(buf)) != -1) {
        b.write(buf, 0, n);
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("connection still open after: " + b.toString(StandardCharsets.UTF_8), e);
    }
    return b.toString(StandardCharsets.UTF_8);
  }

  // ---- 4. after an early answer, the body limit and the read timeout still apply

  @Test
  void finding4_aRefusedBodyIsDrainedOnlyUpToABoundAndWithinTheReadTimeout() throws Exception {
    try (RawHttp c = new RawHttp(sluice.port())) {
      OutputStream out = c.socket.getOutputStream();
      out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      assertThat(c.read().status()).as("no key: 401 at once").isEqualTo(401);
      byte[] chunk = ("10000\r\n" + "a".repeat(65536) + "\r\n").getBytes(StandardCharsets.US_ASCII);
      long sent = 0;
      try {
        for (int i = 0; i < 800; i++) { // up to 50 MiB
          out.write(chunk);
          sent += chunk.length;
        }
        out.flush();
        assertThat(readToEof(c.in())).isEmpty();
      } catch (IOException closed) {
        // the connection was closed under the writer: what we want
      }
      assertThat(sent).as("closed long before 50 MiB").isLessThan(16L << 20);
    }
    try (RawHttp c = new RawHttp(sluice.port())) {
      OutputStream out = c.socket.getOutputStream();
      out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + MASTER
          + "\r\nContent-Length: 10000000\r\n\r\n{\"model\":x").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      assertThat(c.read().status()).as("bad JSON: 400 before the body is whole").isEqualTo(400);
      long start = System.nanoTime();
      boolean closed = false;
      try {
        for (int i = 0; i < 40 && !closed; i++) { // a trickle well under the drain bound, for up to 10 s
          out.write(new byte[1024]);
          out.flush();
          Thread.sleep(250);
          c.socket.setSoTimeout(1);
          try {
            closed = c.in().read() == -1;
          } catch (SocketTimeoutException stillOpen) {
            // not yet
          }
        }
      } catch (IOException e) {
        closed = true;
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertThat(closed).as("cut off").isTrue();
      assertThat(ms).as("at request_read_timeout (2 s), not never").isLessThan(6000);
    }
  }

  // ---- 5. a slow request head gets its 408 at request_read_timeout

  @Test
  void finding5_aRequestHeadSentAByteAtATimeIs408AtRequestReadTimeout() throws Exception {
    try (RawHttp c = new RawHttp(sluice.port())) {
      OutputStream out = c.socket.getOutputStream();
      byte[] head = "GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
      long start = System.nanoTime();
      int status = 0;
      try {
        for (int i = 0; i < head.length - 2; i++) {
          out.write(head[i]);
          out.flush();
          Thread.sleep(200);
          if (c.in().available() > 0) {
            break;
          }
        }
        status = c.read().status();
      } catch (IOException e) {
        throw new AssertionError("closed without a 408", e);
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertThat(status).isEqualTo(408);
      assertThat(ms).as("request_read_timeout is 2 s; idle_timeout would be 75 s").isBetween(1500L, 6000L);
      try {
        assertThat(c.in().read()).as("then closed").isEqualTo(-1);
      } catch (java.net.SocketException reset) {
        // closed while our next byte was on its way: reset, also closed
      }
    }
  }

  // ---- 6. a replica dying mid-event never glues the error event onto half an event

  @Test
  void finding6_aPartialEventIsNeverForwardedBeforeTheErrorEvent() throws Exception {
    String whole = "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
        + "\"delta\":{\"content\":\"a\"}}]}\n\n";
    String partial = "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"choi";
    evil.script("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        + ScriptedUpstream.chunk(whole) + ScriptedUpstream.chunk(partial));
    int group = 3;
    for (String streamOptions : new String[] {",\"stream_options\":{\"include_usage\":true}", ""}) {
      try (RawHttp c = new RawHttp(sluice.port())) {
        var r = c.exchange("POST", "/v1/chat/completions", "{\"model\":\"evil-" + (group++) + "\",\"stream\":true"
            + streamOptions + "}",
            "Authorization: Bearer " + MASTER);
        assertThat(r.status()).isEqualTo(200);
        List<String> events = r.events();
        assertThat(r.bodyText()).as(streamOptions).doesNotContain("choidata");
        assertThat(events).as(streamOptions).hasSize(3);
        assertThat(events.get(0)).isEqualTo(whole.trim());
        assertThat(JSON.readTree(events.get(1).substring(6)).path("error").path("message").asText())
            .contains("mid-response");
        assertThat(events.get(2)).isEqualTo("data: [DONE]");
        for (String e : events.subList(0, 2)) {
          JSON.readTree(e.substring("data: ".length())); // every event parses
        }
      }
    }
  }

  /**
   * Issue 18: a relayed stream leaves as the replica's bytes — its field lines less the hop-by-hop ones and those
   * Sluice sets (x-request-id), and its chunk framing, extensions included — while the usage event Sluice asked for
   * on the client's behalf is still left out (its own chunk, dropped whole).
   */
  @Test
  void relayedChunksAreTheReplicasBytesAndTheUsageChunkSluiceAskedForIsLeftOut() throws Exception {
    String e1 = "data: {\"id\":\"chatcmpl-r\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
        + "\"delta\":{\"content\":\"a\"}}]}\n\n";
    String usage = "data: {\"id\":\"chatcmpl-r\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
        + "\"usage\":{\"prompt_tokens\":5,\"total_tokens\":6,\"completion_tokens\":1}}\n\n";
    String done = "data: [DONE]\n\n";
    String c1 = Integer.toHexString(e1.length()).toUpperCase(java.util.Locale.ROOT) + ";n=1\r\n" + e1 + "\r\n";
    evil.script("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nX-Request-Id: replica-id\r\n"
        + "Keep-Alive: timeout=5\r\nConnection: keep-alive\r\nX-Replica-Header: Kept  As Is\r\n"
        + "transfer-encoding: chunked\r\n\r\n" + c1 + ScriptedUpstream.chunk(usage) + ScriptedUpstream.chunk(done) + "0\r\n\r\n");
    String body = "{\"model\":\"evil-5\",\"stream\":true}";
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", sluice.port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + MASTER
          + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + body.length() + "\r\n\r\n"
          + body).getBytes(java.nio.charset.StandardCharsets.UTF_8));
      String raw = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      String wire = raw.substring(raw.indexOf("\r\n\r\n") + 4);
      String head = raw.substring(0, raw.indexOf("\r\n\r\n") + 2);
      assertThat(head).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked\r\n")
          .contains("\r\nX-Replica-Header: Kept  As Is\r\n", "\r\ncontent-type: text/event-stream\r\n")
          .containsPattern("\r\nx-request-id: [0-9a-f]{32}\r\n").doesNotContain("replica-id")
          .doesNotContainIgnoringCase("keep-alive").containsIgnoringCase("\r\nconnection: close\r\n");
      assertThat(wire).as("the replica's chunks, extension and upper-case size included, then the end")
          .isEqualTo(c1 + ScriptedUpstream.chunk(done) + "0\r\n\r\n");
    }
  }

  // ---- 7. an empty pass-through path is sent as "/", never as "?x=1"

  @Test
  void finding7_anEmptyUpstreamPathIsSlashInOriginForm() throws Exception {
    assertThat(send("GET", "/vllm?x=1", MASTER, null).statusCode()).isLessThan(500);
    assertThat(open.requests().get(0).uri()).isEqualTo("/?x=1");
    open.clearRequests();
    assertThat(send("GET", "/ptroot?x=1", MASTER, null).statusCode()).isLessThan(500);
    assertThat(open.requests().get(0).uri()).isEqualTo("/?x=1");
  }

  // ---- 8. transfer codings Sluice does not implement are 501, on every route

  @Test
  void finding8_transferCodingsOtherThanChunkedAre501OnEveryRoute() throws Exception {
    for (String path : new String[] {"/ptfwd/x", "/vllm/v1/completions", "/v1/chat/completions"}) {
      try (RawHttp c = new RawHttp(sluice.port())) {
        OutputStream out = c.socket.getOutputStream();
        out.write(("POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + MASTER
            + "\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        var r = c.read();
        assertThat(r.status()).as(path).isEqualTo(501);
        assertThat(r.bodyText()).contains("gzip, chunked").contains("only chunked");
        assertThat(readToEof(c.in())).isEmpty();
      }
    }
    assertThat(open.requests()).as("the gzip bytes went nowhere").isEmpty();
    assertThat(fake.requests()).isEmpty();
  }

  // ---- 9. every ill-formed UTF-8 sequence in a scanned body is 400

  @Test
  void finding9_illFormedUtf8IsRefusedOnTheBodiesSluiceScans() throws Exception {
    byte[][] bad = {{(byte) 0xC0, (byte) 0xAE, (byte) 0xC0, (byte) 0xAE}, {(byte) 0xED, (byte) 0xA0, (byte) 0x80},
        {(byte) 0xFF}};
    for (String path : new String[] {"/v1/chat/completions", "/vllm/v1/chat/completions"}) {
      for (byte[] b : bad) {
        try (RawHttp c = new RawHttp(sluice.port())) {
          byte[] body = concat("{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"", b, "\"}]}");
          OutputStream out = c.socket.getOutputStream();
          out.write(("POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + MASTER
              + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
          out.write(body);
          out.flush();
          var r = c.read();
          assertThat(r.status()).as(path).isEqualTo(400);
          assertThat(r.bodyText()).contains("UTF-8");
        }
      }
    }
    assertThat(fake.requests()).as("nothing ill-formed was forwarded").isEmpty();
    var emoji = send("POST", "/v1/chat/completions", MASTER,
        "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\u00e9 \uD83D\uDE00\"}]}");
    assertThat(emoji.statusCode()).as("well-formed UTF-8 passes").isEqualTo(200);
  }

  static byte[] concat(String a, byte[] b, String c) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(a.getBytes(StandardCharsets.UTF_8));
    out.writeBytes(b);
    out.writeBytes(c.getBytes(StandardCharsets.UTF_8));
    return out.toByteArray();
  }

  // ---- 10. a pass-through entry without auth is public: a start-up WARN says so (sluice check too: CheckCommandTest)

  @Test
  void finding10_aPublicPassThroughRouteIsAStartUpWarning() throws Exception {
    PassThroughSettings pt = new PassThroughSettings(List.of(new PassThroughEndpoint("/pub",
        URI.create("http://127.0.0.1:" + open.port() + "/?token=" + DEFAULT_KEY), false, Map.of(), null, false, false,
        List.of(), Map.of())), null, null, null, false);
    String logged = VirtualKeyE2ETestSupport.captureLogs(() -> Gateway.builder(MASTER).passThrough(pt).start()
        .close());
    assertThat(logged).contains("pass-through route /pub is public").contains("auth: true")
        .doesNotContain(DEFAULT_KEY);
  }

  // ---- issue 14, finding 1: an admin call with a cold key keeps its body

  @Test
  void issue14_everyAdminWriteWithAColdKeyKeepsItsBody() throws Exception {
    // Each call is made with a fresh proxy_admin key this node has never looked up.
    var gen = send("POST", "/key/generate", coldAdmin(), "{\"models\":[\"llama\"],\"max_budget\":2.5,"
        + "\"key_alias\":\"cold-alias\",\"rpm_limit\":7}");
    JsonNode k = json(gen);
    assertThat(k.get("models").toString()).isEqualTo("[\"llama\"]");
    assertThat(k.get("max_budget").asDouble()).isEqualTo(2.5);
    assertThat(k.get("key_alias").asText()).isEqualTo("cold-alias");
    String minted = k.get("key").asText();
    assertThat(send("POST", "/v1/chat/completions", minted, "{\"model\":\"other\",\"messages\":[]}").statusCode())
        .as("the minted key is restricted as asked").isEqualTo(401);

    JsonNode upd = json(send("POST", "/key/update", coldAdmin(), "{\"key\":\"" + minted + "\",\"max_budget\":9}"));
    assertThat(upd.toString()).contains("9");
    JsonNode info = json(send("GET", "/key/info?key=" + minted, MASTER, null));
    assertThat(info.path("info").path("max_budget").asDouble()).isEqualTo(9.0);
    json(send("POST", "/key/block", coldAdmin(), "{\"key\":\"" + minted + "\"}"));
    json(send("POST", "/key/unblock", coldAdmin(), "{\"key\":\"" + minted + "\"}"));
    JsonNode user = json(send("POST", "/user/new", coldAdmin(), "{\"user_id\":\"cold-made\",\"max_budget\":3}"));
    assertThat(user.get("user_id").asText()).isEqualTo("cold-made");
    JsonNode team = json(send("POST", "/team/new", coldAdmin(), "{\"team_alias\":\"cold-team\",\"models\":[\"llama\"]}"));
    assertThat(team.get("team_alias").asText()).isEqualTo("cold-team");
    json(send("POST", "/key/delete", coldAdmin(), "{\"keys\":[\"" + minted + "\"]}"));
    assertThat(send("POST", "/v1/chat/completions", minted, "{\"model\":\"llama\",\"messages\":[]}").statusCode())
        .isEqualTo(401);
  }

  static int admins;

  /** A new proxy_admin user's key: never looked up by this node yet. */
  static String coldAdmin() throws Exception {
    return json(send("POST", "/user/new", MASTER, "{\"user_id\":\"cold-admin-" + (admins++)
        + "\",\"user_role\":\"proxy_admin\"}")).get("key").asText();
  }

  /** A body relayed after the async key lookup reaches the replica byte for byte (a model-routed route too). */
  @Test
  void issue14_aBodyRelayedAfterAColdKeyLookupArrivesByteForByte() throws Exception {
    String key = generate("{\"rpm_limit\":1000}");
    String body = "{\"model\":\"" + SERVED + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(20000)
        + "\"}],\"temperature\":0.5}";
    // The group name here is the upstream name, so the relayed body is the client's body exactly.
    var add = send("POST", "/model/new", MASTER, "{\"model_name\":\"" + SERVED + "\",\"litellm_params\":{\"model\":"
        + "\"hosted_vllm/" + SERVED + "\",\"api_base\":\"http://127.0.0.1:" + fake.port() + "/v1\",\"api_key\":\""
        + REPLICA_KEY + "\"},\"model_info\":{\"id\":\"same-name\"}}");
    assertThat(add.statusCode()).as(add.body()).isEqualTo(200);
    var r = send("POST", "/v1/chat/completions", key, body);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(fake.requests().get(0).body()).isEqualTo(body);
    fake.clearRequests();
    String key2 = generate("{}");
    var viaVllm = send("POST", "/vllm/v1/chat/completions", key2, body);
    assertThat(viaVllm.statusCode()).as(viaVllm.body()).isEqualTo(200);
    assertThat(fake.requests().get(0).body()).isEqualTo(body);
  }
}
