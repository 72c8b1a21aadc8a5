package io.sluice.admin.store;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Encrypts replica keys ({@code litellm_params.api_key} of deployments added through {@code /model/new}) before
 * they are stored: AES-256-GCM, key = SHA-256 of the salt key (env {@code LITELLM_SALT_KEY}, as LiteLLM, else the
 * master key). Stored form {@code enc:v1:<base64(iv ‖ ciphertext ‖ tag)>}; a row therefore never holds a key in
 * plaintext. Thread-safe.
 */
public final class SecretBox {
  public static final String PREFIX = "enc:v1:";
  private static final SecureRandom RANDOM = new SecureRandom();
  private final SecretKeySpec key;

  public SecretBox(String saltKey) {
    if (saltKey == null || saltKey.isEmpty()) {
      throw new IllegalArgumentException("a salt key is needed to store replica keys: set LITELLM_SALT_KEY or a "
          + "master key");
    }
    try {
      byte[] k = MessageDigest.getInstance("SHA-256").digest(("sluice/replica-keys/v1\n" + saltKey)
          .getBytes(StandardCharsets.UTF_8));
      this.key = new SecretKeySpec(k, "AES");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public String seal(String plaintext) {
    try {
      byte[] iv = new byte[12];
      RANDOM.nextBytes(iv);
      Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
      c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, iv));
      byte[] ct = c.doFinal(plaintext.getBytes(StandardCharsets.UTF_8));
      byte[] out = new byte[iv.length + ct.length];
      System.arraycopy(iv, 0, out, 0, iv.length);
      System.arraycopy(ct, 0, out, iv.length, ct.length);
      return PREFIX + Base64.getEncoder().encodeToString(out);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("encryption failed", e);
    }
  }

  /** The plaintext of a sealed value; fails (without revealing anything) when the salt key changed. */
  public String open(String sealed) {
    if (!sealed.startsWith(PREFIX)) {
      throw new IllegalArgumentException("not a sealed value");
    }
    try {
      byte[] in = Base64.getDecoder().decode(sealed.substring(PREFIX.length()));
      Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
      c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, in, 0, 12));
      return new String(c.doFinal(in, 12, in.length - 12), StandardCharsets.UTF_8);
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      throw new IllegalStateException("cannot decrypt a stored replica key: the salt key (LITELLM_SALT_KEY, else "
          + "the master key) is not the one it was stored with");
    }
  }
}
