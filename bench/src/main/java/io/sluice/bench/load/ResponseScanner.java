package io.sluice.bench.load;

import java.nio.charset.StandardCharsets;

/**
 * An incremental HTTP/1.1 response parser over raw bytes, for the load driver: no Strings, no allocation per
 * response. It reads the status line and the three headers that matter for framing ({@code Content-Length},
 * {@code Transfer-Encoding: chunked}, {@code Connection: close}), then skips the body by its framing (length,
 * chunked, or until the connection closes). With {@code sse} set and status 200 it also scans the de-chunked body
 * as a Server-Sent Events stream: it counts events (a block of lines ended by a blank line, comment-only blocks
 * not counted) and checks that the last one is exactly {@code data: [DONE]} with nothing after it.
 *
 * <p>Feed it bytes in any fragmentation with {@link #feed}; it stops consuming at the end of the response (bytes
 * past that are the caller's: with no pipelining they mean a broken server). One instance per connection,
 * {@link #reset()} before each request. Not thread-safe.
 */
final class ResponseScanner {
  private static final byte[] DONE = "data: [DONE]".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] CONTENT_LENGTH = bytes("content-length");
  private static final byte[] TRANSFER_ENCODING = bytes("transfer-encoding");
  private static final byte[] CONNECTION = bytes("connection");
  private static final byte[] CHUNKED = bytes("chunked");
  private static final byte[] CLOSE = bytes("close");
  private static final int MAX_HEAD_BYTES = 64 * 1024;

  private static final int STATUS = 0;
  private static final int HEADERS = 1;
  private static final int BODY_LENGTH = 2;
  private static final int CHUNK_SIZE = 3;
  private static final int CHUNK_DATA = 4;
  private static final int CHUNK_END = 5;
  private static final int TRAILERS = 6;
  private static final int BODY_EOF = 7;
  private static final int COMPLETE = 8;
  private static final int FAILED = 9;

  private final boolean sse;
  private final byte[] line = new byte[256];
  private int lineLen;
  private int headBytes;

  private int state;
  private int status;
  private long contentLength;
  private boolean chunked;
  private boolean connectionClose;
  private boolean scanSse;
  private long remaining;

  private long chunkSize;
  private boolean chunkDigits;
  private boolean chunkExt;
  private boolean chunkCr;

  private int sseLinePos;
  private boolean sseLineDone;
  private boolean sseLineComment;
  private boolean eventHasData;
  private boolean eventDone;
  private boolean lastEventDone;
  private int events;

  private String failure;

  ResponseScanner(boolean sse) {
    this.sse = sse;
    reset();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  void reset() {
    state = STATUS;
    lineLen = 0;
    headBytes = 0;
    status = 0;
    contentLength = -1;
    chunked = false;
    connectionClose = false;
    scanSse = false;
    remaining = 0;
    chunkSize = 0;
    chunkDigits = false;
    chunkExt = false;
    chunkCr = false;
    sseLinePos = 0;
    sseLineDone = true;
    sseLineComment = false;
    eventHasData = false;
    eventDone = false;
    lastEventDone = false;
    events = 0;
    failure = null;
  }

  boolean isComplete() {
    return state == COMPLETE;
  }

  boolean isFailed() {
    return state == FAILED;
  }

  /** Why parsing failed (a constant string), or null. */
  String failure() {
    return failure;
  }

  int status() {
    return status;
  }

  /** The server asked to close the connection after this response. */
  boolean connectionClose() {
    return connectionClose;
  }

  /** SSE events seen so far in this response ({@code [DONE]} included). */
  int events() {
    return events;
  }

  /** For a complete SSE response: the last event was {@code data: [DONE]} and nothing followed it. */
  boolean sseEndedWithDone() {
    return lastEventDone && sseLinePos == 0 && !eventHasData;
  }

  /** True while the head (status line, headers) is still being read. */
  boolean inHead() {
    return state == STATUS || state == HEADERS;
  }

  /**
   * The connection closed. Returns true if that ends the response (a body delimited by the close); otherwise the
   * response is incomplete.
   */
  boolean onEof() {
    if (state == BODY_EOF) {
      state = COMPLETE;
      return true;
    }
    return state == COMPLETE;
  }

  /**
   * Consumes bytes {@code [off, off+len)}; returns how many were consumed. Consumption stops early only when the
   * response completes or parsing fails (see {@link #isComplete()}, {@link #isFailed()}).
   */
  int feed(byte[] a, int off, int len) {
    int i = off;
    int end = off + len;
    while (i < end) {
      switch (state) {
        case STATUS:
        case HEADERS: {
          byte b = a[i++];
          if (++headBytes > MAX_HEAD_BYTES) {
            return fail("response head too large", i - off);
          }
          if (b == '\n') {
            if (!endHeadLine()) {
              return i - off;
            }
          } else if (b != '\r') {
            if (lineLen < line.length) {
              line[lineLen] = b;
            }
            lineLen++;
          }
          break;
        }
        case BODY_LENGTH: {
          int n = (int) Math.min(remaining, end - i);
          if (scanSse) {
            scanSse(a, i, n);
          }
          i += n;
          remaining -= n;
          if (remaining == 0) {
            state = COMPLETE;
            return i - off;
          }
          break;
        }
        case BODY_EOF: {
          int n = end - i;
          if (scanSse) {
            scanSse(a, i, n);
          }
          i = end;
          break;
        }
        case CHUNK_SIZE: {
          byte b = a[i++];
          if (!chunkSizeByte(b)) {
            return i - off;
          }
          break;
        }
        case CHUNK_DATA: {
          int n = (int) Math.min(remaining, end - i);
          if (scanSse) {
            scanSse(a, i, n);
          }
          i += n;
          remaining -= n;
          if (remaining == 0) {
            state = CHUNK_END;
            chunkCr = false;
          }
          break;
        }
        case CHUNK_END: {
          byte b = a[i++];
          if (b == '\r' && !chunkCr) {
            chunkCr = true;
          } else if (b == '\n') {
            state = CHUNK_SIZE;
            chunkSize = 0;
            chunkDigits = false;
            chunkExt = false;
          } else {
            return fail("chunk not followed by CRLF", i - off);
          }
          break;
        }
        case TRAILERS: {
          byte b = a[i++];
          if (b == '\n') {
            if (lineLen == 0) {
              state = COMPLETE;
              return i - off;
            }
            lineLen = 0;
          } else if (b != '\r') {
            lineLen++;
          }
          break;
        }
        default:
          return i - off;
      }
    }
    return i - off;
  }

  private int fail(String why, int consumed) {
    state = FAILED;
    failure = why;
    return consumed;
  }

  /** One line of the head ended (its bytes in {@link #line}); false when parsing must stop. */
  private boolean endHeadLine() {
    int len = Math.min(lineLen, line.length);
    if (state == STATUS) {
      if (lineLen == 0) {
        lineLen = 0;
        return true; // tolerate stray CRLF before the status line
      }
      // "HTTP/1.x SSS reason"
      if (len < 12 || line[0] != 'H' || line[1] != 'T' || line[2] != 'T' || line[3] != 'P' || line[4] != '/'
          || line[8] != ' ' || !digit(line[9]) || !digit(line[10]) || !digit(line[11])
          || (len > 12 && line[12] != ' ')) {
        fail("bad status line", 0);
        return false;
      }
      status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
      state = HEADERS;
      lineLen = 0;
      return true;
    }
    if (lineLen == 0) {
      lineLen = 0;
      return endHead();
    }
    int v;
    if ((v = valueStart(CONTENT_LENGTH, len)) >= 0) {
      long n = 0;
      boolean any = false;
      for (int k = v; k < len; k++) {
        byte b = line[k];
        if (digit(b)) {
          n = n * 10 + (b - '0');
          any = true;
          if (n > (1L << 50)) {
            fail("bad content-length", 0);
            return false;
          }
        } else if (b != ' ' && b != '\t') {
          fail("bad content-length", 0);
          return false;
        }
      }
      if (!any) {
        fail("bad content-length", 0);
        return false;
      }
      contentLength = n;
    } else if ((v = valueStart(TRANSFER_ENCODING, len)) >= 0) {
      if (containsIgnoreCase(v, len, CHUNKED)) {
        chunked = true;
      }
    } else if ((v = valueStart(CONNECTION, len)) >= 0) {
      if (containsIgnoreCase(v, len, CLOSE)) {
        connectionClose = true;
      }
    }
    lineLen = 0;
    return true;
  }

  private boolean endHead() {
    if (status >= 100 && status < 200) { // interim response: the real one follows
      state = STATUS;
      status = 0;
      contentLength = -1;
      chunked = false;
      connectionClose = false;
      return true;
    }
    scanSse = sse && status == 200;
    if (status == 204 || status == 304) {
      state = COMPLETE;
      return false;
    }
    if (chunked) {
      state = CHUNK_SIZE;
      chunkSize = 0;
      chunkDigits = false;
      chunkExt = false;
      return true;
    }
    if (contentLength >= 0) {
      if (contentLength == 0) {
        state = COMPLETE;
        return false;
      }
      state = BODY_LENGTH;
      remaining = contentLength;
      return true;
    }
    state = BODY_EOF;
    connectionClose = true;
    return true;
  }

  private boolean chunkSizeByte(byte b) {
    if (b == '\n') {
      if (!chunkDigits) {
        fail("bad chunk size", 0);
        return false;
      }
      if (chunkSize == 0) {
        state = TRAILERS;
        lineLen = 0;
      } else {
        state = CHUNK_DATA;
        remaining = chunkSize;
      }
      return true;
    }
    if (b == '\r' || chunkExt) {
      return true;
    }
    int d = hex(b);
    if (d >= 0) {
      chunkSize = (chunkSize << 4) | d;
      chunkDigits = true;
      if (chunkSize > (1L << 40)) {
        fail("bad chunk size", 0);
        return false;
      }
      return true;
    }
    if ((b == ';' || b == ' ' || b == '\t') && chunkDigits) {
      chunkExt = true;
      return true;
    }
    fail("bad chunk size", 0);
    return false;
  }

  /** SSE over de-framed body bytes: lines end at LF (a CR before it is dropped); a blank line ends an event. */
  private void scanSse(byte[] a, int from, int n) {
    int pos = sseLinePos;
    boolean lineDone = sseLineDone;
    boolean comment = sseLineComment;
    for (int k = from, end = from + n; k < end; k++) {
      byte b = a[k];
      if (b == '\n') {
        if (pos == 0) {
          if (eventHasData) {
            events++;
            lastEventDone = eventDone;
            eventHasData = false;
            eventDone = false;
          }
        } else {
          if (!comment) {
            eventHasData = true;
            if (lineDone && pos == DONE.length) {
              eventDone = true;
            }
          }
          pos = 0;
          lineDone = true;
          comment = false;
        }
      } else if (b != '\r') {
        if (pos == 0 && b == ':') {
          comment = true;
        }
        if (pos >= DONE.length || b != DONE[pos]) {
          lineDone = false;
        }
        pos++;
      }
    }
    sseLinePos = pos;
    sseLineDone = lineDone;
    sseLineComment = comment;
  }

  /** Index of the value (after ':' and spaces) if line[0..len) is header {@code lowerName}, else -1. */
  private int valueStart(byte[] lowerName, int len) {
    int n = lowerName.length;
    if (len <= n || line[n] != ':') {
      return -1;
    }
    for (int k = 0; k < n; k++) {
      if (lower(line[k]) != lowerName[k]) {
        return -1;
      }
    }
    int v = n + 1;
    while (v < len && (line[v] == ' ' || line[v] == '\t')) {
      v++;
    }
    return v;
  }

  private boolean containsIgnoreCase(int from, int len, byte[] lowerNeedle) {
    outer:
    for (int k = from; k + lowerNeedle.length <= len; k++) {
      for (int j = 0; j < lowerNeedle.length; j++) {
        if (lower(line[k + j]) != lowerNeedle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  private static byte lower(byte b) {
    return b >= 'A' && b <= 'Z' ? (byte) (b + 32) : b;
  }

  private static boolean digit(byte b) {
    return b >= '0' && b <= '9';
  }

  private static int hex(byte b) {
    if (b >= '0' && b <= '9') {
      return b - '0';
    }
    if (b >= 'a' && b <= 'f') {
      return b - 'a' + 10;
    }
    if (b >= 'A' && b <= 'F') {
      return b - 'A' + 10;
    }
    return -1;
  }
}
