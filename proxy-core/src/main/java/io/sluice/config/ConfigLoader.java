package io.sluice.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads LiteLLM's {@code config.yaml} subset (plus {@code sluice_settings}) into an immutable {@link SluiceConfig}.
 *
 * <p>Every value is checked; the first problem stops loading with one {@link ConfigException} that names the file,
 * the path in it ({@code model_list[2].litellm_params.api_base}) and what is wrong — never a secret's value. Keys
 * Sluice does not know are reported (logged at WARN with their path) and ignored; keys LiteLLM has that Sluice will
 * use in a later release are accepted silently. {@code os.environ/NAME} resolves where LiteLLM resolves it:
 * {@code litellm_params} string values, {@code general_settings.master_key} and {@code database_url}.
 */
public final class ConfigLoader {
  private static final Logger log = LoggerFactory.getLogger(ConfigLoader.class);
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final String ENV_PREFIX = "os.environ/";
  private static final Pattern EMBEDDED_ENV = Pattern.compile("os\\.environ/([A-Za-z_][A-Za-z0-9_]*)");
  private static final Pattern HEADER_TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");

  private static final Set<String> TOP = Set.of("model_list", "general_settings", "router_settings",
      "litellm_settings", "sluice_settings", "environment_variables", "include");
  private static final Set<String> ENTRY = Set.of("model_name", "litellm_params", "model_info");
  private static final Set<String> PARAMS = Set.of("model", "api_base", "api_key", "rpm", "tpm", "weight",
      "timeout", "order", "use_in_pass_through", "input_cost_per_token", "output_cost_per_token",
      "max_parallel_requests");
  private static final Set<String> PARAMS_LATER = Set.of("stream_timeout",
      "max_retries", "tags",
      "api_version", "organization", "drop_params");
  private static final Set<String> INFO = Set.of("id", "input_cost_per_token", "output_cost_per_token");
  private static final Set<String> INFO_LATER = Set.of("mode",
      "use_in_pass_through", "base_model", "max_tokens", "max_input_tokens", "max_output_tokens", "db_model",
      "team_id", "access_groups");
  private static final Set<String> GENERAL = Set.of("master_key", "litellm_key_header_name", "max_request_size_mb",
      "background_health_checks", "health_check_interval", "database_url", "store_model_in_db",
      "database_connection_pool_limit", "pass_through_endpoints", "forward_llm_provider_auth_headers",
      "disable_spend_logs");
  private static final Set<String> GENERAL_LATER = Set.of("forward_client_headers_to_llm_api",
      "health_check_details",
      "require_auth_for_metrics_endpoint", "alerting", "proxy_batch_write_at", "max_response_size_mb");
  private static final Set<String> ROUTER = Set.of("routing_strategy", "timeout", "num_retries", "allowed_fails",
      "cooldown_time", "fallbacks", "stream_timeout", "prefix_affinity", "context_window_fallbacks",
      "enforce_model_rate_limits", "fair_admission");
  private static final Set<String> ADMISSION = Set.of("enabled", "queue_timeout", "max_waiting",
      "max_kv_cache_usage", "max_queued_bytes", "team_weights", "key_weights");
  private static final Set<String> AFFINITY = Set.of("load_factor", "max_waiting", "max_kv_cache_usage",
      "session_header", "use_user", "vllm_load_tie_break", "load_floor");
  private static final Set<String> ROUTER_LATER = Set.of(
      "retry_policy", "disable_cooldowns", "redis_host", "redis_port", "redis_password",
      "enable_pre_call_checks", "model_group_alias");
  private static final Set<String> STRATEGIES = Set.of("simple-shuffle", "least-busy", "usage-based-routing",
      "usage-based-routing-v2", "latency-based-routing", "cost-based-routing", "vllm-load", "prefix-affinity");
  private static final Set<String> LITELLM = Set.of("request_timeout", "require_auth_for_metrics_endpoint", "num_retries", "fallbacks",
      "forward_llm_provider_auth_headers", "callbacks", "context_window_fallbacks", "enforce_model_rate_limits");
  private static final Set<String> PASS = Set.of("path", "target", "include_subpath", "headers", "forward_headers",
      "auth", "methods", "default_query_params");
  private static final Set<String> PASS_LATER = Set.of("id", "cost_per_request", "merge_query_params",
      "guardrails");
  private static final Set<String> METHODS = Set.of("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS");
  /**
   * The exact paths Sluice serves itself (keep in step with {@code http.Route}; a test checks it). A pass-through
   * entry on one of them is never reached (Sluice's own route wins, as in LiteLLM); one that is a proper prefix of
   * them would take them over, and is refused.
   */
  public static final List<String> SERVED_PATHS = List.of("/health/liveliness", "/health/liveness",
      "/health/readiness", "/health", "/routes", "/metrics", "/metrics/", "/models", "/v1/models", "/chat/completions",
      "/v1/chat/completions", "/completions", "/v1/completions", "/embeddings", "/v1/embeddings", "/responses",
      "/v1/responses", "/rerank", "/v1/rerank", "/score", "/v1/score", "/messages", "/v1/messages",
      "/messages/count_tokens", "/v1/messages/count_tokens", "/v1/model/info", "/v2/model/info",
      "/model_group/info", "/tokenize", "/detokenize", "/pooling", "/classify", "/v2/rerank",
      "/audio/transcriptions", "/v1/audio/transcriptions", "/audio/translations", "/v1/audio/translations");
  /** Path families Sluice serves whole (every path under them is Sluice's): the admin API and {@code /vllm}. */
  public static final List<String> SERVED_FAMILIES = List.of("/key", "/user", "/team", "/model", "/spend",
      "/global/spend", "/global/activity", "/budget", "/end_user", "/customer", "/organization", "/vllm", "/ui", "/models",
      "/v1/models", "/responses", "/v1/responses");
  private static final Set<String> LITELLM_LATER = Set.of("drop_params", "cache",
      "cache_params", "set_verbose", "json_logs", "success_callback",
      "failure_callback", "key_generation_settings", "telemetry");
  private static final Set<String> SLUICE = Set.of("max_uri_length", "max_header_size", "request_read_timeout",
      "idle_timeout", "connect_timeout", "upstream_idle_timeout", "max_connections_per_replica",
      "limits_on_redis_failure", "metrics_key_labels",
      "max_idle_per_replica", "tls_cert_file", "tls_key_file", "tls_reload_interval", "upstream_ca_bundle",
      "health_check_ttl", "health_check_timeout", "cache_isolation", "response_model_name",
      "reservation_max_tokens");

  private final String file;
  private final Map<String, String> env;
  private final List<String> ignored = new ArrayList<>();
  /** What loads but will not do what its author likely meant (logged at WARN, printed by {@code sluice check}). */
  private final List<String> warnings = new ArrayList<>();
  /** Loading a file: a model_list entry for a provider Sluice does not serve is skipped with a warning, not fatal. */
  private boolean skipUnservedProviders;
  /** Model groups of the entries skipped so (fallbacks naming them are dropped with a warning, not fatal). */
  private final Set<String> skippedGroups = new java.util.HashSet<>();

  private static String prefixes() {
    StringBuilder sb = new StringBuilder();
    for (Provider pr : Provider.values()) {
      sb.append(sb.length() == 0 ? "" : ", ").append(pr.prefix());
    }
    return sb.toString();
  }

  /** The id of the first model_list entry with {@code use_in_pass_through: true}. */
  private String firstPassThroughId;

  private ConfigLoader(String file, Map<String, String> env) {
    this.file = file;
    this.env = env;
  }

  /** The loaded configuration, the paths of the keys that were ignored, and warnings (each naming its path). */
  public record LoadResult(SluiceConfig config, List<String> ignoredKeys, List<String> warnings) {}

  public static SluiceConfig load(Path file) {
    return load(file, System.getenv());
  }

  public static SluiceConfig load(Path file, Map<String, String> env) {
    LoadResult r = loadWithReport(file, env);
    for (String k : r.ignoredKeys()) {
      log.warn("{}: ignoring unknown key {}", file, k);
    }
    for (String w : r.warnings()) {
      log.warn("{}: {}", file, w);
    }
    return r.config();
  }

  public static LoadResult loadWithReport(Path file, Map<String, String> env) {
    ConfigLoader l = new ConfigLoader(file.toString(), env);
    l.skipUnservedProviders = true; // a LiteLLM config fronting vLLM and a cloud provider serves its vLLM part
    JsonNode root;
    try {
      root = YAML.readTree(Files.readString(file, StandardCharsets.UTF_8));
    } catch (NoSuchFileException e) {
      throw new ConfigException(file + ": no such file");
    } catch (JsonProcessingException e) {
      JsonLocation loc = e.getLocation();
      throw new ConfigException(file + ": not valid YAML" + (loc == null ? "" : " at line " + loc.getLineNr()
          + ", column " + loc.getColumnNr()) + ": " + e.getOriginalMessage().split("\n")[0]);
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot be read: " + e.getMessage(), e);
    }
    SluiceConfig cfg = l.config(file, root);
    return new LoadResult(cfg, List.copyOf(l.ignored), List.copyOf(l.warnings));
  }

  private SluiceConfig config(Path source, JsonNode root) {
    if (root == null || root.isNull() || root.isMissingNode()) {
      return new SluiceConfig(source, List.of(), GeneralSettings.defaults(), RouterSettings.defaults(),
          LitellmSettings.defaults(), ServerSettings.defaults());
    }
    object(root, "(top level)");
    report(root, "", TOP, Set.of());
    List<DeploymentConfig> models = modelList(root.get("model_list"));
    return new SluiceConfig(source, models, general(root.get("general_settings")),
        router(root.get("router_settings"), root.get("litellm_settings"), models),
        litellm(root.get("litellm_settings")), server(root.get("sluice_settings")),
        passThrough(root.get("general_settings"), root.get("litellm_settings")));
  }

  // ---- pass-through -------------------------------------------------------------------------------------------

  private PassThroughSettings passThrough(JsonNode general, JsonNode litellm) {
    List<PassThroughEndpoint> endpoints = new ArrayList<>();
    boolean byok = false;
    if (!absent(general)) {
      JsonNode list = general.get("pass_through_endpoints");
      if (!absent(list)) {
        String at = "general_settings.pass_through_endpoints";
        if (!list.isArray()) {
          throw fail(at, "expected a list of {path, target, …} entries, found " + kind(list));
        }
        Map<String, Integer> paths = new HashMap<>();
        for (int i = 0; i < list.size(); i++) {
          PassThroughEndpoint e = passThroughEndpoint(list.get(i), at + "[" + i + "]");
          Integer prev = paths.putIfAbsent(e.path(), i);
          if (prev != null) {
            throw fail(at + "[" + i + "].path", "\"" + e.path() + "\" is already the path of " + at + "[" + prev
                + "] (paths must be unique)");
          }
          if (servedBySluice(e.path())) {
            // LiteLLM appends pass-through routes after its own (FastAPI add_api_route), so its own route answers
            // and the entry is dead; Sluice does the same, but says so.
            warnings.add(at + "[" + i + "].path: \"" + e.path() + "\" is a route Sluice serves itself; Sluice's "
                + "own route answers it (as in LiteLLM) and this entry is skipped. Choose another path to reach "
                + e.target().getHost() + " through Sluice.");
            continue;
          }
          endpoints.add(e);
        }
      }
      byok = bool(general, "forward_llm_provider_auth_headers", "general_settings");
    }
    if (!absent(litellm) && litellm.isObject()) {
      byok |= bool(litellm, "forward_llm_provider_auth_headers", "litellm_settings");
    }
    URI vllmBase = null;
    String base = env.get("VLLM_API_BASE");
    if (nonEmpty(base)) {
      try {
        URI u = new URI(base.trim());
        if (!("http".equalsIgnoreCase(u.getScheme()) || "https".equalsIgnoreCase(u.getScheme())) || u.getHost() == null) {
          throw new URISyntaxException(base, "not an absolute http(s) URL");
        }
        String str = u.toString();
        vllmBase = URI.create(str.endsWith("/") ? str.substring(0, str.length() - 1) : str);
      } catch (URISyntaxException ex) {
        throw new ConfigException("environment variable VLLM_API_BASE is not an absolute http(s) URL (expected e.g. "
            + "http://vllm:8000)");
      }
    }
    String key = env.get("VLLM_API_KEY");
    return new PassThroughSettings(endpoints, vllmBase, nonEmpty(key) ? Secret.of(key) : null, firstPassThroughId,
        byok);
  }

  /** Whether Sluice answers {@code path} itself: one of its exact routes, or inside a family it serves whole. */
  static boolean servedBySluice(String path) {
    if (SERVED_PATHS.contains(path)) {
      return true;
    }
    for (String f : SERVED_FAMILIES) {
      if (path.equals(f) || path.startsWith(f + "/")) {
        return true;
      }
    }
    return false;
  }

  private PassThroughEndpoint passThroughEndpoint(JsonNode e, String at) {
    object(e, at);
    report(e, at + ".", PASS, PASS_LATER);
    String path = requiredString(e, "path", at);
    if (!path.startsWith("/") || path.contains("//") || path.contains("%") || path.contains("?")
        || path.contains("#") || path.contains("\\") || ("/" + path + "/").contains("/../")
        || ("/" + path + "/").contains("/./")) {
      throw fail(at + ".path", "\"" + path + "\" is not a plain path (expected e.g. /nvidia: starts with /, no "
          + "//, . or .. segments, %-escapes, ? or #)");
    }
    if (path.length() > 1 && path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    if (path.equals("/")) {
      throw fail(at + ".path", "\"/\" would take every route; give the endpoint its own path, e.g. /nvidia");
    }
    for (String b : SERVED_FAMILIES) {
      if (b.startsWith(path + "/")) {
        throw fail(at + ".path", "\"" + path + "\" would shadow Sluice's own " + b + "/* routes; choose another path");
      }
    }
    for (String b : SERVED_PATHS) {
      if (b.startsWith(path + "/")) {
        throw fail(at + ".path", "\"" + path + "\" would shadow Sluice's own route " + b + " (and any other under "
            + path + "/); choose another path");
      }
    }
    String targetRaw = resolve(requiredString(e, "target", at), at + ".target");
    URI target = httpUrl(targetRaw, at + ".target");
    if (target.getRawQuery() != null || target.getRawFragment() != null) {
      throw fail(at + ".target", "must not have a query or fragment (use default_query_params)");
    }
    String t = target.toString();
    if (t.endsWith("/")) {
      target = URI.create(t.substring(0, t.length() - 1));
    }
    Map<String, Secret> headers = new java.util.LinkedHashMap<>();
    String keyHeader = null;
    JsonNode hs = e.get("headers");
    if (!absent(hs)) {
      object(hs, at + ".headers");
      for (Iterator<Map.Entry<String, JsonNode>> it = hs.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> h = it.next();
        String name = h.getKey();
        String hat = at + ".headers." + name;
        if (!HEADER_TOKEN.matcher(name).matches()) {
          throw fail(hat, "not a valid HTTP header name");
        }
        JsonNode v = h.getValue();
        if (!v.isTextual() && !v.isNumber() && !v.isBoolean()) {
          throw fail(hat, "expected a string, found " + kind(v));
        }
        if (name.equals("litellm_user_api_key")) {
          if (!HEADER_TOKEN.matcher(v.asText()).matches()) {
            throw fail(hat, "expected the name of the client header that carries the Sluice key, e.g. x-my-key");
          }
          keyHeader = v.asText().toLowerCase(java.util.Locale.ROOT);
          continue;
        }
        headers.put(name, Secret.of(resolveEmbedded(v.asText(), env, file + ": " + hat)));
      }
    }
    List<String> methods = new ArrayList<>();
    JsonNode ms = e.get("methods");
    if (!absent(ms)) {
      if (!ms.isArray()) {
        throw fail(at + ".methods", "expected a list such as [GET, POST], found " + kind(ms));
      }
      for (int i = 0; i < ms.size(); i++) {
        String m = ms.get(i).asText("").toUpperCase(java.util.Locale.ROOT);
        if (!ms.get(i).isTextual() || !METHODS.contains(m)) {
          throw fail(at + ".methods[" + i + "]", show(ms.get(i)) + " is not one of GET, POST, PUT, DELETE, PATCH, "
              + "HEAD, OPTIONS");
        }
        methods.add(m);
      }
    }
    Map<String, String> query = new java.util.LinkedHashMap<>();
    JsonNode qs = e.get("default_query_params");
    if (!absent(qs)) {
      object(qs, at + ".default_query_params");
      for (Iterator<Map.Entry<String, JsonNode>> it = qs.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> q = it.next();
        if (!q.getValue().isValueNode() || q.getValue().isNull()) {
          throw fail(at + ".default_query_params." + q.getKey(), "expected a string or number, found "
              + kind(q.getValue()));
        }
        query.put(q.getKey(), q.getValue().asText());
      }
    }
    return new PassThroughEndpoint(path, target, bool(e, "include_subpath", at), headers, keyHeader,
        bool(e, "forward_headers", at), bool(e, "auth", at), methods, query);
  }

  private boolean bool(JsonNode obj, String key, String at) {
    JsonNode v = obj.get(key);
    if (absent(v)) {
      return false;
    }
    if (!v.isBoolean()) {
      throw fail(sub(at, key), "expected true or false, found " + show(v));
    }
    return v.asBoolean();
  }

  // ---- model_list ---------------------------------------------------------------------------------------------

  private List<DeploymentConfig> modelList(JsonNode list) {
    if (absent(list)) {
      return List.of();
    }
    if (!list.isArray()) {
      throw fail("model_list", "expected a list of deployments, found " + kind(list));
    }
    List<DeploymentConfig> out = new ArrayList<>();
    Map<String, Integer> ids = new HashMap<>();
    for (int i = 0; i < list.size(); i++) {
      String at = "model_list[" + i + "]";
      DeploymentConfig d = deployment(list.get(i), at);
      if (d == null) {
        continue; // a provider Sluice does not serve: warned
      }
      Integer prev = ids.putIfAbsent(d.id(), i);
      if (prev != null) {
        throw fail(at + ".model_info.id", "\"" + d.id() + "\" is already the id of model_list[" + prev
            + "] (ids must be unique)");
      }
      out.add(d);
    }
    return out;
  }

  private DeploymentConfig deployment(JsonNode e, String at) {
    object(e, at);
    report(e, at.isEmpty() ? "" : at + ".", ENTRY, Set.of());
    String name = requiredString(e, "model_name", at);
    JsonNode params = e.get("litellm_params");
    if (absent(params)) {
      throw fail(sub(at, "litellm_params"), "missing (expected e.g. {model: hosted_vllm/<served-name>, api_base: "
          + "http://vllm:8000/v1})");
    }
    String p = sub(at, "litellm_params");
    object(params, p);
    report(params, p + ".", PARAMS, PARAMS_LATER);
    String model = resolve(requiredString(params, "model", p), p + ".model");
    Provider provider = null;
    for (Provider candidate : Provider.values()) {
      if (model.startsWith(candidate.prefix())) {
        provider = candidate;
      }
    }
    if (provider == null) {
      String why = "\"" + model + "\" is not a provider Sluice serves: Sluice fronts vLLM and OpenAI-compatible "
          + "servers at an api_base (prefixes " + prefixes() + "), not cloud provider APIs";
      if (skipUnservedProviders) {
        warnings.add(p + ".model: " + why + "; this entry (model_name " + name + ") is skipped.");
        skippedGroups.add(name);
        return null;
      }
      throw fail(p + ".model", why);
    }
    String upstream = model.substring(provider.prefix().length());
    if (upstream.isEmpty()) {
      throw fail(p + ".model", "\"" + model + "\" names no model after the prefix");
    }
    String apiBaseRaw = optionalString(params, "api_base", p);
    if (apiBaseRaw != null) {
      apiBaseRaw = resolve(apiBaseRaw, p + ".api_base");
    } else if (provider == Provider.HOSTED_VLLM && nonEmpty(env.get("HOSTED_VLLM_API_BASE"))) {
      apiBaseRaw = env.get("HOSTED_VLLM_API_BASE"); // LiteLLM's fallback for hosted_vllm/
    } else {
      throw fail(p + ".api_base", "missing (expected the replica's URL, e.g. http://vllm-a:8000/v1)");
    }
    URI apiBase = httpUrl(apiBaseRaw, p + ".api_base");
    String basePath = apiBase.getRawPath() == null ? "" : apiBase.getRawPath();
    if (!basePath.matches("(?i).*/v\\d+[a-z0-9]*/?")) {
      // The route's path is appended to api_base (as LiteLLM does for OpenAI-compatible servers), so a base without
      // /v1 sends /chat/completions to vLLM's root: its bare 404.
      String shown = apiBase.getScheme() + "://" + apiBase.getHost() + (apiBase.getPort() < 0 ? "" : ":"
          + apiBase.getPort()) + basePath;
      warnings.add(p + ".api_base: " + shown + " has no version segment: requests would go to " + shown
          + "/chat/completions, which vLLM answers 404. Add /v1 (e.g. " + shown.replaceAll("/+$", "") + "/v1).");
    }
    Secret apiKey = null;
    String key = optionalString(params, "api_key", p);
    if (key != null) {
      key = resolve(key, p + ".api_key");
      if (key.isEmpty()) {
        throw fail(p + ".api_key", "empty (remove it to send no key)");
      }
      apiKey = Secret.of(key);
    } else if (provider == Provider.HOSTED_VLLM && nonEmpty(env.get("HOSTED_VLLM_API_KEY"))) {
      apiKey = Secret.of(env.get("HOSTED_VLLM_API_KEY"));
    }
    // LiteLLM sends the literal "fake-api-key" when a hosted_vllm deployment has no key; Sluice sends no
    // Authorization header at all, which is what a vLLM started without --api-key expects.
    Integer rpm = nonNegativeInt(params, "rpm", p);
    Integer tpm = nonNegativeInt(params, "tpm", p);
    Double weight = positiveNumber(params, "weight", p);
    Duration timeout = seconds(params, "timeout", p);
    Integer order = nonNegativeInt(params, "order", p);
    Integer parallel = nonNegativeInt(params, "max_parallel_requests", p);
    if (parallel != null && parallel < 1) {
      throw fail(p + ".max_parallel_requests", "0 (expected: >= 1; leave it out for no limit)");
    }
    String id = null;
    java.util.Map<String, Object> modelInfo = java.util.Map.of();
    Double inputCost = cost(params, "input_cost_per_token", p);
    Double outputCost = cost(params, "output_cost_per_token", p);
    JsonNode info = e.get("model_info");
    if (!absent(info)) {
      object(info, sub(at, "model_info"));
      // No unknown-key report here: model_info is free-form in LiteLLM (custom fields are kept and shown).
      id = optionalString(info, "id", sub(at, "model_info"));
      JsonNode groups = info.get("access_groups");
      if (!absent(groups) && (!groups.isArray() || !allText(groups))) {
        throw fail(sub(at, "model_info") + ".access_groups", "expected a list of names, found " + show(groups));
      }
      modelInfo = YAML.convertValue(info, new com.fasterxml.jackson.core.type.TypeReference<java.util.Map<String,
          Object>>() {}); // custom fields kept: /model/info shows them, as LiteLLM does
      // model_info is where LiteLLM documents per-deployment pricing; litellm_params also works there. model_info wins.
      Double in = cost(info, "input_cost_per_token", sub(at, "model_info"));
      Double out = cost(info, "output_cost_per_token", sub(at, "model_info"));
      inputCost = in != null ? in : inputCost;
      outputCost = out != null ? out : outputCost;
    }
    if (id == null) {
      id = derivedId(name, model, apiBase.toString());
    }
    if (bool(params, "use_in_pass_through", p) && firstPassThroughId == null && !at.isEmpty()) {
      firstPassThroughId = id;
    }
    return new DeploymentConfig(name, provider, upstream, apiBase, apiKey, rpm, tpm, weight, timeout, id, order,
        inputCost, outputCost, modelInfo, parallel);
  }

  private static boolean allText(JsonNode array) {
    for (JsonNode n : array) {
      if (!n.isTextual()) {
        return false;
      }
    }
    return true;
  }

  /** A cost per token: a finite number ≥ 0 (strings of numbers too, as LiteLLM's YAML often has "0.0000015"). */
  private Double cost(JsonNode o, String field, String at) {
    JsonNode v = o.get(field);
    if (absent(v)) {
      return null;
    }
    double d;
    if (v.isNumber()) {
      d = v.asDouble();
    } else if (v.isTextual()) {
      try {
        d = Double.parseDouble(v.asText().trim());
      } catch (NumberFormatException ex) {
        throw fail(at + "." + field, "\"" + shortText(v.asText()) + "\" is not a number (expected USD per token, "
            + "e.g. 0.0000015)");
      }
    } else {
      throw fail(at + "." + field, "expected a number (USD per token, e.g. 0.0000015)");
    }
    if (!Double.isFinite(d) || d < 0) {
      throw fail(at + "." + field, d + " is not a cost (expected a number ≥ 0, USD per token)");
    }
    return d;
  }

  private static String sub(String at, String key) {
    return at.isEmpty() ? key : at + "." + key;
  }

  /**
   * Parses one deployment given outside a file (the {@code /model/new} body: {@code model_name},
   * {@code litellm_params}, {@code model_info}) with the same rules as a {@code model_list} entry. Errors are
   * {@link ConfigException}s that start with {@code source} and name the path, e.g.
   * {@code "request body: litellm_params.api_base: missing …"}; never a secret value.
   */
  public static DeploymentConfig deployment(JsonNode entry, Map<String, String> env, String source) {
    return new ConfigLoader(source, env).deployment(entry, "");
  }

  /** A stable id from what identifies the replica — never from its key. */
  private static String derivedId(String name, String model, String apiBase) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest((name + "\n" + model + "\n" + apiBase)
          .getBytes(StandardCharsets.UTF_8));
      StringBuilder sb = new StringBuilder(16);
      for (int i = 0; i < 8; i++) {
        sb.append(String.format("%02x", d[i]));
      }
      return sb.toString();
    } catch (NoSuchAlgorithmException ex) {
      throw new IllegalStateException(ex);
    }
  }

  /** {@code k8s://SERVICE.NAMESPACE:PORT/path}: the service's ready pods, found at run time (see KubernetesTarget). */
  private static final Pattern K8S_HOST = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

  private URI httpUrl(String raw, String at) {
    String v = raw.endsWith("/") ? raw.substring(0, raw.length() - 1) : raw;
    if (v.regionMatches(true, 0, "k8s://", 0, 6)) {
      URI k;
      try {
        k = new URI(v);
      } catch (URISyntaxException ex) {
        k = null;
      }
      if (k == null || k.getHost() == null || !K8S_HOST.matcher(k.getHost()).matches() || k.getPort() <= 0
          || k.getRawUserInfo() != null || k.getRawQuery() != null || k.getRawFragment() != null) {
        throw fail(at, "\"" + raw + "\" is not a Kubernetes service address (expected k8s://SERVICE.NAMESPACE:PORT/v1,"
            + " e.g. k8s://vllm-llama.models:8000/v1, PORT being the port vLLM listens on in the pod)");
      }
      return k;
    }
    URI u;
    try {
      u = new URI(v);
    } catch (URISyntaxException ex) {
      throw fail(at, "\"" + redactUrl(raw) + "\" is not a valid URL (expected e.g. http://vllm-a:8000/v1)");
    }
    String scheme = u.getScheme();
    if (u.getRawUserInfo() != null || u.getRawQuery() != null) {
      // user:password@ or ?key=… would put a credential in the URL (and in every log line naming it).
      throw fail(at, "\"" + redactUrl(raw) + "\" carries " + (u.getRawUserInfo() != null ? "user info" : "a query")
          + ": put credentials in api_key (or the endpoint's headers), not in the URL");
    }
    if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))
        || u.getHost() == null || u.getRawFragment() != null) {
      throw fail(at, "\"" + redactUrl(raw) + "\" is not an http(s) URL with a host (expected e.g. "
          + "http://vllm-a:8000/v1, or k8s://SERVICE.NAMESPACE:PORT/v1 for a Kubernetes service's pods)");
    }
    return u;
  }

  /** {@code raw} without user info or query: what an error about a URL may show (either can hold a credential). */
  static String redactUrl(String raw) {
    String v = raw.replaceAll("(?<=://)[^/@]*@", "<redacted>@");
    int q = v.indexOf('?');
    return q >= 0 ? v.substring(0, q) + "?<redacted>" : v;
  }

  // ---- sections -----------------------------------------------------------------------------------------------

  private GeneralSettings general(JsonNode g) {
    if (absent(g)) {
      return GeneralSettings.defaults();
    }
    String at = "general_settings";
    object(g, at);
    report(g, at + ".", GENERAL, GENERAL_LATER);
    Secret master = null;
    String mk = optionalString(g, "master_key", at);
    if (mk != null) {
      mk = resolve(mk, at + ".master_key");
      if (!mk.isEmpty()) {
        master = Secret.of(mk);
      }
    }
    String header = optionalString(g, "litellm_key_header_name", at);
    if (header != null && !HEADER_TOKEN.matcher(header).matches()) {
      throw fail(at + ".litellm_key_header_name", "\"" + header + "\" is not a valid HTTP header name");
    }
    long max = GeneralSettings.DEFAULT_MAX_REQUEST_SIZE;
    Double mb = positiveNumber(g, "max_request_size_mb", at);
    if (mb != null) {
      max = (long) (mb * 1024 * 1024);
    }
    JsonNode bhc = g.get("background_health_checks");
    if (!absent(bhc) && !bhc.isBoolean()) {
      throw fail(at + ".background_health_checks", "expected true or false, found " + show(bhc));
    }
    Duration interval = seconds(g, "health_check_interval", at);
    Secret dbUrl = null;
    String db = optionalString(g, "database_url", at);
    if (db != null) {
      db = resolve(db, at + ".database_url");
      if (!db.isBlank()) {
        dbUrl = Secret.of(db.trim());
      }
    }
    Boolean storeModelInDb = flag(g, "store_model_in_db", at);
    Boolean disableSpendLogs = flag(g, "disable_spend_logs", at);
    Integer pool = nonNegativeInt(g, "database_connection_pool_limit", at);
    if (pool != null && pool == 0) {
      throw fail(at + ".database_connection_pool_limit", "expected a whole number >= 1, found 0");
    }
    return new GeneralSettings(master, header, max, !absent(bhc) && bhc.asBoolean(),
        interval == null ? GeneralSettings.DEFAULT_HEALTH_CHECK_INTERVAL : interval, dbUrl, storeModelInDb, pool,
        Boolean.TRUE.equals(disableSpendLogs));
  }

  /** An optional true/false, also as the strings "true"/"false" (as LiteLLM's YAML files often have it); or null. */
  private Boolean flag(JsonNode g, String name, String at) {
    JsonNode v = g.get(name);
    if (absent(v)) {
      return null;
    }
    if (v.isBoolean()) {
      return v.asBoolean();
    }
    if (v.isTextual() && (v.asText().equalsIgnoreCase("true") || v.asText().equalsIgnoreCase("false"))) {
      return Boolean.parseBoolean(v.asText());
    }
    throw fail(at + "." + name, "expected true or false, found " + show(v));
  }

  /**
   * {@code router_settings}; {@code num_retries} and {@code fallbacks} may also come from {@code litellm_settings}
   * (LiteLLM's router falls back to the module-level settings), the router's value winning.
   */
  private RouterSettings router(JsonNode r, JsonNode litellm, List<DeploymentConfig> models) {
    String at = "router_settings";
    JsonNode rs = absent(r) ? YAML.createObjectNode() : r;
    object(rs, at);
    report(rs, at + ".", ROUTER, ROUTER_LATER);
    JsonNode ls = absent(litellm) || !litellm.isObject() ? YAML.createObjectNode() : litellm;
    String strategy = optionalString(rs, "routing_strategy", at);
    if (strategy == null) {
      strategy = "simple-shuffle";
    } else if (!STRATEGIES.contains(strategy)) {
      throw fail(at + ".routing_strategy", "\"" + strategy + "\" is not a routing strategy (expected one of "
          + String.join(", ", new java.util.TreeSet<>(STRATEGIES)) + ")");
    } else if (io.sluice.routing.Strategy.of(strategy) == null) {
      log.warn("{}: {}.routing_strategy: {} is not implemented yet; using simple-shuffle", file, at, strategy);
    }
    Integer retries = nonNegativeInt(rs, "num_retries", at);
    if (retries == null) {
      retries = nonNegativeInt(ls, "num_retries", "litellm_settings");
    }
    Integer allowed = nonNegativeInt(rs, "allowed_fails", at);
    if (allowed != null && allowed < 1) {
      throw fail(at + ".allowed_fails", "0 (expected: >= 1)");
    }
    Duration cooldown = seconds(rs, "cooldown_time", at);
    JsonNode fb = rs.get("fallbacks");
    String fbAt = at + ".fallbacks";
    if (absent(fb)) {
      fb = ls.get("fallbacks");
      fbAt = "litellm_settings.fallbacks";
    }
    JsonNode cw = rs.get("context_window_fallbacks");
    String cwAt = at + ".context_window_fallbacks";
    if (absent(cw)) {
      cw = ls.get("context_window_fallbacks");
      cwAt = "litellm_settings.context_window_fallbacks";
    }
    // LiteLLM reads enforce_model_rate_limits from litellm_settings (and the Router's own argument).
    JsonNode em = rs.get("enforce_model_rate_limits");
    boolean enforce = !absent(em) ? bool(rs, "enforce_model_rate_limits", at)
        : !absent(ls.get("enforce_model_rate_limits")) && bool(ls, "enforce_model_rate_limits", "litellm_settings");
    return new RouterSettings(strategy, seconds(rs, "timeout", at),
        retries == null ? RouterSettings.DEFAULT_NUM_RETRIES : retries,
        allowed == null ? RouterSettings.DEFAULT_ALLOWED_FAILS : allowed,
        cooldown == null ? RouterSettings.DEFAULT_COOLDOWN : cooldown, fallbacks(fb, fbAt, models),
        seconds(rs, "stream_timeout", at), fallbacks(cw, cwAt, models), enforce,
        affinity(rs.get("prefix_affinity"), at + ".prefix_affinity"),
        admission(rs.get("fair_admission"), at + ".fair_admission", seconds(rs, "timeout", at)));
  }

  /** {@code router_settings.fair_admission} (Sluice's own), or the defaults when absent. */
  private AdmissionSettings admission(JsonNode a, String at, Duration routerTimeout) {
    Duration dflt = routerTimeout != null ? routerTimeout : AdmissionSettings.DEFAULT_QUEUE_TIMEOUT;
    if (absent(a)) {
      AdmissionSettings d = AdmissionSettings.defaults();
      return new AdmissionSettings(true, dflt, null, null, d.maxQueuedBytes(), Map.of(), Map.of());
    }
    object(a, at);
    report(a, at + ".", ADMISSION, Set.of());
    Double kv = nonNegativeNumber(a, "max_kv_cache_usage", at);
    if (kv != null && kv > 1) {
      throw fail(at + ".max_kv_cache_usage", kv + " (expected: a fraction from 0 to 1, as vLLM's "
          + "vllm:kv_cache_usage_perc)");
    }
    JsonNode bytes = a.get("max_queued_bytes");
    long maxBytes = AdmissionSettings.DEFAULT_MAX_QUEUED_BYTES;
    if (!absent(bytes)) {
      if (!bytes.isIntegralNumber() || !bytes.canConvertToLong() || bytes.asLong() < 0) {
        throw fail(at + ".max_queued_bytes", "expected a whole number of bytes >= 0 (e.g. 67108864), found "
            + show(bytes));
      }
      maxBytes = bytes.asLong();
    }
    JsonNode en = a.get("enabled");
    return new AdmissionSettings(absent(en) || bool(a, "enabled", at), orDuration(a, "queue_timeout", at, dflt),
        nonNegativeNumber(a, "max_waiting", at), kv, maxBytes, weights(a.get("team_weights"), at + ".team_weights"),
        weights(a.get("key_weights"), at + ".key_weights"));
  }

  /** {@code {name: weight > 0, …}}. */
  private Map<String, Double> weights(JsonNode w, String at) {
    if (absent(w)) {
      return Map.of();
    }
    object(w, at);
    Map<String, Double> out = new java.util.HashMap<>();
    w.fields().forEachRemaining(f -> {
      JsonNode v = f.getValue();
      if (!v.isNumber() || !(v.asDouble() > 0) || Double.isInfinite(v.asDouble())) {
        throw fail(at + "." + f.getKey(), "expected a weight > 0 (e.g. 1, 2.5), found " + show(v));
      }
      out.put(f.getKey(), v.asDouble());
    });
    return out;
  }

  /** {@code router_settings.prefix_affinity} (Sluice's own), or the defaults when absent. */
  private io.sluice.config.AffinitySettings affinity(JsonNode a, String at) {
    if (absent(a)) {
      return AffinitySettings.defaults();
    }
    object(a, at);
    report(a, at + ".", AFFINITY, Set.of());
    Double eps = nonNegativeNumber(a, "load_factor", at);
    Double kv = nonNegativeNumber(a, "max_kv_cache_usage", at);
    if (kv != null && kv > 1) {
      throw fail(at + ".max_kv_cache_usage", kv + " (expected: a fraction from 0 to 1, as vLLM's "
          + "vllm:kv_cache_usage_perc)");
    }
    String header = optionalString(a, "session_header", at);
    if (header != null && (header.isBlank() || !header.chars().allMatch(c -> c > 0x20 && c < 0x7F && c != ':'))) {
      throw fail(at + ".session_header", "\"" + shortText(header) + "\" is not a header name (e.g. x-session-id)");
    }
    Integer floor = nonNegativeInt(a, "load_floor", at);
    return new AffinitySettings(eps == null ? AffinitySettings.DEFAULT_LOAD_FACTOR : eps,
        nonNegativeNumber(a, "max_waiting", at), kv, header, bool(a, "use_user", at),
        bool(a, "vllm_load_tie_break", at), floor == null ? AffinitySettings.DEFAULT_LOAD_FLOOR : floor);
  }

  private Double nonNegativeNumber(JsonNode obj, String key, String at) {
    JsonNode v = obj.get(key);
    if (absent(v)) {
      return null;
    }
    if (!v.isNumber() || !(v.asDouble() >= 0) || Double.isInfinite(v.asDouble())) {
      throw fail(sub(at, key), "expected a number >= 0, found " + show(v));
    }
    return v.asDouble();
  }

  /** {@code [{"group-a": ["group-b", …]}, …]}, LiteLLM's shape; every group must exist. */
  private Map<String, List<String>> fallbacks(JsonNode fb, String at, List<DeploymentConfig> models) {
    if (absent(fb)) {
      return Map.of();
    }
    if (!fb.isArray()) {
      throw fail(at, "expected a list like [{\"group-a\": [\"group-b\"]}], found " + kind(fb));
    }
    Set<String> groups = new java.util.HashSet<>();
    for (DeploymentConfig d : models) {
      groups.add(d.modelName());
    }
    Map<String, List<String>> out = new java.util.LinkedHashMap<>();
    for (int i = 0; i < fb.size(); i++) {
      JsonNode e = fb.get(i);
      String ai = at + "[" + i + "]";
      object(e, ai);
      Iterator<Map.Entry<String, JsonNode>> it = e.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> kv = it.next();
        String from = kv.getKey();
        if (!groups.contains(from) && skippedGroups.contains(from)) {
          warnings.add(ai + "." + from + ": model group " + from + " was skipped (a provider Sluice does not "
              + "serve), so are its fallbacks.");
          continue;
        }
        if (!groups.contains(from)) {
          throw fail(ai + "." + from, "no model group named \"" + from + "\" in model_list");
        }
        JsonNode to = kv.getValue();
        if (!to.isArray()) {
          throw fail(ai + "." + from, "expected a list of model groups, found " + kind(to));
        }
        List<String> targets = new ArrayList<>();
        for (int j = 0; j < to.size(); j++) {
          JsonNode g = to.get(j);
          if (g.isTextual() && !groups.contains(g.asText()) && skippedGroups.contains(g.asText())) {
            warnings.add(ai + "." + from + "[" + j + "]: model group " + g.asText() + " was skipped (a provider "
                + "Sluice does not serve); it is left out of the fallbacks of " + from + ".");
            continue;
          }
          if (!g.isTextual() || !groups.contains(g.asText())) {
            throw fail(ai + "." + from + "[" + j + "]", show(g) + " is not a model group in model_list");
          }
          targets.add(g.asText());
        }
        out.put(from, List.copyOf(targets));
      }
    }
    return out;
  }

  private LitellmSettings litellm(JsonNode l) {
    if (absent(l)) {
      return LitellmSettings.defaults();
    }
    String at = "litellm_settings";
    object(l, at);
    report(l, at + ".", LITELLM, LITELLM_LATER);
    Duration t = seconds(l, "request_timeout", at);
    JsonNode auth = l.get("require_auth_for_metrics_endpoint");
    return new LitellmSettings(t == null ? LitellmSettings.DEFAULT_REQUEST_TIMEOUT : t,
        absent(auth) || bool(l, "require_auth_for_metrics_endpoint", at), otel(l.get("callbacks"), at + ".callbacks"));
  }

  /**
   * {@code callbacks}: LiteLLM's list of logging integrations. {@code "otel"} (LiteLLM's name for OpenTelemetry)
   * turns traces on; any other name is one Sluice does not have, ignored with a warning.
   */
  private boolean otel(JsonNode cb, String at) {
    if (absent(cb)) {
      return false;
    }
    if (!cb.isArray()) {
      throw fail(at, "expected a list of callback names, e.g. [\"otel\"]");
    }
    boolean otel = false;
    for (int i = 0; i < cb.size(); i++) {
      JsonNode n = cb.get(i);
      if (!n.isTextual()) {
        throw fail(at + "[" + i + "]", "expected a callback name (a string), got " + n.getNodeType());
      }
      if ("otel".equals(n.asText())) {
        otel = true;
      } else {
        warnings.add(at + "[" + i + "]: \"" + n.asText() + "\" is not a callback Sluice has (only \"otel\"); "
            + "ignored.");
      }
    }
    return otel;
  }

  private ServerSettings server(JsonNode s) {
    ServerSettings d = ServerSettings.defaults();
    if (absent(s)) {
      return d;
    }
    String at = "sluice_settings";
    object(s, at);
    report(s, at + ".", SLUICE, Set.of());
    try {
      return new ServerSettings(
          orInt(s, "max_uri_length", at, d.maxUriLength()),
          orInt(s, "max_header_size", at, d.maxHeaderSize()),
          orDuration(s, "request_read_timeout", at, d.requestReadTimeout()),
          orDuration(s, "idle_timeout", at, d.idleTimeout()),
          orDuration(s, "connect_timeout", at, d.connectTimeout()),
          orDuration(s, "upstream_idle_timeout", at, d.upstreamIdleTimeout()),
          orInt(s, "max_connections_per_replica", at, d.maxConnectionsPerReplica()),
          orInt(s, "max_idle_per_replica", at, d.maxIdlePerReplica()),
          limitsFailClosed(s, at),
          bool(s, "metrics_key_labels", at),
          readableFile(s, "tls_cert_file", at),
          readableFile(s, "tls_key_file", at),
          orDuration(s, "tls_reload_interval", at, d.tlsReloadInterval()),
          readableFile(s, "upstream_ca_bundle", at),
          orDuration(s, "health_check_ttl", at, d.healthCheckTtl()),
          orDuration(s, "health_check_timeout", at, d.healthCheckTimeout()),
          cacheIsolation(s, at),
          servedModelName(s, at),
          orInt(s, "reservation_max_tokens", at, d.reservationMaxTokens()));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(file + ": " + at + "." + e.getMessage());
    }
  }

  /** {@code response_model_name}: {@code requested} (the default: the client's name, as LiteLLM) or {@code served}. */
  private boolean servedModelName(JsonNode s, String at) {
    String v = optionalString(s, "response_model_name", at);
    if (v == null || v.isBlank() || v.trim().equalsIgnoreCase("requested")) {
      return false;
    }
    if (v.trim().equalsIgnoreCase("served")) {
      return true;
    }
    throw fail(at + ".response_model_name", "\"" + v + "\" is not requested or served (requested: responses carry "
        + "the model name the client sent, as LiteLLM's; served: the replica's own)");
  }

  /** {@code cache_isolation}: {@code team}, {@code key} or {@code off} (the default). */
  private ServerSettings.CacheIsolation cacheIsolation(JsonNode s, String at) {
    String v = optionalString(s, "cache_isolation", at);
    if (v == null || v.isBlank()) {
      return ServerSettings.CacheIsolation.OFF;
    }
    ServerSettings.CacheIsolation c = ServerSettings.CacheIsolation.parse(v);
    if (c == null) {
      throw fail(at + ".cache_isolation", "\"" + v + "\" is not team, key or off (team: tenants of one team share "
          + "vLLM's prefix cache, key: one cache namespace per key)");
    }
    return c;
  }

  /**
   * A file path setting: relative paths are resolved against the config file's directory; the file must exist and
   * be readable (its content is checked where it is used, naming the file). Null when absent.
   */
  private java.nio.file.Path readableFile(JsonNode s, String key, String at) {
    String v = optionalString(s, key, at);
    if (v == null || v.isBlank()) {
      return null;
    }
    java.nio.file.Path base = java.nio.file.Path.of(file).toAbsolutePath().getParent();
    java.nio.file.Path f = base == null ? java.nio.file.Path.of(v) : base.resolve(v);
    if (!java.nio.file.Files.isRegularFile(f) || !java.nio.file.Files.isReadable(f)) {
      throw fail(at + "." + key, "\"" + shortText(v) + "\" is not a readable file (looked for " + f + ")");
    }
    return f;
  }

  /** {@code sluice_settings.limits_on_redis_failure}: {@code open} (default, per-node limits) or {@code closed} (503). */
  private boolean limitsFailClosed(JsonNode s, String at) {
    String v = optionalString(s, "limits_on_redis_failure", at);
    if (v == null || v.equalsIgnoreCase("open")) {
      return false;
    }
    if (v.equalsIgnoreCase("closed")) {
      return true;
    }
    throw fail(at + ".limits_on_redis_failure", "\"" + shortText(v) + "\" (expected open or closed)");
  }

  // ---- values -------------------------------------------------------------------------------------------------

  /** Resolves a value that is exactly {@code os.environ/NAME}; other strings are returned as they are. */
  private String resolve(String value, String at) {
    if (!value.startsWith(ENV_PREFIX)) {
      return value;
    }
    String name = value.substring(ENV_PREFIX.length());
    String v = env.get(name);
    if (v == null) {
      throw fail(at, "environment variable " + name + " referenced by " + value + " is not set");
    }
    return v;
  }

  /**
   * Replaces every {@code os.environ/NAME} inside {@code value} (e.g. {@code "Bearer os.environ/NVDEV_API_KEY"}), as
   * LiteLLM does for pass-through headers. A missing variable is an error naming {@code path} and the variable.
   */
  public static String resolveEmbedded(String value, Map<String, String> env, String path) {
    Matcher m = EMBEDDED_ENV.matcher(value);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      String v = env.get(m.group(1));
      if (v == null) {
        throw new ConfigException(path + ": environment variable " + m.group(1) + " referenced by os.environ/"
            + m.group(1) + " is not set");
      }
      m.appendReplacement(sb, Matcher.quoteReplacement(v));
    }
    m.appendTail(sb);
    return sb.toString();
  }

  /** The known key closest to {@code n} by edit distance, when close enough to be a typo of it; else null. */
  static String nearest(String n, Set<String> known) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String k : known) {
      int d = editDistance(n.toLowerCase(java.util.Locale.ROOT), k);
      if (d < bestDistance || (d == bestDistance && best != null && k.compareTo(best) < 0)) {
        best = k;
        bestDistance = d;
      }
    }
    int allowed = Math.max(1, Math.min(3, best == null ? 0 : best.length() / 4));
    return best != null && bestDistance <= allowed ? best : null;
  }

  /** Damerau–Levenshtein distance (optimal string alignment): a swap of two letters counts one. */
  static int editDistance(String a, String b) {
    int[][] d = new int[a.length() + 1][b.length() + 1];
    for (int i = 0; i <= a.length(); i++) {
      d[i][0] = i;
    }
    for (int j = 0; j <= b.length(); j++) {
      d[0][j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
          d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.length()][b.length()];
  }

  private void report(JsonNode obj, String prefix, Set<String> known, Set<String> later) {
    Iterator<String> names = obj.fieldNames();
    while (names.hasNext()) {
      String n = names.next();
      if (!known.contains(n) && !later.contains(n)) {
        ignored.add(prefix + n);
        String near = nearest(n, known);
        if (near != null) {
          // A typo (modle_list:) would otherwise load as "nothing there" with one easily missed line.
          warnings.add(prefix + n + ": unknown key, ignored — did you mean " + prefix + near + "?");
        }
      }
    }
  }

  private void object(JsonNode n, String at) {
    if (!n.isObject()) {
      throw fail(at, "expected a mapping (key: value), found " + kind(n));
    }
  }

  private String requiredString(JsonNode obj, String key, String at) {
    String v = optionalString(obj, key, at);
    if (v == null || v.isBlank()) {
      throw fail(sub(at, key), "missing or empty");
    }
    return v;
  }

  private String optionalString(JsonNode obj, String key, String at) {
    JsonNode v = obj.get(key);
    if (absent(v)) {
      return null;
    }
    if (!v.isTextual()) {
      throw fail(sub(at, key), "expected a string, found " + kind(v));
    }
    return v.asText();
  }

  private Integer nonNegativeInt(JsonNode obj, String key, String at) {
    JsonNode v = obj.get(key);
    if (absent(v)) {
      return null;
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 0) {
      throw fail(sub(at, key), "expected a whole number >= 0, found " + show(v));
    }
    return v.asInt();
  }

  private Double positiveNumber(JsonNode obj, String key, String at) {
    JsonNode v = obj.get(key);
    if (absent(v)) {
      return null;
    }
    if (!v.isNumber() || !(v.asDouble() > 0)) {
      throw fail(sub(at, key), "expected a number > 0, found " + show(v));
    }
    return v.asDouble();
  }

  private Duration seconds(JsonNode obj, String key, String at) {
    Double s = positiveNumber(obj, key, at);
    return s == null ? null : Duration.ofNanos((long) (s * 1e9));
  }

  private int orInt(JsonNode obj, String key, String at, int dflt) {
    Integer v = nonNegativeInt(obj, key, at);
    return v == null ? dflt : v;
  }

  private Duration orDuration(JsonNode obj, String key, String at, Duration dflt) {
    Duration v = seconds(obj, key, at);
    return v == null ? dflt : v;
  }

  private static String shortText(String s) {
    return s.length() > 40 ? s.substring(0, 40) + "…" : s;
  }

  private static boolean absent(JsonNode n) {
    return n == null || n.isNull() || n.isMissingNode();
  }

  private static boolean nonEmpty(String s) {
    return s != null && !s.isEmpty();
  }

  private static String kind(JsonNode n) {
    if (n.isArray()) {
      return "a list";
    }
    if (n.isObject()) {
      return "a mapping";
    }
    if (n.isTextual()) {
      return "a string";
    }
    if (n.isNumber()) {
      return "a number";
    }
    if (n.isBoolean()) {
      return "a boolean";
    }
    return n.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
  }

  private static String show(JsonNode n) {
    return n.isValueNode() ? (n.isTextual() ? "\"" + n.asText() + "\"" : n.asText()) : kind(n);
  }

  private ConfigException fail(String path, String what) {
    return new ConfigException(file + ": " + path + ": " + what);
  }
}
