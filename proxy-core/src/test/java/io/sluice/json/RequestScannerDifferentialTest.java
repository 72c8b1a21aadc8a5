package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The byte-level {@link RequestScanner} against the Jackson-based scanner it replaced ({@link JacksonRequestScanner}):
 * generated chat/completions bodies and mutations of them (byte flips, truncation, inserted punctuation, duplicate
 * keys, ill-formed UTF-8, nesting around the depth limit, bad numbers and literals), each split at random chunk
 * boundaries, must get the same verdict and the same findings from both. Fixed seed: a failure names the case to
 * replay. One reused {@link RequestScanner} scans every case, so {@link RequestScanner#reset()} is tested too.
 */
class RequestScannerDifferentialTest {
  private static final long SEED = 0x5115_1ce_18L;
  private static final int CASES = 10_000;

  @Test
  void agreesWithJacksonOnGeneratedAndMutatedBodies() {
    Random rnd = new Random(SEED);
    RequestScanner reused = new RequestScanner();
    int accepted = 0;
    int refused = 0;
    List<String> disagreements = new ArrayList<>();
    int jacksonChunkingBugs = 0;
    for (int n = 0; n < CASES; n++) {
      byte[] body = body(rnd);
      if (rnd.nextInt(3) != 0) {
        body = mutate(rnd, body);
      }
      int[] cuts = cuts(rnd, body.length);
      Verdict want = verdict(new JacksonScannerAdapter(), body, cuts, rnd.nextInt(4));
      reused.hashPrompt(n % 2 == 0); // prompt hashing (issue 20) must not change any verdict
      reused.reset();
      Verdict got = verdict(new NewScannerAdapter(reused), body, cuts, rnd.nextInt(4));
      if (got.ok && got.usageSplice != null && got.usageSplice.endsWith("APPEND_FIELD")) {
        assertThat(reused.usageSplice().start()).as("case %d: the new scanner appends at the brace itself", n)
            .isEqualTo(Long.parseLong(got.usageSplice.substring(0, got.usageSplice.indexOf('.'))));
      }
      reused.reset();
      Verdict whole = verdict(new NewScannerAdapter(reused), body, new int[0], 0);
      if (want.ok && !got.ok && !whole.ok && !verdict(new JacksonScannerAdapter(), body, new int[0], 0).ok) {
        // Jackson's non-blocking parser, fed byte by byte, lets a trailing comma through ({"a":1,}); in one chunk it
        // refuses it. The new scanner's verdict does not depend on the chunking, and matches Jackson's whole-body one.
        jacksonChunkingBugs++;
        continue;
      }
      // Which error a refused body gets may depend on the chunking (UTF-8 is checked a chunk ahead, as before).
      boolean chunkingIndependent = got.ok ? got.equals(whole) : !whole.ok;
      if ((!got.equals(want) || !chunkingIndependent) && disagreements.size() < 10) {
        disagreements.add(printable(String.format("case %d, chunks cut at %s: jackson %s; new %s; body %s", n,
            cuts.length == body.length - 1 ? "every byte" : java.util.Arrays.toString(cuts), want, got, show(body))
            + (got.equals(whole) ? "" : "; new in one chunk " + whole)));
      }
      if (want.ok) {
        accepted++;
      } else {
        refused++;
      }
    }
    assertThat(disagreements).as("cases where the scanners disagree").isEmpty();
    // The generator must exercise both sides of every verdict, or the comparison proves little.
    assertThat(accepted).as("accepted").isGreaterThan(CASES / 4);
    assertThat(refused).as("refused").isGreaterThan(CASES / 4);
    assertThat(jacksonChunkingBugs).as("Jackson's verdict changed with the chunking").isLessThan(CASES / 100);
  }

  /** Nesting at the limit and one past it, in arrays and objects, at every chunking of the deep part. */
  @Test
  void agreesOnTheNestingLimit() {
    RequestScanner reused = new RequestScanner();
    Random rnd = new Random(SEED + 1);
    for (int levels = RequestScanner.MAX_DEPTH - 2; levels <= RequestScanner.MAX_DEPTH + 1; levels++) {
      for (boolean objects : new boolean[] {false, true}) {
        StringBuilder b = new StringBuilder("{\"model\":\"m\",\"deep\":");
        for (int k = 1; k < levels; k++) {
          b.append(objects ? "{\"k\":" : "[");
        }
        b.append("1");
        for (int k = 1; k < levels; k++) {
          b.append(objects ? "}" : "]");
        }
        b.append("}");
        byte[] body = b.toString().getBytes(StandardCharsets.UTF_8);
        for (int t = 0; t < 5; t++) {
          int[] cuts = cuts(rnd, body.length);
          Verdict want = verdict(new JacksonScannerAdapter(), body, cuts, 0);
          reused.reset();
          Verdict got = verdict(new NewScannerAdapter(reused), body, cuts, t % 4);
          assertThat(got).as("%d levels of %s", levels, objects ? "objects" : "arrays").isEqualTo(want);
          assertThat(got.ok).as("%d levels", levels).isEqualTo(levels <= RequestScanner.MAX_DEPTH);
        }
      }
    }
  }

  /** The one difference left out of the comparison above: Jackson's offsets did not count a leading byte order mark. */
  @Test
  void jacksonsOffsetsMissedALeadingByteOrderMark() {
    byte[] body = "\uFEFF{\"model\":\"a\"}".getBytes(StandardCharsets.UTF_8);
    JacksonRequestScanner jackson = new JacksonRequestScanner();
    RequestScanner scanner = new RequestScanner();
    ByteBuf chunk = Unpooled.wrappedBuffer(body);
    assertThat(jackson.feed(chunk) && jackson.end()).isTrue();
    assertThat(scanner.feed(chunk) && scanner.end()).isTrue();
    jackson.close();
    assertThat(new String(body, (int) scanner.modelStart(), 3, StandardCharsets.UTF_8)).isEqualTo("\"a\"");
    assertThat(jackson.modelStart()).isEqualTo(scanner.modelStart() - 3);
    assertThat(jackson.usageSplice().start()).as("the root's brace").isEqualTo(scanner.usageSplice().start() - 3);
  }

  // The two scanners behind one face.

  private interface Scanner {
    boolean feed(ByteBuf b);

    boolean end();

    RequestScanner findings();

    JacksonRequestScanner reference();
  }

  private record NewScannerAdapter(RequestScanner s) implements Scanner {
    public boolean feed(ByteBuf b) {
      return s.feed(b);
    }

    public boolean end() {
      return s.end();
    }

    public RequestScanner findings() {
      return s;
    }

    public JacksonRequestScanner reference() {
      return null;
    }
  }

  private static final class JacksonScannerAdapter implements Scanner {
    final JacksonRequestScanner s = new JacksonRequestScanner();

    public boolean feed(ByteBuf b) {
      return s.feed(b);
    }

    public boolean end() {
      boolean ok = s.end();
      s.close();
      return ok;
    }

    public RequestScanner findings() {
      return null;
    }

    public JacksonRequestScanner reference() {
      return s;
    }
  }

  /** What a caller of either scanner can see. Findings are compared only for accepted bodies. */
  private record Verdict(boolean ok, boolean invalidUtf8, boolean duplicateModel, String model, long modelStart,
      long modelEnd, boolean stream, boolean streamSeen, List<String> fallbacks, String usageSplice,
      boolean clientAskedUsage) {
  }

  /**
   * Feeds {@code body} cut at {@code cuts}; {@code kind} picks the buffers: heap, direct, a read slice of a larger
   * buffer, or a composite of two components (so word reads straddle components).
   */
  private static Verdict verdict(Scanner s, byte[] body, int[] cuts, int kind) {
    boolean ok = true;
    int from = 0;
    for (int k = 0; k <= cuts.length; k++) {
      int to = k < cuts.length ? cuts[k] : body.length;
      ByteBuf chunk = chunk(body, from, to - from, kind);
      try {
        if (!s.feed(chunk)) {
          ok = false;
        }
      } finally {
        chunk.release();
      }
      from = to;
      if (!ok) {
        break;
      }
    }
    ok = ok && s.end();
    if (s.findings() != null) {
      RequestScanner r = s.findings();
      return ok ? new Verdict(true, false, false, r.model(), r.modelStart(), r.modelEnd(), r.stream(), r.streamSeen(),
          r.fallbacks(), splice(r.usageSplice(), body), r.clientAskedUsage())
          : new Verdict(false, r.invalidUtf8(), r.duplicateModel(), null, 0, 0, false, false, null, null, false);
    }
    JacksonRequestScanner r = s.reference();
    return ok ? new Verdict(true, false, false, r.model(), r.modelStart(), r.modelEnd(), r.stream(), r.streamSeen(),
        r.fallbacks(), splice(r.usageSplice(), body), r.clientAskedUsage())
        : new Verdict(false, r.invalidUtf8(), r.duplicateModel(), null, 0, 0, false, false, null, null, false);
  }

  /**
   * Where a splice goes. Jackson's non-blocking parser sometimes puts the root's closing brace at the whitespace
   * before it (after a literal followed by a tab, e.g. {@code null\t}}): inserting there is as good, so an append
   * point is moved past whitespace to the brace before comparing; the new scanner must name the brace itself.
   */
  private static String splice(UsageSplice sp, byte[] body) {
    if (sp == null) {
      return null;
    }
    long start = sp.start();
    if (sp.kind() == UsageSplice.Kind.APPEND_FIELD) {
      while (start < body.length && (body[(int) start] == ' ' || body[(int) start] == '\t'
          || body[(int) start] == '\r' || body[(int) start] == '\n')) {
        start++;
      }
      assertThat(body[(int) start]).as("append point").isEqualTo((byte) '}');
    }
    String s = start + ".." + (sp.end() - sp.start() + start) + " " + sp.kind();
    sp.bytes().release();
    return s;
  }

  /**
   * A chunk of {@code body}. Wrapped, never allocator-made: the paranoid leak detector the tests run with records
   * every access to those, which would make this test take minutes.
   */
  private static ByteBuf chunk(byte[] body, int from, int len, int kind) {
    switch (kind) {
      case 1 -> {
        ByteBuffer direct = ByteBuffer.allocateDirect(len).put(body, from, len).flip();
        return Unpooled.wrappedBuffer(direct);
      }
      case 2 -> {
        byte[] wide = new byte[len + 11];
        System.arraycopy(body, from, wide, 5, len);
        return Unpooled.wrappedBuffer(wide, 5, len);
      }
      case 3 -> {
        int half = len / 2;
        ByteBuffer direct = ByteBuffer.allocateDirect(len - half).put(body, from + half, len - half).flip();
        return Unpooled.wrappedBuffer(Unpooled.wrappedBuffer(body, from, half), Unpooled.wrappedBuffer(direct));
      }
      default -> {
        return Unpooled.wrappedBuffer(body, from, len);
      }
    }
  }

  /** Chunk boundaries: none, a few random ones, or many small chunks. */
  private static int[] cuts(Random rnd, int length) {
    if (length < 2) {
      return new int[0];
    }
    int n = switch (rnd.nextInt(4)) {
      case 0 -> 0;
      case 1 -> length - 1; // byte by byte
      default -> 1 + rnd.nextInt(Math.min(12, length - 1));
    };
    if (n == length - 1) {
      int[] all = new int[n];
      for (int k = 0; k < n; k++) {
        all[k] = k + 1;
      }
      return all;
    }
    return rnd.ints(n, 1, length).distinct().sorted().toArray();
  }

  // Valid bodies.

  private static byte[] body(Random rnd) {
    StringBuilder b = new StringBuilder();
    List<String> members = new ArrayList<>();
    if (rnd.nextInt(10) != 0) {
      members.add(key(rnd, "model") + ":" + ws(rnd) + (rnd.nextInt(25) == 0 ? value(rnd, 2) : string(rnd, true)));
    }
    members.add("\"messages\":" + ws(rnd) + messages(rnd));
    if (rnd.nextBoolean()) {
      String[] v = {"true", "false", "null", "true", "\"yes\"", "1"};
      members.add(key(rnd, "stream") + ":" + ws(rnd) + v[rnd.nextInt(rnd.nextInt(8) == 0 ? v.length : 4)]);
    }
    if (rnd.nextInt(3) == 0) {
      members.add("\"stream_options\":" + ws(rnd) + streamOptions(rnd));
    }
    if (rnd.nextInt(4) == 0) {
      members.add(key(rnd, "fallbacks") + ":" + ws(rnd) + fallbacks(rnd));
    }
    if (rnd.nextInt(3) == 0) {
      members.add("\"tools\":" + ws(rnd) + tools(rnd));
    }
    String[] extras = {"\"max_tokens\":256", "\"temperature\":0.7", "\"top_p\":1e-3", "\"seed\":-42",
        "\"n\":1", "\"presence_penalty\":-0.5E+2", "\"stop\":[\"\\n\\n\",\"END\"]", "\"user\":\"u\\u00e9\"",
        "\"metadata\":{\"model\":\"inner\",\"stream\":true,\"fallbacks\":[\"x\"]}", "\"logit_bias\":{\"50256\":-100}",
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"strict\":true,\"schema\":{}}}"};
    int extra = rnd.nextInt(4);
    for (int k = 0; k < extra; k++) {
      members.add(rnd.nextInt(3) == 0 ? string(rnd, false) + ":" + ws(rnd) + value(rnd, 3)
          : extras[rnd.nextInt(extras.length)]);
    }
    java.util.Collections.shuffle(members, rnd);
    b.append(ws(rnd)).append('{').append(ws(rnd));
    for (int k = 0; k < members.size(); k++) {
      if (k > 0) {
        b.append(ws(rnd)).append(',').append(ws(rnd));
      }
      b.append(members.get(k));
    }
    b.append(ws(rnd)).append('}').append(ws(rnd));
    return utf8(b.toString());
  }

  /** A top-level key, sometimes with escapes that still spell it ("mod\u0065l" is "model"). */
  private static String key(Random rnd, String name) {
    if (rnd.nextInt(8) != 0) {
      return "\"" + name + "\"";
    }
    StringBuilder b = new StringBuilder("\"");
    for (char c : name.toCharArray()) {
      b.append(rnd.nextInt(3) == 0 ? String.format("\\u%04x", (int) c) : String.valueOf(c));
    }
    return b.append('"').toString();
  }

  private static String messages(Random rnd) {
    StringBuilder b = new StringBuilder("[");
    int n = 1 + rnd.nextInt(4);
    for (int k = 0; k < n; k++) {
      if (k > 0) {
        b.append(',').append(ws(rnd));
      }
      b.append("{\"role\":").append(ws(rnd)).append(rnd.nextBoolean() ? "\"user\"" : "\"assistant\"")
          .append(",\"content\":").append(ws(rnd));
      if (rnd.nextInt(4) == 0) {
        b.append("[{\"type\":\"text\",\"text\":").append(string(rnd, false)).append("}]");
      } else {
        b.append(string(rnd, false));
      }
      if (rnd.nextInt(6) == 0) {
        b.append(",\"model\":\"nested\",\"stream\":1");
      }
      b.append('}');
    }
    return b.append(']').toString();
  }

  private static String streamOptions(Random rnd) {
    return switch (rnd.nextInt(8)) {
      case 0 -> "null";
      case 1 -> "[1]";
      case 2 -> "\"x\"";
      default -> {
        StringBuilder b = new StringBuilder("{");
        String[] m = {"\"include_usage\":true", "\"include_usage\":false", "\"include_usage\":" + ws(rnd) + "null",
            "\"include_usage\":1", "\"include_usage\":{\"a\":1}", "\"continuous_usage_stats\":true",
            "\"continuous_usage_stats\":false", "\"other\":[true]", "\"incl\\u0075de_usage\":false"};
        int n = rnd.nextInt(4);
        for (int k = 0; k < n; k++) {
          if (k > 0) {
            b.append(',');
          }
          b.append(m[rnd.nextInt(m.length)]);
        }
        yield b.append(ws(rnd)).append('}').toString();
      }
    };
  }

  private static String fallbacks(Random rnd) {
    return switch (rnd.nextInt(10)) {
      case 0 -> "null";
      case 1 -> "\"b\"";
      case 2 -> "[1]";
      case 3 -> "[{\"b\":1}]";
      default -> {
        StringBuilder b = new StringBuilder("[");
        int n = rnd.nextInt(4);
        for (int k = 0; k < n; k++) {
          b.append(k > 0 ? "," + ws(rnd) : "").append(string(rnd, true));
        }
        yield b.append(']').toString();
      }
    };
  }

  private static String tools(Random rnd) {
    return "[{\"type\":\"function\",\"function\":{\"name\":" + string(rnd, true) + ",\"description\":"
        + string(rnd, false) + ",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\","
        + "\"minimum\":" + number(rnd) + ",\"enum\":[" + number(rnd) + "," + number(rnd) + ",null,true]}},"
        + "\"required\":[\"x\"],\"additionalProperties\":false}}}]";
  }

  private static String value(Random rnd, int depth) {
    int pick = rnd.nextInt(depth <= 0 ? 5 : 7);
    return switch (pick) {
      case 0 -> "true";
      case 1 -> "false";
      case 2 -> "null";
      case 3 -> number(rnd);
      case 4 -> string(rnd, false);
      case 5 -> {
        StringBuilder b = new StringBuilder("[").append(ws(rnd));
        int n = rnd.nextInt(4);
        for (int k = 0; k < n; k++) {
          b.append(k > 0 ? "," : "").append(ws(rnd)).append(value(rnd, depth - 1));
        }
        yield b.append(ws(rnd)).append(']').toString();
      }
      default -> {
        StringBuilder b = new StringBuilder("{").append(ws(rnd));
        int n = rnd.nextInt(4);
        for (int k = 0; k < n; k++) {
          b.append(k > 0 ? "," : "").append(string(rnd, false)).append(ws(rnd)).append(':').append(ws(rnd))
              .append(value(rnd, depth - 1));
        }
        yield b.append('}').toString();
      }
    };
  }

  private static String number(Random rnd) {
    StringBuilder b = new StringBuilder();
    if (rnd.nextInt(3) == 0) {
      b.append('-');
    }
    b.append(rnd.nextInt(5) == 0 ? "0" : String.valueOf(1 + rnd.nextInt(1_000_000)));
    if (rnd.nextBoolean()) {
      b.append('.').append(rnd.nextInt(100_000));
    }
    if (rnd.nextInt(4) == 0) {
      b.append(rnd.nextBoolean() ? 'e' : 'E').append(new String[] {"", "+", "-"}[rnd.nextInt(3)])
          .append(rnd.nextInt(300));
    }
    return b.toString();
  }

  /** A JSON string literal: ASCII, Latin, CJK, emoji, every escape, surrogate pairs and lone surrogates as escapes. */
  private static String string(Random rnd, boolean shortName) {
    String[] parts = {"a", "llama-3-8b", " ", "é", "wörld", "日本語", "😀", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n",
        "\\r", "\\t", "\\u00e9", "\\u0041", "\\uD83D\\uDE00", "\\ud800", "\\uDFFF", "\\u0000", "}", "{", "[", "],",
        ":", ",", "\u007f", "lorem ipsum dolor sit amet, consectetur adipiscing elit "};
    StringBuilder b = new StringBuilder("\"");
    int n = shortName ? rnd.nextInt(4) : rnd.nextInt(rnd.nextInt(8) == 0 ? 60 : 12);
    for (int k = 0; k < n; k++) {
      b.append(parts[rnd.nextInt(parts.length)]);
    }
    return b.append('"').toString();
  }

  private static String ws(Random rnd) {
    return switch (rnd.nextInt(12)) {
      case 0 -> " ";
      case 1 -> "\n  ";
      case 2 -> "\t";
      case 3 -> "\r\n";
      default -> "";
    };
  }

  // Mutations.

  private static byte[] mutate(Random rnd, byte[] body) {
    int len = body.length;
    int at = rnd.nextInt(len);
    return switch (rnd.nextInt(17)) {
      case 0 -> { // a byte flipped to anything
        byte[] b = body.clone();
        b[at] = (byte) rnd.nextInt(256);
        yield b;
      }
      case 1 -> { // one bit flipped
        byte[] b = body.clone();
        b[at] ^= (byte) (1 << rnd.nextInt(8));
        yield b;
      }
      case 2 -> java.util.Arrays.copyOf(body, at); // truncated
      case 3 -> insert(body, at, utf8(new String[] {",", "{", "}", "[", "]", ":", "\"", "\\", " , ", ",}"}
          [rnd.nextInt(10)]));
      case 4 -> delete(body, at);
      case 5 -> insertAfterRootOpen(body, "\"model\":" + string(rnd, true) + ","); // duplicate keys
      case 6 -> insertAfterRootOpen(body, rnd.nextBoolean() ? "\"stream_options\":null,"
          : "\"stream_options\":{\"include_usage\":false},");
      case 7 -> insert(body, at, pick(rnd, new byte[][] {{(byte) 0xC0, (byte) 0xAF}, {(byte) 0xED, (byte) 0xA0,
          (byte) 0x80}, {(byte) 0xFF}, {(byte) 0x80}, {(byte) 0xE2, (byte) 0x82}, {(byte) 0xF4, (byte) 0x90,
          (byte) 0x80, (byte) 0x80}, {(byte) 0xF0, (byte) 0x9F, (byte) 0x98}, {(byte) 0xC3}})); // ill-formed UTF-8
      case 8 -> insertInString(rnd, body, new byte[] {(byte) rnd.nextInt(0x20)}); // raw control character
      case 9 -> insertInString(rnd, body, utf8(new String[] {"\\x", "\\u12", "\\u12G4", "\\", "\\U0041", "\\'",
          "\\u00e9", "\\uD800"}[rnd.nextInt(8)]));
      case 10 -> insertAfterRootOpen(body, "\"n\":" + new String[] {"01", "-", "-01", "1.", ".5", "+1", "1e", "1e+",
          "0x1F", "NaN", "Infinity", "-Infinity", "1.5e3", "-0", "0.0", "1E-0", "00", "-0.0e+00", "2.", "1ee2"}
          [rnd.nextInt(20)] + ",");
      case 11 -> insertAfterRootOpen(body, "\"l\":" + new String[] {"tru", "True", "nul", "falsey", "true1", "nulll",
          "'a'", "undefined", "truefalse", "[true,]", "[,1]", "{\"a\":1,}", "{\"a\"}", "{\"a\" 1}", "[1 2]",
          "/*c*/1", "[null]"}[rnd.nextInt(17)] + ",");
      case 12 -> concat(body, utf8(new String[] {" {}", "x", " \n", "\t", "}", "1", "\u0000", "[]", "//"}
          [rnd.nextInt(9)])); // after the root
      case 13 -> insertAfterRootOpen(body, "\"deep\":" + deep(rnd, RequestScanner.MAX_DEPTH - 3 + rnd.nextInt(5))
          + ",");
      case 14 -> insertAfterRootOpen(body, "\"fallbacks\":" + new String[] {"[\"a\",\"b\"]", "null", "[\"a\",1]",
          "[[\"a\"]]", "{}", "[]", "[\"\\u0061\"]", "true"}[rnd.nextInt(8)] + ",");
      // A byte order mark is left out: the offsets differ on purpose (RequestScannerTest).
      case 15 -> insert(body, 0, utf8(new String[] {"", " ", "[", "\"a\"", "1", "\u00a0"}[rnd.nextInt(6)]));
      default -> { // two mutations
        byte[] b = mutate(rnd, body);
        yield b.length == 0 ? b : mutate(rnd, b);
      }
    };
  }

  /** {@code levels} nested arrays or objects around a number; the body's root adds one level. */
  private static String deep(Random rnd, int levels) {
    StringBuilder open = new StringBuilder();
    StringBuilder close = new StringBuilder();
    for (int k = 0; k < levels; k++) {
      boolean object = rnd.nextInt(4) == 0;
      open.append(object ? "{\"k\":" : "[");
      close.insert(0, object ? "}" : "]");
    }
    return open + "0" + close;
  }

  private static byte[] insertInString(Random rnd, byte[] body, byte[] what) {
    List<Integer> quotes = new ArrayList<>();
    for (int k = 0; k < body.length; k++) {
      if (body[k] == '"') {
        quotes.add(k);
      }
    }
    return quotes.isEmpty() ? body : insert(body, quotes.get(rnd.nextInt(quotes.size())) + 1, what);
  }

  private static byte[] insertAfterRootOpen(byte[] body, String what) {
    for (int k = 0; k < body.length; k++) {
      if (body[k] == '{') {
        return insert(body, k + 1, utf8(what));
      }
    }
    return body;
  }

  private static byte[] insert(byte[] body, int at, byte[] what) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(body.length + what.length);
    out.write(body, 0, at);
    out.write(what, 0, what.length);
    out.write(body, at, body.length - at);
    return out.toByteArray();
  }

  private static byte[] delete(byte[] body, int at) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(body.length);
    out.write(body, 0, at);
    out.write(body, at + 1, body.length - at - 1);
    return out.toByteArray();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    return insert(a, a.length, b);
  }

  private static byte[] pick(Random rnd, byte[][] options) {
    return options[rnd.nextInt(options.length)];
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Everything but printable ASCII escaped (lone surrogates, NUL), so a report keeps it and one line per case. */
  private static String printable(String s) {
    StringBuilder b = new StringBuilder(s.length());
    s.chars().forEach(c -> b.append(c < 0x20 || c > 0x7E ? String.format("\\u%04x", c) : String.valueOf((char) c)));
    return b.toString();
  }

  private static String show(byte[] body) {
    String text = new String(body, StandardCharsets.UTF_8);
    return body.length > 600 ? text.substring(0, Math.min(text.length(), 600)) + "… (" + body.length + " bytes)"
        : text + " [hex " + HexFormat.of().formatHex(body) + "]";
  }
}
