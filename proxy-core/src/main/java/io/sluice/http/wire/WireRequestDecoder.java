package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Strict HTTP/1.1 request decoder (RFC 9112), in place of the request half of {@code HttpServerCodec}: goes where the
 * codec's decoder is, before {@code RequestGuard}, with Netty's {@code HttpResponseEncoder} beside it for responses
 * ({@link WireServerCodec}, which also keeps {@code HttpServerKeepAliveHandler}'s rules, {@link KeepAlive}). It emits exactly what Netty's {@code HttpRequestDecoder} emits,
 * so the rest of the pipeline is unchanged: a {@link DefaultHttpRequest} whose headers are a {@link WireHeaders} (the
 * field lines kept as bytes, no re-validation: the parser validated them), then {@link DefaultHttpContent} pieces
 * (retained slices of the input, no copy, at most {@code maxChunkSize} each), then a {@link LastHttpContent}
 * ({@link LastHttpContent#EMPTY_LAST_CONTENT} for a request without a body or without trailers). Pipelined requests
 * are decoded one after the other from the same bytes.
 *
 * <p>Owns framing only: the head grammar is {@link HeadParser}'s, chunked bodies {@link ChunkedBodyParser}'s.
 * Bad input is data, as in Netty: a bad head becomes a {@link DefaultFullHttpRequest} {@code GET /bad-request
 * HTTP/1.0} whose {@code decoderResult()} is a failure (a {@code TooLongHttpLineException} for the request line, a
 * {@code TooLongHttpHeaderException} for the fields, an {@code IllegalArgumentException} saying what was wrong for
 * the rest), a bad body a {@link DefaultLastHttpContent} with a failed result; from then on every byte on the
 * connection is discarded. Leading empty lines before a request line are skipped (RFC 9112 §2.2).
 *
 * <p>Deliberate differences from Netty 4.2.18's decoder (all refusals where Netty accepts; see
 * {@link HeadParser} for the list): obs-fold, more than one SP between request-line parts, a version other than
 * HTTP/1.0 or HTTP/1.1, non-ASCII in the target, more than one Host, repeated Content-Length in HTTP/1.0,
 * whitespace inside chunk-extension names, obs-fold in trailers, a bare LF, bare CR or SP before the request
 * line (Netty skips them), bytes that cannot begin a request line (refused at once, not when their line ends). The
 * failed message is always {@code /bad-request} (Netty keeps the method and URI when the request line was already
 * parsed). A successful request's {@code decoderResult()} is plain {@code SUCCESS} (Netty's carries the line and
 * header sizes; nothing in Sluice reads them). Not supported: {@code Upgrade} (no HTTP/1.1 upgrade in Sluice) and
 * {@code HttpExpectationFailedEvent} (no {@code HttpServerExpectContinueHandler} in the pipeline).
 *
 * <p>When wiring it in place of {@code HttpServerCodec}: the codec's encoder half also remembers each request's method
 * so that a response to HEAD (or a 2xx to CONNECT) is encoded without a body; a bare {@code HttpResponseEncoder} does
 * not, so whoever answers HEAD must send no body bytes and no chunked terminator. Event loop only.
 */
public final class WireRequestDecoder extends ByteToMessageDecoder {
  private static final int HEAD = 0;
  private static final int FIXED = 1;
  private static final int CHUNKED = 2;
  private static final int BAD = 3;

  private static final HttpHeadersFactory HEADERS = DefaultHttpHeadersFactory.headersFactory().withValidation(false);

  private final HeadParser heads;
  private final ChunkedBodyParser chunks;
  private final int maxChunkSize;
  /** Where each decoded request's method goes, for the response encoder ({@link WireServerCodec}); or null. */
  private final java.util.Queue<HttpMethod> methods;
  /** Told of each request emitted, for the encoder's keep-alive decision ({@link WireServerCodec}); or null. */
  private final KeepAlive keepAlive;
  private int state = HEAD;
  /** The last request-target decoded on this connection ({@link #target}). */
  private String lastTarget;
  private long remaining;

  /** With the limits of {@code config}: initial line length, header size, chunk size. */
  public WireRequestDecoder(HttpDecoderConfig config) {
    this(config.getMaxInitialLineLength(), config.getMaxHeaderSize(), config.getMaxChunkSize());
  }

  /**
   * @param maxInitialLineLength longest request line, bytes without CRLF → else 414 by RequestGuard
   * @param maxHeaderSize        most bytes of field lines, CRLFs not counted → else 431
   * @param maxChunkSize         largest content piece emitted (a bigger body or chunk is split)
   */
  public WireRequestDecoder(int maxInitialLineLength, int maxHeaderSize, int maxChunkSize) {
    this(maxInitialLineLength, maxHeaderSize, maxChunkSize, null);
  }

  WireRequestDecoder(int maxInitialLineLength, int maxHeaderSize, int maxChunkSize,
      java.util.Queue<HttpMethod> methods) {
    this(maxInitialLineLength, maxHeaderSize, maxChunkSize, methods, null);
  }

  WireRequestDecoder(int maxInitialLineLength, int maxHeaderSize, int maxChunkSize,
      java.util.Queue<HttpMethod> methods, KeepAlive keepAlive) {
    this.methods = methods;
    this.keepAlive = keepAlive;
    this.heads = new HeadParser(maxInitialLineLength, maxHeaderSize);
    this.chunks = new ChunkedBodyParser(maxChunkSize, maxInitialLineLength, maxHeaderSize);
    this.maxChunkSize = maxChunkSize;
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    switch (state) {
      case HEAD:
        decodeHead(in, out);
        return;
      case FIXED:
        remaining = Bodies.fixed(in, remaining, maxChunkSize, out);
        if (remaining == 0) {
          state = HEAD;
        }
        return;
      case CHUNKED:
        decodeChunked(in, out);
        return;
      default:
        in.skipBytes(in.readableBytes()); // BAD: the framing is lost; discard until the connection closes
    }
  }

  private void decodeHead(ByteBuf in, List<Object> out) {
    // RFC 9112 §2.2: empty lines before the request line are ignored (CRLF only: a bare LF is refused below).
    while (in.readableBytes() >= 2 && in.getByte(in.readerIndex()) == '\r'
        && in.getByte(in.readerIndex() + 1) == '\n') {
      in.skipBytes(2);
    }
    if (in.readableBytes() == 1 && in.getByte(in.readerIndex()) == '\r') {
      return;
    }
    if (!in.isReadable()) {
      return;
    }
    int r = heads.parse(in);
    if (r == HeadParser.NEED_MORE) {
      return;
    }
    if (r == HeadParser.FAILED) {
      in.skipBytes(in.readableBytes()); // framing lost: the rest of the connection's input is discarded
      out.add(invalidRequest(heads.failure()));
      return;
    }
    MessageHead h = heads.head();
    HttpRequest req = request(in, in.readerIndex(), h);
    in.skipBytes(h.length);
    if (methods != null) {
      methods.add(req.method());
    }
    if (keepAlive != null) {
      keepAlive.onRequest(req);
    }
    out.add(req);
    if (h.chunked) {
      chunks.reset(h.fieldBytes);
      state = CHUNKED;
    } else if (h.contentLength > 0) {
      remaining = h.contentLength;
      state = FIXED;
    } else {
      out.add(LastHttpContent.EMPTY_LAST_CONTENT); // as HttpObjectDecoder: no body (RFC 9112 §6.3 rule 7)
    }
  }

  private void decodeChunked(ByteBuf in, List<Object> out) {
    int r = Bodies.chunked(chunks, in, out);
    if (r == ChunkedBodyParser.DONE) {
      state = HEAD;
    } else if (r == ChunkedBodyParser.FAILED) {
      state = BAD;
    }
  }


  /** Netty's shape for a request it could not parse: {@code GET /bad-request HTTP/1.0}, failed, the rest dropped. */
  private Object invalidRequest(Exception cause) {
    state = BAD;
    DefaultFullHttpRequest bad = new DefaultFullHttpRequest(HttpVersion.HTTP_1_0, HttpMethod.GET, "/bad-request",
        Unpooled.EMPTY_BUFFER, HEADERS, Bodies.TRAILERS);
    bad.setDecoderResult(DecoderResult.failure(cause));
    if (keepAlive != null) {
      keepAlive.onRequest(bad); // HTTP/1.0 without keep-alive: its answer is the last
    }
    return bad;
  }

  private HttpRequest request(ByteBuf in, int base, MessageHead h) {
    HttpMethod method = method(in, base + h.methodStart, h.methodLen);
    String uri = target(in, base + h.targetStart, h.targetLen);
    HttpVersion version = h.version == MessageHead.HTTP_1_1 ? HttpVersion.HTTP_1_1 : HttpVersion.HTTP_1_0;
    // No request-line re-validation: the parser allowed no CTL or SP in the method or target.
    // The fields stay bytes (one copy of the lines, offsets): no entry, name or value object per field.
    return new DefaultHttpRequest(version, method, uri, WireHeaders.of(in, base, h));
  }

  /**
   * The request-target as a string: the previous request's on this connection when it is the same bytes (a client's
   * requests mostly go to one route), else a new one. The parser allowed only visible ASCII in it.
   */
  private String target(ByteBuf in, int at, int len) {
    String last = lastTarget;
    if (last != null && last.length() == len) {
      int diff = 0;
      for (int k = 0; k < len; k++) {
        diff |= last.charAt(k) ^ in.getByte(at + k); // all of it: a target's query is the client's, compare it whole
      }
      if (diff == 0) {
        return last;
      }
    }
    String uri = in.toString(at, len, StandardCharsets.US_ASCII);
    lastTarget = len <= 2048 ? uri : null;
    return uri;
  }

  /** The method: Netty's constant for the common ones without building a string, else {@code HttpMethod.valueOf}. */
  private static HttpMethod method(ByteBuf in, int at, int len) {
    if (len == 4 && in.getInt(at) == 0x504f5354) { // POST
      return HttpMethod.POST;
    }
    if (len == 3 && in.getMedium(at) == 0x474554) { // GET
      return HttpMethod.GET;
    }
    return HttpMethod.valueOf(in.toString(at, len, StandardCharsets.US_ASCII));
  }

  @Override
  protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
    super.decodeLast(ctx, in, out);
    if (state == HEAD && in.isReadable()) {
      // As Netty: a head cut short by the connection's end is a failed request (nobody will read the answer).
      out.add(invalidRequest(new PrematureChannelClosureException("Connection closed before received headers")));
      in.skipBytes(in.readableBytes());
    } else if (state == FIXED || state == CHUNKED) {
      state = HEAD; // a body cut short: nothing more to emit (Netty emits nothing either)
    }
  }
}
