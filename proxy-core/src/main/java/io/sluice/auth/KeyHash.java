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

  public static KeyHash of(String key) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
      char[] out = new char[64];
      for (int i = 0; i < d.length; i++) {
        out[2 * i] = HEX[(d[i] >> 4) & 0xf];
        out[2 * i + 1] = HEX[d[i] & 0xf];
      }
      return new KeyHash(new String(out));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
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
