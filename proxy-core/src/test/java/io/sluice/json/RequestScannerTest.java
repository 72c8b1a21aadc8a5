package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class RequestScannerTest {

  private static RequestScanner scan(String body, int chunk) {
    return scan(new RequestScanner(), body.getBytes(StandardCharsets.UTF_8), chunk);
  }

  private static RequestScanner scan(RequestScanner s, byte[] bytes, int chunk) {
    for (int i = 0; i < bytes.length; i += chunk) {
      ByteBuf b = Unpooled.wrappedBuffer(bytes, i, Math.min(chunk, bytes.length - i));
      s.feed(b);
      b.release();
    }
    s.end();
    s.close();
    return s;
  }

  @Test
  void aChannelsScannerHandsTheSameModelStringOnWhileTheModelRepeats() {
    RequestScanner reused = new RequestScanner();
    String first = scan(reused, "{\"model\":\"llama-3\"}".getBytes(StandardCharsets.UTF_8), 5).model();
    reused.reset();
    String again = scan(reused, "{\"stream\":true,\"model\":\"llama\\u002d3\"}".getBytes(StandardCharsets.UTF_8), 3)
        .model();
    assertThat(again).isEqualTo("llama-3").isSameAs(first);
    reused.reset();
    String other = scan(reused, "{\"model\":\"llama-4\"}".getBytes(StandardCharsets.UTF_8), 7).model();
    assertThat(other).isEqualTo("llama-4");
    reused.reset();
    assertThat(scan(reused, "{\"model\":\"llama\"}".getBytes(StandardCharsets.UTF_8), 2).model()).isEqualTo("llama");
    reused.reset();
    assertThat(scan(reused, "{\"model\":\"é-3\"}".getBytes(StandardCharsets.UTF_8), 1).model()).isEqualTo("é-3");
  }

  @Test
  void findsModelAndStreamAtTopLevelOnly() {
    String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"model\":\"inner\"}],"
        + "\"meta\":{\"stream\":false},\"model\":\"llama-3\",\"stream\":true}";
    for (int chunk : new int[] {1, 3, 7, 1000}) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("chunk size %s", chunk).isNull();
      assertThat(s.model()).isEqualTo("llama-3");
      assertThat(s.stream()).isTrue();
      assertThat(body.substring((int) s.modelStart(), (int) s.modelEnd()))
          .as("offsets cover exactly the string literal, quotes included (chunk %s)", chunk)
          .isEqualTo("\"llama-3\"");
    }
  }

  @Test
  void offsetsCountBytesNotCharsAndCoverEscapes() {
    String body = "{\"messages\":\"héllo wörld\",\"model\":\"a\\\"b\\u00e9\"}";
    RequestScanner s = scan(body, 5);
    assertThat(s.model()).isEqualTo("a\"bé");
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    String literal = new String(bytes, (int) s.modelStart(), (int) (s.modelEnd() - s.modelStart()),
        StandardCharsets.UTF_8);
    assertThat(literal).isEqualTo("\"a\\\"b\\u00e9\"");
  }

  @Test
  void escapedFieldNameCountsAsModel() {
    // Python's json unescapes keys too: "mod\u0065l" is "model".
    RequestScanner s = scan("{\"mod\\u0065l\":\"x\"}", 4);
    assertThat(s.model()).isEqualTo("x");
  }

  @ParameterizedTest(name = "{0} → {1}")
  @CsvSource(delimiter = '|', value = {
      "{\"model\":\"a\",\"model\":\"b\"}|more than one top-level \"model\"",
      "{\"model\":1}|\"model\" must be a string",
      "{\"model\":[\"a\"]}|\"model\" must be a string",
      "{\"model\":\"a\",\"stream\":\"yes\"}|\"stream\" must be a boolean",
      "[1,2]|must be a JSON object",
      "{\"model\":\"a\"|unexpected end of input",
      "{\"model\":\"a\"} {}|unexpected content after",
      "{\"model\":tru}|Malformed JSON",
      "''|Request body is empty",
  })
  void refusesBadBodiesWithAMessageThatSaysWhy(String body, String expected) {
    RequestScanner s = scan(body, 3);
    assertThat(s.error()).contains(expected);
  }

  /** Issue 15 §2: the Responses API's previous_response_id (top level only) and where the root object closes. */
  @Test
  void findsTheTopLevelPreviousResponseIdAndTheRootEnd() {
    String body = "{\"model\":\"m\",\"input\":[{\"previous_response_id\":\"inner\"}],"
        + "\"metadata\":{\"previous_response_id\":\"meta\"},\"previous_response_id\":\"resp_abc\"} ";
    for (int chunk : new int[] {1, 2, 7, 1000}) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("chunk size %s", chunk).isNull();
      assertThat(s.previousResponseId()).as("chunk size %s", chunk).isEqualTo("resp_abc");
      assertThat(s.rootEnd()).isEqualTo(body.lastIndexOf('}'));
    }
    assertThat(scan("{\"model\":\"m\"}", 3).previousResponseId()).isNull();
    assertThat(scan("{\"model\":\"m\",\"previous_response_id\":null}", 3).previousResponseId()).isNull();
    assertThat(scan("{\"previous_response_id\":\"a\",\"model\":\"m\",\"previous_response_id\":\"b\"}", 3)
        .previousResponseId()).as("repeated: the last, as Python's json").isEqualTo("b");
    RequestScanner reused = new RequestScanner();
    scan(reused, "{\"model\":\"m\",\"previous_response_id\":\"x\"}".getBytes(StandardCharsets.UTF_8), 4);
    reused.reset();
    assertThat(scan(reused, "{\"model\":\"m\"}".getBytes(StandardCharsets.UTF_8), 4).previousResponseId())
        .as("forgotten on reset").isNull();
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "{\"model\":\"m\",\"max_tokens\":256}|256",
      "{\"max_completion_tokens\":1024,\"model\":\"m\"}|1024",
      "{\"model\":\"m\",\"max_output_tokens\":0}|0",
      "{\"max_tokens\":10,\"max_completion_tokens\":300,\"model\":\"m\"}|300",
      "{\"model\":\"m\",\"max_tokens\":null}|-1",
      "{\"model\":\"m\",\"max_tokens\":12.5}|-1",
      "{\"model\":\"m\",\"max_tokens\":1e3}|-1",
      "{\"model\":\"m\",\"max_tokens\":-5}|-1",
      "{\"model\":\"m\",\"max_tokens\":\"64\"}|-1",
      "{\"model\":\"m\",\"max_tokens\":[64]}|-1",
      "{\"model\":\"m\",\"messages\":[{\"max_tokens\":64}],\"extra\":{\"max_tokens\":9}}|-1",
      "{\"model\":\"m\",\"max_tokens\":99999999999999999999999}|1099511627776",
      "{\"model\":\"m\"}|-1"})
  void readsTheOutputTokenCapAsATopLevelInteger(String body, long expected) {
    // Issue 20 §3: the budget reservation's worst case; the largest of the three names, only plain integers.
    for (int chunk : new int[] {1, 2, 7, 1000}) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("chunk size %s", chunk).isNull();
      assertThat(s.maxTokens()).as("chunk size %s", chunk).isEqualTo(expected);
      assertThat(s.model()).isEqualTo("m");
    }
    RequestScanner reused = new RequestScanner();
    scan(reused, "{\"model\":\"m\",\"max_tokens\":7}".getBytes(StandardCharsets.UTF_8), 4);
    reused.reset();
    assertThat(scan(reused, "{\"model\":\"m\"}".getBytes(StandardCharsets.UTF_8), 4).maxTokens())
        .as("forgotten on reset").isEqualTo(-1);
  }

  @Test
  void findsTheTopLevelUserTheEndUserOnly() {
    // Issue 14 §4: the end user whose budget applies is the body's top-level "user" (OpenAI's field, LiteLLM's customer).
    String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"user\":\"inner\"}],"
        + "\"metadata\":{\"user\":\"meta\"},\"model\":\"m\",\"user\":\"cust-\\u00e9 1\"}";
    for (int chunk : new int[] {1, 2, 5, 1000}) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("chunk size %s", chunk).isNull();
      assertThat(s.user()).as("chunk size %s", chunk).isEqualTo("cust-é 1");
      assertThat(s.model()).isEqualTo("m");
    }
    assertThat(scan("{\"model\":\"m\"}", 3).user()).as("absent").isNull();
    assertThat(scan("{\"user\":\"a\",\"model\":\"m\",\"user\":\"b\"}", 3).user())
        .as("repeated: the last, as Python's json").isEqualTo("b");
    RequestScanner notString = scan("{\"user\":42,\"model\":\"m\"}", 3);
    assertThat(notString.user()).as("not a string: no end user").isNull();
    assertThat(notString.error()).as("and no scanner error (vLLM validates the type)").isNull();
    assertThat(scan("{\"user\":{\"id\":\"x\"},\"model\":\"m\"}", 3).user()).isNull();
    RequestScanner reused = new RequestScanner();
    scan(reused, "{\"model\":\"m\",\"user\":\"x\"}".getBytes(StandardCharsets.UTF_8), 4);
    reused.reset();
    assertThat(scan(reused, "{\"model\":\"m\"}".getBytes(StandardCharsets.UTF_8), 4).user())
        .as("forgotten on reset").isNull();
  }

  @Test
  void absentModelIsNotAnErrorOfTheScanner() {
    RequestScanner s = scan("{\"stream\":null}", 2);
    assertThat(s.error()).isNull();
    assertThat(s.model()).isNull();
    assertThat(s.stream()).isFalse();
  }

  /** LiteLLM's per-request fallbacks: a top-level list of names, at any chunking; anything else is an error. */
  @Test
  void findsTopLevelFallbacks() {
    String body = "{\"model\":\"a\",\"metadata\":{\"fallbacks\":[\"inner\"]},\"fallbacks\":[\"b\",\"c\"],\"x\":1}";
    for (int chunk = 1; chunk <= body.length(); chunk++) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).isNull();
      assertThat(s.fallbacks()).as("chunk %d", chunk).containsExactly("b", "c");
    }
    assertThat(scan("{\"model\":\"a\"}", 4).fallbacks()).isNull();
    assertThat(scan("{\"model\":\"a\",\"fallbacks\":null}", 4).fallbacks()).isNull();
    assertThat(scan("{\"model\":\"a\",\"fallbacks\":\"b\"}", 4).error()).contains("must be a list");
    assertThat(scan("{\"model\":\"a\",\"fallbacks\":[{\"b\":1}]}", 4).error()).contains("must be a list");
    assertThat(scan("{\"model\":\"a\",\"fallbacks\":[1]}", 4).error()).contains("must be a list");
  }

  /** LiteLLM's per-request context_window_fallbacks, as a list of names, kept apart from the fallbacks. */
  @Test
  void findsTopLevelContextWindowFallbacksBesideTheFallbacks() {
    String body = "{\"model\":\"a\",\"context_window_fallbacks\":[\"long\",\"longer\"],\"fallbacks\":[\"b\"]}";
    for (int chunk = 1; chunk <= body.length(); chunk++) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("chunk %d", chunk).isNull();
      assertThat(s.contextWindowFallbacks()).as("chunk %d", chunk).containsExactly("long", "longer");
      assertThat(s.fallbacks()).as("chunk %d", chunk).containsExactly("b");
    }
    assertThat(scan("{\"model\":\"a\"}", 4).contextWindowFallbacks()).isNull();
    assertThat(scan("{\"model\":\"a\",\"context_window_fallbacks\":null}", 4).contextWindowFallbacks()).isNull();
    assertThat(scan("{\"model\":\"a\",\"context_window_fallbacks\":{\"a\":[\"b\"]}}", 4).error())
        .contains("\"context_window_fallbacks\" must be a list");
    assertThat(scan("{\"model\":\"a\",\"context_window_fallbacks\":[[\"b\"]]}", 4).error())
        .contains("\"context_window_fallbacks\" must be a list");
    assertThat(scan(body, 3).contextWindowFallbacksRange()).as("names only: no range to read").isNull();
  }

  /** LiteLLM's router form of context_window_fallbacks: not an error; its byte range is kept for the caller. */
  @Test
  void keepsTheRangeOfContextWindowFallbacksInLiteLlmsRouterForm() {
    String list = "[{\"a\": [\"long\", \"x\"]}, {\"*\": [\"any\"]}]";
    String body = "{\"model\":\"a\",\"context_window_fallbacks\":" + list + ",\"user\":\"u\"}";
    for (int chunk = 1; chunk <= body.length(); chunk++) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("chunk %d", chunk).isNull();
      long[] r = s.contextWindowFallbacksRange();
      assertThat(r).as("chunk %d", chunk).isNotNull();
      assertThat(body.substring((int) r[0], (int) r[1])).isEqualTo(list);
      assertThat(s.user()).isEqualTo("u");
      assertThat(s.model()).isEqualTo("a");
    }
  }

  /** RFC 8259 strictly, whatever the chunking: what Jackson refused (and a trailing comma, which it did not always). */
  @ParameterizedTest
  @ValueSource(strings = {
      "{\"a\":1,}", "{\"a\":[1,]}", "{,}", "{\"a\":[,1]}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}",
      "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":NaN}", "{\"a\":Infinity}", "{'a':1}", "{\"a\":'b'}",
      "{\"a\":1/*c*/}", "{\"a\":\"x\ny\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12G4\"}", "{\"a\":tRue}",
      "{\"a\":nul}", "{\"a\":[1}", "{\"a\":{]}", "{\"a\":1}}", "{\"a\":1}x", "{\"a\":1} {}", "{\"a\"\u0000:1}"})
  void refusesWhatRfc8259DoesNotAllowAtEveryChunking(String body) {
    for (int chunk = 1; chunk <= body.length(); chunk++) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("%s in chunks of %d", body, chunk).isNotNull();
      assertThat(s.invalidUtf8()).isFalse();
    }
  }

  @Test
  void errorsSayWhatIsWrongAndAtWhichByte() {
    assertThat(scan("{\"model\":\"a\",}", 4).error())
        .isEqualTo("Malformed JSON in request body: a trailing comma before '}', found '}' at byte 13.");
    assertThat(scan("{\"model\":\"a\",\"n\":012}", 3).error())
        .isEqualTo("Malformed JSON in request body: a number with a leading zero, found '1' at byte 18.");
    assertThat(scan("{\"model\":\"a\tb\"}", 3).error()).contains("control character 0x09").contains("at byte 11");
    assertThat(scan("{\"model\":\"a\"", 3).error()).contains("unexpected end of input at byte 12");
  }

  /** Chunks may end anywhere: inside an escape, a UTF-8 sequence, a number, a literal, a name. */
  @Test
  void decodesTheModelAcrossEveryChunkBoundary() {
    String body = "{\"n\":-12.5e+3,\"st\\u0072eam\":true,\"model\":\"llama-\\u00e9-日本-😀-\\ud83d\\ude00-\\\"q\\\"\"}";
    for (int chunk = 1; chunk <= body.length(); chunk++) {
      RequestScanner s = scan(body, chunk);
      assertThat(s.error()).as("chunk %d", chunk).isNull();
      assertThat(s.model()).isEqualTo("llama-é-日本-😀-😀-\"q\"");
      assertThat(s.stream()).isTrue();
    }
  }

  /** Lone surrogates in \\u escapes are kept as the chars they name, as Jackson did (Python's json does too). */
  @Test
  void keepsALoneSurrogateEscapeAsJacksonDid() {
    assertThat(scan("{\"model\":\"a\\ud800b\"}", 2).model()).isEqualTo("a\ud800b");
  }

  /** Jackson refused numbers over 1000 digits; skipped numbers cost nothing here, so the body limit bounds them. */
  @Test
  void hasNoOwnLimitOnNumberLength() {
    RequestScanner s = scan("{\"model\":\"a\",\"n\":" + "9".repeat(5000) + ".5e1}", 64);
    assertThat(s.error()).isNull();
    assertThat(s.model()).isEqualTo("a");
  }

  /** RFC 8259 §8.1 lets a parser ignore a leading byte order mark; offsets still count its three bytes. */
  @Test
  void skipsALeadingByteOrderMarkAndCountsItInOffsets() {
    byte[] body = ("\uFEFF{\"model\":\"a\"}").getBytes(StandardCharsets.UTF_8);
    for (int chunk = 1; chunk <= body.length; chunk++) {
      RequestScanner s = scan(new RequestScanner(), body, chunk);
      assertThat(s.error()).as("chunk %d", chunk).isNull();
      assertThat(s.modelStart()).isEqualTo(12);
      assertThat(s.modelEnd()).isEqualTo(15);
    }
    byte[] bad = ("\uFEFF{\"model\":\"a\\u00e9" + "\"}").getBytes(StandardCharsets.UTF_8);
    bad[bad.length - 3] = (byte) 0xC0; // inside the string: an overlong lead byte after the mark
    assertThat(scan(new RequestScanner(), bad, 5).invalidUtf8()).as("validated after the mark").isTrue();
    assertThat(scan(new RequestScanner(), new byte[] {(byte) 0xEF, (byte) 0xBB, '{', '}'}, 1).error())
        .contains("byte order mark cut short");
  }

  @Test
  void resetForgetsTheLastBody() {
    RequestScanner s = new RequestScanner();
    scan(s, "{\"model\":\"a\",\"stream\":true,\"fallbacks\":[\"b\"],\"stream_options\":null}"
        .getBytes(StandardCharsets.UTF_8), 3);
    assertThat(s.fallbacks()).containsExactly("b");
    s.reset();
    scan(s, "{\"model\":\"a\",\"model\":\"b\"}".getBytes(StandardCharsets.UTF_8), 2);
    assertThat(s.duplicateModel()).isTrue();
    s.reset();
    scan(s, "{\"stream\":false, \"model\":\"c\"}".getBytes(StandardCharsets.UTF_8), 5);
    assertThat(s.error()).isNull();
    assertThat(s.model()).isEqualTo("c");
    assertThat(s.modelStart()).isEqualTo(25);
    assertThat(s.stream()).isFalse();
    assertThat(s.fallbacks()).isNull();
    assertThat(s.duplicateModel()).isFalse();
    assertThat(s.usageSplice()).isEqualTo(new UsageSplice(28, 28, UsageSplice.Kind.APPEND_FIELD));
  }

  /** Issue 18: a reused scanner allocates nothing per request but the model String (the Jackson one: ~1.15 KB). */
  @Test
  void aReusedScannerAllocatesOnlyTheModelString() {
    byte[] bytes = ("{\"messages\":[{\"role\":\"system\",\"content\":\"You are helpful.\"},{\"role\":\"user\","
        + "\"content\":\"" + "lorem ipsum dolor sit amet ".repeat(20) + "\"}],\"model\":\"llama-3-8b\",\"stream\":true,"
        + "\"stream_options\":{\"include_usage\":false},\"max_tokens\":256,\"temperature\":0.7}")
        .getBytes(StandardCharsets.UTF_8);
    // Wrapped, not allocator-made: the paranoid leak detector would record (and allocate for) every read.
    ByteBuf body = Unpooled.wrappedBuffer(java.nio.ByteBuffer.allocateDirect(bytes.length).put(bytes).flip());
    try {
      RequestScanner s = new RequestScanner();
      com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
      long tid = Thread.currentThread().getId();
      int rounds = 5_000;
      long before = 0;
      for (int pass = 0; pass < 2; pass++) { // the first pass warms up
        before = threads.getThreadAllocatedBytes(tid);
        for (int k = 0; k < rounds; k++) {
          s.reset();
          s.feed(body);
          s.end();
        }
      }
      long perRequest = (threads.getThreadAllocatedBytes(tid) - before) / rounds;
      assertThat(s.model()).isEqualTo("llama-3-8b");
      assertThat(perRequest).as("bytes allocated per request").isLessThanOrEqualTo(64);
    } finally {
      body.release();
    }
  }
}
