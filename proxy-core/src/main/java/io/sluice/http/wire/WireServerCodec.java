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
 * The client side's HTTP/1.1 codec, in place of Netty's {@code HttpServerCodec} and
 * {@code HttpServerKeepAliveHandler}: Sluice's strict {@link WireRequestDecoder} for requests, Netty's
 * {@link HttpResponseEncoder} for responses. Like {@code HttpServerCodec} the two share the methods of the requests
 * read and not yet answered, so a response to {@code HEAD} is encoded without a body (RFC 9110 §9.3.2) and a 2xx to
 * {@code CONNECT} without {@code Transfer-Encoding} (RFC 9110 §9.3.6), whoever wrote it — the relay, an error, a
 * local endpoint. Interim 1xx responses (other than 101) do not consume a request's method. They also share the
 * connection's persistence ({@link KeepAlive}, the keep-alive handler's rules): a response that will be the last gets
 * {@code Connection: close} and the connection closes once its last content is written. One per connection; event
 * loop only.
 */
public final class WireServerCodec extends CombinedChannelDuplexHandler<WireRequestDecoder, HttpResponseEncoder> {
  public WireServerCodec(HttpDecoderConfig config) {
    this(config, true);
  }

  /**
   * @param keepAlive false: persistence is left to a {@code HttpServerKeepAliveHandler} after this codec (the
   *                  keep-alive differential test's reference, the pipeline as it was)
   */
  WireServerCodec(HttpDecoderConfig config, boolean keepAlive) {
    Queue<HttpMethod> methods = new ArrayDeque<>(2);
    KeepAlive persistence = keepAlive ? new KeepAlive() : null;
    init(new WireRequestDecoder(config.getMaxInitialLineLength(), config.getMaxHeaderSize(),
        config.getMaxChunkSize(), methods, persistence), new Encoder(methods, persistence));
  }

  private static final class Encoder extends HttpResponseEncoder {
    private final Queue<HttpMethod> methods;
    /** The connection's persistence, or null (left to a handler after the codec). */
    private final KeepAlive keepAlive;
    private HttpMethod method;

    Encoder(Queue<HttpMethod> methods, KeepAlive keepAlive) {
      this.methods = methods;
      this.keepAlive = keepAlive;
    }

    /**
     * The keep-alive handler's part, before the message is encoded: a response head is told to {@link KeepAlive}
     * (which may mark it {@code Connection: close}); a response's last content closes the connection once written
     * when it was the last response (a void promise is made a real one for the listener).
     */
    @Override
    public void write(io.netty.channel.ChannelHandlerContext ctx, Object msg, io.netty.channel.ChannelPromise promise)
        throws Exception {
      if (keepAlive != null) {
        if (msg instanceof HttpResponse r) {
          keepAlive.onResponse(r);
        }
        if (msg instanceof io.netty.handler.codec.http.LastHttpContent && keepAlive.closeAfter()) {
          promise = promise.unvoid();
          promise.addListener(io.netty.channel.ChannelFutureListener.CLOSE);
        }
      }
      super.write(ctx, msg, promise);
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
