package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.AdmissionSettings;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Fair admission on vLLM's scraped queue alone ({@code max_waiting: 0}, no {@code max_parallel_requests}): a burst
 * that arrives between two scrapes waits in Sluice, not in vLLM's queue. The scrape is up to a second old; once one
 * has shown vLLM's batch full, Sluice counts its own requests since that scrape, so the burst cannot slip through
 * because the last scrape looked empty (issue 20 §2, measured in {@code SaturationWorkload}'s scraped row).
 */
class ScrapedAdmissionTest {
  static final String MASTER = "sk-master-SECRET-scraped";

  private static String chat(int i) {
    return "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"question " + i
        + " about something\"}],\"stream\":true}";
  }

  @Test
  void aBurstBetweenScrapesWaitsInSluiceNotInVllmsQueue() throws Exception {
    // 2 sequences at once; 20 tokens at 10 tokens/s: each request holds its slot about 2 s.
    try (FakeVllm fake = FakeVllm.builder().servedModel("m").tokens(20).simulate(2, 1 << 12, 16, 10, 10).start()) {
      AdmissionSettings admission = new AdmissionSettings(true, Duration.ofSeconds(30), 0.0, null,
          AdmissionSettings.DEFAULT_MAX_QUEUED_BYTES, Map.of(), Map.of());
      RouterSettings router = new RouterSettings("least-busy", Duration.ofSeconds(60), 0, 1000,
          Duration.ofSeconds(5), Map.of(), null, Map.of(), false, null, admission);
      SluiceConfig cfg = new SluiceConfig(null, List.of(new DeploymentConfig("chat", Provider.HOSTED_VLLM, "m",
          URI.create("http://127.0.0.1:" + fake.port() + "/v1"), null, null, null, null, null, "r0", null, null, null,
          Map.of(), null)), GeneralSettings.defaults(), router, LitellmSettings.defaults(), ServerSettings.defaults());
      ExecutorService pool = Executors.newCachedThreadPool();
      try (SluiceServer sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1,
          Secret.of(MASTER), false, hash -> CompletableFuture.completedFuture(Optional.empty()), true))) {
        List<Future<RawHttp.Response>> rs = new ArrayList<>();
        // Three at once before any scrape showed a queue: vLLM runs two and queues one.
        for (int i = 0; i < 3; i++) {
          int n = i;
          rs.add(pool.submit(() -> call(sluice, n)));
        }
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (fake.simulatedWaiting() < 1 && System.nanoTime() < deadline) {
          Thread.sleep(5);
        }
        assertThat(fake.simulatedWaiting()).as("vLLM queued the third").isEqualTo(1);
        // A scrape (every 1 s; the third waits ≈ 2 s) shows the queue, so the batch of 2 is known to be full: wait
        // for a /metrics request the fake received after the queue formed, while the queue still stood.
        long queued = System.nanoTime();
        while (fake.requests().stream().noneMatch(r -> r.uri().equals("/metrics") && r.receivedNanos() > queued)
            && System.nanoTime() < deadline + 5_000_000_000L) {
          Thread.sleep(10);
        }
        assertThat(fake.simulatedWaiting()).as("the scrape came while the third still waited").isEqualTo(1);
        Thread.sleep(100); // Sluice reads the scrape's answer
        AtomicInteger maxWaiting = new AtomicInteger();
        for (int i = 3; i < 9; i++) {
          int n = i;
          rs.add(pool.submit(() -> call(sluice, n)));
        }
        while (!rs.stream().allMatch(Future::isDone)) {
          maxWaiting.accumulateAndGet(fake.simulatedWaiting(), Math::max);
          Thread.sleep(2);
        }
        for (Future<RawHttp.Response> f : rs) {
          RawHttp.Response r = f.get();
          assertThat(r.status()).isEqualTo(200);
          assertThat(r.bodyText()).contains("[DONE]").doesNotContain("\"error\"");
        }
        // Without the estimate the first scrape after the first two finished shows an empty queue, and all six go
        // to vLLM at once (5 waiting). With it, Sluice lets one go per freed slot; one more than that can pass when
        // a request is under way to vLLM at the instant of a scrape (counted by Sluice, not yet by vLLM).
        assertThat(maxWaiting.get()).as("vLLM's queue while the burst of 6 waited").isLessThanOrEqualTo(2);
      } finally {
        pool.shutdownNow();
      }
    }
  }

  private static RawHttp.Response call(SluiceServer sluice, int i) throws Exception {
    try (RawHttp c = new RawHttp(sluice.port())) {
      return c.exchange("POST", "/v1/chat/completions", chat(i), "Authorization: Bearer " + MASTER);
    }
  }
}
