package io.sluice.config;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Objects;

/**
 * A secret string (master key, replica {@code api_key}, virtual key). {@link #toString()} is redacted so a
 * secret cannot reach a log line, an error message or a printed config by accident; {@link #reveal()} is the
 * one, greppable, way to the plaintext.
 */
public final class Secret {
  private final String value;
  private final byte[] bytes;

  private Secret(String value) {
    this.value = value;
    this.bytes = value.getBytes(StandardCharsets.UTF_8);
  }

  /** @throws IllegalArgumentException when {@code value} is null or empty */
  public static Secret of(String value) {
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("secret: empty (expected: a non-empty string)");
    }
    return new Secret(value);
  }

  /** The plaintext. Call sites are few and reviewed: upstream auth headers and the key comparison. */
  public String reveal() {
    return value;
  }

  /** Constant-time comparison against candidate bytes (UTF-8), as {@code secrets.compare_digest}. */
  public boolean matches(byte[] candidate) {
    return MessageDigest.isEqual(bytes, candidate);
  }

  /** Constant-time comparison against a candidate string. */
  public boolean matches(String candidate) {
    if (candidate == null) {
      return false;
    }
    // Every request that presents a key compares it with the master key: no byte array per call. ASCII (every
    // key Sluice issues) is compared char by char in a time that depends on the lengths only; anything else
    // goes through its UTF-8 bytes.
    int n = bytes.length;
    int len = candidate.length();
    int diff = len ^ n;
    for (int i = 0; i < len; i++) {
      char c = candidate.charAt(i);
      if (c >= 0x80) {
        return matches(candidate.getBytes(StandardCharsets.UTF_8));
      }
      diff |= (i < n ? bytes[i] : 0) ^ c;
    }
    return diff == 0;
  }

  @Override
  public String toString() {
    return "<redacted>";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Secret s && MessageDigest.isEqual(bytes, s.bytes);
  }

  @Override
  public int hashCode() {
    return Objects.hash(bytes.length);
  }
}
