package io.sluice.bench.fake;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/** One connection of the fake vLLM. Event loop only. */
final class FakeVllmHandler extends ChannelInboundHandlerAdapter {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);
  private static final String SSE_TYPE = "text/event-stream; charset=utf-8";

  private final FakeVllm fake;
  private ChannelHandlerContext ctx;
  private Stream stream;

  FakeVllmHandler(FakeVllm fake) {
    this.fake = fake;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    fake.connectionsAccepted.incrementAndGet();
    fake.openConnections.incrementAndGet();
    if (fake.faults.refuseConnections) {
      ctx.close();
      return;
    }
    ctx.fireChannelActive();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    fake.openConnections.decrementAndGet();
    if (stream != null && !stream.done) {
      stream.cancel();
      fake.aborted();
    }
    ctx.fireChannelInactive();
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (ctx.channel().isWritable() && stream != null && stream.pausedForWritability) {
      stream.pausedForWritability = false;
      stream.next();
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    ctx.close();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    FullHttpRequest req = (FullHttpRequest) msg;
    try {
      String body = req.content().toString(StandardCharsets.UTF_8);
      fake.record(new RecordedRequest(req.method().name(), req.uri(), req.headers().copy(), body, System.nanoTime()));
      route(req, body);
    } finally {
      req.release();
    }
  }

  private void route(FullHttpRequest req, String body) {
    String uri = req.uri();
    int q = uri.indexOf('?');
    String path = q >= 0 ? uri.substring(0, q) : uri;
    // vLLM's AuthenticationMiddleware guards only /v1 paths (vllm-wire.md §6).
    if (fake.apiKey != null && path.startsWith("/v1") && !authorized(req)) {
      send(HttpResponseStatus.UNAUTHORIZED, "{\"error\":\"Unauthorized\"}");
      return;
    }
    boolean get = req.method().equals(HttpMethod.GET);
    boolean post = req.method().equals(HttpMethod.POST);
    switch (path) {
      case "/health", "/ping" -> {
        if (fake.faults.healthStatus == 200) {
          sendEmpty();
        } else {
          respond(HttpResponseStatus.valueOf(fake.faults.healthStatus), new byte[0], null);
        }
      }
      case "/version" -> send(HttpResponseStatus.OK, "{\"version\":\"0.11.0\"}");
      case "/metrics" -> sendText(metrics());
      case "/v1/models" -> send(HttpResponseStatus.OK, models());
      case "/v1/chat/completions" -> {
        if (post) {
          generate(req, body, true);
        } else {
          methodNotAllowed();
        }
      }
      case "/v1/completions" -> {
        if (post) {
          generate(req, body, false);
        } else {
          methodNotAllowed();
        }
      }
      case "/v1/messages" -> {
        if (post) {
          messages(req, body);
        } else {
          methodNotAllowed();
        }
      }
      case "/v1/messages/count_tokens" -> {
        if (fake.faults.noCountTokens) {
          send(HttpResponseStatus.NOT_FOUND, "{\"detail\":\"Not Found\"}");
        } else if (post) {
          countTokens(body);
        } else {
          methodNotAllowed();
        }
      }
      case "/v1/embeddings" -> embeddings(body);
      case "/tokenize" -> tokenize(body);
      case "/score", "/v1/score" -> score(body);
      case "/detokenize" -> detokenize(body);
      case "/rerank", "/v1/rerank", "/v2/rerank" -> rerank(body);
      case "/v1/audio/transcriptions", "/v1/audio/translations" -> audio(req);
      case "/pooling" -> pooling(body);
      case "/classify" -> classify(body);
      case "/v1/responses" -> {
        if (post) {
          reply(fake.responses.create(body, header(req, "x-fake-tokens", fake.faults.tokens),
              r -> ctx.executor().schedule(r, Math.max(1, fake.faults.ttftNanos), TimeUnit.NANOSECONDS)));
        } else {
          methodNotAllowed();
        }
      }
      default -> {
        if (path.startsWith("/v1/responses/")) {
          responseById(req, path.substring("/v1/responses/".length()));
          return;
        }
        send(HttpResponseStatus.NOT_FOUND, "{\"detail\":\"Not Found\"}");
      }
    }
  }

  /** {@code GET /v1/responses/{id}} and {@code POST /v1/responses/{id}/cancel}; anything else as FastAPI answers. */
  private void responseById(FullHttpRequest req, String rest) {
    boolean cancel = rest.endsWith("/cancel");
    String id = cancel ? rest.substring(0, rest.length() - "/cancel".length()) : rest;
    if (id.isEmpty() || id.indexOf('/') >= 0) {
      send(HttpResponseStatus.NOT_FOUND, "{\"detail\":\"Not Found\"}");
    } else if (cancel && req.method().equals(HttpMethod.POST)) {
      reply(fake.responses.cancel(id));
    } else if (!cancel && req.method().equals(HttpMethod.GET)) {
      reply(fake.responses.retrieve(id));
    } else {
      methodNotAllowed();
    }
  }

  /** A Responses API answer: JSON, or SSE with one chunk per event (vLLM's StreamingResponse). */
  private void reply(FakeResponses.Reply r) {
    if (r.events() == null) {
      send(HttpResponseStatus.valueOf(r.status()), r.json());
      return;
    }
    HttpResponse res = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    res.headers().set(HttpHeaderNames.DATE, date()).set(HttpHeaderNames.SERVER, "uvicorn")
        .set(HttpHeaderNames.CONTENT_TYPE, SSE_TYPE).set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
    ctx.write(res);
    for (String e : r.events()) {
      ctx.write(new DefaultHttpContent(Unpooled.copiedBuffer(e, StandardCharsets.UTF_8)));
    }
    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
  }

  private boolean authorized(FullHttpRequest req) {
    String h = req.headers().get(HttpHeaderNames.AUTHORIZATION);
    return h != null && h.length() > 7 && h.regionMatches(true, 0, "Bearer ", 0, 7)
        && h.substring(7).equals(fake.apiKey);
  }

  private void methodNotAllowed() {
    send(HttpResponseStatus.METHOD_NOT_ALLOWED, "{\"detail\":\"Method Not Allowed\"}");
  }

  // ---- generation ---------------------------------------------------------------------------------------------

  private void generate(FullHttpRequest req, String body, boolean chat) {
    generate(req, body, chat, false);
  }

  /**
   * vLLM's Anthropic Messages API (vllm/entrypoints/anthropic/serving.py, see bench/ANTHROPIC-WIRE.md): the request
   * becomes a chat completion (streamed with usage on), its answer is converted — one JSON message, or the
   * {@code event:}-named SSE sequence. Errors in vLLM's Anthropic shape
   * ({@code {"type":"error","error":{"type":<vLLM's type>,"message":…}}}, api_router.py::translate_error_response).
   */
  private void messages(FullHttpRequest req, String body) {
    generate(req, body, true, true);
  }

  /** {@code /v1/messages/count_tokens}: {@code {"input_tokens":N}} (the fake counts words of the messages). */
  private void countTokens(String body) {
    JsonNode n;
    try {
      n = JSON.readTree(body);
    } catch (Exception e) {
      anthropicError(400, "BadRequestError", "JSON decode error");
      return;
    }
    if (fake.faults.status != 0) {
      anthropicError(fake.faults.status, errorType(fake.faults.status), "Injected fault: status " + fake.faults.status);
      return;
    }
    String model = n.path("model").asText("");
    if (!model.equals(fake.servedModel)) {
      anthropicError(404, "NotFoundError", "The model `" + model + "` does not exist.");
      return;
    }
    send(HttpResponseStatus.OK, "{\"input_tokens\":" + anthropicPrompt(n) + "}");
  }

  private static int anthropicPrompt(JsonNode n) {
    int p = promptTokens(n, true);
    JsonNode sys = n.get("system");
    if (sys != null && sys.isTextual() && !sys.asText().isBlank()) {
      p += sys.asText().trim().split("\\s+").length;
    }
    return p;
  }

  /**
   * The tool the fake "calls" on an Anthropic request with {@code tools} whose last message is not a tool result:
   * the first tool, with {@code "tok0"} for each property of its input schema. Null = answer with text.
   */
  private static String[] toolToCall(JsonNode n) {
    JsonNode tools = n.get("tools");
    if (tools == null || !tools.isArray() || tools.isEmpty()) {
      return null;
    }
    JsonNode msgs = n.path("messages");
    JsonNode lastMsg = msgs.isArray() && !msgs.isEmpty() ? msgs.get(msgs.size() - 1) : null;
    if (lastMsg != null && lastMsg.path("content").isArray()) {
      for (JsonNode block : lastMsg.path("content")) {
        if ("tool_result".equals(block.path("type").asText())) {
          return null;
        }
      }
    }
    JsonNode t = tools.get(0);
    ObjectNode args = JSON.createObjectNode();
    t.path("input_schema").path("properties").fieldNames().forEachRemaining(f -> args.put(f, "tok0"));
    return new String[] {t.path("name").asText("tool"), args.toString()};
  }

  /** vLLM's tool call ids: {@code chatcmpl-tool-<uuid hex>}. */
  private static String toolId() {
    return "chatcmpl-tool-" + hex32();
  }

  private void anthropicError(int status, String type, String message) {
    send(HttpResponseStatus.valueOf(status), "{\"type\":\"error\",\"error\":{\"type\":\"" + type + "\",\"message\":"
        + quote(message) + "}}");
  }

  private void generate(FullHttpRequest req, String body, boolean chat, boolean anthropic) {
    JsonNode n;
    try {
      n = JSON.readTree(body);
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error: " + e.getMessage().split("\n")[0], null);
      return;
    }
    if (n == null || !n.isObject()) {
      error(400, "BadRequestError", "Input should be a valid dictionary", null);
      return;
    }
    Faults f = fake.faults;
    if (f.status != 0) {
      if (anthropic) {
        anthropicError(f.status, errorType(f.status), "Injected fault: status " + f.status);
      } else {
        error(f.status, errorType(f.status), "Injected fault: status " + f.status, null);
      }
      return;
    }
    JsonNode modelNode = n.get("model");
    String model = modelNode == null || modelNode.isNull() ? fake.servedModel : modelNode.asText();
    if (!model.equals(fake.servedModel)) {
      if (anthropic) {
        anthropicError(404, "NotFoundError", "The model `" + model + "` does not exist.");
      } else {
        error(404, "NotFoundError", "The model `" + model + "` does not exist.", "model");
      }
      return;
    }
    if (anthropic && (!n.path("max_tokens").canConvertToInt() || n.path("max_tokens").asInt() <= 0)) {
      anthropicError(400, "BadRequestError", "max_tokens: a positive integer is required");
      return;
    }
    boolean streaming = n.path("stream").asBoolean(false);
    JsonNode so = n.get("stream_options");
    if (so != null && !so.isNull() && !streaming) {
      error(400, "BadRequestError", "Stream options can only be defined when `stream=True`.", null);
      return;
    }
    // include_usage defaults to true whenever stream_options is present (vllm-wire.md §2).
    boolean includeUsage = anthropic || (so != null && so.isObject() && so.path("include_usage").asBoolean(true));
    int tokens = header(req, "x-fake-tokens", f.tokens);
    boolean lengthCut = false;
    JsonNode max = n.has("max_completion_tokens") ? n.get("max_completion_tokens") : n.get("max_tokens");
    if (max != null && max.canConvertToInt() && max.asInt() < tokens) {
      tokens = Math.max(0, max.asInt());
      lengthCut = true;
    }
    int prompt = anthropic ? anthropicPrompt(n) : promptTokens(n, chat);
    if (f.maxModelLen > 0 && prompt > f.maxModelLen) {
      // vLLM's wording (entrypoints/openai/serving_engine.py, _validate_input), a 400 BadRequestError.
      error(400, "BadRequestError", "This model's maximum context length is " + f.maxModelLen + " tokens. However, "
          + "your request has " + prompt + " input tokens. Please reduce the length of the input messages.", null);
      return;
    }
    String rid = req.headers().get("x-request-id");
    String id = (chat ? "chatcmpl-" : "cmpl-") + (rid != null ? rid : hex32());
    long created = fake.createdNow();
    long ttft = TimeUnit.MILLISECONDS.toNanos(header(req, "x-fake-ttft-ms", -1));
    long itl = TimeUnit.MILLISECONDS.toNanos(header(req, "x-fake-itl-ms", -1));
    Stream s = new Stream(chat, id, created, prompt, tokens, lengthCut, includeUsage,
        ttft >= 0 ? ttft : f.ttftNanos, itl >= 0 ? itl : f.itlNanos, HttpUtil.isKeepAlive(req));
    s.anthropic = anthropic;
    if (anthropic) {
      s.tool = toolToCall(n);
    }
    fake.promptTokensTotal.addAndGet(prompt);
    if (fake.simulation != null && !anthropic) {
      simulate(s, n, chat, streaming);
      return;
    }
    if (streaming) {
      stream = s;
      s.start();
    } else {
      stream = s; // a client that leaves before the answer aborts it too
      s.startFull();
    }
  }

  /**
   * Simulation mode: {@code s} waits for a sequence slot; once admitted its first token comes after the prefill of
   * its uncached tokens, then one per the simulated decode interval. A client that leaves while it waits is removed
   * from the queue ({@link Stream#cancel}).
   */
  private void simulate(Stream s, JsonNode n, boolean chat, boolean streaming) {
    Simulation sim = fake.simulation;
    String t = promptText(n, chat).trim();
    String[] words = t.isEmpty() ? new String[0] : t.split("\\s+");
    s.itlNanos = sim.config.itlNanos();
    stream = s;
    s.seq = new Simulation.Seq(sim.blocks(words), s.prompt, s.tokens, ctx.executor(), prefill -> {
      if (s.done || !ctx.channel().isActive()) {
        sim.finished(s.seq);
        return;
      }
      s.ttftNanos = prefill;
      if (streaming) {
        s.start();
      } else {
        s.startFull();
      }
    });
    sim.submit(s.seq);
  }

  /** The prompt's text as {@link #promptTokens} reads it (contents joined by spaces). */
  private static String promptText(JsonNode n, boolean chat) {
    StringBuilder text = new StringBuilder();
    if (chat) {
      for (JsonNode m : n.path("messages")) {
        JsonNode c = m.get("content");
        if (c != null && c.isTextual()) {
          text.append(c.asText()).append(' ');
        } else if (c != null && c.isArray()) {
          for (JsonNode part : c) {
            text.append(part.path("text").asText("")).append(' ');
          }
        }
      }
    } else {
      JsonNode p = n.get("prompt");
      if (p != null && p.isArray()) {
        for (JsonNode x : p) {
          text.append(x.asText()).append(' ');
        }
      } else if (p != null) {
        text.append(p.asText());
      }
    }
    return text.toString();
  }

  private static int header(FullHttpRequest req, String name, int dflt) {
    String v = req.headers().get(name);
    if (v == null) {
      return dflt;
    }
    try {
      return Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      return dflt;
    }
  }

  private static int promptTokens(JsonNode n, boolean chat) {
    String t = promptText(n, chat).trim();
    return Math.max(1, t.isEmpty() ? 0 : t.split("\\s+").length);
  }

  /** One generation: streamed as SSE events, or answered as one JSON body at the end. */
  private final class Stream {
    final boolean chat;
    final String id;
    final long created;
    final int prompt;
    final int tokens;
    final boolean lengthCut;
    final boolean includeUsage;
    /** Not final: simulation mode sets them once the sequence is admitted. */
    long ttftNanos;
    long itlNanos;
    /** Simulation mode: this generation's sequence; null otherwise. */
    Simulation.Seq seq;
    /** {@link #start} or {@link #startFull} ran (counted in {@code running}). */
    boolean started;
    final boolean keepAlive;
    final byte[] head;
    /** vLLM's Anthropic conversion of the same generation (serving.py::message_stream_converter). */
    boolean anthropic;
    /** A tool-use turn instead of text: {name, arguments JSON}; null = text. */
    String[] tool;
    int sent;
    boolean done;
    boolean full;
    boolean pausedForWritability;
    ScheduledFuture<?> timer;

    Stream(boolean chat, String id, long created, int prompt, int tokens, boolean lengthCut, boolean includeUsage,
        long ttftNanos, long itlNanos, boolean keepAlive) {
      this.chat = chat;
      this.id = id;
      this.created = created;
      this.prompt = prompt;
      this.tokens = tokens;
      this.lengthCut = lengthCut;
      this.includeUsage = includeUsage;
      this.ttftNanos = ttftNanos;
      this.itlNanos = itlNanos;
      this.keepAlive = keepAlive;
      this.head = ("data: {\"id\":\"" + id + "\",\"object\":\"" + (chat ? "chat.completion.chunk" : "text_completion")
          + "\",\"created\":" + created + ",\"model\":" + quote(fake.servedModel) + ",\"choices\":[")
          .getBytes(StandardCharsets.UTF_8);
    }

    void start() {
      started = true;
      fake.streamsStarted.incrementAndGet();
      fake.running.incrementAndGet();
      HttpResponse res = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
      res.headers().set(HttpHeaderNames.DATE, date())
          .set(HttpHeaderNames.SERVER, "uvicorn")
          .set(HttpHeaderNames.CONTENT_TYPE, SSE_TYPE)
          .set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
      if (!keepAlive) {
        res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      }
      ctx.write(res);
      if (anthropic) {
        // The first chat chunk (the role) becomes message_start; its usage (continuous_usage_stats) gives the
        // input tokens. Pydantic's exclude_unset drops the message's defaulted "type" and "role".
        event(text("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"" + id
            + "\",\"content\":[],\"model\":" + quote(fake.servedModel) + ",\"stop_reason\":null,\"stop_sequence\":null,"
            + "\"usage\":{\"input_tokens\":" + prompt + ",\"output_tokens\":0}}}\n\n"));
      } else if (chat) {
        event(ByteBufs.concat(ctx, head, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
            + "\"logprobs\":null,\"finish_reason\":null}]}\n\n"));
      }
      ctx.flush();
      schedule(ttftNanos);
    }

    void startFull() {
      started = true;
      full = true;
      fake.running.incrementAndGet();
      schedule(ttftNanos + Math.max(0, tokens - 1) * itlNanos);
    }

    private void schedule(long nanos) {
      if (nanos <= 0) {
        next();
      } else {
        timer = ctx.executor().schedule(this::next, nanos, TimeUnit.NANOSECONDS);
      }
    }

    void cancel() {
      done = true;
      if (started) {
        fake.running.decrementAndGet();
      }
      if (timer != null) {
        timer.cancel(false);
      }
      simulated();
    }

    /** Simulation mode: the sequence's slot and blocks are free again. */
    private void simulated() {
      if (seq != null) {
        fake.simulation.finished(seq);
      }
    }

    /** Emits the next token(s); with no delay, as many as the socket takes, flushing in small batches. */
    void next() {
      timer = null;
      if (done || !ctx.channel().isActive()) {
        return;
      }
      if (full) {
        finishFull();
        return;
      }
      if (tool != null) {
        // One tool_use block: its start (input {}), the arguments as one input_json_delta, its stop.
        event(text("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"content_block\":{\"type\":"
            + "\"tool_use\",\"id\":\"" + toolId() + "\",\"name\":" + quote(tool[0]) + ",\"input\":{}},\"index\":0}\n\n"));
        event(text("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":"
            + "\"input_json_delta\",\"partial_json\":" + quote(tool[1]) + "},\"index\":0}\n\n"));
        event(text("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"));
        event(text("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
            + "\"usage\":{\"input_tokens\":" + prompt + ",\"output_tokens\":" + tokens + "}}\n\n"));
        event(text("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        fake.generationTokensTotal.addAndGet(tokens);
        end(true);
        return;
      }
      Faults f = fake.faults;
      int batch = 0;
      while (sent < tokens) {
        if (sent == f.resetAfterTokens) {
          ctx.flush();
          ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
          ctx.close();
          return;
        }
        if (sent == f.closeAfterTokens) {
          ctx.flush();
          ctx.close();
          return;
        }
        if (sent == f.stallAfterTokens) {
          ctx.flush();
          return;
        }
        if (sent == f.errorAfterTokens && anthropic) {
          // The chat stream's error chunk does not parse as a chunk: the converter's except branch.
          event(text("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"internal_error\","
              + "\"message\":\"Injected mid-stream engine error\"}}\n\n"));
          end(false);
          return;
        }
        if (sent == f.errorAfterTokens) {
          event(ByteBufs.concat(ctx, ("data: {\"error\":{\"message\":\"Injected mid-stream engine error\","
              + "\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n").getBytes(StandardCharsets.UTF_8)));
          end(false);
          return;
        }
        boolean last = sent == tokens - 1;
        event(tokenEvent(sent, last));
        sent++;
        fake.tokensWritten.incrementAndGet();
        fake.generationTokensTotal.incrementAndGet();
        if (itlNanos > 0 && sent < tokens) {
          ctx.flush();
          schedule(itlNanos);
          return;
        }
        if (++batch == 8) {
          ctx.flush();
          batch = 0;
        }
        if (!ctx.channel().isWritable() && sent < tokens) {
          ctx.flush();
          pausedForWritability = true; // resumed by channelWritabilityChanged, like uvicorn's await send()
          return;
        }
      }
      if (anthropic) {
        if (tokens > 0) {
          event(text("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"));
        }
        event(text("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""
            + (lengthCut ? "max_tokens" : "end_turn") + "\"},\"usage\":{\"input_tokens\":" + prompt
            + ",\"output_tokens\":" + tokens + "}}\n\n"));
        event(text("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        end(true);
        return;
      }
      if (tokens == 0 && chat) {
        event(ByteBufs.concat(ctx, head, "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\""
            + (lengthCut ? "length" : "stop") + "\",\"stop_reason\":null}]}\n\n"));
      }
      if (includeUsage) {
        event(ByteBufs.concat(ctx, head, "],\"usage\":{\"prompt_tokens\":" + prompt + ",\"total_tokens\":"
            + (prompt + tokens) + ",\"completion_tokens\":" + tokens + "}}\n\n"));
      }
      end(true);
    }

    private ByteBuf tokenEvent(int i, boolean last) {
      if (anthropic) {
        String delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":"
            + "\"text_delta\",\"text\":\"tok" + i + " \"},\"index\":0}\n\n";
        return text(i == 0 ? "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"content_block\":"
            + "{\"type\":\"text\",\"text\":\"\"},\"index\":0}\n\n" + delta : delta);
      }
      String finish = last ? "\"" + (lengthCut ? "length" : "stop") + "\"" : "null";
      String choice = chat
          ? "{\"index\":0,\"delta\":{\"content\":\"tok" + i + " \"},\"logprobs\":null,\"finish_reason\":" + finish
              + (last ? ",\"stop_reason\":null" : "") + "}]}\n\n"
          : "{\"index\":0,\"text\":\"tok" + i + " \",\"logprobs\":null,\"finish_reason\":" + finish
              + ",\"stop_reason\":null}]}\n\n";
      return ByteBufs.concat(ctx, head, choice);
    }

    private void end(boolean completed) {
      ctx.write(new DefaultHttpContent(Unpooled.wrappedBuffer(DONE)));
      ChannelFutureListener after = keepAlive ? ChannelFutureListener.CLOSE_ON_FAILURE : ChannelFutureListener.CLOSE;
      ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(after);
      done = true;
      fake.running.decrementAndGet();
      if (completed) {
        fake.streamsCompleted.incrementAndGet();
      }
      stream = null;
      simulated();
    }

    private void event(ByteBuf b) {
      ctx.write(new DefaultHttpContent(b));
    }

    private ByteBuf text(String s) {
      return ByteBufs.concat(ctx, s.getBytes(StandardCharsets.UTF_8), "");
    }

    private void finishFull() {
      done = true;
      fake.running.decrementAndGet();
      stream = null;
      simulated();
      Faults f = fake.faults;
      if (f.resetAfterTokens >= 0) {
        ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
        ctx.close();
        return;
      }
      StringBuilder text = new StringBuilder();
      for (int i = 0; i < tokens; i++) {
        text.append("tok").append(i).append(' ');
      }
      fake.generationTokensTotal.addAndGet(tokens);
      if (anthropic && tool != null) {
        send(HttpResponseStatus.OK, "{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
            + "{\"type\":\"tool_use\",\"id\":\"" + toolId() + "\",\"name\":" + quote(tool[0]) + ",\"input\":" + tool[1]
            + "}],\"model\":" + quote(fake.servedModel) + ",\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":"
            + prompt + ",\"output_tokens\":" + tokens + "}}");
        return;
      }
      if (anthropic) {
        // messages_full_converter, dumped with exclude_none (api_router.py).
        send(HttpResponseStatus.OK, "{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\",\"content\":["
            + (tokens > 0 ? "{\"type\":\"text\",\"text\":" + quote(text.toString()) + "}" : "") + "],\"model\":"
            + quote(fake.servedModel) + ",\"stop_reason\":\"" + (lengthCut ? "max_tokens" : "end_turn")
            + "\",\"usage\":{\"input_tokens\":" + prompt + ",\"output_tokens\":" + tokens + "}}");
        return;
      }
      String finish = lengthCut ? "length" : "stop";
      String usage = "\"usage\":{\"prompt_tokens\":" + prompt + ",\"total_tokens\":" + (prompt + tokens)
          + ",\"completion_tokens\":" + tokens + ",\"prompt_tokens_details\":null}";
      String json = chat
          ? "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":" + created + ",\"model\":"
              + quote(fake.servedModel) + ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
              + "\"content\":" + quote(text.toString()) + ",\"reasoning_content\":null,\"tool_calls\":[]},"
              + "\"logprobs\":null,\"finish_reason\":\"" + finish + "\",\"stop_reason\":null}]," + usage
              + ",\"prompt_logprobs\":null,\"kv_transfer_params\":null}"
          : "{\"id\":\"" + id + "\",\"object\":\"text_completion\",\"created\":" + created + ",\"model\":"
              + quote(fake.servedModel) + ",\"choices\":[{\"index\":0,\"text\":" + quote(text.toString())
              + ",\"logprobs\":null,\"finish_reason\":\"" + finish + "\",\"stop_reason\":null,"
              + "\"prompt_logprobs\":null}]," + usage + ",\"kv_transfer_params\":null}";
      send(HttpResponseStatus.OK, json);
    }
  }

  // ---- other routes -------------------------------------------------------------------------------------------

  private void embeddings(String body) {
    JsonNode n;
    try {
      n = JSON.readTree(body);
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error", null);
      return;
    }
    if (fake.faults.status != 0) {
      error(fake.faults.status, errorType(fake.faults.status), "Injected fault", null);
      return;
    }
    JsonNode in = n.path("input");
    int count = in.isArray() ? in.size() : 1;
    String text = in.isArray() ? in.toString() : in.asText("");
    int prompt = Math.max(1, text.split("\\s+").length);
    ObjectNode o = JSON.createObjectNode();
    o.put("id", "embd-" + hex32()).put("object", "list").put("created", fake.createdNow()).put("model", fake.servedModel);
    ArrayNode data = o.putArray("data");
    for (int i = 0; i < count; i++) {
      ObjectNode d = data.addObject();
      d.put("index", i).put("object", "embedding");
      ArrayNode v = d.putArray("embedding");
      for (int k = 0; k < 4; k++) {
        v.add(0.125 * (k + 1));
      }
    }
    ObjectNode u = o.putObject("usage");
    u.put("prompt_tokens", prompt).put("total_tokens", prompt).put("completion_tokens", 0).putNull("prompt_tokens_details");
    send(HttpResponseStatus.OK, o.toString());
  }

  private void tokenize(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      // A chat request: the words of its messages' text, as the chat-template count stands in for them here.
      String text = n.has("prompt") ? n.get("prompt").asText() : messageText(n.path("messages"));
      String[] words = text.trim().isEmpty() ? new String[0] : text.trim().split("\\s+");
      ObjectNode o = JSON.createObjectNode();
      o.put("count", words.length).put("max_model_len", 8192);
      ArrayNode t = o.putArray("tokens");
      for (int i = 0; i < words.length; i++) {
        t.add(1000 + i);
      }
      o.putNull("token_strs");
      send(HttpResponseStatus.OK, o.toString());
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error", null);
    }
  }

  private static String messageText(JsonNode messages) {
    StringBuilder sb = new StringBuilder();
    for (JsonNode m : messages) {
      JsonNode c = m.get("content");
      if (c != null && c.isTextual()) {
        sb.append(c.asText()).append(' ');
      } else if (c != null && c.isArray()) {
        for (JsonNode part : c) {
          sb.append(part.path("text").asText("")).append(' ');
        }
      }
    }
    return sb.toString();
  }

  /**
   * vLLM's score API (serving_score.py): {@code text_1} against {@code text_2} (a string or a list), one score per
   * pair, in {@code ScoreResponse}'s shape. The scores are a deterministic stand-in.
   */
  private void score(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      JsonNode t2 = n.path("text_2");
      int pairs = t2.isArray() ? t2.size() : 1;
      ObjectNode o = JSON.createObjectNode();
      o.put("id", "score-" + Long.toHexString(System.nanoTime()));
      o.put("object", "list");
      o.put("created", fake.created > 0 ? fake.created : System.currentTimeMillis() / 1000);
      o.put("model", fake.servedModel);
      ArrayNode data = o.putArray("data");
      for (int i = 0; i < pairs; i++) {
        data.addObject().put("index", i).put("object", "score").put("score", 0.9 - 0.1 * i);
      }
      int prompt = n.path("text_1").asText("").split("\\s+").length + pairs * 8;
      o.putObject("usage").put("prompt_tokens", prompt).put("total_tokens", prompt).put("completion_tokens", 0)
          .putNull("prompt_tokens_details");
      send(HttpResponseStatus.OK, o.toString());
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error", null);
    }
  }

  /**
   * vLLM's rerank (Jina/Cohere style, serving_score.py): results by relevance, and a usage of
   * {@code {"total_tokens":N}} only (RerankUsage).
   */
  private void rerank(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      if (fake.faults.status != 0) {
        error(fake.faults.status, errorType(fake.faults.status), "Injected fault", null);
        return;
      }
      JsonNode docs = n.path("documents");
      int count = docs.isArray() ? docs.size() : 0;
      int topN = n.path("top_n").asInt(count);
      ObjectNode o = JSON.createObjectNode();
      o.put("id", "rerank-" + hex32()).put("model", fake.servedModel);
      int total = n.path("query").asText("").split("\\s+").length;
      ArrayNode results = o.putArray("results");
      for (int i = 0; i < count; i++) {
        total += docs.get(i).asText("").split("\\s+").length;
      }
      for (int i = 0; i < Math.min(topN, count); i++) {
        ObjectNode r = results.addObject();
        r.put("index", i);
        r.putObject("document").put("text", docs.get(i).asText(""));
        r.put("relevance_score", 0.9 - 0.1 * i);
      }
      o.putObject("usage").put("total_tokens", total);
      send(HttpResponseStatus.OK, o.toString());
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error", null);
    }
  }

  /**
   * vLLM's audio routes (serving_transcription.py; FastAPI {@code Form()}): a multipart/form-data body with
   * {@code file}, {@code model} and options. Non-stream: {@code {"text":…,"usage":{"type":"duration",…}}}. With
   * {@code stream=true}: {@code transcription.chunk} events, a usage chunk when {@code stream_include_usage=true},
   * then {@code [DONE]}. The text names the file's size and CRC-32, so a test can see the bytes arrived intact.
   */
  private void audio(FullHttpRequest req) {
    String ct = req.headers().get(HttpHeaderNames.CONTENT_TYPE, "");
    int b = ct.indexOf("boundary=");
    if (!ct.startsWith("multipart/form-data") || b < 0) {
      error(400, "BadRequestError", "Expected multipart/form-data", null);
      return;
    }
    String boundary = ct.substring(b + 9).replace("\"", "").trim();
    String all = req.content().toString(StandardCharsets.ISO_8859_1);
    java.util.Map<String, String> fields = new java.util.HashMap<>();
    byte[] file = null;
    for (String part : all.split("\r\n--" + java.util.regex.Pattern.quote(boundary))) {
      String p = part.startsWith("--" + boundary) ? part.substring(2 + boundary.length()) : part;
      int head = p.indexOf("\r\n\r\n");
      if (p.startsWith("--") || head < 0) {
        continue;
      }
      String headers = p.substring(0, head);
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("name=\"([^\"]*)\"").matcher(headers);
      if (!m.find()) {
        continue;
      }
      String value = p.substring(head + 4);
      if (headers.contains("filename=")) {
        file = value.getBytes(StandardCharsets.ISO_8859_1);
      } else {
        fields.put(m.group(1), new String(value.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8));
      }
    }
    if (file == null) {
      error(400, "BadRequestError", "Field required: file", "file");
      return;
    }
    String model = fields.get("model");
    if (model != null && !model.equals(fake.servedModel)) {
      error(404, "NotFoundError", "The model `" + model + "` does not exist.", "model");
      return;
    }
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(file);
    String text = "audio " + file.length + " bytes crc " + Long.toHexString(crc.getValue());
    if (!"true".equals(fields.get("stream"))) {
      send(HttpResponseStatus.OK, "{\"text\":" + quote(text) + ",\"usage\":{\"type\":\"duration\",\"seconds\":1}}");
      return;
    }
    // As vLLM's StreamingResponse: chunked, one chunk per event.
    String id = "trsc-" + hex32();
    long created = fake.createdNow();
    HttpResponse res = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
    res.headers().set(HttpHeaderNames.DATE, date()).set(HttpHeaderNames.SERVER, "uvicorn")
        .set(HttpHeaderNames.CONTENT_TYPE, SSE_TYPE).set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
    ctx.write(res);
    String[] words = text.split(" ");
    for (String w : words) {
      sseEvent("{\"id\":\"" + id + "\",\"object\":\"transcription.chunk\",\"created\":" + created + ",\"model\":"
          + quote(fake.servedModel) + ",\"choices\":[{\"delta\":{\"content\":" + quote(w + " ") + "}}]}");
    }
    if ("true".equals(fields.get("stream_include_usage"))) {
      sseEvent("{\"id\":\"" + id + "\",\"object\":\"transcription.chunk\",\"created\":" + created + ",\"model\":"
          + quote(fake.servedModel) + ",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"total_tokens\":"
          + (10 + words.length) + ",\"completion_tokens\":" + words.length + "}}");
    }
    sseEvent("[DONE]");
    ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
  }

  private void sseEvent(String data) {
    ctx.write(new DefaultHttpContent(Unpooled.copiedBuffer("data: " + data + "\n\n", StandardCharsets.UTF_8)));
  }

  /** vLLM's /pooling (serving_pooling.py): one pooled vector per input, usage as UsageInfo. */
  private void pooling(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      JsonNode in = n.has("input") ? n.get("input") : n.path("messages");
      int count = in.isArray() && n.has("input") ? in.size() : 1;
      int prompt = Math.max(1, in.toString().split("\\s+").length);
      ObjectNode o = JSON.createObjectNode();
      o.put("id", "pool-" + hex32()).put("object", "list").put("created", fake.createdNow())
          .put("model", fake.servedModel);
      ArrayNode data = o.putArray("data");
      for (int i = 0; i < count; i++) {
        ObjectNode d = data.addObject().put("index", i).put("object", "pooling");
        ArrayNode v = d.putArray("data");
        for (int k = 0; k < 4; k++) {
          v.add(0.25 * (k + 1));
        }
      }
      o.putObject("usage").put("prompt_tokens", prompt).put("total_tokens", prompt).put("completion_tokens", 0)
          .putNull("prompt_tokens_details");
      send(HttpResponseStatus.OK, o.toString());
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error", null);
    }
  }

  /** vLLM's /classify (serving_classification.py): label and probabilities per input, usage as UsageInfo. */
  private void classify(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      JsonNode in = n.path("input");
      int count = in.isArray() ? in.size() : 1;
      int prompt = Math.max(1, in.toString().split("\\s+").length);
      ObjectNode o = JSON.createObjectNode();
      o.put("id", "classify-" + hex32()).put("object", "list").put("created", fake.createdNow())
          .put("model", fake.servedModel);
      ArrayNode data = o.putArray("data");
      for (int i = 0; i < count; i++) {
        ObjectNode d = data.addObject().put("index", i).put("label", "positive");
        d.putArray("probs").add(0.2).add(0.8);
        d.put("num_classes", 2);
      }
      o.putObject("usage").put("prompt_tokens", prompt).put("total_tokens", prompt).put("completion_tokens", 0)
          .putNull("prompt_tokens_details");
      send(HttpResponseStatus.OK, o.toString());
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error", null);
    }
  }

  private void detokenize(String body) {
    try {
      JsonNode n = JSON.readTree(body);
      StringBuilder sb = new StringBuilder();
      for (JsonNode t : n.path("tokens")) {
        sb.append("tok").append(t.asInt() - 1000).append(' ');
      }
      send(HttpResponseStatus.OK, JSON.createObjectNode().put("prompt", sb.toString().trim()).toString());
    } catch (Exception e) {
      error(400, "BadRequestError", "JSON decode error", null);
    }
  }

  private String models() {
    long t = fake.createdNow();
    return "{\"object\":\"list\",\"data\":[{\"id\":" + quote(fake.servedModel) + ",\"object\":\"model\",\"created\":" + t
        + ",\"owned_by\":\"vllm\",\"root\":" + quote(fake.servedModel) + ",\"parent\":null,\"max_model_len\":8192,"
        + "\"permission\":[{\"id\":\"modelperm-" + hex32() + "\",\"object\":\"model_permission\",\"created\":" + t
        + ",\"allow_create_engine\":false,\"allow_sampling\":true,\"allow_logprobs\":true,\"allow_search_indices\":false,"
        + "\"allow_view\":true,\"allow_fine_tuning\":false,\"organization\":\"*\",\"group\":null,\"is_blocking\":false}]}]}";
  }

  private String metrics() {
    if (fake.simulation != null) {
      return simulatedMetrics();
    }
    String l = "{engine=\"0\",model_name=" + quote(fake.servedModel) + "}";
    Faults f = fake.faults;
    return "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        + "# TYPE vllm:num_requests_running gauge\n"
        + "vllm:num_requests_running" + l + " " + (double) fake.running.get() + "\n"
        + "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
        + "# TYPE vllm:num_requests_waiting gauge\n"
        + "vllm:num_requests_waiting" + l + " " + (double) f.numRequestsWaiting + "\n"
        + "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
        + "# TYPE vllm:kv_cache_usage_perc gauge\n"
        + "vllm:kv_cache_usage_perc" + l + " " + f.kvCacheUsagePerc + "\n"
        + "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n"
        + "# TYPE vllm:gpu_cache_usage_perc gauge\n"
        + "vllm:gpu_cache_usage_perc" + l + " " + f.kvCacheUsagePerc + "\n"
        + "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
        + "# TYPE vllm:prompt_tokens_total counter\n"
        + "vllm:prompt_tokens_total" + l + " " + (double) fake.promptTokensTotal.get() + "\n"
        + "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
        + "# TYPE vllm:generation_tokens_total counter\n"
        + "vllm:generation_tokens_total" + l + " " + (double) fake.generationTokensTotal.get() + "\n"
        + "# HELP vllm:request_success_total Count of successfully processed requests.\n"
        + "# TYPE vllm:request_success_total counter\n"
        + "vllm:request_success_total{engine=\"0\",finished_reason=\"stop\",model_name=" + quote(fake.servedModel)
        + "} " + (double) fake.streamsCompleted.get() + "\n"
        + "vllm:request_success_total{engine=\"0\",finished_reason=\"abort\",model_name=" + quote(fake.servedModel)
        + "} " + (double) fake.streamsAborted.get() + "\n";
  }

  /**
   * Simulation mode's {@code /metrics}: the same families, from the simulation, plus vLLM v1's prefix-cache counters
   * ({@code vllm/v1/metrics/loggers.py}: {@code vllm:prefix_cache_queries} and {@code vllm:prefix_cache_hits}, in
   * tokens; prometheus_client exposes a counter's sample with {@code _total}).
   */
  private String simulatedMetrics() {
    Simulation sim = fake.simulation;
    String l = "{engine=\"0\",model_name=" + quote(fake.servedModel) + "}";
    double kv = sim.kvCacheUsage();
    return "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        + "# TYPE vllm:num_requests_running gauge\n"
        + "vllm:num_requests_running" + l + " " + (double) sim.running() + "\n"
        + "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
        + "# TYPE vllm:num_requests_waiting gauge\n"
        + "vllm:num_requests_waiting" + l + " " + (double) sim.waiting() + "\n"
        + "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
        + "# TYPE vllm:kv_cache_usage_perc gauge\n"
        + "vllm:kv_cache_usage_perc" + l + " " + kv + "\n"
        + "# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.\n"
        + "# TYPE vllm:prefix_cache_queries_total counter\n"
        + "vllm:prefix_cache_queries_total" + l + " " + (double) sim.prefixCacheQueries() + "\n"
        + "# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.\n"
        + "# TYPE vllm:prefix_cache_hits_total counter\n"
        + "vllm:prefix_cache_hits_total" + l + " " + (double) sim.prefixCacheHits() + "\n"
        + "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
        + "# TYPE vllm:prompt_tokens_total counter\n"
        + "vllm:prompt_tokens_total" + l + " " + (double) fake.promptTokensTotal.get() + "\n"
        + "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
        + "# TYPE vllm:generation_tokens_total counter\n"
        + "vllm:generation_tokens_total" + l + " " + (double) fake.generationTokensTotal.get() + "\n";
  }

  // ---- responses ----------------------------------------------------------------------------------------------

  /** vLLM ≥ 0.10.1's error shape; {@code code} is the HTTP status as an int. */
  private void error(int status, String type, String message, String param) {
    send(HttpResponseStatus.valueOf(status), "{\"error\":{\"message\":" + quote(message) + ",\"type\":\"" + type
        + "\",\"param\":" + (param == null ? "null" : quote(param)) + ",\"code\":" + status + "}}");
  }

  private static String errorType(int status) {
    return switch (status) {
      case 400 -> "BadRequestError";
      case 404 -> "NotFoundError";
      case 500 -> "InternalServerError";
      case 501 -> "NotImplementedError";
      case 503 -> "ServiceUnavailableError";
      default -> "Error";
    };
  }

  private void send(HttpResponseStatus status, String json) {
    respond(status, json.getBytes(StandardCharsets.UTF_8), HttpHeaderValues.APPLICATION_JSON.toString());
  }

  private void sendText(String text) {
    respond(HttpResponseStatus.OK, text.getBytes(StandardCharsets.UTF_8), "text/plain; version=0.0.4; charset=utf-8");
  }

  private void sendEmpty() {
    respond(HttpResponseStatus.OK, new byte[0], null);
  }

  private void respond(HttpResponseStatus status, byte[] body, String contentType) {
    FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(body));
    res.headers().set(HttpHeaderNames.DATE, date()).set(HttpHeaderNames.SERVER, "uvicorn")
        .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
    if (contentType != null) {
      res.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
    }
    ctx.writeAndFlush(res);
  }

  private static String date() {
    return DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(ZoneOffset.UTC));
  }

  private static String quote(String s) {
    try {
      return JSON.writeValueAsString(s);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static String hex32() {
    ThreadLocalRandom r = ThreadLocalRandom.current();
    return String.format("%016x%016x", r.nextLong(), r.nextLong());
  }
}
