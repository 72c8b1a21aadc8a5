package io.sluice.admin.api;

import io.sluice.auth.KeyHash;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.regex.Pattern;

/** Virtual key text: generation, hashing, display name. */
final class Keys {
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

  private Keys() {}

  /** {@code "sk-" + token_urlsafe(16)}: 25 characters, as LiteLLM generates them. */
  static String generate() {
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    return "sk-" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  /** LiteLLM's {@code key_name}: {@code sk-...} and the key's last four characters. */
  static String displayName(String key) {
    return "sk-..." + key.substring(Math.max(3, key.length() - 4));
  }

  /**
   * The hash of a key given as plaintext ({@code sk-…}) or already hashed (management endpoints accept both).
   * 400 naming {@code field} otherwise.
   */
  static KeyHash hashOf(String field, String keyOrHash) {
    if (keyOrHash == null || keyOrHash.isBlank()) {
      throw ApiException.badRequest(field, field + " is required: the key (sk-…) or its hash.");
    }
    String v = keyOrHash.trim();
    if (v.startsWith("sk-")) {
      return KeyHash.of(v);
    }
    if (HEX64.matcher(v).matches()) {
      return new KeyHash(v);
    }
    throw ApiException.badRequest(field, field + ": expected a virtual key (starting with sk-) or its 64-character "
        + "SHA-256 hex hash.");
  }

  /** A caller-chosen key: must start with {@code sk-} and have something after it. */
  static String checkChosen(String field, String key) {
    if (!key.startsWith("sk-") || key.length() < 8 || key.chars().anyMatch(c -> c <= ' ' || c >= 127)) {
      throw ApiException.badRequest(field, field + ": a chosen key must start with 'sk-', be at least 8 characters "
          + "and contain only visible ASCII characters.");
    }
    return key;
  }
}
