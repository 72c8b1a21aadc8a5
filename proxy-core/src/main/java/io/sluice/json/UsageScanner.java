package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.netty.util.ByteProcessor;

/**
 * Reads token usage from a response as its bytes pass, without copying or parsing JSON: the last
 * {@code "total_tokens":N} seen (vLLM's JSON {@code usage}, the SSE usage chunk, or cumulative
 * {@code continuous_usage_stats}) wins, matched across chunk boundaries. It also counts SSE {@code data: {} events, so
 * a stream that carried no usage can be estimated (one content event is at least one engine step's token).
 * Not thread-safe; one per response, on its event loop.
 */
public final class UsageScanner implements ByteProcessor {
  private static final byte[] TOTAL = "\"total_tokens\":".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] EVENT = "data: {".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private int matched;
  private int eventMatched;
  private boolean inNumber;
  private boolean seenDigit;
  private long number;
  private long total = -1;
  private int events;

  /** Scans {@code buf}'s readable bytes; borrows it (indexes untouched). */
  public void scan(ByteBuf buf) {
    if (buf.isReadable()) {
      buf.forEachByte(this);
    }
  }

  @Override
  public boolean process(byte b) {
    if (inNumber) {
      if (b >= '0' && b <= '9') {
        number = number * 10 + (b - '0');
        seenDigit = true;
        return true;
      }
      if (b == ' ' && !seenDigit) {
        return true;
      }
      if (seenDigit) {
        total = number;
      }
      inNumber = false;
    }
    matched = step(TOTAL, matched, b);
    if (matched == TOTAL.length) {
      matched = 0;
      inNumber = true;
      seenDigit = false;
      number = 0;
    }
    eventMatched = step(EVENT, eventMatched, b);
    if (eventMatched == EVENT.length) {
      eventMatched = 0;
      events++;
    }
    return true;
  }

  /**
   * Restarts at 0, or 1 when the byte opens a new match. Exact for JSON and SSE text: a partial match of these
   * patterns cannot overlap a real one there (a key is followed by its colon).
   */
  private static int step(byte[] pattern, int at, byte b) {
    if (pattern[at] == b) {
      return at + 1;
    }
    return pattern[0] == b ? 1 : 0;
  }

  /** The replica's reported total tokens, or -1 when it reported none. */
  public long totalTokens() {
    return total;
  }

  /** SSE {@code data: {…}} events seen. */
  public int events() {
    return events;
  }
}
