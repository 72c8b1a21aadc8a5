package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;

/**
 * The last handler of a pooled upstream channel: relays what the replica sends to the exchange it is bound to,
 * as the decoder produced it — head with hop-by-hop headers removed, body {@link HttpContent}s passed on with
 * their buffers (no copy, no aggregation), flushed once per read burst ({@link #channelReadComplete}), so each SSE
 * event leaves in the loop turn it arrived. While the client is not writable this channel stops reading
 * (backpressure). Unbound (idle in the pool), anything read is unexpected: released, and the channel closed.
 * Event loop only.
 *
 * <p>One call at a time: {@link #start} binds the connection to an exchange's attempt and writes its request;
 * {@link #release} gives the connection back. In between the call owns the upstream channel — framing, load count,
 * backpressure, usage tap — and talks to the client side only through its {@link Listener}.
 */
final class UpstreamHandler extends ChannelInboundHandlerAdapter
    implements io.sluice.http.wire.WireResponseDecoder.BodyTap {
  /**
   * What a call tells the client side, and all it tells it (implemented by {@link UpstreamRelay}). Every method is
   * called on the upstream channel's loop, which is the client channel's loop (pools are per event loop), for the
   * exchange the call is bound to, with this call as {@code call}.
   */
  interface Listener {
    /** A 5xx head: true when the exchange is retried elsewhere (the call is then released and the head dropped). */
    boolean retryOnServerError(Exchange ex, UpstreamHandler call, int status);

    /** count_tokens got a 404: true when the exchange is re-sent as a {@code /tokenize} (the head is dropped). */
    boolean countTokensByTokenize(Exchange ex, UpstreamHandler call);

    /** The {@code /tokenize} asked for count_tokens answered {@code status}, not 200. */
    void tokenizeFailed(Exchange ex, UpstreamHandler call, int status);

    /**
     * A 400 head: whether a context window fallback is left for {@code ex}, so the answer is held (not relayed) until
     * its body tells whether it says the request exceeds the replica's context window.
     */
    boolean holdsContextWindowError(Exchange ex);

    /**
     * The held 400 says the request exceeds the context window: true when the exchange goes on to a context window
     * fallback (the call is then released, {@code reusable} as the connection is; nothing reached the client).
     */
    boolean contextWindowExceeded(Exchange ex, UpstreamHandler call, boolean reusable, String message);

    /** The response head is about to go to the client: no retry from here on. */
    void responseStarted(Exchange ex, UpstreamHandler call);

    /** The response is complete; {@code reusable}: the connection may serve another request. */
    void upstreamDone(Exchange ex, UpstreamHandler call, boolean reusable);

    /** The connection broke or the replica misbehaved; {@code what} completes "Replica … ". */
    void upstreamFailed(Exchange ex, UpstreamHandler call, String what);
  }

  /** A pooled connection idle at least this long that dies before any response byte most likely died idle. */
  private static final long STALE_AFTER_IDLE_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);

  private Listener relay;
  private Exchange exchange;
  private Channel channel;
  /** Exchanges this connection finished: above zero, the connection is a reused one. */
  private int served;
  private boolean keepAlive;
  private boolean skipToEnd;
  /** Reading a {@code /tokenize} answer for count_tokens ({@link TokenCount}): nothing of it is relayed. */
  private boolean counting;
  private boolean responseStarted;
  /** When this connection last went idle in the pool ({@link System#nanoTime()}), and how long it was idle. */
  private long idleSince;
  private long idleBeforeBind;
  /** Reads usage from the passing body bytes (no copy): the exchange's, when it is metered. */
  private io.sluice.json.UsageScanner usage;
  /** Removes the usage event Sluice asked for on the client's behalf; null when it did not ask. */
  private io.sluice.json.SseUsageFilter usageFilter;
  /** The load counter this call is counted in (the deployment's in flight); ended on release. */
  private io.sluice.routing.DeploymentLoad load;
  /** Whether this call is a stream (counted in the deployment's streams in flight). */
  private boolean stream;
  /** When the replica last sent anything for the bound exchange (the executor's ticker). */
  private long lastReadNanos;
  /** The body comes as the replica's bytes ({@link #data}), not as {@link HttpContent}s. */
  private boolean rawBody;
  /** Of a raw SSE body: only chunks of whole events pass; {@code dropUsage}: the usage event is left out. */
  private boolean rawSse;
  private boolean dropUsage;
  /** Body bytes the tap passed and no write has counted yet; events the tap counted. */
  private long rawData;
  private int rawEvents;
  /** Gives the response the client's model name ({@link Exchange#restamp}); this connection's, reused. */
  private final ModelRestamp restamper = new ModelRestamp();
  /** {@link #restamper} while the current response is restamped; else null. */
  private ModelRestamp restamp;
  /** The restamped body has a Content-Length: the client gets it chunked, each raw piece framed as a chunk. */
  private boolean restampPieces;
  /**
   * The restamped body came whole with its head: the client gets it with its new Content-Length, this long, and the
   * body in one rewritten piece; -1 otherwise.
   */
  private long restampedLength = -1;
  /** The pipeline's response decoder, when it is Sluice's (raw relay); null with another codec. */
  private io.sluice.http.wire.WireResponseDecoder responses;
  /** A 400 held back while its body is read (a context window error goes to a fallback); null when none. */
  private HttpResponse heldHead;
  /** The held 400's body so far (at most {@link #MAX_HELD} bytes); owned here until relayed or released. */
  private io.netty.buffer.CompositeByteBuf heldBody;
  /** A held 400 larger than this is no context window error Sluice knows: it is relayed as it is. */
  static final int MAX_HELD = 64 * 1024;

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    channel = ctx.channel();
    io.sluice.http.wire.WireClientCodec codec = ctx.pipeline().get(io.sluice.http.wire.WireClientCodec.class);
    responses = codec == null ? null : codec.responses();
    if (responses != null) {
      responses.headsAsBytes(true); // most heads are relayed as the replica's bytes (relayHeadBytes)
    }
  }

  /**
   * Binds this connection, fresh from the pool, to {@code exchange}'s attempt on its current deployment and writes
   * the request: head, then the {@code count} body pieces of {@code body} (taken over), the last as the end of the
   * body. Counted in the deployment's load until {@link #release}. Reads only while the client can take more
   * ({@code clientWritable}).
   */
  void start(Listener relay, Exchange exchange, io.netty.handler.codec.http.HttpRequest head, ByteBuf[] body,
      int count, boolean clientWritable) {
    this.relay = relay;
    this.exchange = exchange;
    this.keepAlive = true;
    this.skipToEnd = false;
    this.counting = false;
    this.responseStarted = false;
    this.usageFilter = null;
    this.rawBody = false;
    this.rawData = 0;
    this.rawEvents = 0;
    this.restamp = null;
    this.restampPieces = false;
    this.restampedLength = -1;
    releaseHeld();
    this.idleBeforeBind = served == 0 ? 0 : System.nanoTime() - idleSince;
    this.usage = exchange.usage;
    this.load = exchange.deployment.load();
    this.stream = exchange.stream;
    load.started(stream);
    channel.config().setAutoRead(clientWritable);
    channel.write(head, channel.voidPromise());
    for (int i = 0; i < count - 1; i++) {
      channel.write(body[i], channel.voidPromise());
      body[i] = null;
    }
    ByteBuf last = body[count - 1];
    body[count - 1] = null;
    // No promise per request: a failed write reaches exceptionCaught (the void promise fires it), and whether the
    // request went out in full is read from the outbound buffer when the response ends (requestWritten()).
    channel.writeAndFlush(io.sluice.http.wire.Bodies.end(last), channel.voidPromise());
  }

  /**
   * Whether everything written to this connection — the request included — has gone to the socket: a connection
   * whose replica answered before it read the whole request is closed, not pooled (the rest of the request would be
   * read as the next one's start).
   */
  private boolean requestWritten() {
    io.netty.channel.ChannelOutboundBuffer out = channel.unsafe().outboundBuffer();
    return out != null && out.isEmpty();
  }

  /**
   * Unbinds this connection: back to {@code pools} when {@code reusable}, else closed (which is how vLLM learns to
   * abort a generation). Ends its count in the deployment's load. Idempotent per binding.
   */
  void release(io.sluice.upstream.UpstreamPools pools, boolean reusable) {
    if (load != null) {
      load.ended(stream);
      load = null;
    }
    if (usageFilter != null) {
      usageFilter.release();
      usageFilter = null;
    }
    releaseHeld();
    relay = null;
    exchange = null;
    idleSince = System.nanoTime();
    if (reusable) {
      channel.config().setAutoRead(true);
      pools.release(channel);
    } else {
      channel.close();
    }
  }

  /** Reads from the replica only while the client can take more (backpressure). */
  void clientWritable(boolean writable) {
    channel.config().setAutoRead(writable);
  }

  /** Whether the response head went to the client (or, for count_tokens, the /tokenize answer is being read). */
  boolean responseStarted() {
    return responseStarted;
  }

  /** When the replica last sent anything for this call ({@code ticker().nanoTime()} of the loop). */
  long lastReadNanos() {
    return lastReadNanos;
  }

  /**
   * Whether a failure now, before any response byte, most likely means the replica's keep-alive timer closed this
   * connection while it idled in the pool (the request never reached it), so another connection may be tried.
   */
  boolean diedIdle() {
    return !responseStarted && served > 0 && idleBeforeBind >= STALE_AFTER_IDLE_NANOS;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    Exchange ex = exchange;
    if (msg instanceof io.sluice.http.wire.WireResponseDecoder.Head head) {
      // Relayed as bytes when it can be; else its header map is built now, while the bytes are still here.
      boolean relayed = false;
      try {
        if (ex != null) {
          relayed = relayHeadBytes(ex, head);
          if (!relayed) {
            head.headers();
          }
        }
      } finally {
        head.releaseBytes();
      }
      if (relayed) {
        return;
      }
    }
    if (ex == null) {
      ReferenceCountUtil.release(msg);
      ctx.close(); // a replica talking out of turn: this connection's framing is no longer trusted
      return;
    }
    if (rawBody && msg instanceof ByteBuf wire) {
      long data = rawData;
      rawData = 0;
      ex.writeRaw(wire, data);
      if (!ex.client().isWritable()) {
        channel.config().setAutoRead(false);
      }
      return;
    }
    if (msg instanceof HttpObject o && o.decoderResult().isFailure()) {
      ReferenceCountUtil.release(msg);
      relay.upstreamFailed(ex, this, "sent a malformed HTTP response (" + o.decoderResult().cause() + ")");
      return;
    }
    if (msg instanceof HttpResponse res) {
      if (res.status().codeClass() == io.netty.handler.codec.http.HttpStatusClass.INFORMATIONAL
          && res.status().code() != 101) {
        skipToEnd = true; // 1xx: not for the client (we sent no Expect); its end marker follows
        ReferenceCountUtil.release(msg);
        return;
      }
      if (ex.route == Route.MESSAGES_COUNT_TOKENS && res.status().code() == 404 && ex.tokenCount == null
          && relay.countTokensByTokenize(ex, this)) {
        ReferenceCountUtil.release(msg); // dropped: the relay closed this connection and asks /tokenize instead
        return;
      }
      if (res.status().code() == 400 && ex.tokenCount == null && !(msg instanceof HttpContent)
          && relay.holdsContextWindowError(ex)) {
        heldHead = res; // not relayed yet: its body decides (a head alone holds no buffer)
        heldBody = channel.alloc().compositeBuffer(16);
        return;
      }
      if (ex.tokenCount != null) {
        headOfTokenize(ex, res);
        if (!counting || !(msg instanceof HttpContent)) {
          ReferenceCountUtil.release(msg);
          return;
        }
      } else if (!relayHead(ex, res)) {
        ReferenceCountUtil.release(msg); // dropped: the relay closed this connection and routes the request anew
        return;
      } else if (!(msg instanceof HttpContent)) {
        return;
      }
    }
    if (msg instanceof HttpContent content && counting) {
      ex.tokenCount.feed(content.content());
      boolean last = content instanceof LastHttpContent;
      content.release();
      if (last) {
        counting = false;
        served++;
        relay.upstreamDone(ex, this, keepAlive && requestWritten() && channel.isActive());
        long n = ex.tokenCount.count();
        if (n < 0) {
          ex.fail(ProxyError.UPSTREAM_BROKEN, "Replica " + ex.deployment.id() + " of model "
              + ex.deployment.modelGroup() + " does not serve /v1/messages/count_tokens, and its /tokenize answer "
              + "carried no count.");
        } else {
          ex.reply(HttpResponseStatus.OK, TokenCount.answer(ex.client().alloc(), n), false);
        }
      }
      return;
    }
    if (msg instanceof HttpContent content && heldHead != null) {
      hold(ex, content);
      return;
    }
    if (msg instanceof HttpContent content) {
      if (skipToEnd) {
        content.release();
        if (content instanceof LastHttpContent) {
          skipToEnd = false;
        }
        return;
      }
      if (usage != null) {
        usage.scan(content.content(), usageFilter == null);
      }
      if (usageFilter != null) {
        content = filtered(content);
        if (usage != null) {
          usage.events(rawEvents + usageFilter.events()); // the filter saw only what did not pass raw
        }
      }
      if (restamp != null) {
        content = restamp.apply(content, channel.alloc());
      }
      if (content instanceof LastHttpContent last) {
        served++;
        // Back to the pool first, so a pipelined request that the finish starts can reuse this connection.
        relay.upstreamDone(ex, this, keepAlive && requestWritten() && channel.isActive());
        ex.finish(last);
        return;
      }
      ex.write(content);
      if (!ex.client().isWritable()) {
        channel.config().setAutoRead(false);
      }
      return;
    }
    ReferenceCountUtil.release(msg);
  }

  /**
   * A piece of a held 400's body (takes ownership of {@code content}). At its end: LiteLLM's context window error
   * strings (litellm_core_utils/exception_mapping_utils.py, the OpenAI-compatible branch; vLLM's own message starts
   * "This model's maximum context length is") send the exchange to a context window fallback; anything else, or a
   * body too large to be one, goes to the client as the replica sent it.
   */
  private void hold(Exchange ex, HttpContent content) {
    boolean last = content instanceof LastHttpContent;
    ByteBuf data = content.content();
    if (data.isReadable()) {
      heldBody.addComponent(true, data.retain());
    }
    content.release();
    if (!last && heldBody.readableBytes() <= MAX_HELD) {
      return;
    }
    HttpResponse head = heldHead;
    ByteBuf body = heldBody;
    heldHead = null;
    heldBody = null;
    boolean reusable = keepAlive(head) && requestWritten() && channel.isActive();
    if (last) {
      served++;
    }
    if (last && body.readableBytes() <= MAX_HELD) {
      String text = body.toString(java.nio.charset.StandardCharsets.UTF_8);
      if (contextWindowError(text) && relay.contextWindowExceeded(ex, this, reusable, text)) {
        body.release();
        return;
      }
    }
    // Relayed as the replica sent it: the head, then what was held (the rest, if any, follows as it comes).
    responseStarted = true;
    keepAlive = keepAlive(head);
    HttpHeaders h = head.headers();
    HeaderRules.removeHopByHop(h);
    if (last) {
      h.remove(HttpHeaderNames.TRANSFER_ENCODING);
      h.setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
    } else if (!HttpUtil.isContentLengthSet(head)) {
      // Chunked, or delimited by close (RFC 9112 §6.3 rule 8): the client gets chunked; the latter is not reused.
      keepAlive = keepAlive && HttpUtil.isTransferEncodingChunked(head);
      h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
    }
    relay.responseStarted(ex, this);
    ex.respond(head, false);
    if (last) {
      relay.upstreamDone(ex, this, keepAlive && requestWritten() && channel.isActive());
      ex.finish(new io.netty.handler.codec.http.DefaultLastHttpContent(body));
    } else {
      ex.write(new io.netty.handler.codec.http.DefaultHttpContent(body));
      if (!ex.client().isWritable()) {
        channel.config().setAutoRead(false);
      }
    }
  }

  private static boolean keepAlive(HttpResponse head) {
    return HttpUtil.isKeepAlive(head);
  }

  /** LiteLLM's ContextWindowExceededError strings for OpenAI-compatible providers. */
  static boolean contextWindowError(String body) {
    return body.contains("This model's maximum context length is")
        || body.contains("string too long. Expected a string with maximum length")
        || body.contains("model's maximum context limit")
        || body.contains("is longer than the model's context length");
  }

  /** Drops a held 400 (the call is released or rebound). */
  private void releaseHeld() {
    heldHead = null;
    if (heldBody != null) {
      heldBody.release();
      heldBody = null;
    }
  }

  /**
   * The replica's response head, for the client: relayed (hop-by-hop headers removed, framing fixed), unless it is a
   * 5xx the relay retries elsewhere — then false, and the caller drops it. Borrows {@code res} (the client write
   * takes it over when relayed).
   */
  private boolean relayHead(Exchange ex, HttpResponse res) {
    if (res.status().code() >= 500 && relay.retryOnServerError(ex, this, res.status().code())) {
      return false;
    }
    responseStarted = true;
    keepAlive = HttpUtil.isKeepAlive(res);
    HttpHeaders h = res.headers();
    HeaderRules.removeHopByHop(h);
    boolean chunked = HttpUtil.isTransferEncodingChunked(res);
    if (!HttpUtil.isContentLengthSet(res) && !chunked && mayHaveBody(res)) {
      // Body delimited by close (RFC 9112 §6.3 rule 8): give the client a framing it can keep alive on.
      h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
      keepAlive = false;
    }
    restamp = restamps(ex, res.status().code());
    if (restamp != null && HttpUtil.isContentLengthSet(res)) {
      // The client's model name may be longer or shorter than the replica's: the length is known only at the end.
      h.remove(HttpHeaderNames.CONTENT_LENGTH);
      h.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
    }
    String ct = h.get(HttpHeaderNames.CONTENT_TYPE);
    boolean sse = ct != null && ct.regionMatches(true, 0, "text/event-stream", 0, 17);
    sseFilter(ex, res.status().code(), sse);
    relay.responseStarted(ex, this);
    ex.respond(res, sse);
    if (restamp == null || sse && chunked) {
      relayRaw(sse); // restamped raw: only whole SSE chunks, re-framed one by one (rewrite)
    }
    return true;
  }

  /**
   * Every SSE response is framed through a filter: events leave only whole, so a replica dying mid-event never glues
   * Sluice's error event onto half of one; the usage event goes only where Sluice asked for it on the client's
   * behalf.
   */
  private void sseFilter(Exchange ex, int status, boolean sse) {
    if (sse) {
      usageFilter = new io.sluice.json.SseUsageFilter(ex.usageSplice != null && status == 200);
    }
  }

  /**
   * Asks the decoder for the body as the replica's bytes, so that a piece costs no {@code HttpContent} here nor
   * chunk framing in the client's encoder: the head just written keeps the replica's framing (its Content-Length,
   * or chunked), so the client gets the bytes the replica sent. An SSE body passes so only in chunks of whole events
   * (vLLM's framing: one event per chunk), which keeps the filter's promise — a mid-stream error never lands inside
   * an event; anything else turns the rest of the body back into {@code HttpContent}s through the filter.
   */
  private void relayRaw(boolean sse) {
    if (responses == null) {
      return;
    }
    rawSse = sse;
    dropUsage = usageFilter != null && usageFilter.dropsUsage(); // the filter's own rule, for the raw chunks
    rawBody = responses.relayRaw(this);
  }

  /** {@link #restamper}, reset for this response, when it is to carry the client's model name; else null. */
  private ModelRestamp restamps(Exchange ex, int status) {
    io.sluice.routing.Deployment.Restamp r = ex.restamp;
    return r == null || status != 200 ? null : restamper.reset(r.find(), r.replace());
  }

  /**
   * The decoder's tap on a raw body's pieces (see {@link #relayRaw}): usage scanned in place, SSE kept whole; a
   * Content-Length body to restamp is re-framed as chunks, every piece ({@link #rewritePiece}).
   */
  @Override
  public int data(ByteBuf buf, int index, int length) {
    int verdict = verdict(buf, index, length);
    return restampPieces || restampedLength >= 0 ? REWRITE : verdict;
  }

  /** A piece of a Content-Length body the client gets chunked, with the client's model name ({@link ModelRestamp}). */
  @Override
  public ByteBuf rewritePiece(ByteBuf buf, int index, int length, boolean last) {
    if (restampedLength >= 0) {
      return restamp.replaceAll(buf, index, length, restampedLength, channel.alloc()); // the whole body, one piece
    }
    return restamp.frame(buf, index, length, last, channel.alloc());
  }

  private int verdict(ByteBuf buf, int index, int length) {
    int end = index + length;
    if (rawSse) {
      int events = io.sluice.json.SseUsageFilter.wholeEvents(buf, index, end);
      if (events < 0) {
        return OBJECTS; // an event cut across chunks: the filter holds it back from here on
      }
      boolean usageEvent = dropUsage && io.sluice.json.SseUsageFilter.isUsageEvent(buf, index, end);
      if (usageEvent && events != 1) {
        return OBJECTS; // the usage event shares the chunk with others: the filter cuts it out
      }
      rawEvents += events;
      if (usage != null) {
        usage.scan(buf, index, end, false);
        usage.events(rawEvents);
      }
      if (usageEvent) {
        return DROP;
      }
      if (restamp != null && restamp.indexOf(buf, index, end) >= 0) {
        rawData += length;
        return REWRITE;
      }
    } else if (usage != null) {
      usage.scan(buf, index, end, true);
    }
    rawData += length;
    return PASS;
  }

  /** A raw SSE chunk carrying the replica's model name, re-framed with the client's ({@link ModelRestamp}). */
  @Override
  public ByteBuf rewrite(ByteBuf buf, int chunkStart, int dataStart, int dataEnd, int chunkEnd, ByteBuf into) {
    if (into == null) {
      into = channel.alloc().directBuffer(Math.max(1024, 2 * (chunkEnd - chunkStart)));
    }
    rawData += restamp.rewriteChunk(buf, dataStart, dataEnd, chunkEnd, into); // data() counted the chunk's data
    return into;
  }

  private static final byte[] TRANSFER_ENCODING = "transfer-encoding".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CONNECTION = "connection".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CHUNKED = "chunked".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CLOSE = "close".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] KEEP_ALIVE = "keep-alive".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CONTENT_TYPE = "content-type".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] EVENT_STREAM = "text/event-stream".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /**
   * {@link #relayHead} for the common case, from the head's bytes: a 2xx–4xx with a Content-Length or a plain
   * {@code chunked} body, whose {@code Connection} (if any) says only {@code close} or {@code keep-alive}, on a
   * route whose head Sluice does not act on (count_tokens may turn a 404 into a {@code /tokenize}). Returns false,
   * having done nothing, for anything else: then the head goes the header-map way. Borrows {@code head}.
   */
  private boolean relayHeadBytes(Exchange ex, io.sluice.http.wire.WireResponseDecoder.Head head) {
    int code = head.status().code();
    if (code < 200 || code >= 500 || ex.tokenCount != null || ex.route == Route.MESSAGES_COUNT_TOKENS
        || code == 400 && relay.holdsContextWindowError(ex)) {
      return false;
    }
    boolean sse = false;
    int te = 0;
    for (int i = 0, n = head.fieldCount(); i < n; i++) {
      if (head.nameIs(i, TRANSFER_ENCODING)) {
        if (++te > 1 || !head.valueIs(i, CHUNKED)) {
          return false; // a coding besides chunked, or it listed twice: the map way keeps it as it is
        }
      } else if (head.nameIs(i, CONNECTION)) {
        if (!head.valueIs(i, CLOSE) && !head.valueIs(i, KEEP_ALIVE)) {
          return false; // it names other fields as hop-by-hop: the map way removes them
        }
      } else if (head.nameIs(i, CONTENT_TYPE)) {
        sse = head.valueStartsWith(i, EVENT_STREAM);
      }
    }
    if (te == 1 && !sse && ex.restamp != null && code == 200) {
      return false; // a chunked body that is no SSE may cut the name between chunks: the map way, as objects
    }
    restamp = restamps(ex, code);
    long length = head.contentLength();
    ByteBuf whole = head.bodyInHand();
    if (restamp != null && te == 0 && length > 0 && whole != null) {
      // The whole body came with its head (a small JSON answer): its new length is counted now, so the client gets
      // a Content-Length as the replica sent one, and the body in one rewritten piece.
      long matches = restamp.count(whole, head.bodyIndex(), head.bodyIndex() + (int) length);
      if (matches == 0) {
        restamp = null; // no name to change: relayed as it came
      } else {
        length += matches * restamp.lengthChange();
        restampedLength = length;
      }
    }
    // A Content-Length body whose length the client's model name changes and that is not all here yet: chunked,
    // each piece framed as it passes.
    restampPieces = restamp != null && te == 0 && head.contentLength() > 0 && restampedLength < 0;
    responseStarted = true;
    keepAlive = !head.closes();
    sseFilter(ex, code, sse);
    relay.responseStarted(ex, this);
    ex.respondBytes(head, sse, restampPieces, length);
    relayRaw(sse);
    return true;
  }

  /**
   * The head of the {@code /tokenize} answer Sluice asked for count_tokens: a 200 is read ({@link #counting}), not
   * relayed; anything else fails the exchange. The caller releases {@code res}.
   */
  private void headOfTokenize(Exchange ex, HttpResponse res) {
    if (res.status().code() != 200) {
      relay.tokenizeFailed(ex, this, res.status().code());
      return;
    }
    counting = true;
    responseStarted = true;
    keepAlive = HttpUtil.isKeepAlive(res);
    relay.responseStarted(ex, this);
  }

  /** {@code content} without the usage event the client did not ask for; takes ownership, returns the new owner. */
  private HttpContent filtered(HttpContent content) {
    ByteBuf kept = usageFilter.filter(content.content(), channel.alloc());
    if (content instanceof LastHttpContent last) {
      ByteBuf rest = usageFilter.finish();
      if (rest.isReadable()) {
        kept = channel.alloc().compositeBuffer(2).addComponent(true, kept).addComponent(true, rest);
      } else {
        rest.release();
      }
      return last.replace(kept);
    }
    return content.replace(kept);
  }

  private static boolean mayHaveBody(HttpResponse res) {
    int code = res.status().code();
    return code >= 200 && code != 204 && code != 304;
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    Exchange ex = exchange;
    if (ex != null) {
      lastReadNanos = ctx.executor().ticker().nanoTime();
      ex.client().flush();
    }
    ctx.fireChannelReadComplete();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    Exchange ex = exchange;
    if (ex != null) {
      relay.upstreamFailed(ex, this, "closed the connection");
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    Exchange ex = exchange;
    if (ex != null) {
      relay.upstreamFailed(ex, this, "connection failed (" + cause.getClass().getSimpleName() + ": "
          + cause.getMessage() + ")");
    }
    ctx.close();
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof IdleStateEvent && exchange == null) {
      ctx.close(); // idle in the pool too long
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }
}
