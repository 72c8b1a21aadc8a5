package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;

/**
 * A relayed response head for the client, most of it already bytes: {@link #headers()} holds only what the
 * pipeline's handlers decide by — {@code Transfer-Encoding} (the encoder ends a chunked body), a {@code Content-Length}
 * of a 1xx, 204 or 205 (which the encoder drops or sets), and {@code Connection} when Sluice adds it — while every
 * other field line, a Content-Length ({@link #contentLengthInFields}), the replica's as it sent them and
 * Sluice's own, is in {@link #fields()}, which {@link WireServerCodec}'s encoder writes after the map's fields. So
 * the codec's keep-alive rules ({@link KeepAlive}) and its encoder see an ordinary response, and no header object is
 * made for the fields they do not read. One per client connection, reused: written and encoded within one {@code write}
 * call on the event loop. Event loop only.
 */
public final class RelayedHead extends DefaultHttpResponse {
  private ByteBuf fields;
  /** The Content-Length written as a line of {@link #fields} (not in the map), or -1. */
  private long lengthInFields = -1;

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
    lengthInFields = -1;
    return this;
  }

  /**
   * Says that {@link #fields()} holds the response's {@code Content-Length: length} line, which the map then does
   * not: the keep-alive rules ({@link KeepAlive}) read the framing from here. Only for a status whose
   * Content-Length the encoder leaves alone (not 1xx, 204 or 205).
   */
  public RelayedHead contentLengthInFields(long length) {
    if (length < 0) {
      throw new IllegalArgumentException("content length: " + length + " (expected: >= 0)");
    }
    lengthInFields = length;
    return this;
  }

  /** The Content-Length in {@link #fields()}, or -1 when the map holds the framing. */
  long contentLengthInFields() {
    return lengthInFields;
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
