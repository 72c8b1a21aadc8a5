package io.sluice.http.wire;

import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpStatusClass;
import java.util.ArrayDeque;
import java.util.Queue;

/**
 * The client side's HTTP/1.1 codec, in place of Netty's {@code HttpServerCodec}: Sluice's strict
 * {@link WireRequestDecoder} for requests, Netty's {@link HttpResponseEncoder} for responses. Like
 * {@code HttpServerCodec} the two share the methods of the requests read and not yet answered, so a response to
 * {@code HEAD} is encoded without a body (RFC 9110 §9.3.2) and a 2xx to {@code CONNECT} without
 * {@code Transfer-Encoding} (RFC 9110 §9.3.6), whoever wrote it — the relay, an error, a local endpoint. Interim
 * 1xx responses (other than 101) do not consume a request's method. One per connection; event loop only.
 */
public final class WireServerCodec extends CombinedChannelDuplexHandler<WireRequestDecoder, HttpResponseEncoder> {
  public WireServerCodec(HttpDecoderConfig config) {
    Queue<HttpMethod> methods = new ArrayDeque<>(2);
    init(new WireRequestDecoder(config.getMaxInitialLineLength(), config.getMaxHeaderSize(),
        config.getMaxChunkSize(), methods), new Encoder(methods));
  }

  private static final class Encoder extends HttpResponseEncoder {
    private final Queue<HttpMethod> methods;
    private HttpMethod method;

    Encoder(Queue<HttpMethod> methods) {
      this.methods = methods;
    }

    /**
     * A plain {@link io.netty.buffer.ByteBuf} is bytes already on the wire's terms — a relayed body piece framed as
     * the response's head says ({@link WireResponseDecoder#relayRaw}) — and passes unencoded; the encoder's state is
     * the response's (its {@code LastHttpContent} still ends it).
     */
    @Override
    public boolean acceptOutboundMessage(Object msg) throws Exception {
      return !(msg instanceof io.netty.buffer.ByteBuf) && super.acceptOutboundMessage(msg);
    }

    /** The head being encoded, when it is a {@link RelayedHead}: its field bytes follow the map's fields. */
    private RelayedHead relayed;

    @Override
    protected void encode(io.netty.channel.ChannelHandlerContext ctx, Object msg, java.util.List<Object> out)
        throws Exception {
      if (msg instanceof RelayedHead r) {
        relayed = r;
        try {
          super.encode(ctx, msg, out);
        } finally {
          relayed = null;
          r.releaseFields();
        }
        return;
      }
      super.encode(ctx, msg, out);
    }

    @Override
    protected void encodeHeaders(io.netty.handler.codec.http.HttpHeaders headers, io.netty.buffer.ByteBuf buf) {
      super.encodeHeaders(headers, buf);
      RelayedHead r = relayed;
      if (r != null && r.fields() != null) {
        buf.writeBytes(r.fields());
      }
    }

    @Override
    protected void sanitizeHeadersBeforeEncode(HttpResponse msg, boolean isAlwaysEmpty) {
      if (!isAlwaysEmpty && HttpMethod.CONNECT.equals(method)
          && msg.status().codeClass() == HttpStatusClass.SUCCESS) {
        msg.headers().remove(HttpHeaderNames.TRANSFER_ENCODING);
        return;
      }
      super.sanitizeHeadersBeforeEncode(msg, isAlwaysEmpty);
    }

    @Override
    protected boolean isContentAlwaysEmpty(HttpResponse msg) {
      int code = msg.status().code();
      if (code < 200 && code != 101) {
        return super.isContentAlwaysEmpty(msg); // interim: the request's final response is still to come
      }
      method = methods.poll();
      return HttpMethod.HEAD.equals(method) || super.isContentAlwaysEmpty(msg);
    }
  }
}
