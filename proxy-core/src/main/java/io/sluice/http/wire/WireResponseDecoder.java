package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Queue;

/**
 * Strict HTTP/1.1 response decoder (RFC 9112) for connections to replicas, the decoder half of {@link WireClientCodec}
 * in place of Netty's {@code HttpResponseDecoder}. It emits what Netty's decoder emits, so {@code UpstreamHandler} is
 * unchanged: a {@link DefaultHttpResponse} (headers built without re-validation: the parser validated them; names
 * and common values shared, {@link KnownNames}), then {@link DefaultHttpContent} pieces (retained slices of the
 * input, no copy, at most {@code maxChunkSize} each), then a {@link LastHttpContent}: {@link BodyEnd} for the last
 * piece of a Content-Length body (no trailer map), {@link LastHttpContent#EMPTY_LAST_CONTENT} after an empty body or a
 * chunked one without trailers, a {@link DefaultLastHttpContent} only when trailers came.
 *
 * <p>Framing (RFC 9112 §6.3), decided once the head is read; the request's method comes from the queue the request
 * encoder fills ({@link WireClientCodec}), one per final response:
 * <ol>
 *   <li>A response to HEAD, any 1xx, 204 and 304 has no body whatever its fields say (a {@code Transfer-Encoding:
 *       chunked} field is then removed, as Netty removes it). Each 1xx comes as its own response and
 *       {@code EMPTY_LAST_CONTENT}, the final response after it, so several interim responses are fine. A 101, or a
 *       2xx to CONNECT, ends HTTP on the connection: what follows is passed on as raw {@link ByteBuf}s (as Netty).</li>
 *   <li>Transfer-Encoding and Content-Length together: <b>refused</b> (a failure, the connection is then closed). RFC
 *       9112 §6.3 rule 3 lets a recipient go by Transfer-Encoding and drop Content-Length, but such a response is
 *       the shape of a smuggling or framing bug, and a pooled connection whose framing is in doubt must not carry the
 *       next request; Netty 4.2 refuses chunked with Content-Length too, but reads {@code gzip} plus Content-Length
 *       by the length, which the RFC forbids.</li>
 *   <li>Transfer-Encoding ending with chunked: a chunked body ({@link ChunkedBodyParser}); trailers become the
 *       {@code LastHttpContent}'s trailer map. Transfer-Encoding not ending with chunked: the body runs to the
 *       connection's close (rule 4).</li>
 *   <li>A valid Content-Length: that many bytes; an invalid one, a list or several fields (even with the same value)
 *       → failure (rule 5; Netty's default too).</li>
 *   <li>Neither: the body runs until the connection closes, then {@code EMPTY_LAST_CONTENT} (rule 8).</li>
 * </ol>
 *
 * <p>Bad input is data: a bad head becomes a {@link DefaultFullHttpResponse} {@code HTTP/1.0 999 Unknown} (Netty's
 * shape) whose {@code decoderResult()} is a failure saying what was wrong ({@code TooLongHttpLineException},
 * {@code TooLongHttpHeaderException} or {@code IllegalArgumentException}); a bad chunked body a
 * {@link DefaultLastHttpContent} with a failed result; from then on every byte is discarded (the handler closes the
 * connection). A head cut short by the connection's end is such a failure too ({@code PrematureChannelClosureException},
 * as Netty). A Content-Length or chunked body cut short emits nothing, exactly as Netty's decoder in
 * {@code HttpClientCodec} without {@code failOnMissingResponse}: no {@code LastHttpContent} comes, and the handler's
 * {@code channelInactive} reports the replica "closed the connection mid-response".
 *
 * <p>Deliberate differences from Netty 4.2.18's {@code HttpResponseDecoder}, all refusals where Netty accepts (see
 * {@link HeadParser}): obs-fold, whitespace before a colon (Netty drops it), bare LF or CR, CTLs in values or the
 * reason, versions other than HTTP/1.0 and 1.1, a status that is not 3 digits 100–599, more than one SP after the
 * version, leading empty lines or control bytes before the status line (Netty skips them), Transfer-Encoding with
 * Content-Length whatever the coding, Transfer-Encoding in HTTP/1.0 on a bodiless response, whitespace inside
 * chunk extensions, obs-fold in trailers. Also: a successful response's {@code decoderResult()} is plain
 * {@code SUCCESS}; a 101 always switches to raw bytes (Netty keeps parsing HTTP after an {@code Upgrade:
 * HTTP/1.1}, and reads a Hixie-76 WebSocket body); no {@code HttpClientUpgradeHandler} support. Event loop only.
 */
public final class WireResponseDecoder extends ByteToMessageDecoder {
  private static final int HEAD = 0;
  private static final int FIXED = 1;
  private static final int CHUNKED = 2;
  /** Body delimited by the connection's close. */
  private static final int TO_CLOSE = 3;
  /** After a 101 or a 2xx to CONNECT: no more HTTP; bytes are passed on as they come. */
  private static final int RAW = 4;
  private static final int BAD = 5;

  private static final HttpHeadersFactory HEADERS = DefaultHttpHeadersFactory.headersFactory().withValidation(false);
  private static final HttpResponseStatus UNKNOWN_STATUS = new HttpResponseStatus(999, "Unknown");
  private static final byte[] TRANSFER_ENCODING = "transfer-encoding".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] CHUNKED_VALUE = "chunked".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DATE = "date".getBytes(StandardCharsets.US_ASCII);

  private final HeadParser heads;
  private final ChunkedBodyParser chunks;
  private final int maxChunkSize;
  /** Methods of the requests written and not yet answered ({@link WireClientCodec}); or null (no HEAD then). */
  private final Queue<HttpMethod> methods;
  private int state = HEAD;
  private long remaining;
  /** The last Date value, kept as a string: replicas send one per second, most responses repeat it. */
  private String lastDate = "";

  /**
   * A decoder that does not know the requests' methods: a response to HEAD would be read as if it had a body. For
   * tests and benchmarks; the pipeline uses {@link WireClientCodec}.
   *
   * @param maxInitialLineLength longest status line, bytes without CRLF
   * @param maxHeaderSize        most bytes of field lines (and trailer lines with them), CRLFs not counted
   * @param maxChunkSize         largest content piece emitted (a bigger body or chunk is split)
   */
  public WireResponseDecoder(int maxInitialLineLength, int maxHeaderSize, int maxChunkSize) {
    this(maxInitialLineLength, maxHeaderSize, maxChunkSize, null);
  }

  WireResponseDecoder(int maxInitialLineLength, int maxHeaderSize, int maxChunkSize, Queue<HttpMethod> methods) {
    if (maxChunkSize <= 0) {
      throw new IllegalArgumentException("maxChunkSize: " + maxChunkSize + " (expected: > 0)");
    }
    this.heads = HeadParser.forResponses(maxInitialLineLength, maxHeaderSize);
    this.chunks = new ChunkedBodyParser(maxChunkSize, maxInitialLineLength, maxHeaderSize);
    this.maxChunkSize = maxChunkSize;
    this.methods = methods;
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    if (inHand != null) {
      inHand.following = null; // its channelRead is over: the bytes after it are decoded from here on
      inHand = null;
    }
    switch (state) {
      case HEAD:
        decodeHead(in, out);
        return;
      case FIXED:
        if (tap != null) {
          decodeFixedRaw(in, out);
          return;
        }
        remaining = Bodies.fixed(in, remaining, maxChunkSize, out);
        if (remaining == 0) {
          state = HEAD;
        }
        return;
      case CHUNKED:
        if (tap != null) {
          decodeChunkedRaw(in, out);
        } else {
          decodeChunked(in, out);
        }
        return;
      case TO_CLOSE: {
        int n = Math.min(in.readableBytes(), maxChunkSize);
        if (n > 0) {
          out.add(new DefaultHttpContent(in.readRetainedSlice(n)));
        }
        return;
      }
      case RAW:
        if (in.isReadable()) {
          out.add(in.readRetainedSlice(in.readableBytes()));
        }
        return;
      default:
        in.skipBytes(in.readableBytes()); // BAD: the framing is lost; discard until the connection closes
    }
  }

  /**
   * Sees the body bytes of a response relayed as they came ({@link #relayRaw}), in place, before they are passed on.
   * Called on the event loop, from within {@code decode}; must not keep {@code buf} or move its indexes.
   */
  public interface BodyTap {
    /** Pass the chunk on as it came. */
    int PASS = 0;
    /** Leave the chunk out (its bytes, framing included, are skipped). */
    int DROP = 1;
    /** Decode this chunk and the rest of the body as {@code HttpContent}s, as without {@link #relayRaw}. */
    int OBJECTS = 2;
    /** Pass the chunk on as {@link #rewrite} re-frames it (of a chunked body only). */
    int REWRITE = 3;

    /**
     * {@code length} body bytes at {@code index}: a piece of a Content-Length body (passed on, unless the answer is
     * {@link #REWRITE}: then {@link #rewritePiece}), or the data of one whole chunk of a chunked body (the answer says
     * what to do with it).
     */
    int data(ByteBuf buf, int index, int length);

    /**
     * A piece of a Content-Length body that {@link #data} answered {@link #REWRITE}: what goes on instead (a buffer the
     * caller owns), or null for nothing yet. {@code last}: the body's final piece.
     */
    default ByteBuf rewritePiece(ByteBuf buf, int index, int length, boolean last) {
      throw new UnsupportedOperationException("this tap rewrites nothing");
    }

    /**
     * The whole chunk {@code buf[chunkStart, chunkEnd)} whose data {@code [dataStart, dataEnd)} {@link #data} answered
     * {@link #REWRITE}: appends what goes on instead, framing included, to {@code into} (the rewritten chunks of this
     * read so far, or null) and returns it — or a new buffer when {@code into} is null — for the decoder to pass on
     * in its place. Must not move {@code buf}'s indexes.
     */
    default ByteBuf rewrite(ByteBuf buf, int chunkStart, int dataStart, int dataEnd, int chunkEnd, ByteBuf into) {
      throw new UnsupportedOperationException("this tap rewrites nothing");
    }
  }

  /**
   * Relays the body of the response whose head was just emitted as the replica's own bytes: plain {@link ByteBuf}s
   * (retained slices of the input, framing included, one per read for as many whole chunks as it brought), then a
   * {@link LastHttpContent} as without this call (for a chunked body: the last chunk and trailers are not among the
   * bytes, so whoever writes them re-frames the end — Netty's encoder from the {@code LastHttpContent}). A client
   * whose response is framed as the replica's is (same Content-Length, or chunked) gets the same bytes, without an
   * {@code HttpContent} per piece. Of a chunked body only whole chunks pass: a chunk cut by the end of a read is left
   * in the input until the read that completes it (at most {@code maxChunkSize} bytes are held so; a bigger one turns
   * the rest of the body back into {@code HttpContent}s), so what has been passed on always ends between chunks.
   * {@code tap} sees each body piece first ({@link BodyTap}). Must be called from the handler that received the head,
   * before it returns; a body that is neither Content-Length nor chunked (read to close, or none) stays as it is.
   *
   * @return whether the body will come as bytes
   */
  public boolean relayRaw(BodyTap tap) {
    if (state != FIXED && state != CHUNKED) {
      return false;
    }
    this.tap = tap;
    return true;
  }

  private BodyTap tap;
  /** The last head whose whole body came with it, until the next decode call (see {@link Head#bodyInHand}). */
  private Head inHand;

  /**
   * Appends {@code len} bytes of {@code src} at {@code index} to {@code out}: a memory copy between direct buffers
   * (a buffer-to-buffer {@code writeBytes} between them makes an NIO view per call), else {@code setBytes}.
   */
  static void copy(ByteBuf src, int index, int len, ByteBuf out) {
    out.ensureWritable(len);
    int w = out.writerIndex();
    if (src.hasMemoryAddress() && out.hasMemoryAddress()) {
      if (index < 0 || len < 0 || index > src.capacity() - len) {
        throw new IndexOutOfBoundsException("index " + index + ", length " + len + ", capacity " + src.capacity());
      }
      io.netty.util.internal.PlatformDependent.copyMemory(src.memoryAddress() + index, out.memoryAddress() + w, len);
    } else {
      out.setBytes(w, src, index, len);
    }
    out.writerIndex(w + len);
  }

  /** Emit {@link Head}s (fields kept as bytes) for final responses with a body; see {@link #headsAsBytes}. */
  private boolean headsAsBytes;

  /**
   * From now on a final response that has a Content-Length or chunked body comes as a {@link Head}: the head's bytes
   * and offsets, its header map built only if asked for. For the relay, which forwards most heads as bytes ({@code
   * UpstreamHandler}); other heads (interim, bodiless, read to close) come as before.
   */
  public void headsAsBytes(boolean on) {
    headsAsBytes = on;
  }

  /**
   * A final response head kept as the replica's bytes: a retained copy-free slice of them and the parser's offsets.
   * Its {@link #headers()} map is built on first use, from the bytes, exactly as the decoder builds one otherwise —
   * which must happen, if at all, before {@link #releaseBytes()} and before the decoder parses the next head (in the
   * handler's {@code channelRead} of this head: the relay either forwards the bytes or asks for the map, then
   * releases). Not reference-counted itself: whoever receives it calls {@link #releaseBytes()}.
   */
  public final class Head extends DefaultHttpResponse {
    private ByteBuf bytes;
    private final MessageHead h;
    private HttpHeaders map;
    /** The buffer the whole body follows this head in, while this head is being read; else null. */
    private ByteBuf following;
    private int bodyAt;

    /**
     * The buffer holding this response's whole Content-Length body right after the head, when it arrived with it
     * (a small JSON answer usually does), else null; the body is at {@link #bodyIndex()}, {@link #contentLength()}
     * bytes. Borrowed, and valid only during this head's {@code channelRead}: the decoder reads on from it next
     * (in one piece: the whole body is the next raw piece, see {@link #relayRaw}).
     */
    public ByteBuf bodyInHand() {
      return following;
    }

    /** Where {@link #bodyInHand()}'s body starts. */
    public int bodyIndex() {
      return bodyAt;
    }

    private Head(ByteBuf bytes, MessageHead h, HttpVersion version, HttpResponseStatus status) {
      super(version, status, io.netty.handler.codec.http.EmptyHttpHeaders.INSTANCE);
      this.bytes = bytes;
      this.h = h;
    }

    @Override
    public HttpHeaders headers() {
      HttpHeaders m = map;
      if (m == null) {
        if (bytes == null) {
          throw new IllegalStateException("head bytes already released");
        }
        m = map = fields(bytes, 0, h, false, HEADERS.newHeaders());
      }
      return m;
    }

    /** Lets the bytes go (idempotent); the map, if built, stays. */
    public void releaseBytes() {
      if (bytes != null) {
        bytes.release();
        bytes = null;
      }
    }

    /** The Content-Length value, or -1 (then the body is chunked). */
    public long contentLength() {
      return h.contentLength;
    }

    /** Whether the head had {@code Connection: close}; or, in HTTP/1.0, lacked {@code Connection: keep-alive}. */
    public boolean closes() {
      return h.connectionClose || (h.version == MessageHead.HTTP_1_0 && !h.connectionKeepAlive);
    }

    public int fieldCount() {
      return h.headerCount;
    }

    /** Whether field {@code i}'s name is {@code lower} (given in lower case), case-insensitively. */
    public boolean nameIs(int i, byte[] lower) {
      return HeadParser.equalsLower(bytes, h.nameStart(i), h.nameLength(i), lower);
    }

    /** Whether field {@code i}'s value starts with {@code lower} (given in lower case), case-insensitively. */
    public boolean valueStartsWith(int i, byte[] lower) {
      return h.valueLength(i) >= lower.length && HeadParser.equalsLower(bytes, h.valueStart(i), lower.length, lower);
    }

    /** Whether field {@code i}'s value is {@code lower} (given in lower case), case-insensitively. */
    public boolean valueIs(int i, byte[] lower) {
      return HeadParser.equalsLower(bytes, h.valueStart(i), h.valueLength(i), lower);
    }

    /** Writes field {@code i} to {@code out} as {@code name: value CRLF}, name as received, value OWS-trimmed. */
    public void writeField(int i, ByteBuf out) {
      copy(bytes, h.nameStart(i), h.nameLength(i), out);
      out.writeShort(':' << 8 | ' ');
      copy(bytes, h.valueStart(i), h.valueLength(i), out);
      out.writeShort('\r' << 8 | '\n');
    }

    /** Bytes of the field lines, for sizing a buffer. */
    public int fieldBytes() {
      return h.fieldBytes;
    }
  }

  private void decodeFixedRaw(ByteBuf in, List<Object> out) {
    int n = (int) Math.min(remaining, in.readableBytes());
    if (n == 0) {
      return;
    }
    if (tap.data(in, in.readerIndex(), n) == BodyTap.REWRITE) {
      ByteBuf b = tap.rewritePiece(in, in.readerIndex(), n, remaining == n);
      in.skipBytes(n);
      if (b != null) {
        out.add(b);
      }
    } else {
      out.add(in.readRetainedSlice(n));
    }
    remaining -= n;
    if (remaining == 0) {
      tap = null;
      state = HEAD;
      out.add(LastHttpContent.EMPTY_LAST_CONTENT);
    }
  }

  private void decodeChunkedRaw(ByteBuf in, List<Object> out) {
    int run = in.readerIndex();
    // Consecutive rewritten chunks of this read, in one buffer: passed on before whatever follows them.
    ByteBuf rewritten = null;
    while (true) {
      int n = chunks.wholeChunk(in);
      if (n > 0) {
        int verdict = tap.data(in, in.readerIndex() + chunks.dataOffset(), chunks.dataLength());
        if (verdict == BodyTap.PASS) {
          if (rewritten != null) {
            out.add(rewritten);
            rewritten = null;
          }
          in.skipBytes(n);
          continue;
        }
        if (verdict == BodyTap.REWRITE) {
          emitRun(in, run, out);
          int at = in.readerIndex();
          int data = at + chunks.dataOffset();
          rewritten = tap.rewrite(in, at, data, data + chunks.dataLength(), at + n, rewritten);
          in.skipBytes(n);
          run = in.readerIndex();
          continue;
        }
        if (rewritten != null) {
          out.add(rewritten);
          rewritten = null;
        }
        emitRun(in, run, out);
        if (verdict == BodyTap.DROP) {
          in.skipBytes(n);
          run = in.readerIndex();
          continue;
        }
        tap = null; // OBJECTS: this chunk and the rest as HttpContents, from this chunk boundary on
        decodeChunked(in, out);
        return;
      }
      if (rewritten != null) {
        out.add(rewritten);
        rewritten = null;
      }
      emitRun(in, run, out);
      if (n == ChunkedBodyParser.NEED_MORE) {
        if (chunks.pendingSize() > maxChunkSize) {
          tap = null; // too big to hold whole: the rest as pieces
          decodeChunked(in, out);
        }
        return;
      }
      tap = null; // the last chunk (its trailers and the end come as without raw relay), or a framing failure
      decodeChunked(in, out);
      return;
    }
  }

  private static void emitRun(ByteBuf in, int from, List<Object> out) {
    int len = in.readerIndex() - from;
    if (len > 0) {
      out.add(in.retainedSlice(from, len));
    }
  }

  private void decodeHead(ByteBuf in, List<Object> out) {
    tap = null;
    if (!in.isReadable()) {
      return;
    }
    int r = heads.parse(in);
    if (r == HeadParser.NEED_MORE) {
      return;
    }
    if (r == HeadParser.FAILED) {
      out.add(invalidResponse(in, heads.failure()));
      return;
    }
    MessageHead h = heads.head();
    int status = h.status;
    // RFC 9110 §15.2: interim responses precede the final one; they do not answer the request on their own.
    HttpMethod method = status >= 200 && methods != null ? methods.poll() : null;
    boolean connect = HttpMethod.CONNECT.equals(method) && status < 300;
    boolean noBody = status < 200 || status == 204 || status == 304 || HttpMethod.HEAD.equals(method) || connect;
    if (!noBody && h.hasTransferEncoding && h.contentLength >= 0) {
      out.add(invalidResponse(in, new IllegalArgumentException("Response has both Transfer-Encoding and "
          + "Content-Length (RFC 9112 §6.3): refused, the connection's framing cannot be trusted")));
      return;
    }
    boolean framed = h.hasTransferEncoding ? h.chunked : h.contentLength >= 0;
    HttpResponse res = headsAsBytes && !noBody && framed
        ? new Head(in.retainedSlice(in.readerIndex(), h.length), h, h.version == MessageHead.HTTP_1_1
            ? HttpVersion.HTTP_1_1 : HttpVersion.HTTP_1_0, status(in, in.readerIndex(), h))
        : response(in, in.readerIndex(), h, noBody);
    if (res instanceof Head hd && h.contentLength > 0 && in.readableBytes() - h.length >= h.contentLength) {
      hd.following = in; // the whole body came with the head: see Head.bodyInHand
      hd.bodyAt = in.readerIndex() + h.length;
      inHand = hd;
    }
    in.skipBytes(h.length);
    out.add(res);
    if (noBody) {
      out.add(LastHttpContent.EMPTY_LAST_CONTENT);
      if (status == 101 || connect) {
        state = RAW; // the connection now speaks another protocol (RFC 9110 §15.2.2, §9.3.6)
      }
    } else if (h.hasTransferEncoding) {
      if (h.chunked) {
        chunks.reset(h.fieldBytes);
        state = CHUNKED;
      } else {
        state = TO_CLOSE; // RFC 9112 §6.3 rule 4: a final coding other than chunked is read until close
      }
    } else if (h.contentLength > 0) {
      remaining = h.contentLength;
      state = FIXED;
    } else if (h.contentLength == 0) {
      out.add(LastHttpContent.EMPTY_LAST_CONTENT);
    } else {
      state = TO_CLOSE; // rule 8
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


  /** Netty's shape for a response it could not parse: {@code HTTP/1.0 999 Unknown}, failed; the rest discarded. */
  private Object invalidResponse(ByteBuf in, Exception cause) {
    state = BAD;
    in.skipBytes(in.readableBytes());
    DefaultFullHttpResponse bad = new DefaultFullHttpResponse(HttpVersion.HTTP_1_0, UNKNOWN_STATUS,
        Unpooled.EMPTY_BUFFER, HEADERS, Bodies.TRAILERS);
    bad.setDecoderResult(DecoderResult.failure(cause));
    return bad;
  }

  private HttpResponse response(ByteBuf in, int base, MessageHead h, boolean noBody) {
    HttpVersion version = h.version == MessageHead.HTTP_1_1 ? HttpVersion.HTTP_1_1 : HttpVersion.HTTP_1_0;
    DefaultHttpResponse res = new DefaultHttpResponse(version, status(in, base, h), HEADERS.newHeaders());
    fields(in, base, h, noBody, res.headers());
    return res;
  }

  /** Adds the head's fields to {@code headers} (names and common values shared) and returns it. */
  private HttpHeaders fields(ByteBuf in, int base, MessageHead h, boolean noBody, HttpHeaders headers) {
    for (int i = 0; i < h.headerCount; i++) {
      int ns = base + h.nameStart(i);
      int nl = h.nameLength(i);
      int vs = base + h.valueStart(i);
      int vl = h.valueLength(i);
      if (noBody && HeadParser.equalsLower(in, vs, vl, CHUNKED_VALUE)
          && HeadParser.equalsLower(in, ns, nl, TRANSFER_ENCODING)) {
        continue; // a bodiless response carries no chunked framing: Netty removes it too
      }
      headers.add(KnownNames.of(in, ns, nl), value(in, ns, nl, vs, vl));
    }
    return headers;
  }

  private String value(ByteBuf in, int ns, int nl, int vs, int vl) {
    if (HeadParser.equalsLower(in, ns, nl, DATE)) {
      String last = lastDate;
      if (last.length() != vl || !same(in, vs, last)) {
        lastDate = last = in.toString(vs, vl, StandardCharsets.ISO_8859_1);
      }
      return last;
    }
    return KnownNames.value(in, vs, vl);
  }

  private static boolean same(ByteBuf in, int at, String s) {
    for (int i = 0; i < s.length(); i++) {
      if (in.getByte(at + i) != (byte) s.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** Netty's constant when the reason is the standard one (no string made), else a status of its own. */
  private static HttpResponseStatus status(ByteBuf in, int base, MessageHead h) {
    HttpResponseStatus known = HttpResponseStatus.valueOf(h.status);
    String reason = known.reasonPhrase();
    if (reason.length() == h.reasonLen && same(in, base + h.reasonStart, reason)) {
      return known;
    }
    return new HttpResponseStatus(h.status, in.toString(base + h.reasonStart, h.reasonLen,
        StandardCharsets.ISO_8859_1));
  }

  @Override
  protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
    super.decodeLast(ctx, in, out);
    switch (state) {
      case HEAD:
        if (in.isReadable()) {
          // As Netty: a head cut short by the connection's end is a failed response.
          out.add(invalidResponse(in, new PrematureChannelClosureException(
              "Connection closed before received headers")));
        }
        return;
      case TO_CLOSE:
        out.add(LastHttpContent.EMPTY_LAST_CONTENT); // the close is the end of the body (RFC 9112 §6.3 rule 8)
        state = HEAD;
        return;
      case FIXED:
      case CHUNKED:
        state = BAD; // cut short: nothing more to emit; channelInactive tells the handler (as Netty)
        return;
      default:
        return;
    }
  }
}
