package io.sluice.routing;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The ids Sluice gives stored Responses API responses, which name the replica that holds them (issue 15 §2). vLLM
 * keeps a {@code store}d response in the process that made it, and uses the request's {@code request_id} as the
 * response's {@code id} ({@code ResponsesResponse.from_request}); so Sluice sets {@code request_id} to
 *
 * <pre>resp_&lt;tag&gt;_&lt;32 random hex digits&gt;</pre>
 *
 * where the tag is the first {@value #TAG_LENGTH} hex digits of SHA-256 of the deployment's {@code model_info.id}.
 * That id comes from the configuration (or the database, or the discovered pod's address), never from a node, so
 * every Sluice node maps a tag to the same replica with no shared table: {@code GET /v1/responses/{id}},
 * {@code …/cancel} and a {@code previous_response_id} reach the replica that made the response, wherever they
 * arrive. Immutable; static helpers only.
 */
public final class ResponseIds {
  /** Hex digits of the replica tag: 48 bits, so two deployments of one config share a tag with odds of ~n²/2⁴⁹. */
  public static final int TAG_LENGTH = 12;
  private static final String PREFIX = "resp_";
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  private ResponseIds() {
  }

  /** The tag of the deployment whose {@code model_info.id} is {@code deploymentId}. */
  public static String tag(String deploymentId) {
    byte[] h;
    try {
      h = java.security.MessageDigest.getInstance("SHA-256").digest(deploymentId.getBytes(StandardCharsets.UTF_8));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
    char[] c = new char[TAG_LENGTH];
    for (int i = 0; i < TAG_LENGTH; i++) {
      int b = h[i >> 1] & 0xff;
      c[i] = HEX[(i & 1) == 0 ? b >>> 4 : b & 0xf];
    }
    return new String(c);
  }

  /** A new response id for the replica tagged {@code tag}. */
  public static String newId(String tag) {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    char[] c = new char[PREFIX.length() + TAG_LENGTH + 1 + 32];
    PREFIX.getChars(0, PREFIX.length(), c, 0);
    tag.getChars(0, TAG_LENGTH, c, PREFIX.length());
    int at = PREFIX.length() + TAG_LENGTH;
    c[at++] = '_';
    for (int k = 0; k < 2; k++) {
      long v = r.nextLong();
      for (int i = 15; i >= 0; i--) {
        c[at + i] = HEX[(int) (v & 0xf)];
        v >>>= 4;
      }
      at += 16;
    }
    return new String(c);
  }

  /**
   * The replica tag in a response id Sluice made, or null when {@code id} is not one (a client's own
   * {@code request_id}, a response made on the replica directly, anything malformed).
   */
  public static String tagOf(String id) {
    if (id == null || id.length() < PREFIX.length() + TAG_LENGTH + 2 || !id.startsWith(PREFIX)
        || id.charAt(PREFIX.length() + TAG_LENGTH) != '_') {
      return null;
    }
    for (int i = PREFIX.length(); i < PREFIX.length() + TAG_LENGTH; i++) {
      char ch = id.charAt(i);
      if (!(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f')) {
        return null;
      }
    }
    return id.substring(PREFIX.length(), PREFIX.length() + TAG_LENGTH);
  }
}
