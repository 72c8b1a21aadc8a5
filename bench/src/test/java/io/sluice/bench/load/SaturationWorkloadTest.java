package io.sluice.bench.load;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The figures the saturation table is computed with (issue 20 §6): max-min shares, Jain's index, offered rates. */
class SaturationWorkloadTest {
  @Test
  void aTenantAskingLessThanAnEqualSplitGetsAllItAsksAndTheRestGoesToTheOthers() {
    double[] s = SaturationWorkload.maxMinShares(30, new double[] {40, 4});
    assertThat(s[0]).isCloseTo(26, within(1e-9));
    assertThat(s[1]).isCloseTo(4, within(1e-9));
    // Progressive filling over several rounds: 2 fits the first split (10), then 9 fits the next (14).
    s = SaturationWorkload.maxMinShares(30, new double[] {2, 9, 100});
    assertThat(s).containsExactly(new double[] {2, 9, 19}, within(1e-9));
    // Everyone over an equal split: equal shares.
    assertThat(SaturationWorkload.maxMinShares(30, new double[] {40, 50, 60}))
        .containsExactly(new double[] {10, 10, 10}, within(1e-9));
    // Demand under capacity: everyone gets what it asks.
    assertThat(SaturationWorkload.maxMinShares(30, new double[] {5, 6})).containsExactly(new double[] {5, 6},
        within(1e-9));
  }

  @Test
  void jainsIndexIsOneWhenEqualAndOneOverNWhenOneTakesEverything() {
    assertThat(SaturationWorkload.jain(new double[] {1, 1, 1})).isCloseTo(1, within(1e-12));
    assertThat(SaturationWorkload.jain(new double[] {1, 0, 0, 0})).isCloseTo(0.25, within(1e-12));
    // FIFO under 150 % load, 10 : 1: the light tenant served 2/3 of its share, the heavy one 1.052 of its.
    assertThat(SaturationWorkload.jain(new double[] {1.052, 0.667})).isCloseTo(0.953, within(0.001));
  }

  @Test
  void theOfferedRatesAreLoadTimesCapacityInTheGivenRatio() {
    SaturationWorkload w = new SaturationWorkload();
    // 2 × 4 seqs; 64 tokens × 200 µs + 20 tokens at 100/s = 0.2128 s a request.
    assertThat(w.serviceSeconds()).isCloseTo(0.2128, within(1e-9));
    assertThat(w.capacityPerSec()).isCloseTo(8 / 0.2128, within(1e-9));
    double[] o = w.offered();
    assertThat(o[0] + o[1]).isCloseTo(1.5 * w.capacityPerSec(), within(1e-9));
    assertThat(o[0] / o[1]).isCloseTo(10, within(1e-9));
  }

  @Test
  void everyRequestsPromptSharesNoWordWithAnother() {
    SaturationWorkload w = new SaturationWorkload();
    String a = w.body(1);
    String b = w.body(12);
    assertThat(a).contains("\"stream\":true").contains("r1w0 r1w1").doesNotContain("r12w");
    assertThat(b).contains("r12w63\"");
    // 64 words, so 4 full blocks of 16 per prompt
    assertThat(a.split(" ")).hasSize(64);
  }
}
