package io.sluice.http;

import io.netty.util.AsciiString;
import io.netty.util.concurrent.FastThreadLocal;
import java.time.Duration;

/**
 * Header values Sluice adds to every relayed response, without a new string each time: small counts as shared
 * constants, and the last spend and timeout written on this thread remembered with their text (consecutive requests
 * of one key or deployment repeat them). Event loops only (a per-thread memo); any other thread gets correct,
 * unmemoised text.
 */
final class HeaderText {
  private static final AsciiString[] SMALL = new AsciiString[64];

  static {
    for (int i = 0; i < SMALL.length; i++) {
      SMALL[i] = AsciiString.cached(Integer.toString(i));
    }
  }

  private static final class Memo {
    double spend = Double.NaN;
    String spendText;
    Duration timeout;
    String timeoutText;
  }

  private static final FastThreadLocal<Memo> MEMO = new FastThreadLocal<>() {
    @Override
    protected Memo initialValue() {
      return new Memo();
    }
  };

  private HeaderText() {}

  /** Writes {@code n} (>= 0) in decimal ASCII digits to {@code out}, without a string. */
  static void writeDecimal(io.netty.buffer.ByteBuf out, long n) {
    if (n < 0) {
      throw new IllegalArgumentException("n: " + n + " (expected: >= 0)");
    }
    int digits = 1;
    for (long p = 10; digits < 19 && n >= p; p *= 10) {
      digits++;
    }
    int at = out.writerIndex();
    out.ensureWritable(digits);
    for (int i = digits - 1; i >= 0; i--) {
      out.setByte(at + i, (int) ('0' + n % 10));
      n /= 10;
    }
    out.writerIndex(at + digits);
  }

  /** {@code n} in decimal. */
  static CharSequence count(long n) {
    return n >= 0 && n < SMALL.length ? SMALL[(int) n] : Long.toString(n);
  }

  /** A spend in USD as {@link Double#toString} writes it (LiteLLM's {@code x-litellm-key-spend}). */
  static String spend(double v) {
    Memo m = MEMO.get();
    if (Double.compare(m.spend, v) != 0 || m.spendText == null) {
      m.spend = v;
      m.spendText = Double.toString(v);
    }
    return m.spendText;
  }

  /** A timeout in seconds: whole seconds as an integer, else with its fraction ({@code 2.5}). */
  static String timeout(Duration d) {
    Memo m = MEMO.get();
    if (!d.equals(m.timeout)) {
      m.timeout = d;
      m.timeoutText = d.toMillis() % 1000 == 0 ? Long.toString(d.toSeconds()) : Double.toString(d.toMillis() / 1000.0);
    }
    return m.timeoutText;
  }
}
