package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import io.sluice.bytes.ByteWindow;

/**
 * Gives a response the model name the client asked for (issue 14 §6; LiteLLM's proxy does so since PR #19943,
 * {@code _override_openai_response_model} and, per chunk, {@code _restamp_streaming_chunk_model}): every
 * {@code "model":"<the replica's name>"} in the body becomes {@code "model":"<the client's>"}. vLLM writes compact
 * JSON (pydantic's {@code model_dump_json}, Starlette's {@code JSONResponse}), and a JSON string cannot hold an
 * unescaped quote, so that byte pattern is the response's own {@code model} member and nothing else.
 *
 * <p>Two ways, one per body path of {@link UpstreamHandler}: a raw SSE chunk (one or more whole events) is re-framed
 * with a new size line ({@link #rewriteChunk}) into one pooled buffer that holds every rewritten chunk of the read
 * (an SSE event is a few hundred bytes: one copy beats a buffer and a write per event); a body of
 * {@code HttpContent}s ({@link #apply}) or a Content-Length body's raw pieces ({@link #frame}) — a JSON answer not
 * all here when its head goes out, so the relay turned its Content-Length into chunked — is rewritten piece by
 * piece, holding back at a piece's end the bytes that may begin a match in the next. A JSON answer that came whole
 * with its head (the usual small one) keeps a Content-Length: its matches are counted first ({@link #count}) and
 * the body rewritten in one piece ({@link #replaceAll}).
 *
 * <p>One per upstream connection, {@link #reset} per response; event loop only.
 */
final class ModelRestamp {
  /** The piece being searched, read without a reference-count check per byte (see {@link ByteWindow}). */
  private final ByteWindow window = new ByteWindow();
  /** {@link #find}'s first eight bytes as a big-endian long ({@code "model":}): a candidate's first test. */
  private long head;
  private byte[] find;
  private byte[] replace;
  /** Held back from the last piece: a proper prefix of {@link #find} that the next piece may complete. */
  private final byte[] carry = new byte[256];
  private int carryLen;

  /** Ready for a response: {@code find} becomes {@code replace} (both {@code "model":"…"}, {@code find} < 256 B). */
  ModelRestamp reset(byte[] find, byte[] replace) {
    if (find.length < 9) {
      throw new IllegalArgumentException("find: " + find.length + " bytes (expected: \"model\":\"…\")");
    }
    this.find = find;
    this.replace = replace;
    this.carryLen = 0;
    long v = 0;
    for (int k = 0; k < 8; k++) {
      v = v << 8 | (find[k] & 0xFF);
    }
    this.head = v;
    return this;
  }

  /**
   * Where the next {@link #find} starts in {@code buf[from, to)}, or -1. Anchored on {@code find}'s second byte (the
   * {@code m} of {@code "model"}), which JSON text holds several times less often than the quote it starts with: one
   * pass over the bytes eight at a time, each word's anchor bytes found at once (SWAR), each candidate refused by one
   * eight-byte compare of {@code "model":} (every {@code find}'s first eight bytes) before the rest is compared.
   * (Netty's {@code indexOf} per anchor restarted its word setup at every {@code m} — a third of the restamp's
   * CPU; Horspool's search was tried and measured slower: on JSON text the pattern's own letters keep its shifts at
   * one to five bytes.) The leftmost match is found: a word's candidates are tried from its first byte.
   */
  int indexOf(ByteBuf buf, int from, int to) {
    byte[] f = find;
    int m = f.length;
    int last = to - m; // the last position a match can start at
    if (last < from) {
      return -1;
    }
    byte anchor = f[1];
    long anchors = 0x0101010101010101L * (anchor & 0xFF);
    int stop = last + 1; // the last position the anchor of a match can sit at
    ByteWindow w = window.open(buf, from, to);
    try {
      int i = from + 1;
      for (; i + 7 <= stop; i += 8) { // the word [i, i + 8): all of it anchor positions
        long x = w.getLong(i) ^ anchors; // a zero byte where the anchor is
        long hits = (x - 0x0101010101010101L) & ~x & 0x8080808080808080L; // no miss; a false hit is refused below
        while (hits != 0) {
          int k = Long.numberOfLeadingZeros(hits) >>> 3; // big-endian: the word's first byte is its highest
          int p = i + k;
          if (w.getLong(p - 1) == head && w.equalsAt(p + 7, f, 8, m - 8)) {
            return p - 1;
          }
          hits &= ~(0x80L << ((7 - k) << 3));
        }
      }
      for (; i <= stop; i++) {
        if (w.get(i) == anchor && w.getLong(i - 1) == head && w.equalsAt(i + 7, f, 8, m - 8)) {
          return i - 1;
        }
      }
      return -1;
    } finally {
      w.close();
    }
  }

  /**
   * One whole chunk of {@code in} (data at {@code [dataStart, dataEnd)}, then CRLF up to {@code chunkEnd}), appended to
   * {@code into} re-framed: a new size line, the data with every match replaced, CRLF. The extensions of the size
   * line, if any, are dropped. Returns the data's length change. {@code into} grows as needed (pooled).
   */
  int rewriteChunk(ByteBuf in, int dataStart, int dataEnd, int chunkEnd, ByteBuf into) {
    int count = 0;
    for (int p = indexOf(in, dataStart, dataEnd); p >= 0; p = indexOf(in, p + find.length, dataEnd)) {
      count++;
    }
    int delta = count * (replace.length - find.length);
    int newLength = dataEnd - dataStart + delta;
    into.ensureWritable(hexDigits(newLength) + 2 + newLength + 2);
    writeHex(into, newLength);
    into.writeShort('\r' << 8 | '\n');
    int q = dataStart;
    for (int p = indexOf(in, dataStart, dataEnd); p >= 0; p = indexOf(in, q, dataEnd)) {
      into.writeBytes(in, q, p - q);
      into.writeBytes(replace);
      q = p + find.length;
    }
    into.writeBytes(in, q, dataEnd - q);
    into.writeShort('\r' << 8 | '\n');
    return delta;
  }

  /**
   * {@code content} with its matches replaced: itself when there is nothing to do, else a new content (the old one
   * released). Bytes that may begin a match are held back until the next piece; the last piece flushes them.
   */
  HttpContent apply(HttpContent content, ByteBufAllocator alloc) {
    ByteBuf in = content.content();
    boolean last = content instanceof LastHttpContent;
    int from = in.readerIndex();
    int to = in.writerIndex();
    int first = indexOf(in, from, to);
    if (first < 0 && carryLen == 0 && (last || partialSuffix(in, from, to) == 0)) {
      return content; // the common piece: nothing to replace, nothing to hold back
    }
    ByteBuf out = alloc.buffer(Math.max(16, to - from + carryLen + 64));
    rewriteInto(in, from, to, last, out, alloc);
    HttpContent result;
    if (last) {
      DefaultLastHttpContent l = new DefaultLastHttpContent(out);
      l.trailingHeaders().set(((LastHttpContent) content).trailingHeaders());
      result = l;
    } else {
      result = new DefaultHttpContent(out);
    }
    content.release();
    return result;
  }

  /**
   * Writes {@code in[from, to)} — after the bytes held back from the last piece — to {@code out} with every match
   * replaced, holding back (unless {@code last}) a suffix that may begin a match in the next piece.
   */
  private void rewriteInto(ByteBuf in, int from, int to, boolean last, ByteBuf out, ByteBufAllocator alloc) {
    ByteBuf src = in;
    if (carryLen > 0) {
      src = alloc.heapBuffer(carryLen + to - from).writeBytes(carry, 0, carryLen).writeBytes(in, from, to - from);
      from = src.readerIndex();
      to = src.writerIndex();
    }
    int q = from;
    for (int p = indexOf(src, from, to); p >= 0; p = indexOf(src, q, to)) {
      out.writeBytes(src, q, p - q);
      out.writeBytes(replace);
      q = p + find.length;
    }
    // After the last match: what may begin one in the next piece is held back.
    int keep = last ? 0 : partialSuffix(src, Math.max(q, to - find.length + 1), to);
    out.writeBytes(src, q, to - keep - q);
    src.getBytes(to - keep, carry, 0, keep);
    carryLen = keep;
    if (src != in) {
      src.release();
    }
  }

  /**
   * How many matches {@code in[from, to)} holds: the ones {@link #replaceAll} replaces (for a whole body in hand,
   * its Content-Length grows by this × {@link #lengthChange}).
   */
  long count(ByteBuf in, int from, int to) {
    long count = 0;
    for (int p = indexOf(in, from, to); p >= 0; p = indexOf(in, p + find.length, to)) {
      count++;
    }
    return count;
  }

  /** How much longer one replaced match makes the body (negative when the client's name is the shorter). */
  int lengthChange() {
    return replace.length - find.length;
  }

  /**
   * A whole body {@code in[from, from + length)} with every match replaced, in one new pooled buffer of exactly
   * {@code newLength} bytes (its length plus {@link #count} × {@link #lengthChange}); the body keeps a
   * Content-Length, no chunk framing.
   *
   * @throws IllegalStateException the rewritten body is not {@code newLength} long (the head already said it is:
   *     the response cannot be completed, so the exchange fails and the client connection is closed)
   */
  ByteBuf replaceAll(ByteBuf in, int from, int length, long newLength, ByteBufAllocator alloc) {
    ByteBuf b = alloc.directBuffer((int) newLength);
    rewriteInto(in, from, from + length, true, b, alloc);
    if (b.readableBytes() != newLength) {
      int n = b.readableBytes();
      b.release();
      throw new IllegalStateException("restamped body is " + n + " bytes, not the " + newLength + " announced");
    }
    return b;
  }

  /** Room kept before a framed piece's data for its size line: eight hex digits and CRLF. */
  private static final int SIZE_LINE_ROOM = 10;

  /**
   * A piece {@code in[from, from + length)} of a Content-Length body the relay turned into chunked (the length
   * changes), as one chunk — size line, the data with its matches replaced, CRLF — in one new pooled buffer; null when
   * all of it is held back for the next piece. {@code last}: the body's final piece (nothing is held back).
   */
  ByteBuf frame(ByteBuf in, int from, int length, boolean last, ByteBufAllocator alloc) {
    ByteBuf b = alloc.directBuffer(SIZE_LINE_ROOM + carryLen + length + 64 + 2);
    b.writerIndex(SIZE_LINE_ROOM);
    rewriteInto(in, from, from + length, last, b, alloc);
    int n = b.writerIndex() - SIZE_LINE_ROOM;
    if (n == 0) {
      b.release();
      return null;
    }
    int digits = hexDigits(n);
    int start = SIZE_LINE_ROOM - digits - 2;
    for (int i = digits - 1, v = n; i >= 0; i--, v >>>= 4) {
      b.setByte(start + i, HEX[v & 0xf]);
    }
    b.setShort(SIZE_LINE_ROOM - 2, '\r' << 8 | '\n');
    b.readerIndex(start);
    return b.writeShort('\r' << 8 | '\n');
  }

  /** The longest proper prefix of {@link #find} that ends {@code buf[from, to)}: what a next piece may complete. */
  private int partialSuffix(ByteBuf buf, int from, int to) {
    int longest = Math.min(find.length - 1, to - from);
    if (longest <= 0) {
      return 0;
    }
    ByteWindow w = window.open(buf, to - longest, to);
    try {
      for (int k = longest; k > 0; k--) {
        if (w.equalsAt(to - k, find, 0, k)) {
          return k;
        }
      }
      return 0;
    } finally {
      w.close();
    }
  }

  static int hexDigits(int n) {
    return Math.max(1, (35 - Integer.numberOfLeadingZeros(n)) / 4);
  }

  private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  static void writeHex(ByteBuf b, int n) {
    for (int shift = (hexDigits(n) - 1) * 4; shift >= 0; shift -= 4) {
      b.writeByte(HEX[(n >>> shift) & 0xf]);
    }
  }
}
