package io.sluice.http;

import io.netty.handler.codec.http.HttpMethod;
import java.util.HashMap;
import java.util.Map;

/**
 * The routes Sluice answers and their class (ARCHITECTURE: public, llm, management, metrics). LLM routes are
 * served under {@code /v1/…} and without the prefix, as LiteLLM does.
 */
enum Route {
  LIVENESS(RouteClass.PUBLIC, HttpMethod.GET, null),
  READINESS(RouteClass.PUBLIC, HttpMethod.GET, null),
  MODELS(RouteClass.LLM_INFO, HttpMethod.GET, null),
  HEALTH(RouteClass.LLM_INFO, HttpMethod.GET, null),
  /** LiteLLM's {@code GET /routes}: the routes this proxy serves; proxy admins only ({@link LocalEndpoints}). */
  ROUTES(RouteClass.LLM_INFO, HttpMethod.GET, null),
  CHAT_COMPLETIONS(RouteClass.LLM, HttpMethod.POST, "/chat/completions"),
  COMPLETIONS(RouteClass.LLM, HttpMethod.POST, "/completions"),
  EMBEDDINGS(RouteClass.LLM, HttpMethod.POST, "/embeddings"),
  RESPONSES(RouteClass.LLM, HttpMethod.POST, "/responses"),
  /**
   * A stored response: {@code GET}/{@code DELETE /v1/responses/{id}}, {@code POST /v1/responses/{id}/cancel} (and any
   * other {@code /v1/responses/{id}/…}): relayed with its method to the replica the id names
   * ({@link io.sluice.routing.ResponseIds}), which alone holds it; no body scan, no generation metered.
   */
  RESPONSE_BY_ID(RouteClass.LLM, null, null),
  RERANK(RouteClass.LLM, HttpMethod.POST, "/rerank"),
  SCORE(RouteClass.LLM, HttpMethod.POST, "/score"),
  /**
   * vLLM's routes at the server root (vllm/entrypoints/serve/tokenize, pooling, classify, the Cohere-style rerank;
   * {@code api_server.py} mounts them without {@code /v1}): served at the same path, model-routed like the rest,
   * sent to the replica's root (its {@code api_base} without {@code /v1}).
   */
  TOKENIZE(RouteClass.LLM, HttpMethod.POST, "/tokenize", Family.OPENAI, true),
  DETOKENIZE(RouteClass.LLM, HttpMethod.POST, "/detokenize", Family.OPENAI, true),
  POOLING(RouteClass.LLM, HttpMethod.POST, "/pooling", Family.OPENAI, true),
  CLASSIFY(RouteClass.LLM, HttpMethod.POST, "/classify", Family.OPENAI, true),
  RERANK_V2(RouteClass.LLM, HttpMethod.POST, "/v2/rerank", Family.OPENAI, true),
  /**
   * OpenAI's audio routes, {@code multipart/form-data} (the file and a {@code model} field): routed by that field,
   * found by {@link io.sluice.json.MultipartScanner} without decoding the file, rewritten in place.
   */
  AUDIO_TRANSCRIPTIONS(RouteClass.LLM, HttpMethod.POST, "/audio/transcriptions"),
  AUDIO_TRANSLATIONS(RouteClass.LLM, HttpMethod.POST, "/audio/translations"),
  /** {@code GET /v1/models/{id}} (OpenAI's {@code models.retrieve}): one model group, as {@link #MODELS} lists it. */
  MODEL(RouteClass.LLM_INFO, HttpMethod.GET, null),
  /** Anthropic's Messages API, which vLLM serves natively (vllm/entrypoints/anthropic/api_router.py). */
  MESSAGES(RouteClass.LLM, HttpMethod.POST, "/messages", Family.ANTHROPIC),
  /** Anthropic's token count; vLLM answers {@code {"input_tokens":N}} (no generation: not metered as tokens). */
  MESSAGES_COUNT_TOKENS(RouteClass.LLM, HttpMethod.POST, "/messages/count_tokens", Family.ANTHROPIC),
  /**
   * LiteLLM's management API ({@code /key/*}, {@code /user/*}, {@code /team/*}, {@code /model/*}, {@code /budget/*},
   * {@code /customer/*}, {@code /end_user/*}, {@code /organization/*}, spend reports); any method.
   */
  MANAGEMENT(RouteClass.MANAGEMENT, null, null),
  /** {@code /vllm/<path>}: any vLLM endpoint, any method, relayed natively. */
  VLLM(RouteClass.PASSTHROUGH, null, null),
  /** A configured {@code general_settings.pass_through_endpoints} route (see {@link Exchange#passThrough}). */
  PASSTHROUGH(RouteClass.PASSTHROUGH, null, null),
  /**
   * The admin UI ({@code /ui}, {@code /ui/…}): its static files, sign-in, sign-out and session; no key (the sign-in
   * checks the one it is given, the UI's API calls carry the session cookie).
   */
  UI(RouteClass.PUBLIC, null, null),
  /** The UI's own read-only data ({@code /ui/api/…}: live deployment state); a key or a UI session. */
  UI_API(RouteClass.LLM_INFO, HttpMethod.GET, null),
  /** Prometheus metrics; an admin's key unless {@code require_auth_for_metrics_endpoint: false}. */
  METRICS(RouteClass.METRICS, HttpMethod.GET, null);

  /**
   * The API a route belongs to (ARCHITECTURE, "route families"): both share auth → body scan → routing → relay →
   * usage tap; only the shape of the errors Sluice writes, and where the caller's key may come from, differ.
   */
  enum Family {
    /** OpenAI's routes: errors in LiteLLM's shape; key in {@code x-litellm-api-key} or {@code Authorization}. */
    OPENAI,
    /**
     * Anthropic's routes ({@code /v1/messages}): errors in Anthropic's shape; the key may also come in
     * {@code x-api-key}, what Anthropic's SDKs (and Claude Code's {@code ANTHROPIC_API_KEY}) send.
     */
    ANTHROPIC
  }

  enum RouteClass {
    /** No credential needed, never 401. */
    PUBLIC,
    /** Any valid key; answered by Sluice itself. */
    LLM_INFO,
    /** Any valid key; model-routed and relayed to a replica. */
    LLM,
    /** Answered by the admin plane, which checks the caller's role per endpoint. */
    MANAGEMENT,
    /** Relayed to a target as it is ({@code /vllm/*} and configured pass-through endpoints). */
    PASSTHROUGH,
    /** {@code /metrics}: admins only, or public when configured so. */
    METRICS
  }

  final RouteClass routeClass;
  /** The one method allowed, or null when the route's handler decides. */
  final HttpMethod method;
  /** For LLM routes: the path under the deployment's {@code api_base} (which carries {@code /v1}). */
  final String upstreamSuffix;
  final Family family;
  /** The route lives at the replica server's root, not under its {@code api_base} ({@code /v1}). */
  final boolean atRoot;

  private final String label = name().toLowerCase(java.util.Locale.ROOT);

  Route(RouteClass routeClass, HttpMethod method, String upstreamSuffix) {
    this(routeClass, method, upstreamSuffix, Family.OPENAI);
  }

  Route(RouteClass routeClass, HttpMethod method, String upstreamSuffix, Family family) {
    this(routeClass, method, upstreamSuffix, family, false);
  }

  Route(RouteClass routeClass, HttpMethod method, String upstreamSuffix, Family family, boolean atRoot) {
    this.routeClass = routeClass;
    this.method = method;
    this.upstreamSuffix = upstreamSuffix;
    this.family = family;
    this.atRoot = atRoot;
  }

  /**
   * Whether the response's {@code usage} is generation to count: a token count, {@code /tokenize} and
   * {@code /detokenize} run no model (their answers carry no {@code usage}, and nothing is estimated for them).
   */
  boolean countsUsage() {
    return this != MESSAGES_COUNT_TOKENS && this != TOKENIZE && this != DETOKENIZE && this != RESPONSE_BY_ID;
  }

  /**
   * Whether the response's {@code model} is the client's name for it (LiteLLM's proxy restamps it): the generation
   * and embedding routes, OpenAI's and Anthropic's.
   */
  boolean restampsModel() {
    return this == CHAT_COMPLETIONS || this == COMPLETIONS || this == EMBEDDINGS || this == RESPONSES
        || this == MESSAGES;
  }

  /** The body is {@code multipart/form-data}, not JSON. */
  boolean multipart() {
    return this == AUDIO_TRANSCRIPTIONS || this == AUDIO_TRANSLATIONS;
  }

  /** The {@code route} label of the metrics: the route's name in lower case. */
  String label() {
    return label;
  }

  boolean requiresKey() {
    return routeClass != RouteClass.PUBLIC;
  }

  private static final Map<String, Route> BY_PATH = new HashMap<>();

  static {
    BY_PATH.put("/health/liveliness", LIVENESS);
    BY_PATH.put("/health/liveness", LIVENESS);
    BY_PATH.put("/health/readiness", READINESS);
    BY_PATH.put("/health", HEALTH);
    BY_PATH.put("/routes", ROUTES);
    BY_PATH.put("/metrics", METRICS);
    BY_PATH.put("/metrics/", METRICS);
    for (Route r : values()) {
      if (r.atRoot) {
        BY_PATH.put(r.upstreamSuffix, r); // only where vLLM serves it
      } else if (r == MODELS || r.upstreamSuffix != null) {
        String p = r == MODELS ? "/models" : r.upstreamSuffix;
        BY_PATH.put(p, r);
        BY_PATH.put("/v1" + p, r);
      }
    }
  }

  /** Every exact path in the table (the config loader keeps its own list of them; a test compares the two). */
  static java.util.Set<String> exactPaths() {
    return java.util.Set.copyOf(BY_PATH.keySet());
  }

  /** Any method: routes whose handler (the admin plane, a pass-through target) decides. */
  static final java.util.List<String> ANY_METHOD = java.util.List.of("GET", "POST", "PUT", "PATCH", "DELETE");

  /**
   * The routes Sluice answers itself or relays by its own rules, path → methods, for {@code GET /routes}: the exact
   * paths of the table above, then the families served under a prefix ({@code {…}} stands for any value). The
   * admin API's and the configured pass-through routes are added by {@link LocalEndpoints}.
   */
  static java.util.Map<String, java.util.List<String>> catalog() {
    java.util.Map<String, java.util.List<String>> out = new java.util.TreeMap<>();
    BY_PATH.forEach((path, r) -> out.put(path, r.method == null ? ANY_METHOD : java.util.List.of(r.method.name())));
    out.put("/v1/models/{model_id}", java.util.List.of("GET"));
    out.put("/models/{model_id}", java.util.List.of("GET"));
    out.put("/v1/responses/{response_id}", java.util.List.of("GET", "DELETE"));
    out.put("/responses/{response_id}", java.util.List.of("GET", "DELETE"));
    out.put("/v1/responses/{response_id}/cancel", java.util.List.of("POST"));
    out.put("/responses/{response_id}/cancel", java.util.List.of("POST"));
    out.put("/vllm/{path}", ANY_METHOD);
    out.put("/ui/{path}", java.util.List.of("GET", "POST"));
    return out;
  }

  /** The route for a normalised path (no query), or null. */
  static Route forPath(String path) {
    Route r = BY_PATH.get(path);
    if (r == null && isManagementPath(path)) {
      return MANAGEMENT;
    }
    if (r == null && modelId(path) != null) {
      return MODEL;
    }
    if (r == null && responseId(path) != null) {
      return RESPONSE_BY_ID;
    }
    if (r == null && (path.equals("/vllm") || path.startsWith("/vllm/"))) {
      return VLLM;
    }
    if (r == null && (path.equals("/ui") || path.startsWith("/ui/"))) {
      return path.startsWith("/ui/api/") ? UI_API : UI;
    }
    return r;
  }

  /**
   * The model id of a {@code /v1/models/{id}} or {@code /models/{id}} path (decoded, so it may hold {@code /} as
   * {@code hosted_vllm/llama} does), or null.
   */
  static String modelId(String path) {
    int at = path.startsWith("/v1/models/") ? 11 : path.startsWith("/models/") ? 8 : -1;
    return at < 0 || at == path.length() ? null : path.substring(at);
  }

  /**
   * The stored response's id in a {@code /v1/responses/{id}[/…]} or {@code /responses/{id}[/…]} path, or null; with
   * what follows it (e.g. {@code /cancel}) in {@link #responseAction}.
   */
  static String responseId(String path) {
    int at = path.startsWith("/v1/responses/") ? 14 : path.startsWith("/responses/") ? 11 : -1;
    if (at < 0 || at == path.length()) {
      return null;
    }
    int slash = path.indexOf('/', at);
    return slash == at ? null : path.substring(at, slash < 0 ? path.length() : slash);
  }

  /** What follows the id in a {@link #RESPONSE_BY_ID} path: {@code ""} or e.g. {@code "/cancel"}. */
  static String responseAction(String path) {
    int at = path.startsWith("/v1/responses/") ? 14 : 11;
    int slash = path.indexOf('/', at);
    return slash < 0 ? "" : path.substring(slash);
  }

  static boolean isManagementPath(String path) {
    return path.startsWith("/key/") || path.startsWith("/user/") || path.startsWith("/team/")
        || path.startsWith("/model/") || path.equals("/v1/model/info") || path.equals("/v2/model/info")
        || path.equals("/model_group/info") || path.startsWith("/spend/")
        || path.startsWith("/global/spend") || path.startsWith("/global/activity") || path.startsWith("/budget/")
        || path.startsWith("/end_user/") || path.startsWith("/customer/") || path.startsWith("/organization/");
  }
}
