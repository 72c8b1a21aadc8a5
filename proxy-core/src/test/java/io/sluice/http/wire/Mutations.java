package io.sluice.http.wire;

import java.nio.charset.StandardCharsets;
import java.util.Random;

/** Test support for the differential tests: random field text and the byte-level mutations both apply. */
final class Mutations {
  private Mutations() {}

  static String shortInput(byte[] bytes) {
    String s = new String(bytes, StandardCharsets.ISO_8859_1).replace("\r", "\\r").replace("\n", "\\n")
        .replace("\0", "\\0");
    return s.length() > 160 ? s.substring(0, 160) + "…" : s;
  }


  static String caseVariant(String s, Random rnd) {
    switch (rnd.nextInt(4)) {
      case 0:
        return s.toLowerCase(java.util.Locale.ROOT);
      case 1:
        return s.toUpperCase(java.util.Locale.ROOT);
      case 2: {
        StringBuilder sb = new StringBuilder();
        for (char ch : s.toCharArray()) {
          sb.append(rnd.nextBoolean() ? Character.toUpperCase(ch) : Character.toLowerCase(ch));
        }
        return sb.toString();
      }
      default:
        return s;
    }
  }


  static String ows(Random rnd) {
    return switch (rnd.nextInt(6)) {
      case 0 -> "";
      case 1 -> "  ";
      case 2 -> "\t";
      case 3 -> " \t ";
      default -> " ";
    };
  }


  static String value(Random rnd) {
    int len = rnd.nextInt(24);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < len; i++) {
      int k = rnd.nextInt(40);
      if (k == 0) {
        sb.append((char) (0x80 + rnd.nextInt(0x80))); // obs-text
      } else if (k < 3 && i > 0 && i < len - 1) {
        sb.append(rnd.nextBoolean() ? ' ' : '\t');
      } else {
        sb.append((char) (0x21 + rnd.nextInt(0x5E)));
      }
    }
    return sb.toString();
  }


  static byte interesting(Random rnd) {
    byte[] pick = {'\r', '\n', ' ', '\t', 0, ':', ',', ';', '0', 'f', 'G', (byte) 0x80, 0x7f, '"', '\\', 'x'};
    return rnd.nextInt(4) == 0 ? (byte) rnd.nextInt(256) : pick[rnd.nextInt(pick.length)];
  }

  /** One to three bytes of {@code b} replaced by {@link #interesting} ones, in place. */
  static byte[] flip(byte[] b, Random rnd) {
    for (int i = 0, k = 1 + rnd.nextInt(3); i < k; i++) {
      b[rnd.nextInt(b.length)] = interesting(rnd);
    }
    return b;
  }

  /** {@code b} with one {@link #interesting} byte inserted somewhere. */
  static byte[] insert(byte[] b, Random rnd) {
    int at = rnd.nextInt(b.length + 1);
    byte[] o = new byte[b.length + 1];
    System.arraycopy(b, 0, o, 0, at);
    o[at] = interesting(rnd);
    System.arraycopy(b, at, o, at + 1, b.length - at);
    return o;
  }

  /** {@code b} without one of its bytes. */
  static byte[] delete(byte[] b, Random rnd) {
    int at = rnd.nextInt(b.length);
    byte[] o = new byte[b.length - 1];
    System.arraycopy(b, 0, o, 0, at);
    System.arraycopy(b, at + 1, o, at, b.length - at - 1);
    return o;
  }
}
