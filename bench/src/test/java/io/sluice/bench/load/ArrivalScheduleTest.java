package io.sluice.bench.load;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/**
 * The open-loop schedule on a hand-moved clock: which requests are due when, how the shares of several event loops
 * interleave, and that latency counts from the due time however late the request could be sent.
 */
class ArrivalScheduleTest {
  /** A clock the test moves by hand (nanoseconds). */
  static final class FakeClock {
    long now;
  }

  static final long START = 1_000_000_000L; // any origin: nanoTime may be negative or large

  @Test
  void evenlySpacedRequestsAreDueAtStartPlusKOverRate() {
    FakeClock clock = new FakeClock();
    ArrivalSchedule s = new ArrivalSchedule(() -> clock.now, START, 1000, 0, 1); // one every 1 ms
    assertThat(s.due(0)).isEqualTo(START);
    assertThat(s.due(1)).isEqualTo(START + 1_000_000);
    assertThat(s.due(2500)).isEqualTo(START + 2_500_000_000L);
    assertThat(s.dueBy(START - 1)).as("nothing before the start").isZero();
    assertThat(s.dueBy(START)).as("request 0 is due at the start itself").isEqualTo(1);
    assertThat(s.dueBy(START + 999_999)).isEqualTo(1);
    assertThat(s.dueBy(START + 1_000_000)).isEqualTo(2);
    assertThat(s.dueBy(START + 10_000_000)).isEqualTo(11);
  }

  @Test
  void dueByAgreesWithDueAtEveryBoundaryForAnOddRate() {
    // 3 per second does not divide a second into whole nanoseconds: the period is kept in whole picoseconds
    // (333 333 333 333 ps; drift 1 ns per 3 s) and due(k) = start + floor(k · period / 1000).
    ArrivalSchedule s = new ArrivalSchedule(() -> 0, START, 3, 0, 1);
    assertThat(s.due(1)).isEqualTo(START + 333_333_333L);
    assertThat(s.due(3)).isEqualTo(START + 999_999_999L);
    for (long k = 0; k < 10_000; k++) {
      assertThat(s.dueBy(s.due(k))).as("at due(%d)", k).isEqualTo(k + 1);
      assertThat(s.dueBy(s.due(k) - 1)).as("just before due(%d)", k).isEqualTo(k);
    }
  }

  @Test
  void takingInOrderDrainsWhatIsDueAndLeavesTheBacklog() {
    FakeClock clock = new FakeClock();
    ArrivalSchedule s = new ArrivalSchedule(() -> clock.now, START, 10_000, 0, 1); // one every 100 µs
    clock.now = START + 450_000; // 0, 100, 200, 300, 400 µs are due
    assertThat(s.backlog(s.now())).isEqualTo(5);
    int sent = 0;
    while (sent < 2 && s.hasDue(s.now())) { // only two idle connections
      s.take();
      sent++;
    }
    assertThat(s.taken()).isEqualTo(2);
    assertThat(s.backlog(s.now())).as("three wait for a connection").isEqualTo(3);
    assertThat(s.nextDue()).as("the oldest waiting one goes next").isEqualTo(START + 200_000);
    while (s.hasDue(s.now())) {
      s.take();
    }
    assertThat(s.taken()).isEqualTo(5);
    assertThat(s.hasDue(s.now())).isFalse();
    assertThat(s.nextDue()).isEqualTo(START + 500_000);
    clock.now = START + 500_000;
    assertThat(s.hasDue(s.now())).isTrue();
  }

  @Test
  void latencyCountsFromTheDueTimeNotTheSendTime() {
    FakeClock clock = new FakeClock();
    ArrivalSchedule s = new ArrivalSchedule(() -> clock.now, START, 1000, 0, 1);
    clock.now = START + 5_000_000; // 5 ms in: six due, the connection was busy until now
    long due = s.take();
    assertThat(due).isEqualTo(START);
    long sent = clock.now;
    long done = sent + 200_000; // the server answers in 0.2 ms
    assertThat(ArrivalSchedule.sinceDueMicros(due, done, LoadDriver.MAX_US))
        .as("5 ms waiting for a connection + 0.2 ms of service").isEqualTo(5_200);
    assertThat(ArrivalSchedule.late(due, sent)).isTrue();
    assertThat(ArrivalSchedule.late(due, due + 1_000_000)).as("exactly 1 ms is not late").isFalse();
    assertThat(ArrivalSchedule.late(due, due + 1_000_001)).isTrue();
    assertThat(ArrivalSchedule.sinceDueMicros(due, due - 5, 100)).as("clamped at 0").isZero();
    assertThat(ArrivalSchedule.sinceDueMicros(due, due + 1_000_000_000L, 100)).as("clamped at max").isEqualTo(100);
  }

  @Test
  void theSharesOfSeveralEventLoopsInterleaveIntoOneEvenSchedule() {
    int loops = 3;
    ArrivalSchedule[] shares = new ArrivalSchedule[loops];
    for (int i = 0; i < loops; i++) {
      shares[i] = new ArrivalSchedule(() -> 0, START, 1000, i, loops);
    }
    // Global request j belongs to loop j % 3, as its (j / 3)-th: due at START + j ms.
    for (int j = 0; j < 300; j++) {
      assertThat(shares[j % loops].due(j / loops)).isEqualTo(START + j * 1_000_000L);
    }
    long now = START + 9_500_000; // global requests 0..9 are due
    long total = 0;
    for (ArrivalSchedule s : shares) {
      total += s.dueBy(now);
    }
    assertThat(total).isEqualTo(10);
    assertThat(shares[0].dueBy(now)).isEqualTo(4); // 0, 3, 6, 9
    assertThat(shares[1].dueBy(now)).isEqualTo(3); // 1, 4, 7
    assertThat(shares[2].dueBy(now)).isEqualTo(3); // 2, 5, 8
  }

  @Test
  void badArgumentsAreRefused() {
    assertThatThrownBy(() -> new ArrivalSchedule(() -> 0, 0, 0, 0, 1)).hasMessageContaining("rate: 0");
    assertThatThrownBy(() -> new ArrivalSchedule(() -> 0, 0, Double.NaN, 0, 1)).hasMessageContaining("rate");
    assertThatThrownBy(() -> new ArrivalSchedule(() -> 0, 0, 10, 2, 2)).hasMessageContaining("first/stride");
  }
}
