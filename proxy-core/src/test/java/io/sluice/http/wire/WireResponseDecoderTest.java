package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The replica-side response decoder, fed raw bytes: each framing rule of RFC 9112 §6.3, each refusal, each limit. */
class WireResponseDecoderTest {
  private static final String JSON = "HTTP/1.1 200 OK\r\ndate: Wed, 02 Dec 2026 15:00:00 GMT\r\nserver: uvicorn\r\n"
      + "content-length: 28\r\ncontent-type: application/json\r\n\r\n{\"id\":\"cmpl-1\",\"choices\":[]}";
  private static final String SSE_HEAD = "HTTP/1.1 200 OK\r\ndate: Wed, 02 Dec 2026 15:00:00 GMT\r\n"
      + "server: uvicorn\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n";
  private static final String SSE_BODY = "13\r\ndata: {\"a\":\"Hel\"}\n\n\r\n" + "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";

  private static EmbeddedChannel decoder() {
    return new EmbeddedChannel(new WireResponseDecoder(512, 1024, 64));
  }

  private static EmbeddedChannel codec(HttpMethod... requests) {
    EmbeddedChannel ch = new EmbeddedChannel(new WireClientCodec(new HttpDecoderConfig().setMaxInitialLineLength(512)
        .setMaxHeaderSize(1024).setMaxChunkSize(64)));
    for (HttpMethod m : requests) {
      ch.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, m, "/v1/models"));
    }
    ch.releaseOutbound();
    return ch;
  }

  /** Everything the channel emits for {@code bytes} (then for the close, when {@code close}); caller releases. */
  private static List<Object> feed(EmbeddedChannel ch, String bytes, boolean close) {
    ch.writeInbound(Unpooled.copiedBuffer(bytes, StandardCharsets.ISO_8859_1));
    if (close) {
      ch.finish();
    }
    List<Object> out = new ArrayList<>();
    Object m;
    while ((m = ch.readInbound()) != null) {
      out.add(m);
    }
    return out;
  }

  private static void release(EmbeddedChannel ch, List<Object> msgs) {
    msgs.forEach(ReferenceCountUtil::release);
    assertThat(ch.finishAndReleaseAll()).as("nothing left unread").isFalse();
  }

  private static String body(List<Object> msgs) {
    StringBuilder sb = new StringBuilder();
    for (Object o : msgs) {
      if (o instanceof HttpContent c) {
        sb.append(c.content().toString(StandardCharsets.ISO_8859_1));
      }
    }
    return sb.toString();
  }

  private static Throwable failure(List<Object> msgs) {
    for (Object o : msgs) {
      if (o instanceof HttpObject h && h.decoderResult().isFailure()) {
        return h.decoderResult().cause();
      }
    }
    return null;
  }

  private static List<Framing.Entry> summary(String bytes, boolean close, HttpMethod... requests) {
    return Framing.exchange(new WireClientCodec(new HttpDecoderConfig().setMaxInitialLineLength(512)
        .setMaxHeaderSize(1024).setMaxChunkSize(64)), List.of(requests), List.of(Framing.ascii(bytes)), close);
  }

  @Test
  void aContentLengthBodyEndsWithBodyEndAndSharesTheInputBytes() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, JSON, false);
    try {
      assertThat(out).hasSize(2);
      HttpResponse res = (HttpResponse) out.get(0);
      assertThat(res.status()).as("the standard reason gives Netty's constant").isSameAs(HttpResponseStatus.OK);
      assertThat(res.headers().get(HttpHeaderNames.CONTENT_TYPE)).isEqualTo("application/json");
      assertThat(res.headers().names()).containsExactly("date", "server", "content-length", "content-type");
      assertThat(out.get(1)).isInstanceOf(BodyEnd.class);
      BodyEnd end = (BodyEnd) out.get(1);
      assertThat(end.content().unwrap()).as("a retained slice of the cumulation, not a copy").isNotNull();
      assertThat(end.trailingHeaders().isEmpty()).isTrue();
      assertThat(body(out)).isEqualTo("{\"id\":\"cmpl-1\",\"choices\":[]}");
    } finally {
      release(ch, out);
    }
  }

  @Test
  void commonValuesAndARepeatedDateAreSharedStringsAcrossResponses() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, JSON + JSON, false);
    try {
      HttpResponse a = (HttpResponse) out.get(0);
      HttpResponse b = (HttpResponse) out.get(2);
      assertThat(b.headers().get("date")).isSameAs(a.headers().get("date"));
      assertThat(b.headers().get("content-type")).isSameAs(a.headers().get("content-type"));
      assertThat(b.headers().get("server")).isSameAs(a.headers().get("server"));
    } finally {
      release(ch, out);
    }
  }

  @Test
  void aChunkedBodyWithoutTrailersEndsWithTheSharedEmptyLastContent() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, SSE_HEAD + SSE_BODY, false);
    try {
      assertThat(out.get(out.size() - 1)).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
      assertThat(body(out)).isEqualTo("data: {\"a\":\"Hel\"}\n\ndata: [DONE]\n\n");
    } finally {
      release(ch, out);
    }
  }

  @Test
  void trailersAreAMapOnlyWhenPresentAndFramingFieldsInThemAreDropped() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, SSE_HEAD + "3\r\nabc\r\n0\r\nX-Usage: 12\r\nContent-Length: 9\r\n\r\n", false);
    try {
      LastHttpContent last = (LastHttpContent) out.get(out.size() - 1);
      assertThat(last).isNotSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
      assertThat(last.trailingHeaders().get("x-usage")).isEqualTo("12");
      assertThat(last.trailingHeaders().contains("content-length")).isFalse();
    } finally {
      release(ch, out);
    }
  }

  @Test
  void aResponseToHeadHasNoBodyWhateverItsContentLengthSays() {
    EmbeddedChannel ch = codec(HttpMethod.HEAD, HttpMethod.GET);
    List<Object> out = feed(ch, "HTTP/1.1 200 OK\r\ncontent-length: 28\r\n\r\n" + JSON, false);
    try {
      assertThat(out).hasSize(4);
      assertThat(out.get(1)).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
      assertThat(((HttpResponse) out.get(2)).status().code()).as("the next response starts right after the head")
          .isEqualTo(200);
      assertThat(body(out)).isEqualTo("{\"id\":\"cmpl-1\",\"choices\":[]}");
    } finally {
      release(ch, out);
    }
  }

  @Test
  void withoutTheMethodQueueAHeadResponseWouldBeReadAsHavingABody() {
    // the contrast to the test above: the method queue is what makes HEAD work
    List<Framing.Entry> plain = Framing.exchange(new WireResponseDecoder(512, 1024, 64), List.of(),
        List.of(Framing.ascii("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc")), false);
    assertThat(plain.get(0).body.size()).isEqualTo(3);
  }

  @Test
  void severalInterimResponsesComeEachWithItsOwnEndBeforeTheFinalOne() {
    List<Framing.Entry> e = summary("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
        + JSON, false, HttpMethod.POST);
    assertThat(e).hasSize(3);
    assertThat(e.get(0).head).startsWith("HTTP/1.1 100 [Continue]");
    assertThat(e.get(0).complete).isTrue();
    assertThat(e.get(1).head).startsWith("HTTP/1.1 103 [Early Hints] | link: </a>");
    assertThat(e.get(1).complete).isTrue();
    assertThat(e.get(2).body.size()).isEqualTo(28);
    assertThat(e.get(2).complete).isTrue();
  }

  @Test
  void interimResponsesDoNotConsumeTheRequestsMethod() {
    // 100 then the HEAD's 200: the 200 must still be read as the answer to HEAD (no body)
    List<Framing.Entry> e = summary("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
        false, HttpMethod.HEAD);
    assertThat(e).hasSize(2);
    assertThat(e.get(1).complete).isTrue();
    assertThat(e.get(1).body.size()).isZero();
  }

  @Test
  void noContentAndNotModifiedHaveNoBodyAndLoseTheirChunkedField() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, "HTTP/1.1 204 No Content\r\ntransfer-encoding: chunked\r\n\r\n"
        + "HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n" + JSON, false);
    try {
      assertThat(out).hasSize(6);
      assertThat(((HttpResponse) out.get(0)).headers().contains(HttpHeaderNames.TRANSFER_ENCODING)).isFalse();
      assertThat(out.get(1)).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
      assertThat(((HttpResponse) out.get(2)).status().code()).isEqualTo(304);
      assertThat(((HttpResponse) out.get(2)).headers().get("content-length")).isEqualTo("10");
      assertThat(out.get(3)).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
      assertThat(body(out)).isEqualTo("{\"id\":\"cmpl-1\",\"choices\":[]}");
    } finally {
      release(ch, out);
    }
  }

  @Test
  void switchingProtocolsIsPassedOnAndWhatFollowsIsRawBytes() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        + "\r\n\u0081\u0002hi", false);
    try {
      assertThat(((HttpResponse) out.get(0)).status().code()).isEqualTo(101);
      assertThat(out.get(1)).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
      assertThat(out.get(2)).isInstanceOf(ByteBuf.class);
      assertThat(((ByteBuf) out.get(2)).toString(StandardCharsets.ISO_8859_1)).isEqualTo("\u0081\u0002hi");
    } finally {
      release(ch, out);
    }
  }

  @Test
  void aTwoHundredToConnectOpensATunnel() {
    List<Framing.Entry> e = summary("HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", false,
        HttpMethod.CONNECT);
    assertThat(e).hasSize(1);
    assertThat(e.get(0).complete).isTrue();
    assertThat(new String(e.get(0).raw.toByteArray(), StandardCharsets.ISO_8859_1)).isEqualTo("HTTP/1.1 200 OK\r\n\r\n");
  }

  @Test
  void transferEncodingWithContentLengthIsRefused() {
    for (String te : new String[] {"chunked", "gzip"}) {
      EmbeddedChannel ch = decoder();
      List<Object> out = feed(ch, "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: " + te + "\r\n\r\n"
          + "3\r\nabc\r\n0\r\n\r\n" + JSON, false);
      try {
        assertThat(out).as(te + ": one failed message, the rest discarded").hasSize(1);
        assertThat(failure(out)).hasMessageContaining("both Transfer-Encoding and Content-Length");
      } finally {
        release(ch, out);
      }
    }
  }

  @Test
  void chunkedAnywhereButLastIsRefused() {
    for (String te : new String[] {"chunked, gzip", "chunked\r\ntransfer-encoding: gzip", "chunked, chunked"}) {
      EmbeddedChannel ch = decoder();
      List<Object> out = feed(ch, "HTTP/1.1 200 OK\r\ntransfer-encoding: " + te + "\r\n\r\n0\r\n\r\n", false);
      try {
        assertThat(out).as(te).hasSize(1);
        assertThat(failure(out)).as(te).hasMessageContaining("chunked");
      } finally {
        release(ch, out);
      }
    }
  }

  @Test
  void aFinalCodingOtherThanChunkedIsReadUntilTheConnectionCloses() {
    List<Framing.Entry> e = summary("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n", true);
    assertThat(e).hasSize(1);
    assertThat(new String(e.get(0).body.toByteArray(), StandardCharsets.ISO_8859_1)).isEqualTo("3\r\nabc\r\n0\r\n\r\n");
    assertThat(e.get(0).complete).isTrue();
  }

  @Test
  void withoutContentLengthOrTransferEncodingTheBodyEndsWithTheConnection() {
    EmbeddedChannel ch = decoder();
    List<Object> open = feed(ch, "HTTP/1.0 200 OK\r\n\r\n" + "x".repeat(150), false);
    try {
      assertThat(open).as("head and 64-byte pieces, no end while open").hasSize(4);
      assertThat(open.get(open.size() - 1)).isNotInstanceOf(LastHttpContent.class);
      List<Object> closed = feed(ch, "tail", true);
      assertThat(closed).hasSize(2);
      assertThat(closed.get(1)).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
      closed.forEach(ReferenceCountUtil::release);
    } finally {
      release(ch, open);
    }
  }

  @Test
  void invalidOrRepeatedContentLengthIsRefused() {
    for (String cl : new String[] {"content-length: abc", "content-length: -1", "content-length: +3",
        "content-length: 3, 3", "content-length: 3\r\ncontent-length: 3", "content-length: 3\r\nContent-Length: 4",
        "content-length:", "content-length: 99999999999999999999"}) {
      EmbeddedChannel ch = decoder();
      List<Object> out = feed(ch, "HTTP/1.1 200 OK\r\n" + cl + "\r\n\r\nabc", false);
      try {
        assertThat(out).as(cl).hasSize(1);
        assertThat(failure(out)).as(cl).hasMessageContaining("Content-Length");
      } finally {
        release(ch, out);
      }
    }
  }

  @Test
  void aZeroContentLengthEndsAtTheHead() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", false);
    try {
      assertThat(out).hasSize(2);
      assertThat(out.get(1)).isSameAs(LastHttpContent.EMPTY_LAST_CONTENT);
    } finally {
      release(ch, out);
    }
  }

  @Test
  void statusLinesWithAnEmptyOrOwnReasonAreAccepted() {
    String[][] cases = {{"HTTP/1.1 200 \r\n", "HTTP/1.1 200 []"}, {"HTTP/1.1 200\r\n", "HTTP/1.1 200 []"},
        {"HTTP/1.0 404 Nope, not here\r\n", "HTTP/1.0 404 [Nope, not here]"},
        {"HTTP/1.1 299 X\r\n", "HTTP/1.1 299 [X]"}, {"HTTP/1.1 503 Service  Unavailable \r\n",
            "HTTP/1.1 503 [Service  Unavailable]"}};
    for (String[] c : cases) {
      List<Framing.Entry> e = summary(c[0] + "content-length: 0\r\n\r\n", false);
      assertThat(e).as(c[0]).hasSize(1);
      assertThat(e.get(0).failed).as(c[0]).isFalse();
      assertThat(e.get(0).head).as(c[0]).startsWith(c[1]);
    }
  }

  @Test
  void malformedStatusLinesAreRefused() {
    String[] lines = {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 600 Odd", "HTTP/1.1 099 Low", "HTTP/2.0 200 OK",
        "HTTP/1.2 200 OK", "http/1.1 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1\t200 OK", "HTTP/1.1 +20 OK",
        "HTTP/1.1 200\tOK", "HTTP/1.1 200 O\u0000K", "HTTP/1.1 200 O\u007fK", "ICAP/1.0 200 OK", "\r\nHTTP/1.1 200 OK",
        " HTTP/1.1 200 OK", "HTTP/1.1 200 OK\n"};
    for (String l : lines) {
      EmbeddedChannel ch = decoder();
      List<Object> out = feed(ch, l + "\r\ncontent-length: 0\r\n\r\n", false);
      try {
        assertThat(out).as(l).hasSize(1);
        assertThat(failure(out)).as(l).isInstanceOf(IllegalArgumentException.class);
      } finally {
        release(ch, out);
      }
    }
  }

  @Test
  void junkThatCannotStartAStatusLineIsRefusedBeforeItsLineEnds() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, "\u0016\u0003\u0001", false); // a TLS record where HTTP was expected
    try {
      assertThat(failure(out)).hasMessageContaining("does not start with HTTP/1.1");
    } finally {
      release(ch, out);
    }
  }

  @Test
  void fieldSyntaxIsAsStrictAsOnTheRequestSide() {
    String[] fields = {"x-folded: a\r\n continued", "x-sp : v", "x-nul: a\u0000b", "x-cr: a\rb", "x-lf: a\nb: c",
        "x y: v", ": v", "x-ctl: a\u0001b"};
    for (String f : fields) {
      EmbeddedChannel ch = decoder();
      List<Object> out = feed(ch, "HTTP/1.1 200 OK\r\n" + f + "\r\ncontent-length: 0\r\n\r\n", false);
      try {
        assertThat(out).as(f).hasSize(1);
        assertThat(failure(out)).as(f).isNotNull();
      } finally {
        release(ch, out);
      }
    }
  }

  @Test
  void transferEncodingInAnHttp10ResponseIsRefused() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, "HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", false);
    try {
      assertThat(failure(out)).hasMessageContaining("HTTP/1.0");
    } finally {
      release(ch, out);
    }
  }

  @Test
  void linesHeadersAndPiecesAreLimited() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, "HTTP/1.1 200 " + "r".repeat(600), false);
    try {
      assertThat(failure(out)).isInstanceOf(TooLongHttpLineException.class);
    } finally {
      release(ch, out);
    }
    ch = decoder();
    out = feed(ch, "HTTP/1.1 200 OK\r\n" + ("x-big: " + "b".repeat(100) + "\r\n").repeat(11), false);
    try {
      assertThat(failure(out)).isInstanceOf(TooLongHttpHeaderException.class);
    } finally {
      release(ch, out);
    }
    ch = decoder();
    out = feed(ch, "HTTP/1.1 200 OK\r\ncontent-length: 150\r\n\r\n" + "y".repeat(150), false);
    try {
      assertThat(out).as("head + 64 + 64 + 22").hasSize(4);
      assertThat(((HttpContent) out.get(1)).content().readableBytes()).isEqualTo(64);
      assertThat(out.get(3)).isInstanceOf(BodyEnd.class);
    } finally {
      release(ch, out);
    }
  }

  @Test
  void aBadChunkFailsTheBodyAndEverythingAfterIsDiscarded() {
    for (String bad : new String[] {"zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcX\r\n0\r\n\r\n", "3\nabc\r\n0\r\n\r\n",
        "3;a=b c\r\nabc\r\n0\r\n\r\n", "3;x=\"q\u00e4\"\r\nabc\r\n0\r\n\r\n", "ffffffffff\r\n", "3\r\nabc\r\n0\r\n fold\r\n\r\n"}) {
      EmbeddedChannel ch = decoder();
      List<Object> out = feed(ch, SSE_HEAD + bad + JSON, false);
      try {
        Object last = out.get(out.size() - 1);
        assertThat(last).as(bad).isInstanceOf(LastHttpContent.class);
        assertThat(((LastHttpContent) last).decoderResult().isFailure()).as(bad).isTrue();
        assertThat(out.stream().filter(o -> o instanceof HttpResponse).count()).as(bad + ": nothing after it")
            .isEqualTo(1);
      } finally {
        release(ch, out);
      }
    }
  }

  @Test
  void aHeadCutShortByTheCloseIsAFailedResponse() {
    EmbeddedChannel ch = decoder();
    List<Object> out = feed(ch, "HTTP/1.1 200 OK\r\ncontent-ty", true);
    try {
      assertThat(out).hasSize(1);
      assertThat(failure(out)).isInstanceOf(PrematureChannelClosureException.class);
    } finally {
      release(ch, out);
    }
  }

  @Test
  void aBodyCutShortByTheCloseEmitsNoEndSoTheHandlerSeesTheClose() {
    for (String partial : new String[] {"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", SSE_HEAD + "13\r\nda",
        SSE_HEAD + "3\r\nabc\r\n"}) {
      EmbeddedChannel ch = decoder();
      List<Object> out = feed(ch, partial, true);
      try {
        assertThat(out).as(partial).noneMatch(o -> o instanceof LastHttpContent);
        assertThat(failure(out)).as(partial).isNull();
      } finally {
        release(ch, out);
      }
    }
  }

  @Test
  void everyByteBoundaryGivesTheSameMessages() {
    String[] streams = {JSON + JSON, SSE_HEAD + SSE_BODY,
        SSE_HEAD + "3;ext=\"v\"\r\nabc\r\n0\r\nx-t: 1\r\n\r\n" + JSON,
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + JSON,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n" + "close-delimited ".repeat(10)};
    for (String s : streams) {
      byte[] b = Framing.ascii(s);
      List<byte[]> bytes = new ArrayList<>();
      for (byte x : b) {
        bytes.add(new byte[] {x});
      }
      List<Framing.Entry> whole = Framing.exchange(new WireResponseDecoder(512, 1024, 64), List.of(), List.of(b), true);
      List<Framing.Entry> split = Framing.exchange(new WireResponseDecoder(512, 1024, 64), List.of(), bytes, true);
      assertThat(split.toString()).as(s).isEqualTo(whole.toString());
      assertThat(Framing.sameList(split, whole)).as(s).isTrue();
      assertThat(whole).as(s).allMatch(e -> e.complete && !e.failed);
    }
  }
}
