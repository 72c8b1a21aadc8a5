package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.List;

/**
 * Gives a response the model name the client asked for (issue 14 §6; LiteLLM's proxy does so since PR #19943,
 * {@code _override_openai_response_model} and, per chunk, {@code _restamp_streaming_chunk_model}): every
 * {@code "model":"<the replica's name>"} in the body becomes {@code "model":"<the client's>"}. vLLM writes compact
 * JSON (pydantic's {@code model_dump_json}, Starlette's {@code JSONResponse}), and a JSON string cannot hold an
 * unescaped quote, so that byte pattern is the response's own {@code model} member and nothing else.
 *
 * <p>Two ways, one per body path of {@link UpstreamHandler}: a raw SSE chunk (one or more whole events) is re-framed
 * with a new size line ({@link #rewriteChunk}): one small pooled buffer holds the size line and the bytes up to the
 * last replacement, a retained slice the rest — no copy of the event's remainder, nothing for the GC; a body of
 * {@code HttpContent}s ({@link #apply}) — the JSON answer, whose Content-Length the relay turned into chunked — is
 * rewritten piece by piece, holding back at a piece's end the bytes that may begin a match in the next.
 *
 * <p>One per upstream connection, {@link #reset} per response; event loop only.
 */
final class ModelRestamp {
  private byte[] find;
  private byte[] replace;
  /** Held back from the last piece: a proper prefix of {@link #find} that the next piece may complete. */
  private final byte[] carry = new byte[256];
  private int carryLen;

  /** Ready for a response: {@code find} becomes {@code replace} (both {@code "model":"…"}, {@code find} < 256 B). */
  ModelRestamp reset(byte[] find, byte[] replace) {
    this.find = find;
    this.replace = replace;
    this.carryLen = 0;
    return this;
  }

  /** Where the next {@link #find} starts in {@code buf[from, to)}, or -1. */
  int indexOf(ByteBuf buf, int from, int to) {
    int last = to - find.length;
    int i = from;
    while (i <= last) {
      i = buf.indexOf(i, last + 1, find[0]);
      if (i < 0) {
        return -1;
      }
      if (matchesAt(buf, i, 0, find.length)) {
        return i;
      }
      i++;
    }
    return -1;
  }

  private boolean matchesAt(ByteBuf buf, int at, int findFrom, int n) {
    for (int k = 0; k < n; k++) {
      if (buf.getByte(at + k) != find[findFrom + k]) {
        return false;
      }
    }
    return true;
  }

  /**
   * One whole chunk {@code in[chunkStart, chunkEnd)} (size line, data at {@code [dataStart, dataEnd)}, CRLF) with
   * at least one match, re-framed into {@code out}: a new buffer with the new size line and the data up to the end
   * of the last match (replaced), then a retained slice of the rest of the chunk. Returns the data's length change.
   */
  int rewriteChunk(ByteBuf in, int dataStart, int dataEnd, int chunkEnd, ByteBufAllocator alloc, List<Object> out) {
    int count = 0;
    int tail = dataStart;
    for (int p = indexOf(in, dataStart, dataEnd); p >= 0; p = indexOf(in, p + find.length, dataEnd)) {
      count++;
      tail = p + find.length;
    }
    int delta = count * (replace.length - find.length);
    int newLength = dataEnd - dataStart + delta;
    ByteBuf h = alloc.directBuffer(hexDigits(newLength) + 2 + (tail - dataStart) + delta);
    writeHex(h, newLength);
    h.writeShort('\r' << 8 | '\n');
    int q = dataStart;
    for (int p = indexOf(in, dataStart, tail); p >= 0; p = indexOf(in, q, tail)) {
      h.writeBytes(in, q, p - q);
      h.writeBytes(replace);
      q = p + find.length;
    }
    out.add(h);
    out.add(in.retainedSlice(tail, chunkEnd - tail));
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
    ByteBuf src = in;
    if (carryLen > 0) {
      src = alloc.heapBuffer(carryLen + to - from).writeBytes(carry, 0, carryLen).writeBytes(in, from, to - from);
      from = src.readerIndex();
      to = src.writerIndex();
    }
    int tail = from;
    for (int p = indexOf(src, from, to); p >= 0; p = indexOf(src, p + find.length, to)) {
      tail = p + find.length;
    }
    int keep = last ? 0 : partialSuffix(src, tail, to);
    ByteBuf out = alloc.buffer(Math.max(16, to - from - keep + 64));
    int q = from;
    for (int p = indexOf(src, from, to - keep); p >= 0; p = indexOf(src, q, to - keep)) {
      out.writeBytes(src, q, p - q);
      out.writeBytes(replace);
      q = p + find.length;
    }
    out.writeBytes(src, q, to - keep - q);
    src.getBytes(to - keep, carry, 0, keep);
    carryLen = keep;
    if (src != in) {
      src.release();
    }
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

  /** The longest proper prefix of {@link #find} that ends {@code buf[from, to)}: what a next piece may complete. */
  private int partialSuffix(ByteBuf buf, int from, int to) {
    for (int k = Math.min(find.length - 1, to - from); k > 0; k--) {
      if (matchesAt(buf, to - k, 0, k)) {
        return k;
      }
    }
    return 0;
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
