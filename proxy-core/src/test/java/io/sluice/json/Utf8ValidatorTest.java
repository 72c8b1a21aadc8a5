package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** RFC 3629 well-formedness, checked against the JDK's strict UTF-8 decoder, at every chunk split. */
class Utf8ValidatorTest {
  private static boolean jdk(byte[] b) {
    try {
      StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b));
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }

  private static boolean ours(byte[] b, int split) {
    Utf8Validator v = new Utf8Validator();
    ByteBuf a = Unpooled.wrappedBuffer(b, 0, split);
    ByteBuf c = Unpooled.wrappedBuffer(b, split, b.length - split);
    boolean ok = v.feed(a) && v.feed(c) && v.end();
    assertThat(a.readerIndex()).as("borrows: reader index unchanged").isZero();
    return ok;
  }

  private static byte[] bytes(int... v) {
    byte[] b = new byte[v.length];
    for (int i = 0; i < v.length; i++) {
      b[i] = (byte) v[i];
    }
    return b;
  }

  @Test
  void theIssuesExamplesAndTheEdgesOfEveryRange() {
    int[][] bad = {{0xC0, 0xAE, 0xC0, 0xAE}, {0xED, 0xA0, 0x80}, {0xFF}, {0xC1, 0xBF}, {0xE0, 0x9F, 0xBF},
        {0xF0, 0x8F, 0xBF, 0xBF}, {0xF4, 0x90, 0x80, 0x80}, {0xF5, 0x80, 0x80, 0x80}, {0x80}, {0xE2, 0x82},
        {0xED, 0xBF, 0xBF}, {0xC2, 0x41}};
    int[][] good = {{0x41}, {0xC2, 0x80}, {0xDF, 0xBF}, {0xE0, 0xA0, 0x80}, {0xED, 0x9F, 0xBF}, {0xEE, 0x80, 0x80},
        {0xF0, 0x90, 0x80, 0x80}, {0xF4, 0x8F, 0xBF, 0xBF}, {0xE2, 0x82, 0xAC}};
    for (int[] b : bad) {
      byte[] x = bytes(b);
      for (int s = 0; s <= x.length; s++) {
        assertThat(ours(x, s)).as("ill-formed %s split at %d", java.util.Arrays.toString(b), s).isFalse();
      }
    }
    for (int[] g : good) {
      byte[] x = bytes(g);
      for (int s = 0; s <= x.length; s++) {
        assertThat(ours(x, s)).as("well-formed %s split at %d", java.util.Arrays.toString(g), s).isTrue();
      }
    }
  }

  @Test
  void agreesWithTheJdkDecoderOnRandomInputAtEverySplit() {
    Random r = new Random(13);
    for (int n = 0; n < 20_000; n++) {
      byte[] b = new byte[1 + r.nextInt(24)];
      for (int i = 0; i < b.length; i++) {
        int k = r.nextInt(4);
        b[i] = (byte) (k == 0 ? r.nextInt(128) : k == 1 ? 0x80 + r.nextInt(64) : 0xC0 + r.nextInt(64));
      }
      boolean expected = jdk(b);
      for (int s = 0; s <= b.length; s += 1 + r.nextInt(3)) {
        assertThat(ours(b, s)).as("%s split at %d", java.util.Arrays.toString(b), s).isEqualTo(expected);
      }
    }
  }

  @Test
  void reportsWhereTheFirstBadByteIs() {
    Utf8Validator v = new Utf8Validator();
    v.feed(Unpooled.copiedBuffer("0123456789", StandardCharsets.US_ASCII));
    assertThat(v.feed(Unpooled.wrappedBuffer(bytes(0x41, 0xC0, 0xAE)))).isFalse();
    assertThat(v.errorOffset()).isEqualTo(11);
    assertThat(v.error()).contains("byte 11").contains("RFC 3629");
  }
}
