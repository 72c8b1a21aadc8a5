package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The overload cascade of issue 20 §2 must not happen: thousands of new streams at once to one replica (the fake,
 * which takes them all directly) all complete through Sluice with 0 errors, inside this test JVM's 1 GiB heap
 * ({@code -Xmx1g}, the build's test argLine) that also holds the load driver and the fake.
 *
 * <p>Count: the issue asks for 8 000. In one JVM each stream costs four descriptors (client socket, Sluice's
 * accepted one, Sluice's upstream one, the fake's accepted one), and this machine's {@code RLIMIT_NOFILE} is 20 000
 * (soft and hard: {@code ulimit -Hn}), so 8 000 streams need 32 000 descriptors. {@link #STREAMS} = 4 500 (18 000
 * descriptors, leaving room for the JVM's own jars and the build) is the largest round count that fits; set
 * {@code -Dsluice.manyStreams=8000} where the limit allows (e.g. {@code ulimit -n 40000}).
 */
class ManyStreamsTest {
  static final int STREAMS = Integer.getInteger("sluice.manyStreams", 4500);
  static final String MASTER = "sk-master-SECRET-many";

  private static double inFlight(int port) throws Exception {
    var r = VirtualKeyE2ETestSupport.send(port, "GET", "/metrics", MASTER, null);
    return PromText.parse(r.body()).sum("sluice_in_flight_requests", java.util.Map.of());
  }

  /** Starts the heap's peak afresh (all heap pools). */
  static void resetPeakHeap() {
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      p.resetPeakUsage();
    }
  }

  /** The heap's peak since {@link #resetPeakHeap}, summed over its pools. */
  static long peakHeapBytes() {
    long peak = 0;
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) {
        peak += p.getPeakUsage().getUsed();
      }
    }
    return peak;
  }

  /**
   * Waits (up to 30 s) until Sluice on {@code port} has no exchange in flight but the scrape asking, then lets the
   * leak detector see any buffer dropped unreleased while the test still runs.
   */
  static void awaitExchangesEnded(int port) throws Exception {
    long deadline = System.nanoTime() + 30_000_000_000L;
    double inFlight;
    while ((inFlight = inFlight(port)) > 1 && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(inFlight).as("every exchange ended once its client left (1: this scrape)").isEqualTo(1.0);
    System.gc();
    Thread.sleep(200);
  }

  @Test
  void thousandsOfConcurrentStreamsToOneReplicaCompleteWithoutErrors() throws Exception {
    FakeVllm fake = FakeVllm.builder().servedModel("m").tokens(8).ttft(Duration.ofMillis(800))
        .interTokenDelay(Duration.ofMillis(20)).threads(2).start();
    ServerSettings d = ServerSettings.defaults();
    // Per event loop and replica: room for every stream on either of the two loops (the default, 1024, would
    // refuse the rest with 503 by design). The default connect_timeout (5 s): the last of 4 500 acquirers waits
    // longer than that for one of the MAX_CONCURRENT_CONNECTS paced connect slots on this shared 2-CPU machine
    // (186 got 503 in a run when the wait itself was bounded by it); the line moves, so none may fail now.
    ServerSettings server = new ServerSettings(d.maxUriLength(), d.maxHeaderSize(), d.requestReadTimeout(),
        d.idleTimeout(), d.connectTimeout(), d.upstreamIdleTimeout(), STREAMS, d.maxIdlePerReplica(),
        d.limitsFailClosed());
    SluiceConfig cfg = new SluiceConfig(null, List.of(new DeploymentConfig("one", Provider.HOSTED_VLLM, "m",
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), null, null, null, null, null, "only")),
        GeneralSettings.defaults(), RouterSettings.defaults(), LitellmSettings.defaults(), server);
    SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 2, Secret.of(MASTER),
        false, io.sluice.auth.KeyStore.NONE, true));
    try {
      resetPeakHeap();
      LoadDriver.Result r = LoadDriver.run(new LoadDriver.Options()
          .url("http://127.0.0.1:" + sluice.port() + "/v1/chat/completions").model("one").stream(true)
          // Until every connection's first stream could have completed (stopAfter), within a deadline: a fixed 30 s
          // window was too short on a slower machine (2 949 of 4 500 in it, before and after issue 18's changes).
          .connections(STREAMS).threads(2).warmup(0).duration(150).timeout(140).stopAfter(STREAMS)
          .header("Authorization", "Bearer " + MASTER));
      // The driver closed its connections (streams of the last round cut mid-way): let Sluice see every one go before
      // it shuts down, so the leak detector judges the relay, not a shutdown racing 4 500 channel closes.
      awaitExchangesEnded(sluice.port());
      long peakHeap = peakHeapBytes();
      System.out.printf("ManyStreamsTest: %d concurrent streams, %d requests, %d errors (%s), fake accepted %d "
          + "connections, peak heap %d MiB of max %d MiB%n", STREAMS, r.requests(), r.errors(), r.firstError(),
          fake.connectionsAccepted(), peakHeap >> 20, Runtime.getRuntime().maxMemory() >> 20);
      assertThat(r.errors()).as("0 errors; first: %s", r.firstError()).isZero();
      assertThat(r.requests()).as("every connection's first stream, at least, completed").isGreaterThanOrEqualTo(
          STREAMS);
      assertThat(Runtime.getRuntime().maxMemory()).as("the test JVM runs within 1 GiB of heap")
          .isLessThanOrEqualTo(1L << 30);
    } finally {
      sluice.close();
      fake.close();
    }
  }
}
