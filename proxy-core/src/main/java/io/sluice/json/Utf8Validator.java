package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.sluice.bytes.ByteWindow;

/**
 * Checks that a body is well-formed UTF-8 as RFC 3629 §4 defines it, across chunk boundaries: no overlong forms
 * ({@code C0 AE}), no surrogates ({@code ED A0 80}), nothing above U+10FFFF, no stray continuation bytes, no
 * sequence cut short at the end. JSON text exchanged between systems must be UTF-8 (RFC 8259 §8.1), and a proxy that
 * lets ill-formed bytes through hands the replica a body that each decoder may read differently. ASCII runs are
 * skipped eight bytes at a time. Borrows the buffers it is fed; never copies. Not thread-safe; one body at a time,
 * {@link #reset()} between bodies.
 */
public final class Utf8Validator {
  private static final long HIGH_BITS = 0x8080808080808080L;

  /** Continuation bytes still expected for the current sequence. */
  private int need;
  /** Allowed range of the next continuation byte (the first one is narrower for E0, ED, F0, F4). */
  private int lo = 0x80;
  private int hi = 0xBF;
  private long offset;
  private long errorAt = -1;
  /** The chunk being validated, read without a reference-count check per byte (see {@link ByteWindow}). */
  private final ByteWindow window = new ByteWindow();

  /** Makes this validator ready for the next body. */
  public void reset() {
    need = 0;
    lo = 0x80;
    hi = 0xBF;
    offset = 0;
    errorAt = -1;
  }

  /**
   * Validates the readable bytes of {@code chunk} (reader index unchanged).
   *
   * @return false once an ill-formed sequence was found (see {@link #errorOffset()})
   */
  public boolean feed(ByteBuf chunk) {
    if (errorAt >= 0) {
      return false;
    }
    int i = chunk.readerIndex();
    int end = chunk.writerIndex();
    ByteWindow w = window.open(chunk, i, end);
    try {
      return feed(w, i, end, chunk.readerIndex());
    } finally {
      w.close();
    }
  }

  private boolean feed(ByteWindow chunk, int i, int end, int start) {
    while (i < end) {
      if (need == 0) {
        // Fast path: a run of ASCII, a word at a time.
        while (i + 8 <= end && (chunk.getLong(i) & HIGH_BITS) == 0) {
          i += 8;
        }
        if (i >= end) {
          break;
        }
        int b = chunk.get(i) & 0xFF;
        if (b < 0x80) {
          i++;
          continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
          need = 1;
          lo = 0x80;
          hi = 0xBF;
        } else if (b >= 0xE0 && b <= 0xEF) {
          need = 2;
          lo = b == 0xE0 ? 0xA0 : 0x80; // E0 80..9F would be overlong
          hi = b == 0xED ? 0x9F : 0xBF; // ED A0..BF would be a surrogate (U+D800..DFFF)
        } else if (b >= 0xF0 && b <= 0xF4) {
          need = 3;
          lo = b == 0xF0 ? 0x90 : 0x80; // F0 80..8F would be overlong
          hi = b == 0xF4 ? 0x8F : 0xBF; // F4 90.. would be above U+10FFFF
        } else {
          return fail(offset + i - start); // 80..C1 (stray or overlong lead), F5..FF
        }
        i++;
      } else {
        int b = chunk.get(i) & 0xFF;
        if (b < lo || b > hi) {
          return fail(offset + i - start);
        }
        lo = 0x80;
        hi = 0xBF;
        need--;
        i++;
      }
    }
    offset += end - start;
    return true;
  }

  /** Signals the end of the body. @return false when the body ended inside a sequence, or earlier input failed */
  public boolean end() {
    if (errorAt < 0 && need > 0) {
      errorAt = offset;
    }
    return errorAt < 0;
  }

  /** Where the first ill-formed byte sits, from the body's start; -1 when none was found. */
  public long errorOffset() {
    return errorAt;
  }

  /** The 400 message for an ill-formed body. */
  public String error() {
    return "Request body is not valid UTF-8 (RFC 3629): ill-formed byte sequence at byte " + errorAt
        + ". Send the body encoded as UTF-8 (JSON text must be, RFC 8259 §8.1).";
  }

  private boolean fail(long at) {
    errorAt = at;
    return false;
  }
}
