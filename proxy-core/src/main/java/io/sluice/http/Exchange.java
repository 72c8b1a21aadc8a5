package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import io.sluice.auth.Principal;
import io.sluice.routing.Deployment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request and its response: the state every handler of the gateway pipeline shares, passed down the pipeline
 * in place of the {@link HttpRequest} head (the body's {@link HttpContent}s follow it unchanged, always ending with
 * exactly one {@link LastHttpContent}, even for a body-less request — a handler knows it has the whole body when it
 * sees that message, never from {@link #requestComplete}, which is the guard's view of the socket and runs ahead
 * of a handler that paused for an async step). Every reply to the
 * client goes through this object, so "has the response started?" has one answer and {@link #fail} can choose
 * between a JSON error, an SSE error event, and closing the connection. Event loop only.
 */
final class Exchange {
  private static final Logger log = LoggerFactory.getLogger(Exchange.class);
  static final AsciiString X_REQUEST_ID = AsciiString.cached("x-request-id");
  /** {@code content-length: } as Netty's encoder wrote the map's field (its name in lower case). */
  private static final byte[] CONTENT_LENGTH_FIELD = "content-length: ".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** Told when the response's last byte has been written. */
  interface CompletionListener {
    void onResponseComplete(Exchange exchange);
  }

  final ClientConnection conn;
  final HttpRequest request;
  final Route route;
  /** The path without the query, e.g. {@code /v1/chat/completions}. */
  final String path;
  /** The raw query with its {@code ?}, or the empty string. */
  final String query;
  final String requestId;
  final long startNanos;
  final boolean expectContinue;
  private final CompletionListener listener;

  boolean requestComplete;
  private boolean responseStarted;
  private boolean responseComplete;
  private boolean sseResponse;
  /** The relayed response's body goes to the client chunked (so it can be ended early with an SSE error event). */
  private boolean chunkedResponse;

  // Set by the auth step.
  Principal principal;
  /** The header that carried the caller's credential; stripped before anything goes upstream. */
  AsciiString credentialHeader;
  /** Every credential of this exchange that must not go upstream in any header (see {@link Credentials}). */
  Credentials credentials;

  // Set by the body step.
  String model;
  boolean stream;
  /** The alias the client sent as {@code model} when {@link #model} is the group it stands for; else null. */
  String aliasOf;
  /** Whether {@link #affinityKey} is set: the strategy routes by affinity and the request has a key. */
  boolean keyed;
  /** The session's, end user's or prompt prefix's rendezvous key ({@link BodyInspector}); see {@link #keyed}. */
  long affinityKey;
  /** The body's top-level {@code user}: the end user (LiteLLM's customer) the request is for; or null. */
  String endUser;
  /** The model group serving the request now (the requested one, or a fallback). */
  io.sluice.routing.ModelGroup group;
  /** The deployment of the current attempt. */
  Deployment deployment;
  /** The request body as the client sent it, owned by this exchange until {@link #releaseBody()}. */
  ByteBuf body;
  /** Where the body's top-level {@code model} string literal sits, quotes included. */
  int modelStart;
  int modelEnd;
  /** The model value at [modelStart, modelEnd) is raw bytes (a multipart field), not a JSON string literal. */
  boolean modelRaw;
  /** What each attempt inserts at the body's end (written by {@link BodyInspector} only); null = nothing. */
  BodyTail tail;
  /** Where the body sends the request besides its model (written by {@link BodyInspector} only); null = nowhere. */
  Steering steering;
  /**
   * The current attempt's response gets the client's model name ({@link ModelRestamp}): {@code "model":"<the
   * replica's>"} and {@code "model":"<the client's>"}; null = left as the replica sends it.
   */
  Deployment.Restamp restamp;
  /** The body's size, kept after the body is released (usage estimates). */
  int requestBodyBytes;

  // Pass-through ({@link Route#VLLM}, {@link Route#PASSTHROUGH}).
  /** The configured endpoint of a {@link Route#PASSTHROUGH} exchange, else null. */
  io.sluice.config.PassThroughEndpoint passThrough;
  /**
   * For pass-through: the path to append to the target (e.g. {@code /v1/chat/completions} of
   * {@code /vllm/v1/chat/completions}); null for the OpenAI routes (base path + route suffix).
   */
  String upstreamPath;
  /** Append {@link #upstreamPath} to the deployment's base path as it is (configured targets), not its server root. */
  boolean rawBase;
  /** The query to send upstream, with its {@code ?}, or empty. */
  String upstreamQuery;
  /** BYOK: {@code Bearer <client provider key>} to send instead of the deployment's key; never logged. */
  AsciiString providerAuthorization;
  /** count_tokens asked of the replica's {@code /tokenize} (its vLLM does not serve the route); null = relayed. */
  TokenCount tokenCount;

  // Metering: token accounting, spend, limits (see {@link Metering}).
  /** Wall-clock start, for the spend row. */
  final long startMillis;
  /** The body edit that asks the replica for its usage chunk (a stream whose client did not ask); null = none. */
  io.sluice.json.UsageSplice usageSplice;
  /** Reads the response's usage as it passes; null when not metered. */
  io.sluice.json.UsageScanner usage;
  /** The limit scopes this request was admitted against and has not released yet; null = none. */
  java.util.List<io.sluice.limits.LimitScope> limits;
  /** What this request holds against {@link #limits} (budget, tpm) until its release; NONE = nothing. */
  io.sluice.limits.Reservation reservation = io.sluice.limits.Reservation.NONE;
  /**
   * The body's output-token cap as the scanner read it (the largest of {@code max_tokens},
   * {@code max_completion_tokens}, {@code max_output_tokens}); -1 = none. For the budget/tpm reservation.
   */
  long outputTokenCap = -1;
  /** The limiter's answer, for the {@code x-ratelimit-*} headers; null = no limits. */
  io.sluice.limits.Admission admission;
  /** Non-null once the exchange is metered: told once when it ends. */
  Metering metering;
  /** The status the client got; the replica's status (0 before its head). */
  int status;
  int upstreamStatus;
  /** Why Sluice failed the exchange, or null. */
  ProxyError failure;
  /** As counted by {@link Metering} when the exchange ended (for the access log); 0 when not metered. */
  long promptTokens;
  long completionTokens;
  /** USD, as counted by {@link Metering}. */
  double spend;
  /** Attempts sent to replicas (retries and fallbacks included). */
  int attempts;
  /** {@code /metrics} needs no key ({@code require_auth_for_metrics_endpoint: false}). */
  boolean metricsPublic;
  io.sluice.usage.UsageEvent.Outcome outcome;
  /** Response body bytes written to the client; when the response head went out ({@link System#nanoTime()}). */
  long bytesOut;
  long firstByteNanos;
  /** When the first body byte of the relayed response was written ({@link System#nanoTime()}); 0 before. */
  long firstBodyNanos;

  /** Written by {@link Tracing} only: the exchange's span and what only a traced exchange reads; null = not traced. */
  Tracing.Trace trace;
  /** Replicas this exchange's failures put into cooldown. */
  int cooldowns;

  /**
   * The fields Sluice inserts before the body's root object closes, on every attempt (inserted last, so they win over
   * a client's own: Python's json keeps the last of repeated names). A part of the exchange that {@link BodyInspector}
   * alone writes, when the request has any: most have none, and carry no fields for it.
   */
  static final class BodyTail {
    /** Where the body's root object closes (its offset in the body). */
    final int at;
    /**
     * Responses API ({@link Route#RESPONSES}): insert {@code ,"request_id":"resp_<replica tag>_<random>"} per attempt
     * ({@link io.sluice.routing.ResponseIds}), which vLLM makes the stored response's id.
     */
    boolean responseId;
    /** {@code ,"cache_salt":"…"} of the caller's tenant ({@link CacheSalts}); null = none. Shared, read-only. */
    byte[] cacheSalt;

    BodyTail(int at) {
      this.at = at;
    }
  }

  /**
   * Where the request's own body steers it, beyond its model: its per-request fallbacks and the one replica it must
   * reach. Written by {@link BodyInspector} alone (each already checked against the caller's key), read by the
   * relay's retry policy; absent for most requests.
   */
  static final class Steering {
    /** The body's own {@code fallbacks}, replacing the configured ones; or null. */
    java.util.List<String> fallbacks;
    /** The body's own {@code context_window_fallbacks}; or null. */
    java.util.List<String> contextWindowFallbacks;
    /**
     * The one replica this exchange must reach — the one holding the stored response it names (a
     * {@code previous_response_id}, or {@link Route#RESPONSE_BY_ID}): no other replica, no fallback; null = any.
     */
    Deployment pinned;
  }

  /** This exchange's {@link Steering}, made on first use (by {@link BodyInspector}). */
  Steering steer() {
    if (steering == null) {
      steering = new Steering();
    }
    return steering;
  }

  /** The replica this exchange must reach, or null (see {@link Steering#pinned}). */
  Deployment pinned() {
    return steering == null ? null : steering.pinned;
  }

  /** This exchange's {@link BodyTail} at {@code at}, made on first use (by {@link BodyInspector}). */
  BodyTail tailAt(int at) {
    if (tail == null) {
      tail = new BodyTail(at);
    }
    return tail;
  }

  private final Drain drain;
  private boolean settled;
  private final ExchangeObserver observer;
  /** The observer was told. */
  private boolean ended;

  Exchange(ClientConnection conn, HttpRequest request, Route route, String path, String query, String requestId,
      CompletionListener listener, Drain drain, ExchangeObserver observer) {
    this.conn = conn;
    this.request = request;
    this.route = route;
    this.path = path;
    this.query = query;
    this.upstreamQuery = query;
    this.requestId = requestId;
    this.startNanos = System.nanoTime();
    this.startMillis = System.currentTimeMillis();
    this.expectContinue = request.headers().containsValue(HttpHeaderNames.EXPECT, HttpHeaderValues.CONTINUE, true);
    this.listener = listener;
    this.drain = drain;
    this.observer = observer;
    drain.exchangeStarted();
  }

  /** Whether the caller must present a key: every route but the public ones and {@code auth: false} pass-throughs. */
  boolean requiresKey() {
    if (route == Route.METRICS) {
      return !metricsPublic;
    }
    return route == Route.PASSTHROUGH ? passThrough.auth() : route.requiresKey();
  }

  /** The route's family; an unknown route (null) answers in the OpenAI (LiteLLM) shape. */
  Route.Family family() {
    return route == null ? Route.Family.OPENAI : route.family;
  }

  /** Ends this exchange's count in flight; idempotent (the response completed, or the client left). */
  void settle() {
    if (!settled) {
      settled = true;
      drain.exchangeEnded();
    }
  }

  Channel client() {
    return conn.channel;
  }

  boolean responseStarted() {
    return responseStarted;
  }

  boolean responseComplete() {
    return responseComplete;
  }

  /** Starts the relayed response: writes (does not flush) its head. */
  void respond(HttpResponse head, boolean sse) {
    assert !responseStarted;
    responseStarted = true;
    sseResponse = sse;
    status = head.status().code();
    upstreamStatus = status;
    chunkedResponse = io.netty.handler.codec.http.HttpUtil.isTransferEncodingChunked(head);
    firstByteNanos = System.nanoTime();
    ResponseFields f = conn.responseFields.into(head.headers());
    f.set(ResponseFields.REQUEST_ID, requestId);
    rateLimitHeaders(f);
    litellmHeaders(f);
    f.clear();
    if (drain.draining()) {
      head.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    conn.channel.write(head, conn.channel.voidPromise());
  }

  private static final byte[] CONTENT_LENGTH = "content-length".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] TRANSFER_ENCODING =
      "transfer-encoding".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /**
   * Starts the relayed response from the replica's head bytes (what {@link #respond} does with a header map): the
   * replica's field lines copied as they came, less the hop-by-hop ones ({@link HeaderRules#removeHopByHop}'s list;
   * the caller checked {@code Connection} names no others) and those Sluice sets; Sluice's fields written as bytes;
   * the framing field in the small map the pipeline's handlers read. Writes (does not flush) the head. Borrows
   * {@code up} (its bytes must still be there).
   */
  void respondBytes(io.sluice.http.wire.WireResponseDecoder.Head up, boolean sse) {
    respondBytes(up, sse, false);
  }

  /** As above; {@code chunked}: the client gets the body chunked whatever its framing upstream (its length changes). */
  void respondBytes(io.sluice.http.wire.WireResponseDecoder.Head up, boolean sse, boolean chunked) {
    respondBytes(up, sse, chunked, up.contentLength());
  }

  /** As above; a Content-Length response's body is {@code length} bytes (the client's model name changed it). */
  void respondBytes(io.sluice.http.wire.WireResponseDecoder.Head up, boolean sse, boolean chunked, long length) {
    assert !responseStarted;
    responseStarted = true;
    sseResponse = sse;
    status = up.status().code();
    upstreamStatus = status;
    chunkedResponse = chunked || up.contentLength() < 0;
    firstByteNanos = System.nanoTime();
    if (!conn.channel.isActive()) {
      return; // the client is gone (the relay is letting the replica go): nothing to encode the head for
    }
    ByteBuf out = conn.channel.alloc().buffer(up.fieldBytes() + 4 * up.fieldCount() + 384);
    // The Content-Length as bytes, first as the map's field was: no header entry and no string per response. Not
    // for the statuses whose Content-Length the encoder itself drops or sets (1xx, 204, 205: they keep the map).
    int code = up.status().code();
    boolean lengthAsBytes = !chunkedResponse && code >= 200 && code != 204 && code != 205;
    if (lengthAsBytes) {
      out.writeBytes(CONTENT_LENGTH_FIELD);
      HeaderText.writeDecimal(out, length);
      out.writeShort('\r' << 8 | '\n');
    }
    ResponseFields f = conn.responseFields.into(out);
    f.set(ResponseFields.REQUEST_ID, requestId);
    rateLimitHeaders(f);
    litellmHeaders(f);
    for (int i = 0, n = up.fieldCount(); i < n; i++) {
      if (!notRelayed(up, i) && !f.setByUs(up, i)) {
        up.writeField(i, out);
      }
    }
    f.clear();
    io.sluice.http.wire.RelayedHead head = conn.relayedHead().reset(up.status(), out);
    HttpHeaders h = head.headers();
    if (chunkedResponse) {
      h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
    } else if (lengthAsBytes) {
      head.contentLengthInFields(length);
    } else {
      h.set(HttpHeaderNames.CONTENT_LENGTH, HeaderText.count(length));
    }
    if (drain.draining()) {
      h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    conn.channel.write(head, conn.channel.voidPromise());
  }

  /** Hop-by-hop, or the framing field (which goes into the small map). */
  private static boolean notRelayed(io.sluice.http.wire.WireResponseDecoder.Head up, int i) {
    return HeaderRules.hopByHop(up, i) || up.nameIs(i, CONTENT_LENGTH) || up.nameIs(i, TRANSFER_ENCODING);
  }

  /** Takes ownership of {@code content}: writes it (no flush), or releases it when the response is already over. */
  void write(HttpContent content) {
    if (responseComplete || !conn.channel.isActive()) {
      content.release();
      return;
    }
    int n = content.content().readableBytes();
    if (firstBodyNanos == 0 && n > 0) {
      firstBodyNanos = System.nanoTime();
    }
    bytesOut += n;
    conn.channel.write(content, conn.channel.voidPromise());
  }

  /**
   * Takes ownership of {@code wire}: relayed body bytes already framed as the response's head says (see {@code
   * WireResponseDecoder.relayRaw}), written (no flush) past the encoder, or released when the response is over.
   * {@code dataBytes}: the body bytes among them, framing not counted.
   */
  void writeRaw(ByteBuf wire, long dataBytes) {
    if (responseComplete || !conn.channel.isActive()) {
      wire.release();
      return;
    }
    if (firstBodyNanos == 0 && dataBytes > 0) {
      firstBodyNanos = System.nanoTime();
    }
    bytesOut += dataBytes;
    conn.channel.write(wire, conn.channel.voidPromise());
  }

  /** Takes ownership of {@code last}: writes and flushes the end of the response. */
  void finish(LastHttpContent last) {
    if (responseComplete || !conn.channel.isActive()) {
      last.release();
      markComplete();
      return;
    }
    int n = last.content().readableBytes();
    if (firstBodyNanos == 0 && n > 0) {
      firstBodyNanos = System.nanoTime();
    }
    bytesOut += n;
    conn.channel.writeAndFlush(last, conn.channel.voidPromise());
    markComplete();
  }

  /** Replies with a complete response built by Sluice (health, models, errors). Takes ownership of {@code body}. */
  void reply(HttpResponseStatus status, ByteBuf body, boolean close) {
    reply(status, body, close, 0);
  }

  /** As {@link #reply(HttpResponseStatus, ByteBuf, boolean)}, with {@code Retry-After} when above zero. */
  void reply(HttpResponseStatus status, ByteBuf body, boolean close, long retryAfterSeconds) {
    reply(status, body, close, retryAfterSeconds, HttpHeaderValues.APPLICATION_JSON);
  }

  /** As {@link #reply(HttpResponseStatus, ByteBuf, boolean, long)}, with another {@code Content-Type}. */
  void reply(HttpResponseStatus status, ByteBuf body, boolean close, long retryAfterSeconds, CharSequence type) {
    reply(status, body, close, retryAfterSeconds, type, null);
  }

  /** As above, with {@code extra} headers added (the UI's security headers and cookies). Takes ownership of body. */
  void reply(HttpResponseStatus status, ByteBuf body, boolean close, long retryAfterSeconds, CharSequence type,
      HttpHeaders extra) {
    if (responseStarted || !conn.channel.isActive()) {
      body.release();
      if (!responseComplete) {
        markComplete();
      }
      return;
    }
    responseStarted = true;
    this.status = status.code();
    firstByteNanos = System.nanoTime();
    bytesOut += body.readableBytes();
    FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
    HttpHeaders h = res.headers();
    rateLimitHeaders(conn.responseFields.into(h));
    conn.responseFields.clear();
    h.set(HttpHeaderNames.CONTENT_TYPE, type);
    h.setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
    h.set(X_REQUEST_ID, requestId);
    if (extra != null) {
      h.add(extra);
    }
    if (retryAfterSeconds > 0) {
      h.set(HttpHeaderNames.RETRY_AFTER, retryAfterSeconds);
    }
    // A reply before the body was read: with Expect: 100-continue the client may never send that body, so the
    // connection's framing is unknown; close (RFC 9110 §10.1.1). Otherwise the guard discards the rest and the
    // connection is kept.
    if (close || (!requestComplete && expectContinue) || drain.draining()) {
      h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    }
    conn.channel.writeAndFlush(res, conn.channel.voidPromise());
    markComplete();
  }

  /**
   * Fails the exchange with a Sluice error, in its route family's shape ({@link ProxyError}). Before the response
   * started: the family's JSON error (LiteLLM's, or Anthropic's) with the error's status. After a chunked SSE
   * response started: the family's mid-stream error (vLLM's error event and {@code data: [DONE]}, or Anthropic's
   * {@code event: error}), then the last chunk (the framing is complete, the connection stays usable). After any
   * other response started — a {@code Content-Length} one above all, whose declared length can no longer be met — the connection is closed,
   * the only honest signal left: anything more written would land inside the declared body (issue 13, finding 3).
   */
  void fail(ProxyError error, String message, boolean close) {
    fail(error, message, close, 0);
  }

  void fail(ProxyError error, String message, boolean close, long retryAfterSeconds) {
    if (responseComplete) {
      return;
    }
    failure = error;
    log.debug("[{}] {} {} → {} {}", requestId, request.method(), PathNormalizer.redacted(path), error.status().code(), message);
    if (!responseStarted) {
      reply(error.status(), error.json(conn.channel.alloc(), message, family()), close, retryAfterSeconds);
    } else if (sseResponse && chunkedResponse && conn.channel.isActive()) {
      conn.channel.write(new DefaultHttpContent(error.sseEvents(conn.channel.alloc(), message, family())),
          conn.channel.voidPromise());
      conn.channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT, conn.channel.voidPromise());
      markComplete();
    } else {
      conn.channel.close();
      markComplete();
    }
  }

  void fail(ProxyError error, String message) {
    fail(error, message, false);
  }

  private void markComplete() {
    responseComplete = true;
    end(false);
    settle();
    releaseBody();
    listener.onResponseComplete(this);
  }

  /**
   * The client left before the response ended: the observer counts what was generated so far. Called once the
   * handlers have seen the channel close (the relay has let the replica go), so the count is final.
   */
  void clientGone() {
    if (!responseComplete) {
      end(true);
    }
  }

  private void end(boolean clientGone) {
    if (!ended) {
      ended = true;
      observer.ended(this, clientGone);
    }
  }

  static final AsciiString X_LITELLM_TIMEOUT = AsciiString.cached("x-litellm-timeout");

  /** Set by the relay for model-routed exchanges: {@code router_settings.num_retries} and the timeout in force. */
  int maxRetries = -1;
  java.time.Duration timeout;
  /** {@code x-litellm-timeout} from the client (seconds), or null. */
  java.time.Duration requestedTimeout;

  /**
   * LiteLLM's response headers on a relayed model-routed response (litellm/proxy/common_request_processing.py,
   * get_custom_headers): which deployment and group served it, the retries made and allowed, the timeout, the key's
   * spend as last read. {@code x-litellm-response-cost} is not sent: the head leaves before the cost is known.
   */
  private void litellmHeaders(ResponseFields h) {
    if (deployment == null || passThrough != null || maxRetries < 0) {
      return;
    }
    h.set(ResponseFields.MODEL_ID, deployment.id());
    if (group != null) {
      h.set(ResponseFields.MODEL_GROUP, group.name());
    }
    h.set(ResponseFields.ATTEMPTED_RETRIES, HeaderText.count(Math.max(0, attempts - 1)));
    h.set(ResponseFields.MAX_RETRIES, HeaderText.count(maxRetries));
    if (timeout != null) {
      h.set(ResponseFields.TIMEOUT, HeaderText.timeout(timeout));
    }
    io.sluice.auth.KeyRecord key = principal == null ? null : principal.key();
    if (key != null) {
      h.set(ResponseFields.KEY_SPEND, HeaderText.spend(key.limits().spend()));
    }
  }


  /** LiteLLM's (and OpenAI's) rate-limit headers, for a key with rpm/tpm limits. */
  private void rateLimitHeaders(ResponseFields h) {
    io.sluice.limits.Admission a = admission;
    if (a == null) {
      return;
    }
    if (a.limitRequests() >= 0) {
      h.set(ResponseFields.LIMIT_REQUESTS, HeaderText.count(a.limitRequests()));
      h.set(ResponseFields.REMAINING_REQUESTS, HeaderText.count(Math.max(0, a.remainingRequests())));
    }
    if (a.limitTokens() >= 0) {
      h.set(ResponseFields.LIMIT_TOKENS, HeaderText.count(a.limitTokens()));
      h.set(ResponseFields.REMAINING_TOKENS, HeaderText.count(Math.max(0, a.remainingTokens())));
    }
  }

  /** Releases the request body if this exchange still holds it. */
  void releaseBody() {
    if (body != null) {
      ReferenceCountUtil.safeRelease(body);
      body = null;
    }
  }

  /** A writable end-of-response marker with the given trailing bytes; takes ownership of {@code trailer}. */
  static LastHttpContent last(ByteBuf trailer) {
    return new DefaultLastHttpContent(trailer);
  }

  @Override
  public String toString() {
    return "Exchange[" + requestId + " " + request.method() + " " + path + "]";
  }
}
