package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.KeyStore;
import io.sluice.auth.Role;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Virtual keys go through the KeyStore port, which answers later and on another thread: the channel stops reading,
 * holds what already arrived, and resumes on its own event loop (ARCHITECTURE, hot path step 3).
 */
class VirtualKeyAuthTest {
  static final String VKEY = "sk-virtual-SECRET-777";

  private final AtomicReference<CompletableFuture<Optional<KeyRecord>>> pending = new AtomicReference<>();
  private final AtomicReference<KeyHash> asked = new AtomicReference<>();
  private final KeyStore store = hash -> {
    asked.set(hash);
    CompletableFuture<Optional<KeyRecord>> f = new CompletableFuture<>();
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

  /** Completes the lookup from another thread, as the admin plane's store will, then lets the loop run. */
  private void answer(Optional<KeyRecord> record) throws Exception {
    Thread t = new Thread(() -> pending.get().complete(record));
    t.start();
    t.join();
    ch.runPendingTasks();
  }

  private static KeyRecord record(boolean blocked, Set<String> models) {
    return KeyRecord.simple(KeyHash.of(VKEY), "team-a-key", Role.INTERNAL_USER, models, blocked, null);
  }

  @Test
  void readsPauseDuringTheLookupAndResumeOnTheChannelsLoop() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, store)));
    write("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY + "\r\n\r\n");
    assertThat(asked.get()).as("looked up by SHA-256 of the whole key").isEqualTo(KeyHash.of(VKEY));
    assertThat(ch.config().isAutoRead()).as("no reads while the store works").isFalse();
    assertThat(drain()).isEmpty();
    answer(Optional.of(record(false, Set.of())));
    assertThat(ch.config().isAutoRead()).isTrue();
    assertThat(drain()).startsWith("HTTP/1.1 200").contains("\"id\":\"llama\"");
  }

  @Test
  void aKeyOnlySeesTheModelsItMayUse() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, store)));
    write("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY + "\r\n\r\n");
    answer(Optional.of(record(false, Set.of("other-model"))));
    assertThat(drain()).startsWith("HTTP/1.1 200").doesNotContain("llama");
    String body = "{\"model\":\"llama\"}";
    write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY
        + "\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
    answer(Optional.of(record(false, Set.of("other-model"))));
    assertThat(drain()).startsWith("HTTP/1.1 401").contains("\"type\":\"key_model_access_denied\"")
        .contains("key not allowed to access model. This key can only access models=['other-model']. "
            + "Tried to access llama");
  }

  @Test
  void blockedAndUnknownKeysAre401WithoutTheKey() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, store)));
    write("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY + "\r\n\r\n");
    answer(Optional.of(record(true, Set.of())));
    assertThat(drain()).startsWith("HTTP/1.1 401").contains("Key is blocked").doesNotContain(VKEY);
    write("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY + "\r\n\r\n");
    answer(Optional.empty());
    assertThat(drain()).startsWith("HTTP/1.1 401").contains("Invalid proxy server token passed")
        .contains(KeyHash.of(VKEY).prefix()).doesNotContain(VKEY);
  }

  @Test
  void expiredKeyIs401() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, store)));
    write("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY + "\r\n\r\n");
    answer(Optional.of(KeyRecord.simple(KeyHash.of(VKEY), null, Role.INTERNAL_USER, Set.of(), false,
        Instant.now().minusSeconds(5))));
    assertThat(drain()).startsWith("HTTP/1.1 401").contains("Expired Key").contains("\"type\":\"expired_key\"");
  }

  @Test
  void bodyChunksThatArrivedDuringTheLookupAreHeldAndReleasedIfTheClientLeaves() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, store)));
    write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY
        + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mod\r\n");
    ch.close();
    answer(Optional.of(record(false, Set.of())));
    assertThat(drain()).as("nothing is sent to a client that left").isEmpty();
    // LeakGuard (after each test) fails the test if the held chunk was not released.
  }

  @Test
  void aLateAnswerForAnAlreadyAnsweredExchangeIsIgnored() throws Exception {
    ch = new EmbeddedChannel(new GatewayInitializer(GatewayPipelineTest.context(null, store)));
    write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + VKEY
        + "\r\nContent-Length: 40\r\n\r\n{\"model\":");
    ch.advanceTimeBy(61, TimeUnit.SECONDS);
    ch.runScheduledPendingTasks();
    assertThat(drain()).startsWith("HTTP/1.1 408");
    answer(Optional.of(record(false, Set.of())));
    assertThat(drain()).isEmpty();
  }
}
