package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link WireResponseDecoder#relayRaw}: a body relayed as the replica's bytes — whole chunks only, framing and
 * extensions as they came, one buffer per read — with the tap's verdicts (pass, drop, back to objects), the holds and
 * their limit, and the end re-framed from a {@code LastHttpContent}.
 */
class WireRawRelayTest {
  private static final String CHUNKED_HEAD = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
      + "transfer-encoding: chunked\r\n\r\n";
  private static final String C1 = "13\r\ndata: {\"a\":\"Hel\"}\n\n\r\n";
  private static final String C2 = "13\r\ndata: {\"a\":\"lo!\"}\n\n\r\n";
  private static final String C3 = "e\r\ndata: [DONE]\n\n\r\n";
  private static final String END = "0\r\n\r\n";

  /** What the tap was shown, as strings; and what it answers for each piece (by its text). */
  private final List<String> seen = new ArrayList<>();
  private Function<String, Integer> verdict = s -> WireResponseDecoder.BodyTap.PASS;
  private final List<Object> out = new ArrayList<>();
  private EmbeddedChannel ch;
  private boolean engaged;

  private EmbeddedChannel channel() {
    WireResponseDecoder decoder = new WireResponseDecoder(512, 1024, 64);
    WireResponseDecoder.BodyTap tap = (buf, index, length) -> {
      int ri = buf.readerIndex();
      int wi = buf.writerIndex();
      String s = buf.toString(index, length, StandardCharsets.ISO_8859_1);
      assertThat(buf.readerIndex()).isEqualTo(ri);
      assertThat(buf.writerIndex()).isEqualTo(wi);
      seen.add(s);
      return verdict.apply(s);
    };
    ch = new EmbeddedChannel(decoder, new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpResponse) {
          engaged = decoder.relayRaw(tap); // as UpstreamHandler: from the handler that got the head, at once
        }
        out.add(msg);
      }
    });
    return ch;
  }

  private void feed(String s) {
    ch.writeInbound(Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1));
  }

  @AfterEach
  void release() {
    out.forEach(ReferenceCountUtil::release);
    if (ch != null) {
      assertThat(ch.finishAndReleaseAll()).isFalse();
    }
  }

  /** The messages after the head, as "raw:<bytes>", "content:<bytes>", "last" or "last:<trailers>". */
  private List<String> body() {
    List<String> r = new ArrayList<>();
    for (Object o : out.subList(1, out.size())) {
      if (o instanceof ByteBuf b) {
        r.add("raw:" + b.toString(StandardCharsets.ISO_8859_1));
      } else if (o instanceof LastHttpContent l) {
        assertThat(l.decoderResult().isSuccess()).as("decoded").isTrue();
        assertThat(l.content().isReadable()).isFalse();
        r.add(l.trailingHeaders().isEmpty() ? "last" : "last:" + l.trailingHeaders().get("x-usage"));
      } else if (o instanceof HttpContent c) {
        r.add("content:" + c.content().toString(StandardCharsets.ISO_8859_1));
      }
    }
    return r;
  }

  @Test
  void wholeChunksOfOneReadLeaveAsOneBufferOfTheReplicasBytes() {
    channel();
    feed(CHUNKED_HEAD + C1 + C2 + C3 + END);
    assertThat(engaged).isTrue();
    assertThat(body()).containsExactly("raw:" + C1 + C2 + C3, "last");
    assertThat(seen).containsExactly("data: {\"a\":\"Hel\"}\n\n", "data: {\"a\":\"lo!\"}\n\n", "data: [DONE]\n\n");
  }

  @Test
  void chunkExtensionsAndSizesPassVerbatim() {
    channel();
    feed(CHUNKED_HEAD + "5;a=b;c=\"d e\"\r\nhello\r\n" + "0005\r\nworld\r\n" + END);
    assertThat(body()).containsExactly("raw:5;a=b;c=\"d e\"\r\nhello\r\n0005\r\nworld\r\n", "last");
    assertThat(seen).containsExactly("hello", "world");
  }

  @Test
  void aChunkCutByTheReadIsHeldUntilTheReadThatCompletesIt() {
    channel();
    feed(CHUNKED_HEAD + C1 + C2.substring(0, 9));
    assertThat(body()).containsExactly("raw:" + C1);
    feed(C2.substring(9, C2.length() - 1)); // all but the final LF of its CRLF
    assertThat(body()).containsExactly("raw:" + C1);
    feed(C2.substring(C2.length() - 1) + C3);
    assertThat(body()).containsExactly("raw:" + C1, "raw:" + C2 + C3);
    feed(END.substring(0, 3));
    feed(END.substring(3));
    assertThat(body()).containsExactly("raw:" + C1, "raw:" + C2 + C3, "last");
    assertThat(seen).hasSize(3); // a held chunk is shown to the tap once, when whole
  }

  @Test
  void aDroppedChunkIsLeftOutFramingIncluded() {
    verdict = s -> s.contains("lo!") ? WireResponseDecoder.BodyTap.DROP : WireResponseDecoder.BodyTap.PASS;
    channel();
    feed(CHUNKED_HEAD + C1 + C2 + C3 + END);
    assertThat(body()).containsExactly("raw:" + C1, "raw:" + C3, "last");
  }

  @Test
  void objectsTurnsThatChunkAndTheRestIntoContents() {
    verdict = s -> s.contains("lo!") ? WireResponseDecoder.BodyTap.OBJECTS : WireResponseDecoder.BodyTap.PASS;
    channel();
    feed(CHUNKED_HEAD + C1 + C2);
    feed(C3 + END);
    assertThat(body()).containsExactly("raw:" + C1, "content:data: {\"a\":\"lo!\"}\n\n", "content:data: [DONE]\n\n",
        "last");
    assertThat(seen).as("not shown again once objects").hasSize(2);
  }

  @Test
  void aChunkTooBigToHoldWholeComesAsPieces() {
    channel(); // maxChunkSize 64
    String data = "x".repeat(100);
    feed(CHUNKED_HEAD + C1 + "64\r\n" + data.substring(0, 30));
    feed(data.substring(30) + "\r\n" + END);
    assertThat(body()).containsExactly("raw:" + C1, "content:" + data.substring(0, 30), "content:"
        + data.substring(30, 94), "content:" + data.substring(94), "last");
  }

  @Test
  void trailersEndTheBodyAsWithoutRawRelay() {
    channel();
    feed(CHUNKED_HEAD + C1 + "0\r\nx-usage: 7\r\n\r\n");
    assertThat(body()).containsExactly("raw:" + C1, "last:7");
  }

  @Test
  void aFramingErrorAfterRawChunksFailsTheBody() {
    channel();
    feed(CHUNKED_HEAD + C1 + "zz\r\nhello\r\n");
    assertThat(out.get(1)).isInstanceOf(ByteBuf.class);
    LastHttpContent bad = (LastHttpContent) out.get(out.size() - 1);
    assertThat(bad.decoderResult().cause()).hasMessageContaining("invalid chunk size");
  }

  @Test
  void contentLengthBodyComesAsPiecesThenTheEnd() {
    channel();
    feed("HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{\"id\":");
    feed("\"a\"}");
    feed("\n\n");
    assertThat(body()).containsExactly("raw:{\"id\":", "raw:\"a\"}", "raw:\n\n", "last");
    assertThat(seen).containsExactly("{\"id\":", "\"a\"}", "\n\n");
  }

  @Test
  void theNextResponseOnTheConnectionIsDecodedAsUsual() {
    channel();
    feed("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    engaged = false;
    out.forEach(ReferenceCountUtil::release);
    out.clear();
    ch.pipeline().removeLast();
    ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        out.add(msg); // this time nobody asks for raw
      }
    });
    feed(CHUNKED_HEAD + C1 + END);
    assertThat(body()).containsExactly("content:data: {\"a\":\"Hel\"}\n\n", "last");
  }

  /** The same bytes through a decoder that keeps heads as bytes and one that does not. */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {
      "HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 15:00:00 GMT\r\nserver: uvicorn\r\ncontent-length: 2\r\n"
          + "Content-Type: application/json\r\nX-Odd-Case:  spaced value \r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\nok",
      "HTTP/1.1 429 Too Many\r\ntransfer-encoding: chunked\r\nretry-after: 3\r\n\r\n2\r\nno\r\n0\r\n\r\n",
      "HTTP/1.0 201 Created\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"})
  void aHeadKeptAsBytesHasTheMapTheDecoderBuildsOtherwise(String response) {
    WireResponseDecoder bytes = new WireResponseDecoder(512, 1024, 64);
    bytes.headsAsBytes(true);
    EmbeddedChannel a = new EmbeddedChannel(bytes);
    EmbeddedChannel b = new EmbeddedChannel(new WireResponseDecoder(512, 1024, 64));
    a.writeInbound(Unpooled.copiedBuffer(response, StandardCharsets.ISO_8859_1));
    b.writeInbound(Unpooled.copiedBuffer(response, StandardCharsets.ISO_8859_1));
    WireResponseDecoder.Head head = a.readInbound();
    HttpResponse plain = b.readInbound();
    try {
      assertThat(head.status()).isEqualTo(plain.status());
      assertThat(head.protocolVersion()).isEqualTo(plain.protocolVersion());
      assertThat(head.closes()).isEqualTo(!io.netty.handler.codec.http.HttpUtil.isKeepAlive(plain));
      assertThat(head.contentLength()).isEqualTo(plain.headers().contains("content-length")
          ? Long.parseLong(plain.headers().get("content-length")) : -1);
      io.netty.buffer.ByteBuf lines = Unpooled.buffer();
      for (int i = 0; i < head.fieldCount(); i++) {
        head.writeField(i, lines);
      }
      StringBuilder expected = new StringBuilder();
      plain.headers().iteratorCharSequence().forEachRemaining(e -> expected.append(e.getKey()).append(": ")
          .append(e.getValue()).append("\r\n"));
      assertThat(lines.toString(StandardCharsets.ISO_8859_1)).isEqualTo(expected.toString());
      lines.release();
      assertThat(text(head.headers())).isEqualTo(text(plain.headers()));
    } finally {
      head.releaseBytes();
      a.finishAndReleaseAll();
      b.finishAndReleaseAll();
    }
    assertThat(text(head.headers())).as("the map outlives the bytes").isEqualTo(text(plain.headers()));
  }

  private static List<String> text(io.netty.handler.codec.http.HttpHeaders h) {
    List<String> r = new ArrayList<>();
    h.iteratorCharSequence().forEachRemaining(e -> r.add(e.getKey() + ": " + e.getValue()));
    return r;
  }

  @Test
  void copyBetweenDirectBuffersIsTheBytesAtTheirIndexes() {
    io.netty.buffer.ByteBuf src = io.netty.buffer.PooledByteBufAllocator.DEFAULT.directBuffer(64);
    io.netty.buffer.ByteBuf out = io.netty.buffer.PooledByteBufAllocator.DEFAULT.directBuffer(4);
    try {
      src.writeCharSequence("xxServer: uvicornyy", StandardCharsets.US_ASCII);
      io.netty.buffer.ByteBuf slice = src.slice(2, 15);
      out.writeByte('>');
      WireResponseDecoder.copy(slice, 0, 6, out); // grows out past its initial capacity
      WireResponseDecoder.copy(slice, 8, 7, out);
      assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo(">Serveruvicorn");
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> WireResponseDecoder.copy(slice, 10, 6, out))
          .isInstanceOf(IndexOutOfBoundsException.class);
    } finally {
      src.release();
      out.release();
    }
  }

  @Test
  void interimBodilessAndToCloseHeadsAreNotKeptAsBytes() {
    WireResponseDecoder bytes = new WireResponseDecoder(512, 1024, 64);
    bytes.headsAsBytes(true);
    EmbeddedChannel a = new EmbeddedChannel(bytes);
    a.writeInbound(Unpooled.copiedBuffer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
        + "HTTP/1.1 200 OK\r\n\r\nuntil close", StandardCharsets.ISO_8859_1));
    a.finish();
    Object m;
    int heads = 0;
    while ((m = a.readInbound()) != null) {
      assertThat(m).isNotInstanceOf(WireResponseDecoder.Head.class);
      heads += m instanceof HttpResponse ? 1 : 0;
      ReferenceCountUtil.release(m);
    }
    assertThat(heads).isEqualTo(3);
  }

  @Test
  void aBodyReadToCloseOrNoBodyIsNotRelayedRaw() {
    channel();
    feed("HTTP/1.1 204 No Content\r\n\r\n");
    assertThat(engaged).isFalse();
    feed("HTTP/1.1 200 OK\r\n\r\nuntil close");
    assertThat(engaged).isFalse();
    ch.finish();
    assertThat(out.stream().filter(o -> o instanceof ByteBuf).count()).isZero();
  }

  @Test
  void aHeadWhoseWholeBodyCameWithItLendsThatBodyWhileItIsReadAndTheBodyIsTheNextPieceWhole() {
    WireResponseDecoder decoder = new WireResponseDecoder(512, 1024, 64);
    decoder.headsAsBytes(true);
    List<String> inHand = new ArrayList<>();
    List<String> pieces = new ArrayList<>();
    List<WireResponseDecoder.Head> heads = new ArrayList<>();
    WireResponseDecoder.BodyTap tap = (buf, index, length) -> {
      pieces.add(buf.toString(index, length, StandardCharsets.ISO_8859_1));
      return WireResponseDecoder.BodyTap.PASS;
    };
    ch = new EmbeddedChannel(decoder, new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof WireResponseDecoder.Head h) {
          ByteBuf b = h.bodyInHand();
          inHand.add(b == null ? "none"
              : b.toString(h.bodyIndex(), (int) h.contentLength(), StandardCharsets.ISO_8859_1));
          heads.add(h);
          decoder.relayRaw(tap);
        }
        out.add(msg);
      }
    });
    // Whole: head and a 100-byte body (more than maxChunkSize 64) in one read, then a second response's start.
    String body = "x".repeat(100);
    feed("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + body + "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab");
    feed("cde");
    // Split: the head alone, then its body.
    feed("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n");
    feed("xyz");
    assertThat(inHand).containsExactly(body, "none", "none");
    assertThat(pieces).containsExactly(body, "ab", "cde", "xyz");
    assertThat(heads).allSatisfy(h -> assertThat(h.bodyInHand()).as("lent only while the head is read").isNull());
    heads.forEach(WireResponseDecoder.Head::releaseBytes);
  }
}
