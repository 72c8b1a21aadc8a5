package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.netty.util.ByteProcessor;
import java.nio.charset.StandardCharsets;

/**
 * Reads token usage from a response as its bytes pass, without copying or parsing JSON: the last
 * {@code "prompt_tokens":N}, {@code "completion_tokens":N} and {@code "total_tokens":N} seen (vLLM's JSON
 * {@code usage}, the SSE usage chunk, or cumulative {@code continuous_usage_stats}) win, matched across chunk
 * boundaries. It also counts SSE {@code data: {} events, so a stream that carried no usage (cut short, or a client
 * whose usage chunk never came) can be estimated: one content event is at least one engine step's token.
 *
 * <p>One small automaton per key name, stepped together per byte. JSON strings escape their quotes, so a message's
 * text cannot fake a match; {@code "prompt_tokens_details"} does not match {@code "prompt_tokens":}. Not thread-safe;
 * one per response, on its event loop.
 */
public final class UsageScanner implements ByteProcessor {
  private static final byte[] PROMPT = "\"prompt_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] COMPLETION = "\"completion_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] TOTAL = "\"total_tokens\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] EVENT = "data: {".getBytes(StandardCharsets.US_ASCII);

  private int promptMatched;
  private int completionMatched;
  private int totalMatched;
  private int eventMatched;
  /** Which number is being read: 0 none, 1 prompt, 2 completion, 3 total. */
  private int reading;
  private boolean seenDigit;
  private long number;
  private long prompt = -1;
  private long completion = -1;
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
    if (reading != 0) {
      if (b >= '0' && b <= '9') {
        number = number * 10 + (b - '0');
        seenDigit = true;
        return true;
      }
      if (b == ' ' && !seenDigit) {
        return true;
      }
      if (seenDigit) {
        switch (reading) {
          case 1 -> prompt = number;
          case 2 -> completion = number;
          default -> total = number;
        }
      }
      reading = 0;
    }
    promptMatched = step(PROMPT, promptMatched, b);
    completionMatched = step(COMPLETION, completionMatched, b);
    totalMatched = step(TOTAL, totalMatched, b);
    if (promptMatched == PROMPT.length) {
      start(1);
    } else if (completionMatched == COMPLETION.length) {
      start(2);
    } else if (totalMatched == TOTAL.length) {
      start(3);
    }
    eventMatched = step(EVENT, eventMatched, b);
    if (eventMatched == EVENT.length) {
      eventMatched = 0;
      events++;
    }
    return true;
  }

  private void start(int which) {
    promptMatched = 0;
    completionMatched = 0;
    totalMatched = 0;
    reading = which;
    seenDigit = false;
    number = 0;
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

  /** The replica's reported prompt tokens, or -1. */
  public long promptTokens() {
    return prompt;
  }

  /** The replica's reported completion tokens, or -1. */
  public long completionTokens() {
    return completion;
  }

  /** Whether the replica reported prompt and completion tokens. */
  public boolean reported() {
    return prompt >= 0 && completion >= 0;
  }

  /** SSE {@code data: {…}} events seen. */
  public int events() {
    return events;
  }
}
