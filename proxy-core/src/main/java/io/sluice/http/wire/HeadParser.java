package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.sluice.bytes.ByteWindow;

/**
 * Parses one HTTP/1.1 message head (request line or status line, field lines, empty line) from a {@link ByteBuf} into
 * the reusable {@link MessageHead}, as offsets: it owns the head grammar and, for requests, the framing decision (RFC
 * 9112 §6.3), nothing after. One parser parses one direction: {@link #HeadParser(int, int)} requests (the client
 * side, {@link WireRequestDecoder}), {@link #forResponses} responses (the replica side, {@link WireResponseDecoder}).
 * Resumable: an incomplete head returns {@link #NEED_MORE} and the next call goes on from the last complete line (the
 * caller keeps the bytes from the same reader index). Borrows the buffer: never moves its indices, never retains it.
 * Event loop only.
 *
 * <p>Enforced, each refusal a failure with a message (the decoder marks the request {@code decoderResult} failed):
 * <ul>
 *   <li>RFC 9112 §2.2: every line ends with CRLF; a bare LF or a bare CR anywhere → 400 (Netty 4.2's default
 *       strict line parsing refuses bare LF too; the RFC only allows accepting it).</li>
 *   <li>§3: {@code method SP request-target SP HTTP-version}, exactly one SP each; method a token; target visible
 *       ASCII (no CTL, SP or obs-text); version exactly {@code HTTP/1.1} or {@code HTTP/1.0}, anything else → 400
 *       (Netty would accept e.g. {@code HTTP/1.2} or {@code HTTP/2.0} as a version of its own).</li>
 *   <li>Request line longer than {@code maxInitialLineLength} → {@code TooLongHttpLineException} (414), field
 *       lines (their bytes without CRLF, as Netty counts) more than {@code maxHeaderSize} →
 *       {@code TooLongHttpHeaderException} (431), both checked while the head is still incomplete.</li>
 *   <li>§5.1: field name a token, the colon right after it (whitespace before it → 400); §5.2: obs-fold → 400
 *       (Netty unfolds it); §5.5: value OWS-trimmed, CTL other than HTAB (NUL, CR, DEL, …) → 400.</li>
 *   <li>§3.2: more than one Host → 400 (Netty accepts). A missing Host is only reported ({@link MessageHead#hasHost}),
 *       not refused.</li>
 *   <li>Content-Length (RFC 9110 §8.6): digits only (no sign, no list), overflow → 400; repeated, even with the same
 *       value → 400 (as Netty by default; the RFC allows either).</li>
 *   <li>Transfer-Encoding (§6.1, §6.3): only in HTTP/1.1 (else 400); a list of tokens whose last must be chunked,
 *       chunked at most once and without parameters (else 400, RequestGuard's wording); with Content-Length → 400
 *       (RequestGuard's wording). Another coding before chunked is framed as chunked and flagged
 *       {@link MessageHead#unsupportedCoding}; RequestGuard answers it 501 as today.</li>
 *   <li>Neither Content-Length nor chunked: no body (§6.3 rule 7).</li>
 * </ul>
 *
 * <p>Responses ({@link #forResponses}): the same line and field rules, and
 * <ul>
 *   <li>§4: {@code HTTP-version SP 3DIGIT SP reason-phrase}, exactly one SP after the version; version exactly
 *       {@code HTTP/1.1} or {@code HTTP/1.0}; status 100 to 599 (RFC 9110 §15; Netty takes any integer Java
 *       parses, such as {@code +200} or {@code 2000}); reason HTAB, SP, VCHAR or obs-text (a CTL → failure; Netty
 *       refuses only CR and LF), OWS-trimmed as Netty trims it. {@code HTTP/1.1 200} with neither the second SP nor a
 *       reason is accepted, as Netty does: the CRLF still delimits the line, so nothing can be read two ways.</li>
 *   <li>No Host or Expect rules. Transfer-Encoding only in HTTP/1.1 (§6.1: a 1.0 message with it has faulty
 *       framing), chunked at most once, without parameters and, when present, last (as Netty; the RFC would read
 *       {@code chunked, gzip} to the close); whether it ends with chunked is reported
 *       ({@link MessageHead#chunked}), as is a Content-Length beside it: the response framing depends on the
 *       request's method and the status, so {@link WireResponseDecoder} decides it.</li>
 * </ul>
 */
final class HeadParser {
  static final int NEED_MORE = 0;
  static final int FAILED = -1;

  static final byte CR = '\r';
  static final byte LF = '\n';
  private static final boolean[] TCHAR = new boolean[256];

  static {
    for (int c = '0'; c <= '9'; c++) {
      TCHAR[c] = true;
    }
    for (int c = 'a'; c <= 'z'; c++) {
      TCHAR[c] = true;
      TCHAR[c - 32] = true;
    }
    for (char c : "!#$%&'*+-.^_`|~".toCharArray()) {
      TCHAR[c] = true;
    }
  }

  private static final byte[] CONTENT_LENGTH = "content-length".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] TRANSFER_ENCODING =
      "transfer-encoding".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CONNECTION = "connection".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] EXPECT = "expect".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] HOST = "host".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CHUNKED = "chunked".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CLOSE = "close".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] KEEP_ALIVE = "keep-alive".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CONTINUE = "100-continue".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private static final byte[] HTTP_1 = "HTTP/1.".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private final int maxInitialLineLength;
  private final int maxHeaderSize;
  /** Parses status lines, not request lines. */
  private final boolean response;
  private final MessageHead head = new MessageHead();
  private final int[] field = new int[3];
  /** The head being parsed, read without a reference-count check per byte (see {@link ByteWindow}). */
  private final ByteWindow win = new ByteWindow();

  // Resume state, relative to the head's first byte.
  private int lineStart;
  private int scanned;
  private int lineNo;
  private int headerBytes;
  private boolean finished = true;
  private boolean chunkedSeen;
  private boolean lastChunked;
  private int hostCount;
  private Exception failure;

  /**
   * @param maxInitialLineLength the longest request line accepted, in bytes without CRLF ({@code max_uri_length})
   * @param maxHeaderSize        the most bytes of field lines accepted, CRLFs not counted (as Netty counts)
   */
  HeadParser(int maxInitialLineLength, int maxHeaderSize) {
    this(maxInitialLineLength, maxHeaderSize, false);
  }

  /** A parser of response heads, with the same limits as {@link #HeadParser(int, int)} (the first: status line). */
  static HeadParser forResponses(int maxInitialLineLength, int maxHeaderSize) {
    return new HeadParser(maxInitialLineLength, maxHeaderSize, true);
  }

  private HeadParser(int maxInitialLineLength, int maxHeaderSize, boolean response) {
    this.response = response;
    if (maxInitialLineLength <= 0 || maxHeaderSize <= 0) {
      throw new IllegalArgumentException("maxInitialLineLength: " + maxInitialLineLength + ", maxHeaderSize: "
          + maxHeaderSize + " (expected: > 0)");
    }
    this.maxInitialLineLength = maxInitialLineLength;
    this.maxHeaderSize = maxHeaderSize;
  }

  /** The head of the last {@code DONE}; valid until the next {@link #parse}. */
  MessageHead head() {
    return head;
  }

  /** Why the last parse returned {@link #FAILED}: the exception the decoder puts in the request's decoder result. */
  Exception failure() {
    return failure;
  }

  /**
   * Parses on from where the previous call stopped. Borrows {@code buf}: the head starts at its reader index, which
   * must be the same as in the previous call while that returned {@link #NEED_MORE}; nothing is consumed.
   *
   * @return {@link #NEED_MORE}, {@link #FAILED} (see {@link #failure()}), or the head's length in bytes (DONE)
   */
  int parse(ByteBuf buf) {
    win.open(buf, buf.readerIndex(), buf.writerIndex());
    try {
      return parseOpen(buf);
    } finally {
      win.close();
    }
  }

  /** {@link #parse} with {@link #win} open on the readable bytes. */
  private int parseOpen(ByteBuf buf) {
    if (finished) {
      startHead();
    }
    final int base = buf.readerIndex();
    final int end = buf.writerIndex();
    while (true) {
      int from = base + Math.max(lineStart, scanned);
      int lf = from < end ? buf.indexOf(from, end, LF) : -1;
      int ls = base + lineStart;
      if (lf < 0) {
        scanned = end - base;
        int partial = end - ls;
        if (lineNo == 0 ? partial > maxInitialLineLength : headerBytes + partial > maxHeaderSize) {
          return fail(tooLong());
        }
        if (lineNo == 0 && partial > 0 && response) {
          String err = statusLinePrefix(win, buf, ls, end);
          if (err != null) {
            return fail(err);
          }
        } else if (lineNo == 0 && partial > 0) {
          // Fail fast on what cannot start a request line (a body sent without framing, binary junk), as Netty.
          int i = ls;
          while (i < end && TCHAR[win.get(i) & 0xFF]) {
            i++;
          }
          if (i < end && (i == ls || win.get(i) != ' ')) {
            return fail("request line does not start with a method token and SP (RFC 9112 §3.1): "
                + describe(buf, ls, end));
          }
        }
        return NEED_MORE;
      }
      if (lf == ls || win.get(lf - 1) != CR) {
        return fail("bare LF as line terminator (RFC 9112 §2.2: lines end with CRLF)");
      }
      int le = lf - 1;
      int len = le - ls;
      if (lineNo == 0) {
        if (len > maxInitialLineLength) {
          return fail(tooLong());
        }
        String err = response ? statusLine(buf, base, ls, le) : requestLine(buf, base, ls, le);
        if (err != null) {
          return fail(err);
        }
      } else if (len == 0) {
        return finishHead(buf, base, lf + 1 - base);
      } else {
        headerBytes += len;
        if (headerBytes > maxHeaderSize) {
          return fail(tooLong());
        }
        String err = fieldLine(buf, base, ls, le);
        if (err != null) {
          return fail(err);
        }
      }
      lineNo++;
      lineStart = lf + 1 - base;
      scanned = lineStart;
    }
  }

  private void startHead() {
    finished = false;
    head.reset();
    lineStart = scanned = lineNo = headerBytes = hostCount = 0;
    chunkedSeen = lastChunked = false;
    failure = null;
  }

  private Exception tooLong() {
    return lineNo == 0
        ? new TooLongHttpLineException("An HTTP line is larger than " + maxInitialLineLength + " bytes.")
        : new TooLongHttpHeaderException("HTTP header is larger than " + maxHeaderSize + " bytes.");
  }

  private int fail(String message) {
    return fail(new IllegalArgumentException(message));
  }

  private int fail(Exception e) {
    failure = e;
    finished = true;
    return FAILED;
  }

  /** RFC 9112 §3: method SP request-target SP HTTP-version, each separated by exactly one SP. */
  private String requestLine(ByteBuf buf, int base, int ls, int le) {
    int i = ls;
    while (i < le && TCHAR[win.get(i) & 0xFF]) {
      i++;
    }
    if (i == ls) {
      return "request line does not start with a method token (RFC 9112 §3.1): " + describe(buf, ls, le);
    }
    if (i == le || win.get(i) != ' ') {
      return "invalid character after the method (RFC 9112 §3: one SP between parts): " + describe(buf, ls, le);
    }
    head.methodStart = ls - base;
    head.methodLen = i - ls;
    int t = ++i;
    while (i < le) {
      int b = win.get(i) & 0xFF;
      if (b <= 0x20 || b >= 0x7F) {
        break;
      }
      i++;
    }
    if (i == t) {
      return "empty or invalid request-target (RFC 9112 §3.2): " + describe(buf, ls, le);
    }
    if (i == le || win.get(i) != ' ') {
      return "invalid character in the request-target or after it (RFC 9112 §3.2: no CTL, SP or non-ASCII): "
          + describe(buf, ls, le);
    }
    head.targetStart = t - base;
    head.targetLen = i - t;
    i++;
    if (le - i == 8 && win.get(i) == 'H' && win.get(i + 1) == 'T' && win.get(i + 2) == 'T'
        && win.get(i + 3) == 'P' && win.get(i + 4) == '/' && win.get(i + 5) == '1'
        && win.get(i + 6) == '.') {
      byte minor = win.get(i + 7);
      if (minor == '1') {
        head.version = MessageHead.HTTP_1_1;
        return null;
      }
      if (minor == '0') {
        head.version = MessageHead.HTTP_1_0;
        return null;
      }
    }
    return "unsupported HTTP version (RFC 9112 §2.3: HTTP/1.1 or HTTP/1.0): " + describe(buf, i, le);
  }

  /**
   * RFC 9112 §4: {@code HTTP-version SP 3DIGIT SP reason-phrase}; the second SP may be missing when there is no
   * reason (as Netty accepts).
   */
  private String statusLine(ByteBuf buf, int base, int ls, int le) {
    String err = statusLinePrefix(win, buf, ls, le);
    if (err != null) {
      return err;
    }
    if (le - ls < 12 || win.get(ls + 8) != ' ') {
      return "status line is not HTTP-version SP 3DIGIT SP reason (RFC 9112 §4): " + describe(buf, ls, le);
    }
    head.version = win.get(ls + 7) == '1' ? MessageHead.HTTP_1_1 : MessageHead.HTTP_1_0;
    int status = 0;
    for (int i = ls + 9; i < ls + 12; i++) {
      byte d = win.get(i);
      if (d < '0' || d > '9') {
        return "status code is not 3 digits (RFC 9112 §4): " + describe(buf, ls, le);
      }
      status = status * 10 + (d - '0');
    }
    if (status < 100 || status > 599) {
      return "status code " + status + " is not 1xx to 5xx (RFC 9110 §15)";
    }
    head.status = status;
    int rs = ls + 12;
    if (rs < le) {
      if (win.get(rs) != ' ') {
        return "status code is not 3 digits followed by SP (RFC 9112 §4): " + describe(buf, ls, le);
      }
      rs++;
      for (int i = rs; i < le; i++) {
        int c = win.get(i) & 0xFF;
        if ((c < 0x20 && c != '\t') || c == 0x7F) {
          return "control character 0x" + Integer.toHexString(c) + " in the reason phrase (RFC 9112 §4)";
        }
      }
    }
    rs = skipOws(win, rs, le);
    head.reasonStart = rs - base;
    head.reasonLen = trimOws(win, rs, le) - rs;
    return null;
  }

  /** Whether {@code [ls, end)} can begin {@code HTTP/1.0} or {@code HTTP/1.1}: null if so, else what is wrong. */
  private static String statusLinePrefix(ByteWindow w, ByteBuf buf, int ls, int end) {
    int n = Math.min(end - ls, HTTP_1.length + 1);
    for (int i = 0; i < n; i++) {
      byte b = w.get(ls + i);
      if (i < HTTP_1.length ? b != HTTP_1[i] : b != '0' && b != '1') {
        return "status line does not start with HTTP/1.1 or HTTP/1.0 (RFC 9112 §4): " + describe(buf, ls, end);
      }
    }
    return null;
  }

  private String fieldLine(ByteBuf buf, int base, int ls, int le) {
    String err = splitField(win, buf, ls, le, field);
    if (err != null) {
      return err;
    }
    int nameLen = field[0] - ls;
    int vs = field[1];
    int ve = field[2];
    head.addField(ls - base, nameLen, vs - base, ve - vs);
    if (equalsLower(win, ls, nameLen, CONTENT_LENGTH)) {
      return contentLength(buf, vs, ve);
    } else if (equalsLower(win, ls, nameLen, TRANSFER_ENCODING)) {
      head.hasTransferEncoding = true;
      return transferEncoding(buf, vs, ve);
    } else if (equalsLower(win, ls, nameLen, CONNECTION)) {
      connection(buf, vs, ve);
    } else if (response) {
      return null; // Expect and Host are request fields
    } else if (equalsLower(win, ls, nameLen, EXPECT)) {
      head.expectContinue |= equalsLower(win, vs, ve - vs, CONTINUE);
    } else if (equalsLower(win, ls, nameLen, HOST)) {
      head.hasHost = true;
      if (++hostCount > 1) {
        return "more than one Host field (RFC 9112 §3.2)";
      }
    }
    return null;
  }

  /**
   * Splits and validates one field line {@code [ls, le)} (CRLF excluded), for heads and trailers alike (RFC 9112 §5).
   * Writes name end, value start and value end (OWS-trimmed) into {@code out}; returns what is wrong, or null.
   */
  static String splitField(ByteBuf buf, int ls, int le, int[] out) {
    return splitField(new ByteWindow().open(buf, ls, le), buf, ls, le, out); // trailers: rare
  }

  /** {@link #splitField(ByteBuf, int, int, int[])}, reading through {@code w} (open on at least [ls, le)). */
  static String splitField(ByteWindow w, ByteBuf buf, int ls, int le, int[] out) {
    byte first = w.get(ls);
    if (first == ' ' || first == '\t') {
      return "obs-fold: field line starts with whitespace (RFC 9112 §5.2)";
    }
    int i = ls;
    while (i < le && TCHAR[w.get(i) & 0xFF]) {
      i++;
    }
    if (i == le) {
      return "no colon in field line (RFC 9112 §5): " + describe(buf, ls, le);
    }
    byte b = w.get(i);
    if (b != ':') {
      if (b == ' ' || b == '\t') {
        return "whitespace between field name and colon (RFC 9112 §5.1): " + describe(buf, ls, le);
      }
      return "invalid character 0x" + Integer.toHexString(b & 0xFF) + " in field name (RFC 9110 §5.1: a token): "
          + describe(buf, ls, le);
    }
    if (i == ls) {
      return "empty field name (RFC 9110 §5.1)";
    }
    out[0] = i;
    int vs = skipOws(w, i + 1, le);
    int ve = trimOws(w, vs, le);
    for (int j = vs; j < ve; j++) {
      int c = w.get(j) & 0xFF;
      if ((c < 0x20 && c != '\t') || c == 0x7F) {
        return (c == CR ? "bare CR" : "control character 0x" + Integer.toHexString(c))
            + " in field value (RFC 9110 §5.5)";
      }
    }
    out[1] = vs;
    out[2] = ve;
    return null;
  }

  private String contentLength(ByteBuf buf, int vs, int ve) {
    if (head.contentLength >= 0) {
      return "more than one Content-Length (RFC 9110 §8.6)";
    }
    if (vs == ve) {
      return "empty Content-Length (RFC 9110 §8.6)";
    }
    long n = 0;
    for (int i = vs; i < ve; i++) {
      byte b = win.get(i);
      if (b == ',') {
        return "more than one Content-Length (a list; RFC 9110 §8.6): " + describe(buf, vs, ve);
      }
      if (b < '0' || b > '9') {
        return "Content-Length is not a number (RFC 9110 §8.6: digits only): " + describe(buf, vs, ve);
      }
      if (n > (Long.MAX_VALUE - (b - '0')) / 10) {
        return "Content-Length overflows: " + describe(buf, vs, ve);
      }
      n = n * 10 + (b - '0');
    }
    head.contentLength = n;
    return null;
  }

  /** One Transfer-Encoding field: a list of codings (RFC 9112 §7), chunked last and only once. */
  private String transferEncoding(ByteBuf buf, int vs, int ve) {
    int i = vs;
    while (i <= ve) {
      int comma = i < ve ? buf.indexOf(i, ve, (byte) ',') : -1;
      int e = comma < 0 ? ve : comma;
      int s = skipOws(win, i, e);
      int t = trimOws(win, s, e);
      if (s < t) { // empty list elements are allowed (RFC 9110 §5.6.1)
        int n = s;
        while (n < t && TCHAR[win.get(n) & 0xFF]) {
          n++;
        }
        if (n == s) {
          return "invalid transfer coding (RFC 9112 §7): " + describe(buf, vs, ve);
        }
        if (equalsLower(win, s, n - s, CHUNKED)) {
          if (n != t) {
            return "chunked takes no parameters (RFC 9112 §7.1): " + describe(buf, vs, ve);
          }
          if (chunkedSeen) {
            return "chunked transfer coding applied more than once (RFC 9112 §6.1)";
          }
          chunkedSeen = true;
          lastChunked = true;
        } else {
          head.unsupportedCoding = true;
          lastChunked = false;
        }
      }
      if (comma < 0) {
        break;
      }
      i = comma + 1;
    }
    return null;
  }

  private void connection(ByteBuf buf, int vs, int ve) {
    int i = vs;
    while (i <= ve) {
      int comma = i < ve ? buf.indexOf(i, ve, (byte) ',') : -1;
      int e = comma < 0 ? ve : comma;
      int s = skipOws(win, i, e);
      int t = trimOws(win, s, e);
      head.connectionClose |= equalsLower(win, s, t - s, CLOSE);
      head.connectionKeepAlive |= equalsLower(win, s, t - s, KEEP_ALIVE);
      if (comma < 0) {
        break;
      }
      i = comma + 1;
    }
  }

  /** End of the head: decides the framing once (RFC 9112 §6.3); the decoder trusts it from here. */
  private int finishHead(ByteBuf buf, int base, int length) {
    if (head.hasTransferEncoding && response) {
      if (head.version != MessageHead.HTTP_1_1) {
        return fail("Transfer-Encoding in an HTTP/1.0 response (RFC 9112 §6.1: faulty framing)");
      }
      if (chunkedSeen && !lastChunked) {
        // RFC 9112 §6.1 lets a response end with another coding (read until close), but chunked anywhere else
        // than last is a sender's framing bug; Netty refuses it too.
        return fail("chunked is not the last transfer coding (RFC 9112 §6.1): got " + transferEncodings(buf, base));
      }
      head.chunked = lastChunked; // the rest depends on the request and the status: the decoder decides
    } else if (head.hasTransferEncoding) {
      if (head.version != MessageHead.HTTP_1_1) {
        return fail("Transfer-Encoding is only allowed in HTTP/1.1 requests (RFC 9112 §6.1)");
      }
      if (!lastChunked) {
        // RequestGuard's wording (it answered this one before the decoder did).
        return fail("Transfer-Encoding must end with chunked (RFC 9112 §6.3): got " + transferEncodings(buf, base)
            + ". Send the body with Transfer-Encoding: chunked or with a Content-Length.");
      }
      if (head.contentLength >= 0) {
        return fail("Request has both Content-Length and Transfer-Encoding (RFC 9112 §6.3): send only one.");
      }
      head.chunked = true;
    }
    head.length = length;
    head.fieldBytes = headerBytes;
    finished = true;
    return length;
  }

  private String transferEncodings(ByteBuf buf, int base) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < head.headerCount; i++) {
      if (equalsLower(win, base + head.nameStart(i), head.nameLength(i), TRANSFER_ENCODING)) {
        if (sb.length() > 0) {
          sb.append(", ");
        }
        sb.append(describe(buf, base + head.valueStart(i), base + head.valueStart(i) + head.valueLength(i)));
      }
    }
    return sb.toString();
  }

  static boolean isTchar(byte b) {
    return TCHAR[b & 0xFF];
  }

  static boolean isOws(byte b) {
    return b == ' ' || b == '\t';
  }

  /** The first index in [from, to) that is not OWS, or {@code to}. */
  private static int skipOws(ByteWindow w, int from, int to) {
    while (from < to && isOws(w.get(from))) {
      from++;
    }
    return from;
  }

  /** The end of [from, to) without its trailing OWS. */
  private static int trimOws(ByteWindow w, int from, int to) {
    while (to > from && isOws(w.get(to - 1))) {
      to--;
    }
    return to;
  }

  /** {@code [start, start+len)} equals {@code lower} ignoring ASCII case ({@code lower} is lower-case letters, '-'). */
  static boolean equalsLower(ByteBuf buf, int start, int len, byte[] lower) {
    return len == lower.length && equalsLower(new ByteWindow().open(buf, start, start + len), start, len, lower);
  }

  /** {@link #equalsLower(ByteBuf, int, int, byte[])}, reading through {@code w}. */
  static boolean equalsLower(ByteWindow w, int start, int len, byte[] lower) {
    if (len != lower.length) {
      return false;
    }
    for (int i = 0; i < len; i++) {
      int b = w.get(start + i);
      if (b >= 'A' && b <= 'Z') {
        b += 32;
      }
      if (b != lower[i]) {
        return false;
      }
    }
    return true;
  }

  /** The bytes for an error message, printable, at most 100 of them (failure path only). */
  static String describe(ByteBuf buf, int start, int end) {
    StringBuilder sb = new StringBuilder("\"");
    int stop = Math.min(end, start + 100);
    for (int i = start; i < stop; i++) {
      int c = buf.getByte(i) & 0xFF;
      if (c >= 0x20 && c < 0x7F) {
        sb.append((char) c);
      } else {
        sb.append(String.format("\\x%02x", c));
      }
    }
    if (stop < end) {
      sb.append('…');
    }
    return sb.append('"').toString();
  }
}
