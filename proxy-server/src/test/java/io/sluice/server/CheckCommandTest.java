package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code sluice check}: exit codes, messages, the effective configuration with sources, and no secret in it. */
class CheckCommandTest {
  static final String MASTER = "sk-check-MASTER-SECRET";
  static final String REPLICA = "replica-check-SECRET";
  static final String DB_PASSWORD = "db-check-SECRET";
  static final String HEADER = "hdr-check-SECRET";
  static final String SALT = "salt-check-SECRET";

  @TempDir
  Path dir;

  record Result(int code, String out, String err) {}

  Result check(String yaml, Map<String, String> env) throws Exception {
    Path cfg = dir.resolve("config.yaml");
    Files.writeString(cfg, yaml);
    StringWriter err = new StringWriter();
    StringWriter out = new StringWriter();
    SluiceMain main = new SluiceMain(env, new PrintWriter(err, true));
    int code = main.check(cfg, new PrintWriter(out, true));
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void aValidConfigIsPrintedWithSourcesAndEverySecretRedacted() throws Exception {
    Result r = check("model_list:\n"
        + "  - model_name: llama\n"
        + "    litellm_params: {model: hosted_vllm/m, api_base: 'http://vllm-a:8000/v1', api_key: os.environ/VLLM_KEY,"
        + " rpm: 60}\n"
        + "    model_info: {id: vllm-a, input_cost_per_token: 0.000001}\n"
        + "  - model_name: llama\n"
        + "    litellm_params: {model: hosted_vllm/m, api_base: 'http://vllm-b:8000/v1', api_key: " + REPLICA + "}\n"
        + "general_settings:\n"
        + "  master_key: os.environ/LITELLM_MASTER_KEY\n"
        + "  database_url: postgresql://u:" + DB_PASSWORD + "@db:5432/x\n"
        + "  pass_through_endpoints:\n"
        + "    - path: /vendor\n"
        + "      target: https://vendor.example/v1\n"
        + "      headers: {Authorization: 'Bearer " + HEADER + "'}\n"
        + "router_settings: {num_retries: 4}\n",
        Map.of("LITELLM_MASTER_KEY", MASTER, "VLLM_KEY", "env-replica-SECRET", "LITELLM_SALT_KEY", SALT,
            "REDIS_URL", "redis://:redis-SECRET@r:6379"));
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out())
        .contains("config.yaml is valid: 2 deployment(s), 1 model group(s)")
        .contains("model_list[0].litellm_params.api_base = http://vllm-a:8000/v1  # file")
        .contains("model_list[0].litellm_params.api_key = <redacted>  # env VLLM_KEY")
        .contains("model_list[1].litellm_params.api_key = <redacted>  # file")
        .contains("model_list[0].model_info.input_cost_per_token = 1.0E-6  # file")
        .contains("general_settings.master_key = <redacted>  # env LITELLM_MASTER_KEY")
        .contains("general_settings.database_url = <redacted>  # file")
        .contains("general_settings.pass_through_endpoints[0].headers.Authorization = <redacted>  # file")
        .contains("router_settings.num_retries = 4  # file")
        .contains("router_settings.routing_strategy = simple-shuffle  # default")
        .contains("router_settings.cooldown_time = 5s  # default")
        .contains("sluice_settings.connect_timeout = 5s  # default")
        .contains("redis = <redacted>  # env REDIS_URL");
    String all = r.out() + r.err();
    for (String secret : new String[] {MASTER, REPLICA, DB_PASSWORD, HEADER, SALT, "env-replica-SECRET",
        "redis-SECRET"}) {
      assertThat(all).doesNotContain(secret);
    }
  }

  @Test
  void defaultsAndEnvironmentAreNamedWhenTheFileIsSilent() throws Exception {
    Result r = check("model_list: []\ngeneral_settings: {store_model_in_db: true}\n", Map.of("SLUICE_MASTER_KEY", MASTER));
    assertThat(r.code()).isZero();
    assertThat(r.out())
        .contains("general_settings.master_key = <redacted>  # env SLUICE_MASTER_KEY")
        .contains("general_settings.database_url = embedded PostgreSQL in <data dir>/pg  # default")
        .contains("redis = none")
        .contains("traces = off  # default")
        .doesNotContain(MASTER);
  }

  static final String OTEL_ON = "model_list: []\ngeneral_settings: {store_model_in_db: true}\n"
      + "litellm_settings: {callbacks: [\"otel\"]}\n";

  @Test
  void tracesAreShownOnWithWhatTurnedThemOnButNeverTheEndpoint() throws Exception {
    Result r = check(OTEL_ON,
        Map.of("SLUICE_MASTER_KEY", MASTER));
    assertThat(r.out()).contains("traces = on  # litellm_settings.callbacks");
    r = check("model_list: []\ngeneral_settings: {store_model_in_db: true}\n", Map.of("SLUICE_MASTER_KEY", MASTER,
        "OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:otlp-SECRET@collector:4318"));
    assertThat(r.out()).contains("traces = on  # env OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT");
    assertThat(r.out() + r.err()).doesNotContain("otlp-SECRET");
    r = check(OTEL_ON,
        Map.of("SLUICE_MASTER_KEY", MASTER, "OTEL_SDK_DISABLED", "true"));
    assertThat(r.out()).contains("traces = off  # env OTEL_SDK_DISABLED");
  }

  @Test
  void anInvalidConfigExitsTwoNamingTheFileAndThePathButNoSecret() throws Exception {
    Result r = check("general_settings: {master_key: " + MASTER + "}\nmodel_list:\n"
        + "  - model_name: a\n    litellm_params: {model: hosted_vllm/m, api_base: 'ftp://nope', api_key: " + REPLICA
        + "}\n", Map.of());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("config.yaml").contains("model_list[0].litellm_params.api_base")
        .doesNotContain(MASTER).doesNotContain(REPLICA);
    assertThat(r.out()).isEmpty();
  }

  @Test
  void checkIsASubcommandAndTheGatewayStillNeedsConfig() throws Exception {
    Path cfg = dir.resolve("ok.yaml");
    Files.writeString(cfg, "general_settings: {store_model_in_db: true}\n");
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new SluiceMain(Map.of(), new PrintWriter(err, true)));
    cl.setErr(new PrintWriter(err, true));
    assertThat(cl.execute("check", "--config", cfg.toString())).isZero();
    assertThat(cl.execute("check", "--config", dir.resolve("missing.yaml").toString())).isEqualTo(2);
    assertThat(err.toString()).contains("missing.yaml");
    StringWriter err2 = new StringWriter();
    CommandLine bare = new CommandLine(new SluiceMain(Map.of(), new PrintWriter(err2, true)));
    assertThat(bare.execute()).isEqualTo(2);
    assertThat(err2.toString()).contains("--config FILE is required");
  }

  /** Issue 13, finding 10: a pass-through entry without auth is public; check says so, naming only the path. */
  @Test
  void publicPassThroughRoutesAreListedAsWarnings() throws Exception {
    Result r = check("model_list: []\ngeneral_settings:\n  store_model_in_db: true\n  pass_through_endpoints:\n"
        + "    - {path: /open, target: 'https://vendor.example/v1', include_subpath: true,"
        + " headers: {Authorization: 'Bearer " + HEADER + "'}}\n"
        + "    - {path: /closed, target: 'https://vendor.example/v1', auth: true}\n", Map.of("SLUICE_MASTER_KEY", MASTER));
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("# WARNING: pass-through route /open/* is public").contains("auth: true")
        .doesNotContain("route /closed").doesNotContain(HEADER);
  }

  /** Issue 14, finding 6: a typo'd model_list fails check with a suggestion instead of "valid: 0 deployment(s)". */
  @Test
  void aTypoInModelListFailsCheckWithADidYouMean() throws Exception {
    Result r = check("modle_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, api_base: "
        + "'http://vllm:8000/v1'}\ngeneral_settings: {mastr_key: " + MASTER + "}\n", Map.of("SLUICE_MASTER_KEY", MASTER));
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("modle_list: unknown key, ignored — did you mean model_list?")
        .contains("general_settings.mastr_key: unknown key, ignored — did you mean general_settings.master_key?")
        .contains("no deployments").contains("store_model_in_db").doesNotContain(MASTER);
  }

  /** An OpenAI-compatible api_base without a version segment loads, with a warning saying what will happen. */
  @Test
  void anApiBaseWithoutAVersionSegmentIsAWarning() throws Exception {
    Result r = check("model_list:\n  - model_name: a\n    litellm_params: {model: hosted_vllm/m, api_base: "
        + "'http://vllm-a:8000'}\n  - model_name: b\n    litellm_params: {model: openai/m, api_base: "
        + "'http://vllm-b:8000/openai/v1'}\n", Map.of("SLUICE_MASTER_KEY", MASTER));
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("# WARNING: model_list[0].litellm_params.api_base: http://vllm-a:8000 has no "
        + "version segment").contains("Add /v1 (e.g. http://vllm-a:8000/v1)").doesNotContain("model_list[1].litellm"
        + "_params.api_base: http");
    Result withPassword = check("model_list:\n  - model_name: a\n    litellm_params: {model: hosted_vllm/m, "
        + "api_base: 'http://user:pw-SECRET@vllm-a:8000/v1?token=tk-SECRET'}\n", Map.of("SLUICE_MASTER_KEY", MASTER));
    assertThat(withPassword.code()).isEqualTo(2);
    assertThat(withPassword.err()).contains("model_list[0].litellm_params.api_base").contains("<redacted>")
        .doesNotContain("pw-SECRET").doesNotContain("tk-SECRET");
  }
}
