package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Queue;

/**
 * The replica side's HTTP/1.1 codec, in place of Netty's {@code HttpClientCodec}: Netty's {@link HttpRequestEncoder}
 * for requests, Sluice's strict {@link WireResponseDecoder} for responses. Like {@code HttpClientCodec} the two share
 * the methods of the requests written and not yet answered (the encoder adds one per request head, the decoder takes
 * one per final response), so the response to a {@code HEAD} is read without a body (RFC 9110 §9.3.2) and a 2xx to
 * {@code CONNECT} ends HTTP on the connection. Goes where the codec was: {@code [ssl] → http → idle → relay}. One per
 * connection; event loop only.
 */
public final class WireClientCodec extends CombinedChannelDuplexHandler<WireResponseDecoder, HttpRequestEncoder> {
  /** With the limits of {@code config}: initial line length, header size, chunk size. */
  public WireClientCodec(HttpDecoderConfig config) {
    Queue<HttpMethod> methods = new ArrayDeque<>(2);
    init(new WireResponseDecoder(config.getMaxInitialLineLength(), config.getMaxHeaderSize(),
        config.getMaxChunkSize(), methods), new Encoder(methods));
  }

  /** The response decoder, for {@link WireResponseDecoder#relayRaw} from the handler that received a head. */
  public WireResponseDecoder responses() {
    return inboundHandler();
  }

  private static final class Encoder extends HttpRequestEncoder {
    private final Queue<HttpMethod> methods;

    Encoder(Queue<HttpMethod> methods) {
      this.methods = methods;
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) throws Exception {
      if (msg instanceof HttpRequest req) {
        methods.add(req.method());
      }
      super.encode(ctx, msg, out);
    }

    /** A request read by {@link WireRequestDecoder}: its field lines as received, with the relay's edits. */
    @Override
    protected void encodeHeaders(HttpHeaders headers, ByteBuf buf) {
      if (!(headers instanceof WireHeaders w) || !w.writeFields(buf)) {
        super.encodeHeaders(headers, buf);
      }
    }
  }
}
