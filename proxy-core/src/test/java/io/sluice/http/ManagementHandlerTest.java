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
}
