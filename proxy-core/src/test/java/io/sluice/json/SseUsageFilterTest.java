package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class SseUsageFilterTest {
  private static final ByteBufAllocator ALLOC = PooledByteBufAllocator.DEFAULT;
  private static final String E1 = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";
  private static final String E2 = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"[]\\\"choices\\\":[]\"},"
      + "\"finish_reason\":\"stop\"}]}\n\n";
  private static final String USAGE = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
      + "\"total_tokens\":5,\"completion_tokens\":2}}\n\n";
  private static final String DONE = "data: [DONE]\n\n";

  /** Feeds {@code text} in reads cut at {@code cuts}, returns what the client would get, and checks ownership. */
  private static String run(String text, int... cuts) {
    SseUsageFilter f = new SseUsageFilter();
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    StringBuilder out = new StringBuilder();
    int at = 0;
    for (int i = 0; i <= cuts.length; i++) {
      int end = i < cuts.length ? cuts[i] : b.length;
      ByteBuf in = ALLOC.directBuffer(end - at).writeBytes(b, at, end - at);
      ByteBuf kept = f.filter(in, ALLOC);
      out.append(kept.toString(StandardCharsets.UTF_8));
      kept.release();
      assertThat(in.refCnt()).as("the read's buffer is released or handed on").isLessThanOrEqualTo(1);
      at = end;
    }
    ByteBuf rest = f.finish();
    out.append(rest.toString(StandardCharsets.UTF_8));
    rest.release();
    return out.toString();
  }

  @Test
  void removesOnlyTheUsageEventWhateverTheReadBoundaries() {
    String stream = E1 + E2 + USAGE + DONE;
    String expected = E1 + E2 + DONE;
    int n = stream.getBytes(StandardCharsets.UTF_8).length;
    for (int a = 0; a <= n; a++) {
      assertThat(run(stream, a)).as("cut at %s", a).isEqualTo(expected);
    }
    for (int a = 1; a < n; a += 7) {
      for (int b = a; b < n; b += 11) {
        assertThat(run(stream, a, b)).as("cuts %s %s", a, b).isEqualTo(expected);
      }
    }
    StringBuilder bytewise = new StringBuilder();
    int[] every = new int[n - 1];
    for (int i = 1; i < n; i++) {
      every[i - 1] = i;
    }
    bytewise.append(run(stream, every));
    assertThat(bytewise.toString()).isEqualTo(expected);
  }

  @Test
  void aStreamWithoutUsageIsUntouchedAndPassesWithoutCopies() {
    String stream = E1 + E2 + DONE;
    assertThat(run(stream)).isEqualTo(stream);
    SseUsageFilter f = new SseUsageFilter();
    ByteBuf in = ALLOC.directBuffer().writeBytes(E1.getBytes(StandardCharsets.UTF_8));
    ByteBuf out = f.filter(in, ALLOC);
    assertThat(out).as("whole events pass as the same buffer").isSameAs(in);
    out.release();
    assertThat(f.removed()).isZero();
  }

  @Test
  void anUnterminatedTailIsHandedOutAtTheEnd() {
    assertThat(run(E1 + "data: {\"partial\"", 10)).isEqualTo(E1 + "data: {\"partial\"");
  }

  @Test
  void abandonedHeldBytesAreReleased() {
    SseUsageFilter f = new SseUsageFilter();
    ByteBuf in = ALLOC.directBuffer().writeBytes("data: {\"choices\":[".getBytes(StandardCharsets.UTF_8));
    ByteBuf out = f.filter(in, ALLOC);
    assertThat(out.readableBytes()).isZero();
    out.release();
    f.release(); // the leak detector (PARANOID in tests) fails the build if the held slice leaked
    assertThat(in.refCnt()).isZero();
  }
}
