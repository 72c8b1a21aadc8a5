package io.sluice.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;

/**
 * {@code /v1/messages/count_tokens} for a replica whose vLLM does not serve it (a build with the Messages API but
 * not its count route answers 404): Sluice asks the replica's {@code /tokenize} instead — which accepts chat
 * {@code messages} and applies the model's chat template (vllm-wire.md §1) — and answers Anthropic's
 * {@code {"input_tokens":N}} with its {@code count}. Not the relay path: a token count is a small request Sluice
 * answers itself, so here the request is parsed and a new body written, and only the head of the answer is read.
 * One per exchange, on its event loop.
 */
final class TokenCount {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final byte[] COUNT = "\"count\":".getBytes(StandardCharsets.US_ASCII);
  /** vLLM's TokenizeResponse begins with {@code count}: these first bytes are all that is read of it. */
  private static final int HEAD = 256;

  private final byte[] head = new byte[HEAD];
  private int headLen;

  /** The {@code /tokenize} body and where its {@code model} string literal sits (for the usual model splice). */
  record Request(ByteBuf body, int modelStart, int modelEnd) {}

  /**
   * The {@code /tokenize} request for an Anthropic count_tokens body (borrowed): {@code system} as the first
   * message, each message's text blocks joined (tool use and tool results as their JSON text), Anthropic tools as
   * chat tools. Null when the body is not such a request. The caller owns the result's body.
   */
  static Request tokenizeRequest(ByteBufAllocator alloc, ByteBuf anthropic, String model) {
    JsonNode in;
    try {
      in = JSON.readTree(anthropic.toString(StandardCharsets.UTF_8));
    } catch (Exception e) {
      return null;
    }
    if (in == null || !in.isObject() || !in.path("messages").isArray()) {
      return null;
    }
    ArrayNode messages = JSON.createArrayNode();
    JsonNode system = in.get("system");
    if (system != null && !system.isNull()) {
      String s = text(system);
      if (!s.isEmpty()) {
        messages.addObject().put("role", "system").put("content", s);
      }
    }
    for (JsonNode m : in.get("messages")) {
      messages.addObject().put("role", m.path("role").asText("user")).put("content", text(m.get("content")));
    }
    ObjectNode rest = JSON.createObjectNode();
    rest.set("messages", messages);
    JsonNode tools = in.get("tools");
    if (tools != null && tools.isArray() && !tools.isEmpty()) {
      ArrayNode out = rest.putArray("tools");
      for (JsonNode t : tools) {
        ObjectNode f = out.addObject().put("type", "function").putObject("function");
        f.put("name", t.path("name").asText());
        if (t.hasNonNull("description")) {
          f.put("description", t.get("description").asText());
        }
        f.set("parameters", t.path("input_schema"));
      }
    }
    byte[] modelLiteral;
    byte[] tail;
    try {
      modelLiteral = JSON.writeValueAsBytes(model);
      tail = JSON.writeValueAsBytes(rest);
    } catch (Exception e) {
      return null;
    }
    byte[] open = "{\"model\":".getBytes(StandardCharsets.US_ASCII);
    ByteBuf body = alloc.buffer(open.length + modelLiteral.length + tail.length);
    body.writeBytes(open).writeBytes(modelLiteral).writeByte(',').writeBytes(tail, 1, tail.length - 1);
    return new Request(body, open.length, open.length + modelLiteral.length);
  }

  /** A content field as text: a string, or the text of its blocks (others as their JSON). */
  private static String text(JsonNode content) {
    if (content == null || content.isNull()) {
      return "";
    }
    if (content.isTextual()) {
      return content.asText();
    }
    StringBuilder sb = new StringBuilder();
    if (content.isArray()) {
      for (JsonNode b : content) {
        if (sb.length() > 0) {
          sb.append('\n');
        }
        sb.append("text".equals(b.path("type").asText()) ? b.path("text").asText() : b.toString());
      }
    } else {
      sb.append(content);
    }
    return sb.toString();
  }

  /** Reads the first bytes of the {@code /tokenize} answer; borrows {@code chunk}. */
  void feed(ByteBuf chunk) {
    int n = Math.min(chunk.readableBytes(), HEAD - headLen);
    if (n > 0) {
      chunk.getBytes(chunk.readerIndex(), head, headLen, n);
      headLen += n;
    }
  }

  /** The answer's {@code count}, or -1 when its first bytes hold none. */
  long count() {
    outer:
    for (int i = 0; i + COUNT.length <= headLen; i++) {
      for (int j = 0; j < COUNT.length; j++) {
        if (head[i + j] != COUNT[j]) {
          continue outer;
        }
      }
      int k = i + COUNT.length;
      while (k < headLen && head[k] == ' ') {
        k++;
      }
      long v = 0;
      int digits = 0;
      while (k < headLen && head[k] >= '0' && head[k] <= '9' && digits < 18) {
        v = v * 10 + (head[k++] - '0');
        digits++;
      }
      return digits == 0 ? -1 : v;
    }
    return -1;
  }

  /** Anthropic's count_tokens answer; the caller owns it. */
  static ByteBuf answer(ByteBufAllocator alloc, long count) {
    byte[] b = ("{\"input_tokens\":" + count + "}").getBytes(StandardCharsets.US_ASCII);
    return alloc.buffer(b.length).writeBytes(b);
  }
}
