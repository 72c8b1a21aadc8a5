package io.sluice.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.sluice.config.MasterKeys;
import io.sluice.config.RouterSettings;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What {@code sluice check} prints for a configuration that loaded: every value in the file with the resolved value
 * and its source ({@code file}, or {@code env NAME} for {@code os.environ/NAME}), then the settings the file leaves to
 * the environment or to defaults ({@code env NAME} / {@code default}). Every secret is printed as
 * {@code <redacted>}: keys, passwords, tokens, header values, database and Redis URLs — by the key's name, so a
 * secret in an unexpected place is still hidden.
 */
final class ConfigReport {
  static final String REDACTED = "<redacted>";
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Pattern ENV = Pattern.compile("os\\.environ/([A-Za-z_][A-Za-z0-9_]*)");

  private ConfigReport() {}

  static void print(Path file, SluiceConfig cfg, MasterKeys.Resolved master, Map<String, String> env,
      java.util.List<String> loaderWarnings, PrintWriter out) throws IOException {
    JsonNode root = YAML.readTree(file.toFile());
    out.println("# sluice check: " + file + " is valid: " + cfg.modelList().size() + " deployment(s), "
        + cfg.modelList().stream().map(d -> d.modelName()).distinct().count() + " model group(s)");
    for (String w : loaderWarnings) {
      out.println("# WARNING: " + w);
    }
    for (String w : publicPassThroughWarnings(cfg)) {
      out.println("# WARNING: " + w);
    }
    out.println("# value  # source");
    if (root != null) {
      walk(root, "", env, out);
    }
    if (root == null || root.path("general_settings").path("master_key").isMissingNode()) {
      out.println("general_settings.master_key = " + (master.key() == null ? "(none: start needs "
          + "--allow-unauthenticated)" : REDACTED) + "  # " + master.source().describe());
    }
    if (root == null || root.path("general_settings").path("database_url").isMissingNode()) {
      String url = env.get("DATABASE_URL");
      out.println("general_settings.database_url = " + (url != null && !url.isBlank() ? REDACTED + "  # env "
          + "DATABASE_URL" : env.get("DATABASE_HOST") != null ? REDACTED + "  # env DATABASE_HOST, DATABASE_USERNAME, "
          + "DATABASE_PASSWORD, DATABASE_NAME" : "embedded PostgreSQL in <data dir>/pg  # default"));
    }
    String redis = env.get("REDIS_URL") != null ? "REDIS_URL" : env.get("REDIS_HOST") != null ? "REDIS_HOST" : null;
    out.println("redis = " + (redis == null ? "none: key cache, limits and key changes per node  # default"
        : REDACTED + "  # env " + redis));
    defaults("router_settings", root, cfg.router(), RouterSettings.class, out);
    defaults("sluice_settings", root, cfg.server(), ServerSettings.class, out);
    JsonNode litellm = root == null ? null : root.get("litellm_settings");
    if (litellm == null || !litellm.has("require_auth_for_metrics_endpoint")) {
      out.println("litellm_settings.require_auth_for_metrics_endpoint = " + cfg.litellm().requireAuthForMetrics()
          + "  # default");
    }
    // Traces: whether on, and what decided it (never the endpoint: a URL may carry credentials).
    boolean traces = OtelTracing.enabled(cfg.litellm().otel(), env);
    out.println("traces = " + (traces ? "on" : "off") + "  # " + (traces
        ? cfg.litellm().otel() ? "litellm_settings.callbacks" : "env OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT"
        : !OtelTracing.enabled(true, env) ? "env OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none" : "default"));
  }

  /**
   * One line per {@code pass_through_endpoints} entry without {@code auth: true}: such a route is public (LiteLLM's
   * default too), which an operator should decide knowingly. Logged at start and printed by {@code sluice check}.
   * Names the path only: a target URL may carry a credential.
   */
  static java.util.List<String> publicPassThroughWarnings(SluiceConfig cfg) {
    java.util.List<String> out = new java.util.ArrayList<>();
    for (io.sluice.config.PassThroughEndpoint e : cfg.passThrough().endpoints()) {
      if (!e.auth()) {
        out.add("pass-through route " + e.path() + (e.includeSubpath() ? "/*" : "") + " is public: anyone who can "
            + "reach Sluice can call it without a key. Set auth: true on its general_settings.pass_through_endpoints "
            + "entry to require a Sluice key.");
      }
    }
    return out;
  }

  private static void walk(JsonNode n, String path, Map<String, String> env, PrintWriter out) {
    if (n.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        String p = path.isEmpty() ? e.getKey() : path + "." + e.getKey();
        if (secretName(e.getKey()) && !e.getValue().isContainerNode()) {
          out.println(p + " = " + (e.getValue().isNull() ? "null" : REDACTED) + "  # " + source(e.getValue()));
        } else if (secretName(e.getKey())) {
          redactAll(e.getValue(), p, out);
        } else {
          walk(e.getValue(), p, env, out);
        }
      }
    } else if (n.isArray()) {
      for (int i = 0; i < n.size(); i++) {
        walk(n.get(i), path + "[" + i + "]", env, out);
      }
    } else {
      String text = n.isTextual() ? n.asText() : n.toString();
      Matcher m = ENV.matcher(text);
      String shown = text;
      if (m.find()) {
        String v = env.get(m.group(1));
        shown = v == null ? "(unset)" : ENV.matcher(text).replaceAll(Matcher.quoteReplacement(v));
      }
      out.println(path + " = " + shown + "  # " + source(n));
    }
  }

  private static void redactAll(JsonNode n, String path, PrintWriter out) {
    if (n.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        redactAll(e.getValue(), path + "." + e.getKey(), out);
      }
    } else if (n.isArray()) {
      for (int i = 0; i < n.size(); i++) {
        redactAll(n.get(i), path + "[" + i + "]", out);
      }
    } else {
      out.println(path + " = " + REDACTED + "  # " + source(n));
    }
  }

  private static String source(JsonNode n) {
    Matcher m = ENV.matcher(n.isTextual() ? n.asText() : "");
    StringBuilder names = new StringBuilder();
    while (m.find()) {
      names.append(names.length() == 0 ? "" : ", ").append(m.group(1));
    }
    return names.length() == 0 ? "file" : "env " + names;
  }

  static boolean secretName(String key) {
    String k = key.toLowerCase(Locale.ROOT);
    if (k.endsWith("key_header_name")) {
      return false;
    }
    return k.contains("key") || k.contains("secret") || k.contains("password") || k.contains("authorization")
        || k.contains("salt") || (k.endsWith("token") && !k.endsWith("_per_token")) || k.equals("headers") || k.equals("database_url")
        || k.equals("redis_url");
  }

  /** The record's components that the file's {@code section} does not set, with the effective (default) value. */
  private static void defaults(String section, JsonNode root, Record value, Class<? extends Record> type,
      PrintWriter out) {
    JsonNode given = root == null ? null : root.get(section);
    for (RecordComponent c : type.getRecordComponents()) {
      String name = snake(c.getName());
      boolean failClosed = name.equals("limits_fail_closed");
      if (failClosed) {
        name = "limits_on_redis_failure"; // the YAML name of this boolean
      }
      if (given != null && given.has(name)) {
        continue;
      }
      Object v;
      try {
        v = c.getAccessor().invoke(value);
      } catch (ReflectiveOperationException e) {
        continue;
      }
      out.println(section + "." + name + " = " + (failClosed ? (Boolean.TRUE.equals(v) ? "closed" : "open") : show(v))
          + "  # default");
    }
  }

  private static String show(Object v) {
    if (v == null) {
      return "null";
    }
    if (v instanceof Duration d) {
      return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
    }
    if (v instanceof Map<?, ?> m && m.isEmpty()) {
      return "{}";
    }
    return v.toString();
  }

  private static String snake(String camel) {
    StringBuilder sb = new StringBuilder(camel.length() + 4);
    for (char ch : camel.toCharArray()) {
      if (Character.isUpperCase(ch)) {
        sb.append('_').append(Character.toLowerCase(ch));
      } else {
        sb.append(ch);
      }
    }
    return sb.toString();
  }
}
