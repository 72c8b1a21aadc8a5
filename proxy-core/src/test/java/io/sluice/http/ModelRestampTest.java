package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpContent;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Issue 14 §6: the response's model as the client named it, raw SSE chunks re-framed, pieces across boundaries. */
class ModelRestampTest {
  static final byte[] FIND = "\"model\":\"meta-llama/Llama-3-8B\"".getBytes(StandardCharsets.UTF_8);
  static final byte[] REPLACE = "\"model\":\"llama\"".getBytes(StandardCharsets.UTF_8);
  static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

  static String utf8(ByteBuf b) {
    return b.toString(StandardCharsets.UTF_8);
  }

  /** The first {@code find} in {@code b[from, to)} by trying every position: what the search must agree with. */
  static int naive(byte[] b, int from, int to, byte[] find) {
    outer:
    for (int i = from; i + find.length <= to; i++) {
      for (int k = 0; k < find.length; k++) {
        if (b[i + k] != find[k]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @Test
  void theSearchFindsTheLeftmostMatchAsTryingEveryPositionWould() {
    java.util.SplittableRandom r = new java.util.SplittableRandom(18);
    byte[][] patterns = {FIND, "\"model\":\"bench-model\"".getBytes(StandardCharsets.UTF_8),
        "\"model\":\"mmmm\"".getBytes(StandardCharsets.UTF_8), "\"model\":\"a\"".getBytes(StandardCharsets.UTF_8)};
    String alphabet = "\"model:,{}[]abcm-_ 0123456789lLe";
    int found = 0;
    for (int n = 0; n < 20_000; n++) {
      byte[] find = patterns[r.nextInt(patterns.length)];
      byte[] b = new byte[r.nextInt(0, 400)];
      for (int i = 0; i < b.length; i++) {
        b[i] = (byte) alphabet.charAt(r.nextInt(alphabet.length()));
      }
      for (int plant = r.nextInt(4); plant > 0 && b.length >= find.length; plant--) {
        int at = r.nextInt(b.length - find.length + 1);
        int len = r.nextInt(4) == 0 ? r.nextInt(1, find.length) : find.length; // a prefix sometimes: a near miss
        System.arraycopy(find, 0, b, at, len);
      }
      int from = b.length == 0 ? 0 : r.nextInt(b.length);
      int to = from + r.nextInt(b.length - from + 1);
      ByteBuf buf = r.nextBoolean() ? ALLOC.directBuffer(b.length + 8).writeZero(3).writeBytes(b)
          : Unpooled.wrappedBuffer(new byte[3], b).copy();
      try {
        ModelRestamp s = new ModelRestamp().reset(find, REPLACE);
        int expected = naive(b, from, to, find);
        int got = s.indexOf(buf, from + 3, to + 3);
        assertThat(got == -1 ? -1 : got - 3).as("case %s", n).isEqualTo(expected);
        found += expected >= 0 ? 1 : 0;
      } finally {
        buf.release();
      }
    }
    assertThat(found).as("cases with a match").isGreaterThan(1500);
  }

  @Test
  void aRawSseChunkIsReframedWithTheClientsName() {
    String event = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
        + "\"model\":\"meta-llama/Llama-3-8B\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n";
    String chunk = Integer.toHexString(event.length()) + "\r\n" + event + "\r\n";
    ByteBuf in = Unpooled.copiedBuffer("xx" + chunk + "yy", StandardCharsets.UTF_8);
    ModelRestamp r = new ModelRestamp().reset(FIND, REPLACE);
    int dataStart = 2 + Integer.toHexString(event.length()).length() + 2;
    assertThat(r.indexOf(in, dataStart, dataStart + event.length())).isPositive();
    ByteBuf out = ALLOC.directBuffer(16);
    int delta = r.rewriteChunk(in, dataStart, dataStart + event.length(), 2 + chunk.length(), out);
    String expected = event.replace("meta-llama/Llama-3-8B", "llama");
    assertThat(delta).isEqualTo(expected.length() - event.length());
    assertThat(utf8(out)).isEqualTo(Integer.toHexString(expected.length()) + "\r\n" + expected + "\r\n");
    // A second chunk of the same read goes into the same buffer, after the first.
    r.rewriteChunk(in, dataStart, dataStart + event.length(), 2 + chunk.length(), out);
    assertThat(utf8(out)).isEqualTo((Integer.toHexString(expected.length()) + "\r\n" + expected + "\r\n").repeat(2));
    out.release();
    assertThat(in.refCnt()).isEqualTo(1);
    in.release();
  }

  @Test
  void twoEventsInOneChunkAreBothRestamped() {
    String e = "data: {\"model\":\"meta-llama/Llama-3-8B\",\"x\":1}\n\n";
    String data = e + e;
    ByteBuf in = Unpooled.copiedBuffer("a\r\n" + data + "\r\n", StandardCharsets.UTF_8);
    ByteBuf out = ALLOC.directBuffer(16);
    new ModelRestamp().reset(FIND, REPLACE).rewriteChunk(in, 3, 3 + data.length(), in.writerIndex(), out);
    StringBuilder got = new StringBuilder(utf8(out));
    out.release();
    String x = data.replace("meta-llama/Llama-3-8B", "llama");
    assertThat(got.toString()).isEqualTo(Integer.toHexString(x.length()) + "\r\n" + x + "\r\n");
    in.release();
  }

  @Test
  void piecesThatCutTheNameAreJoinedAndTheRestPassesAsItIs() {
    String json = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
        + "\"model\":\"meta-llama/Llama-3-8B\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}";
    for (int cut = 1; cut < json.length(); cut++) {
      ModelRestamp r = new ModelRestamp().reset(FIND, REPLACE);
      HttpContent a = r.apply(new DefaultHttpContent(Unpooled.copiedBuffer(json.substring(0, cut),
          StandardCharsets.UTF_8)), ALLOC);
      HttpContent b = r.apply(new DefaultLastHttpContent(Unpooled.copiedBuffer(json.substring(cut),
          StandardCharsets.UTF_8)), ALLOC);
      assertThat(utf8(a.content()) + utf8(b.content())).as("cut at %s", cut)
          .isEqualTo(json.replace("meta-llama/Llama-3-8B", "llama"));
      a.release();
      b.release();
    }
  }

  @Test
  void aPieceWithoutTheNameIsPassedItselfAndAHeldPrefixThatIsNoMatchIsFlushed() {
    ModelRestamp r = new ModelRestamp().reset(FIND, REPLACE);
    HttpContent plain = new DefaultHttpContent(Unpooled.copiedBuffer("{\"choices\":[]}", StandardCharsets.UTF_8));
    assertThat(r.apply(plain, ALLOC)).isSameAs(plain);
    HttpContent held = r.apply(new DefaultHttpContent(Unpooled.copiedBuffer("{\"a\":1,\"mod",
        StandardCharsets.UTF_8)), ALLOC);
    HttpContent rest = r.apply(new DefaultLastHttpContent(Unpooled.copiedBuffer("e\":2}", StandardCharsets.UTF_8)),
        ALLOC);
    assertThat(utf8(held.content()) + utf8(rest.content())).isEqualTo("{\"a\":1,\"mode\":2}");
    plain.release();
    held.release();
    rest.release();
  }

  @Test
  void contentLengthPiecesAreFramedAsChunksWithTheNameJoinedAcrossPieces() {
    String json = "{\"id\":\"chatcmpl-1\",\"model\":\"meta-llama/Llama-3-8B\",\"choices\":[]}";
    for (int cut = 1; cut < json.length(); cut++) {
      ModelRestamp r = new ModelRestamp().reset(FIND, REPLACE);
      StringBuilder data = new StringBuilder();
      for (String piece : new String[] {json.substring(0, cut), json.substring(cut)}) {
        ByteBuf in = Unpooled.copiedBuffer("xx" + piece, StandardCharsets.UTF_8);
        ByteBuf framed = r.frame(in, 2, piece.length(), piece.equals(json.substring(cut)), ALLOC);
        if (framed != null) {
          String f = utf8(framed);
          int crlf = f.indexOf("\r\n");
          int size = Integer.parseInt(f.substring(0, crlf), 16);
          assertThat(f).endsWith("\r\n").hasSize(crlf + 2 + size + 2);
          data.append(f, crlf + 2, crlf + 2 + size);
          framed.release();
        }
        in.release();
      }
      assertThat(data.toString()).as("cut at %s", cut).isEqualTo(json.replace("meta-llama/Llama-3-8B", "llama"));
    }
  }

  @Test
  void hexSizeLines() {
    for (int n : new int[] {0, 1, 15, 16, 255, 256, 65535, 65536, Integer.MAX_VALUE}) {
      ByteBuf b = Unpooled.buffer();
      ModelRestamp.writeHex(b, n);
      assertThat(utf8(b)).isEqualTo(Integer.toHexString(n));
      assertThat(ModelRestamp.hexDigits(n)).isEqualTo(Integer.toHexString(n).length());
    }
  }

  @Test
  void aWholeBodyInHandIsCountedAndRewrittenToExactlyItsAnnouncedLength() {
    java.util.Random rnd = new java.util.Random(18_1207);
    String served = new String(FIND, StandardCharsets.UTF_8);
    for (byte[] replace : new byte[][] {REPLACE, "\"model\":\"a-much-longer-client-alias-name\"".getBytes(
        StandardCharsets.UTF_8), "\"model\":\"meta-llama/Llama-3-8X\"".getBytes(StandardCharsets.UTF_8)}) {
      for (int c = 0; c < 300; c++) {
        StringBuilder b = new StringBuilder("{");
        int parts = rnd.nextInt(6);
        int expected = 0;
        for (int k = 0; k < parts; k++) {
          switch (rnd.nextInt(4)) {
            case 0 -> { b.append(served).append(','); expected++; }
            case 1 -> b.append(served, 0, 1 + rnd.nextInt(FIND.length - 1)).append(',');
            case 2 -> { b.append(served).append(served); expected += 2; }
            default -> b.append("\"content\":\"model meta-llama\",");
          }
        }
        b.append("\"end\":1}");
        ByteBuf in = Unpooled.copiedBuffer(b, StandardCharsets.UTF_8);
        ModelRestamp r = new ModelRestamp().reset(FIND, replace);
        long n = r.count(in, in.readerIndex(), in.writerIndex());
        assertThat(n).as(b.toString()).isEqualTo(expected);
        long length = in.readableBytes() + n * r.lengthChange();
        ByteBuf out = r.replaceAll(in, in.readerIndex(), in.readableBytes(), length, UnpooledByteBufAllocator.DEFAULT);
        assertThat(out.readableBytes()).isEqualTo(length);
        assertThat(utf8(out)).isEqualTo(b.toString().replace(served, new String(replace, StandardCharsets.UTF_8)));
        out.release();
        in.release();
      }
    }
  }

  @Test
  void aRewriteThatDoesNotMatchTheAnnouncedLengthFailsInsteadOfCorruptingTheFraming() {
    ByteBuf in = Unpooled.copiedBuffer("{" + new String(FIND, StandardCharsets.UTF_8) + "}", StandardCharsets.UTF_8);
    ModelRestamp r = new ModelRestamp().reset(FIND, REPLACE);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> r.replaceAll(in, in.readerIndex(), in.readableBytes(),
        in.readableBytes(), UnpooledByteBufAllocator.DEFAULT)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("not the");
    in.release();
  }
}
