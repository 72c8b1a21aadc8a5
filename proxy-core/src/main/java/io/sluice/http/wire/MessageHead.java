package io.sluice.http.wire;

/**
 * One parsed request or response head, as offsets into the buffer it was parsed from, plus the framing decided from it. Owned and
 * reused by one {@link HeadParser} (event loop only): valid until the parser's next {@code parse} call.
 *
 * <p>Every offset is relative to the {@code base} index the head starts at (the reader index when parsing began), so
 * it stays valid when the cumulation buffer is compacted or replaced between reads. No object is made per header on
 * the success path; the offset arrays grow only when a request has more fields than any before it on the connection.
 */
final class MessageHead {
  static final int HTTP_1_0 = 10;
  static final int HTTP_1_1 = 11;

  int methodStart;
  int methodLen;
  int targetStart;
  int targetLen;
  /** {@link #HTTP_1_0} or {@link #HTTP_1_1}. */
  int version;
  /** Response only: the status code (100 to 599) and the reason phrase, OWS-trimmed (may be empty). */
  int status;
  int reasonStart;
  int reasonLen;

  int headerCount;
  /** Per field: name start, name length, value start, value length (OWS-trimmed); 4 ints per field. */
  int[] fields = new int[4 * 16];

  /** Bytes of the head including the empty line that ends it; set on DONE. */
  int length;
  /** Bytes of the field lines, CRLFs not counted (what {@code maxHeaderSize} limits); set on DONE. */
  int fieldBytes;

  /** The Content-Length value, or -1 when absent. */
  long contentLength;
  boolean hasTransferEncoding;
  /** Transfer-Encoding ends with chunked (the body is chunked; for a response, unless it has no body). */
  boolean chunked;
  /** A coding other than chunked precedes it (RFC 9112 §6.1): framed as chunked, RequestGuard answers 501. */
  boolean unsupportedCoding;
  boolean connectionClose;
  boolean connectionKeepAlive;
  boolean expectContinue;
  boolean hasHost;

  void reset() {
    methodStart = methodLen = targetStart = targetLen = version = 0;
    status = reasonStart = reasonLen = 0;
    headerCount = 0;
    length = 0;
    fieldBytes = 0;
    contentLength = -1;
    hasTransferEncoding = chunked = unsupportedCoding = false;
    connectionClose = connectionKeepAlive = expectContinue = hasHost = false;
  }

  void addField(int nameStart, int nameLen, int valueStart, int valueLen) {
    int i = headerCount * 4;
    if (i + 4 > fields.length) {
      fields = java.util.Arrays.copyOf(fields, fields.length * 2);
    }
    fields[i] = nameStart;
    fields[i + 1] = nameLen;
    fields[i + 2] = valueStart;
    fields[i + 3] = valueLen;
    headerCount++;
  }

  int nameStart(int i) {
    return fields[4 * i];
  }

  int nameLength(int i) {
    return fields[4 * i + 1];
  }

  int valueStart(int i) {
    return fields[4 * i + 2];
  }

  int valueLength(int i) {
    return fields[4 * i + 3];
  }
}
