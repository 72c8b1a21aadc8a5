package io.sluice.http;

import io.netty.handler.codec.http.HttpHeaders;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapSetter;
import io.sluice.auth.KeyRecord;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * OpenTelemetry traces of the gateway (issue 19): one {@link SpanKind#SERVER} span per exchange, child of the
 * client's W3C {@code traceparent} when it sent a valid one (else the root of a new trace), named and attributed
 * after OpenTelemetry's GenAI semantic conventions, and its context sent upstream as the {@code traceparent} of
 * every attempt (so vLLM's own spans, {@code --otlp-traces-endpoint}, hang under Sluice's). Child spans for what
 * costs time off the hot path: an upstream connect, a key lookup the cache missed, a limiter round trip.
 *
 * <p>Off (the gateway's {@link GatewayContext#tracing()} is null) it costs one null check per exchange: no span,
 * no header parsed. On, everything here runs on the exchange's event loop and never blocks: spans are ended into
 * the SDK's bounded batch processor, which exports on its own thread (see the server's {@code OtelTracing}).
 *
 * <p>Attributes never carry a credential: not a key, not its hash or hash prefix, not the master, replica or
 * provider key — only the key's alias, user and team, as the access log.
 */
public final class Tracing {
  /** {@code traceparent} / {@code tracestate} (W3C Trace Context Level 1, §3.2 and §3.3). */
  static final String TRACEPARENT = "traceparent";
  static final String TRACESTATE = "tracestate";

  static final AttributeKey<String> OPERATION = AttributeKey.stringKey("gen_ai.operation.name");
  static final AttributeKey<String> PROVIDER = AttributeKey.stringKey("gen_ai.provider.name");
  static final AttributeKey<String> REQUEST_MODEL = AttributeKey.stringKey("gen_ai.request.model");
  static final AttributeKey<String> RESPONSE_MODEL = AttributeKey.stringKey("gen_ai.response.model");
  static final AttributeKey<Long> MAX_TOKENS = AttributeKey.longKey("gen_ai.request.max_tokens");
  static final AttributeKey<Long> INPUT_TOKENS = AttributeKey.longKey("gen_ai.usage.input_tokens");
  static final AttributeKey<Long> OUTPUT_TOKENS = AttributeKey.longKey("gen_ai.usage.output_tokens");
  static final AttributeKey<String> SERVER_ADDRESS = AttributeKey.stringKey("server.address");
  static final AttributeKey<Long> SERVER_PORT = AttributeKey.longKey("server.port");
  static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");
  static final AttributeKey<String> METHOD = AttributeKey.stringKey("http.request.method");
  static final AttributeKey<String> URL_PATH = AttributeKey.stringKey("url.path");
  static final AttributeKey<Long> STATUS = AttributeKey.longKey("http.response.status_code");
  static final AttributeKey<String> REQUEST_ID = AttributeKey.stringKey("sluice.request_id");
  static final AttributeKey<String> MODEL_GROUP = AttributeKey.stringKey("sluice.model_group");
  static final AttributeKey<String> DEPLOYMENT = AttributeKey.stringKey("sluice.deployment_id");
  static final AttributeKey<String> KEY_ALIAS = AttributeKey.stringKey("sluice.key_alias");
  static final AttributeKey<String> USER = AttributeKey.stringKey("sluice.user_id");
  static final AttributeKey<String> TEAM = AttributeKey.stringKey("sluice.team_id");
  static final AttributeKey<Long> RETRIES = AttributeKey.longKey("sluice.retries");
  static final AttributeKey<Boolean> FALLBACK = AttributeKey.booleanKey("sluice.fallback_used");
  static final AttributeKey<Long> COOLDOWNS = AttributeKey.longKey("sluice.cooldowns_started");
  static final AttributeKey<Boolean> STREAM = AttributeKey.booleanKey("sluice.stream");
  static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("sluice.outcome");
  static final AttributeKey<Long> EVENTS = AttributeKey.longKey("sluice.sse_events");
  static final AttributeKey<Double> SPEND = AttributeKey.doubleKey("sluice.spend_usd");

  private static final W3CTraceContextPropagator W3C = W3CTraceContextPropagator.getInstance();
  private static final TextMapGetter<HttpHeaders> GET = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(HttpHeaders carrier) {
      return carrier.names();
    }

    @Override
    public String get(HttpHeaders carrier, String key) {
      return carrier == null ? null : carrier.get(key);
    }
  };
  private static final TextMapSetter<HttpHeaders> SET = (carrier, key, value) -> carrier.set(key, value);

  private final Tracer tracer;

  /** @param tracer where the gateway's spans come from (the server's SDK) */
  public Tracing(Tracer tracer) {
    this.tracer = java.util.Objects.requireNonNull(tracer, "tracer");
  }

  /**
   * The client's context from {@code traceparent}/{@code tracestate}, or {@link Context#root()} when it sent none
   * or an invalid one (W3C Trace Context §3.2.2.3/§3.2.2.4: a version of {@code ff}, ids of all zeros, a field
   * of the wrong length or not lower-case hex → ignored, a new trace is started). Borrows {@code headers}.
   */
  static Context parent(HttpHeaders headers) {
    if (headers.get(TRACEPARENT) == null) {
      return Context.root();
    }
    return W3C.extract(Context.root(), headers, GET);
  }

  /**
   * The exchange has its head: starts its server span (event loop). Probes and scrapes ({@code /health/liveliness},
   * {@code /health/readiness}, {@code /metrics}) get none: they would be most spans of an idle gateway.
   */
  void start(Exchange ex) {
    if (ex.route == Route.LIVENESS || ex.route == Route.READINESS || ex.route == Route.METRICS) {
      return;
    }
    Context parent = parent(ex.request.headers());
    String method = ex.request.method().name();
    ex.trace = new Trace(this, tracer.spanBuilder(method + " " + spanPath(ex))
        .setParent(parent)
        .setSpanKind(SpanKind.SERVER)
        .setAttribute(METHOD, method)
        .setAttribute(URL_PATH, PathNormalizer.redacted(ex.path))
        .setAttribute(REQUEST_ID, ex.requestId)
        .startSpan());
  }

  /**
   * A traced exchange's part ({@link Exchange#trace}), written here only: its server span, the tracing that started
   * it (for child spans) and the body's {@code max_tokens}. An untraced exchange has none, so it costs nothing.
   */
  static final class Trace {
    final Tracing by;
    final Span span;
    /** The body's top-level {@code max_tokens} (or {@code max_completion_tokens}), read when sampled; -1 = none. */
    long maxTokens = -1;

    Trace(Tracing by, Span span) {
      this.by = by;
      this.span = span;
    }
  }

  /** A child span of {@code ex}'s named {@code name} (a lookup, a round trip), or null when it is not traced. */
  static Span childOf(Exchange ex, String name) {
    Trace t = ex.trace;
    return t == null ? null : t.by.child(ex, name);
  }

  /** The child span of {@code ex}'s upstream connect, or null when it is not traced. */
  static Span connectOf(Exchange ex) {
    Trace t = ex.trace;
    return t == null ? null : t.by.connect(ex);
  }

  /** A span name of bounded cardinality: the route's path, never a pass-through's free-form rest or a key. */
  private static String spanPath(Exchange ex) {
    if (ex.route == Route.PASSTHROUGH) {
      return ex.passThrough.path();
    }
    if (ex.route == Route.VLLM) {
      return "/vllm/*";
    }
    if (ex.route == Route.MANAGEMENT || ex.route == null) {
      return ex.route == null ? "unknown" : "management";
    }
    return PathNormalizer.redacted(ex.path);
  }

  /**
   * Sets the exchange's context as the upstream {@code traceparent} (and {@code tracestate}), replacing the
   * client's: the replica's spans become children of Sluice's span. Borrows {@code headers}.
   */
  static void inject(Exchange ex, HttpHeaders headers) {
    headers.remove(TRACEPARENT);
    headers.remove(TRACESTATE);
    W3C.inject(Context.root().with(ex.trace.span), headers, SET);
  }

  /**
   * The exchange goes upstream (the relay, before the first attempt; event loop): sets the upstream
   * {@code traceparent} and reads the body's {@code max_tokens}. Borrows the exchange's request and body.
   */
  static void started(Exchange ex) {
    inject(ex, ex.request.headers());
    if (ex.body != null && ex.trace.span.isRecording()) {
      ex.trace.maxTokens = maxTokens(ex.body);
    }
  }

  /**
   * The top-level {@code max_tokens} (OpenAI, Anthropic), else {@code max_completion_tokens}, of a JSON body, or
   * -1. Borrows {@code body} (its indices are left as they are). Only run for a sampled exchange.
   */
  static long maxTokens(io.netty.buffer.ByteBuf body) {
    long completion = -1;
    try (com.fasterxml.jackson.core.JsonParser p = JSON.createParser(
        (java.io.InputStream) new io.netty.buffer.ByteBufInputStream(body.duplicate()))) {
      if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
        return -1;
      }
      while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
        String name = p.currentName();
        com.fasterxml.jackson.core.JsonToken t = p.nextToken();
        if (t == com.fasterxml.jackson.core.JsonToken.VALUE_NUMBER_INT
            && ("max_tokens".equals(name) || "max_completion_tokens".equals(name))) {
          if ("max_tokens".equals(name)) {
            return p.getLongValue();
          }
          completion = p.getLongValue();
        } else {
          p.skipChildren();
        }
      }
    } catch (java.io.IOException | RuntimeException e) {
      return completion; // not JSON (multipart), or cut short: what was read
    }
    return completion;
  }

  private static final com.fasterxml.jackson.core.JsonFactory JSON = new com.fasterxml.jackson.core.JsonFactory();

  /** A child span of the exchange's, for a step that waits off the event loop (key lookup, limiter). */
  Span child(Exchange ex, String name) {
    return tracer.spanBuilder(name).setParent(Context.root().with(ex.trace.span)).setSpanKind(SpanKind.INTERNAL)
        .startSpan();
  }

  /** A child span for a new upstream connection of the exchange's current attempt. */
  Span connect(Exchange ex) {
    return tracer.spanBuilder("connect").setParent(Context.root().with(ex.trace.span))
        .setSpanKind(SpanKind.INTERNAL)
        .setAttribute(SERVER_ADDRESS, ex.deployment.endpoint().host())
        .setAttribute(SERVER_PORT, (long) ex.deployment.endpoint().port())
        .setAttribute(DEPLOYMENT, ex.deployment.id())
        .startSpan();
  }

  /** Ends a child span; {@code error} non-null marks it failed with that error's class name. */
  static void endChild(Span child, Throwable error) {
    if (error != null) {
      child.setStatus(StatusCode.ERROR, error.getClass().getSimpleName());
      child.setAttribute(ERROR_TYPE, error.getClass().getName());
    }
    child.end();
  }

  /** The exchange is over (metering has counted it): attributes, events, status; ends its span. */
  void end(Exchange ex, boolean clientGone) {
    Span span = ex.trace.span;
    if (!span.isRecording()) {
      span.end();
      return;
    }
    String operation = operation(ex.route);
    String requested = requestedModel(ex);
    if (operation != null && requested != null) {
      span.updateName(operation + " " + requested); // GenAI: "{gen_ai.operation.name} {gen_ai.request.model}"
    }
    span.setAllAttributes(attributes(ex, clientGone));
    long first = ex.firstBodyNanos != 0 ? ex.firstBodyNanos : ex.firstByteNanos;
    if (first != 0) {
      // The first body byte relayed: vLLM sends a stream's head before any token is generated (Starlette starts the
      // response, then iterates the generator), so the head alone would put "first token" too early; a response
      // without a body falls back to its head. Its wall-clock time is now minus the monotonic time since (the
      // span's own clock is the SDK's, anchored the same way).
      java.time.Instant now = java.time.Instant.now();
      long epochNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
      span.addEvent("gen_ai.first_token", epochNanos - (System.nanoTime() - first), TimeUnit.NANOSECONDS);
    }
    if (ex.stream && ex.responseStarted()) {
      span.addEvent(clientGone ? "sluice.client_gone" : "gen_ai.stream_end",
          Attributes.of(EVENTS, (long) (ex.usage == null ? 0 : ex.usage.events())));
    }
    if (ex.failure != null) {
      span.setStatus(StatusCode.ERROR, ex.failure.type());
    } else if (ex.status >= 500) {
      span.setStatus(StatusCode.ERROR);
    }
    span.end();
  }

  /** The span's attributes at the exchange's end; never a credential (see the class comment). */
  static Attributes attributes(Exchange ex, boolean clientGone) {
    AttributesBuilder b = Attributes.builder();
    String operation = operation(ex.route);
    if (operation != null) {
      b.put(OPERATION, operation);
    }
    String requested = requestedModel(ex);
    if (requested != null) {
      b.put(REQUEST_MODEL, requested);
    }
    if (ex.group != null) {
      b.put(MODEL_GROUP, ex.group.name());
      if (ex.model != null && !ex.group.name().equals(ex.model)) {
        b.put(FALLBACK, true);
      } else if (ex.model != null) {
        b.put(FALLBACK, false);
      }
    }
    if (ex.deployment != null) {
      b.put(DEPLOYMENT, ex.deployment.id());
      b.put(PROVIDER, provider(ex.deployment.config().provider()));
      if (ex.passThrough == null && ex.route != Route.VLLM) {
        b.put(RESPONSE_MODEL, ex.deployment.upstreamModelFor(ex.model));
      }
      b.put(SERVER_ADDRESS, ex.deployment.endpoint().host());
      b.put(SERVER_PORT, (long) ex.deployment.endpoint().port());
    }
    if (ex.trace != null && ex.trace.maxTokens >= 0) {
      b.put(MAX_TOKENS, ex.trace.maxTokens);
    }
    if (ex.metering != null && ex.usage != null) {
      b.put(INPUT_TOKENS, ex.promptTokens);
      b.put(OUTPUT_TOKENS, ex.completionTokens);
      b.put(SPEND, ex.spend);
    }
    if (ex.attempts > 0) {
      b.put(RETRIES, (long) (ex.attempts - 1));
    }
    if (ex.cooldowns > 0) {
      b.put(COOLDOWNS, (long) ex.cooldowns);
    }
    b.put(STREAM, ex.stream);
    KeyRecord key = ex.principal == null ? null : ex.principal.key();
    if (key != null) {
      putIfNotNull(b, KEY_ALIAS, key.alias());
      putIfNotNull(b, USER, key.userId());
      putIfNotNull(b, TEAM, key.teamId());
    }
    int status = clientGone && !ex.responseStarted() ? 0 : ex.status;
    if (status > 0) {
      b.put(STATUS, (long) status);
    }
    io.sluice.usage.UsageEvent.Outcome o = ex.outcome != null ? ex.outcome : Metering.outcome(ex, clientGone);
    b.put(OUTCOME, o.label());
    if (ex.failure != null) {
      b.put(ERROR_TYPE, ex.failure.type()); // LiteLLM's error type, e.g. api_connection_error
    } else if (status >= 500) {
      b.put(ERROR_TYPE, Integer.toString(status));
    }
    return b.build();
  }

  /** The model the client named: the alias it sent, else the group. */
  private static String requestedModel(Exchange ex) {
    return ex.aliasOf != null ? ex.aliasOf : ex.model;
  }

  private static void putIfNotNull(AttributesBuilder b, AttributeKey<String> k, String v) {
    if (v != null) {
      b.put(k, v);
    }
  }

  /** {@code gen_ai.operation.name} of a route (the GenAI conventions' well-known values), or null: not GenAI. */
  static String operation(Route route) {
    if (route == null) {
      return null;
    }
    return switch (route) {
      case CHAT_COMPLETIONS, MESSAGES, RESPONSES -> "chat";
      case COMPLETIONS -> "text_completion";
      case EMBEDDINGS -> "embeddings";
      default -> null;
    };
  }

  /** {@code gen_ai.provider.name}: vLLM speaks OpenAI's API; the conventions name no vLLM value, so "vllm". */
  private static String provider(io.sluice.config.Provider p) {
    return switch (p) {
      case HOSTED_VLLM -> "vllm";
      default -> p.name().toLowerCase(java.util.Locale.ROOT);
    };
  }

  /** The names of the attributes a span of this gateway may carry (documentation and tests). */
  static List<AttributeKey<?>> keys() {
    return List.of(OPERATION, PROVIDER, REQUEST_MODEL, RESPONSE_MODEL, MAX_TOKENS, INPUT_TOKENS, OUTPUT_TOKENS,
        SERVER_ADDRESS, SERVER_PORT, ERROR_TYPE, METHOD, URL_PATH, STATUS, REQUEST_ID, MODEL_GROUP, DEPLOYMENT,
        KEY_ALIAS, USER, TEAM, RETRIES, FALLBACK, COOLDOWNS, STREAM, OUTCOME, SPEND);
  }
}
