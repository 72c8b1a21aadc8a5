package io.sluice.http.wire;

import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMethod;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;

/**
 * Differential test of the replica side: the same requests written and the same response bytes read through Netty's
 * {@link HttpClientCodec} (as {@code UpstreamPools} configured it) and through {@link WireClientCodec} (same limits),
 * then the connection closed, compared as framing summaries ({@link Framing#verdict}). Fails when the new decoder
 * accepts a response that Netty refuses or frames differently (two readings of one byte stream: the response
 * smuggling / desync shape on a pooled connection); counts per category the cases where it refuses what Netty accepts.
 * Every case also runs split at random byte boundaries, which must give the same summary as the whole.
 */
class WireResponseDifferentialTest {
  /** Fixed; another can be tried with -Dwire.seed=N (printed with every failure). */
  private static final long SEED = Long.getLong("wire.seed", 0x5E5_2026L);
  private static final int VALID = 4000;
  private static final int MUTATED = 8000;

  private static final String[] NAMES = {"date", "server", "content-type", "x-request-id", "vary", "X-Custom",
      "access-control-allow-origin", "Cache-Control", "x-!#$%&'*+.^_`|~", "Set-Cookie"};
  private static final String[] TE_VARIANTS = {"chunked, chunked", "gzip", " chunked", "xchunked", "Chunked",
      "gzip, chunked", "chunked, gzip", "chunked;q=1", "chunked,", ",chunked", "identity", "CHUNKED ", "chunked\t",
      "gzip,,chunked", "chu nked", "\"chunked\"", ""};
  private static final String[] CATEGORIES = {"byte-flip", "byte-insert", "byte-delete", "cl-dup-same", "cl-dup-diff",
      "cl-list", "cl-signed", "cl-leading-zeros", "cl-overflow", "cl-empty", "cl-hex", "te-variant", "te-http10",
      "cl+te", "te-two-fields", "obs-fold", "space-before-colon", "bare-cr", "bare-lf", "nul-in-value",
      "ctl-in-value", "huge-chunk-size", "chunk-ext-bad", "chunk-no-crlf", "chunk-bare-lf", "status-line",
      "leading-crlf", "long-line", "big-headers", "trailer-bad", "big-trailers", "empty-name", "truncated",
      "head-with-body", "no-body-status-with-body", "interim-variant"};

  private final Map<String, String> examples = new TreeMap<>(); // category → first stricter case
  private final Map<String, int[]> counts = new TreeMap<>(); // category → per Framing.Verdict

  @Test
  void newDecoderNeverAcceptsWhatNettyRefusesOrFramesDifferently() {
    Random rnd = new Random(SEED);
    int cases = 0;
    for (int i = 0; i < VALID; i++) {
      check("valid", stream(rnd), rnd, cases++);
    }
    for (int i = 0; i < MUTATED; i++) {
      String cat = CATEGORIES[rnd.nextInt(CATEGORIES.length)];
      check(cat, mutated(cat, rnd), rnd, cases++);
    }
    StringBuilder sb = new StringBuilder("response differential (seed " + SEED + ", " + cases
        + " cases): category: same / wire stricter / both refused / netty refused sooner\n");
    counts.forEach((k, v) -> sb.append(String.format("  %-24s %6d %6d %6d %6d%n", k, v[0], v[1], v[2], v[3])));
    sb.append("first stricter case per category:\n");
    examples.forEach((k, v) -> sb.append("  ").append(k).append(": ").append(v).append('\n'));
    System.out.println(sb);
    Assertions.assertThat(counts.get("valid")[0]).as("valid responses are framed as Netty frames them")
        .isEqualTo(VALID);
  }

  /** Requests (one method per final response) and the bytes the replica answers them with. */
  record Case(List<HttpMethod> methods, byte[] bytes) {}

  private void check(String cat, Case c, Random rnd, int n) {
    List<byte[]> pieces = split(c.bytes, rnd);
    List<Framing.Entry> netty;
    List<Framing.Entry> wire;
    List<Framing.Entry> split;
    try {
      netty = Framing.exchange(netty(), c.methods, List.of(c.bytes), true);
      wire = Framing.exchange(wire(), c.methods, List.of(c.bytes), true);
      split = Framing.exchange(wire(), c.methods, pieces, true);
    } catch (RuntimeException e) {
      throw new AssertionError(describe(cat, n, c, "decoder threw " + e), e);
    }
    if (!Framing.sameList(wire, split)) {
      throw new AssertionError(describe(cat, n, c, "not resumable: whole " + wire + "\n split " + split));
    }
    Framing.Verdict v = Framing.verdict(wire, netty, describe(cat, n, c, ""));
    counts.computeIfAbsent(cat, k -> new int[4])[v.ordinal()]++;
    if (v == Framing.Verdict.STRICTER) {
      examples.putIfAbsent(cat, wire.get(wire.size() - 1).cause + " @ " + Mutations.shortInput(c.bytes));
    }
  }

  private static HttpClientCodec netty() {
    return new HttpClientCodec(config(), false, false);
  }

  private static WireClientCodec wire() {
    return new WireClientCodec(config());
  }

  private static HttpDecoderConfig config() {
    return new HttpDecoderConfig().setMaxInitialLineLength(Framing.MAX_LINE).setMaxHeaderSize(Framing.MAX_HEADER)
        .setMaxChunkSize(Framing.MAX_CHUNK);
  }

  private static String describe(String cat, int n, Case c, String what) {
    return "seed " + SEED + ", case " + n + " (" + cat + "), methods " + c.methods + ": " + what + "\n input: "
        + new String(c.bytes, StandardCharsets.ISO_8859_1).replace("\r", "\\r").replace("\n", "\\n\n        ")
            .replace("\0", "\\0") + "\n";
  }

  private static List<byte[]> split(byte[] b, Random rnd) {
    List<byte[]> out = new ArrayList<>();
    int pos = 0;
    while (pos < b.length) {
      int len = Math.min(b.length - pos, 1 + rnd.nextInt(Math.max(1, b.length / 3)));
      out.add(java.util.Arrays.copyOfRange(b, pos, pos + len));
      pos += len;
    }
    return out;
  }

  // --- generation --------------------------------------------------------------------------------------------------

  /** One response, described so that mutations can change its parts before it is serialised. */
  static final class Res {
    HttpMethod method = HttpMethod.POST;
    String statusLine = "HTTP/1.1 200 OK";
    String version = "HTTP/1.1";
    final List<String> interim = new ArrayList<>(); // whole 1xx responses sent first
    final List<String> lines = new ArrayList<>();
    String body = "";
    String eol = "\r\n";
    /** Body runs to the close: only last in a stream. */
    boolean toClose;

    String text() {
      StringBuilder sb = new StringBuilder();
      interim.forEach(sb::append);
      sb.append(statusLine).append(eol);
      for (String l : lines) {
        sb.append(l).append(eol);
      }
      return sb.append(eol).append(body).toString();
    }
  }

  private static final String[] STATUS = {"200 OK", "200 OK", "200 OK", "201 Created", "400 Bad Request",
      "404 Not Found", "429 Too Many Requests", "500 Internal Server Error", "503 Service Unavailable", "200 Fine",
      "422 Unprocessable Entity", "204 No Content", "304 Not Modified", "200", "200 ", "502 Bad  Gateway"};

  static Res valid(Random rnd, boolean last) {
    Res r = new Res();
    r.method = rnd.nextInt(8) == 0 ? HttpMethod.HEAD : rnd.nextBoolean() ? HttpMethod.POST : HttpMethod.GET;
    r.version = rnd.nextInt(8) == 0 ? "HTTP/1.0" : "HTTP/1.1";
    String status = STATUS[rnd.nextInt(STATUS.length)];
    r.statusLine = r.version + " " + status;
    if (rnd.nextInt(6) == 0) {
      r.interim.add("HTTP/1.1 100 Continue\r\n\r\n");
      if (rnd.nextBoolean()) {
        r.interim.add("HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n");
      }
    }
    r.lines.add("date: Wed, 02 Dec 2026 15:" + (10 + rnd.nextInt(50)) + ":00 GMT");
    r.lines.add("server: uvicorn");
    int n = rnd.nextInt(6);
    for (int i = 0; i < n; i++) {
      r.lines.add(NAMES[rnd.nextInt(NAMES.length)] + ":" + Mutations.ows(rnd) + Mutations.value(rnd) + Mutations.ows(rnd));
    }
    boolean noBody = status.startsWith("204") || status.startsWith("304") || r.method == HttpMethod.HEAD;
    int kind = rnd.nextInt(last ? 4 : 3);
    if (kind == 1 && r.version.equals("HTTP/1.1")) { // SSE, chunked
      r.lines.add(1 + rnd.nextInt(r.lines.size()), "content-type: text/event-stream; charset=utf-8");
      r.lines.add(1 + rnd.nextInt(r.lines.size()), Mutations.caseVariant("transfer-encoding", rnd) + ": "
          + Mutations.caseVariant("chunked", rnd));
      r.body = noBody ? "" : chunked(sse(rnd), rnd, rnd.nextInt(4) == 0);
    } else if (kind == 3 && !noBody) { // to close
      r.lines.add("content-type: application/json");
      r.body = json(rnd);
      r.toClose = true;
    } else {
      String body = json(rnd);
      r.lines.add(1 + rnd.nextInt(r.lines.size()), "content-type: application/json");
      r.lines.add(1 + rnd.nextInt(r.lines.size()), Mutations.caseVariant("content-length", rnd) + ":" + Mutations.ows(rnd)
          + body.length() + Mutations.ows(rnd));
      r.body = noBody ? "" : body;
    }
    if (rnd.nextInt(5) == 0) {
      r.lines.add("x-request-id: " + Long.toHexString(rnd.nextLong()));
    }
    return r;
  }

  private static String json(Random rnd) {
    int tokens = rnd.nextInt(40);
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < tokens; i++) {
      text.append(rnd.nextBoolean() ? "lorem " : "\\u00e9\\\"x\\\" ");
    }
    return "{\"id\":\"chatcmpl-" + Long.toHexString(rnd.nextLong()) + "\",\"object\":\"chat.completion\","
        + "\"created\":1718000000,\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        + "\"content\":\"" + text + "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
        + "\"total_tokens\":" + (12 + tokens) + ",\"completion_tokens\":" + tokens + "}}";
  }

  private static List<String> sse(Random rnd) {
    List<String> events = new ArrayList<>();
    int k = rnd.nextInt(8);
    for (int i = 0; i < k; i++) {
      events.add("data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
          + "\"delta\":{\"content\":\"t" + i + "\"},\"finish_reason\":null}]}\n\n");
    }
    if (rnd.nextBoolean()) {
      events.add("data: {\"id\":\"chatcmpl-X\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
          + "\"total_tokens\":14,\"completion_tokens\":2}}\n\n");
    }
    events.add("data: [DONE]\n\n");
    return events;
  }

  /** Events as chunks (sometimes two in one, sometimes one split in two), the last chunk, maybe trailers. */
  private static String chunked(List<String> events, Random rnd, boolean trailers) {
    StringBuilder sb = new StringBuilder();
    for (String e : events) {
      List<String> parts = new ArrayList<>();
      if (e.length() > 10 && rnd.nextInt(4) == 0) {
        int cut = 1 + rnd.nextInt(e.length() - 1);
        parts.add(e.substring(0, cut));
        parts.add(e.substring(cut));
      } else {
        parts.add(e);
      }
      for (String p : parts) {
        String hex = Integer.toHexString(p.length());
        sb.append(rnd.nextInt(4) == 0 ? hex.toUpperCase(Locale.ROOT) : hex).append(extension(rnd)).append("\r\n")
            .append(p).append("\r\n");
      }
    }
    sb.append("0").append(extension(rnd)).append("\r\n");
    if (trailers) {
      sb.append("x-usage-tokens:").append(Mutations.ows(rnd)).append(rnd.nextInt(100)).append("\r\n");
    }
    return sb.append("\r\n").toString();
  }

  private static String extension(Random rnd) {
    return switch (rnd.nextInt(10)) {
      case 0 -> ";name";
      case 1 -> ";a=b";
      case 2 -> ";x=\"q\"";
      default -> "";
    };
  }

  private static Case serialise(List<Res> rs) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    List<HttpMethod> methods = new ArrayList<>();
    for (Res r : rs) {
      methods.add(r.method);
      out.writeBytes(Framing.ascii(r.text()));
    }
    return new Case(methods, out.toByteArray());
  }

  private static List<Res> responses(Random rnd) {
    List<Res> rs = new ArrayList<>();
    int k = 1 + rnd.nextInt(3);
    for (int i = 0; i < k; i++) {
      Res r = valid(rnd, i == k - 1);
      rs.add(r);
    }
    return rs;
  }

  private static Case stream(Random rnd) {
    return serialise(responses(rnd));
  }

  private static Case mutated(String cat, Random rnd) {
    List<Res> rs = responses(rnd);
    Res r = rs.get(rnd.nextInt(rs.size()));
    switch (cat) {
      case "byte-flip": {
        Case c = serialise(rs);
        return new Case(c.methods, Mutations.flip(c.bytes, rnd));
      }
      case "byte-insert": {
        Case c = serialise(rs);
        return new Case(c.methods, Mutations.insert(c.bytes, rnd));
      }
      case "byte-delete": {
        Case c = serialise(rs);
        return new Case(c.methods, Mutations.delete(c.bytes, rnd));
      }
      case "truncated": {
        Case c = serialise(rs);
        return new Case(c.methods, java.util.Arrays.copyOf(c.bytes, rnd.nextInt(c.bytes.length)));
      }
      case "cl-dup-same":
        withBody(r, "abcde", "Content-Length: 5", "content-length: 5");
        break;
      case "cl-dup-diff":
        withBody(r, "abcde", "Content-Length: 5", "content-length: 6");
        break;
      case "cl-list":
        withBody(r, "abcde", "Content-Length: 5, " + (rnd.nextBoolean() ? "5" : "7"));
        break;
      case "cl-signed":
        withBody(r, "abcde", "Content-Length: " + (rnd.nextBoolean() ? "+5" : "-5"));
        break;
      case "cl-leading-zeros":
        withBody(r, "abcde", "Content-Length: 0005");
        break;
      case "cl-overflow":
        withBody(r, "abcde", "Content-Length: " + (rnd.nextBoolean() ? "9223372036854775808" : "18446744073709551621"));
        break;
      case "cl-empty":
        withBody(r, "abcde", "Content-Length:" + Mutations.ows(rnd));
        break;
      case "cl-hex":
        withBody(r, "abcde", "Content-Length: " + (rnd.nextBoolean() ? "0x5" : "5 5"));
        break;
      case "te-variant":
        withBody(r, chunked(sse(rnd), rnd, false), "Transfer-Encoding:" + TE_VARIANTS[rnd.nextInt(TE_VARIANTS.length)]);
        endWithClose(rs, r);
        break;
      case "te-two-fields":
        withBody(r, chunked(sse(rnd), rnd, false), "Transfer-Encoding: " + new String[] {"gzip", "chunked",
            "identity"}[rnd.nextInt(3)], "Transfer-Encoding: " + new String[] {"gzip", "chunked"}[rnd.nextInt(2)]);
        endWithClose(rs, r);
        break;
      case "te-http10":
        withBody(r, chunked(sse(rnd), rnd, false), "Transfer-Encoding: chunked");
        r.statusLine = "HTTP/1.0 200 OK";
        break;
      case "cl+te":
        withBody(r, chunked(sse(rnd), rnd, false), "Transfer-Encoding: " + (rnd.nextBoolean() ? "chunked" : "gzip"),
            "Content-Length: " + rnd.nextInt(40));
        if (rnd.nextBoolean()) {
          java.util.Collections.reverse(r.lines);
        }
        break;
      case "obs-fold": {
        int at = rnd.nextInt(r.lines.size() + 1);
        r.lines.add(at, "x-folded: a");
        r.lines.add(at + 1, (rnd.nextBoolean() ? " " : "\t") + "continued");
        break;
      }
      case "space-before-colon":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), (rnd.nextBoolean() ? "Content-Length" : "x-sp")
            + (rnd.nextBoolean() ? " " : "\t") + ": 0");
        break;
      case "bare-cr":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "x-cr: a\rb");
        break;
      case "bare-lf":
        if (rnd.nextBoolean()) {
          r.eol = "\n";
        } else {
          r.lines.add(rnd.nextInt(r.lines.size() + 1), "x-lf: a\nx-injected: b");
        }
        break;
      case "nul-in-value":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "x-nul: a\0b");
        break;
      case "ctl-in-value":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), "x-ctl: a" + (char) new int[] {1, 0x0b, 0x0c, 0x1f, 0x7f}
            [rnd.nextInt(5)] + "b");
        break;
      case "huge-chunk-size":
        withBody(r, new String[] {"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n", "80000000\r\nabc", "7fffffff\r\nabc",
            "100000000\r\nab", "-3\r\nabc\r\n0\r\n\r\n", "+3\r\nabc\r\n0\r\n\r\n"}[rnd.nextInt(6)],
            "transfer-encoding: chunked");
        break;
      case "chunk-ext-bad":
        withBody(r, "3" + new String[] {";", "; =v", ";a=", ";a=\"open", ";a=b c", " ", ";a\0", ";a=\"x\rx\"", "x",
            ";a=b ", ";a =b", ";(a)"}[rnd.nextInt(12)] + "\r\nabc\r\n0\r\n\r\n", "transfer-encoding: chunked");
        break;
      case "chunk-no-crlf":
        withBody(r, new String[] {"3\r\nabcX0\r\n\r\n", "3\r\nabc\r0\r\n\r\n", "3\r\nabcd\r\n0\r\n\r\n"}[rnd.nextInt(3)],
            "transfer-encoding: chunked");
        break;
      case "chunk-bare-lf":
        withBody(r, rnd.nextBoolean() ? "3\nabc\r\n0\r\n\r\n" : "3\r\nabc\n0\r\n\r\n", "transfer-encoding: chunked");
        break;
      case "status-line":
        r.statusLine = new String[] {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 600 Odd", "HTTP/1.1 099 Low",
            "HTTP/2.0 200 OK", "HTTP/1.2 200 OK", "http/1.1 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1\t200 OK",
            "HTTP/1.1 +20 OK", "HTTP/1.1 200\tOK", "HTTP/1.1 200 O\0K", "HTTP/1.1 200 O\u007fK", "ICAP/1.0 200 OK",
            "HTTP/1.1 200 OK ", "HTTP/1.1 -200 OK", "HTTP/1.1 0200 OK", "HTTP/1.1 200 \u00e9t\u00e9", "HTTP/1.1",
            "HTTP/1.1 ", "HTTP/1 200 OK", "HTTP/01.1 200 OK"}[rnd.nextInt(22)];
        break;
      case "leading-crlf":
        r.interim.add(0, new String[] {"\r\n", "\r\n\r\n", "\n", "\r", " ", "\t", "\0"}[rnd.nextInt(7)]);
        break;
      case "long-line":
        r.statusLine = "HTTP/1.1 200 " + "r".repeat(Framing.MAX_LINE - 33 + rnd.nextInt(40));
        break;
      case "big-headers": {
        int total = Framing.MAX_HEADER - 100 + rnd.nextInt(200);
        r.lines.clear();
        r.lines.add("content-length: 0");
        r.body = "";
        while (total > 0) {
          int len = Math.min(total, 10 + rnd.nextInt(200));
          r.lines.add("x-big: " + "b".repeat(Math.max(1, len - 7)));
          total -= len;
        }
        break;
      }
      case "trailer-bad":
        withBody(r, "3\r\nabc\r\n0\r\n" + new String[] {"x-t: a\0\r\n", " fold\r\n", "x t: v\r\n", "x-t : v\r\n",
            "novalue\r\n", "x-t: a\rb\r\n", "Content-Length: 5\r\n", "Trailer: x\r\n"}[rnd.nextInt(8)] + "\r\n",
            "transfer-encoding: chunked");
        break;
      case "big-trailers": {
        StringBuilder t = new StringBuilder("3\r\nabc\r\n0\r\n");
        int total = 200 + rnd.nextInt(900);
        while (total > 0) {
          int len = Math.min(total, 10 + rnd.nextInt(200));
          t.append("x-t: ").append("t".repeat(Math.max(1, len - 5))).append("\r\n");
          total -= len;
        }
        withBody(r, t.append("\r\n").toString(), "transfer-encoding: chunked", "x-big: " + "h".repeat(200));
        break;
      }
      case "empty-name":
        r.lines.add(rnd.nextInt(r.lines.size() + 1), ": v");
        break;
      case "head-with-body":
        withBody(r, "abcde", "content-length: 5");
        r.method = HttpMethod.HEAD;
        break;
      case "no-body-status-with-body":
        withBody(r, rnd.nextBoolean() ? "abcde" : "5\r\nabcde\r\n0\r\n\r\n", rnd.nextBoolean() ? "content-length: 5"
            : "transfer-encoding: chunked");
        r.statusLine = new String[] {"HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified",
            "HTTP/1.1 100 Continue", "HTTP/1.1 102 Processing"}[rnd.nextInt(4)];
        break;
      case "interim-variant":
        r.interim.add(new String[] {"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 100 Continue\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\ntransfer-encoding: chunked\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nsec-websocket-accept: x\r\n\r\n",
            "HTTP/1.0 100 Continue\r\n\r\n", "HTTP/1.1 199 Misc\r\n\r\n"}[rnd.nextInt(6)]);
        break;
      default:
        throw new IllegalStateException(cat);
    }
    return serialise(rs);
  }

  /** Replaces the framing of {@code r} with {@code framing} and its body with {@code body}; a status with a body. */
  private static void withBody(Res r, String body, String... framing) {
    r.lines.removeIf(l -> l.toLowerCase(Locale.ROOT).startsWith("content-length")
        || l.toLowerCase(Locale.ROOT).startsWith("transfer-encoding"));
    r.statusLine = r.statusLine.startsWith("HTTP/1.0") ? "HTTP/1.0 200 OK" : "HTTP/1.1 200 OK";
    if (r.method == HttpMethod.HEAD) {
      r.method = HttpMethod.GET;
    }
    r.lines.addAll(List.of(framing));
    r.body = body;
    r.toClose = false;
  }

  /** A response whose framing may now run to the close goes last. */
  private static void endWithClose(List<Res> rs, Res r) {
    rs.remove(r);
    rs.add(r);
  }

}
