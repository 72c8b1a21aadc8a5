package io.sluice.bench.fake;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * vLLM's stateful Responses API as one replica serves it (read at vLLM's main branch of 2026-11,
 * {@code vllm/entrypoints/openai/responses/api_router.py}, {@code protocol.py}, {@code serving.py}; the commits and
 * notes are in {@code bench/VLLM-RESPONSES.md}): {@code POST /v1/responses} (JSON or SSE), {@code GET /v1/responses/{id}} and
 * {@code POST /v1/responses/{id}/cancel}. The store is this replica's own, in memory, as vLLM's (with
 * {@code VLLM_ENABLE_RESPONSES_API_STORE=1}): a {@code previous_response_id} or an id made by another replica is
 * "not found" here — which is what a gateway that routes such requests at random turns into random 404s.
 *
 * <p>What it models: the response's {@code id} is the request's {@code request_id} (vLLM's default
 * {@code resp_<uuid hex>} when absent); with {@code previous_response_id} the prompt is the previous response's
 * conversation (its input and output) plus the new input, so {@code usage.input_tokens} grows turn by turn;
 * {@code store: false} keeps nothing; {@code background: true} (needs {@code store}) answers {@code queued} at once
 * and completes after {@link Faults#ttftNanos} unless cancelled. There is no {@code DELETE} route in vLLM: FastAPI
 * answers 405, as here. Thread-safe (one store per fake, shared by its connections).
 */
final class FakeResponses {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A stored response: its JSON and the conversation's length in words (what a follow-up's prompt starts with). */
  private record Stored(ObjectNode response, int conversationWords) {
  }

  /** What the handler writes: a JSON body with its status, or SSE events (each one chunk) with status 200. */
  record Reply(int status, String json, List<String> events) {
    static Reply json(int status, String json) {
      return new Reply(status, json, null);
    }
  }

  private final FakeVllm fake;
  private final Map<String, Stored> store = new ConcurrentHashMap<>();

  FakeResponses(FakeVllm fake) {
    this.fake = fake;
  }

  /** How many responses this replica holds. */
  int stored() {
    return store.size();
  }

  /** Whether this replica holds {@code id}. */
  boolean holds(String id) {
    return store.containsKey(id);
  }

  /**
   * {@code POST /v1/responses}.
   *
   * @param tokens  output tokens to generate
   * @param later   runs a background response's completion after the fake's time to first token
   */
  Reply create(String body, int tokens, java.util.function.Consumer<Runnable> later) {
    JsonNode n;
    try {
      n = JSON.readTree(body);
    } catch (Exception e) {
      return error(400, "BadRequestError", "JSON decode error", null);
    }
    if (n == null || !n.isObject()) {
      return error(400, "BadRequestError", "Input should be a valid dictionary", null);
    }
    JsonNode modelNode = n.get("model");
    String model = modelNode == null || modelNode.isNull() ? fake.servedModel : modelNode.asText();
    if (!model.equals(fake.servedModel)) {
      return error(404, "NotFoundError", "The model `" + model + "` does not exist.", "model");
    }
    if (!n.has("input")) {
      return error(400, "BadRequestError", "input: Field required", "input");
    }
    boolean store = n.path("store").asBoolean(true);
    boolean background = n.path("background").asBoolean(false);
    if (background && !store) {
      return error(400, "BadRequestError", "background can only be used when `store` is true", null);
    }
    String previous = n.hasNonNull("previous_response_id") ? n.get("previous_response_id").asText() : null;
    Stored prev = null;
    if (previous != null) {
      prev = this.store.get(previous);
      if (prev == null) {
        return notFound(previous);
      }
    }
    // Python's json keeps the last of repeated names: Jackson's tree does the same.
    String id = n.hasNonNull("request_id") ? n.get("request_id").asText() : "resp_" + hex32();
    int input = words(n.get("input")) + (n.hasNonNull("instructions") ? words(n.get("instructions")) : 0);
    int prompt = Math.max(1, input + (prev == null ? 0 : prev.conversationWords()));
    JsonNode max = n.get("max_output_tokens");
    if (max != null && max.canConvertToInt() && max.asInt() < tokens) {
      tokens = Math.max(0, max.asInt());
    }
    long created = fake.createdNow();
    ObjectNode r = response(n, id, created, previous, max);
    String itemId = "msg_" + hex32();
    String text = text(tokens);
    if (background) {
      r.put("status", "queued");
      Stored s = new Stored(r, prompt + tokens);
      this.store.put(id, s);
      int t = tokens;
      later.accept(() -> {
        synchronized (r) {
          if (!"queued".equals(r.path("status").asText()) && !"in_progress".equals(r.path("status").asText())) {
            return; // cancelled meanwhile
          }
          complete(r, itemId, text, prompt, t);
        }
        fake.generationTokensTotal.addAndGet(t);
      });
      return Reply.json(200, r.toString());
    }
    fake.promptTokensTotal.addAndGet(prompt);
    fake.generationTokensTotal.addAndGet(tokens);
    if (!n.path("stream").asBoolean(false)) {
      complete(r, itemId, text, prompt, tokens);
      if (store) {
        this.store.put(id, new Stored(r, prompt + tokens));
      }
      return Reply.json(200, r.toString());
    }
    List<String> events = new ArrayList<>();
    int[] seq = {0};
    r.put("status", "in_progress");
    events.add(event("response.created", seq, JSON.createObjectNode().set("response", r.deepCopy())));
    events.add(event("response.in_progress", seq, JSON.createObjectNode().set("response", r.deepCopy())));
    ObjectNode item = JSON.createObjectNode().put("id", itemId);
    item.putArray("content");
    item.put("role", "assistant").put("status", "in_progress").put("type", "message");
    events.add(event("response.output_item.added", seq, JSON.createObjectNode().<ObjectNode>set("item", item)
        .put("output_index", 0)));
    events.add(event("response.content_part.added", seq, JSON.createObjectNode().put("content_index", 0)
        .put("item_id", itemId).put("output_index", 0).set("part", part(""))));
    for (int i = 0; i < tokens; i++) {
      ObjectNode d = JSON.createObjectNode().put("content_index", 0).put("delta", "tok" + i + " ")
          .put("item_id", itemId);
      d.putArray("logprobs");
      events.add(event("response.output_text.delta", seq, d.put("output_index", 0)));
    }
    ObjectNode done = JSON.createObjectNode().put("content_index", 0).put("item_id", itemId);
    done.putArray("logprobs");
    events.add(event("response.output_text.done", seq, done.put("output_index", 0).put("text", text)));
    events.add(event("response.content_part.done", seq, JSON.createObjectNode().put("content_index", 0)
        .put("item_id", itemId).put("output_index", 0).set("part", part(text))));
    complete(r, itemId, text, prompt, tokens);
    events.add(event("response.output_item.done", seq, JSON.createObjectNode()
        .<ObjectNode>set("item", r.get("output").get(0).deepCopy()).put("output_index", 0)));
    events.add(event("response.completed", seq, JSON.createObjectNode().set("response", r)));
    if (store) {
      this.store.put(id, new Stored(r, prompt + tokens));
    }
    return new Reply(200, null, events);
  }

  /** {@code GET /v1/responses/{id}} (the stored response as JSON; vLLM's {@code stream=true} replay is not modelled). */
  Reply retrieve(String id) {
    if (!id.startsWith("resp")) {
      return invalidId(id);
    }
    Stored s = store.get(id);
    if (s == null) {
      return notFound(id);
    }
    synchronized (s.response()) {
      return Reply.json(200, s.response().toString());
    }
  }

  /** {@code POST /v1/responses/{id}/cancel}: only a background response still queued or running can be. */
  Reply cancel(String id) {
    if (!id.startsWith("resp")) {
      return invalidId(id);
    }
    Stored s = store.get(id);
    if (s == null) {
      return notFound(id);
    }
    synchronized (s.response()) {
      String status = s.response().path("status").asText();
      if (!"queued".equals(status) && !"in_progress".equals(status)) {
        return error(400, "invalid_request_error", "Cannot cancel a synchronous response.", "response_id");
      }
      s.response().put("status", "cancelled");
      return Reply.json(200, s.response().toString());
    }
  }

  private ObjectNode response(JsonNode n, String id, long created, String previous, JsonNode max) {
    ObjectNode r = JSON.createObjectNode();
    r.put("id", id).put("created_at", created).putNull("incomplete_details");
    r.set("instructions", n.hasNonNull("instructions") ? n.get("instructions") : r.nullNode());
    r.putNull("metadata");
    r.put("model", fake.servedModel).put("object", "response");
    r.putArray("output");
    r.put("parallel_tool_calls", true).put("temperature", 1.0).put("tool_choice", "auto");
    r.putArray("tools");
    r.put("top_p", 1.0).put("background", n.path("background").asBoolean(false))
        .put("max_output_tokens", max != null && max.canConvertToInt() ? max.asInt() : 4096).putNull("max_tool_calls");
    if (previous == null) {
      r.putNull("previous_response_id");
    } else {
      r.put("previous_response_id", previous);
    }
    r.putNull("prompt").putNull("reasoning").put("service_tier", "auto").put("status", "in_progress").putNull("text")
        .putNull("top_logprobs").put("truncation", "disabled").putNull("usage");
    if (n.hasNonNull("user")) {
      r.put("user", n.get("user").asText());
    } else {
      r.putNull("user");
    }
    r.putNull("input_messages").putNull("output_messages");
    return r;
  }

  private static void complete(ObjectNode r, String itemId, String text, int prompt, int tokens) {
    ArrayNode output = r.putArray("output");
    ObjectNode msg = output.addObject().put("id", itemId);
    msg.putArray("content").add(part(text));
    msg.put("role", "assistant").put("status", "completed").put("type", "message");
    r.put("status", "completed");
    ObjectNode usage = r.putObject("usage").put("input_tokens", prompt);
    ObjectNode in = usage.putObject("input_tokens_details").put("cached_tokens", 0);
    in.putArray("input_tokens_per_turn");
    in.putArray("cached_tokens_per_turn");
    usage.put("output_tokens", tokens);
    ObjectNode out = usage.putObject("output_tokens_details").put("reasoning_tokens", 0).put("tool_output_tokens", 0);
    out.putArray("output_tokens_per_turn");
    out.putArray("tool_output_tokens_per_turn");
    usage.put("total_tokens", prompt + tokens);
  }

  private static ObjectNode part(String text) {
    ObjectNode p = JSON.createObjectNode();
    p.putArray("annotations");
    return p.put("text", text).put("type", "output_text").putNull("logprobs");
  }

  /** One SSE event as vLLM's {@code _convert_stream_to_sse_events} writes it: {@code event:} then {@code data:}. */
  private static String event(String type, int[] seq, ObjectNode data) {
    data.put("sequence_number", seq[0]++).put("type", type);
    return "event: " + type + "\ndata: " + data + "\n\n";
  }

  private static String text(int tokens) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < tokens; i++) {
      sb.append("tok").append(i).append(' ');
    }
    return sb.toString();
  }

  /** Words of a string input, or of every text in a list of input items. */
  private static int words(JsonNode input) {
    if (input == null || input.isNull()) {
      return 0;
    }
    if (input.isTextual()) {
      String t = input.asText().trim();
      return t.isEmpty() ? 0 : t.split("\\s+").length;
    }
    int w = 0;
    for (JsonNode item : input) {
      JsonNode c = item.get("content");
      if (c != null && c.isTextual()) {
        w += words(c);
      } else if (c != null && c.isArray()) {
        for (JsonNode part : c) {
          w += words(part.get("text"));
        }
      }
    }
    return w;
  }

  private Reply notFound(String id) {
    return error(404, "invalid_request_error", "Response with id '" + id + "' not found.", "response_id");
  }

  private Reply invalidId(String id) {
    return error(400, "invalid_request_error", "Invalid 'response_id': '" + id + "'. Expected an ID that begins with "
        + "'resp'.", "response_id");
  }

  private static Reply error(int status, String type, String message, String param) {
    ObjectNode e = JSON.createObjectNode();
    e.putObject("error").put("message", message).put("type", type).put("param", param).put("code", status);
    return Reply.json(status, e.toString());
  }

  private static String hex32() {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    return String.format("%016x%016x", r.nextLong(), r.nextLong());
  }
}
