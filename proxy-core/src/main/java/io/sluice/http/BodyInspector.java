package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import io.sluice.json.RequestScanner;
import io.sluice.routing.Deployment;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.ModelAccess;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;

/**
 * For model-routed LLM routes (after {@link AuthHandler}): gathers the request body as the chunks that arrived
 * (retained, never copied; the guard bounds the total), finds the top-level {@code model} and {@code stream} with
 * {@link RequestScanner} as each chunk arrives, picks a deployment of that model group, and — when the replica's
 * model name differs — splices just the {@code model} string literal. The exchange then goes on to the relay with
 * {@link Exchange#body} set. Bad bodies → 400 that says what is wrong; unknown model → 400 as LiteLLM words it.
 *
 * <p>Pipeline position ({@link GatewayInitializer}): body — after management, before the relay. Owns the request body
 * until the exchange leaves it (then {@link Exchange#body}), the model lookup and the body edits' offsets.
 */
final class BodyInspector extends ChannelInboundHandlerAdapter {
  /** Chooses a replica explicitly on {@code /vllm/*}: its {@code model_info.id} (e.g. to scrape its /metrics). */
  static final io.netty.util.AsciiString X_SLUICE_DEPLOYMENT = io.netty.util.AsciiString.cached("x-sluice-deployment");

  private final RegistryHolder registry;
  private final io.sluice.routing.PassThroughTargets targets;
  private Exchange current;
  /** The current request's scanner ({@link #reusable}), or null when its body is not scanned. */
  private RequestScanner scanner;
  /** In place of {@link #scanner} on the multipart routes (audio). */
  private io.sluice.json.MultipartScanner multipart;
  /** One per channel, reset for each request: scanning allocates nothing per request but what it finds. */
  private final RequestScanner reusable = new RequestScanner();
  private ByteBuf body;
  private boolean passThroughMode;
  /** Ask replicas for the usage chunk of streams whose clients did not (token accounting is on). */
  private final boolean meterStreams;
  /** {@code sluice_settings.cache_isolation}: the tenants' {@code cache_salt}s; null = off. */
  private final CacheSalts salts;

  BodyInspector(RegistryHolder registry, io.sluice.routing.PassThroughTargets targets) {
    this(registry, targets, false, null);
  }

  BodyInspector(RegistryHolder registry, io.sluice.routing.PassThroughTargets targets, boolean meterStreams,
      CacheSalts salts) {
    this.registry = registry;
    this.targets = targets;
    this.meterStreams = meterStreams;
    this.salts = salts;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      reset();
      if (ex.route.routeClass == Route.RouteClass.PASSTHROUGH) {
        current = ex;
        passThroughMode = true;
        // /vllm/* routes by the body's model when it is a JSON object naming a model group; configured endpoints
        // relay the body untouched.
        scanner = ex.route == Route.VLLM ? fresh() : null;
        return;
      }
      if (ex.route.routeClass != Route.RouteClass.LLM) {
        ctx.fireChannelRead(ex);
        return;
      }
      current = ex;
      passThroughMode = false;
      if (ex.route.multipart()) {
        byte[] boundary = io.sluice.json.MultipartScanner.boundary(
            ex.request.headers().get(io.netty.handler.codec.http.HttpHeaderNames.CONTENT_TYPE));
        if (boundary == null) {
          current = null;
          ex.fail(ProxyError.BAD_REQUEST, ex.path + " takes multipart/form-data (the audio file and a \"model\" "
              + "field): send Content-Type: multipart/form-data; boundary=…");
          return;
        }
        multipart = new io.sluice.json.MultipartScanner(boundary);
        return;
      }
      // Prompt hashing only for a strategy that routes by it, and only where a prompt's KV cache can be reused.
      reusable.hashPrompt(registry.get().keyed()
          && (ex.route == Route.CHAT_COMPLETIONS || ex.route == Route.COMPLETIONS));
      // A stored response's route has no body to scan (GET, DELETE, an empty POST): its id names the replica.
      scanner = ex.route == Route.RESPONSE_BY_ID ? null : fresh();
      // The body ends with its LastHttpContent message, which always follows the head (EMPTY_LAST_CONTENT when there
      // is no body). Not ex.requestComplete: after an async key lookup the guard has already seen the end while the
      // chunks are still on their way here from the auth step.
      return;
    }
    if (current != null && msg instanceof HttpContent content) {
      onContent(ctx, content);
      return;
    }
    ctx.fireChannelRead(msg);
  }

  /** Takes ownership of {@code content}. */
  private void onContent(ChannelHandlerContext ctx, HttpContent content) {
    ByteBuf data = content.content();
    boolean last = content instanceof LastHttpContent;
    if (!data.isReadable()) {
      data.release();
    } else {
      if (body == null) {
        body = data;
      } else {
        CompositeByteBuf composite;
        if (body instanceof CompositeByteBuf c) {
          composite = c;
        } else {
          composite = ctx.alloc().compositeBuffer(Integer.MAX_VALUE);
          composite.addComponent(true, body);
          body = composite;
        }
        composite.addComponent(true, data);
      }
      if (multipart != null && !multipart.feed(data)) {
        Exchange ex = current;
        String why = multipart.error();
        reset();
        ex.fail(ProxyError.BAD_REQUEST, why);
        return;
      }
      if (scanner != null && !scanner.feed(data)) {
        if (passThroughMode && !scanner.invalidUtf8() && !scanner.duplicateModel()) {
          scanner = null; // not JSON, or not an object: no model to route by; relay it as it is
        } else {
          // Ill-formed UTF-8, or a duplicate "model" (vLLM keeps the last one, so routing and the key's model check
          // by either would be a lie): refused on /vllm/* as on the main routes.
          Exchange ex = current;
          String why = scanner.error();
          reset();
          ex.fail(ProxyError.BAD_REQUEST, why);
          return;
        }
      }
    }
    if (last) {
      complete(ctx);
    }
  }

  private void complete(ChannelHandlerContext ctx) {
    if (passThroughMode) {
      completePassThrough(ctx);
      return;
    }
    if (multipart != null) {
      completeMultipart(ctx);
      return;
    }
    if (current.route == Route.RESPONSE_BY_ID) {
      completeStoredResponse(ctx);
      return;
    }
    Exchange ex = current;
    RequestScanner s = scanner;
    ByteBuf b = body;
    current = null;
    scanner = null;
    body = null;
    boolean ok = s.end();
    if (!ok) {
      release(b);
      ex.fail(ProxyError.BAD_REQUEST, s.error());
      return;
    }
    String model = s.model();
    if (model == null) {
      release(b);
      ex.fail(ProxyError.BAD_REQUEST, "No \"model\" in the request body. Send the model group to use, e.g. "
          + "{\"model\": \"llama-3-8b\", …}; GET /v1/models lists them.");
      return;
    }
    ModelGroup group = resolve(ex, model, b);
    if (group == null) {
      return;
    }
    KeyRecord key = ex.principal.key();
    java.util.List<String> fallbacks = s.fallbacks();
    if (fallbacks != null) {
      if (!fallbacksAllowed(ex, key, fallbacks, "fallbacks", b)) {
        return;
      }
      ex.steer().fallbacks = fallbacks;
    }
    java.util.List<String> cw = s.contextWindowFallbacks();
    long[] cwRange = s.contextWindowFallbacksRange();
    if (cwRange != null) {
      cw = routerForm(b, cwRange, model, ex.model);
      if (cw == null) {
        release(b);
        ex.fail(ProxyError.BAD_REQUEST, "\"context_window_fallbacks\" must be a list of model group names, e.g. "
            + "[\"llama-long\"], or LiteLLM's router form, e.g. [{\"" + shorten(model) + "\": [\"llama-long\"]}].");
        return;
      }
    }
    if (cw != null) {
      if (!fallbacksAllowed(ex, key, cw, "context_window_fallbacks", b)) {
        return;
      }
      ex.steer().contextWindowFallbacks = cw;
    }
    if (ex.route == Route.RESPONSES) {
      String previous = s.previousResponseId();
      if (previous != null) {
        // The conversation so far lives on the replica that made `previous` (vLLM's store is per process).
        Deployment d = holder(ex, previous, ProxyError.PREVIOUS_RESPONSE_NOT_FOUND, "previous_response_id", b);
        if (d == null) {
          return;
        }
        if (!group.deployments().contains(d)) {
          release(b);
          ex.fail(ProxyError.BAD_REQUEST, "previous_response_id " + shorten(previous) + " was made by model group "
              + d.modelGroup() + ", which holds the conversation; send \"model\": \"" + d.modelGroup()
              + "\" to continue it (or start a new one without previous_response_id).");
          return;
        }
        ex.steer().pinned = d;
        group = targets.groupOf(d);
      }
      ex.tailAt((int) s.rootEnd()).responseId = true;
    }
    if (salts != null && salts.applies(ex.route)) {
      ex.tailAt((int) s.rootEnd()).cacheSalt = salts.field(key);
    }
    ex.stream = s.stream();
    ex.endUser = s.user();
    ex.outputTokenCap = s.maxTokens();
    ex.group = group;
    ex.body = b;
    ex.modelStart = (int) s.modelStart();
    ex.modelEnd = (int) s.modelEnd();
    if (ex.stream && meterStreams && (ex.route == Route.CHAT_COMPLETIONS || ex.route == Route.COMPLETIONS)) {
      ex.usageSplice = s.usageSplice();
    }
    io.sluice.routing.DeploymentRegistry reg = registry.get();
    if (reg.keyed()) {
      affinityKey(ex, s, reg.affinity());
    }
    ctx.fireChannelRead(ex);
  }

  /** Keys of sessions and end users: apart from prompt keys, so a session id never lands on a prompt's replica. */
  private static final long SESSION_SALT = 0x5E55_10D5_A17E_0001L;
  private static final long USER_SALT = 0x05E2_0000_A17E_0002L;

  /**
   * The request's affinity key, in this order: the configured session header, the body's {@code user} (when
   * {@code use_user}), the prompt prefix's ({@link io.sluice.json.PromptHasher#key()}); none of them → not keyed
   * (the strategy's keyless choice).
   */
  private static void affinityKey(Exchange ex, RequestScanner s, io.sluice.config.AffinitySettings a) {
    String session = a.sessionHeader() == null ? null : ex.request.headers().get(a.sessionHeader());
    if (session != null && !session.isEmpty()) {
      ex.affinityKey = io.sluice.routing.Rendezvous.hash(session) ^ SESSION_SALT;
      ex.keyed = true;
      return;
    }
    if (a.useUser() && s.user() != null) {
      ex.affinityKey = io.sluice.routing.Rendezvous.hash(s.user()) ^ USER_SALT;
      ex.keyed = true;
      return;
    }
    io.sluice.json.PromptHasher p = s.prompt();
    if (p != null && p.any()) {
      ex.affinityKey = p.key();
      ex.keyed = true;
    }
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
      new com.fasterxml.jackson.databind.ObjectMapper();

  /**
   * The groups of a {@code context_window_fallbacks} in LiteLLM's router form, read from its bytes in {@code body}
   * ({@code range}: start and end offsets), as LiteLLM's get_fallback_model_group picks them: the list of the object
   * naming the requested model ({@code sent}, or the group it resolved to), else of {@code "*"}; plain names in the
   * list count too. Empty when none applies; null when the value is not of that shape. Only bodies that send this
   * form pay for the read (a small slice, parsed, never written back).
   */
  static java.util.List<String> routerForm(ByteBuf body, long[] range, String sent, String group) {
    int start = body.readerIndex() + (int) range[0];
    int len = (int) (range[1] - range[0]);
    com.fasterxml.jackson.databind.JsonNode list;
    try (java.io.InputStream in = new io.netty.buffer.ByteBufInputStream(body.slice(start, len))) {
      list = JSON.readTree(in);
    } catch (java.io.IOException e) {
      return null;
    }
    java.util.List<String> out = new java.util.ArrayList<>();
    java.util.List<String> generic = null;
    for (com.fasterxml.jackson.databind.JsonNode item : list) {
      if (item.isTextual()) {
        out.add(item.asText());
        continue;
      }
      java.util.Iterator<java.util.Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> it = item.fields();
      while (it.hasNext()) {
        java.util.Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> e = it.next();
        if (!e.getValue().isArray()) {
          return null;
        }
        java.util.List<String> names = new java.util.ArrayList<>();
        for (com.fasterxml.jackson.databind.JsonNode n : e.getValue()) {
          if (!n.isTextual()) {
            return null;
          }
          names.add(n.asText());
        }
        if (e.getKey().equals(sent) || e.getKey().equals(group)) {
          out.addAll(names);
        } else if ("*".equals(e.getKey()) && generic == null) {
          generic = names;
        }
      }
    }
    return out.isEmpty() && generic != null ? generic : out;
  }

  /**
   * LiteLLM's per-request {@code fallbacks} / {@code context_window_fallbacks}: each must be a model group this key may
   * use. On a denial or an unknown group fails {@code ex}, releases {@code b} and returns false.
   */
  private boolean fallbacksAllowed(Exchange ex, KeyRecord key, java.util.List<String> groups, String field,
      ByteBuf b) {
    for (String f : groups) {
      ModelGroup fg = registry.get().group(f);
      ModelAccess.Denial fd = key == null ? null
          : ModelAccess.denial(key, f, fg == null ? java.util.Set.of() : fg.accessGroups());
      if (fd != null) {
        release(b);
        ex.fail(ProxyError.of(fd), fd.message() + " (in \"" + field + "\")");
        return false;
      }
      if (fg == null) {
        release(b);
        ex.fail(ProxyError.BAD_REQUEST, field + ": " + shorten(f) + " is not a model group of this proxy. Call "
            + "`/v1/models` to view available models for your key.");
        return false;
      }
    }
    return true;
  }

  /**
   * The model group {@code model} names for this key: a key alias resolved first (LiteLLM's key aliases / team
   * model_aliases — the name stands for a group the key's lists must allow), then the key's (team's, user's) model
   * lists, then the registry. Sets {@link Exchange#model} (and {@link Exchange#aliasOf}); on a denial or an unknown
   * model fails {@code ex}, releases {@code b} and returns null.
   */
  private ModelGroup resolve(Exchange ex, String model, ByteBuf b) {
    KeyRecord key = ex.principal.key();
    String aliasTarget = key == null ? null : key.aliases().get(model);
    if (aliasTarget != null) {
      ex.aliasOf = model;
      model = aliasTarget;
    }
    ModelGroup group = registry.get().group(model);
    ModelAccess.Denial denied = key == null ? null
        : ModelAccess.denial(key, model, group == null ? java.util.Set.of() : group.accessGroups());
    if (denied != null) {
      release(b);
      // LiteLLM checks the key's and the team's model lists before the router looks the model up
      // (auth_checks.py::can_key_call_model), so a key hears only about its own lists.
      ex.fail(ProxyError.of(denied), denied.message());
      return null;
    }
    if (group == null) {
      release(b);
      // LiteLLM's wording (proxy/route_llm_request.py).
      ex.fail(ProxyError.BAD_REQUEST, "Invalid model name passed in model=" + shorten(model)
          + ". Call `/v1/models` to view available models for your key.");
      return null;
    }
    ex.model = model;
    return group;
  }

  /**
   * A {@link Route#RESPONSE_BY_ID} request is complete ({@code GET}/{@code DELETE /v1/responses/{id}},
   * {@code POST …/cancel}): relayed as it is — method, body, query — to the one replica the id names.
   */
  private void completeStoredResponse(ChannelHandlerContext ctx) {
    Exchange ex = current;
    ByteBuf b = body;
    current = null;
    body = null;
    String id = Route.responseId(ex.path);
    String action = Route.responseAction(ex.path);
    String method = ex.request.method().name();
    boolean allowed = action.isEmpty() ? method.equals("GET") || method.equals("DELETE")
        : action.equals("/cancel") ? method.equals("POST") : method.equals("GET");
    if (!allowed) {
      release(b);
      ex.fail(ProxyError.METHOD_NOT_ALLOWED, "Method " + method + " not allowed on /v1/responses/{id}" + shorten(action)
          + ": use GET (or DELETE) /v1/responses/{id}, POST /v1/responses/{id}/cancel, GET for other sub-resources.");
      return;
    }
    Deployment d = holder(ex, id, ProxyError.RESPONSE_NOT_FOUND, "response", b);
    if (d == null) {
      return;
    }
    ex.steer().pinned = d;
    ex.group = targets.groupOf(d);
    ex.body = b == null ? io.netty.buffer.Unpooled.EMPTY_BUFFER : b;
    ex.upstreamPath = PathNormalizer.encode("/responses/" + id + action);
    ex.rawBase = true; // under the replica's api_base (…/v1), as POST /v1/responses goes
    ctx.fireChannelRead(ex);
  }

  /**
   * The replica that holds the stored response {@code id} ({@link io.sluice.routing.ResponseIds}), when this key may
   * use its model group; else fails {@code ex} (releasing {@code b}) saying why, and returns null.
   */
  private Deployment holder(Exchange ex, String id, ProxyError notFound, String what, ByteBuf b) {
    String tag = io.sluice.routing.ResponseIds.tagOf(id);
    if (tag == null) {
      release(b);
      ex.fail(notFound, "Response with id '" + shorten(id) + "' was not made through this proxy, so no replica is "
          + "known to hold it (" + what + "). Sluice's response ids name their replica (resp_<12 hex>_<32 hex>, as "
          + "POST /v1/responses returns them); a client's own request_id is replaced by one.");
      return null;
    }
    Deployment d = registry.get().byResponseTag(tag);
    if (d == null) {
      release(b);
      ex.fail(notFound, "Response with id '" + shorten(id) + "' was made by a replica that is no longer in this "
          + "proxy's model list (removed, or its model_info.id changed). Stored responses live only on the vLLM "
          + "replica that made them (" + what + ").");
      return null;
    }
    if (denied(ex, ex.principal.key(), d.modelGroup(), null)) {
      release(b);
      return null;
    }
    return d;
  }

  /** A multipart (audio) body is complete: routed by its {@code model} field, rewritten in place like JSON's. */
  private void completeMultipart(ChannelHandlerContext ctx) {
    Exchange ex = current;
    io.sluice.json.MultipartScanner s = multipart;
    ByteBuf b = body;
    current = null;
    multipart = null;
    body = null;
    if (!s.end()) {
      release(b);
      ex.fail(ProxyError.BAD_REQUEST, s.error());
      return;
    }
    if (s.model() == null) {
      release(b);
      ex.fail(ProxyError.BAD_REQUEST, "No \"model\" field in the multipart/form-data body. Send the model group "
          + "to use as a form field (model=whisper-large-v3, next to file=@audio.wav); GET /v1/models lists them.");
      return;
    }
    ModelGroup group = resolve(ex, s.model(), b);
    if (group == null) {
      return;
    }
    ex.stream = s.stream();
    ex.group = group;
    ex.body = b;
    ex.modelStart = (int) s.modelStart();
    ex.modelEnd = (int) s.modelEnd();
    ex.modelRaw = true;
    ctx.fireChannelRead(ex);
  }

  /**
   * A pass-through request is complete. Configured endpoints: their target. {@code /vllm/*}: the replica named by
   * {@code x-sluice-deployment}, else a replica of the model group the body names (the key must be allowed to use
   * it; {@code model} rewritten as on the main routes), else the default vLLM target.
   */
  private void completePassThrough(ChannelHandlerContext ctx) {
    Exchange ex = current;
    RequestScanner s = scanner;
    ByteBuf b = body;
    current = null;
    scanner = null;
    body = null;
    String model = null;
    if (s != null) {
      boolean ok = s.end();
      if (!ok && s.invalidUtf8()) {
        release(b);
        ex.fail(ProxyError.BAD_REQUEST, s.error());
        return;
      }
      if (ok) {
        model = s.model();
        ex.stream = s.stream();
        ex.modelStart = (int) s.modelStart();
        ex.modelEnd = (int) s.modelEnd();
        if (ex.stream && meterStreams && ("/v1/chat/completions".equals(ex.upstreamPath)
            || "/v1/completions".equals(ex.upstreamPath))) {
          ex.usageSplice = s.usageSplice();
        }
      }
    }
    ex.body = b == null ? io.netty.buffer.Unpooled.EMPTY_BUFFER : b;
    if (ex.route == Route.PASSTHROUGH) {
      ex.group = targets.endpoint(ex.passThrough);
      ctx.fireChannelRead(ex);
      return;
    }
    io.sluice.routing.DeploymentRegistry reg = registry.get();
    KeyRecord key = ex.principal.key();
    String chosen = ex.request.headers().get(X_SLUICE_DEPLOYMENT);
    if (chosen != null) {
      Deployment d = reg.deployment(chosen.trim());
      if (d == null) {
        ex.fail(ProxyError.NOT_FOUND, "No deployment with model_info.id=" + shorten(chosen.trim())
            + " (x-sluice-deployment). GET /model/info lists them.");
        return;
      }
      if (denied(ex, key, d.modelGroup(), null)) {
        return;
      }
      ex.group = targets.groupOf(d);
      if (model != null && model.equals(d.modelGroup())) {
        ex.model = model; // rewrite to the replica's name, as the main routes do
      }
      ctx.fireChannelRead(ex);
      return;
    }
    ModelGroup group = model == null ? null : reg.group(model);
    if (group != null) {
      if (denied(ex, key, model, null)) {
        return;
      }
      ex.group = group;
      ex.model = model;
      ctx.fireChannelRead(ex);
      return;
    }
    ModelGroup fallback = targets.vllmDefault(reg);
    if (fallback == null) {
      if (key != null && model != null && denied(ex, key, model, null)) {
        return; // a restricted key hears about its own list first, as on the main routes
      }
      ex.fail(ProxyError.BAD_REQUEST, (model == null ? "The request names no model group"
          : "model=" + shorten(model) + " is not a model group of this proxy") + ", and no default vLLM target is "
          + "configured for /vllm/*. Send a \"model\" from GET /v1/models, choose a replica with the "
          + "x-sluice-deployment header (its model_info.id), or configure a default: set VLLM_API_BASE (and "
          + "VLLM_API_KEY), or mark a model_list entry with litellm_params.use_in_pass_through: true.");
      return;
    }
    // The body names no model group (no model, not JSON, or a replica's own upstream name): the default target,
    // which a model-restricted key may use only when its lists allow the default target's group (issue 13, #2).
    if (denied(ex, key, fallback.name(), model)) {
      return;
    }
    ex.group = fallback;
    ctx.fireChannelRead(ex);
  }

  /**
   * Fails {@code ex} with LiteLLM's model-access denial when {@code key} may not use {@code group}; {@code named} is
   * what the body asked for when that is not {@code group} itself (for the message). Returns whether it failed.
   */
  private boolean denied(Exchange ex, KeyRecord key, String group, String named) {
    ModelGroup g = registry.get().group(group);
    ModelAccess.Denial denied = key == null ? null
        : ModelAccess.denial(key, group, g == null ? java.util.Set.of() : g.accessGroups());
    if (denied == null) {
      return false;
    }
    String why = denied.message();
    if (!group.equals(named)) {
      why += (named == null ? ". The request names no model group of this proxy"
          : ". model=" + shorten(named) + " is no model group of this proxy") + ", so /vllm/* would send it to the "
          + "default vLLM target (model group " + group + "). Send a \"model\" this key may use.";
    }
    ex.fail(ProxyError.of(denied), why);
    return true;
  }

  /**
   * The most pieces {@link #bodyPieces} makes: two edits, the inserted tail, and the four stretches of the original
   * around them.
   */
  static final int MAX_BODY_PIECES = 7;

  /**
   * The body to send to {@code d}, as pieces in order in {@code out}: the original when the replica's model name is
   * what the client sent and no usage request is added; else the original's stretches (retained slices, no copy)
   * around the edits — bytes [modelStart, modelEnd), the {@code model} literal, replaced by the replica's (the
   * deployment's shared literal), and the usage request. Written one after the other they need no composite (whose
   * gathering write would make a {@code ByteBuffer} per piece). Returns how many; at least one. Borrows
   * {@code ex.body}; the caller owns the pieces.
   */
  static int bodyPieces(ChannelHandlerContext ctx, Exchange ex, Deployment d, ByteBuf[] out) {
    ByteBuf body = ex.body;
    boolean rewriteModel = ex.model != null && (ex.aliasOf != null || !ex.model.equals(upstreamModel(ex, d)));
    io.sluice.json.UsageSplice usage = ex.usageSplice;
    Exchange.BodyTail tail = ex.tail;
    if (!rewriteModel && usage == null && tail == null) {
      out[0] = body.retainedDuplicate();
      return 1;
    }
    // Up to two edits, in body order: the model literal and the usage request (never overlapping: one is a
    // top-level string, the other the stream_options member or the closing brace).
    int ri = body.readerIndex();
    int len = body.readableBytes();
    int n = 0;
    int at = 0;
    boolean modelFirst = !rewriteModel || usage == null || ex.modelStart < usage.start();
    for (int i = 0; i < 2; i++) {
      boolean model = (i == 0) == modelFirst;
      int start;
      int end;
      ByteBuf with;
      if (model) {
        if (!rewriteModel) {
          continue;
        }
        start = ex.modelStart;
        end = ex.modelEnd;
        with = ex.modelRaw ? raw(ctx, upstreamModel(ex, d))
            : d.wildcard() ? literal(ctx, upstreamModel(ex, d)) : d.upstreamModelJson();
      } else {
        if (usage == null) {
          continue;
        }
        start = (int) usage.start();
        end = (int) usage.end();
        with = usage.bytes();
      }
      if (start > at) {
        out[n++] = body.retainedSlice(ri + at, start - at);
      }
      out[n++] = with;
      at = end;
    }
    if (tail != null) {
      // At the root's closing brace: at or after both edits above (the model literal lies inside the object, the
      // usage edit inside stream_options or at the same brace), so after a usage field appended there.
      int start = tail.at;
      if (start > at) {
        out[n++] = body.retainedSlice(ri + at, start - at);
      }
      out[n++] = tail(ctx, tail, d);
      at = start;
    }
    if (len > at) {
      out[n++] = body.retainedSlice(ri + at, len - at);
    }
    return n;
  }

  /** The length of {@link #bodyFor} for {@code d}. */
  static int bodyLength(Exchange ex, Deployment d) {
    int length = ex.body.readableBytes();
    if (ex.model != null && (ex.aliasOf != null || !ex.model.equals(upstreamModel(ex, d)))) {
      int literal = ex.modelRaw ? upstreamModel(ex, d).getBytes(java.nio.charset.StandardCharsets.UTF_8).length
          : d.wildcard() ? quoted(upstreamModel(ex, d)).length + 2 : d.upstreamModelJsonLength();
      length += literal - (ex.modelEnd - ex.modelStart);
    }
    if (ex.usageSplice != null) {
      length += ex.usageSplice.delta();
    }
    Exchange.BodyTail tail = ex.tail;
    if (tail != null && tail.responseId) {
      length += REQUEST_ID_EDIT_LENGTH;
    }
    if (tail != null && tail.cacheSalt != null) {
      length += tail.cacheSalt.length;
    }
    return length;
  }

  private static final byte[] REQUEST_ID_HEAD = ",\"request_id\":\"".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  /** {@code ,"request_id":"…"} with a {@link io.sluice.routing.ResponseIds#newId} inside: always this long. */
  static final int REQUEST_ID_EDIT_LENGTH = REQUEST_ID_HEAD.length + 5 + io.sluice.routing.ResponseIds.TAG_LENGTH + 1
      + 32 + 1;

  /**
   * The fields inserted before the root's closing brace for this attempt: {@code ,"request_id":"resp_<d's
   * tag>_<random>"} — the Responses API id its response gets, naming {@code d} (a new one per attempt, so a retry on
   * another replica names that one) — and the tenant's {@code ,"cache_salt":"…"}. The caller owns it.
   */
  private static ByteBuf tail(ChannelHandlerContext ctx, Exchange.BodyTail t, Deployment d) {
    ByteBuf b = ctx.alloc().directBuffer((t.responseId ? REQUEST_ID_EDIT_LENGTH : 0)
        + (t.cacheSalt == null ? 0 : t.cacheSalt.length));
    if (t.responseId) {
      String id = io.sluice.routing.ResponseIds.newId(d.responseTag());
      b.writeBytes(REQUEST_ID_HEAD).writeCharSequence(id, java.nio.charset.StandardCharsets.US_ASCII);
      b.writeByte('"');
    }
    if (t.cacheSalt != null) {
      b.writeBytes(t.cacheSalt);
    }
    return b;
  }

  /** The model name {@code d} gets for this request (a wildcard deployment's is filled from the request's). */
  private static String upstreamModel(Exchange ex, Deployment d) {
    return d.wildcard() && ex.model != null ? d.upstreamModelFor(ex.model) : d.upstreamModel();
  }

  private static byte[] quoted(String s) {
    return com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance().quoteAsUTF8(s);
  }

  /** {@code "s"} as a JSON string literal; the caller owns it. Only wildcard deployments need one per request. */
  private static ByteBuf literal(ChannelHandlerContext ctx, String s) {
    byte[] q = quoted(s);
    return ctx.alloc().directBuffer(q.length + 2).writeByte('"').writeBytes(q).writeByte('"');
  }

  /** {@code s} as raw UTF-8 (a multipart field's value); the caller owns it. */
  private static ByteBuf raw(ChannelHandlerContext ctx, String s) {
    byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    return ctx.alloc().buffer(b.length).writeBytes(b);
  }

  private RequestScanner fresh() {
    reusable.reset();
    return reusable;
  }

  private static void release(ByteBuf b) {
    if (b != null) {
      b.release();
    }
  }

  /** {@code s} cut to 200 characters for an error message (shared by the relay's messages). */
  static String shorten(String s) {
    return s.length() > 200 ? s.substring(0, 200) + "…" : s;
  }

  private void reset() {
    current = null;
    passThroughMode = false;
    multipart = null;
    scanner = null;
    if (body != null) {
      body.release();
      body = null;
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    reset();
    ctx.fireChannelInactive();
  }
}
