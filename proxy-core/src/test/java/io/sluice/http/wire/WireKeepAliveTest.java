package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Keep-alive stays {@link HttpServerKeepAliveHandler}'s job: it reads version and Connection from the requests this
 * decoder emits, exactly as from Netty's (RFC 9112 §9.3).
 */
class WireKeepAliveTest {

  @ParameterizedTest(name = "{0} + [{1}] → open after the response: {2}")
  @CsvSource({
      "HTTP/1.1, '', true",
      "HTTP/1.1, 'Connection: close', false",
      "HTTP/1.1, 'Connection: Upgrade, Close', false",
      "HTTP/1.0, '', false",
      "HTTP/1.0, 'Connection: keep-alive', true",
  })
  void keepAliveHandlerDecidesFromTheDecodedHead(String version, String header, boolean open) {
    assertThat(openAfterResponse(Framing.wire(), version, header)).isEqualTo(open)
        .isEqualTo(openAfterResponse(Framing.netty(), version, header));
  }

  private static boolean openAfterResponse(io.netty.channel.ChannelHandler decoder, String version, String header) {
    EmbeddedChannel ch = new EmbeddedChannel(decoder, new HttpServerKeepAliveHandler());
    String head = "GET / " + version + "\r\n" + (header.isEmpty() ? "" : header + "\r\n") + "\r\n";
    ch.writeInbound(Unpooled.copiedBuffer(head, StandardCharsets.US_ASCII));
    ReferenceCountUtil.release(ch.readInbound()); // request
    ReferenceCountUtil.release(ch.readInbound()); // EMPTY_LAST_CONTENT
    FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.valueOf(version), HttpResponseStatus.OK);
    res.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
    if (header.contains("keep-alive")) {
      res.headers().set(HttpHeaderNames.CONNECTION, "keep-alive"); // an HTTP/1.0 response says so itself
    }
    ch.writeOutbound(res);
    ReferenceCountUtil.release(ch.readOutbound());
    boolean open = ch.isOpen();
    assertThat(ch.finishAndReleaseAll()).isFalse();
    return open;
  }
}
