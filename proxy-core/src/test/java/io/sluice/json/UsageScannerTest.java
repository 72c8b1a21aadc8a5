package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class UsageScannerTest {
  private static UsageScanner scan(String text, int chunk) {
    UsageScanner u = new UsageScanner();
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < b.length; i += chunk) {
      ByteBuf buf = Unpooled.wrappedBuffer(b, i, Math.min(chunk, b.length - i));
      int ri = buf.readerIndex();
      u.scan(buf);
      assertThat(buf.readerIndex()).as("borrowed, not consumed").isEqualTo(ri);
      buf.release();
    }
    return u;
  }

  @Test
  void readsTotalTokensFromJsonAcrossAnyChunking() {
    String json = "{\"id\":\"x\",\"usage\":{\"prompt_tokens\":12,\"total_tokens\":15,\"completion_tokens\":3}}";
    for (int chunk : new int[] {1, 2, 5, 1000}) {
      assertThat(scan(json, chunk).totalTokens()).as("chunk %s", chunk).isEqualTo(15);
    }
    assertThat(scan("{\"usage\": {\"total_tokens\": 42}}", 3).totalTokens()).as("spaced JSON").isEqualTo(42);
  }

  @Test
  void theLastUsageWinsAndEventsAreCounted() {
    String sse = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
        + "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n"
        + "data: {\"choices\":[],\"usage\":{\"total_tokens\":9}}\n\n"
        + "data: [DONE]\n\n";
    UsageScanner u = scan(sse, 4);
    assertThat(u.totalTokens()).isEqualTo(9);
    assertThat(u.events()).as("completed events, [DONE] included").isEqualTo(4);
  }

  @Test
  void noUsageIsMinusOne() {
    assertThat(scan("data: {\"choices\":[]}\n\ndata: [DONE]\n\n", 7).totalTokens()).isEqualTo(-1);
    assertThat(scan("{\"total_tokens\":\"x\"}", 2).totalTokens()).isEqualTo(-1);
  }

  @Test
  void readsPromptAndCompletionTokensNotTheirDetails() {
    String json = "{\"usage\":{\"prompt_tokens\":12,\"total_tokens\":15,\"completion_tokens\":3,"
        + "\"prompt_tokens_details\":null,\"completion_tokens_details\":{\"reasoning_tokens\":7}}}";
    for (int chunk : new int[] {1, 3, 7, 1000}) {
      UsageScanner u = scan(json, chunk);
      assertThat(u.promptTokens()).as("chunk %s", chunk).isEqualTo(12);
      assertThat(u.completionTokens()).as("chunk %s", chunk).isEqualTo(3);
      assertThat(u.reported()).isTrue();
    }
    UsageScanner none = scan("{\"choices\":[{\"text\":\"\\\"prompt_tokens\\\":99\"}]}", 2);
    assertThat(none.reported()).as("an escaped quote in content is not a key").isFalse();
    assertThat(none.promptTokens()).isEqualTo(-1);
  }

  @Test
  void aKeySplitAcrossChunksAtEveryPointIsFound() {
    String json = "{\"id\":\"x\",\"usage\":{\"prompt_tokens\":123,\"total_tokens\":456,\"completion_tokens\":333}}";
    byte[] b = json.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    for (int cut = 1; cut < b.length; cut++) {
      for (int cut2 = cut; cut2 < b.length; cut2 += 3) {
        UsageScanner u = new UsageScanner();
        for (int[] r : new int[][] {{0, cut}, {cut, cut2}, {cut2, b.length}}) {
          if (r[1] > r[0]) {
            ByteBuf buf = Unpooled.wrappedBuffer(b, r[0], r[1] - r[0]);
            u.scan(buf);
            buf.release();
          }
        }
        assertThat(u.promptTokens()).as("cuts %s %s", cut, cut2).isEqualTo(123);
        assertThat(u.completionTokens()).as("cuts %s %s", cut, cut2).isEqualTo(333);
        assertThat(u.totalTokens()).as("cuts %s %s", cut, cut2).isEqualTo(456);
      }
    }
  }

  @Test
  void aKeySplitAcrossFourChunksIsFound() {
    String json = "{\"usage\":{\"prompt_tokens\":12,\"total_tokens\":15,\"completion_tokens\":3}}";
    byte[] b = json.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    for (int c1 = 1; c1 < b.length; c1++) {
      for (int c2 = c1 + 1; c2 < Math.min(b.length, c1 + 8); c2++) {
        for (int c3 = c2 + 1; c3 < Math.min(b.length, c2 + 8); c3++) {
          UsageScanner u = new UsageScanner();
          int[] cuts = {0, c1, c2, c3, b.length};
          for (int i = 0; i + 1 < cuts.length; i++) {
            ByteBuf buf = Unpooled.wrappedBuffer(b, cuts[i], cuts[i + 1] - cuts[i]);
            u.scan(buf);
            buf.release();
          }
          assertThat(new long[] {u.promptTokens(), u.completionTokens(), u.totalTokens()})
              .as("cuts %s %s %s", c1, c2, c3).containsExactly(12, 3, 15);
        }
      }
    }
  }

  @Test
  void readsAnthropicUsageFromMessageStartAndTheCumulativeMessageDeltaAcrossAnyChunking() {
    // vLLM's Anthropic stream (bench/ANTHROPIC-WIRE.md): input tokens in message_start, repeated with the
    // cumulative output tokens in message_delta; cache_*_input_tokens are not input_tokens.
    String sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"chatcmpl-1\","
        + "\"content\":[],\"model\":\"m\",\"usage\":{\"input_tokens\":25,\"output_tokens\":0}}}\n\n"
        + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
        + "\"text\":\"\\\"output_tokens\\\":999\"},\"index\":0}\n\n"
        + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
        + "\"usage\":{\"input_tokens\":25,\"output_tokens\":15,\"cache_read_input_tokens\":7}}\n\n"
        + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    for (int chunk : new int[] {1, 3, 7, 1000}) {
      UsageScanner u = scan(sse, chunk);
      assertThat(u.reported()).as("chunk %s", chunk).isTrue();
      assertThat(u.promptTokens()).as("chunk %s", chunk).isEqualTo(25);
      assertThat(u.completionTokens()).as("chunk %s: the text cannot fake a key", chunk).isEqualTo(15);
    }
    UsageScanner json = scan("{\"id\":\"x\",\"type\":\"message\",\"usage\":{\"input_tokens\":5,\"output_tokens\":4}}", 2);
    assertThat(json.promptTokens()).isEqualTo(5);
    assertThat(json.completionTokens()).isEqualTo(4);
  }
}
