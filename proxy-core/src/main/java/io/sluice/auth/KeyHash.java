package io.sluice.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * A virtual key as stored: the SHA-256 hex of the whole key string, LiteLLM's {@code hash_token}. The plaintext is
 * never kept; {@link #prefix()} is what logs may show.
 */
public record KeyHash(String hex) {
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  public KeyHash {
    if (hex == null || hex.length() != 64) {
      throw new IllegalArgumentException("key hash: expected 64 hex characters");
    }
  }

  /**
   * Per thread, the last few keys hashed: an event loop sees the same keys again and again (keep-alive clients), and
   * a SHA-256 with its digest object per request was one of the relay's costs. Direct-mapped by the key's hash; a
   * hit costs one comparison, in constant time (a key guessed by a client is compared with other clients' keys:
   * how long that takes must not tell how much of it matched). Holds keys that are in this thread's memory anyway
   * (the request headers).
   */
  private static final int MEMO = 16;
  private static final ThreadLocal<Memo> MEMOS = ThreadLocal.withInitial(Memo::new);

  private static final class Memo {
    final String[] keys = new String[MEMO];
    final KeyHash[] hashes = new KeyHash[MEMO];
    final MessageDigest sha256;

    Memo() {
      try {
        sha256 = MessageDigest.getInstance("SHA-256");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("SHA-256 is missing from this JVM", e);
      }
    }
  }

  public static KeyHash of(String key) {
    Memo m = MEMOS.get();
    int slot = key.hashCode() & (MEMO - 1);
    if (sameKey(key, m.keys[slot])) {
      return m.hashes[slot];
    }
    KeyHash h = compute(m.sha256, key);
    m.keys[slot] = key;
    m.hashes[slot] = h;
    return h;
  }

  /** Equal keys, in a time that depends only on their lengths (which are not secret). */
  static boolean sameKey(String a, String b) {
    if (b == null || a.length() != b.length()) {
      return false;
    }
    int diff = 0;
    for (int i = 0; i < a.length(); i++) {
      diff |= a.charAt(i) ^ b.charAt(i);
    }
    return diff == 0;
  }

  private static KeyHash compute(MessageDigest sha256, String key) {
    byte[] d = sha256.digest(key.getBytes(StandardCharsets.UTF_8));
    char[] out = new char[64];
    for (int i = 0; i < d.length; i++) {
      out[2 * i] = HEX[(d[i] >> 4) & 0xf];
      out[2 * i + 1] = HEX[d[i] & 0xf];
    }
    return new KeyHash(new String(out));
  }

  /** The first 8 hex characters: enough to correlate log lines, useless to an attacker. */
  public String prefix() {
    return hex.substring(0, 8);
  }

  @Override
  public String toString() {
    return "KeyHash[" + prefix() + "…]";
  }
}
