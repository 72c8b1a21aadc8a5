package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The head parser on its own: offsets, derived framing, resumption, limits. */
class HeadParserTest {
  private final HeadParser parser = new HeadParser(64, 256);

  private static ByteBuf buf(String s) {
    return Unpooled.copiedBuffer(s, StandardCharsets.ISO_8859_1);
  }

  private static String at(ByteBuf b, int start, int len) {
    return b.toString(b.readerIndex() + start, len, StandardCharsets.ISO_8859_1);
  }

  @Test
  void offsetsPointAtMethodTargetAndTrimmedFieldValues() {
    ByteBuf b = buf("xxPOST /a?b HTTP/1.0\r\nHost:  h \r\nX-Empty:\r\n\r\nbody");
    try {
      b.readerIndex(2); // the head need not start at index 0
      int n = parser.parse(b);
      assertThat(n).isEqualTo(b.readableBytes() - 4);
      MessageHead h = parser.head();
      assertThat(at(b, h.methodStart, h.methodLen)).isEqualTo("POST");
      assertThat(at(b, h.targetStart, h.targetLen)).isEqualTo("/a?b");
      assertThat(h.version).isEqualTo(MessageHead.HTTP_1_0);
      assertThat(h.headerCount).isEqualTo(2);
      assertThat(at(b, h.nameStart(0), h.nameLength(0))).isEqualTo("Host");
      assertThat(at(b, h.valueStart(0), h.valueLength(0))).isEqualTo("h");
      assertThat(at(b, h.nameStart(1), h.nameLength(1))).isEqualTo("X-Empty");
      assertThat(h.valueLength(1)).isZero();
      assertThat(h.hasHost).isTrue();
      assertThat(h.contentLength).isEqualTo(-1);
      assertThat(h.chunked).isFalse();
      assertThat(b.readerIndex()).as("borrows: consumes nothing").isEqualTo(2);
    } finally {
      b.release();
    }
  }

  @Test
  void derivesFramingAndConnectionFlags() {
    ByteBuf b = buf("PUT / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\nConnection: keep-alive\r\n"
        + "EXPECT: 100-Continue\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding:chunked\r\n\r\n");
    try {
      assertThat(parser.parse(b)).isPositive();
      MessageHead h = parser.head();
      assertThat(h.connectionClose).isTrue();
      assertThat(h.connectionKeepAlive).isTrue();
      assertThat(h.expectContinue).isTrue();
      assertThat(h.hasHost).isFalse();
      assertThat(h.chunked).isTrue();
      assertThat(h.unsupportedCoding).isTrue();
    } finally {
      b.release();
    }
  }

  @Test
  void contentLengthIsParsedAsALong() {
    ByteBuf b = buf("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n");
    try {
      assertThat(parser.parse(b)).isPositive();
      assertThat(parser.head().contentLength).isEqualTo(Long.MAX_VALUE);
    } finally {
      b.release();
    }
  }

  @Test
  void resumesWhereItStoppedAndGrowsItsArraysOnlyPastTheLargestHeadSeen() {
    StringBuilder sb = new StringBuilder("GET / HTTP/1.1\r\n");
    for (int i = 0; i < 20; i++) {
      sb.append("X").append(i).append(": ").append(i).append("\r\n");
    }
    byte[] all = sb.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII);
    ByteBuf b = Unpooled.buffer();
    try {
      for (int i = 0; i < all.length - 1; i++) {
        b.writeByte(all[i]);
        assertThat(parser.parse(b)).as("after %d bytes", i + 1).isEqualTo(HeadParser.NEED_MORE);
      }
      b.writeByte(all[all.length - 1]);
      assertThat(parser.parse(b)).isEqualTo(all.length);
      assertThat(parser.head().headerCount).isEqualTo(20);
      int[] grown = parser.head().fields;
      assertThat(at(b, parser.head().valueStart(19), parser.head().valueLength(19))).isEqualTo("19");
      assertThat(parser.parse(b)).isEqualTo(all.length);
      assertThat(parser.head().fields).as("reused, not re-allocated").isSameAs(grown);
    } finally {
      b.release();
    }
  }

  @Test
  void limitsApplyWhileTheHeadIsIncomplete() {
    ByteBuf line = buf("GET /" + "a".repeat(64));
    ByteBuf fields = buf("GET / HTTP/1.1\r\nX: " + "b".repeat(256));
    try {
      assertThat(parser.parse(line)).isEqualTo(HeadParser.FAILED);
      assertThat(parser.failure()).isInstanceOf(io.netty.handler.codec.http.TooLongHttpLineException.class);
      assertThat(parser.parse(fields)).isEqualTo(HeadParser.FAILED);
      assertThat(parser.failure()).isInstanceOf(io.netty.handler.codec.http.TooLongHttpHeaderException.class);
    } finally {
      line.release();
      fields.release();
    }
  }

  @Test
  void junkThatCannotStartARequestLineFailsBeforeItsLineEnds() {
    ByteBuf b = buf("\u0000\u0001binary");
    try {
      assertThat(parser.parse(b)).isEqualTo(HeadParser.FAILED);
    } finally {
      b.release();
    }
  }
}
