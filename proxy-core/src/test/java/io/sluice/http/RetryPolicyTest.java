package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.routing.Deployment;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.Strategy;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** The relay's retry and fallback policy, without a channel: which attempts an exchange gets, and the final answer. */
class RetryPolicyTest {
  private static final long NOW = 1_000_000_000_000L;

  private static DeploymentConfig d(String group, String id) {
    return new DeploymentConfig(group, Provider.HOSTED_VLLM, "m", URI.create("http://127.0.0.1:9/v1"), null,
        null, null, null, null, id);
  }

  /** Groups a (a1..aN), b (b1, b2), c (c1). */
  private static DeploymentRegistry registry(int inA) {
    List<DeploymentConfig> list = new ArrayList<>();
    for (int i = 1; i <= inA; i++) {
      list.add(d("a", "a" + i));
    }
    list.add(d("b", "b1"));
    list.add(d("b", "b2"));
    list.add(d("c", "c1"));
    return DeploymentRegistry.of(list);
  }

  private static List<String> attempts(RetryPolicy p) {
    List<String> ids = new ArrayList<>();
    Deployment d;
    while ((d = p.next(NOW)) != null) {
      ids.add(d.id());
      p.failed(ProxyError.UPSTREAM_BROKEN, "replica " + d.id() + " answered 500.");
      if (ids.size() > 50) {
        throw new AssertionError("no end: " + ids);
      }
    }
    return ids;
  }

  @ParameterizedTest(name = "{0} replicas in a, num_retries {1}, fallbacks [{2}] → {3}")
  @CsvSource(delimiter = ';', value = {
      // replicas in a; num_retries; fallbacks; the groups of the attempts, in order
      "1; 0; ;       a",
      "3; 0; ;       a",
      "3; 2; ;       a a a",
      "3; 5; ;       a a a",      // never the same replica twice: three replicas, three attempts
      "2; 1; b;      a a b b",
      "1; 0; b c;    a b c",
      "1; 3; zz c;   a c",        // a fallback that names no group is skipped
      "2; 0; b b;    a b b",      // listed twice: tried again with its own attempts (each replica once per exchange)
  })
  void attemptsStayWithinOnePlusNumRetriesPerGroupThenFallBackInOrder(int inA, int retries, String fallbacks,
      String expected) {
    DeploymentRegistry r = registry(inA);
    RetryPolicy p = new RetryPolicy();
    List<String> fb = fallbacks == null ? List.of() : List.of(fallbacks.trim().split("\\s+"));
    p.start(r.group("a"), fb, r::group, Strategy.SIMPLE_SHUFFLE, retries);
    List<String> ids = attempts(p);
    List<String> groups = ids.stream().map(id -> id.substring(0, 1)).toList();
    assertThat(String.join(" ", groups)).isEqualTo(expected.trim());
    assertThat(new HashSet<>(ids)).hasSameSizeAs(ids);
  }

  @Test
  void theGroupFollowsTheFallbackAndTheFinalAnswerIsTheLastAttemptsError() {
    DeploymentRegistry r = registry(1);
    RetryPolicy p = new RetryPolicy();
    p.start(r.group("a"), List.of("c"), r::group, Strategy.SIMPLE_SHUFFLE, 0);
    assertThat(p.next(NOW).id()).isEqualTo("a1");
    assertThat(p.group().name()).isEqualTo("a");
    p.failed(ProxyError.UPSTREAM_TIMEOUT, "a1 timed out");
    assertThat(p.next(NOW).id()).isEqualTo("c1");
    assertThat(p.group().name()).isEqualTo("c");
    assertThat(p.groupAttempts()).isEqualTo(1);
    p.failed(ProxyError.UPSTREAM_UNREACHABLE, "c1 refused the connection");
    assertThat(p.next(NOW)).isNull();
    RetryPolicy.GiveUp g = p.giveUp(r.group("a"), "a", NOW);
    assertThat(g.error()).isEqualTo(ProxyError.UPSTREAM_UNREACHABLE);
    assertThat(g.message()).isEqualTo("c1 refused the connection");
    assertThat(g.retryAfterSeconds()).isZero();
  }

  @Test
  void everyReplicaCoolingDownMeansNoAttemptAnd429UntilTheFirstRecovers() {
    DeploymentRegistry r = registry(2);
    for (Deployment d : r.group("a").deployments()) {
      d.health().probeFailed(NOW - TimeUnit.SECONDS.toNanos(2)); // default cooldown 5 s: 3 s left
    }
    RetryPolicy p = new RetryPolicy();
    p.start(r.group("a"), List.of(), r::group, Strategy.LEAST_BUSY, 3);
    assertThat(p.hasAlternative(NOW)).isFalse();
    assertThat(p.next(NOW)).isNull();
    RetryPolicy.GiveUp g = p.giveUp(r.group("a"), "a", NOW);
    assertThat(g.error()).isEqualTo(ProxyError.NO_HEALTHY_DEPLOYMENT);
    assertThat(g.retryAfterSeconds()).isEqualTo(3);
    assertThat(g.message()).contains("model a").contains("Try again in 3 s");
  }

  @Test
  void aContextWindowErrorSkipsTheGroupsRetriesAndItsFallbacksForTheContextWindowFallbacks() {
    DeploymentRegistry r = registry(3);
    RetryPolicy p = new RetryPolicy();
    p.start(r.group("a"), List.of("b"), r::group, Strategy.SIMPLE_SHUFFLE, 2);
    assertThat(p.contextWindowLeft(List.of("c"))).isTrue();
    assertThat(p.contextWindowLeft(List.of())).as("none configured: the 400 is relayed").isFalse();
    assertThat(p.next(NOW).id()).startsWith("a");
    assertThat(p.contextWindowExceeded(List.of("c"), "too long for a")).isTrue();
    assertThat(p.next(NOW).id()).as("not another replica of a, not fallback b").isEqualTo("c1");
    assertThat(p.contextWindowLeft(List.of("c"))).as("c was the last one").isFalse();
    assertThat(p.contextWindowExceeded(List.of("c"), "too long for c too")).isFalse();
    assertThat(p.next(NOW)).isNull();
    RetryPolicy.GiveUp g = p.giveUp(r.group("a"), "a", NOW);
    assertThat(g.error()).isEqualTo(ProxyError.BAD_REQUEST);
    assertThat(g.message()).isEqualTo("too long for c too");
  }

  @Test
  void aCoolingReplicaIsSkippedAndTheFallbackServes() {
    DeploymentRegistry r = registry(1);
    r.group("a").deployments().get(0).health().probeFailed(NOW);
    RetryPolicy p = new RetryPolicy();
    p.start(r.group("a"), List.of("c"), r::group, Strategy.SIMPLE_SHUFFLE, 2);
    assertThat(p.hasAlternative(NOW)).isTrue();
    assertThat(p.next(NOW).id()).isEqualTo("c1");
  }

  @Test
  void askingWhetherThereIsAnAlternativeChangesNothing() {
    DeploymentRegistry r = registry(2);
    RetryPolicy p = new RetryPolicy();
    p.start(r.group("a"), List.of("c"), r::group, Strategy.SIMPLE_SHUFFLE, 1);
    for (int i = 0; i < 5; i++) {
      assertThat(p.hasAlternative(NOW)).isTrue();
    }
    assertThat(attempts(p)).hasSize(3); // a, a, c: as if never asked
    assertThat(p.hasAlternative(NOW)).isFalse();
  }

  @Test
  void aResendToTheSameReplicaUsesAnAttemptAndDroppedFallbacksAreNotTried() {
    DeploymentRegistry r = registry(2);
    RetryPolicy p = new RetryPolicy();
    p.start(r.group("a"), List.of("c"), r::group, Strategy.SIMPLE_SHUFFLE, 1);
    Deployment first = p.next(NOW);
    p.dropFallbacks();
    p.resend(first); // count_tokens re-asked as /tokenize of the same replica
    assertThat(p.groupAttempts()).isEqualTo(2);
    assertThat(p.hasAlternative(NOW)).isFalse();
    assertThat(p.next(NOW)).isNull();
  }

  @Test
  void startForgetsThePreviousExchange() {
    DeploymentRegistry r = registry(1);
    RetryPolicy p = new RetryPolicy();
    p.start(r.group("a"), List.of(), r::group, Strategy.SIMPLE_SHUFFLE, 0);
    assertThat(p.next(NOW)).isNotNull();
    p.failed(ProxyError.UPSTREAM_BROKEN, "x");
    assertThat(p.next(NOW)).isNull();
    p.start(r.group("a"), List.of(), r::group, Strategy.SIMPLE_SHUFFLE, 0);
    assertThat(p.next(NOW).id()).isEqualTo("a1");
    assertThat(p.giveUp(r.group("a"), "a", NOW).error()).isEqualTo(ProxyError.NO_HEALTHY_DEPLOYMENT);
  }
}
