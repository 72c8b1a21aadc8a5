package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Differential test: the same bytes through Netty's {@link io.netty.handler.codec.http.HttpRequestDecoder} and through
 * {@link WireRequestDecoder} (same limits), compared as framing summaries ({@link Framing}). Fails when the new
 * decoder accepts a request that Netty refuses or frames differently (the request-smuggling shape: two parsers, two
 * readings); counts, per category, the cases where it refuses what Netty accepts (stricter, by design). Every case
 * also runs split at random byte boundaries, which must give the same summary as the whole (resumable parsing).
 */
class WireDecoderDifferentialTest {
  /** Fixed; another can be tried with -Dwire.seed=N (printed with every failure). */
  private static final long SEED = Long.getLong("wire.seed", 0x51CE_2026L);
  private static final int VALID = 6000;
  private static final int MUTATED = 8000;

  private static final String[] METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "M-SEARCH",
      "get", "PURGE"};
  private static final String[] TARGETS = {"/", "/v1/chat/completions", "/v1/models?x=1&y=%20", "*", "http://h:8/x",
      "/a/b/../c", "/q?a=b;c=d", "/~user/!$&'()*+,;="};
  private static final String[] NAMES = {"Host", "User-Agent", "Accept", "X-Request-Id", "Authorization",
      "Content-Type", "Connection", "Expect", "X-Custom-Header", "Accept-Encoding", "Cookie", "x-a", "X-!#$%&'*+.^_`|~"};
  private static final String[] TE_VARIANTS = {"chunked, chunked", "gzip", " chunked", "xchunked", "Chunked",
      "gzip, chunked", "chunked, gzip", "chunked;q=1", "chunked,", ",chunked", "identity", "CHUNKED ", "chunked\t",
      "gzip,,chunked", "chu nked", "\"chunked\"", ""};
  private static final String[] CATEGORIES = {"byte-flip", "byte-insert", "byte-delete", "cl-dup-same", "cl-dup-diff",
      "cl-list", "cl-signed", "cl-leading-zeros", "cl-overflow", "cl-empty", "cl-hex", "te-variant", "te-http10",
      "cl+te", "obs-fold", "space-before-colon", "bare-cr", "bare-lf", "nul-in-value", "ctl-in-value",
      "huge-chunk-size", "chunk-ext-bad", "chunk-no-crlf", "chunk-bare-lf", "missing-final-crlf", "version",
      "double-space", "long-line", "big-headers", "leading-crlf", "dup-host", "target-ctl", "trailer-bad",
      "empty-name", "te-two-fields", "big-trailers"};

  /** Both refused, but RequestGuard would answer a different status: "category wire S / netty S" → count. */
  private final Map<String, Integer> statusDiffers = new TreeMap<>();
  private final Map<String, String> examples = new TreeMap<>(); // category → first stricter case
  private final Map<String, int[]> counts = new TreeMap<>(); // category → {same, stricter, both-refused}

  @Test
  void newDecoderNeverAcceptsWhatNettyRefusesOrFramesDifferently() {
    Random rnd = new Random(SEED);
    int cases = 0;
    for (int i = 0; i < VALID; i++) {
      byte[] req = validStream(rnd);
      check("valid", req, rnd, cases++);
    }
    for (int i = 0; i < MUTATED; i++) {
      String cat = CATEGORIES[rnd.nextInt(CATEGORIES.length)];
      byte[] req = mutated(cat, rnd);
      check(cat, req, rnd, cases++);
    }
    StringBuilder sb = new StringBuilder("differential (seed " + SEED + ", " + cases
        + " cases): category: same / wire stricter / both refused / "
        + "netty refused sooner\n");
    counts.forEach((k, v) -> sb.append(String.format("  %-20s %6d %6d %6d %6d%n", k, v[0], v[1], v[2], v[3])));
    sb.append("both refused, RequestGuard status differs (414 line, 431 headers, 400 else):\n");
    statusDiffers.forEach((k, v) -> sb.append("  ").append(k).append(": ").append(v).append('\n'));
    sb.append("first stricter case per category:\n");
    examples.forEach((k, v) -> sb.append("  ").append(k).append(": ").append(v).append('\n'));
    System.out.println(sb);
  }

  private void check(String cat, byte[] bytes, Random rnd, int n) {
    List<Framing.Entry> netty;
    List<Framing.Entry> wire;
    List<Framing.Entry> split;
    List<byte[]> pieces = split(bytes, rnd);
    try {
      netty = Framing.run(Framing.netty(), bytes);
      wire = Framing.run(Framing.wire(), bytes);
      split = Framing.run(Framing.wire(), pieces);
    } catch (RuntimeException e) {
      throw new AssertionError(describe(cat, n, bytes, "decoder threw " + e), e);
    }
    if (!Framing.sameList(wire, split)) {
      fail(describe(cat, n, bytes, "not resumable: whole " + wire + "\n split " + split + " at " + sizes(pieces)));
    }
    int[] c = counts.computeIfAbsent(cat, k -> new int[4]);
    Framing.Verdict v = Framing.verdict(wire, netty, describe(cat, n, bytes, ""));
    c[v.ordinal()]++;
    if (v == Framing.Verdict.STRICTER) {
      examples.putIfAbsent(cat, wire.get(wire.size() - 1).cause + " @ " + Mutations.shortInput(bytes));
    } else if (v == Framing.Verdict.BOTH_REFUSED) {
      String ws = status(wire.get(wire.size() - 1));
      String ns = status(netty.get(netty.size() - 1));
      if (!ws.equals(ns)) {
        statusDiffers.merge(cat + " wire " + ws + " / netty " + ns, 1, Integer::sum);
      }
    }
  }

  private static String describe(String cat, int n, byte[] bytes, String what) {
    return "seed " + SEED + ", case " + n + " (" + cat + "): " + what + "\n input: "
        + new String(bytes, StandardCharsets.ISO_8859_1).replace("\r", "\\r").replace("\n", "\\n\n        ")
            .replace("\0", "\\0");
  }

  /** The status RequestGuard maps a head failure to (body failures are always 400). */
  private static String status(Framing.Entry e) {
    if (e.head != null) {
      return "400";
    }
    return e.cause.startsWith("TooLongHttpLine") ? "414" : e.cause.startsWith("TooLong") ? "431" : "400";
  }

  private static String sizes(List<byte[]> pieces) {
    StringBuilder sb = new StringBuilder();
    for (byte[] p : pieces) {
      sb.append(p.length).append(' ');
    }
    return sb.toString();
  }

  private static List<byte[]> split(byte[] b, Random rnd) {
    List<byte[]> out = new ArrayList<>();
    int cuts = 1 + rnd.nextInt(Math.min(8, Math.max(1, b.length)));
    int pos = 0;
    for (int i = 0; i < cuts && pos < b.length; i++) {
      int len = i == cuts - 1 ? b.length - pos : 1 + rnd.nextInt(Math.max(1, (b.length - pos) / 2 + 1));
      len = Math.min(len, b.length - pos);
      out.add(java.util.Arrays.copyOfRange(b, pos, pos + len));
      pos += len;
    }
    if (pos < b.length) {
      out.add(java.util.Arrays.copyOfRange(b, pos, b.length));
    }
    if (out.isEmpty()) {
      out.add(b);
    }
    return out;
  }

  // --- generation --------------------------------------------------------------------------------------------------

  /** A request, described so that mutations can change its parts before it is serialised. */
  static final class Req {
    String method = "GET";
    String target = "/";
    String version = "HTTP/1.1";
    String sp1 = " ";
    String sp2 = " ";
    final List<String> lines = new ArrayList<>(); // field lines without CRLF
    byte[] body = new byte[0];
    boolean chunked;
    List<String> chunkLines; // for chunked: raw chunk section after the head, as built
    String rawBody; // overrides body/chunk serialisation when set
    String eol = "\r\n";

    byte[] bytes() {
      StringBuilder sb = new StringBuilder();
      sb.append(method).append(sp1).append(target).append(sp2).append(version).append(eol);
      for (String l : lines) {
        sb.append(l).append(eol);
      }
      sb.append(eol);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      out.writeBytes(Framing.ascii(sb.toString()));
      if (rawBody != null) {
        out.writeBytes(Framing.ascii(rawBody));
      } else {
        out.writeBytes(body);
      }
      return out.toByteArray();
    }
  }

  static Req valid(Random rnd) {
    Req r = new Req();
    r.method = METHODS[rnd.nextInt(METHODS.length)];
    r.target = TARGETS[rnd.nextInt(TARGETS.length)];
    if (rnd.nextInt(4) == 0) {
      r.target = r.target + "?" + Long.toHexString(rnd.nextLong());
    }
    r.version = rnd.nextInt(6) == 0 ? "HTTP/1.0" : "HTTP/1.1";
    if (rnd.nextInt(10) != 0) {
      r.lines.add(Mutations.caseVariant("Host", rnd) + ":" + Mutations.ows(rnd) + "example.com:" + rnd.nextInt(65536) + Mutations.ows(rnd));
    }
    int n = rnd.nextInt(31);
    for (int i = 0; i < n; i++) {
      String name = NAMES[1 + rnd.nextInt(NAMES.length - 1)];
      String v;
      if (name.equals("Connection")) {
        v = new String[] {"close", "keep-alive", "Keep-Alive, Upgrade", "CLOSE"}[rnd.nextInt(4)];
      } else if (name.equals("Expect")) {
        v = "100-continue";
      } else {
        v = Mutations.value(rnd);
      }
      r.lines.add(Mutations.caseVariant(name, rnd) + ":" + Mutations.ows(rnd) + v + Mutations.ows(rnd));
    }
    int body = rnd.nextInt(4);
    if (body == 1 || body == 2 && r.version.equals("HTTP/1.0")) {
      r.body = randomBytes(rnd, rnd.nextInt(300));
      r.lines.add(rnd.nextInt(r.lines.size() + 1), Mutations.caseVariant("Content-Length", rnd) + ":" + Mutations.ows(rnd)
          + r.body.length + Mutations.ows(rnd));
    } else if (body == 2) {
      r.chunked = true;
      r.lines.add(rnd.nextInt(r.lines.size() + 1), Mutations.caseVariant("Transfer-Encoding", rnd) + ":" + Mutations.ows(rnd)
          + Mutations.caseVariant("chunked", rnd) + Mutations.ows(rnd));
      r.rawBody = chunkedBody(rnd, true);
    } else if (body == 3 && rnd.nextBoolean()) {
      r.lines.add(Mutations.caseVariant("Content-Length", rnd) + ": 0");
    }
    return r;
  }

  static String chunkedBody(Random rnd, boolean trailers) {
    StringBuilder sb = new StringBuilder();
    int chunks = rnd.nextInt(5);
    for (int i = 0; i < chunks; i++) {
      int size = 1 + rnd.nextInt(200);
      String hex = Integer.toHexString(size);
      if (rnd.nextInt(4) == 0) {
        hex = hex.toUpperCase(java.util.Locale.ROOT);
      }
      if (rnd.nextInt(8) == 0) {
        hex = "00" + hex;
      }
      sb.append(hex).append(extension(rnd)).append("\r\n");
      for (int j = 0; j < size; j++) {
        sb.append((char) rnd.nextInt(256));
      }
      sb.append("\r\n");
    }
    sb.append(rnd.nextInt(5) == 0 ? "000" : "0").append(extension(rnd)).append("\r\n");
    if (trailers && rnd.nextInt(3) == 0) {
      int t = 1 + rnd.nextInt(3);
      for (int i = 0; i < t; i++) {
        sb.append(Mutations.caseVariant("X-Trailer-" + i, rnd)).append(":").append(Mutations.ows(rnd)).append(Mutations.value(rnd)).append("\r\n");
      }
    }
    sb.append("\r\n");
    return sb.toString();
  }

  private static String extension(Random rnd) {
    return switch (rnd.nextInt(8)) {
      case 0 -> ";name";
      case 1 -> ";a=b";
      case 2 -> " ; a = \"quoted \\\" value\"";
      case 3 -> ";x=1;y=\"z\"";
      case 4 -> ";n=v;m";
      default -> "";
    };
  }

  private static byte[] randomBytes(Random rnd, int n) {
    byte[] b = new byte[n];
    rnd.nextBytes(b);
    return b;
  }

  private static byte[] validStream(Random rnd) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(valid(rnd).bytes());
    if (rnd.nextInt(5) == 0) {
      out.writeBytes(valid(rnd).bytes()); // pipelined
    }
    return out.toByteArray();
  }

  private static byte[] mutated(String cat, Random rnd) {
    Req r = valid(rnd);
    byte[] bytes;
    switch (cat) {
      case "byte-flip":
        return Mutations.flip(validStream(rnd), rnd);
      case "byte-insert":
        return Mutations.insert(validStream(rnd), rnd);
      case "byte-delete":
        return Mutations.delete(validStream(rnd), rnd);
      case "cl-dup-same":
        withBody(r, rnd, 5);
        r.lines.add("Content-Length: 5");
        break;
      case "cl-dup-diff":
        withBody(r, rnd, 5);
        r.lines.add("content-length: 6");
        break;
      case "cl-list":
        withBody(r, rnd, 5);
        r.lines.set(r.lines.size() - 1, "Content-Length: 5, " + (rnd.nextBoolean() ? "5" : "7"));
        break;
      case "cl-signed":
        withBody(r, rnd, 5);
        r.lines.set(r.lines.size() - 1, "Content-Length: " + (rnd.nextBoolean() ? "+5" : "-5"));
        break;
      case "cl-leading-zeros":
        withBody(r, rnd, 5);
        r.lines.set(r.lines.size() - 1, "Content-Length: 0005");
        break;
      case "cl-overflow":
        withBody(r, rnd, 5);
        r.lines.set(r.lines.size() - 1, "Content-Length: " + (rnd.nextBoolean() ? "9223372036854775808"
            : "18446744073709551621"));
        break;
      case "cl-empty":
        withBody(r, rnd, 5);
        r.lines.set(r.lines.size() - 1, "Content-Length:" + Mutations.ows(rnd));
        break;
      case "cl-hex":
        withBody(r, rnd, 5);
        r.lines.set(r.lines.size() - 1, "Content-Length: " + (rnd.nextBoolean() ? "0x5" : "5 5"));
        break;
      case "te-variant":
        r.version = "HTTP/1.1";
        r.lines.removeIf(l -> l.toLowerCase().startsWith("content-length") || l.toLowerCase()
            .startsWith("transfer-encoding"));
        r.lines.add("Transfer-Encoding:" + TE_VARIANTS[rnd.nextInt(TE_VARIANTS.length)]);
        r.rawBody = chunkedBody(rnd, true);
        r.body = new byte[0];
        break;
      case "te-two-fields":
        r.version = "HTTP/1.1";
        r.lines.removeIf(l -> l.toLowerCase().startsWith("content-length") || l.toLowerCase()
            .startsWith("transfer-encoding"));
        r.lines.add("Transfer-Encoding: " + new String[] {"gzip", "chunked", "identity"}[rnd.nextInt(3)]);
        r.lines.add("Transfer-Encoding: " + new String[] {"gzip", "chunked"}[rnd.nextInt(2)]);
        r.rawBody = chunkedBody(rnd, false);
        break;
      case "te-http10":
        r.version = "HTTP/1.0";
        r.lines.removeIf(l -> l.toLowerCase().startsWith("content-length") || l.toLowerCase()
            .startsWith("transfer-encoding"));
        r.lines.add("Transfer-Encoding: chunked");
        r.rawBody = chunkedBody(rnd, false);
        break;
      case "cl+te":
        r.version = "HTTP/1.1";
        r.lines.removeIf(l -> l.toLowerCase().startsWith("content-length") || l.toLowerCase()
            .startsWith("transfer-encoding"));
        r.lines.add("Transfer-Encoding: chunked");
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "Content-Length: 3");
        r.rawBody = chunkedBody(rnd, false);
        break;
      case "obs-fold":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "X-Folded: a");
        r.lines.add(r.lines.indexOf("X-Folded: a") + 1, (rnd.nextBoolean() ? " " : "\t") + "continued");
        break;
      case "space-before-colon":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), (rnd.nextBoolean() ? "Content-Length" : "X-Sp")
            + (rnd.nextBoolean() ? " " : "\t") + ": 0");
        break;
      case "bare-cr":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "X-Cr: a\rb");
        break;
      case "bare-lf":
        if (rnd.nextBoolean()) {
          r.eol = "\n";
        } else {
          r.lines.add(rnd.nextInt(r.lines.size() + 1), "X-Lf: a\nX-Injected: b");
        }
        break;
      case "nul-in-value":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "X-Nul: a\0b");
        break;
      case "ctl-in-value":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "X-Ctl: a" + (char) new int[] {1, 0x0b, 0x0c, 0x1f, 0x7f}
            [rnd.nextInt(5)] + "b");
        break;
      case "huge-chunk-size":
        chunkedHead(r);
        r.rawBody = new String[] {"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n", "80000000\r\nabc", "7fffffff\r\nabc",
            "100000000\r\nab"}[rnd.nextInt(4)];
        break;
      case "chunk-ext-bad":
        chunkedHead(r);
        r.rawBody = "3" + new String[] {";", "; =v", ";a=", ";a=\"open", ";a=b c", " ", ";a\0", ";a=\"x\rx\"", "x",
            ";a=b ", ";a =b", ";(a)"}[rnd.nextInt(12)] + "\r\nabc\r\n0\r\n\r\n";
        break;
      case "chunk-no-crlf":
        chunkedHead(r);
        r.rawBody = "3\r\nabcX0\r\n\r\n";
        break;
      case "chunk-bare-lf":
        chunkedHead(r);
        r.rawBody = rnd.nextBoolean() ? "3\nabc\r\n0\r\n\r\n" : "3\r\nabc\n0\r\n\r\n";
        break;
      case "missing-final-crlf": {
        bytes = r.bytes();
        int cut = rnd.nextInt(4) + 1;
        return java.util.Arrays.copyOf(bytes, Math.max(1, bytes.length - cut));
      }
      case "version":
        r.version = new String[] {"HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.1 ", "HTTP/1", "HTTP/01.1", "HTTP/0.9",
            "", "HTTP/1.10", "ICAP/1.0"}[rnd.nextInt(10)];
        break;
      case "double-space":
        if (rnd.nextBoolean()) {
          r.sp1 = "  ";
        } else {
          r.sp2 = rnd.nextBoolean() ? "  " : "\t";
        }
        break;
      case "long-line":
        r.target = "/" + "a".repeat(Framing.MAX_LINE - 20 + rnd.nextInt(40));
        break;
      case "big-headers": {
        int total = Framing.MAX_HEADER - 100 + rnd.nextInt(200);
        r.lines.clear();
        while (total > 0) {
          int len = Math.min(total, 10 + rnd.nextInt(200));
          r.lines.add("X-Big: " + "b".repeat(Math.max(1, len - 7)));
          total -= len;
        }
        break;
      }
      case "leading-crlf": {
        bytes = r.bytes();
        String lead = new String[] {"\r\n", "\r\n\r\n", "\n", "\r", " ", "\t"}[rnd.nextInt(6)];
        byte[] l = Framing.ascii(lead);
        byte[] o = new byte[l.length + bytes.length];
        System.arraycopy(l, 0, o, 0, l.length);
        System.arraycopy(bytes, 0, o, l.length, bytes.length);
        return o;
      }
      case "dup-host":
        r.lines.add("Host: other");
        r.lines.add("host: other2");
        break;
      case "target-ctl":
        r.target = "/a" + new String[] {"\u0001", "\u007f", "\u00e9", "\"", "\t"}[rnd.nextInt(5)] + "b";
        break;
      case "trailer-bad":
        chunkedHead(r);
        r.rawBody = "3\r\nabc\r\n0\r\n" + new String[] {"X-T: a\0\r\n", " fold\r\n", "X T: v\r\n", "X-T : v\r\n",
            "novalue\r\n", "X-T: a\rb\r\n", "Content-Length: 5\r\n"}[rnd.nextInt(7)] + "\r\n";
        break;
      case "big-trailers": {
        chunkedHead(r);
        r.lines.clear();
        r.lines.add("Transfer-Encoding: chunked");
        r.lines.add("X-Big: " + "h".repeat(200 + rnd.nextInt(500)));
        StringBuilder t = new StringBuilder("3\r\nabc\r\n0\r\n");
        int total = 200 + rnd.nextInt(700);
        while (total > 0) {
          int len = Math.min(total, 10 + rnd.nextInt(200));
          t.append("X-T: ").append("t".repeat(Math.max(1, len - 5))).append("\r\n");
          total -= len;
        }
        r.rawBody = t.append("\r\n").toString();
        break;
      }
      case "empty-name":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), ": v");
        break;
      default:
        throw new IllegalStateException(cat);
    }
    return r.bytes();
  }

  private static void withBody(Req r, Random rnd, int n) {
    r.version = "HTTP/1.1";
    r.lines.removeIf(l -> l.toLowerCase().startsWith("content-length") || l.toLowerCase()
        .startsWith("transfer-encoding"));
    r.rawBody = null;
    r.chunked = false;
    r.body = randomBytes(rnd, n);
    r.lines.add("Content-Length: " + n);
  }

  private static void chunkedHead(Req r) {
    r.version = "HTTP/1.1";
    r.lines.removeIf(l -> l.toLowerCase().startsWith("content-length") || l.toLowerCase()
        .startsWith("transfer-encoding"));
    r.lines.add("Transfer-Encoding: chunked");
  }

}
