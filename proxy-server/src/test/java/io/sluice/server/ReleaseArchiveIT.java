package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The release archive as a user gets it: {@code sluice-<version>.tar.gz} unpacked with {@code tar} into an empty
 * directory, started through {@code bin/sluice} with an environment that has no Maven, no source tree and no class
 * path — only {@code JAVA_HOME}. Runs in {@code integration-test}, after {@code package} built the archive.
 */
class ReleaseArchiveIT {
  static final String MASTER = "sk-master-SECRET-archive";
  static final Duration START = Duration.ofSeconds(30);

  @TempDir
  static Path dir;
  static Path home;

  @BeforeAll
  static void unpack() throws Exception {
    String archive = System.getProperty("sluice.archive");
    assertThat(archive).as("failsafe passes the archive's path (run through mvn verify)").isNotNull();
    assertThat(Path.of(archive)).as("mvn package builds the release archive").isRegularFile();
    Process tar = new ProcessBuilder("tar", "-xzf", archive, "-C", dir.toString()).inheritIO().start();
    assertThat(tar.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(tar.exitValue()).isZero();
    home = dir.resolve("sluice-" + System.getProperty("sluice.version"));
  }

  /** An environment with Java and nothing else: PATH is an empty directory, so no mvn, no java on PATH. */
  private static ProcessBuilder launcher(Map<String, String> extraEnv, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(home.resolve("bin/sluice").toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(home.toFile());
    Path emptyBin = Files.createDirectories(dir.resolve("empty-bin"));
    pb.environment().clear();
    pb.environment().put("PATH", emptyBin.toString());
    pb.environment().put("HOME", dir.toString());
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    pb.environment().putAll(extraEnv);
    return pb;
  }

  private static String run(Map<String, String> env, int expectedExit, String... args) throws Exception {
    Process p = launcher(env, args).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("exit of bin/sluice %s: %s", String.join(" ", args), out).isEqualTo(expectedExit);
    return out;
  }

  @Test
  void archiveHoldsLauncherJarExampleConfigLicenceChangelogAndSystemdUnit() throws Exception {
    assertThat(Files.getPosixFilePermissions(home.resolve("bin/sluice"))).contains(PosixFilePermission.OWNER_EXECUTE,
        PosixFilePermission.OTHERS_EXECUTE);
    assertThat(home.resolve("lib/sluice.jar")).isRegularFile();
    assertThat(home.resolve("config/example.yaml")).hasSameTextualContentAs(Path.of("../examples/config.yaml"));
    assertThat(Files.readString(home.resolve("LICENSE"))).contains("Apache License", "Version 2.0, January 2004");
    assertThat(home.resolve("CHANGELOG.md")).isRegularFile();
    String unit = Files.readString(home.resolve("systemd/sluice.service"));
    assertThat(unit).contains("ExecStart=/opt/sluice/bin/sluice --config /etc/sluice/config.yaml", "KillSignal=SIGTERM");
    int drain = Integer.parseInt(unit.replaceAll("(?s).*--drain-timeout (\\d+)s.*", "$1"));
    int stop = Integer.parseInt(unit.replaceAll("(?s).*TimeoutStopSec=(\\d+).*", "$1"));
    assertThat(stop).as("systemd waits longer than the drain before it kills").isGreaterThan(drain);
  }

  @Test
  void launcherPrintsVersionAndChecksTheBundledExampleConfig() throws Exception {
    assertThat(run(Map.of(), 0, "--version")).contains("sluice " + System.getProperty("sluice.version"));
    assertThat(run(Map.of(), 0, "check", "--config", "config/example.yaml")).contains("is valid");
  }

  @Test
  void launcherDefaultsAreTunedAndJavaOptsReplacesHeapAndCollector() throws Exception {
    String defaults = run(Map.of("SLUICE_LAUNCHER_DRY_RUN", "1"), 0, "--port", "1");
    assertThat(defaults).contains("-Xms1g -Xmx1g", "-XX:+AlwaysPreTouch", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=50",
        "-XX:+ExitOnOutOfMemoryError", "-jar " + home.resolve("lib/sluice.jar"), "--port 1");
    assertThat(run(Map.of("SLUICE_LAUNCHER_DRY_RUN", "1", "SLUICE_HEAP", "3g"), 0)).contains("-Xms3g -Xmx3g");
    String container = run(Map.of("SLUICE_LAUNCHER_DRY_RUN", "1",
        "JAVA_OPTS", "-XX:MaxRAMPercentage=60 -XX:+UseParallelGC"), 0);
    assertThat(container).as("JAVA_OPTS' heap and collector win; two collectors would not start")
        .doesNotContain("-Xmx1g", "UseG1GC").contains("-XX:MaxRAMPercentage=60 -XX:+UseParallelGC",
            "-XX:+ExitOnOutOfMemoryError");
  }

  @Test
  void launcherWithoutJavaSaysHowToFixIt() throws Exception {
    String out = run(Map.of("JAVA_HOME", dir.resolve("no-such-jdk").toString()), 1, "--version");
    assertThat(out).contains("JAVA_HOME=" + dir.resolve("no-such-jdk"), "Java 17+");
  }

  @Test
  void unpackedArchiveStartsRelaysAChatAndDrainsOnSigterm() throws Exception {
    HttpServer upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    upstream.createContext("/v1/chat/completions", ex -> {
      ex.getRequestBody().readAllBytes();
      byte[] body = ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":0,"
          + "\"message\":{\"role\":\"assistant\",\"content\":\"from the archive\"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3,\"total_tokens\":4}}")
          .getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    upstream.start();
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Path cfg = dir.resolve("archive-config.yaml");
    Files.writeString(cfg, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, "
        + "api_base: 'http://127.0.0.1:" + upstream.getAddress().getPort() + "/v1'}\n");
    Path log = dir.resolve("archive-sluice.log");
    Process p = launcher(Map.of("SLUICE_MASTER_KEY", MASTER, "JAVA_OPTS", "-Xmx256m -XX:+UseSerialGC"),
        "--config", cfg.toString(), "--host", "127.0.0.1", "--port", String.valueOf(port), "--no-db",
        "--drain-timeout", "5s").redirectErrorStream(true).redirectOutput(log.toFile()).start();
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    try {
      URI base = URI.create("http://127.0.0.1:" + port);
      long deadline = System.nanoTime() + START.toNanos();
      int live = 0;
      while (live != 200 && System.nanoTime() < deadline && p.isAlive()) {
        try {
          live = http.send(HttpRequest.newBuilder(base.resolve("/health/liveliness")).build(),
              HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
          Thread.sleep(100);
        }
      }
      assertThat(live).as("started from the archive: %s", Files.readString(log)).isEqualTo(200);

      List<String> jvmArgs = p.toHandle().info().arguments().map(List::of).orElse(List.of());
      assertThat(jvmArgs).as("the launcher exec'd java with its flags and JAVA_OPTS")
          .contains("-XX:+ExitOnOutOfMemoryError", "-Xmx256m", "-XX:+UseSerialGC", "-jar")
          .doesNotContain("-Xmx1g", "-XX:+UseG1GC");

      HttpResponse<String> chat = http.send(HttpRequest.newBuilder(base.resolve("/v1/chat/completions"))
          .header("Authorization", "Bearer " + MASTER).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"llama\",\"messages\":[{\"role\":\"user\","
              + "\"content\":\"hi\"}]}")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
      assertThat(chat.body()).contains("from the archive");

      p.toHandle().destroy(); // SIGTERM to java itself: the launcher exec'd it
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).as("clean drain: %s", Files.readString(log)).isZero();
      assertThat(Files.readString(log)).contains("SIGTERM received").doesNotContain(MASTER);
    } finally {
      p.destroyForcibly();
      upstream.stop(0);
    }
  }
}
