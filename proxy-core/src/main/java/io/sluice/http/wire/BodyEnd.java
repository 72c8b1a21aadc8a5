package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.LastHttpContent;

/**
 * The last piece of a Content-Length body: a {@link LastHttpContent} without trailers (a length-delimited body has
 * none, RFC 9112 §6.3), so no empty trailer map is built per request as {@code DefaultLastHttpContent} builds one.
 */
final class BodyEnd extends DefaultHttpContent implements LastHttpContent {
  BodyEnd(ByteBuf content) {
    super(content);
  }

  @Override
  public HttpHeaders trailingHeaders() {
    return EmptyHttpHeaders.INSTANCE;
  }

  @Override
  public LastHttpContent copy() {
    return replace(content().copy());
  }

  @Override
  public LastHttpContent duplicate() {
    return replace(content().duplicate());
  }

  @Override
  public LastHttpContent retainedDuplicate() {
    return replace(content().retainedDuplicate());
  }

  @Override
  public LastHttpContent replace(ByteBuf content) {
    BodyEnd dup = new BodyEnd(content);
    dup.setDecoderResult(decoderResult());
    return dup;
  }

  @Override
  public LastHttpContent retain() {
    super.retain();
    return this;
  }

  @Override
  public LastHttpContent retain(int increment) {
    super.retain(increment);
    return this;
  }

  @Override
  public LastHttpContent touch() {
    super.touch();
    return this;
  }

  @Override
  public LastHttpContent touch(Object hint) {
    super.touch(hint);
    return this;
  }
}
