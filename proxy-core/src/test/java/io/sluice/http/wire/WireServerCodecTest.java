package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The codec pair in the gateway's pipeline: responses encoded as {@code HttpServerCodec} encodes them. */
class WireServerCodecTest {
  private static final HttpDecoderConfig CONFIG = new HttpDecoderConfig();

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"GET", "HEAD", "POST", "CONNECT"})
  void responsesAreEncodedAsHttpServerCodecEncodesThem(String method) {
    String wire = exchange(new EmbeddedChannel(new WireServerCodec(CONFIG)), method);
    String netty = exchange(new EmbeddedChannel(new HttpServerCodec(CONFIG)), method);
    assertThat(wire).isEqualTo(netty);
    if (method.equals("HEAD")) {
      assertThat(wire).as("no body after a HEAD").endsWith("\r\n\r\n").doesNotContain("hello");
    }
  }

  @Test
  void pipelinedHeadThenGetKeepTheirOwnRules() {
    EmbeddedChannel ch = new EmbeddedChannel(new WireServerCodec(CONFIG));
    ch.writeInbound(Unpooled.copiedBuffer("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        StandardCharsets.US_ASCII));
    drainInbound(ch);
    ch.writeOutbound(response("hello"));
    ch.writeOutbound(response("world"));
    String out = outbound(ch);
    assertThat(out).doesNotContain("hello").contains("world");
    ch.finishAndReleaseAll();
  }

  @Test
  void anInterimResponseDoesNotTakeTheRequestsMethod() {
    EmbeddedChannel ch = new EmbeddedChannel(new WireServerCodec(CONFIG));
    ch.writeInbound(Unpooled.copiedBuffer("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n", StandardCharsets.US_ASCII));
    drainInbound(ch);
    HttpResponse interim = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE);
    ch.writeOutbound(interim, LastHttpContent.EMPTY_LAST_CONTENT);
    ch.writeOutbound(response("hello"));
    assertThat(outbound(ch)).startsWith("HTTP/1.1 100 Continue\r\n").doesNotContain("hello");
    ch.finishAndReleaseAll();
  }

  @Test
  void wellKnownHeaderNamesAreSharedAndKeepTheirCase() {
    EmbeddedChannel ch = new EmbeddedChannel(new WireServerCodec(CONFIG));
    ch.writeInbound(Unpooled.copiedBuffer("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: a/b\r\n"
        + "X-Custom-Thing: 1\r\nContent-Length: 0\r\n\r\n", StandardCharsets.US_ASCII));
    HttpRequest req = ch.readInbound();
    java.util.List<CharSequence> names = new java.util.ArrayList<>();
    req.headers().iteratorCharSequence().forEachRemaining(e -> names.add(e.getKey()));
    assertThat(names).extracting(CharSequence::toString)
        .containsExactly("Host", "content-type", "X-Custom-Thing", "Content-Length");
    assertThat(names.get(0)).isSameAs(KnownNames.of(Unpooled.copiedBuffer("Host", StandardCharsets.US_ASCII), 0, 4));
    assertThat(names.get(2)).isInstanceOf(AsciiString.class);
    assertThat(req.method().name()).isEqualTo("POST");
    ReferenceCountUtil.release(req);
    ch.finishAndReleaseAll();
  }

  @Test
  void aRelayedHeadIsItsMapFieldsThenItsFieldBytesAndRawBodyBytesPassUnencoded() {
    EmbeddedChannel ch = new EmbeddedChannel(new WireServerCodec(CONFIG)); // keep-alive included
    ch.writeInbound(Unpooled.copiedBuffer("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        + "POST /b HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n", StandardCharsets.US_ASCII));
    drainInbound(ch);
    RelayedHead head = new RelayedHead();
    io.netty.buffer.ByteBuf fields = Unpooled.copiedBuffer("Server: uvicorn\r\nx-request-id: r1\r\n",
        StandardCharsets.US_ASCII);
    head.reset(HttpResponseStatus.OK, fields).headers().set(HttpHeaderNames.TRANSFER_ENCODING, "chunked");
    ch.writeOutbound(head, Unpooled.copiedBuffer("5;x=1\r\nhello\r\n", StandardCharsets.US_ASCII),
        LastHttpContent.EMPTY_LAST_CONTENT);
    assertThat(fields.refCnt()).as("released once encoded").isZero();
    assertThat(outbound(ch)).isEqualTo("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nServer: uvicorn\r\n"
        + "x-request-id: r1\r\n\r\n5;x=1\r\nhello\r\n0\r\n\r\n");
    // Reused for the next response: an HTTP/1.0 request's, which the codec closes after (keep-alive rules).
    head.reset(HttpResponseStatus.NOT_FOUND, Unpooled.copiedBuffer("a: b\r\n", StandardCharsets.US_ASCII))
        .headers().set(HttpHeaderNames.CONTENT_LENGTH, "2");
    ch.writeOutbound(head, Unpooled.copiedBuffer("no", StandardCharsets.US_ASCII), LastHttpContent.EMPTY_LAST_CONTENT);
    assertThat(outbound(ch)).isEqualTo("HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nconnection: close\r\n"
        + "a: b\r\n\r\nno");
    assertThat(ch.isOpen()).as("closed after the HTTP/1.0 request's response").isFalse();
    ch.finishAndReleaseAll();
  }

  private static String exchange(EmbeddedChannel ch, String method) {
    ch.writeInbound(Unpooled.copiedBuffer(method + " " + (method.equals("CONNECT") ? "example.com:443" : "/x")
        + " HTTP/1.1\r\nHost: x\r\n\r\n", StandardCharsets.US_ASCII));
    drainInbound(ch);
    FullHttpResponse r = response("hello");
    r.headers().set(HttpHeaderNames.TRANSFER_ENCODING, "chunked");
    r.headers().remove(HttpHeaderNames.CONTENT_LENGTH);
    ch.writeOutbound(r);
    String out = outbound(ch);
    ch.finishAndReleaseAll();
    return out;
  }

  private static FullHttpResponse response(String body) {
    FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
        Unpooled.copiedBuffer(body, StandardCharsets.US_ASCII));
    r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length());
    return r;
  }

  private static void drainInbound(EmbeddedChannel ch) {
    Object m;
    while ((m = ch.readInbound()) != null) {
      ReferenceCountUtil.release(m);
    }
  }

  private static String outbound(EmbeddedChannel ch) {
    StringBuilder b = new StringBuilder();
    Object m;
    while ((m = ch.readOutbound()) != null) {
      b.append(((ByteBuf) m).toString(StandardCharsets.US_ASCII));
      ReferenceCountUtil.release(m);
    }
    return b.toString();
  }
}
