package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ByteProcessor;
import java.nio.charset.StandardCharsets;

/**
 * Removes vLLM's usage event ({@code data: {…,"choices":[],"usage":{…}}}) from an SSE stream whose client did not
 * ask for it, because Sluice asked on its behalf (see {@link UsageSplice}). Everything else passes through as the
 * replica's bytes — retained slices, never copies. vLLM frames each event as {@code data: <json>\n\n}; a complete
 * event goes out in the read that completes it, so per-event flushing is unchanged; only the bytes of an event
 * still incomplete at the end of a read are held (as slices) until its end arrives, since the usage event can only
 * be recognised whole. A usage event is the one whose JSON has an empty {@code "choices":[]} (content events always
 * carry their choice). Not thread-safe; one per response, on its event loop.
 */
public final class SseUsageFilter implements ByteProcessor {
  private static final byte[] EMPTY_CHOICES = "\"choices\":[]".getBytes(StandardCharsets.US_ASCII);

  private boolean prevNewline;
  private int choicesMatched;
  private boolean usageEvent;
  private CompositeByteBuf held;
  private int removed;

  /**
   * Filters one read's bytes. Takes ownership of {@code in}; returns what to send now (possibly empty), owned by
   * the caller.
   */
  public ByteBuf filter(ByteBuf in, ByteBufAllocator alloc) {
    int end = in.writerIndex();
    int from = in.readerIndex();
    int segStart = from;
    CompositeByteBuf out = null;
    while (from < end) {
      int i = in.forEachByte(from, end - from, this);
      if (i < 0) {
        break;
      }
      // One event ends at i (its blank line).
      boolean drop = usageEvent;
      usageEvent = false;
      if (drop) {
        removed++;
        if (held != null) {
          held.release();
          held = null;
        }
        if (out == null) {
          out = alloc.compositeBuffer();
          if (segStart > in.readerIndex()) { // the events this read completed before it: kept
            out.addComponent(true, in.retainedSlice(in.readerIndex(), segStart - in.readerIndex()));
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
    ByteBuf result;
    if (out == null) {
      // Nothing dropped and nothing was held before this read: the events completed here are in's prefix.
      if (segStart == end) {
        return in; // the common case: one or more whole events, passed through as they came
      }
      result = segStart == in.readerIndex() ? Unpooled.EMPTY_BUFFER
          : in.retainedSlice(in.readerIndex(), segStart - in.readerIndex());
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

  /** The response ended: whatever is held (an unterminated last event) goes out as it is. Caller owns it. */
  public ByteBuf finish() {
    ByteBuf h = held;
    held = null;
    usageEvent = false;
    return h == null ? Unpooled.EMPTY_BUFFER : h;
  }

  /** Drops held bytes (the response was abandoned). */
  public void release() {
    if (held != null) {
      held.release();
      held = null;
    }
  }

  /** Usage events removed so far. */
  public int removed() {
    return removed;
  }

  @Override
  public boolean process(byte b) {
    if (b == '\n') {
      if (prevNewline) {
        prevNewline = false;
        choicesMatched = 0;
        return false; // end of an event
      }
      prevNewline = true;
    } else {
      prevNewline = false;
    }
    if (EMPTY_CHOICES[choicesMatched] == b) {
      if (++choicesMatched == EMPTY_CHOICES.length) {
        usageEvent = true;
        choicesMatched = 0;
      }
    } else {
      choicesMatched = EMPTY_CHOICES[0] == b ? 1 : 0;
    }
    return true;
  }
}
