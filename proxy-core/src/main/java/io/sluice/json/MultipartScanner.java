package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.netty.util.ByteProcessor;
import java.nio.charset.StandardCharsets;

/**
 * Finds the {@code model} (and {@code stream}) form fields of a {@code multipart/form-data} body (RFC 7578) as its
 * chunks arrive — what OpenAI's audio routes ({@code /v1/audio/transcriptions}, {@code /translations}) send — and
 * records where the {@code model} value's bytes sit, so it can be rewritten in place. The file part is never copied
 * or decoded: between delimiters the scanner only looks for the next {@code CRLF--boundary}, skipping to each CR with
 * {@link ByteBuf#forEachByte}. Part headers are read (bounded); only small named fields are captured.
 *
 * <p>Refused: a body that is not well-formed multipart (no delimiter, a part without a {@code Content-Disposition}
 * name, headers over 8 KiB, no close delimiter), and two {@code model} fields (which one a server keeps is its own
 * business; routing by the other would be a lie, as with JSON). Not thread-safe; one per request, on its event loop.
 */
public final class MultipartScanner {
  private static final int MAX_HEADERS = 8192;
  private static final int MAX_FIELD = 1024;

  private static final int PREAMBLE = 0;
  /** The delimiter matched: next come {@code --} (the close delimiter) or padding and CRLF (a part). */
  private static final int AFTER_DELIMITER = 1;
  private static final int HEADERS = 2;
  private static final int BODY = 3;
  private static final int EPILOGUE = 4;
  private static final int FAILED = 5;

  /** {@code CRLF--boundary}: every delimiter, the first one too (the body is read as if a CRLF preceded it). */
  private final byte[] delimiter;
  /** KMP failure function of {@link #delimiter}. */
  private final int[] failure;
  private int matched;
  private int state = PREAMBLE;
  private long pos;
  /** In AFTER_DELIMITER: bytes seen ("-" of "--", or transport padding). */
  private int afterDash;
  private final StringBuilder headers = new StringBuilder();
  private int headerBytes;
  /** The current part's name (null until its headers are read), and whether it carries a file. */
  private String partName;
  private boolean filePart;
  private long partStart;
  /** Captured bytes of a small named part (model, stream); null when this part is not captured. */
  private byte[] capture;
  private int captured;
  private boolean captureOverflow;

  private String model;
  private long modelStart = -1;
  private long modelEnd = -1;
  private boolean stream;
  private String error;

  /**
   * @param boundary the boundary parameter of the request's Content-Type (see {@link #boundary})
   */
  public MultipartScanner(byte[] boundary) {
    delimiter = new byte[boundary.length + 4];
    delimiter[0] = '\r';
    delimiter[1] = '\n';
    delimiter[2] = '-';
    delimiter[3] = '-';
    System.arraycopy(boundary, 0, delimiter, 4, boundary.length);
    failure = new int[delimiter.length];
    for (int i = 1, k = 0; i < delimiter.length; i++) {
      while (k > 0 && delimiter[i] != delimiter[k]) {
        k = failure[k - 1];
      }
      if (delimiter[i] == delimiter[k]) {
        k++;
      }
      failure[i] = k;
    }
    matched = 2; // the virtual CRLF before the first delimiter
  }

  /**
   * The boundary of a {@code multipart/form-data} Content-Type, or null when {@code contentType} is not one or its
   * boundary is missing or invalid (RFC 2046 §5.1.1: 1 to 70 characters, quoted or a token).
   */
  public static byte[] boundary(CharSequence contentType) {
    if (contentType == null) {
      return null;
    }
    String ct = contentType.toString();
    int semi = ct.indexOf(';');
    String type = (semi < 0 ? ct : ct.substring(0, semi)).trim();
    if (!type.equalsIgnoreCase("multipart/form-data") || semi < 0) {
      return null;
    }
    for (String param : ct.substring(semi + 1).split(";")) {
      int eq = param.indexOf('=');
      if (eq < 0 || !param.substring(0, eq).trim().equalsIgnoreCase("boundary")) {
        continue;
      }
      String v = param.substring(eq + 1).trim();
      if (v.length() >= 2 && v.charAt(0) == '"' && v.charAt(v.length() - 1) == '"') {
        v = v.substring(1, v.length() - 1);
      }
      if (v.isEmpty() || v.length() > 70 || v.endsWith(" ")) {
        return null;
      }
      for (int i = 0; i < v.length(); i++) {
        char c = v.charAt(i);
        boolean bchar = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || "'()+_,-./:=? ".indexOf(c) >= 0;
        if (!bchar) {
          return null;
        }
      }
      return v.getBytes(StandardCharsets.US_ASCII);
    }
    return null;
  }

  /**
   * Scans the readable bytes of {@code chunk} (not consumed; the caller keeps ownership). Returns false once the
   * body is known to be malformed ({@link #error} says why).
   */
  public boolean feed(ByteBuf chunk) {
    int i = chunk.readerIndex();
    int end = chunk.writerIndex();
    while (i < end && state != FAILED) {
      if (state == EPILOGUE) {
        pos += end - i; // RFC 2046: the epilogue is ignored
        return true;
      }
      if ((state == BODY || state == PREAMBLE) && matched == 0 && capture == null) {
        // Skip to the next CR: the only byte a delimiter can start with.
        int cr = chunk.forEachByte(i, end - i, ByteProcessor.FIND_CR);
        int next = cr < 0 ? end : cr;
        pos += next - i;
        i = next;
        if (i == end) {
          break;
        }
      }
      byte b = chunk.getByte(i++);
      pos++;
      step(b);
    }
    return state != FAILED;
  }

  private void step(byte b) {
    switch (state) {
      case PREAMBLE, BODY -> {
        if (capture != null) {
          if (captured < capture.length) {
            capture[captured++] = b;
          } else {
            captureOverflow = true;
          }
        }
        while (matched > 0 && b != delimiter[matched]) {
          matched = failure[matched - 1];
        }
        if (b == delimiter[matched]) {
          matched++;
        }
        if (matched == delimiter.length) {
          matched = 0;
          if (state == BODY) {
            endPart(pos - delimiter.length);
          }
          state = AFTER_DELIMITER;
          afterDash = 0;
        }
      }
      case AFTER_DELIMITER -> afterDelimiter(b);
      case HEADERS -> header(b);
      default -> {
      }
    }
  }

  private void afterDelimiter(byte b) {
    if (afterDash == 1) {
      if (b == '-') {
        state = EPILOGUE; // the close delimiter
      } else {
        fail("a delimiter followed by a single '-'");
      }
      return;
    }
    if (b == '-' && afterDash == 0) {
      afterDash = 1;
    } else if (b == ' ' || b == '\t') {
      afterDash = 2; // transport padding
    } else if (b == '\r') {
      afterDash = 3;
    } else if (b == '\n' && afterDash == 3) {
      state = HEADERS;
      headers.setLength(0);
      headerBytes = 0;
      partName = null;
      filePart = false;
    } else {
      fail("a delimiter line with something after the boundary");
    }
  }

  private void header(byte b) {
    if (++headerBytes > MAX_HEADERS) {
      fail("part headers longer than " + MAX_HEADERS + " bytes");
      return;
    }
    headers.append((char) (b & 0xff));
    int n = headers.length();
    if (n >= 2 && headers.charAt(n - 2) == '\r' && b == '\n') {
      String line = headers.substring(0, n - 2);
      headers.setLength(0);
      if (line.isEmpty()) {
        startPart();
      } else {
        partHeader(line);
      }
    }
  }

  private void partHeader(String line) {
    int colon = line.indexOf(':');
    if (colon <= 0 || !line.substring(0, colon).trim().equalsIgnoreCase("content-disposition")) {
      return;
    }
    String v = line.substring(colon + 1);
    String name = param(v, "name");
    if (name != null) {
      partName = name;
    }
    filePart = param(v, "filename") != null;
  }

  /** The value of {@code key=value} or {@code key="value"} in a Content-Disposition value, or null. */
  private static String param(String v, String key) {
    for (String p : v.split(";")) {
      int eq = p.indexOf('=');
      if (eq > 0 && p.substring(0, eq).trim().equalsIgnoreCase(key)) {
        String s = p.substring(eq + 1).trim();
        return s.length() >= 2 && s.charAt(0) == '"' && s.charAt(s.length() - 1) == '"'
            ? s.substring(1, s.length() - 1) : s;
      }
    }
    return null;
  }

  private void startPart() {
    if (partName == null) {
      fail("a part without a Content-Disposition name (RFC 7578 §4.2)");
      return;
    }
    state = BODY;
    matched = 0;
    partStart = pos;
    boolean wanted = !filePart && (partName.equals("model") || partName.equals("stream"));
    if (wanted && partName.equals("model") && model != null) {
      fail("two \"model\" fields: send one");
      return;
    }
    capture = wanted ? new byte[MAX_FIELD + delimiter.length] : null;
    captured = 0;
    captureOverflow = false;
  }

  /** The current part's data ended at {@code dataEnd} (where its delimiter's CRLF starts). */
  private void endPart(long dataEnd) {
    if (capture == null) {
      return;
    }
    int len = (int) (dataEnd - partStart);
    if (captureOverflow || len > MAX_FIELD) {
      fail("the \"" + partName + "\" field is longer than " + MAX_FIELD + " bytes");
      return;
    }
    String value = new String(capture, 0, len, StandardCharsets.UTF_8);
    if (partName.equals("model")) {
      model = value;
      modelStart = partStart;
      modelEnd = dataEnd;
    } else {
      stream = value.trim().equalsIgnoreCase("true");
    }
    capture = null;
  }

  private void fail(String why) {
    state = FAILED;
    error = "The multipart/form-data body is malformed: " + why + ".";
  }

  /** The body is complete: true when it was well-formed multipart ending with its close delimiter. */
  public boolean end() {
    if (state == FAILED) {
      return false;
    }
    if (state != EPILOGUE) {
      fail(state == PREAMBLE ? "no delimiter line (--boundary) in the body"
          : "no close delimiter (--boundary--) at the end");
      return false;
    }
    return true;
  }

  /** The {@code model} field's value, or null when there is none. */
  public String model() {
    return model;
  }

  /** Where the {@code model} value's bytes start and end (offsets from the body's first byte), or -1. */
  public long modelStart() {
    return modelStart;
  }

  public long modelEnd() {
    return modelEnd;
  }

  /** The {@code stream} field is {@code true} (streaming transcription). */
  public boolean stream() {
    return stream;
  }

  public String error() {
    return error;
  }
}
