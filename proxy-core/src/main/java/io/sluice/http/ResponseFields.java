package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;

/**
 * Where {@link Exchange} puts the fields Sluice adds to a relayed response: into the head's header map (a response
 * relayed as objects) or straight into field-line bytes (a head relayed as bytes, {@link
 * io.sluice.http.wire.RelayedHead}), remembering which names it set so that the replica's fields of the same names
 * are left out (set, not add, as with the map). One per client connection, reused; event loop only.
 */
final class ResponseFields {
  /** Every name Sluice may set on a relayed response; their bit in {@link #set} is their index. */
  static final AsciiString[] NAMES = {
      Exchange.X_REQUEST_ID,
      AsciiString.cached("x-ratelimit-limit-requests"),
      AsciiString.cached("x-ratelimit-remaining-requests"),
      AsciiString.cached("x-ratelimit-limit-tokens"),
      AsciiString.cached("x-ratelimit-remaining-tokens"),
      AsciiString.cached("x-litellm-model-id"),
      AsciiString.cached("x-litellm-model-group"),
      AsciiString.cached("x-litellm-attempted-retries"),
      AsciiString.cached("x-litellm-max-retries"),
      Exchange.X_LITELLM_TIMEOUT,
      AsciiString.cached("x-litellm-key-spend"),
  };
  static final int REQUEST_ID = 0;
  static final int LIMIT_REQUESTS = 1;
  static final int REMAINING_REQUESTS = 2;
  static final int LIMIT_TOKENS = 3;
  static final int REMAINING_TOKENS = 4;
  static final int MODEL_ID = 5;
  static final int MODEL_GROUP = 6;
  static final int ATTEMPTED_RETRIES = 7;
  static final int MAX_RETRIES = 8;
  static final int TIMEOUT = 9;
  static final int KEY_SPEND = 10;

  private static final byte[][] LOWER = new byte[NAMES.length][];

  static {
    for (int i = 0; i < NAMES.length; i++) {
      LOWER[i] = NAMES[i].toString().getBytes(StandardCharsets.US_ASCII);
    }
  }

  private HttpHeaders map;
  private ByteBuf bytes;
  /** Bit i: {@code NAMES[i]} was set. */
  private int set;

  /** Fields go into {@code h} (replacing the replica's). */
  ResponseFields into(HttpHeaders h) {
    map = h;
    bytes = null;
    set = 0;
    return this;
  }

  /** Fields go into {@code out} as field lines. */
  ResponseFields into(ByteBuf out) {
    map = null;
    bytes = out;
    set = 0;
    return this;
  }

  void set(int name, CharSequence value) {
    set |= 1 << name;
    if (map != null) {
      map.set(NAMES[name], value);
      return;
    }
    ByteBufUtil.copy(NAMES[name], bytes);
    bytes.writeShort(':' << 8 | ' ');
    if (value instanceof AsciiString a) {
      ByteBufUtil.copy(a, bytes);
    } else {
      bytes.writeCharSequence(value, StandardCharsets.US_ASCII);
    }
    bytes.writeShort('\r' << 8 | '\n');
  }

  /** Whether field {@code i} of the replica's head has a name Sluice set (so it is left out). */
  boolean setByUs(io.sluice.http.wire.WireResponseDecoder.Head head, int i) {
    int s = set;
    while (s != 0) {
      int b = Integer.numberOfTrailingZeros(s);
      if (head.nameIs(i, LOWER[b])) {
        return true;
      }
      s &= s - 1;
    }
    return false;
  }

  /** Done: forget the target. */
  void clear() {
    map = null;
    bytes = null;
  }
}
