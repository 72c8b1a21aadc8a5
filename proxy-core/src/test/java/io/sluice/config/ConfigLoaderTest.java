package io.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConfigLoaderTest {
  static final String MASTER = "sk-master-SECRET123";
  static final String REPLICA = "replica-SECRET-456";

  @TempDir
  Path dir;

  private Path write(String yaml) throws IOException {
    Path p = dir.resolve("config.yaml");
    Files.writeString(p, yaml);
    return p;
  }

  private SluiceConfig load(String yaml, Map<String, String> env) throws IOException {
    return ConfigLoader.load(write(yaml), env);
  }

  private String error(String yaml, Map<String, String> env) {
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> load(yaml, env));
    assertThat(t).isInstanceOf(ConfigException.class);
    assertThat(t.getMessage()).as("no secret in any message").doesNotContain(MASTER).doesNotContain(REPLICA);
    return t.getMessage();
  }

  static final String FULL = """
      model_list:
        - model_name: llama-3-8b
          litellm_params:
            model: hosted_vllm/meta-llama/Meta-Llama-3-8B-Instruct
            api_base: http://vllm-a:8000/v1/
            api_key: os.environ/VLLM_A_KEY
            rpm: 600
            tpm: 100000
            weight: 2
            timeout: 1.5
            order: 1
          model_info: { id: vllm-a, mode: chat, input_cost_per_token: 0.000001 }
        - model_name: llama-3-8b
          litellm_params: { model: openai/llama3, api_base: "https://vllm-b.internal/v1" }
      general_settings:
        master_key: os.environ/LITELLM_MASTER_KEY
        litellm_key_header_name: X-Litellm-Key
        max_request_size_mb: 2
        database_url: postgresql://later
      router_settings: { routing_strategy: simple-shuffle, timeout: 30, num_retries: 2 }
      litellm_settings: { request_timeout: 600, drop_params: true }
      sluice_settings: { max_uri_length: 4096, connect_timeout: 2, upstream_idle_timeout: 3 }
      """;

  @Test
  void fullConfigLoadsEveryField() throws IOException {
    SluiceConfig c = load(FULL, Map.of("VLLM_A_KEY", REPLICA, "LITELLM_MASTER_KEY", MASTER));
    assertThat(c.modelList()).hasSize(2);
    DeploymentConfig a = c.modelList().get(0);
    assertThat(a.modelName()).isEqualTo("llama-3-8b");
    assertThat(a.provider()).isEqualTo(Provider.HOSTED_VLLM);
    assertThat(a.upstreamModel()).isEqualTo("meta-llama/Meta-Llama-3-8B-Instruct");
    assertThat(a.apiBase()).hasToString("http://vllm-a:8000/v1");
    assertThat(a.apiKey().reveal()).isEqualTo(REPLICA);
    assertThat(a.rpm()).isEqualTo(600);
    assertThat(a.tpm()).isEqualTo(100000);
    assertThat(a.weight()).isEqualTo(2.0);
    assertThat(a.timeout()).isEqualTo(Duration.ofMillis(1500));
    assertThat(a.id()).isEqualTo("vllm-a");
    assertThat(a.order()).isEqualTo(1);
    DeploymentConfig b = c.modelList().get(1);
    assertThat(b.provider()).isEqualTo(Provider.OPENAI);
    assertThat(b.upstreamModel()).isEqualTo("llama3");
    assertThat(b.apiKey()).isNull();
    assertThat(b.id()).as("derived, stable").hasSize(16).isEqualTo(load(FULL, Map.of("VLLM_A_KEY", "other",
        "LITELLM_MASTER_KEY", "x")).modelList().get(1).id());
    assertThat(c.general().masterKey().reveal()).isEqualTo(MASTER);
    assertThat(c.general().masterKey().toString()).doesNotContain(MASTER);
    assertThat(c.general().keyHeaderName()).isEqualTo("X-Litellm-Key");
    assertThat(c.general().maxRequestSizeBytes()).isEqualTo(2L * 1024 * 1024);
    assertThat(c.router().timeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.litellm().requestTimeout()).isEqualTo(Duration.ofSeconds(600));
    assertThat(c.server().maxUriLength()).isEqualTo(4096);
    assertThat(c.server().connectTimeout()).isEqualTo(Duration.ofSeconds(2));
    assertThat(c.server().maxHeaderSize()).as("default").isEqualTo(16384);
  }

  @Test
  void disableSpendLogsIsReadNotIgnored() throws IOException {
    assertThat(load(TWO_GROUPS, Map.of()).general().disableSpendLogs()).as("default").isFalse();
    ConfigLoader.LoadResult r = ConfigLoader.loadWithReport(write(TWO_GROUPS
        + "general_settings: {disable_spend_logs: true}\n"), Map.of());
    assertThat(r.config().general().disableSpendLogs()).isTrue();
    assertThat(r.ignoredKeys()).doesNotContain("general_settings.disable_spend_logs");
    assertThat(load(TWO_GROUPS + "general_settings: {disable_spend_logs: \"False\"}\n", Map.of()).general()
        .disableSpendLogs()).isFalse();
    assertThat(error(TWO_GROUPS + "general_settings: {disable_spend_logs: 1}\n", Map.of()))
        .contains("general_settings.disable_spend_logs: expected true or false");
  }

  @Test
  void callbacksOtelTurnsTracesOnAndOtherCallbacksAreWarnedAbout() throws IOException {
    assertThat(load(TWO_GROUPS, Map.of()).litellm().otel()).as("default").isFalse();
    ConfigLoader.LoadResult r = ConfigLoader.loadWithReport(write(TWO_GROUPS
        + "litellm_settings: {callbacks: [\"langfuse\", \"otel\"]}\n"), Map.of());
    assertThat(r.config().litellm().otel()).isTrue();
    assertThat(r.ignoredKeys()).doesNotContain("litellm_settings.callbacks");
    assertThat(r.warnings()).anySatisfy(w -> assertThat(w).startsWith("litellm_settings.callbacks[0]: \"langfuse\""));
    assertThat(load(TWO_GROUPS + "litellm_settings: {callbacks: [\"prometheus\"]}\n", Map.of()).litellm().otel())
        .isFalse();
    assertThat(error(TWO_GROUPS + "litellm_settings: {callbacks: otel}\n", Map.of()))
        .contains("litellm_settings.callbacks: expected a list of callback names");
  }

  @Test
  void unknownKeysAreReportedWithTheirPathNotFatal() throws IOException {
    ConfigLoader.LoadResult r = ConfigLoader.loadWithReport(write("""
        model_list:
          - model_name: m
            litellm_params: { model: openai/m, api_base: "http://x:1", surprise: 1 }
            extra: true
        general_settings: { master_key: k, foo: bar }
        mystery_section: {}
        """), Map.of());
    assertThat(r.ignoredKeys()).containsExactlyInAnyOrder("model_list[0].litellm_params.surprise",
        "model_list[0].extra", "general_settings.foo", "mystery_section");
  }

  @ParameterizedTest(name = "{1}")
  @CsvSource(delimiter = '|', value = {
      "model_list: {a: 1}|model_list: expected a list of deployments, found a mapping",
      "model_list: [{litellm_params: {model: openai/m, api_base: 'http://x'}}]|model_list[0].model_name: missing",
      "model_list: [{model_name: m}]|model_list[0].litellm_params: missing",
      "model_list: [{model_name: m, litellm_params: {model: hosted_vllm/, api_base: 'http://x'}}]|names no model after the prefix",
      "model_list: [{model_name: m, litellm_params: {model: openai/m}}]|model_list[0].litellm_params.api_base: missing",
      "model_list: [{model_name: m, litellm_params: {model: openai/m, api_base: 'ftp://x'}}]|model_list[0].litellm_params.api_base: \"ftp://x\" is not an http(s) URL",
      "model_list: [{model_name: m, litellm_params: {model: openai/m, api_base: 'http://x', rpm: -1}}]|model_list[0].litellm_params.rpm: expected a whole number >= 0, found -1",
      "model_list: [{model_name: m, litellm_params: {model: openai/m, api_base: 'http://x', weight: heavy}}]|model_list[0].litellm_params.weight: expected a number > 0, found \"heavy\"",
      "model_list: [{model_name: m, litellm_params: {model: openai/m, api_base: 'http://x', timeout: 0}}]|model_list[0].litellm_params.timeout: expected a number > 0",
      "model_list: [{model_name: m, litellm_params: [1]}]|model_list[0].litellm_params: expected a mapping",
      "general_settings: {litellm_key_header_name: 'bad header'}|general_settings.litellm_key_header_name: \"bad header\" is not a valid HTTP header name",
      "general_settings: {max_request_size_mb: 0}|general_settings.max_request_size_mb: expected a number > 0",
      "router_settings: {routing_strategy: fastest}|router_settings.routing_strategy: \"fastest\" is not a routing strategy",
      "sluice_settings: {max_uri_length: 10}|sluice_settings.max_uri_length: 10 (expected: >= 256)",
      "general_settings: [1]|general_settings: expected a mapping",
  })
  void eachBadValueNamesTheFileAndThePath(String yaml, String expected) {
    String msg = error(yaml, Map.of());
    assertThat(msg).startsWith(dir.resolve("config.yaml").toString() + ": ").contains(expected);
  }

  @Test
  void metricsSettingsDefaultToAuthAndNoKeyLabelsAndAreReadFromTheirSections() throws IOException {
    String base = "model_list:\n  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a:1/v1'}}\n";
    SluiceConfig d = load(base, Map.of());
    assertThat(d.litellm().requireAuthForMetrics()).isTrue();
    assertThat(d.server().metricsKeyLabels()).isFalse();
    SluiceConfig c = load(base + "litellm_settings: {require_auth_for_metrics_endpoint: false}\n"
        + "sluice_settings: {metrics_key_labels: true}\n", Map.of());
    assertThat(c.litellm().requireAuthForMetrics()).isFalse();
    assertThat(c.server().metricsKeyLabels()).isTrue();
    assertThat(error(base + "litellm_settings: {require_auth_for_metrics_endpoint: nope}\n", Map.of()))
        .contains("litellm_settings.require_auth_for_metrics_endpoint").contains("expected true or false");
    assertThat(error(base + "sluice_settings: {metrics_key_labels: 1}\n", Map.of()))
        .contains("sluice_settings.metrics_key_labels");
  }

  /** Issue 20 §4: cache_isolation is team, key or off (the default); anything else says what is accepted. */
  @Test
  void cacheIsolationIsReadFromSluiceSettings() throws IOException {
    String base = "model_list:\n  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a:1/v1'}}\n";
    assertThat(load(base, Map.of()).server().cacheIsolation()).isEqualTo(ServerSettings.CacheIsolation.OFF);
    assertThat(load(base + "sluice_settings: {cache_isolation: team}\n", Map.of()).server().cacheIsolation())
        .isEqualTo(ServerSettings.CacheIsolation.TEAM);
    assertThat(load(base + "sluice_settings: {cache_isolation: key}\n", Map.of()).server().cacheIsolation())
        .isEqualTo(ServerSettings.CacheIsolation.KEY);
    assertThat(error(base + "sluice_settings: {cache_isolation: tenant}\n", Map.of()))
        .contains("sluice_settings.cache_isolation").contains("is not team, key or off");
  }

  /** Issue 20 §3: the output tokens a reservation assumes without max_tokens; positive, default 4096. */
  @Test
  void reservationMaxTokensIsReadFromSluiceSettings() throws IOException {
    String base = "model_list:\n  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a:1/v1'}}\n";
    assertThat(load(base, Map.of()).server().reservationMaxTokens()).isEqualTo(4096);
    assertThat(load(base + "sluice_settings: {reservation_max_tokens: 512}\n", Map.of()).server()
        .reservationMaxTokens()).isEqualTo(512);
    assertThat(error(base + "sluice_settings: {reservation_max_tokens: 0}\n", Map.of()))
        .contains("sluice_settings.reservation_max_tokens").contains("expected: > 0");
  }

  @Test
  void indexInTheMessageIsTheEntrysIndex() {
    String yaml = "model_list:\n"
        + "  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a:1/v1', api_key: " + REPLICA + "}}\n"
        + "  - {model_name: b, litellm_params: {model: openai/b, api_base: 'http://b:1/v1'}}\n"
        + "  - {model_name: c, litellm_params: {model: openai/c, api_base: 'nope'}}\n";
    assertThat(error(yaml, Map.of())).contains("model_list[2].litellm_params.api_base");
  }

  @Test
  void duplicateIdsNameBothEntries() {
    String msg = error("model_list:\n"
        + "  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a'}, model_info: {id: r1}}\n"
        + "  - {model_name: b, litellm_params: {model: openai/b, api_base: 'http://b'}, model_info: {id: r1}}\n",
        Map.of());
    assertThat(msg).contains("model_list[1].model_info.id").contains("model_list[0]");
  }

  static final String TWO_GROUPS = "model_list:\n"
      + "  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a'}}\n"
      + "  - {model_name: b, litellm_params: {model: openai/b, api_base: 'http://b'}}\n";

  @Test
  void routerResilienceSettingsLoadWithLiteLLMsDefaultsAndFallbacks() throws IOException {
    SluiceConfig d = load(TWO_GROUPS, Map.of());
    assertThat(d.router().numRetries()).isEqualTo(2);
    assertThat(d.router().allowedFails()).isEqualTo(3);
    assertThat(d.router().cooldownTime()).isEqualTo(Duration.ofSeconds(5));
    assertThat(d.router().fallbacks()).isEmpty();
    SluiceConfig c = load(TWO_GROUPS + "router_settings: {num_retries: 0, allowed_fails: 1, cooldown_time: 30, "
        + "fallbacks: [{a: [b]}]}\n", Map.of());
    assertThat(c.router().numRetries()).isZero();
    assertThat(c.router().allowedFails()).isEqualTo(1);
    assertThat(c.router().cooldownTime()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.router().fallbacks()).containsEntry("a", java.util.List.of("b"));
    SluiceConfig l = load(TWO_GROUPS + "litellm_settings: {num_retries: 5, fallbacks: [{b: [a]}]}\n", Map.of());
    assertThat(l.router().numRetries()).as("litellm_settings when the router has none").isEqualTo(5);
    assertThat(l.router().fallbacks()).containsEntry("b", java.util.List.of("a"));
  }

  @Test
  void prefixAffinityAndItsSettingsLoadWithDefaults() throws IOException {
    SluiceConfig d = load(TWO_GROUPS + "router_settings: {routing_strategy: prefix-affinity}\n", Map.of());
    assertThat(d.router().routingStrategy()).isEqualTo("prefix-affinity");
    assertThat(d.router().affinity()).isEqualTo(AffinitySettings.defaults());
    SluiceConfig c = load(TWO_GROUPS + "router_settings: {routing_strategy: prefix-affinity, prefix_affinity: "
        + "{load_factor: 0.5, max_waiting: 8, max_kv_cache_usage: 0.9, session_header: x-session-id, use_user: true, "
        + "load_floor: 0}}\n", Map.of());
    assertThat(c.router().affinity()).isEqualTo(new AffinitySettings(0.5, 8.0, 0.9, "x-session-id", true, false, 0));
    assertThat(error(TWO_GROUPS + "router_settings: {prefix_affinity: {max_kv_cache_usage: 95}}\n", Map.of()))
        .contains("router_settings.prefix_affinity.max_kv_cache_usage: 95.0 (expected: a fraction from 0 to 1");
    assertThat(error(TWO_GROUPS + "router_settings: {prefix_affinity: {load_factor: -1}}\n", Map.of()))
        .contains("router_settings.prefix_affinity.load_factor: expected a number >= 0, found -1");
  }

  @Test
  void fairAdmissionAndMaxParallelRequestsLoadWithDefaultsAndClearErrors() throws IOException {
    SluiceConfig d = load(TWO_GROUPS, Map.of());
    assertThat(d.router().admission().enabled()).isTrue();
    assertThat(d.router().admission().queueTimeout()).as("no router timeout: 30 s").hasSeconds(30);
    assertThat(d.router().admission().needsScrape()).isFalse();
    assertThat(d.modelList().get(0).maxParallelRequests()).isNull();
    assertThat(load(TWO_GROUPS + "router_settings: {timeout: 12}\n", Map.of()).router().admission().queueTimeout())
        .as("queue_timeout defaults to router_settings.timeout").hasSeconds(12);
    SluiceConfig c = load("model_list:\n"
        + "  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a', max_parallel_requests: 8}}\n"
        + "router_settings: {fair_admission: {queue_timeout: 2.5, max_waiting: 4, max_kv_cache_usage: 0.9, "
        + "max_queued_bytes: 1000, team_weights: {ml: 3}, key_weights: {batch: 0.5}}}\n", Map.of());
    assertThat(c.modelList().get(0).maxParallelRequests()).isEqualTo(8);
    AdmissionSettings a = c.router().admission();
    assertThat(a.queueTimeout().toMillis()).isEqualTo(2500);
    assertThat(a.maxWaiting()).isEqualTo(4.0);
    assertThat(a.maxKvCacheUsage()).isEqualTo(0.9);
    assertThat(a.maxQueuedBytes()).isEqualTo(1000);
    assertThat(a.teamWeights()).containsEntry("ml", 3.0);
    assertThat(a.keyWeights()).containsEntry("batch", 0.5);
    assertThat(a.needsScrape()).isTrue();
    assertThat(error("model_list:\n  - {model_name: a, litellm_params: {model: openai/a, api_base: 'http://a', "
        + "max_parallel_requests: 0}}\n", Map.of())).contains("model_list[0].litellm_params.max_parallel_requests: 0");
    assertThat(error(TWO_GROUPS + "router_settings: {fair_admission: {team_weights: {ml: 0}}}\n", Map.of()))
        .contains("router_settings.fair_admission.team_weights.ml: expected a weight > 0");
    assertThat(error(TWO_GROUPS + "router_settings: {fair_admission: {max_queued_bytes: -1}}\n", Map.of()))
        .contains("router_settings.fair_admission.max_queued_bytes: expected a whole number of bytes >= 0");
    assertThat(error(TWO_GROUPS + "router_settings: {fair_admission: {max_kv_cache_usage: 90}}\n", Map.of()))
        .contains("router_settings.fair_admission.max_kv_cache_usage: 90.0 (expected: a fraction from 0 to 1");
    assertThat(load(TWO_GROUPS + "router_settings: {fair_admission: {enabled: false}}\n", Map.of()).router()
        .admission().enabled()).isFalse();
  }

  @Test
  void backgroundHealthChecksAndInterval() throws IOException {
    SluiceConfig d = load(TWO_GROUPS, Map.of());
    assertThat(d.general().backgroundHealthChecks()).isFalse();
    assertThat(d.general().healthCheckInterval()).as("LiteLLM's default").isEqualTo(Duration.ofSeconds(300));
    SluiceConfig c = load(TWO_GROUPS + "general_settings: {background_health_checks: true, health_check_interval: 15}\n",
        Map.of());
    assertThat(c.general().backgroundHealthChecks()).isTrue();
    assertThat(c.general().healthCheckInterval()).isEqualTo(Duration.ofSeconds(15));
    assertThat(error(TWO_GROUPS + "general_settings: {background_health_checks: sometimes}\n", Map.of()))
        .contains("general_settings.background_health_checks: expected true or false");
  }

  @Test
  void contextWindowFallbacksAndEnforceModelRateLimitsAreReadFromRouterOrLitellmSettings() throws IOException {
    SluiceConfig c = load(TWO_GROUPS + "router_settings: {context_window_fallbacks: [{a: [b]}], "
        + "enforce_model_rate_limits: true}\n", Map.of());
    assertThat(c.router().contextWindowFallbacks()).containsEntry("a", java.util.List.of("b"));
    assertThat(c.router().enforceModelRateLimits()).isTrue();
    assertThat(c.router().deploymentLimitsEnforced()).isTrue();
    SluiceConfig l = load(TWO_GROUPS + "litellm_settings: {context_window_fallbacks: [{b: [a]}], "
        + "enforce_model_rate_limits: true}\n", Map.of());
    assertThat(l.router().contextWindowFallbacks()).containsEntry("b", java.util.List.of("a"));
    assertThat(l.router().enforceModelRateLimits()).isTrue();
    SluiceConfig d = load(TWO_GROUPS, Map.of());
    assertThat(d.router().contextWindowFallbacks()).isEmpty();
    assertThat(d.router().deploymentLimitsEnforced()).as("simple-shuffle: rpm/tpm are weights").isFalse();
    assertThat(load(TWO_GROUPS + "router_settings: {routing_strategy: usage-based-routing-v2}\n", Map.of()).router()
        .deploymentLimitsEnforced()).isTrue();
    assertThat(error(TWO_GROUPS + "router_settings: {context_window_fallbacks: [{a: [nope]}]}\n", Map.of()))
        .contains("router_settings.context_window_fallbacks[0].a[0]: \"nope\" is not a model group in model_list");
    assertThat(error(TWO_GROUPS + "litellm_settings: {enforce_model_rate_limits: maybe}\n", Map.of()))
        .contains("litellm_settings.enforce_model_rate_limits: expected true or false");
  }

  @Test
  void fallbacksMustNameExistingGroups() {
    assertThat(error(TWO_GROUPS + "router_settings: {fallbacks: [{a: [nope]}]}\n", Map.of()))
        .contains("router_settings.fallbacks[0].a[0]: \"nope\" is not a model group in model_list");
    assertThat(error(TWO_GROUPS + "router_settings: {fallbacks: [{zzz: [a]}]}\n", Map.of()))
        .contains("router_settings.fallbacks[0].zzz: no model group named \"zzz\"");
    assertThat(error(TWO_GROUPS + "router_settings: {fallbacks: {a: b}}\n", Map.of()))
        .contains("router_settings.fallbacks: expected a list");
    assertThat(error(TWO_GROUPS + "router_settings: {allowed_fails: 0}\n", Map.of()))
        .contains("router_settings.allowed_fails");
  }

  @Test
  void missingEnvironmentVariableNamesPathAndVariable() {
    String msg = error("general_settings: {master_key: os.environ/NOPE_KEY}", Map.of());
    assertThat(msg).contains("general_settings.master_key").contains("NOPE_KEY").contains("is not set");
    String msg2 = error("model_list: [{model_name: m, litellm_params: {model: openai/m, api_base: 'http://x', "
        + "api_key: os.environ/REPLICA_KEY}}]", Map.of());
    assertThat(msg2).contains("model_list[0].litellm_params.api_key").contains("REPLICA_KEY");
  }

  @Test
  void hostedVllmFallsBackToLiteLLMsEnvironment() throws IOException {
    SluiceConfig c = load("model_list: [{model_name: m, litellm_params: {model: hosted_vllm/m}}]",
        Map.of("HOSTED_VLLM_API_BASE", "http://env-host:8000/v1", "HOSTED_VLLM_API_KEY", REPLICA));
    assertThat(c.modelList().get(0).apiBase()).hasToString("http://env-host:8000/v1");
    assertThat(c.modelList().get(0).apiKey().reveal()).isEqualTo(REPLICA);
  }

  @Test
  void embeddedEnvironmentReferencesResolveAnywhereInAString() {
    assertThat(ConfigLoader.resolveEmbedded("Bearer os.environ/NV_KEY", Map.of("NV_KEY", REPLICA), "x"))
        .isEqualTo("Bearer " + REPLICA);
    assertThatThrownBy(() -> ConfigLoader.resolveEmbedded("Bearer os.environ/GONE", Map.of(), "headers.auth"))
        .hasMessageContaining("headers.auth").hasMessageContaining("GONE");
  }

  @Test
  void yamlSyntaxErrorNamesFileAndLine() {
    String msg = error("model_list:\n  - model_name: [unclosed\n", Map.of());
    assertThat(msg).contains("config.yaml").contains("not valid YAML").contains("line");
  }

  @Test
  void missingFileIsSaidPlainly() {
    assertThatThrownBy(() -> ConfigLoader.load(dir.resolve("absent.yaml"), Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("absent.yaml: no such file");
  }

  @Test
  void emptyFileIsAGatewayWithNoModels() throws IOException {
    SluiceConfig c = load("", Map.of());
    assertThat(c.modelList()).isEmpty();
    assertThat(c.general().masterKey()).isNull();
  }

  @Test
  void exampleConfigLoads() {
    Path example = Path.of("..", "examples", "config.yaml");
    SluiceConfig c = ConfigLoader.load(example, Map.of());
    assertThat(c.modelList()).isNotEmpty();
  }

  @Test
  void masterKeyPrecedenceConfigThenLitellmEnvThenSluiceEnv() throws IOException {
    SluiceConfig withKey = load("general_settings: {master_key: " + MASTER + "}", Map.of());
    SluiceConfig without = load("model_list: []", Map.of());
    Map<String, String> both = Map.of("LITELLM_MASTER_KEY", "from-litellm-env", "SLUICE_MASTER_KEY", "from-sluice-env");
    assertThat(MasterKeys.resolve(withKey, both).source()).isEqualTo(MasterKeys.Source.CONFIG);
    assertThat(MasterKeys.resolve(withKey, both).key().reveal()).isEqualTo(MASTER);
    assertThat(MasterKeys.resolve(without, both).key().reveal()).isEqualTo("from-litellm-env");
    assertThat(MasterKeys.resolve(without, Map.of("SLUICE_MASTER_KEY", "s", "LITELLM_MASTER_KEY", "")).source())
        .as("empty counts as unset").isEqualTo(MasterKeys.Source.ENV_SLUICE_MASTER_KEY);
    assertThat(MasterKeys.resolve(without, Map.of()).key()).isNull();
    assertThat(MasterKeys.resolve(without, Map.of()).source().describe()).isEqualTo("none");
  }

  /**
   * Issue 14, finding 3: a LiteLLM config that fronts vLLM and cloud providers loads and serves its vLLM part; each
   * cloud entry is skipped with one warning naming it and why, and fallbacks to a skipped group are dropped.
   */
  @Test
  void entriesForProvidersSluiceDoesNotServeAreSkippedWithOneWarningEach() throws IOException {
    Path f = dir.resolve("mixed.yaml");
    Files.writeString(f, """
        model_list:
          - model_name: llama
            litellm_params: {model: hosted_vllm/meta-llama/Llama-3-8B, api_base: 'http://vllm-a:8000/v1'}
          - model_name: gpt-3.5-turbo
            litellm_params: {model: gpt-3.5-turbo, api_key: os.environ/OPENAI_API_KEY}
          - model_name: claude
            litellm_params: {model: anthropic/claude-3-5-sonnet, api_key: os.environ/ANTHROPIC_API_KEY}
          - model_name: titan
            litellm_params: {model: bedrock/amazon.titan-text, aws_region_name: us-east-1}
          - model_name: compl
            litellm_params: {model: text-completion-openai/m, api_base: 'http://vllm-b:8000/v1'}
          - model_name: local
            litellm_params: {model: lm_studio/m, api_base: 'http://lms:1234/v1'}
        router_settings:
          fallbacks: [{llama: [gpt-3.5-turbo, compl]}, {claude: [llama]}]
        """);
    ConfigLoader.LoadResult r = ConfigLoader.loadWithReport(f, Map.of("OPENAI_API_KEY", "sk-openai-SECRET",
        "ANTHROPIC_API_KEY", "sk-ant-SECRET"));
    assertThat(r.config().modelList()).extracting(DeploymentConfig::modelName)
        .containsExactly("llama", "compl", "local");
    assertThat(r.config().modelList().get(1).provider()).isEqualTo(Provider.TEXT_COMPLETION_OPENAI);
    assertThat(r.config().router().fallbacks()).containsExactly(Map.entry("llama", List.of("compl")));
    assertThat(r.warnings()).filteredOn(w -> w.contains("is skipped")).hasSize(3);
    assertThat(r.warnings()).anyMatch(w -> w.startsWith("model_list[1].litellm_params.model: \"gpt-3.5-turbo\" is "
        + "not a provider Sluice serves") && w.contains("(model_name gpt-3.5-turbo) is skipped"));
    assertThat(r.warnings()).anyMatch(w -> w.contains("bedrock/amazon.titan-text"));
    assertThat(String.join("\n", r.warnings())).doesNotContain("SECRET");
    // Through /model/new the same entry is an error, not a silent skip.
    com.fasterxml.jackson.databind.JsonNode entry = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
        "{\"model_name\":\"x\",\"litellm_params\":{\"model\":\"bedrock/x\",\"api_base\":\"http://x/v1\"}}");
    assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> ConfigLoader.deployment(entry, Map.of(), "body")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("not a provider Sluice serves");
  }

  /** Issue 14, finding 6: a typo gets a suggestion; an api_base without a version segment gets a warning. */
  @Test
  void typosGetADidYouMeanAndAnApiBaseWithoutV1GetsAWarning() throws IOException {
    Path f = dir.resolve("typo.yaml");
    Files.writeString(f, "modle_list: []\nmodel_list:\n  - model_name: a\n    litellm_params: {model: openai/a, "
        + "api_base: 'http://a:1', rmp: 3}\nrouter_setings: {}\n");
    ConfigLoader.LoadResult r = ConfigLoader.loadWithReport(f, Map.of());
    assertThat(r.warnings()).contains("modle_list: unknown key, ignored — did you mean model_list?",
        "router_setings: unknown key, ignored — did you mean router_settings?",
        "model_list[0].litellm_params.rmp: unknown key, ignored — did you mean model_list[0].litellm_params.rpm?");
    assertThat(r.warnings()).anyMatch(w -> w.startsWith("model_list[0].litellm_params.api_base: http://a:1 has no "
        + "version segment"));
    assertThat(ConfigLoader.nearest("completely_different", java.util.Set.of("model_list"))).isNull();
  }
}
