package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.sluice.config.ConfigLoader;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.MasterKeys;
import io.sluice.config.SluiceConfig;
import io.sluice.server.redis.RedisSettings;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code Dockerfile} and {@code docker-compose.yaml} checked against the build, since no Docker engine exists
 * where the tests run: the paths the Dockerfile copies are the ones {@code mvn package} produces (the release
 * archive and the bench jar), its ENTRYPOINT is in the archive, its CMD parses with Sluice's own CLI and agrees
 * with EXPOSE, VOLUME and HEALTHCHECK; the compose file's environment is what Sluice's loader reads, its URLs name
 * its own services and their credentials, its fake vLLM services speak the flags the fake accepts on the ports and
 * model the mounted config uses. (In package {@code io.sluice.server} for the CLI's fields.)
 */
class ContainerFilesIT {
  static final Path ROOT = Path.of("..");
  static final ObjectMapper JSON = new ObjectMapper();
  static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  /** Dockerfile instructions per stage, continuation lines joined, comments dropped. */
  static final List<Stage> stages = new ArrayList<>();
  static JsonNode compose;

  @TempDir
  Path tmp;

  record Instruction(String op, String args) {
    /** The exec (JSON array) form's words. */
    List<String> words() throws Exception {
      List<String> out = new ArrayList<>();
      JSON.readTree(args).forEach(n -> out.add(n.asText()));
      return out;
    }
  }

  record Stage(String from, String name, List<Instruction> ins) {
    List<Instruction> all(String op) {
      return ins.stream().filter(i -> i.op().equals(op)).toList();
    }

    Instruction last(String op) {
      List<Instruction> l = all(op);
      assertThat(l).as("%s in stage %s", op, name).isNotEmpty();
      return l.get(l.size() - 1);
    }
  }

  @BeforeAll
  static void parse() throws Exception {
    StringBuilder logical = new StringBuilder();
    for (String line : Files.readAllLines(ROOT.resolve("Dockerfile"))) {
      if (line.stripLeading().startsWith("#")) {
        continue;
      }
      if (line.endsWith("\\")) {
        logical.append(line, 0, line.length() - 1).append(' ');
        continue;
      }
      logical.append(line);
      String l = logical.toString().strip();
      logical.setLength(0);
      if (l.isEmpty()) {
        continue;
      }
      String op = l.split("\\s+", 2)[0].toUpperCase(java.util.Locale.ROOT);
      String args = l.substring(op.length()).strip();
      if (op.equals("FROM")) {
        String[] w = args.split("\\s+");
        stages.add(new Stage(w[0], w.length >= 3 && w[1].equalsIgnoreCase("AS") ? w[2] : null, new ArrayList<>()));
      } else {
        stages.get(stages.size() - 1).ins().add(new Instruction(op, args));
      }
    }
    compose = YAML.readTree(ROOT.resolve("docker-compose.yaml").toFile());
  }

  static Stage stage(String name) {
    return stages.stream().filter(s -> name.equals(s.name())).findFirst().orElseThrow();
  }

  static Stage runtime() {
    return stages.get(stages.size() - 1);
  }

  static SluiceMain cli(List<String> args) {
    SluiceMain m = new SluiceMain(Map.of(), new PrintWriter(System.err));
    new CommandLine(m).parseArgs(args.toArray(String[]::new));
    return m;
  }

  @Test
  void dockerfileBuildsWithMavenAndRunsOnAJreAsNonRoot() {
    assertThat(stages).as("multi-stage").hasSizeGreaterThanOrEqualTo(2);
    assertThat(stages.get(0).from()).startsWith("maven:").contains("temurin-17");
    assertThat(stage("build").all("RUN").get(0).args()).contains("mvn ").contains(" package");
    assertThat(runtime().from()).as("runs on a JRE of the Java the build targets").isEqualTo("eclipse-temurin:17-jre");
    assertThat(runtime().last("USER").args()).as("non-root").doesNotStartWith("0").doesNotStartWith("root");
    assertThat(stage("fake-vllm").last("USER").args()).doesNotStartWith("0");
    assertThat(runtime().last("STOPSIGNAL").args()).isEqualTo("SIGTERM");
  }

  @Test
  void dockerfileCopiesWhatMavenPackageProduces() throws Exception {
    String run = stage("build").all("RUN").get(0).args();
    Path archive = Path.of(System.getProperty("sluice.archive"));
    assertThat(archive).isRegularFile();
    Matcher tar = Pattern.compile("tar -xzf (\\S+) -C (\\S+) --strip-components=1").matcher(run);
    assertThat(tar.find()).as(run).isTrue();
    String glob = tar.group(1);
    assertThat(ROOT.resolve(glob.substring(0, glob.lastIndexOf('/'))).toRealPath())
        .isEqualTo(archive.getParent().toRealPath());
    assertThat(archive.getFileSystem().getPathMatcher("glob:" + glob.substring(glob.lastIndexOf('/') + 1))
        .matches(archive.getFileName())).as("%s matches %s", glob, archive.getFileName()).isTrue();
    Matcher cp = Pattern.compile("cp (bench/target/\\S+) ").matcher(run);
    assertThat(cp.find()).isTrue();
    assertThat(ROOT.resolve(cp.group(1)).toRealPath()).isEqualTo(Path.of(System.getProperty("sluice.bench.jar")).toRealPath());

    // What the archive unpacks to (--strip-components=1) is where ENTRYPOINT and the default config point.
    Process p = new ProcessBuilder("tar", "-tzf", archive.toString()).start();
    List<String> entries = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines()
        .map(e -> e.substring(e.indexOf('/') + 1)).toList();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    String unpacked = tar.group(2);
    String copied = runtime().all("COPY").stream().map(Instruction::args)
        .filter(a -> a.startsWith("--from=build " + unpacked + " ")).findFirst().orElseThrow().split("\\s+")[2];
    String entrypoint = runtime().last("ENTRYPOINT").words().get(0);
    assertThat(entrypoint).startsWith(copied + "/");
    assertThat(entries).contains(entrypoint.substring(copied.length() + 1), "lib/sluice.jar", "config/example.yaml");

    List<String> fake = stage("fake-vllm").last("ENTRYPOINT").words();
    String main = fake.get(fake.size() - 1);
    assertThat(Class.forName(main)).as("the fake's main class is in the bench jar").isNotNull();
    assertThat(fake.get(fake.indexOf("-cp") + 1)).endsWith("/" + Path.of(System.getProperty("sluice.bench.jar")).getFileName());
  }

  @Test
  void cmdParsesWithSluicesCliAndAgreesWithExposeVolumeAndHealthcheck() throws Exception {
    SluiceMain cmd = cli(runtime().last("CMD").words());
    assertThat(runtime().last("EXPOSE").args()).isEqualTo(String.valueOf(cmd.port));
    assertThat(cmd.host).isEqualTo("0.0.0.0");
    assertThat(JSON.readTree(runtime().last("VOLUME").args()).get(0).asText()).isEqualTo(cmd.dataDir.toString());
    assertThat(runtime().last("WORKDIR").args()).isEqualTo(cmd.dataDir.toString());
    String health = runtime().last("HEALTHCHECK").args();
    assertThat(health).contains("/dev/tcp/127.0.0.1/" + cmd.port, "GET /health/liveliness HTTP/1.1");
    assertThat(runtime().all("COPY").stream().map(Instruction::args))
        .anyMatch(a -> a.endsWith(" " + cmd.config));
    String javaOpts = runtime().last("ENV").args();
    assertThat(javaOpts).as("the launcher's fixed heap gives way to a container-sized one").contains("JAVA_OPTS=",
        "RAMPercentage");
  }

  /** {@code ${NAME:-default}} as compose interpolates it with NAME unset. */
  static String interpolate(String v) {
    return v.replaceAll("\\$\\{[A-Z_]+:-([^}]*)}", "$1");
  }

  static Map<String, String> env(JsonNode service) {
    Map<String, String> env = new LinkedHashMap<>();
    service.path("environment").fields().forEachRemaining(e -> env.put(e.getKey(), interpolate(e.getValue().asText())));
    return env;
  }

  @Test
  void composeWiresSluiceToItsPostgresRedisAndFakeVllms() throws Exception {
    JsonNode services = compose.get("services");
    JsonNode sluice = services.get("sluice");
    Map<String, String> env = env(sluice);
    assertThat(env.keySet()).as("only names Sluice reads")
        .containsExactlyInAnyOrder("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "DATABASE_URL", "REDIS_URL");

    // The image's CMD is not overridden: its --config is where the compose config is mounted.
    assertThat(sluice.has("command")).isFalse();
    SluiceMain cmd = cli(runtime().last("CMD").words());
    String mountedConfig = null;
    for (JsonNode v : sluice.get("volumes")) {
      String[] parts = v.asText().split(":");
      if (parts[1].equals(cmd.config.toString())) {
        mountedConfig = parts[0];
      }
      if (parts[1].equals(cmd.dataDir.toString())) {
        assertThat(compose.get("volumes").has(parts[0])).as("data dir on a named volume").isTrue();
      }
    }
    assertThat(mountedConfig).as("a config mounted at %s", cmd.config).isNotNull();
    assertThat(sluice.get("ports").get(0).asText()).endsWith(":" + cmd.port);

    Path cfgFile = ROOT.resolve(mountedConfig);
    SluiceConfig cfg = ConfigLoader.load(cfgFile, env);
    MasterKeys.Resolved master = MasterKeys.resolve(cfg, env);
    assertThat(master.key().reveal()).isEqualTo(env.get("LITELLM_MASTER_KEY"));
    AdminPlane.Settings admin = AdminPlane.Settings.from(cfg, env, master.key());
    assertThat(admin.saltKey().reveal()).isEqualTo(env.get("LITELLM_SALT_KEY"));

    // DATABASE_URL names the postgres service with the credentials that service creates.
    URI db = URI.create(env.get("DATABASE_URL"));
    JsonNode pg = services.get(db.getHost());
    assertThat(pg).as("a service named %s", db.getHost()).isNotNull();
    assertThat(pg.get("image").asText()).startsWith("postgres:");
    Map<String, String> pgEnv = env(pg);
    assertThat(db.getPort()).isEqualTo(5432);
    assertThat(db.getUserInfo()).isEqualTo(pgEnv.get("POSTGRES_USER") + ":" + pgEnv.get("POSTGRES_PASSWORD"));
    assertThat(db.getPath()).isEqualTo("/" + pgEnv.get("POSTGRES_DB"));
    assertThat(admin.url().user()).isEqualTo(pgEnv.get("POSTGRES_USER"));
    assertThat(admin.url().jdbcUrl()).isEqualTo("jdbc:postgresql://" + db.getHost() + ":5432/" + pgEnv.get("POSTGRES_DB"));

    RedisSettings redis = RedisSettings.fromEnv(env).orElseThrow();
    assertThat(services.get(redis.host()).get("image").asText()).startsWith("redis:");
    assertThat(redis.port()).isEqualTo(6379);
    for (String dep : List.of(db.getHost(), redis.host())) {
      assertThat(sluice.get("depends_on").get(dep).get("condition").asText()).isEqualTo("service_healthy");
    }

    // Every api_base is a fake vLLM service listening on that port, serving the model the config sends.
    assertThat(cfg.modelList()).hasSizeGreaterThanOrEqualTo(2);
    String help = fakeHelp();
    for (DeploymentConfig d : cfg.modelList()) {
      JsonNode fake = services.get(d.apiBase().getHost());
      assertThat(fake).as("a service named %s", d.apiBase().getHost()).isNotNull();
      assertThat(fake.get("build").get("target").asText()).isEqualTo(stage("fake-vllm").name());
      List<String> args = new ArrayList<>();
      fake.get("command").forEach(n -> args.add(n.asText()));
      Map<String, String> flags = new HashMap<>();
      for (int i = 0; i + 1 < args.size(); i += 2) {
        assertThat(help).as("the fake accepts %s", args.get(i)).contains("[" + args.get(i) + " ");
        flags.put(args.get(i), args.get(i + 1));
      }
      assertThat(flags).containsEntry("--port", String.valueOf(d.apiBase().getPort()))
          .containsEntry("--host", "0.0.0.0").containsEntry("--model", d.upstreamModel());
      assertThat(sluice.get("depends_on").has(d.apiBase().getHost())).isTrue();
    }
    assertThat(sluice.get("stop_grace_period").asText()).as("longer than the image's --drain-timeout %s",
        cmd.drainTimeout).isEqualTo((cmd.drainTimeout.toSeconds() + 15) + "s");
  }

  /** The fake vLLM's usage line, from the jar the image copies. */
  private static String fakeHelp() throws Exception {
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("sluice.bench.jar"), "io.sluice.bench.fake.FakeVllm", "--help").redirectErrorStream(true)
        .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    return out;
  }
}
