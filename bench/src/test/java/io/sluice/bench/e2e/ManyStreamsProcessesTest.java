package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.load.LoadDriver;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The overload cascade of issue 20 §2 must not happen: 8 000 new streams at once to one replica (the fake, which
 * takes them all directly) all complete through Sluice with 0 errors, Sluice inside this test JVM's 1 GiB heap
 * ({@code -Xmx1g}, the build's test argLine).
 *
 * <p>Processes: each stream costs four descriptors (client socket, Sluice's accepted one, Sluice's upstream one, the
 * fake's accepted one) and this machine's {@code RLIMIT_NOFILE} is 20 000 per process, soft and hard, not raisable
 * here ({@code ulimit -Hn}), so one JVM holds at most ≈ 4 500. The load driver and the fake vLLM therefore run as
 * child JVMs (this test's classpath, their own {@code main}s, 512 MiB each); this JVM holds only Sluice's 16 000.
 * {@code -Dsluice.manyStreams=N} changes the count.
 *
 * <p>Part of every build (issue 20 §2 asks for the test, not only for a run of it): three JVMs on this 2-CPU machine,
 * Sluice's with the paranoid leak detector, take ≈ 40 s and most of Sluice's 1 GiB heap (peak 839–851 MiB in the
 * first runs: 8 000 streams, 12–14 k requests, 0 errors, TTFB p50 13–14 s — the harness's, see the README).
 * {@link ManyStreamsTest} runs 4 500 in one JVM besides, where a failure is easier to debug.
 *
 * <p>The clients' connect timeout is 30 s, not the driver's default 5 s: 8 000 SYNs at once overflow any listen
 * queue here ({@code net.core.somaxconn} = 4 096, Sluice asks for 4 096), and the kernel drops the rest, which the
 * clients' TCP stacks resend after 1, 3 and 7 s (seen: 3 243 of 8 000 connects past 5 s with both JVMs busy). That
 * is the client side of the burst, the same in front of any server; what this test holds Sluice to is its side —
 * every accepted stream relayed, no upstream connect failing, no replica cooled down. Before Sluice's listening
 * socket had a thread of its own, accepting waited behind relay work, the queue overflowed for longer, and 635–1 832
 * clients got resets; with the acceptor thread, 0.
 */
class ManyStreamsProcessesTest {
  static final int STREAMS = Integer.getInteger("sluice.manyStreams", 8000);
  static final String MASTER = "sk-master-SECRET-many";

  /** A child JVM running {@code main} with {@code args}, its output (stdout and stderr merged) to {@code log}. */
  private static Process child(Class<?> main, Path log, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx512m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), main.getName()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("SLUICE_LOG_LEVEL", "INFO");
    return pb.start();
  }

  /** Waits for {@code pattern}'s first group in {@code log} (the child's output so far). */
  private static String await(Path log, Process p, Pattern pattern, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      Matcher m = pattern.matcher(Files.readString(log));
      if (m.find()) {
        return m.group(1);
      }
      if (!p.isAlive()) {
        throw new AssertionError(pattern + ": the child exited with " + p.exitValue() + ":\n" + Files.readString(log));
      }
      Thread.sleep(50);
    }
    throw new AssertionError(pattern + " not seen within " + timeout + ":\n" + Files.readString(log));
  }

  @Test
  void thousandsOfConcurrentStreamsToOneReplicaCompleteWithoutErrors() throws Exception {
    Path dir = Files.createTempDirectory("many-streams");
    Path fakeLog = dir.resolve("fake.log");
    Path driverLog = dir.resolve("driver.log");
    Process fake = child(FakeVllm.class, fakeLog, "--host", "127.0.0.1", "--port", "0", "--model", "m", "--tokens",
        "8", "--ttft-ms", "800", "--itl-ms", "20", "--threads", "2");
    Process driver = null;
    SluiceServer sluice = null;
    try {
      int fakePort = Integer.parseInt(await(fakeLog, fake, Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)"),
          Duration.ofSeconds(30)));
      ServerSettings d = ServerSettings.defaults();
      // Per event loop and replica: room for every stream on either of the two loops (the default, 1024, would
      // refuse the rest with 503 by design). The default connect_timeout (5 s): the last acquirers wait longer than
      // that for one of the MAX_CONCURRENT_CONNECTS paced connect slots on this shared 2-CPU machine (186 of 4 500
      // got 503 when the wait itself was bounded by it); the line moves, so none may fail now.
      ServerSettings server = new ServerSettings(d.maxUriLength(), d.maxHeaderSize(), d.requestReadTimeout(),
          d.idleTimeout(), d.connectTimeout(), d.upstreamIdleTimeout(), STREAMS, d.maxIdlePerReplica(),
          d.limitsFailClosed());
      SluiceConfig cfg = new SluiceConfig(null, List.of(new DeploymentConfig("one", Provider.HOSTED_VLLM, "m",
          URI.create("http://127.0.0.1:" + fakePort + "/v1"), null, null, null, null, null, "only")),
          GeneralSettings.defaults(), RouterSettings.defaults(), LitellmSettings.defaults(), server);
      sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 2, Secret.of(MASTER), false,
          io.sluice.auth.KeyStore.NONE, true));
      ManyStreamsTest.resetPeakHeap();
      driver = child(LoadDriver.class, driverLog, "--url", "http://127.0.0.1:" + sluice.port()
          + "/v1/chat/completions", "--model", "one", "--stream", "--connections", String.valueOf(STREAMS),
          "--threads", "2", "--warmup", "0", "--duration", "150", "--timeout", "140", "--connect-timeout", "30",
          "--stop-after", String.valueOf(STREAMS), // within the deadline, as long as this machine needs (ManyStreamsTest)
          "--json",
          "--header", "Authorization: Bearer " + MASTER);
      assertThat(driver.waitFor(240, TimeUnit.SECONDS)).as("the load driver finished").isTrue();
      String out = Files.readString(driverLog);
      assertThat(driver.exitValue()).as("load driver: %s", out).isZero();
      JsonNode r = new ObjectMapper().readTree(out.substring(out.lastIndexOf("{\"url\"")));
      // The driver closed its connections (streams of the last round cut mid-way): let Sluice see every one go
      // before it shuts down, so the leak detector judges the relay, not a shutdown racing 8 000 channel closes.
      ManyStreamsTest.awaitExchangesEnded(sluice.port());
      long peakHeap = ManyStreamsTest.peakHeapBytes();
      System.out.printf("ManyStreamsProcessesTest: %d concurrent streams, %d requests, %d errors (%s), TTFB p50 %.0f ms, "
          + "peak heap %d MiB of max %d MiB%n", STREAMS, r.path("requests").asLong(), r.path("errors").asLong(),
          r.path("firstError").asText(), r.path("ttfbP50Us").asDouble() / 1000, peakHeap >> 20,
          Runtime.getRuntime().maxMemory() >> 20);
      assertThat(r.path("errors").asLong()).as("0 errors; first: %s", r.path("firstError").asText()).isZero();
      assertThat(r.path("requests").asLong()).as("every connection's first stream, at least, completed")
          .isGreaterThanOrEqualTo(STREAMS);
      assertThat(Runtime.getRuntime().maxMemory()).as("Sluice's JVM runs within 1 GiB of heap")
          .isLessThanOrEqualTo(1L << 30);
    } finally {
      if (driver != null) {
        driver.destroyForcibly();
      }
      if (sluice != null) {
        sluice.close();
      }
      fake.destroy();
      fake.waitFor(10, TimeUnit.SECONDS);
      fake.destroyForcibly();
    }
  }
}
