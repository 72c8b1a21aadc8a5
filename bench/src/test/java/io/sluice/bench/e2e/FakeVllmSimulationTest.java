package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.bench.fake.FakeVllm;
import java.io.IOException;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Issue 20 §5: the fake's simulation mode — sequence slots, a FIFO queue, an LRU prefix cache, and /metrics. */
class FakeVllmSimulationTest {
  FakeVllm fake;

  @AfterEach
  void stop() {
    if (fake != null) {
      fake.close();
    }
  }

  private static String words(int n, String w) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(i == 0 ? "" : " ").append(w).append(i);
    }
    return b.toString();
  }

  private static String chat(String content, boolean stream) {
    return "{\"model\":\"m\",\"stream\":" + stream + ",\"messages\":[{\"role\":\"user\",\"content\":\"" + content
        + "\"}]}";
  }

  private String metrics() throws IOException {
    try (RawHttp c = new RawHttp(fake.port())) {
      return c.exchange("GET", "/metrics", null).bodyText();
    }
  }

  private static double sample(String metrics, String name) {
    for (String line : metrics.split("\n")) {
      if (line.startsWith(name + "{")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new AssertionError(name + " not in /metrics");
  }

  private static void await(BooleanSupplier cond, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!cond.getAsBoolean() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(cond.getAsBoolean()).as(what).isTrue();
  }

  @Test
  void theLongestCachedRunOfLeadingBlocksCountsAsHitsAndMetricsSayTheSame() throws Exception {
    fake = FakeVllm.builder().servedModel("m").tokens(2).simulate(4, 64, 16, 0, 0).start();
    try (RawHttp c = new RawHttp(fake.port())) {
      String p64 = words(64, "w");
      assertThat(c.exchange("POST", "/v1/chat/completions", chat(p64, false)).status()).isEqualTo(200);
      assertThat(fake.prefixCacheQueries()).isEqualTo(64);
      assertThat(fake.prefixCacheHits()).as("a cold cache").isZero();
      assertThat(c.exchange("POST", "/v1/chat/completions", chat(p64, true)).status()).isEqualTo(200);
      assertThat(fake.prefixCacheHits()).as("all 4 blocks cached, but vLLM computes the last token").isEqualTo(63);
      String p84 = p64 + " " + words(20, "x");
      assertThat(c.exchange("POST", "/v1/chat/completions", chat(p84, false)).status()).isEqualTo(200);
      assertThat(fake.prefixCacheHits()).as("the 4 shared blocks of 5").isEqualTo(63 + 64);
      String other = words(64, "z");
      c.exchange("POST", "/v1/chat/completions", chat(other, false));
      assertThat(fake.prefixCacheHits()).as("nothing shared").isEqualTo(63 + 64);
      assertThat(fake.prefixCacheQueries()).isEqualTo(64 + 64 + 84 + 64);
    }
    String m = metrics();
    assertThat(sample(m, "vllm:prefix_cache_queries_total")).isEqualTo(fake.prefixCacheQueries());
    assertThat(sample(m, "vllm:prefix_cache_hits_total")).isEqualTo(fake.prefixCacheHits());
    assertThat(sample(m, "vllm:num_requests_running")).isZero();
    assertThat(sample(m, "vllm:num_requests_waiting")).isZero();
    assertThat(sample(m, "vllm:kv_cache_usage_perc")).as("no sequence holds a block").isZero();
  }

  @Test
  void theLeastRecentlyUsedBlocksAreEvictedPastCapacity() throws Exception {
    fake = FakeVllm.builder().servedModel("m").tokens(1).simulate(4, 8, 16, 0, 0).start();
    try (RawHttp c = new RawHttp(fake.port())) {
      String a = words(64, "a"); // 4 blocks
      String b = words(80, "b"); // 5 blocks: 9 > 8, a's oldest block goes
      c.exchange("POST", "/v1/completions", "{\"model\":\"m\",\"prompt\":\"" + a + "\"}");
      c.exchange("POST", "/v1/completions", "{\"model\":\"m\",\"prompt\":\"" + b + "\"}");
      long before = fake.prefixCacheHits();
      c.exchange("POST", "/v1/completions", "{\"model\":\"m\",\"prompt\":\"" + a + "\"}");
      assertThat(fake.prefixCacheHits() - before).as("a's first block was evicted: no leading run").isZero();
    }
  }

  @Test
  void sequencesBeyondTheSlotsWaitInOrderAndAClientThatLeavesIsDropped() throws Exception {
    // One slot; 5 tokens at 10 tokens/s hold it for about 0.4 s.
    fake = FakeVllm.builder().servedModel("m").tokens(5).simulate(1, 64, 16, 0, 10).start();
    try (RawHttp first = new RawHttp(fake.port()); RawHttp second = new RawHttp(fake.port());
        RawHttp leaver = new RawHttp(fake.port())) {
      first.send("POST", "/v1/chat/completions", chat("one", true));
      await(() -> fake.simulatedRunning() == 1, "the first takes the slot");
      second.send("POST", "/v1/chat/completions", chat("two", true));
      leaver.send("POST", "/v1/chat/completions", chat("three", true));
      await(() -> fake.simulatedWaiting() == 2, "the next two wait");
      String m = metrics();
      assertThat(sample(m, "vllm:num_requests_running")).isEqualTo(1);
      assertThat(sample(m, "vllm:num_requests_waiting")).isEqualTo(2);
      assertThat(sample(m, "vllm:kv_cache_usage_perc")).as("1 block of 64 held").isEqualTo(1 / 64.0);
      leaver.close();
      await(() -> fake.simulatedWaiting() == 1, "a client that leaves is removed from the queue");
      long t0 = System.nanoTime();
      assertThat(first.read().events()).last().isEqualTo("data: [DONE]");
      RawHttp.Response r = second.read();
      assertThat(r.events()).last().isEqualTo("data: [DONE]");
      assertThat(System.nanoTime() - t0).as("the second decoded only after the first").isGreaterThan(
          Duration.ofMillis(300).toNanos());
    }
    await(() -> fake.simulatedRunning() == 0 && fake.simulatedWaiting() == 0, "all done");
  }
}
