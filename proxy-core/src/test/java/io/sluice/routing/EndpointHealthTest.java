package io.sluice.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** {@code /health}'s probes: reused within the TTL, shared while in flight, bounded, timed out. */
class EndpointHealthTest {
  /** A probe the test completes by hand; records each call. */
  static final class HandProbe implements EndpointProbe {
    final Map<String, List<CompletableFuture<Result>>> calls = new ConcurrentHashMap<>();

    @Override
    public CompletableFuture<Result> probe(Deployment d) {
      CompletableFuture<Result> f = new CompletableFuture<>();
      calls.computeIfAbsent(d.id(), k -> java.util.Collections.synchronizedList(new ArrayList<>())).add(f);
      return f;
    }

    int count(String id) {
      return calls.getOrDefault(id, List.of()).size();
    }

    int total() {
      return calls.values().stream().mapToInt(List::size).sum();
    }
  }

  static Deployment d(String id) {
    return new Deployment(new DeploymentConfig("g", Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:9/v1"),
        null, null, null, null, null, id));
  }

  @Test
  void resultsAreReusedWithinTheTtlAndProbedAgainAfter() {
    HandProbe p = new HandProbe();
    AtomicLong now = new AtomicLong();
    EndpointHealth h = new EndpointHealth(p, Duration.ofSeconds(10), Duration.ofSeconds(5), 4, now::get);
    Deployment a = d("a");
    CompletableFuture<List<EndpointProbe.Result>> first = h.check(List.of(a));
    CompletableFuture<List<EndpointProbe.Result>> shared = h.check(List.of(a));
    assertThat(p.count("a")).as("a second asker shares the probe in flight").isEqualTo(1);
    p.calls.get("a").get(0).complete(EndpointProbe.Result.failed("HTTP 503"));
    assertThat(first.join().get(0).healthy()).isFalse();
    assertThat(shared.join().get(0).error()).isEqualTo("HTTP 503");
    now.addAndGet(TimeUnit.SECONDS.toNanos(9));
    assertThat(h.check(List.of(a)).join().get(0).error()).as("still fresh").isEqualTo("HTTP 503");
    assertThat(p.count("a")).isEqualTo(1);
    now.addAndGet(TimeUnit.SECONDS.toNanos(2));
    CompletableFuture<List<EndpointProbe.Result>> later = h.check(List.of(a));
    assertThat(p.count("a")).as("expired: probed again").isEqualTo(2);
    p.calls.get("a").get(1).complete(EndpointProbe.Result.OK);
    assertThat(later.join().get(0).healthy()).isTrue();
  }

  @Test
  void atMostMaxConcurrentProbesRunTheRestQueue() {
    HandProbe p = new HandProbe();
    EndpointHealth h = new EndpointHealth(p, Duration.ofSeconds(10), Duration.ofSeconds(5), 2, () -> 0L);
    List<Deployment> ds = List.of(d("a"), d("b"), d("c"), d("d"));
    CompletableFuture<List<EndpointProbe.Result>> all = h.check(ds);
    assertThat(p.total()).as("two slots").isEqualTo(2);
    p.calls.get("a").get(0).complete(EndpointProbe.Result.OK);
    assertThat(p.total()).as("a slot freed: the next one starts").isEqualTo(3);
    p.calls.get("b").get(0).complete(EndpointProbe.Result.OK);
    p.calls.get("c").get(0).complete(EndpointProbe.Result.OK);
    assertThat(p.total()).isEqualTo(4);
    assertThat(all).isNotDone();
    p.calls.get("d").get(0).complete(EndpointProbe.Result.failed("x"));
    assertThat(all.join()).extracting(EndpointProbe.Result::healthy).containsExactly(true, true, true, false);
  }

  @Test
  void aProbeThatNeverAnswersCountsAsUnhealthyAfterTheTimeout() {
    HandProbe p = new HandProbe();
    EndpointHealth h = new EndpointHealth(p, Duration.ofSeconds(10), Duration.ofMillis(50), 1);
    EndpointProbe.Result r = h.check(List.of(d("slow"))).orTimeout(5, TimeUnit.SECONDS).join().get(0);
    assertThat(r.healthy()).isFalse();
    assertThat(r.error()).contains("50 ms");
    p.calls.clear();
    h.check(List.of(d("next")));
    assertThat(p.count("next")).as("the timed-out probe gave its slot back").isEqualTo(1);
  }

  @Test
  void whoeverSeesAProbeDoneFindsItsSlotFreeAlready() {
    // Dependants of a result run inside its completion, on the probe's thread: a caller that starts the next
    // check from there (as /health's handler may) must find the finished probe's slot given back, not queue behind
    // it. (The timed-out case above raced on exactly this before the slot was released first.)
    HandProbe p = new HandProbe();
    EndpointHealth h = new EndpointHealth(p, Duration.ofSeconds(10), Duration.ofSeconds(5), 1, () -> 0L);
    java.util.concurrent.atomic.AtomicInteger startedInside = new java.util.concurrent.atomic.AtomicInteger(-1);
    CompletableFuture<Void> chained = h.check(List.of(d("first"))).thenRun(() -> {
      h.check(List.of(d("second")));
      startedInside.set(p.count("second"));
    });
    p.calls.get("first").get(0).complete(EndpointProbe.Result.OK);
    chained.join();
    assertThat(startedInside.get()).as("the second probe started at once, in the first one's freed slot")
        .isEqualTo(1);
    assertThat(p.total()).isEqualTo(2);
  }

  @Test
  void aWaitingProbeStartsOnlyAfterTheOneBeforeItIsVisiblyDone() {
    HandProbe p = new HandProbe();
    EndpointHealth h = new EndpointHealth(p, Duration.ofSeconds(10), Duration.ofSeconds(5), 1, () -> 0L);
    CompletableFuture<List<EndpointProbe.Result>> first = h.check(List.of(d("a")));
    CompletableFuture<List<EndpointProbe.Result>> second = h.check(List.of(d("b")));
    assertThat(p.count("b")).as("one slot: b waits").isZero();
    p.calls.get("a").get(0).complete(EndpointProbe.Result.OK);
    assertThat(first).isDone();
    assertThat(p.count("b")).as("a's slot went to b").isEqualTo(1);
    p.calls.get("b").get(0).complete(EndpointProbe.Result.failed("HTTP 500"));
    assertThat(second.join().get(0).error()).isEqualTo("HTTP 500");
    h.check(List.of(d("c")));
    assertThat(p.count("c")).as("and b gave it back").isEqualTo(1);
  }

  @Test
  void settingsAreChecked() {
    HandProbe p = new HandProbe();
    assertThatThrownBy(() -> new EndpointHealth(p, Duration.ZERO, Duration.ofSeconds(1), 1))
        .hasMessageContaining("ttl");
    assertThatThrownBy(() -> new EndpointHealth(p, Duration.ofSeconds(1), Duration.ofSeconds(1), 0))
        .hasMessageContaining("maxConcurrent");
  }
}
