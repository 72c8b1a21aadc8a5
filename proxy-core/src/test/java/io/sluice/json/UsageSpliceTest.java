package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Asking vLLM for the usage chunk on the client's behalf: which bytes change, and that the result is right JSON. */
class UsageSpliceTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static RequestScanner scan(String body, int chunk) {
    RequestScanner s = new RequestScanner();
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < b.length; i += chunk) {
      ByteBuf buf = Unpooled.wrappedBuffer(b, i, Math.min(chunk, b.length - i));
      assertThat(s.feed(buf)).as(s.error()).isTrue();
      buf.release();
    }
    assertThat(s.end()).as(s.error()).isTrue();
    return s;
  }

  private static String apply(String body, UsageSplice sp) {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ByteBuf with = sp.bytes();
    String out = new String(b, 0, (int) sp.start(), StandardCharsets.UTF_8) + with.toString(StandardCharsets.UTF_8)
        + new String(b, (int) sp.end(), b.length - (int) sp.end(), StandardCharsets.UTF_8);
    assertThat(out.getBytes(StandardCharsets.UTF_8).length).as("delta").isEqualTo(b.length + sp.delta());
    return out;
  }

  /** The spliced body is the client's JSON with stream_options.include_usage true, and nothing else changed. */
  private static void assertAsksForUsage(String body) throws Exception {
    for (int chunk : new int[] {1, 2, 7, 4096}) {
      RequestScanner s = scan(body, chunk);
      UsageSplice sp = s.usageSplice();
      assertThat(sp).as("%s (chunk %s)", body, chunk).isNotNull();
      assertThat(s.clientAskedUsage()).isFalse();
      String out = apply(body, sp);
      JsonNode got = JSON.readTree(out);
      assertThat(got.path("stream_options").path("include_usage").asBoolean(false)).as(out).isTrue();
      ObjectNode expected = (ObjectNode) JSON.readTree(body);
      ObjectNode so = expected.get("stream_options") instanceof ObjectNode o ? o : expected.putObject("stream_options");
      so.put("include_usage", true);
      assertThat(got).as(out).isEqualTo(expected);
    }
  }

  @Test
  void noStreamOptionsGetsOneAppended() throws Exception {
    assertAsksForUsage("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi }\"}]}");
    assertAsksForUsage("{ \"model\" : \"m\" , \"stream\" : true }  ");
    assertAsksForUsage("{\"model\":\"m\",\"stream\":true,\"nested\":{\"a\":[{},{\"b\":{}}]}}");
  }

  @Test
  void nullStreamOptionsBecomesAnObject() throws Exception {
    assertAsksForUsage("{\"model\":\"m\",\"stream\":true,\"stream_options\":null,\"x\":1}");
  }

  @Test
  void includeUsageFalseOrNullBecomesTrue() throws Exception {
    assertAsksForUsage("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":false}}");
    assertAsksForUsage("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\": null ,\"o\":{}}}");
  }

  @Test
  void aClientThatAskedIsLeftAlone() {
    for (String body : new String[] {
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":{}}",
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"continuous_usage_stats\":true}}"}) {
      RequestScanner s = scan(body, 3);
      assertThat(s.usageSplice()).as(body).isNull();
      assertThat(s.clientAskedUsage()).as(body).isTrue();
    }
  }

  @Test
  void continuousUsageWithIncludeUsageFalseIsNotTouched() {
    // Turning include_usage on would put usage on every chunk the client gets: leave it, estimate instead.
    RequestScanner s = scan("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":false,"
        + "\"continuous_usage_stats\":true}}", 5);
    assertThat(s.usageSplice()).isNull();
    assertThat(s.clientAskedUsage()).isFalse();
  }

  @Test
  void aNonObjectStreamOptionsIsNeverDuplicated() {
    RequestScanner s = scan("{\"model\":\"m\",\"stream\":true,\"stream_options\":[1]}", 4);
    assertThat(s.usageSplice()).isNull();
    RequestScanner t = scan("{\"model\":\"m\",\"stream\":true,\"stream_options\":\"x\"}", 4);
    assertThat(t.usageSplice()).isNull();
  }
}
