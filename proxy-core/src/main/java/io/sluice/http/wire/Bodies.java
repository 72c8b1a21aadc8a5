package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.List;

/**
 * Body pieces as both wire decoders emit them, requests and responses alike: retained slices of the cumulation (no
 * copy), {@link BodyEnd} for the last piece of a Content-Length body, {@link LastHttpContent#EMPTY_LAST_CONTENT}
 * after a chunked body without trailers. Stateless; the decoder keeps the state. Event loop only.
 */
public final class Bodies {
  static final HttpHeadersFactory TRAILERS = DefaultHttpHeadersFactory.trailersFactory().withValidation(false);

  private Bodies() {}

  /** {@code data} as the last piece of a Content-Length body, for an encoder: no trailer map (takes it over). */
  public static LastHttpContent end(ByteBuf data) {
    return new BodyEnd(data);
  }

  /**
   * Emits the next piece of a Content-Length body (at most {@code maxChunkSize} bytes) into {@code out}, if any byte
   * of it is readable; the last piece as {@link BodyEnd}.
   *
   * @return the body bytes still to come: 0 once the last piece was emitted
   */
  static long fixed(ByteBuf in, long remaining, int maxChunkSize, List<Object> out) {
    int n = (int) Math.min(Math.min(remaining, maxChunkSize), in.readableBytes());
    if (n == 0) {
      return remaining;
    }
    ByteBuf data = in.readRetainedSlice(n);
    remaining -= n;
    // a length-delimited body has no trailers (RFC 9112 §6.3): no empty trailer map for them
    out.add(remaining == 0 ? new BodyEnd(data) : new DefaultHttpContent(data));
    return remaining;
  }

  /**
   * Advances {@code chunks} over {@code in} and emits what it found: a data piece, the end (with trailers when they
   * came), or on a framing error a {@link DefaultLastHttpContent} whose result is the failure (the rest of {@code in}
   * is then discarded).
   *
   * @return {@link ChunkedBodyParser#NEED_MORE}, {@code DATA}, {@code DONE} or {@code FAILED}
   */
  static int chunked(ChunkedBodyParser chunks, ByteBuf in, List<Object> out) {
    int r = chunks.next(in);
    switch (r) {
      case ChunkedBodyParser.DATA:
        out.add(new DefaultHttpContent(in.readRetainedSlice(chunks.dataLength())));
        return r;
      case ChunkedBodyParser.DONE: {
        HttpHeaders t = chunks.trailers();
        if (t == null) {
          out.add(LastHttpContent.EMPTY_LAST_CONTENT);
        } else {
          LastHttpContent last = new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER, TRAILERS);
          last.trailingHeaders().set(t);
          out.add(last);
        }
        return r;
      }
      case ChunkedBodyParser.FAILED: {
        in.skipBytes(in.readableBytes());
        LastHttpContent bad = new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER);
        bad.setDecoderResult(DecoderResult.failure(chunks.failure()));
        out.add(bad);
        return r;
      }
      default:
        return r;
    }
  }
}
