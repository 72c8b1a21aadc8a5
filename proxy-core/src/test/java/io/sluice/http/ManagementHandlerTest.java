package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.sluice.auth.KeyStore;
import io.sluice.auth.Principal;
import io.sluice.management.ManagementApi;
import io.sluice.management.ManagementRequest;
import io.sluice.management.ManagementResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Management routes reach the admin plane's port with the caller and the whole body, and answer on the loop. */
class ManagementHandlerTest {
  private final AtomicReference<ManagementRequest> seen = new AtomicReference<>();
  private final AtomicReference<CompletableFuture<ManagementResponse>> pending = new AtomicReference<>();
  private final ManagementApi api = req -> {
    seen.set(req);
    CompletableFuture<ManagementResponse> f = new CompletableFuture<>();
    pending.set(f);
    return f;
  };
  private EmbeddedChannel ch;

  @AfterEach
  void finish() {
    if (ch != null) {
      ch.finishAndReleaseAll();
    }
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

  private void write(String raw) {
    ch.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1));
  }

  private void answer(int status, String json) throws Exception {
    Thread t = new Thread(() -> pending.get().complete(
        new ManagementResponse(status, json.getBytes(StandardCharsets.UTF_8))));
    t.start();
    t.join();
    ch.runPendingTasks();
  }

  @Test
  void aChunkedBodyArrivesWholeWithTheCallerAndTheAnswerIsWrittenOnTheLoop() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, KeyStore.NONE, api)));
    write("POST /key/generate?x=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + GatewayPipelineTest.MASTER
        + "\r\nlitellm-changed-by: alice\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{\"key_\r\n");
    assertThat(seen.get()).as("not called before the body is complete").isNull();
    write("c\r\nalias\":\"ci\"}\r\n0\r\n\r\n");
    ManagementRequest req = seen.get();
    assertThat(req.method()).isEqualTo("POST");
    assertThat(req.path()).isEqualTo("/key/generate");
    assertThat(req.queryParam("x")).isEqualTo("1");
    assertThat(new String(req.body(), StandardCharsets.UTF_8)).isEqualTo("{\"key_alias\":\"ci\"}");
    assertThat(req.caller()).isSameAs(Principal.MASTER);
    assertThat(req.changedBy()).isEqualTo("alice");
    assertThat(drain()).isEmpty();
    answer(200, "{\"ok\":true}");
    assertThat(drain()).startsWith("HTTP/1.1 200").contains("application/json").endsWith("{\"ok\":true}");
  }

  @Test
  void keyInThePathRoutesToManagementAndNeedsACredential() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, KeyStore.NONE, api)));
    write("POST /key/sk-secret-123/regenerate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assertThat(drain()).startsWith("HTTP/1.1 401");
    assertThat(seen.get()).isNull();
    write("POST /key/sk-secret-123/regenerate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + GatewayPipelineTest.MASTER + "\r\nContent-Length: 0\r\n\r\n");
    assertThat(seen.get().path()).isEqualTo("/key/sk-secret-123/regenerate");
    answer(404, "{}");
    assertThat(drain()).startsWith("HTTP/1.1 404");
  }

  @Test
  void withoutADatabaseManagementRoutesSayNoConnectedDb() {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, KeyStore.NONE)));
    write("GET /key/info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + GatewayPipelineTest.MASTER + "\r\n\r\n");
    ch.runPendingTasks();
    assertThat(drain()).startsWith("HTTP/1.1 400").contains("no_db_connection");
  }

  @Test
  void aFailedCallIs500WithoutDetailsAndTheClientLeavingMidBodyLeaksNothing() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, KeyStore.NONE, api)));
    write("POST /user/new HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + GatewayPipelineTest.MASTER
        + "\r\nContent-Length: 2\r\n\r\n{}");
    Thread t = new Thread(() -> pending.get().completeExceptionally(new IllegalStateException("db password=x")));
    t.start();
    t.join();
    ch.runPendingTasks();
    assertThat(drain()).startsWith("HTTP/1.1 500").contains("internal_server_error").doesNotContain("password");
    write("POST /user/new HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + GatewayPipelineTest.MASTER
        + "\r\nContent-Length: 20\r\n\r\n{\"user");
    ch.close();
  }

  /**
   * Issue 14, finding 1: a virtual key that is not cached yet is looked up asynchronously; the body that arrived
   * meanwhile (here: in the same packet as the head, and then in three pieces) must reach the admin plane whole,
   * byte for byte — it arrived empty, and /key/generate minted an unrestricted key.
   */
  @Test
  void anAdminCallWithAColdKeyGetsItsWholeBodyAfterTheAsyncLookup() throws Exception {
    AtomicReference<CompletableFuture<java.util.Optional<io.sluice.auth.KeyRecord>>> lookup = new AtomicReference<>();
    KeyStore cold = hash -> {
      CompletableFuture<java.util.Optional<io.sluice.auth.KeyRecord>> f = new CompletableFuture<>();
      lookup.set(f);
      return f;
    };
    String key = "sk-cold-admin-SECRET-1";
    io.sluice.auth.KeyRecord admin = io.sluice.auth.KeyRecord.simple(io.sluice.auth.KeyHash.of(key), "admin-key",
        io.sluice.auth.Role.PROXY_ADMIN, java.util.Set.of(), false, null);
    String body = "{\"models\":[\"llama\"],\"max_budget\":1.5,\"key_alias\":\"ci-\u00e9\"}";
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    for (int variant = 0; variant < 2; variant++) {
      ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, cold, api)));
      seen.set(null);
      String head = "POST /key/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\n";
      if (variant == 0) { // head and body in one read, before the lookup answers
        ch.writeInbound(Unpooled.wrappedBuffer(Unpooled.copiedBuffer(head + "Content-Length: " + bytes.length
            + "\r\n\r\n", StandardCharsets.ISO_8859_1), Unpooled.wrappedBuffer(bytes)));
      } else { // chunked, in pieces, the last after the lookup answered
        write(head + "Transfer-Encoding: chunked\r\n\r\n");
        ch.writeInbound(Unpooled.wrappedBuffer(("5\r\n").getBytes(StandardCharsets.US_ASCII)),
            Unpooled.wrappedBuffer(bytes, 0, 5), Unpooled.wrappedBuffer("\r\n".getBytes(StandardCharsets.US_ASCII)));
      }
      assertThat(seen.get()).as("not called before the key is known").isNull();
      Thread t = new Thread(() -> lookup.get().complete(java.util.Optional.of(admin)));
      t.start();
      t.join();
      ch.runPendingTasks();
      if (variant == 1) {
        int rest = bytes.length - 5;
        ch.writeInbound(Unpooled.copiedBuffer(Integer.toHexString(rest) + "\r\n", StandardCharsets.US_ASCII),
            Unpooled.wrappedBuffer(bytes, 5, rest), Unpooled.copiedBuffer("\r\n0\r\n\r\n", StandardCharsets.US_ASCII));
      }
      assertThat(seen.get()).as("called once the body is whole").isNotNull();
      assertThat(seen.get().body()).as("the body, byte for byte").isEqualTo(bytes);
      answer(200, "{\"ok\":true}");
      assertThat(drain()).startsWith("HTTP/1.1 200");
      assertThat(ch.finishAndReleaseAll()).isFalse();
      ch = null;
    }
  }

  /**
   * Issue 13, "also in scope": a throw in an async resume (here the admin plane's answer is unusable) reaches the
   * pipeline's last-resort handler: 500 in LiteLLM's shape, connection closed, nothing leaked.
   */
  @Test
  void aThrowInAnAsyncResumeIsA500InLiteLlmShapeAndTheConnectionCloses() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, KeyStore.NONE, api)));
    write("POST /key/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + GatewayPipelineTest.MASTER
        + "\r\nContent-Length: 2\r\n\r\n{}");
    Thread t = new Thread(() -> pending.get().complete(new ManagementResponse(200, null)));
    t.start();
    t.join();
    ch.runPendingTasks();
    assertThat(drain()).startsWith("HTTP/1.1 500").contains("connection: close")
        .contains("\"type\":\"internal_server_error\"").contains("request id");
    assertThat(ch.isActive()).isFalse();
  }
}
