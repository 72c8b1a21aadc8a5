package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The decoder's rules, one by one, fed as raw bytes (RFC 9112 sections in the names and comments). */
class WireRequestDecoderTest {

  private static EmbeddedChannel channel() {
    return new EmbeddedChannel(new WireRequestDecoder(Framing.MAX_LINE, Framing.MAX_HEADER, Framing.MAX_CHUNK));
  }

  /** The decoded framing of {@code raw}, fed at once. */
  private static List<Framing.Entry> decode(String raw) {
    return Framing.run(Framing.wire(), Framing.ascii(raw));
  }

  /** The failure's exception class and message, or null when every request decoded. */
  private static String failure(String raw) {
    for (Framing.Entry e : decode(raw)) {
      if (e.failed) {
        return e.cause;
      }
    }
    return null;
  }

  private static final String H = "Host: h\r\n";

  @Test
  void aRepeatedTargetIsTheSameStringAndAnotherIsItsOwn() {
    EmbeddedChannel ch = channel();
    ch.writeInbound(Unpooled.copiedBuffer("GET /v1/models?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        + "GET /v1/models?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        + "GET /v1/models?a=2 HTTP/1.1\r\nHost: x\r\n\r\n"
        + "GET /v1/model HTTP/1.1\r\nHost: x\r\n\r\n", StandardCharsets.US_ASCII));
    List<String> uris = new ArrayList<>();
    Object m;
    while ((m = ch.readInbound()) != null) {
      if (m instanceof HttpRequest r) {
        uris.add(r.uri());
      }
      ReferenceCountUtil.release(m);
    }
    assertThat(uris).containsExactly("/v1/models?a=1", "/v1/models?a=1", "/v1/models?a=2", "/v1/model");
    assertThat(uris.get(1)).isSameAs(uris.get(0));
    assertThat(uris.get(2)).isNotSameAs(uris.get(0));
    ch.finishAndReleaseAll();
  }

  @Test
  void requestWithoutBodyIsHeadThenEmptyLastContentAsNettyEmitsIt() {
    EmbeddedChannel ch = channel();
    ch.writeInbound(Unpooled.copiedBuffer("GET /v1/models?x=1 HTTP/1.1\r\nHost: h\r\nX-A:  a b \t\r\n\r\n",
        StandardCharsets.US_ASCII));
    HttpRequest req = ch.readInbound();
    assertThat(req).isNotInstanceOf(LastHttpContent.class); // RequestGuard tells requestComplete from this
    assertThat(req.decoderResult().isSuccess()).isTrue();
    assertThat(req.method()).isEqualTo(HttpMethod.GET);
    assertThat(req.uri()).isEqualTo("/v1/models?x=1");
    assertThat(req.protocolVersion()).isSameAs(HttpVersion.HTTP_1_1);
    assertThat(req.headers().get("x-a")).as("value OWS-trimmed, inner whitespace kept (RFC 9110 §5.5)")
        .isEqualTo("a b");
    Object last = ch.readInbound();
    assertThat(last).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
    assertThat((Object) ch.readInbound()).isNull();
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }

  @Test
  void contentLengthBodyArrivesAsRetainedSlicesEndingInLastContent() {
    EmbeddedChannel ch = channel();
    String body = "x".repeat(150); // > MAX_CHUNK (64): three pieces
    ch.writeInbound(Unpooled.copiedBuffer("POST / HTTP/1.1\r\nContent-Length: 150\r\n\r\n" + body,
        StandardCharsets.US_ASCII));
    HttpRequest req = ch.readInbound();
    assertThat(req.headers().get(HttpHeaderNames.CONTENT_LENGTH)).isEqualTo("150");
    StringBuilder got = new StringBuilder();
    List<Integer> sizes = new ArrayList<>();
    Object m;
    boolean last = false;
    while ((m = ch.readInbound()) != null) {
      HttpContent c = (HttpContent) m;
      sizes.add(c.content().readableBytes());
      got.append(c.content().toString(StandardCharsets.US_ASCII));
      last = c instanceof LastHttpContent;
      c.release();
    }
    assertThat(sizes).containsExactly(64, 64, 22);
    assertThat(last).isTrue();
    assertThat(got.toString()).isEqualTo(body);
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }

  @Test
  void chunkedBodyWithExtensionsAndTrailersDecodes() {
    List<Framing.Entry> out = decode("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "5;name=\"q \\\" v\"\r\nhello\r\n6 ; a = b;c\r\n world\r\n0\r\nX-T: done\r\nContent-Length: 9\r\n\r\n");
    assertThat(out).hasSize(1);
    Framing.Entry e = out.get(0);
    assertThat(e.failed).isFalse();
    assertThat(e.complete).isTrue();
    assertThat(new String(e.body.toByteArray(), StandardCharsets.US_ASCII)).isEqualTo("hello world");
    assertThat(e.trailers).as("framing fields dropped from trailers, as Netty").containsExactly("x-t: done");
  }

  @Test
  void pipelinedRequestsDecodeOneAfterTheOther() {
    List<Framing.Entry> out = decode("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        + "\r\nGET /b HTTP/1.0\r\n\r\n" // an empty line between requests is ignored (RFC 9112 §2.2)
        + "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n");
    assertThat(out).hasSize(3);
    assertThat(out.get(0).head).startsWith("POST /a HTTP/1.1");
    assertThat(out.get(1).head).startsWith("GET /b HTTP/1.0");
    assertThat(out.get(2).head).startsWith("POST /c HTTP/1.1");
    assertThat(out).allMatch(e -> e.complete && !e.failed);
  }

  @Test
  void everyByteBoundaryGivesTheSameFraming() {
    String raw = "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"
        + "GET /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    byte[] b = Framing.ascii(raw);
    String whole = decode(raw).toString();
    for (int i = 1; i < b.length; i++) {
      List<byte[]> pieces = new ArrayList<>();
      for (int p = 0; p < b.length; p += i) {
        pieces.add(java.util.Arrays.copyOfRange(b, p, Math.min(b.length, p + i)));
      }
      assertThat(Framing.run(Framing.wire(), pieces).toString()).as("pieces of %d bytes", i).isEqualTo(whole);
    }
  }

  @Test
  void failureIsBadRequestMessageThenAllInputIsDiscarded() {
    EmbeddedChannel ch = channel();
    ch.writeInbound(Unpooled.copiedBuffer("GET / HTTP/1.1\r\nX : y\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
        StandardCharsets.US_ASCII));
    FullHttpRequest bad = ch.readInbound();
    assertThat(bad.decoderResult().isFailure()).isTrue();
    assertThat(bad.decoderResult().cause()).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("whitespace between field name and colon");
    assertThat(bad.uri()).isEqualTo("/bad-request");
    bad.release();
    ch.writeInbound(Unpooled.copiedBuffer("GET /more HTTP/1.1\r\n\r\n", StandardCharsets.US_ASCII));
    assertThat((Object) ch.readInbound()).as("nothing after a failure (the framing is lost)").isNull();
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }

  @Test
  void requestLineLongerThanTheLimitIsTooLongHttpLineEvenWhileIncomplete() {
    EmbeddedChannel ch = channel();
    ch.writeInbound(Unpooled.copiedBuffer("GET /" + "a".repeat(Framing.MAX_LINE), StandardCharsets.US_ASCII));
    HttpRequest bad = ch.readInbound();
    assertThat(bad.decoderResult().cause()).isInstanceOf(TooLongHttpLineException.class); // RequestGuard: 414
    ReferenceCountUtil.release(bad);
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }

  @Test
  void requestLineAtTheLimitIsAccepted() {
    String line = "GET /" + "a".repeat(Framing.MAX_LINE - "GET / HTTP/1.1".length()) + " HTTP/1.1";
    assertThat(line).hasSize(Framing.MAX_LINE);
    assertThat(failure(line + "\r\n\r\n")).isNull();
    assertThat(failure("GET /a" + line.substring(5) + "\r\n\r\n")).startsWith("TooLongHttpLineException");
  }

  @Test
  void headersLargerThanTheLimitAreTooLongHttpHeaderEvenWhileIncomplete() {
    assertThat(failure("GET / HTTP/1.1\r\nX: " + "b".repeat(Framing.MAX_HEADER))) // no end of line yet
        .startsWith(TooLongHttpHeaderException.class.getSimpleName()); // RequestGuard: 431
    String fits = "X: " + "b".repeat(Framing.MAX_HEADER - 3);
    assertThat(failure("GET / HTTP/1.1\r\n" + fits + "\r\n\r\n")).as("CRLFs not counted, as Netty").isNull();
    assertThat(failure("GET / HTTP/1.1\r\n" + fits + "b\r\n\r\n")).startsWith("TooLongHttpHeaderException");
  }

  @ParameterizedTest(name = "RFC 9112 §2.2/§3 refuses {0}")
  @ValueSource(strings = {
      "GET / HTTP/1.1\n\n",                // bare LF (Netty's strict default refuses it too)
      "GET / HTTP/1.1\r\nA: b\n\r\n",      // bare LF ending a field line
      "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", // bare CR in a value
      "GET\r / HTTP/1.1\r\n\r\n",          // bare CR in the request line
      "GET  / HTTP/1.1\r\n\r\n",           // two SP
      "GET /\tHTTP/1.1\r\n\r\n",           // HTAB as separator
      "GET / HTTP/1.1 \r\n\r\n",           // trailing SP
      " GET / HTTP/1.1\r\n\r\n",           // leading SP
      "G@T / HTTP/1.1\r\n\r\n",            // method not a token
      "GET /a\u00e9 HTTP/1.1\r\n\r\n",     // non-ASCII target
      "GET /a\u007f HTTP/1.1\r\n\r\n",     // DEL in target
      "GET / HTTP/1.2\r\n\r\n",            // §2.3: only 1.0 and 1.1 (Netty accepts any HTTP/x.y)
      "GET / HTTP/2.0\r\n\r\n",
      "GET / http/1.1\r\n\r\n",
      "GET /\r\n\r\n",                     // HTTP/0.9
      "\nGET / HTTP/1.1\r\n\r\n",          // bare LF as a leading empty line
  })
  void requestLineAndLineEndingRefusals(String raw) {
    assertThat(failure(raw)).startsWith("IllegalArgumentException");
  }

  @ParameterizedTest(name = "RFC 9112 §5 refuses field line {0}")
  @ValueSource(strings = {
      "X : v",          // §5.1 whitespace before the colon
      "X\t: v",
      " folded",        // §5.2 obs-fold (after a first field, see below)
      "\tfolded",
      ": v",            // empty name
      "X-(a): v",       // name not a token
      "novalue",        // no colon
      "X: a\u0000b",    // NUL
      "X: a\u0001b",    // CTL
      "X: a\u007fb",    // DEL
      "X: a\u000bb",    // VT
  })
  void fieldLineRefusals(String line) {
    assertThat(failure("GET / HTTP/1.1\r\nA: b\r\n" + line + "\r\n\r\n")).startsWith("IllegalArgumentException");
  }

  @Test
  void fieldValueMayHoldHtabAndObsText() {
    assertThat(failure("GET / HTTP/1.1\r\nX: a\tb \u00e9\u00ff\r\n\r\n")).isNull(); // RFC 9110 §5.5 field-vchar
  }

  @Test
  void moreThanOneHostIsRefused() {
    assertThat(failure("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n")).contains("more than one Host"); // §3.2
    assertThat(failure("GET / HTTP/1.1\r\n\r\n")).as("a missing Host is reported, not refused").isNull();
  }

  @ParameterizedTest(name = "RFC 9110 §8.6 refuses Content-Length {0}")
  @ValueSource(strings = {"+5", "-5", " ", "5, 5", "5,6", "0x5", "5 5", "9223372036854775808", "5a", "\u0661"})
  void contentLengthRefusals(String value) {
    assertThat(failure("POST / HTTP/1.1\r\nContent-Length: " + value + "\r\n\r\nhello")).isNotNull();
  }

  @Test
  void repeatedContentLengthIsRefusedEvenWhenEqual() {
    // RFC 9110 §8.6 allows accepting identical repeats; Netty refuses them by default, and so do we.
    assertThat(failure("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"))
        .contains("more than one Content-Length");
    assertThat(failure("POST / HTTP/1.0\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"))
        .as("HTTP/1.0 too (Netty would take the first)").contains("more than one Content-Length");
  }

  @Test
  void contentLengthWithLeadingZerosIsADecimalNumber() {
    List<Framing.Entry> out = decode("POST / HTTP/1.1\r\nContent-Length: 0005\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n");
    assertThat(out).hasSize(2);
    assertThat(new String(out.get(0).body.toByteArray(), StandardCharsets.US_ASCII)).isEqualTo("hello");
  }

  @Test
  void transferEncodingRules() {
    String h = "POST / HTTP/1.1\r\n";
    String body = "\r\n\r\n1\r\na\r\n0\r\n\r\n";
    // RFC 9112 §6.3: chunked must be the final coding; RequestGuard's wording.
    assertThat(failure(h + "Transfer-Encoding: gzip" + body)).contains("Transfer-Encoding must end with chunked");
    assertThat(failure(h + "Transfer-Encoding: chunked, gzip" + body)).contains("must end with chunked");
    assertThat(failure(h + "Transfer-Encoding: xchunked" + body)).contains("must end with chunked");
    assertThat(failure(h + "Transfer-Encoding: chunked, chunked" + body)).contains("more than once");
    assertThat(failure(h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked" + body))
        .contains("more than once");
    assertThat(failure(h + "Transfer-Encoding: chunked;q=1" + body)).contains("no parameters");
    // Case-insensitive, OWS-trimmed, empty list elements skipped (RFC 9110 §5.6.1).
    assertThat(failure(h + "Transfer-Encoding:  Chunked " + body)).isNull();
    assertThat(failure(h + "Transfer-Encoding: ,chunked," + body)).isNull();
    // Content-Length with Transfer-Encoding: 400 in the decoder, RequestGuard's wording (§6.3 rule 3).
    assertThat(failure(h + "Content-Length: 3\r\nTransfer-Encoding: chunked" + body))
        .contains("Request has both Content-Length and Transfer-Encoding");
    // Only HTTP/1.1 (§6.1).
    assertThat(failure("POST / HTTP/1.0\r\nTransfer-Encoding: chunked" + body)).contains("only allowed in HTTP/1.1");
  }

  @Test
  void codingBeforeChunkedIsFramedAsChunkedAndFlaggedForThe501() {
    // RequestGuard.transferCodingError answers 501 from the headers, as it does behind Netty's decoder.
    List<Framing.Entry> out = decode("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
    assertThat(out).hasSize(1);
    assertThat(out.get(0).failed).isFalse();
    assertThat(out.get(0).head).contains("transfer-encoding: gzip, chunked");
  }

  @ParameterizedTest(name = "RFC 9112 §7.1 refuses chunked body {0}")
  @ValueSource(strings = {
      "x\r\n",                          // not hex
      "-1\r\n",                         // sign
      " 1\r\na\r\n0\r\n\r\n",           // leading whitespace
      "1 \r\na\r\n0\r\n\r\n",           // whitespace without an extension
      "80000000\r\n",                   // above Integer.MAX_VALUE
      "ffffffffffffffffffff\r\n",       // overflow
      "1\na\r\n0\r\n\r\n",              // bare LF after the size
      "1\r\naX0\r\n\r\n",               // data not followed by CRLF
      "1\r\na\n0\r\n\r\n",              // data followed by a bare LF
      "1;\r\na\r\n0\r\n\r\n",           // empty extension name
      "1;a=\r\na\r\n0\r\n\r\n",         // empty extension value
      "1;a=\"x\r\na\r\n0\r\n\r\n",      // unterminated quoted value
      "1;a=b c\r\na\r\n0\r\n\r\n",      // whitespace inside a token value
      "1;a\u0000\r\na\r\n0\r\n\r\n",    // NUL in an extension
      "1\r\na\r\n0\r\nX : v\r\n\r\n",   // trailer field with whitespace before the colon
      "1\r\na\r\n0\r\n fold\r\n\r\n",   // obs-fold in the trailers
      "1\r\na\r\n0\r\nX: a\u0000\r\n\r\n", // NUL in a trailer value
      "1\r\na\r\n0\r\n\n",              // bare LF ending the trailer section
  })
  void chunkedBodyRefusals(String chunks) {
    List<Framing.Entry> out = decode("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks);
    assertThat(out).hasSize(1);
    assertThat(out.get(0).head).as("the head was good").startsWith("POST /");
    assertThat(out.get(0).failed).as("%s", out).isTrue(); // RequestGuard: 400 "Malformed request body framing"
  }

  @Test
  void largestChunkSizeIsAcceptedAndStreamed() {
    List<Framing.Entry> out = decode("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nabc");
    assertThat(out.get(0).failed).isFalse();
    assertThat(out.get(0).body.size()).isEqualTo(3);
  }

  @Test
  void trailersShareTheHeadsHeaderSizeBudgetAsInNetty() {
    String head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"; // 26 field bytes
    String trailer = "X-T: " + "t".repeat(Framing.MAX_HEADER - 26 - 5);
    assertThat(failure(head + "\r\n1\r\na\r\n0\r\n" + trailer + "\r\n\r\n")).isNull();
    assertThat(failure(head + "\r\n1\r\na\r\n0\r\n" + trailer + "t\r\n\r\n"))
        .startsWith("TooLongHttpHeaderException");
  }

  @Test
  void leadingEmptyLinesAreIgnored() {
    assertThat(failure("\r\n\r\nGET / HTTP/1.1\r\n\r\n")).isNull(); // RFC 9112 §2.2
  }

  @Test
  void channelClosedMidHeadIsAFailedRequestAsNettyEmitsIt() {
    EmbeddedChannel ch = channel();
    ch.writeInbound(Unpooled.copiedBuffer("GET / HTTP/1.1\r\nHost: h\r\n", StandardCharsets.US_ASCII));
    assertThat((Object) ch.readInbound()).isNull();
    ch.finish();
    HttpRequest bad = ch.readInbound();
    assertThat(bad.decoderResult().isFailure()).isTrue();
    ReferenceCountUtil.release(bad);
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }

  @Test
  void bodySlicesShareTheInputBuffer() {
    EmbeddedChannel ch = channel();
    ByteBuf in = Unpooled.copiedBuffer("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", StandardCharsets.US_ASCII);
    ch.writeInbound(in);
    ReferenceCountUtil.release(ch.readInbound());
    LastHttpContent c = ch.readInbound();
    assertThat(c.content().unwrap()).as("a slice, not a copy").isNotNull();
    c.release();
    assertThat(in.refCnt()).as("released once the slice is").isZero();
    assertThat(ch.finishAndReleaseAll()).isFalse();
  }
}
