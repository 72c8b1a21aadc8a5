package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;

/**
 * A relayed response head for the client, most of it already bytes: {@link #headers()} holds only what the
 * pipeline's handlers decide by — the framing field ({@code Content-Length} or {@code Transfer-Encoding}) and
 * {@code Connection} when Sluice adds it — while every other field line, the replica's as it sent them and
 * Sluice's own, is in {@link #fields()}, which {@link WireServerCodec}'s encoder writes after the map's fields. So
 * {@code HttpServerKeepAliveHandler} and the encoder see an ordinary response, and no header object is made for
 * the fields they do not read. One per client connection, reused: written and encoded within one {@code write}
 * call on the event loop. Event loop only.
 */
public final class RelayedHead extends DefaultHttpResponse {
  private ByteBuf fields;

  public RelayedHead() {
    super(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
        DefaultHttpHeadersFactory.headersFactory().withValidation(false).newHeaders());
  }

  /**
   * Readies this head for a response: {@code status}, an empty map, and {@code fields} (taken over: field lines,
   * each ending with CRLF, without the empty line).
   */
  public RelayedHead reset(HttpResponseStatus status, ByteBuf fields) {
    releaseFields();
    setProtocolVersion(HttpVersion.HTTP_1_1);
    setStatus(status);
    headers().clear();
    this.fields = fields;
    return this;
  }

  /** The field lines besides the map's; null once encoded. */
  ByteBuf fields() {
    return fields;
  }

  /** Lets the field bytes go (the encoder, once written; or the next reset). */
  void releaseFields() {
    if (fields != null) {
      fields.release();
      fields = null;
    }
  }
}
