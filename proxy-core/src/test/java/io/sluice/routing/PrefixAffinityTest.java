package io.sluice.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.config.AffinitySettings;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Issue 20 §1: rendezvous hashing with bounded load ({@link ModelGroup#chooseAffine}). Deterministic. */
class PrefixAffinityTest {
  private static final AffinitySettings DEFAULTS = AffinitySettings.defaults();
  private static final long NOW = 0;

  private static DeploymentConfig config(String id, Double weight) {
    return new DeploymentConfig("g", Provider.HOSTED_VLLM, "m", URI.create("http://10.0.0.1:8000/v1"), null, null,
        null, weight, null, id);
  }

  private static ModelGroup group(int n) {
    List<Deployment> ds = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ds.add(new Deployment(config("replica-" + i, null)));
    }
    return new ModelGroup("g", ds);
  }

  private static long[] keys(int n) {
    SplittableRandom r = new SplittableRandom(20);
    long[] k = new long[n];
    for (int i = 0; i < n; i++) {
      k[i] = r.nextLong();
    }
    return k;
  }

  @Test
  void twoRegistriesBuiltFromTheSameConfigChooseAlike() {
    ModelGroup a = group(5);
    ModelGroup b = group(5);
    for (long k : keys(2000)) {
      assertThat(b.chooseAffine(k, DEFAULTS, null, NOW).id()).isEqualTo(a.chooseAffine(k, DEFAULTS, null, NOW).id());
    }
  }

  @Test
  void keysSpreadEvenlyAndWeightsTakeTheirShare() {
    ModelGroup g = group(4);
    int[] counts = new int[4];
    for (long k : keys(40_000)) {
      counts[g.deployments().indexOf(g.chooseAffine(k, DEFAULTS, null, NOW))]++;
    }
    for (int c : counts) {
      assertThat(c).as("each of 4 replicas wins about a quarter of the keys").isBetween(9_400, 10_600);
    }
    ModelGroup weighted = new ModelGroup("g", List.of(new Deployment(config("a", 3.0)),
        new Deployment(config("b", 1.0))));
    int toA = 0;
    for (long k : keys(40_000)) {
      toA += weighted.chooseAffine(k, DEFAULTS, null, NOW).id().equals("a") ? 1 : 0;
    }
    assertThat(toA).as("weight 3 : 1 → three quarters").isBetween(29_200, 30_800);
  }

  @Test
  void addingOrRemovingAReplicaMovesOnlyItsShareOfKeys() {
    long[] keys = keys(50_000);
    for (int n : new int[] {4, 8}) {
      ModelGroup before = group(n);
      ModelGroup after = group(n + 1);
      int moved = 0;
      for (long k : keys) {
        String was = before.chooseAffine(k, DEFAULTS, null, NOW).id();
        String now = after.chooseAffine(k, DEFAULTS, null, NOW).id();
        if (!was.equals(now)) {
          assertThat(now).as("a key only ever moves to the new replica").isEqualTo("replica-" + n);
          moved++;
        }
      }
      double fraction = moved / (double) keys.length;
      assertThat(fraction).as("adding the %s-th replica moves ≈ 1/%s of the keys", n + 1, n + 1)
          .isBetween(0.9 / (n + 1), 1.1 / (n + 1));
      // Removing replica-0 from the n + 1: only its own keys move, each to its second choice.
      List<Deployment> rest = new ArrayList<>(after.deployments());
      Deployment gone = rest.remove(0);
      ModelGroup removed = new ModelGroup("g", rest);
      int movedOff = 0;
      for (long k : keys) {
        Deployment was = after.chooseAffine(k, DEFAULTS, null, NOW);
        Deployment now = removed.chooseAffine(k, DEFAULTS, null, NOW);
        if (was != gone) {
          assertThat(now).as("keys of the replicas that stay do not move").isSameAs(was);
        } else {
          movedOff++;
          assertThat(now).as("a removed replica's key goes to its next rendezvous choice")
              .isSameAs(after.chooseAffine(k, DEFAULTS, List.of(gone), NOW));
        }
      }
      assertThat(movedOff / (double) keys.length).isBetween(0.9 / (n + 1), 1.1 / (n + 1));
    }
  }

  /** The bare bound, without the floor. */
  private static final AffinitySettings BOUND = new AffinitySettings(0.25, null, null, null, false, false, 0);

  @Test
  void aReplicaAboveTheLoadBoundIsSkippedForTheNextInTheKeysOrder() {
    ModelGroup g = group(4);
    long key = 42;
    Deployment first = g.chooseAffine(key, BOUND, null, NOW);
    Deployment second = g.chooseAffine(key, BOUND, List.of(first), NOW);
    Deployment third = g.chooseAffine(key, BOUND, List.of(first, second), NOW);
    // 5 in flight on first, none elsewhere: mean with the new one (6/4) × 1.25 → cap 2; first is over.
    for (int i = 0; i < 5; i++) {
      first.load().started();
    }
    assertThat(g.chooseAffine(key, BOUND, null, NOW)).isSameAs(second);
    assertThat(g.chooseAffine(key, new AffinitySettings(0.25, null, null, null, false, false, 6), null, NOW))
        .as("5 in flight is below a load_floor of 6: not skipped").isSameAs(first);
    // second at 2: with the new one 3 > cap ceil(1.25 × 8 / 4) = 3? not over; at 3 it is.
    for (int i = 0; i < 3; i++) {
      second.load().started();
    }
    assertThat(g.chooseAffine(key, BOUND, null, NOW)).as("cap ceil(1.25 × 9 / 4) = 3: second's 4th is over")
        .isSameAs(third);
    AffinitySettings loose = new AffinitySettings(10, null, null, null, false, false, 0);
    assertThat(g.chooseAffine(key, loose, null, NOW)).as("ε = 10 tolerates the queue").isSameAs(first);
    for (int i = 0; i < 5; i++) {
      first.load().ended();
    }
    for (int i = 0; i < 3; i++) {
      second.load().ended();
    }
    assertThat(g.chooseAffine(key, BOUND, null, NOW)).as("back to the key's own replica").isSameAs(first);
  }

  @Test
  void vllmQueueAndKvThresholdsSkipAReplicaAndEveryReplicaOverTakesTheLeastLoaded() {
    ModelGroup g = group(3);
    long key = 7;
    Deployment first = g.chooseAffine(key, DEFAULTS, null, NOW);
    Deployment second = g.chooseAffine(key, DEFAULTS, List.of(first), NOW);
    AffinitySettings limits = new AffinitySettings(0.25, 4.0, 0.9, null, false, false);
    first.load().scraped(5, 10, 0.5);
    assertThat(g.chooseAffine(key, limits, null, NOW)).as("5 waiting > max_waiting 4").isSameAs(second);
    first.load().scraped(0, 10, 0.95);
    assertThat(g.chooseAffine(key, limits, null, NOW)).as("KV cache 95 % > 90 %").isSameAs(second);
    first.load().scraped(0, 10, 0.5);
    assertThat(g.chooseAffine(key, limits, null, NOW)).isSameAs(first);
    for (Deployment d : g.deployments()) {
      d.load().scraped(9, 10, 0.99);
    }
    second.load().started();
    second.load().started();
    first.load().started();
    Deployment idle = g.deployments().stream().filter(d -> d != first && d != second).findFirst().orElseThrow();
    assertThat(g.chooseAffine(key, limits, null, NOW)).as("all over: the least in flight").isSameAs(idle);
  }

  @Test
  void vllmLoadTieBreakOrdersEqualLoadsByTheKey() {
    ModelGroup g = group(4);
    AffinitySettings tie = new AffinitySettings(0.25, null, null, null, false, true);
    for (long k : keys(200)) {
      Deployment affine = g.chooseAffine(k, DEFAULTS, null, NOW);
      assertThat(g.choose(Strategy.VLLM_LOAD, tie, true, k, null, NOW)).as("idle: the key's replica")
          .isSameAs(affine);
    }
    Deployment busy = g.chooseAffine(1, DEFAULTS, null, NOW);
    busy.load().started();
    assertThat(g.choose(Strategy.VLLM_LOAD, tie, true, 1, null, NOW)).as("load first, then the key")
        .isNotSameAs(busy);
    assertThat(g.choose(Strategy.PREFIX_AFFINITY, DEFAULTS, false, 0, null, NOW))
        .as("no key: least-busy among two").isNotNull();
  }
}
