package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The replica-side codec: requests encoded as Netty encodes them, responses matched to their requests' methods. */
class WireClientCodecTest {
  private static DefaultFullHttpRequest post() {
    DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST,
        "/v1/chat/completions", Unpooled.copiedBuffer("{\"model\":\"m\"}", StandardCharsets.US_ASCII));
    req.headers().set(HttpHeaderNames.CONTENT_LENGTH, 13).set(HttpHeaderNames.HOST, "replica:8000");
    return req;
  }

  private static String encoded(EmbeddedChannel ch) {
    StringBuilder sb = new StringBuilder();
    ByteBuf b;
    while ((b = ch.readOutbound()) != null) {
      sb.append(b.toString(StandardCharsets.ISO_8859_1));
      b.release();
    }
    return sb.toString();
  }

  @Test
  void requestsAreEncodedByteForByteAsNettyEncodesThem() {
    EmbeddedChannel wire = new EmbeddedChannel(new WireClientCodec(new HttpDecoderConfig()));
    EmbeddedChannel netty = new EmbeddedChannel(new HttpRequestEncoder());
    wire.writeOutbound(post());
    netty.writeOutbound(post());
    assertThat(encoded(wire)).isEqualTo(encoded(netty)).startsWith("POST /v1/chat/completions HTTP/1.1\r\n");
    assertThat(wire.finishAndReleaseAll()).isFalse();
    assertThat(netty.finishAndReleaseAll()).isFalse();
  }

  @Test
  void pipelinedResponsesAreMatchedToTheirRequestsInOrder() {
    String head = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n";
    List<Framing.Entry> e = Framing.exchange(new WireClientCodec(new HttpDecoderConfig()),
        List.of(HttpMethod.HEAD, HttpMethod.GET, HttpMethod.HEAD, HttpMethod.POST),
        List.of(Framing.ascii(head + head + "abc" + head + head + "xyz")), false);
    assertThat(e).hasSize(4).allMatch(x -> x.complete && !x.failed);
    assertThat(e.stream().map(x -> x.body.size())).containsExactly(0, 3, 0, 3);
  }
}
