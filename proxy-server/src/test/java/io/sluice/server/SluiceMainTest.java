package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line: master key precedence as the gateway enforces it, and configuration errors. */
class SluiceMainTest {
  static final String CONFIG_KEY = "sk-config-SECRET-1111";
  static final String LITELLM_KEY = "sk-litellm-env-SECRET-2222";
  static final String SLUICE_KEY = "sk-sluice-env-SECRET-3333";

  @TempDir
  Path dir;

  private final HttpClient http = HttpClient.newHttpClient();

  private record Run(SluiceServer server, String stderr) {}

  private Run boot(String yaml, Map<String, String> env, String... extra) throws Exception {
    Path cfg = dir.resolve("config.yaml");
    Files.writeString(cfg, yaml);
    StringWriter err = new StringWriter();
    SluiceMain main = new SluiceMain(env, new PrintWriter(err, true));
    String[] args = new String[extra.length + 7];
    args[0] = "--config";
    args[1] = cfg.toString();
    args[2] = "--host";
    args[3] = "127.0.0.1";
    args[4] = "--port";
    args[5] = "0";
    args[6] = "--no-db"; // these tests are about master keys; AdminPlaneBootTest covers the database
    System.arraycopy(extra, 0, args, 7, extra.length);
    new CommandLine(main).parseArgs(args);
    return new Run(main.boot(), err.toString());
  }

  private int status(SluiceServer s, String path, String key) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
  }

  private static Map<String, String> env(String... kv) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  @Test
  void configMasterKeyBeatsTheEnvironment() throws Exception {
    Run r = boot("general_settings:\n  master_key: " + CONFIG_KEY + "\n",
        env("LITELLM_MASTER_KEY", LITELLM_KEY, "SLUICE_MASTER_KEY", SLUICE_KEY));
    try (SluiceServer s = r.server()) {
      assertThat(status(s, "/v1/models", CONFIG_KEY)).isEqualTo(200);
      assertThat(status(s, "/v1/models", LITELLM_KEY)).as("env does not override the config").isEqualTo(401);
      assertThat(status(s, "/v1/models", SLUICE_KEY)).isEqualTo(401);
      assertThat(status(s, "/health/liveliness", null)).as("health stays public").isEqualTo(200);
    }
  }

  @Test
  void configMasterKeyMayComeFromOsEnviron() throws Exception {
    Run r = boot("general_settings:\n  master_key: os.environ/MY_KEY\n",
        env("MY_KEY", CONFIG_KEY, "LITELLM_MASTER_KEY", LITELLM_KEY));
    try (SluiceServer s = r.server()) {
      assertThat(status(s, "/v1/models", CONFIG_KEY)).isEqualTo(200);
      assertThat(status(s, "/v1/models", LITELLM_KEY)).isEqualTo(401);
    }
  }

  @Test
  void litellmEnvIsUsedWhenTheConfigHasNoneAndBeatsSluiceEnv() throws Exception {
    Run r = boot("model_list: []\n", env("LITELLM_MASTER_KEY", LITELLM_KEY, "SLUICE_MASTER_KEY", SLUICE_KEY));
    try (SluiceServer s = r.server()) {
      assertThat(status(s, "/v1/models", LITELLM_KEY)).isEqualTo(200);
      assertThat(status(s, "/v1/models", SLUICE_KEY)).isEqualTo(401);
    }
    Run r2 = boot("model_list: []\n", env("SLUICE_MASTER_KEY", SLUICE_KEY));
    try (SluiceServer s = r2.server()) {
      assertThat(status(s, "/v1/models", SLUICE_KEY)).isEqualTo(200);
      assertThat(status(s, "/health/readiness", null)).isEqualTo(200);
    }
  }

  @Test
  void noMasterKeyRefusesToStartUnlessAllowedExplicitly() throws Exception {
    Run refused = boot("model_list: []\n", env());
    assertThat(refused.server()).isNull();
    assertThat(refused.stderr()).contains("no master key").contains("--allow-unauthenticated");
    Run open = boot("model_list: []\n", env(), "--allow-unauthenticated");
    try (SluiceServer s = open.server()) {
      assertThat(status(s, "/v1/models", null)).isEqualTo(200);
    }
  }

  @Test
  void configErrorNamesFileAndPathAndNeverTheSecret() throws Exception {
    Run r = boot("general_settings:\n  master_key: " + CONFIG_KEY + "\nmodel_list:\n"
        + "  - model_name: a\n    litellm_params: {model: hosted_vllm/m, api_base: 'http://x:1/v1', api_key: sk-replica-SECRET-9}\n"
        + "  - model_name: b\n    litellm_params: {model: hosted_vllm/m, api_base: 'ftp://nope'}\n", env());
    assertThat(r.server()).isNull();
    assertThat(r.stderr()).contains("config.yaml").contains("model_list[1].litellm_params.api_base")
        .doesNotContain(CONFIG_KEY).doesNotContain("sk-replica-SECRET-9");
  }

  @Test
  void theRedisLimitTimeoutComesFromTheEnvironmentAndABadOneIsAConfigurationError() {
    StringWriter err = new StringWriter();
    assertThat(new SluiceMain(env(), new PrintWriter(err, true)).limitsTimeout())
        .isEqualTo(io.sluice.server.redis.RedisRateLimiter.DEFAULT_TIMEOUT);
    assertThat(new SluiceMain(env("SLUICE_LIMITS_REDIS_TIMEOUT", "2s"), new PrintWriter(err, true)).limitsTimeout())
        .isEqualTo(java.time.Duration.ofSeconds(2));
    assertThat(new SluiceMain(env("SLUICE_LIMITS_REDIS_TIMEOUT", "400ms"), new PrintWriter(err, true))
        .limitsTimeout()).isEqualTo(java.time.Duration.ofMillis(400));
    for (String bad : new String[] {"soon", "0ms", "-1s"}) {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> new SluiceMain(env("SLUICE_LIMITS_REDIS_TIMEOUT", bad),
          new PrintWriter(err, true)).limitsTimeout()).isInstanceOf(IllegalArgumentException.class)
          .hasMessage("SLUICE_LIMITS_REDIS_TIMEOUT: \"" + bad + "\" is not a duration of at least 1 ms "
              + "(e.g. 150ms or 1s)");
    }
  }

  @Test
  void exitCodeIsTwoForAConfigurationError() throws Exception {
    Path cfg = dir.resolve("bad.yaml");
    Files.writeString(cfg, "model_list: {not: a list}\n");
    StringWriter err = new StringWriter();
    int code = new CommandLine(new SluiceMain(env(), new PrintWriter(err, true)))
        .execute("--config", cfg.toString(), "--port", "0", "--no-db");
    assertThat(code).isEqualTo(2);
    assertThat(err.toString()).contains("bad.yaml").contains("model_list");
  }

  /**
   * Issue 14, finding 6: a port in use is one line naming host:port and --port, exit 2 — checked before anything
   * else is set up (here the database URL points nowhere: reaching it would print another error).
   */
  @Test
  void aPortInUseIsOneLineAndExit2BeforeTheDatabaseIsSetUp() throws Exception {
    try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      Path cfg = dir.resolve("config.yaml");
      Files.writeString(cfg, "general_settings: {store_model_in_db: true}\n");
      StringWriter err = new StringWriter();
      SluiceMain main = new SluiceMain(env("SLUICE_MASTER_KEY", SLUICE_KEY, "DATABASE_URL",
          "postgresql://u:p@127.0.0.1:1/none"), new PrintWriter(err, true));
      int code = new CommandLine(main).execute("--config", cfg.toString(), "--host", "127.0.0.1", "--port",
          Integer.toString(taken.getLocalPort()));
      assertThat(code).isEqualTo(2);
      assertThat(err.toString().strip()).isEqualTo("sluice: cannot listen on 127.0.0.1:" + taken.getLocalPort()
          + ": address already in use (another Sluice, or another program, holds it). Stop it, or choose another "
          + "port with --port.");
    }
  }

  /** The embedded PostgreSQL's chatter stays out of the operator's log; Sluice's own summary line stays in. */
  @Test
  void theShippedLoggingConfigKeepsEmbeddedPostgresQuiet() throws Exception {
    ch.qos.logback.classic.LoggerContext ctx = new ch.qos.logback.classic.LoggerContext();
    ch.qos.logback.classic.joran.JoranConfigurator j = new ch.qos.logback.classic.joran.JoranConfigurator();
    j.setContext(ctx);
    j.doConfigure(SluiceMain.class.getResource("/logback.xml"));
    assertThat(ctx.getLogger("io.zonky.test.db.postgres.embedded.EmbeddedPostgres").getEffectiveLevel())
        .isEqualTo(ch.qos.logback.classic.Level.WARN);
    assertThat(ctx.getLogger("io.sluice.admin.db.Database").getEffectiveLevel())
        .isEqualTo(ch.qos.logback.classic.Level.INFO);
    ctx.stop();
  }
}
