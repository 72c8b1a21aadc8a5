package io.sluice.bytes;

import io.netty.buffer.ByteBuf;
import io.netty.util.IllegalReferenceCountException;
import io.netty.util.internal.PlatformDependent;

/**
 * Reads one buffer's bytes by index for the length of one scan, its reference count checked once when the window
 * opens instead of on every byte. {@code ByteBuf.getByte} checks bounds and the reference count on each call (for a
 * slice, through its parent), and the relay's byte scanners — the request head parser, the request body scanner, the
 * usage and model scans of responses — call it for most bytes they see: profiled on one pinned core, those checks
 * were 11 % of the event loop's user time on a JSON request. A window reads the backing array, or the memory at the
 * buffer's address, or, for a buffer with neither (a composite), falls back to {@code getByte}.
 *
 * <p>What stays checked: every index against the window's bounds (within the buffer's capacity, so nothing outside
 * the buffer's memory is ever read); the buffer's liveness once, at {@link #open}. The caller must not release the
 * buffer while the window is open — a window lives within one call of a scanner on one event loop, which releases
 * nothing meanwhile — and closes it before returning. Reusable, not thread-safe; allocates nothing.
 */
public final class ByteWindow {
  private byte[] array;
  private int arrayOffset;
  private long address;
  private ByteBuf fallback;
  private int lo;
  private int hi;

  /**
   * Opens the window on {@code buf}'s bytes [{@code from}, {@code to}).
   *
   * @throws IllegalReferenceCountException if {@code buf} has been released
   * @throws IndexOutOfBoundsException      if the range is not within {@code buf}'s capacity
   */
  public ByteWindow open(ByteBuf buf, int from, int to) {
    if (buf.refCnt() == 0) {
      throw new IllegalReferenceCountException(0);
    }
    if (from < 0 || to < from || to > buf.capacity()) {
      throw new IndexOutOfBoundsException("window [" + from + ", " + to + ") of a buffer of capacity "
          + buf.capacity());
    }
    lo = from;
    hi = to;
    array = null;
    address = 0;
    fallback = null;
    if (buf.hasArray()) {
      array = buf.array();
      arrayOffset = buf.arrayOffset();
    } else if (buf.hasMemoryAddress() && PlatformDependent.hasUnsafe()) {
      address = buf.memoryAddress();
    } else {
      fallback = buf;
    }
    return this;
  }

  /** Opens the window on {@code buf}'s readable bytes. */
  public ByteWindow open(ByteBuf buf) {
    return open(buf, buf.readerIndex(), buf.writerIndex());
  }

  /**
   * The byte at {@code index} (an index of the buffer, as {@code getByte} takes).
   *
   * @throws IndexOutOfBoundsException outside the window (also once closed)
   */
  public byte get(int index) {
    if (index < lo || index >= hi) {
      throw new IndexOutOfBoundsException("index " + index + " outside the window [" + lo + ", " + hi + ")");
    }
    if (array != null) {
      return array[arrayOffset + index];
    }
    if (address != 0) {
      return PlatformDependent.getByte(address + index);
    }
    return fallback.getByte(index);
  }

  /**
   * The eight bytes at {@code index} as a big-endian {@code long}, as {@code ByteBuf.getLong} reads them.
   *
   * @throws IndexOutOfBoundsException unless all eight are within the window
   */
  public long getLong(int index) {
    if (index < lo || index > hi - 8) {
      throw new IndexOutOfBoundsException("8 bytes at " + index + " outside the window [" + lo + ", " + hi + ")");
    }
    long v;
    if (array != null) {
      v = PlatformDependent.getLong(array, arrayOffset + index);
    } else if (address != 0) {
      v = PlatformDependent.getLong(address + index);
    } else {
      return fallback.getLong(index);
    }
    return PlatformDependent.BIG_ENDIAN_NATIVE_ORDER ? v : Long.reverseBytes(v);
  }

  /** Whether {@code length} bytes at {@code index} are {@code b[from, from + length)}. */
  public boolean equalsAt(int index, byte[] b, int from, int length) {
    for (int k = 0; k < length; k++) {
      if (get(index + k) != b[from + k]) {
        return false;
      }
    }
    return true;
  }

  /** Forgets the buffer: every read fails until the next {@link #open}. */
  public void close() {
    array = null;
    address = 0;
    fallback = null;
    lo = hi = 0;
  }
}
