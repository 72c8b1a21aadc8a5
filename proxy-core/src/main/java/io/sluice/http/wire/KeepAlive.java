package io.sluice.http.wire;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;

/**
 * Whether the connection stays open after a response: the rules of Netty's {@code HttpServerKeepAliveHandler}, as
 * state that {@link WireServerCodec}'s two halves share instead of a handler of its own between the codec and the
 * guard (one pipeline hop fewer for every message in and out). The decoder reports each request it emits
 * ({@link #onRequest}); the encoder each response head ({@link #onResponse}, which may set {@code Connection:
 * close}) and asks at each response's end whether to close ({@link #closeAfter}). Per RFC 9112 §9.3 and the
 * handler: a request that is not keep-alive ({@code Connection: close}, or HTTP/1.0 without {@code keep-alive})
 * makes its response the last; pipelined requests after it are not counted; a response that is not keep-alive or
 * whose end the client could only tell by the connection closing (no Content-Length, not chunked, not multipart,
 * not 1xx or 204) closes the connection after it. {@code WireKeepAliveTest} holds it to the handler on generated
 * exchanges. One per connection; event loop only.
 */
final class KeepAlive {
  private static final String MULTIPART_PREFIX = "multipart";

  private boolean persistent = true;
  /** Requests read and not yet answered, while persistent (RFC 9112 §9.3.2, pipelining). */
  private int pending;

  /** A request head the decoder emits (also a failed one: Netty's {@code /bad-request}, HTTP/1.0). */
  void onRequest(HttpRequest request) {
    if (persistent) {
      pending++;
      persistent = HttpUtil.isKeepAlive(request);
    }
  }

  /** A response head about to be encoded; marks it {@code Connection: close} when it will be the last. */
  void onResponse(HttpResponse response) {
    if (response.status().codeClass() != HttpStatusClass.INFORMATIONAL) {
      pending--;
    }
    if (!HttpUtil.isKeepAlive(response) || !selfDelimited(response)) {
      pending = 0;
      persistent = false;
    }
    if (closeAfter()) {
      HttpUtil.setKeepAlive(response, false);
    }
  }

  /** Whether the connection closes once the current response's last content is written. */
  boolean closeAfter() {
    return pending == 0 && !persistent;
  }

  /** Whether the client can tell where the response ends without the connection closing (RFC 9112 §6.3). */
  private static boolean selfDelimited(HttpResponse response) {
    if (response instanceof RelayedHead r && r.contentLengthInFields() >= 0
        || HttpUtil.isContentLengthSet(response) || HttpUtil.isTransferEncodingChunked(response)) {
      return true;
    }
    int code = response.status().code();
    if (response.status().codeClass() == HttpStatusClass.INFORMATIONAL
        || code == HttpResponseStatus.NO_CONTENT.code()) {
      return true;
    }
    String type = response.headers().get(HttpHeaderNames.CONTENT_TYPE);
    return type != null && type.regionMatches(true, 0, MULTIPART_PREFIX, 0, MULTIPART_PREFIX.length());
  }
}
