package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class RequestScannerTest {

  private static RequestScanner scan(String body, int chunk) {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    RequestScanner s = new RequestScanner();
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
}
