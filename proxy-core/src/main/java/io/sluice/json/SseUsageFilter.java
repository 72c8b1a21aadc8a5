package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * Removes vLLM's usage event ({@code data: {…,"choices":[],"usage":{…}}}) from an SSE stream whose client did not
 * ask for it, because Sluice asked on its behalf (see {@link UsageSplice}). Everything else passes through as the
 * replica's bytes — retained slices, never copies. vLLM frames each event as {@code data: <json>\n\n}; a complete
 * event goes out in the read that completes it, so per-event flushing is unchanged; only the bytes of an event
 * still incomplete at the end of a read are held (as slices) until its end arrives, since the usage event can only
 * be recognised whole. A usage event is the one whose JSON has an empty {@code "choices":[]} (content events always
 * carry their choice).
 *
 * <p>It is also what keeps a client's stream parseable when the replica dies mid-event (issue 13, finding 6): since
 * only completed events leave, the bytes of a cut-short event are still held when the relay gives up, and are
 * dropped ({@link #release}) before Sluice's error event goes out. So every SSE response is framed through one,
 * with usage removal on only where Sluice asked for usage ({@link #SseUsageFilter(boolean)}). The common case — a
 * read that ends on an event boundary, which is how vLLM writes — passes the read's buffer on untouched. Not
 * thread-safe; one per response, on its event loop.
 */
public final class SseUsageFilter {
  private static final byte[] CHOICES_KEY = "\"choices\":".getBytes(StandardCharsets.US_ASCII);

  /** The last byte of the previous read was a {@code \n} that did not end an event. */
  private boolean prevNewline;
  private CompositeByteBuf held;
  /** Remove the usage event (Sluice asked for it); false = only hold incomplete events back. */
  private final boolean dropUsage;

  /** A filter that removes the usage event. */
  public SseUsageFilter() {
    this(true);
  }

  /** @param dropUsage remove the usage event; false: pass every event, only holding incomplete ones back */
  public SseUsageFilter(boolean dropUsage) {
    this.dropUsage = dropUsage;
  }
  private int removed;
  private int events;

  /**
   * Filters one read's bytes. Takes ownership of {@code in}; returns what to send now (possibly empty), owned by
   * the caller. Event boundaries are found with {@link ByteBuf#indexOf} (a word at a time); only a completed event
   * is checked for {@code "choices":[]}, by its {@code [} bytes.
   */
  public ByteBuf filter(ByteBuf in, ByteBufAllocator alloc) {
    int end = in.writerIndex();
    int ri = in.readerIndex();
    int segStart = ri;
    int from = ri;
    CompositeByteBuf out = null;
    lastBoundary = -1;
    while (from < end) {
      int i = boundary(in, from, end, ri);
      if (i < 0) {
        break;
      }
      // One event ends at i (its blank line): [segStart, i] here, plus what is held from earlier reads.
      boolean drop = dropUsage
          && (held == null ? isUsageEvent(in, segStart, i + 1) : isUsageEvent(held, in, segStart, i + 1));
      if (drop) {
        removed++;
        if (held != null) {
          held.release();
          held = null;
        }
        if (out == null) {
          out = alloc.compositeBuffer();
          if (segStart > ri) { // the events this read completed before it: kept
            out.addComponent(true, in.retainedSlice(ri, segStart - ri));
          }
        }
      } else if (held != null || out != null) {
        if (out == null) {
          out = alloc.compositeBuffer();
        }
        if (held != null) {
          out.addComponent(true, held);
          held = null;
        }
        out.addComponent(true, in.retainedSlice(segStart, i + 1 - segStart));
      }
      segStart = i + 1;
      from = i + 1;
    }
    if (end > ri) {
      prevNewline = in.getByte(end - 1) == '\n' && lastBoundary != end - 1;
    }
    ByteBuf result;
    if (out == null) {
      // Nothing dropped and nothing was held before this read: the events completed here are in's prefix.
      if (segStart == end) {
        return in; // the common case: one or more whole events, passed through as they came
      }
      result = segStart == ri ? Unpooled.EMPTY_BUFFER : in.retainedSlice(ri, segStart - ri);
    } else {
      result = out;
    }
    if (segStart < end) {
      if (held == null) {
        held = alloc.compositeBuffer();
      }
      held.addComponent(true, in.retainedSlice(segStart, end - segStart));
    }
    in.release();
    return result;
  }

  /** Where, in the current read, the last event boundary ended; -1 before the first. */
  private int lastBoundary = -1;

  /**
   * The index of the {@code \n} that completes the next blank line at or after {@code from} (a {@code \n} right
   * after a {@code \n} that did not itself complete one), or -1.
   */
  private int boundary(ByteBuf in, int from, int end, int ri) {
    int i = from;
    while (i < end) {
      int n = in.indexOf(i, end, (byte) '\n');
      if (n < 0) {
        return -1;
      }
      boolean afterLoneNewline = n == ri ? prevNewline : in.getByte(n - 1) == '\n' && lastBoundary != n - 1;
      if (afterLoneNewline) {
        lastBoundary = n;
        events++;
        return n;
      }
      i = n + 1;
    }
    return -1;
  }

  /**
   * How many whole events [{@code from}, {@code to}) of {@code b} is, read from an event boundary: the number of
   * blank-line boundaries in it (as {@link #filter} finds them) when it ends right after one, else -1 (it ends inside
   * an event, or holds none).
   */
  public static int wholeEvents(ByteBuf b, int from, int to) {
    int n = 0;
    int last = -2;
    int i = from;
    boolean endsOnBoundary = false;
    while (i < to) {
      int nl = b.indexOf(i, to, (byte) '\n');
      if (nl < 0) {
        break;
      }
      if (nl > from && b.getByte(nl - 1) == '\n' && last != nl - 1) {
        n++;
        last = nl;
        endsOnBoundary = nl == to - 1;
      }
      i = nl + 1;
    }
    return endsOnBoundary ? n : -1;
  }

  /** Whether [{@code from}, {@code to}) of {@code b}, one whole event, is vLLM's usage event ({@code "choices":[]}). */
  public static boolean isUsageEvent(ByteBuf b, int from, int to) {
    int i = from;
    while (i < to) {
      int open = b.indexOf(i, to, (byte) '[');
      if (open < 0) {
        return false;
      }
      if (open + 1 < to && b.getByte(open + 1) == ']' && open - from >= CHOICES_KEY.length
          && precededBy(b, open, CHOICES_KEY)) {
        return true;
      }
      i = open + 1;
    }
    return false;
  }

  /** An event that began in earlier reads: rare (one event per HTTP chunk is vLLM's framing); checked whole. */
  private static boolean isUsageEvent(CompositeByteBuf held, ByteBuf in, int from, int to) {
    CompositeByteBuf whole = held.alloc().compositeBuffer(2);
    try {
      whole.addComponent(true, held.retainedDuplicate());
      whole.addComponent(true, in.retainedSlice(from, to - from));
      return isUsageEvent(whole, whole.readerIndex(), whole.writerIndex());
    } finally {
      whole.release();
    }
  }

  private static boolean precededBy(ByteBuf b, int at, byte[] key) {
    for (int j = 0; j < key.length; j++) {
      if (b.getByte(at - key.length + j) != key[j]) {
        return false;
      }
    }
    return true;
  }

  /** The response ended: whatever is held (an unterminated last event) goes out as it is. Caller owns it. */
  public ByteBuf finish() {
    ByteBuf h = held;
    held = null;
    prevNewline = false;
    return h == null ? Unpooled.EMPTY_BUFFER : h;
  }

  /** Drops held bytes (the response was abandoned). */
  public void release() {
    if (held != null) {
      held.release();
      held = null;
    }
  }

  /** Whether this filter removes the usage event (Sluice asked for it on the client's behalf). */
  public boolean dropsUsage() {
    return dropUsage;
  }

  /** Events completed so far (blank-line boundaries), the removed ones included. */
  public int events() {
    return events;
  }

  /** Usage events removed so far. */
  public int removed() {
    return removed;
  }

}
