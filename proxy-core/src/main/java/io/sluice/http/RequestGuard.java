package io.sluice.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.sluice.config.ServerSettings;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The front door, right after the codec ({@code WireServerCodec}) and keep-alive: turns each valid
 * request head into an {@link Exchange} and refuses the rest, and runs exchanges one at a time.
 *
 * <ul>
 *   <li>Decoder failures: request line too long → 414, headers too large → 431, anything else (including
 *       {@code Content-Length} together with {@code Transfer-Encoding}, RFC 9112 §6.3) → 400; the connection is
 *       closed, since its framing can no longer be trusted.</li>
 *   <li>Body larger than the limit → 413 (at once from {@code Content-Length}, or when a chunked body crosses it),
 *       connection closed.</li>
 *   <li>Path normalised ({@link PathNormalizer}); traversal → 400; unknown route → 404; wrong method → 405.</li>
 *   <li>A request that takes longer than {@code request_read_timeout} to arrive → 408; a keep-alive connection idle
 *       for {@code idle_timeout} is closed.</li>
 *   <li>Pipelining (RFC 9112 §9.3.2): a request that arrives while one is in progress waits, with reads paused,
 *       until the previous response is complete, so responses leave in order.</li>
 *   <li>Body chunks of a request already answered (an early error) are released here, so later handlers only see
 *       live exchanges.</li>
 * </ul>
 *
 * <p>Pipeline position ({@link GatewayInitializer}): guard — after the codec and keep-alive, before auth. Owns
 * framing (body limits, discard after an early reply), the read timers and pipelining (one exchange at a time); not
 * the exchange's end (the {@link ExchangeObserver} records that).
 */
final class RequestGuard extends ChannelInboundHandlerAdapter implements Exchange.CompletionListener {
  private static final Logger log = LoggerFactory.getLogger(RequestGuard.class);

  private final ClientConnection conn;
  private final ServerSettings settings;
  private final long maxBody;
  private final ArrayDeque<HttpObject> pipelined = new ArrayDeque<>(2);
  private ChannelHandlerContext ctx;
  private Exchange current;
  private long bodyBytes;
  /** Body bytes of the current request read after it was answered early. */
  private long discarded;
  /** The most of an early-answered request's body read (and dropped) to keep the connection; then it is closed. */
  static final long MAX_DISCARD = 256 * 1024;
  private static final int BUSY = 0;
  private static final int IDLE = 1;
  private static final int READING = 2;
  /** No exchange yet, but the bytes of a request head are arriving (seen by {@link HeadWatch}). */
  private static final int HEAD = 3;

  private ScheduledFuture<?> timer;
  private int phase = BUSY;
  private long deadline;
  private boolean draining;

  private final Drain drain;

  private final java.util.List<io.sluice.config.PassThroughEndpoint> passThrough;
  private final ExchangeObserver observer;
  private final boolean metricsPublic;

  RequestGuard(ClientConnection conn, ServerSettings settings, long maxBody, Drain drain,
      java.util.List<io.sluice.config.PassThroughEndpoint> passThrough, ExchangeObserver observer,
      boolean metricsPublic) {
    this.passThrough = passThrough;
    this.conn = conn;
    this.settings = settings;
    this.maxBody = maxBody;
    this.drain = drain;
    this.observer = observer;
    this.metricsPublic = metricsPublic;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    drain.register(ctx.channel());
    armIdleTimer();
    ctx.fireChannelActive();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt == Drain.STARTED) {
      if (current == null && pipelined.isEmpty()) {
        ctx.close(); // idle keep-alive connection: nothing to finish
      }
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (!(msg instanceof HttpObject obj)) {
      ctx.fireChannelRead(msg);
      return;
    }
    if (!pipelined.isEmpty() || (current != null && current.requestComplete)) {
      // The previous exchange's response is still going out: wait (RFC 9112 §9.3.2).
      pipelined.add(obj);
      conn.pauseReads(ClientConnection.PAUSE_PIPELINED);
      return;
    }
    dispatch(obj);
  }

  /** Handles a message of the current request (the caller made sure there is no complete one in the way). */
  private void dispatch(HttpObject obj) {
    if (current != null) {
      onBody(ctx, obj);
    } else if (obj instanceof HttpRequest req) {
      onHead(ctx, req);
    } else {
      ReferenceCountUtil.release(obj); // trailing input of a request already refused
    }
  }

  private void onHead(ChannelHandlerContext ctx, HttpRequest req) {
    cancelTimer();
    bodyBytes = 0;
    discarded = 0;
    String uri = req.uri();
    int q = uri.indexOf('?');
    String rawPath = q >= 0 ? uri.substring(0, q) : uri;
    String query = q >= 0 ? uri.substring(q) : "";
    String path = PathNormalizer.normalize(rawPath);
    if (path == null && (rawPath.startsWith("/v1/models/") || rawPath.startsWith("/models/"))) {
      String escaped = PathNormalizer.normalize(rawPath, true); // a model id with an escaped slash, answered here
      path = escaped != null && Route.forPath(escaped) == Route.MODEL ? escaped : null;
    }
    String id = RequestIds.acceptOrGenerate(req.headers().get(Exchange.X_REQUEST_ID));
    Route route = path == null ? null : Route.forPath(path);
    io.sluice.config.PassThroughEndpoint endpoint = null;
    if (route == null && path != null) {
      for (io.sluice.config.PassThroughEndpoint e : passThrough) {
        if (e.matches(path)) {
          endpoint = e;
          route = Route.PASSTHROUGH;
          break;
        }
      }
    }
    Exchange ex = new Exchange(conn, req, route, path == null ? rawPath : path, query, id, this, drain, observer);
    ex.metricsPublic = metricsPublic;
    if (endpoint != null) {
      ex.passThrough = endpoint;
      ex.upstreamPath = PathNormalizer.encode(path.substring(endpoint.path().length()));
      ex.rawBase = true;
      ex.upstreamQuery = PassThroughQuery.merge(query, endpoint.defaultQueryParams());
    } else if (route == Route.VLLM) {
      ex.upstreamPath = PathNormalizer.encode(path.substring("/vllm".length()));
    }
    observer.started(ex); // tracing: the server span (a null check when off)
    current = ex;
    ex.requestComplete = req instanceof LastHttpContent;
    if (ex.requestComplete) {
      ReferenceCountUtil.release(req);
    }

    DecoderResult dr = req.decoderResult();
    if (dr.isFailure()) {
      ex.requestComplete = true; // the decoder discards the rest of the connection's input
      Throwable cause = dr.cause();
      if (cause instanceof TooLongHttpLineException) {
        ex.fail(ProxyError.URI_TOO_LONG, "Request line longer than " + settings.maxUriLength()
            + " bytes. Shorten the URL (send parameters in the body).", true);
      } else if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
        ex.fail(ProxyError.HEADERS_TOO_LARGE, "Request headers larger than " + settings.maxHeaderSize()
            + " bytes. Send fewer or smaller headers.", true);
      } else {
        ex.fail(ProxyError.BAD_REQUEST, "Malformed HTTP request: " + describe(cause), true);
      }
      return;
    }
    if (req.headers().contains(HttpHeaderNames.TRANSFER_ENCODING)
        && req.headers().contains(HttpHeaderNames.CONTENT_LENGTH)) {
      ex.fail(ProxyError.BAD_REQUEST, "Request has both Content-Length and Transfer-Encoding (RFC 9112 §6.3): "
          + "send only one.", true);
      return;
    }
    String codingError = transferCodingError(req);
    if (codingError != null) {
      ex.fail(codingError.startsWith("501") ? ProxyError.NOT_IMPLEMENTED : ProxyError.BAD_REQUEST,
          codingError.substring(4), true);
      return;
    }
    long contentLength;
    try {
      contentLength = req.headers() instanceof io.sluice.http.wire.WireHeaders w ? w.contentLength()
          : HttpUtil.getContentLength(req, -1L);
    } catch (NumberFormatException e) {
      ex.fail(ProxyError.BAD_REQUEST, "Content-Length is not a number.", true);
      return;
    }
    if (contentLength > maxBody) {
      ex.fail(ProxyError.PAYLOAD_TOO_LARGE, "Request body of " + contentLength + " bytes exceeds the limit of "
          + maxBody + " bytes (general_settings.max_request_size_mb).", true);
      return;
    }
    if (path == null) {
      ex.fail(ProxyError.BAD_REQUEST, "Request path is not a valid path: it climbs above the root or hides a "
          + "slash, backslash or NUL behind a percent-escape.");
      return;
    }
    if (route == null) {
      ex.fail(ProxyError.NOT_FOUND, "Route " + shorten(PathNormalizer.redacted(path)) + " not found. LLM routes: /v1/chat/completions, "
          + "/v1/completions, /v1/embeddings, /v1/responses, /v1/rerank, /v1/score, /v1/messages, "
          + "/v1/messages/count_tokens, /v1/models.");
      return;
    }
    if (route == Route.PASSTHROUGH && !ex.passThrough.methods().isEmpty()
        && !ex.passThrough.methods().contains(req.method().name())) {
      ex.fail(ProxyError.METHOD_NOT_ALLOWED, "Method " + req.method() + " not allowed on " + ex.passThrough.path()
          + ": its pass_through_endpoints entry allows " + ex.passThrough.methods() + ".");
      return;
    }
    if (route == Route.VLLM && (req.method().equals(io.netty.handler.codec.http.HttpMethod.CONNECT)
        || req.method().equals(io.netty.handler.codec.http.HttpMethod.TRACE))) {
      ex.fail(ProxyError.METHOD_NOT_ALLOWED, "Method " + req.method() + " not allowed on /vllm/*: use GET, POST, PUT, "
          + "DELETE, PATCH, HEAD or OPTIONS.");
      return;
    }
    if (route.method != null && !route.method.equals(req.method())) {
      ex.fail(ProxyError.METHOD_NOT_ALLOWED, "Method " + req.method() + " not allowed on " + PathNormalizer.redacted(path) + ": use "
          + route.method + ".");
      return;
    }
    if (!ex.requestComplete) {
      armReadTimer(ex);
    }
    ctx.fireChannelRead(ex);
    if (ex.requestComplete && !ex.responseStarted()) {
      ctx.fireChannelRead(LastHttpContent.EMPTY_LAST_CONTENT); // the head was the whole request: its end marker
    }
  }

  private void onBody(ChannelHandlerContext ctx, HttpObject obj) {
    Exchange ex = current;
    if (!(obj instanceof HttpContent content)) {
      ReferenceCountUtil.release(obj); // cannot happen with HttpServerCodec; be safe
      return;
    }
    boolean last = content instanceof LastHttpContent;
    if (last) {
      ex.requestComplete = true;
      cancelTimer();
    }
    if (content.decoderResult().isFailure()) {
      content.release();
      ex.requestComplete = true;
      ex.fail(ProxyError.BAD_REQUEST, "Malformed request body framing: " + describe(content.decoderResult().cause()),
          true);
      return;
    }
    bodyBytes += content.content().readableBytes();
    if (bodyBytes > maxBody) {
      content.release();
      if (ex.responseStarted()) {
        ctx.close(); // answered already: nothing left to tell the client
        return;
      }
      ex.fail(ProxyError.PAYLOAD_TOO_LARGE, "Request body exceeds the limit of " + maxBody
          + " bytes (general_settings.max_request_size_mb).", true);
      return;
    }
    if (ex.responseStarted()) {
      // Already answered (an early error): discard the rest of the body, but only so much of it — past
      // MAX_DISCARD the client is sending what nobody will read, so close (nginx's discard limit, likewise).
      discarded += content.content().readableBytes();
      content.release();
      if (discarded > Math.min(MAX_DISCARD, maxBody)) {
        log.debug("{} [{}] closing: {} body bytes after the answer", ctx.channel(), ex.requestId, discarded);
        ctx.close();
        return;
      }
      if (last) {
        maybeNext();
      }
      return;
    }
    ctx.fireChannelRead(content);
  }

  @Override
  public void onResponseComplete(Exchange ex) {
    if (ex == current) {
      maybeNext();
    }
  }

  /** When the current exchange is over on both sides, runs the next pipelined request, if any. */
  private void maybeNext() {
    if (draining) {
      return; // re-entered from a reply made while draining: the loop below looks again
    }
    draining = true;
    try {
      while (current != null && current.requestComplete && current.responseComplete()) {
        current = null;
        if (!conn.channel.isActive()) {
          return;
        }
        HttpObject next;
        while ((current == null || !current.requestComplete) && (next = pipelined.poll()) != null) {
          dispatch(next);
        }
      }
    } finally {
      draining = false;
    }
    if (pipelined.isEmpty()) {
      conn.resumeReads(ClientConnection.PAUSE_PIPELINED);
      if (current == null) {
        armIdleTimer();
      }
    }
  }

  // Timeouts. One timer per connection, re-armed lazily: a phase change only moves the deadline, and the timer,
  // when it fires early, schedules itself for the remainder. A keep-alive connection serving thousands of requests
  // a second thus touches the event loop's timer queue about once per timeout period, not twice per request.

  /**
   * Sits before {@code HttpServerCodec}, which says nothing until a head is complete: tells the guard when the first
   * bytes of a request arrive on an idle connection, so {@code request_read_timeout} counts from there (a head sent a
   * byte a second gets its 408, not a silent close at {@code idle_timeout}). One field check per read.
   */
  final class HeadWatch extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (phase == IDLE && current == null && pipelined.isEmpty()) {
        phase = HEAD;
        deadline = ctx.executor().ticker().nanoTime() + settings.requestReadTimeout().toNanos();
        ensureTimer(settings.requestReadTimeout().toNanos());
      }
      ctx.fireChannelRead(msg);
    }
  }

  /** The handler to place before the codec (see {@link HeadWatch}). */
  ChannelInboundHandlerAdapter headWatch() {
    return new HeadWatch();
  }

  /** 408 for a request head that did not arrive in time; there is no exchange yet, so written here, then closed. */
  private void headTimeout(ChannelHandlerContext ctx) {
    io.netty.buffer.ByteBuf body = ProxyError.REQUEST_TIMEOUT.json(ctx.alloc(), "Request head not received within "
        + settings.requestReadTimeout().toMillis() + " ms (sluice_settings.request_read_timeout).");
    io.netty.handler.codec.http.FullHttpResponse res = new io.netty.handler.codec.http.DefaultFullHttpResponse(
        io.netty.handler.codec.http.HttpVersion.HTTP_1_1, ProxyError.REQUEST_TIMEOUT.status(), body);
    res.headers().set(HttpHeaderNames.CONTENT_TYPE, io.netty.handler.codec.http.HttpHeaderValues.APPLICATION_JSON)
        .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes())
        .set(HttpHeaderNames.CONNECTION, io.netty.handler.codec.http.HttpHeaderValues.CLOSE);
    ctx.writeAndFlush(res).addListener(io.netty.channel.ChannelFutureListener.CLOSE);
  }

  private void armIdleTimer() {
    phase = IDLE;
    deadline = ctx.executor().ticker().nanoTime() + settings.idleTimeout().toNanos();
    ensureTimer(settings.idleTimeout().toNanos());
  }

  private void armReadTimer(Exchange ex) {
    phase = READING;
    deadline = ctx.executor().ticker().nanoTime() + settings.requestReadTimeout().toNanos();
    ensureTimer(settings.requestReadTimeout().toNanos());
  }

  /** A request is in progress and fully read: no client-side deadline until the connection is idle again. */
  private void cancelTimer() {
    phase = BUSY;
  }

  private void ensureTimer(long delayNanos) {
    if (timer != null && timer.getDelay(TimeUnit.NANOSECONDS) <= delayNanos) {
      return;
    }
    if (timer != null) {
      timer.cancel(false);
    }
    timer = ctx.executor().schedule(this::onTimer, delayNanos, TimeUnit.NANOSECONDS);
  }

  private void onTimer() {
    timer = null;
    if (phase == BUSY || !ctx.channel().isActive()) {
      return;
    }
    long left = deadline - ctx.executor().ticker().nanoTime();
    if (left > 0) {
      timer = ctx.executor().schedule(this::onTimer, left, TimeUnit.NANOSECONDS);
      return;
    }
    if (phase == HEAD) {
      if (current == null && pipelined.isEmpty()) {
        log.debug("{} request head not received within {}: 408", ctx.channel(), settings.requestReadTimeout());
        phase = BUSY;
        headTimeout(ctx);
      }
    } else if (phase == IDLE) {
      if (current == null && pipelined.isEmpty()) {
        log.debug("{} idle for {}: closing", ctx.channel(), settings.idleTimeout());
        ctx.close();
      }
    } else if (current != null && !current.requestComplete) {
      Exchange ex = current;
      ex.requestComplete = true;
      if (ex.responseStarted()) {
        // Answered early and the rest of the body is still trickling in: the read deadline holds all the same.
        log.debug("{} [{}] closing: body not received within {} after the answer", ctx.channel(), ex.requestId,
            settings.requestReadTimeout());
        ctx.close();
        return;
      }
      ex.fail(ProxyError.REQUEST_TIMEOUT, "Request not received within " + settings.requestReadTimeout().toMillis()
          + " ms (sluice_settings.request_read_timeout).", true);
    }
  }

  private void stopTimer() {
    phase = BUSY;
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    stopTimer();
    Exchange left = current != null && !current.responseComplete() ? current : null;
    if (current != null) {
      current.settle(); // the client left mid-exchange
    }
    HttpObject o;
    while ((o = pipelined.poll()) != null) {
      ReferenceCountUtil.release(o);
    }
    ctx.fireChannelInactive();
    if (left != null) {
      left.clientGone(); // after the relay let the replica go: what was generated is final
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof java.io.IOException) {
      // Socket errors (reset by peer and the like) are the client's business; log at debug and close.
      log.debug("{} closing after error: {}", ctx.channel(), cause.toString());
      ctx.close();
      return;
    }
    ctx.fireExceptionCaught(cause); // a bug: the pipeline's last-resort handler fails the exchange and closes
  }

  /** The exchange in progress, or null (for the last-resort handler). */
  Exchange current() {
    return current;
  }

  /**
   * What is wrong with the request's {@code Transfer-Encoding}, prefixed by the status ("400 " or "501 "), or null.
   * RFC 9112 §6.3: when chunked is not the final coding the length cannot be known → 400 and close. §6.1: a coding
   * the server does not implement → 501. Sluice implements only {@code chunked}; Netty's decoder would de-chunk
   * {@code gzip, chunked} and pass the gzip bytes on as if uncoded, silently.
   */
  static String transferCodingError(HttpRequest req) {
    if (!req.headers().contains(HttpHeaderNames.TRANSFER_ENCODING)) {
      return null; // most requests: no list built for a header that is not there
    }
    java.util.List<String> values = req.headers().getAll(HttpHeaderNames.TRANSFER_ENCODING);
    java.util.List<String> codings = new java.util.ArrayList<>(2);
    for (String v : values) {
      for (String c : v.split(",", -1)) {
        String t = c.trim();
        int semi = t.indexOf(';');
        codings.add((semi >= 0 ? t.substring(0, semi).trim() : t).toLowerCase(java.util.Locale.ROOT));
      }
    }
    if (!"chunked".equals(codings.get(codings.size() - 1))) {
      return "400 Transfer-Encoding must end with chunked (RFC 9112 §6.3): got " + shorten(String.join(", ", values))
          + ". Send the body with Transfer-Encoding: chunked or with a Content-Length.";
    }
    if (codings.size() > 1) {
      return "501 Transfer-Encoding " + shorten(String.join(", ", values)) + " is not implemented: Sluice accepts "
          + "only chunked (RFC 9112 §6.1). Send the body uncoded (Content-Encoding is relayed as it is).";
    }
    return null;
  }

  private static String describe(Throwable cause) {
    if (cause == null) {
      return "unparseable.";
    }
    String m = cause.getMessage();
    return m == null ? cause.getClass().getSimpleName() : shorten(m);
  }

  private static String shorten(String s) {
    return s.length() > 200 ? s.substring(0, 200) + "…" : s;
  }
}
