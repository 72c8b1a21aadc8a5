package io.sluice.http;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Normalises a request path before routing: percent-escapes decoded (UTF-8), dot segments removed
 * (RFC 3986 §5.2.4), runs of slashes merged (nginx's {@code merge_slashes on}). A path that would climb above the
 * root, hides a slash or a NUL behind an escape, or is not valid UTF-8 is refused: those are the shapes path
 * traversal takes, and no route of Sluice needs them.
 */
final class PathNormalizer {
  private PathNormalizer() {}

  /** The normalised path, or null when the raw path must be refused (400). */
  static String normalize(String raw) {
    return normalize(raw, false);
  }

  /**
   * As {@link #normalize(String)}; with {@code encodedSlash}, a {@code %2F} decodes to {@code /} — only for a path
   * Sluice answers itself without forwarding it, {@code GET /v1/models/{id}} of an id such as
   * {@code hosted_vllm%2Fllama} (the OpenAI SDKs escape the id), and the caller checks that route.
   */
  static String normalize(String raw, boolean encodedSlash) {
    if (raw.isEmpty() || raw.charAt(0) != '/') {
      return null;
    }
    String decoded = raw.indexOf('%') >= 0 ? decode(raw, encodedSlash) : raw;
    if (decoded == null) {
      return null;
    }
    if (decoded.indexOf("//") < 0 && decoded.indexOf("/.") < 0) {
      return decoded; // the common case: nothing to do
    }
    String[] segments = decoded.split("/", -1);
    String[] out = new String[segments.length];
    int n = 0;
    for (int i = 1; i < segments.length; i++) {
      String s = segments[i];
      boolean last = i == segments.length - 1;
      if (s.equals(".")) {
        if (last) {
          out[n++] = "";
        }
      } else if (s.equals("..")) {
        if (n == 0) {
          return null; // climbs above the root
        }
        n--;
        if (last) {
          out[n++] = "";
        }
      } else if (!s.isEmpty() || last) {
        out[n++] = s;
      }
    }
    StringBuilder sb = new StringBuilder(decoded.length());
    for (int i = 0; i < n; i++) {
      sb.append('/').append(out[i]);
    }
    return sb.length() == 0 ? "/" : sb.toString();
  }

  private static String decode(String raw, boolean encodedSlash) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(raw.length());
    for (int i = 0; i < raw.length(); i++) {
      char c = raw.charAt(i);
      if (c == '%') {
        if (i + 2 >= raw.length()) {
          return null;
        }
        int hi = Character.digit(raw.charAt(i + 1), 16);
        int lo = Character.digit(raw.charAt(i + 2), 16);
        if (hi < 0 || lo < 0) {
          return null;
        }
        int b = (hi << 4) | lo;
        if ((b == '/' && !encodedSlash) || b == '\\' || b == 0) {
          return null;
        }
        bytes.write(b);
        i += 2;
      } else if (c > 0x7f) {
        return null; // the request line is ASCII; anything else was not sent by an HTTP client
      } else {
        bytes.write(c);
      }
    }
    byte[] b = bytes.toByteArray();
    String s = new String(b, StandardCharsets.UTF_8);
    if (!java.util.Arrays.equals(s.getBytes(StandardCharsets.UTF_8), b)) {
      return null;
    }
    return s;
  }

  /**
   * {@code path} with every segment that looks like a virtual key ({@code sk-…}, e.g. {@code /key/sk-…/regenerate})
   * replaced by {@code sk-***}: what logs and error messages may show.
   */
  public static String redacted(String path) {
    if (path == null || !path.contains("sk-")) {
      return path;
    }
    return path.replaceAll("(^|/)sk-[^/]*", "$1sk-***");
  }

  private static final String PATH_SAFE =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/";

  /**
   * A normalised (decoded) path made safe for a request line again: every byte outside RFC 3986's path characters
   * percent-encoded (UTF-8). A normalised path has no {@code ..} or {@code //}, so appending the result to a target's
   * base path can never climb out of it.
   */
  static String encode(String path) {
    boolean plain = true;
    for (int i = 0; i < path.length() && plain; i++) {
      plain = PATH_SAFE.indexOf(path.charAt(i)) >= 0;
    }
    if (plain) {
      return path;
    }
    StringBuilder sb = new StringBuilder(path.length() + 16);
    for (byte b : path.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
      char c = (char) (b & 0xff);
      if (b >= 0 && PATH_SAFE.indexOf(c) >= 0) {
        sb.append(c);
      } else {
        sb.append('%').append(Character.toUpperCase(Character.forDigit((b >> 4) & 0xf, 16)))
            .append(Character.toUpperCase(Character.forDigit(b & 0xf, 16)));
      }
    }
    return sb.toString();
  }
}
