package io.sluice.bench.e2e;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** HTTP and log capture for the end-to-end tests. */
final class VirtualKeyE2ETestSupport {
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private VirtualKeyE2ETestSupport() {}

  /** {@code headers} as name, value pairs; {@code key} as {@code Authorization: Bearer} when not null. */
  static HttpResponse<String> send(int port, String method, String path, String key, String body, String... headers)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(20))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (body != null) {
      b.header("Content-Type", "application/json");
    }
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper JSON =
      new com.fasterxml.jackson.databind.ObjectMapper();

  /** A new virtual key from {@code POST /key/generate} with {@code generateBody}, made with the master key. */
  static String generateKey(int port, String master, String generateBody) throws Exception {
    HttpResponse<String> r = send(port, "POST", "/key/generate", master, generateBody);
    org.assertj.core.api.Assertions.assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body()).get("key").asText();
  }

  /** The one spend row of {@code requestId} from {@code GET /spend/logs}, waiting up to 10 s for the batched writer. */
  static com.fasterxml.jackson.databind.JsonNode spendRow(int port, String master, String requestId)
      throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      HttpResponse<String> r = send(port, "GET", "/spend/logs?request_id=" + requestId, master, null);
      org.assertj.core.api.Assertions.assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      com.fasterxml.jackson.databind.JsonNode rows = JSON.readTree(r.body());
      if (rows.size() > 0) {
        org.assertj.core.api.Assertions.assertThat(rows.size()).as("one row per request").isEqualTo(1);
        return rows.get(0);
      }
      org.assertj.core.api.Assertions.assertThat(System.nanoTime()).as("spend row for %s", requestId)
          .isLessThan(deadline);
      Thread.sleep(50);
    }
  }

  /**
   * Runs {@code src/test/node/<name>/client.mjs} with Node and returns its JSON lines by their {@code case}: copies
   * it with its {@code package.json} to {@code target/<name>} and installs the pinned SDK there first when
   * {@code installed} (a path under node_modules) is missing. Fails — never skips — saying how to get Node and npm.
   * An {@code env} value that is empty removes that variable from the client's environment.
   */
  static java.util.Map<String, com.fasterxml.jackson.databind.JsonNode> runNodeClient(String name, String installed,
      java.util.Map<String, String> env) throws Exception {
    java.nio.file.Path src = java.nio.file.Path.of("src/test/node", name);
    java.nio.file.Path dir = java.nio.file.Path.of("target", name);
    java.nio.file.Files.createDirectories(dir);
    for (String f : new String[] {"package.json", "client.mjs"}) {
      java.nio.file.Files.copy(src.resolve(f), dir.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
    if (!java.nio.file.Files.isDirectory(dir.resolve("node_modules").resolve(installed))) {
      int rc;
      try {
        Process npm = new ProcessBuilder("npm", "install", "--no-audit", "--no-fund", "--prefer-offline")
            .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("npm.log").toFile())
            .start();
        rc = npm.waitFor(5, java.util.concurrent.TimeUnit.MINUTES) ? npm.exitValue() : -1;
      } catch (java.io.IOException e) {
        rc = -2;
      }
      org.assertj.core.api.Assertions.assertThat(rc).as("npm install of " + installed + " failed (rc " + rc
          + "; see bench/target/" + name + "/npm.log). This test needs Node.js 18+ and npm with the npm registry "
          + "reachable: apt-get install nodejs npm, then rerun.").isZero();
    }
    ProcessBuilder pb = new ProcessBuilder("node", "client.mjs").directory(dir.toFile()).redirectErrorStream(true);
    env.forEach((k, v) -> {
      if (v.isEmpty()) {
        pb.environment().remove(k);
      } else {
        pb.environment().put(k, v);
      }
    });
    Process node = pb.start();
    String output = new String(node.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    org.assertj.core.api.Assertions.assertThat(node.waitFor(2, java.util.concurrent.TimeUnit.MINUTES)).as(output)
        .isTrue();
    org.assertj.core.api.Assertions.assertThat(node.exitValue()).as(output).isZero();
    java.util.Map<String, com.fasterxml.jackson.databind.JsonNode> byCase = new java.util.HashMap<>();
    for (String line : output.split("\n")) {
      if (line.startsWith("{")) {
        com.fasterxml.jackson.databind.JsonNode n = JSON.readTree(line);
        byCase.put(n.get("case").asText(), n);
      }
    }
    return byCase;
  }

  interface Action {
    void run() throws Exception;
  }

  /** Runs {@code a} with every logger at DEBUG and returns what was logged (messages and exception texts). */
  static String captureLogs(Action a) throws Exception {
    ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(
        org.slf4j.Logger.ROOT_LOGGER_NAME);
    ch.qos.logback.classic.Level before = root.getLevel();
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logs =
        new ch.qos.logback.core.read.ListAppender<>();
    logs.start();
    root.addAppender(logs);
    root.setLevel(ch.qos.logback.classic.Level.DEBUG);
    try {
      a.run();
    } finally {
      root.detachAppender(logs);
      root.setLevel(before);
    }
    StringBuilder all = new StringBuilder();
    for (ch.qos.logback.classic.spi.ILoggingEvent e : logs.list) {
      all.append(e.getFormattedMessage()).append('\n');
      if (e.getThrowableProxy() != null) {
        all.append(e.getThrowableProxy().getMessage()).append('\n');
      }
    }
    return all.toString();
  }
}
