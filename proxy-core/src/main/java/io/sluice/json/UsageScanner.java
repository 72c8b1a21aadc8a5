package io.sluice.json;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * Reads token usage from a response as its bytes pass, without copying or parsing JSON: the last
 * {@code "prompt_tokens":N}, {@code "completion_tokens":N} and {@code "total_tokens":N} seen — or Anthropic's
 * {@code "input_tokens":N} and {@code "output_tokens":N} (the Messages API) — (vLLM's JSON
 * {@code usage}, the SSE usage chunk, or cumulative {@code continuous_usage_stats}) win, across chunk boundaries.
 * It also counts SSE events (blank-line boundaries), so a stream that carried no usage (cut short) can be estimated.
 *
 * <p>It runs on every relayed byte, so it does not look at every byte: it jumps between the rare bytes that can start
 * a match — {@code _} (every key ends in {@code _tokens":}) and {@code \n} (event boundaries) — with
 * {@link ByteBuf#indexOf}, which Netty scans a word at a time, and checks the bytes around each hit. A key split
 * across two chunks is found by running a byte-by-byte matcher over the last bytes of one chunk and the first of the
 * next. JSON strings escape their quotes, so a message's text cannot fake a key, and
 * {@code "prompt_tokens_details"} is not {@code "prompt_tokens":}. Not thread-safe; one per response, on its loop.
 */
public final class UsageScanner {
  private static final byte[] PROMPT = "\"prompt_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] COMPLETION = "\"completion_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] TOTAL = "\"total_tokens\":".getBytes(StandardCharsets.US_ASCII);
  /** Anthropic's names (the Messages API, and OpenAI's Responses API): input and output tokens. */
  private static final byte[] INPUT = "\"input_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] OUTPUT = "\"output_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[][] KEYS = {PROMPT, COMPLETION, TOTAL, INPUT, OUTPUT};
  /** The longest key: bytes kept from the end of one chunk to find keys that straddle into the next. */
  private static final int CARRY = COMPLETION.length;
  private static final int SUFFIX = "_tokens\":".length();

  private final byte[] carry = new byte[CARRY];
  private int carryLen;
  private boolean endedWithNewline;
  /** Which number is being read across a chunk boundary: 0 none, else 1 + index in {@link #KEYS}. */
  private int reading;
  private boolean seenDigit;
  private long number;
  private final long[] values = {-1, -1, -1, -1, -1};
  private int events;

  /** For the next response: as new (a relay keeps one per connection instead of one per request). */
  public UsageScanner reset() {
    carryLen = 0;
    endedWithNewline = false;
    reading = 0;
    seenDigit = false;
    number = 0;
    java.util.Arrays.fill(values, -1);
    events = 0;
    return this;
  }

  /** Scans {@code buf}'s readable bytes; borrows it (indexes untouched). */
  public void scan(ByteBuf buf) {
    scan(buf, true);
  }

  /**
   * Scans {@code buf}; with {@code countEvents} false the caller counts events itself (an {@link SseUsageFilter}
   * finds the same boundaries) and reports them with {@link #events(int)}.
   */
  public void scan(ByteBuf buf, boolean countEvents) {
    scan(buf, buf.readerIndex(), buf.writerIndex(), countEvents);
  }

  /** As {@link #scan(ByteBuf, boolean)}, over {@code buf}'s bytes [{@code start}, {@code end}) (indexes untouched). */
  public void scan(ByteBuf buf, int start, int end, boolean countEvents) {
    if (start == end) {
      return;
    }
    if (countEvents) {
      countEvents(buf, start, end);
    }
    int i = start;
    if (reading != 0) {
      i = readNumber(buf, i, end);
    }
    if (carryLen > 0 && reading == 0) {
      i = Math.max(i, straddling(buf, start, end));
    }
    while (i < end && reading == 0) {
      int u = buf.indexOf(i, end, (byte) '_');
      if (u < 0) {
        break;
      }
      int which = keyAt(buf, u, start, end);
      i = which < 0 ? u + 1 : readNumber(buf, startReading(which, u + SUFFIX), end);
    }
    keepCarry(buf, start, end);
  }

  /** Which key ends with the {@code _tokens":} at {@code u}, entirely inside [start, end); -1 if none. */
  private static int keyAt(ByteBuf buf, int u, int start, int end) {
    if (u + SUFFIX > end || buf.getByte(u + 1) != 't' || buf.getByte(u + SUFFIX - 1) != ':') {
      return -1;
    }
    for (int k = 0; k < KEYS.length; k++) {
      byte[] key = KEYS[k];
      int from = u + SUFFIX - key.length;
      if (from >= start && matches(buf, from, key)) {
        return k;
      }
    }
    return -1;
  }

  private static boolean matches(ByteBuf buf, int at, byte[] key) {
    for (int j = 0; j < key.length; j++) {
      if (buf.getByte(at + j) != key[j]) {
        return false;
      }
    }
    return true;
  }

  /**
   * A key that began in the previous chunk (its start is in {@link #carry}) and ends in this one. Returns where the
   * fast scan may go on.
   */
  private int straddling(ByteBuf buf, int start, int end) {
    for (int j = 0; j < carryLen; j++) {
      int have = carryLen - j; // key bytes in the carry, from its opening quote
      for (int k = 0; k < KEYS.length; k++) {
        byte[] key = KEYS[k];
        int need = key.length - have;
        if (need <= 0 || need > end - start || !prefixInCarry(j, key)) {
          continue;
        }
        boolean ok = true;
        for (int x = 0; x < need && ok; x++) {
          ok = buf.getByte(start + x) == key[have + x];
        }
        if (ok) {
          return readNumber(buf, startReading(k, start + need), end);
        }
      }
    }
    return start;
  }

  private boolean prefixInCarry(int from, byte[] key) {
    for (int x = from; x < carryLen; x++) {
      if (carry[x] != key[x - from]) {
        return false;
      }
    }
    return true;
  }

  private int startReading(int which, int at) {
    reading = which + 1;
    seenDigit = false;
    number = 0;
    return at;
  }

  /** Reads digits from {@code i}; returns where it stopped. A number that runs to the chunk's end continues next time. */
  private int readNumber(ByteBuf buf, int i, int end) {
    while (i < end) {
      byte b = buf.getByte(i);
      if (b >= '0' && b <= '9') {
        number = number * 10 + (b - '0');
        seenDigit = true;
      } else if (!(b == ' ' && !seenDigit)) {
        if (seenDigit) {
          values[reading - 1] = number;
        }
        reading = 0;
        return i;
      }
      i++;
    }
    return end;
  }

  private void countEvents(ByteBuf buf, int start, int end) {
    int i = start;
    boolean prev = endedWithNewline;
    while (i < end) {
      int n = buf.indexOf(i, end, (byte) '\n');
      if (n < 0) {
        break;
      }
      if ((n == start && prev) || (n > start && buf.getByte(n - 1) == '\n')) {
        events++;
      }
      i = n + 1;
    }
    endedWithNewline = buf.getByte(end - 1) == '\n';
  }

  /**
   * Keeps the chunk's last bytes when they may begin a key (a {@code "} followed by a prefix of one), so the next
   * chunk can complete it; usually nothing is kept, and nothing copied.
   */
  private void keepCarry(ByteBuf buf, int start, int end) {
    if (carryLen > 0 && carryStillAKeyPrefix(buf, start, end)) {
      buf.getBytes(start, carry, carryLen, end - start); // a short chunk in the middle of a key
      carryLen += end - start;
      return;
    }
    int q = Math.max(start, end - (CARRY - 1));
    while (q < end && (q = buf.indexOf(q, end, (byte) '"')) >= 0) {
      if (mayBeginKey(buf, q, end)) {
        carryLen = end - q;
        buf.getBytes(q, carry, 0, carryLen);
        return;
      }
      q++;
    }
    carryLen = 0;
  }

  private static boolean mayBeginKey(ByteBuf buf, int q, int end) {
    for (byte[] key : KEYS) {
      int n = end - q; // the bytes from the quote to the chunk's end must be a strict prefix of the key
      if (n >= key.length) {
        continue;
      }
      boolean ok = true;
      for (int x = 0; x < n && ok; x++) {
        ok = buf.getByte(q + x) == key[x];
      }
      if (ok) {
        return true;
      }
    }
    return false;
  }

  private boolean carryStillAKeyPrefix(ByteBuf buf, int start, int end) {
    if (carryLen + (end - start) > CARRY - 1) {
      return false;
    }
    for (byte[] key : KEYS) {
      if (carryLen + (end - start) >= key.length || !prefixInCarry(0, key)) {
        continue;
      }
      boolean ok = true;
      for (int x = 0; x < end - start && ok; x++) {
        ok = buf.getByte(start + x) == key[carryLen + x];
      }
      if (ok) {
        return true;
      }
    }
    return false;
  }

  /** The replica's reported total tokens, or -1 when it reported none. */
  public long totalTokens() {
    return values[2];
  }

  /**
   * The replica's reported prompt tokens, or -1: {@code prompt_tokens}, else Anthropic's {@code input_tokens} (the
   * stream's {@code message_start}, then repeated by {@code message_delta} on vLLM; the last one seen wins).
   */
  public long promptTokens() {
    if (values[0] >= 0) {
      return values[0];
    }
    return values[3] >= 0 ? values[3] : onlyTotal() ? values[2] : -1;
  }

  /**
   * Only {@code total_tokens} was reported, as vLLM's rerank answers ({@code "usage":{"total_tokens":N}}: every token
   * is input to a model that generates nothing): counted as that many prompt tokens and no completion.
   */
  private boolean onlyTotal() {
    return values[2] >= 0 && values[0] < 0 && values[1] < 0 && values[3] < 0 && values[4] < 0;
  }

  /**
   * The replica's reported completion tokens, or -1: {@code completion_tokens}, else Anthropic's
   * {@code output_tokens} — cumulative in a stream's {@code message_delta}, so the last one seen is the count.
   */
  public long completionTokens() {
    if (values[1] >= 0) {
      return values[1];
    }
    return values[4] >= 0 ? values[4] : onlyTotal() ? 0 : -1;
  }

  /** Whether the replica reported prompt and completion tokens. */
  public boolean reported() {
    return promptTokens() >= 0 && completionTokens() >= 0;
  }

  /** SSE events completed so far (blank-line boundaries). */
  public int events() {
    return events;
  }

  /** Sets the event count, for a caller that counts boundaries itself. */
  public void events(int n) {
    events = n;
  }
}
