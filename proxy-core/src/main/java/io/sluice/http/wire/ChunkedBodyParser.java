package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import java.nio.charset.StandardCharsets;

/**
 * The framing state machine of one chunked request body (RFC 9112 §7.1): chunk-size line, chunk data, the CRLF after
 * it, the last chunk and the trailer section. It owns framing only: it consumes framing bytes from the buffer and
 * tells the caller how many data bytes sit at the reader index ({@link #DATA}); the caller takes them as a retained
 * slice (no copy). Resumable at any byte boundary; event loop only.
 *
 * <ul>
 *   <li>chunk-size: 1+ hex digits, no sign, no leading whitespace, above {@code Integer.MAX_VALUE} → failure (as
 *       Netty).</li>
 *   <li>chunk-ext (§7.1.1): allowed and ignored, but must match {@code *( BWS ";" BWS name [ BWS "=" BWS ( token /
 *       quoted-string ) ] )}; a CTL, a bare CR, obs-text in a quoted value or whitespace after a token value →
 *       failure. Whitespace after the size
 *       with no extension is refused (as Netty).</li>
 *   <li>Each line ends with CRLF (bare LF refused); chunk data must be followed by exactly CRLF.</li>
 *   <li>Size line longer than {@code maxLineLength} → failure; trailer field lines validated as head fields
 *       ({@link HeadParser#splitField}), obs-fold refused, their bytes, added to the head's field bytes, limited to {@code maxTrailerSize}
 *       (the decoder passes {@code maxHeaderSize});
 *       Content-Length, Transfer-Encoding and Trailer fields in the trailers are dropped (as Netty), the rest kept.</li>
 *   <li>Data is handed out in pieces of at most {@code maxChunkSize} bytes.</li>
 * </ul>
 */
final class ChunkedBodyParser {
  static final int NEED_MORE = 0;
  /** {@link #dataLength()} bytes of chunk data are at the reader index: the caller reads them. */
  static final int DATA = 1;
  /** The last chunk and the trailer section were read; {@link #trailers()} may hold fields. */
  static final int DONE = 2;
  static final int FAILED = -1;

  private static final int SIZE = 0;
  private static final int BODY = 1;
  private static final int BODY_CRLF = 2;
  private static final int TRAILER = 3;

  private static final byte[] CONTENT_LENGTH = "content-length".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] TRANSFER_ENCODING = "transfer-encoding".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] TRAILER_NAME = "trailer".getBytes(StandardCharsets.US_ASCII);

  private final int maxChunkSize;
  private final int maxLineLength;
  private final int maxTrailerSize;
  private final int[] field = new int[3];

  private int state = SIZE;
  private long remaining;
  private int dataLength;
  private int trailerBytes;
  private HttpHeaders trailers;
  private Exception failure;

  ChunkedBodyParser(int maxChunkSize, int maxLineLength, int maxTrailerSize) {
    if (maxChunkSize <= 0 || maxLineLength <= 0 || maxTrailerSize <= 0) {
      throw new IllegalArgumentException("maxChunkSize: " + maxChunkSize + ", maxLineLength: " + maxLineLength
          + ", maxTrailerSize: " + maxTrailerSize + " (expected: > 0)");
    }
    this.maxChunkSize = maxChunkSize;
    this.maxLineLength = maxLineLength;
    this.maxTrailerSize = maxTrailerSize;
  }

  /**
   * For the next chunked body.
   *
   * @param headFieldBytes the field bytes of its head: trailers share the head's {@code maxHeaderSize} budget, as in
   *                       Netty's decoder (so nothing Netty refuses as too large is accepted here)
   */
  void reset(int headFieldBytes) {
    state = SIZE;
    remaining = 0;
    dataLength = 0;
    trailerBytes = headFieldBytes;
    trailers = null;
    failure = null;
  }

  int dataLength() {
    return dataLength;
  }

  /** Trailer fields of the body just DONE, or null when it had none (then Netty sends EMPTY_LAST_CONTENT). */
  HttpHeaders trailers() {
    return trailers;
  }

  Exception failure() {
    return failure;
  }

  /**
   * Advances over framing bytes of {@code in} (moves its reader index past them, never past data). Borrows {@code in}.
   *
   * @return {@link #NEED_MORE}, {@link #DATA}, {@link #DONE} or {@link #FAILED}
   */
  int next(ByteBuf in) {
    while (true) {
      switch (state) {
        case SIZE: {
          int lf = readSizeLine(in);
          if (lf <= 0) {
            return lf; // NEED_MORE or FAILED
          }
          in.readerIndex(lf + 1);
          state = remaining == 0 ? TRAILER : BODY;
          break;
        }
        case BODY: {
          int n = (int) Math.min(Math.min(remaining, maxChunkSize), in.readableBytes());
          if (n == 0) {
            return NEED_MORE;
          }
          remaining -= n;
          dataLength = n;
          if (remaining == 0) {
            state = BODY_CRLF;
          }
          return DATA;
        }
        case BODY_CRLF: {
          if (in.readableBytes() < 2) {
            if (in.readableBytes() == 1 && in.getByte(in.readerIndex()) != HeadParser.CR) {
              return fail("chunk data not followed by CRLF (RFC 9112 §7.1)");
            }
            return NEED_MORE;
          }
          int ri = in.readerIndex();
          if (in.getByte(ri) != HeadParser.CR || in.getByte(ri + 1) != HeadParser.LF) {
            return fail("chunk data not followed by CRLF (RFC 9112 §7.1)");
          }
          in.skipBytes(2);
          state = SIZE;
          break;
        }
        case TRAILER: {
          int ri = in.readerIndex();
          int lf = in.readableBytes() > 0 ? in.indexOf(ri, in.writerIndex(), HeadParser.LF) : -1;
          if (lf < 0) {
            if (trailerBytes + in.readableBytes() > maxTrailerSize) {
              return fail(new TooLongHttpHeaderException("head fields and trailer section together are "
                  + "larger than " + maxTrailerSize + " bytes."));
            }
            return NEED_MORE;
          }
          if (lf == ri || in.getByte(lf - 1) != HeadParser.CR) {
            return fail("bare LF in the trailer section (RFC 9112 §2.2: lines end with CRLF)");
          }
          int le = lf - 1;
          if (le == ri) {
            in.readerIndex(lf + 1);
            state = SIZE;
            return DONE;
          }
          trailerBytes += le - ri;
          if (trailerBytes > maxTrailerSize) {
            return fail(new TooLongHttpHeaderException("head fields and trailer section together are "
                + "larger than " + maxTrailerSize + " bytes."));
          }
          String err = HeadParser.splitField(in, ri, le, field);
          if (err != null) {
            return fail("in the trailer section: " + err);
          }
          addTrailer(in, ri, field[0] - ri, field[1], field[2]);
          in.readerIndex(lf + 1);
          break;
        }
        default:
          throw new IllegalStateException("state " + state);
      }
    }
  }

  /** {@link #wholeChunk}: the next chunk is the last one (size 0); {@link #next} reads it and the trailers. */
  static final int LAST_CHUNK = -2;

  /**
   * For relaying chunks as they came ({@link WireResponseDecoder#relayRaw}): when the parser is between chunks and a
   * whole data chunk — size line, data and the CRLF after it — is readable at the reader index, validates it and
   * returns its length in bytes, consuming nothing; {@link #dataOffset()} and {@link #dataLength()} then locate its
   * data from the reader index. The caller skips the returned length to take it (the parser stays between chunks).
   * Borrows {@code in}.
   *
   * @return the chunk's length on the wire; {@link #NEED_MORE} when it is not all here (or the parser is not between
   *     chunks); {@link #LAST_CHUNK} when the next chunk is the last one (nothing consumed); {@link #FAILED}
   */
  int wholeChunk(ByteBuf in) {
    if (state != SIZE) {
      return NEED_MORE;
    }
    int ri = in.readerIndex();
    int lf = readSizeLine(in);
    if (lf <= 0) {
      return lf; // NEED_MORE or FAILED (an LF is never at index 0: the line has its CR before it)
    }
    long size = remaining;
    remaining = 0;
    if (size == 0) {
      return LAST_CHUNK;
    }
    long total = (lf + 1 - ri) + size + 2;
    if (total > in.readableBytes()) {
      pendingSize = size;
      return NEED_MORE;
    }
    int crlf = lf + 1 + (int) size;
    if (in.getByte(crlf) != HeadParser.CR || in.getByte(crlf + 1) != HeadParser.LF) {
      return fail("chunk data not followed by CRLF (RFC 9112 §7.1)");
    }
    pendingSize = 0;
    dataOffset = lf + 1 - ri;
    dataLength = (int) size;
    return (int) total;
  }

  /** Where the data of the chunk {@link #wholeChunk} found starts, from the reader index. */
  int dataOffset() {
    return dataOffset;
  }

  /** The size of the chunk {@link #wholeChunk} found not yet whole (0 when it found a whole one). */
  long pendingSize() {
    return pendingSize;
  }

  private int dataOffset;
  private long pendingSize;

  private void addTrailer(ByteBuf in, int ns, int nl, int vs, int ve) {
    if (HeadParser.equalsLower(in, ns, nl, CONTENT_LENGTH)
        || HeadParser.equalsLower(in, ns, nl, TRANSFER_ENCODING)
        || HeadParser.equalsLower(in, ns, nl, TRAILER_NAME)) {
      return; // framing fields have no business in trailers (RFC 9110 §6.5.1); Netty drops them too
    }
    if (trailers == null) {
      trailers = DefaultHttpHeadersFactory.trailersFactory().withValidation(false).newHeaders();
    }
    trailers.add(in.toString(ns, nl, StandardCharsets.US_ASCII), in.toString(vs, ve - vs, StandardCharsets.ISO_8859_1));
  }

  /**
   * Reads the chunk-size line at the reader index without consuming it: its size into {@link #remaining}, its
   * extensions validated. Returns the index of its LF (at least 1: a CR precedes it), or {@link #NEED_MORE} (0: the
   * line is not all here yet) or {@link #FAILED}.
   */
  private int readSizeLine(ByteBuf in) {
    int ri = in.readerIndex();
    int lf = in.readableBytes() > 0 ? in.indexOf(ri, in.writerIndex(), HeadParser.LF) : -1;
    if (lf < 0) {
      return in.readableBytes() > maxLineLength ? fail("chunk-size line longer than " + maxLineLength + " bytes")
          : NEED_MORE;
    }
    if (lf == ri || in.getByte(lf - 1) != HeadParser.CR) {
      return fail("bare LF after chunk-size (RFC 9112 §7.1: lines end with CRLF)");
    }
    if (lf - 1 - ri > maxLineLength) {
      return fail("chunk-size line longer than " + maxLineLength + " bytes");
    }
    String err = sizeLine(in, ri, lf - 1);
    return err != null ? fail(err) : lf;
  }

  /** chunk = chunk-size [ chunk-ext ] CRLF, the line given without CRLF. */
  private String sizeLine(ByteBuf in, int s, int e) {
    long size = 0;
    int p = s;
    while (p < e) {
      int d = Character.digit(in.getByte(p), 16);
      if (d < 0) {
        break;
      }
      size = size * 16 + d;
      if (size > Integer.MAX_VALUE) {
        return "chunk size overflows (more than " + Integer.MAX_VALUE + ")";
      }
      p++;
    }
    if (p == s) {
      return "invalid chunk size (RFC 9112 §7.1: hex digits): " + HeadParser.describe(in, s, e);
    }
    if (p < e) {
      String err = extensions(in, p, e);
      if (err != null) {
        return err + ": " + HeadParser.describe(in, s, e);
      }
    }
    remaining = size;
    return null;
  }

  /** RFC 9112 §7.1.1 chunk-ext, from just after the size to the end of the line. */
  private static String extensions(ByteBuf in, int p, int e) {
    while (true) {
      p = skipOws(in, p, e);
      if (p == e || in.getByte(p) != ';') {
        return "invalid chunk size or extension";
      }
      p = skipOws(in, p + 1, e);
      int n = token(in, p, e);
      if (n == p) {
        return "invalid chunk extension name";
      }
      p = skipOws(in, n, e);
      if (p < e && in.getByte(p) == '=') {
        p = skipOws(in, p + 1, e);
        if (p < e && in.getByte(p) == '"') {
          p++;
          while (true) {
            if (p == e) {
              return "unterminated quoted chunk extension value";
            }
            int c = in.getByte(p) & 0xFF;
            if (c == '"') {
              p++;
              break;
            }
            if (c == '\\') {
              p++;
              if (p == e) {
                return "unterminated quoted chunk extension value";
              }
              c = in.getByte(p) & 0xFF;
              if ((c < 0x20 && c != '\t') || c == 0x7F) {
                return "control character in chunk extension";
              }
            } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
              return "control character in chunk extension";
            } else if (c >= 0x80) {
              // obs-text is allowed by RFC 9112 §7.1.1, but Netty 4.2.18 fails on it (an index error): refusing it
              // keeps the two from framing a body differently, and no sender of ours uses extensions at all
              return "non-ASCII byte in chunk extension";
            }
            p++;
          }
          p = skipOws(in, p, e);
        } else {
          int v = token(in, p, e);
          if (v == p) {
            return "invalid chunk extension value";
          }
          p = v; // no whitespace after a token value: Netty refuses it too
        }
      } else if (p < e && n < p) {
        // whitespace after a name must lead to '=' or ';'
        if (in.getByte(p) != ';') {
          return "invalid chunk extension";
        }
      }
      if (p == e) {
        return null;
      }
      if (in.getByte(p) != ';') {
        return "invalid chunk extension";
      }
    }
  }

  private static int skipOws(ByteBuf in, int p, int e) {
    while (p < e && HeadParser.isOws(in.getByte(p))) {
      p++;
    }
    return p;
  }

  private static int token(ByteBuf in, int p, int e) {
    while (p < e && HeadParser.isTchar(in.getByte(p))) {
      p++;
    }
    return p;
  }

  private int fail(String message) {
    return fail(new IllegalArgumentException(message));
  }

  private int fail(Exception e) {
    failure = e;
    return FAILED;
  }
}
