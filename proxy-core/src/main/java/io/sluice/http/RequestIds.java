package io.sluice.http;

import java.util.concurrent.ThreadLocalRandom;

/**
 * Request ids: a client's {@code x-request-id} is kept when it is short printable ASCII; otherwise a uuid4-like
 * 32-hex-digit id is made (vLLM uses it as its own request id, so it must be unique: vllm-wire.md §2).
 */
final class RequestIds {
  private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  /** Each thread's scratch for a new id's digits: the id costs one {@code String} and its bytes, nothing else. */
  private static final io.netty.util.concurrent.FastThreadLocal<byte[]> SCRATCH =
      new io.netty.util.concurrent.FastThreadLocal<>() {
        @Override
        protected byte[] initialValue() {
          return new byte[32];
        }
      };

  private RequestIds() {}

  static String acceptOrGenerate(String fromClient) {
    if (fromClient != null && valid(fromClient)) {
      return fromClient;
    }
    return generate();
  }

  static String generate() {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    long hi = r.nextLong();
    long lo = r.nextLong();
    byte[] out = SCRATCH.get();
    for (int i = 0; i < 16; i++) {
      out[i] = HEX[(int) (hi >>> (60 - 4 * i)) & 0xf];
      out[16 + i] = HEX[(int) (lo >>> (60 - 4 * i)) & 0xf];
    }
    // ISO-8859-1 bytes become a compact (Latin-1) String with one copy; a char[] would be one more array.
    return new String(out, 0, 32, java.nio.charset.StandardCharsets.ISO_8859_1);
  }

  private static boolean valid(String id) {
    int n = id.length();
    if (n == 0 || n > 128) {
      return false;
    }
    for (int i = 0; i < n; i++) {
      char c = id.charAt(i);
      if (c <= 0x20 || c >= 0x7f) {
        return false;
      }
    }
    return true;
  }
}
