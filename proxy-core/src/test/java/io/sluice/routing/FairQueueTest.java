package io.sluice.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The fair-admission queue discipline (issue 20 §2), on a hand-moved clock: no sleeps, no threads. */
class FairQueueTest {
  long now = 1_000;
  final FairQueue.ByteBudget budget = new FairQueue.ByteBudget(1 << 20);
  final FairQueue<String> q = new FairQueue<>(() -> now, budget);
  static final FairQueue.Tenant HEAVY = new FairQueue.Tenant("heavy", 1);
  static final FairQueue.Tenant LIGHT = new FairQueue.Tenant("light", 1);
  static final long MINUTE = TimeUnit.MINUTES.toNanos(1);

  @Test
  void tenantsAtTenToOneArrivalShareServiceEquallyWhileBothWait() {
    // 10 requests of the heavy tenant for every light one, arriving interleaved; one slot frees per arrival round.
    Map<String, Integer> served = new HashMap<>();
    int light = 0;
    for (int round = 0; round < 100; round++) {
      for (int i = 0; i < 10; i++) {
        q.offer("h" + round + "." + i, HEAVY, 0, MINUTE);
      }
      q.offer("l" + round, LIGHT, 0, MINUTE);
      light++;
      // capacity: 2 per round, while 11 arrive
      for (int k = 0; k < 2; k++) {
        FairQueue.Entry<String> e = q.poll();
        served.merge(e.tenant.id(), 1, Integer::sum);
      }
    }
    assertThat(served.get("light")).as("the light tenant gets every request it sent served").isEqualTo(light);
    assertThat(served.get("heavy")).as("the heavy tenant gets the rest, not ten times the light one's share")
        .isEqualTo(100);
    assertThat(q.size("light")).isZero();
    assertThat(q.size("heavy")).isEqualTo(1000 - 100);
  }

  @Test
  void whileBothHaveBacklogServiceAlternates() {
    for (int i = 0; i < 50; i++) {
      q.offer("h" + i, HEAVY, 0, MINUTE);
    }
    for (int i = 0; i < 5; i++) {
      q.offer("l" + i, LIGHT, 0, MINUTE);
    }
    List<String> order = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      order.add(q.poll().tenant.id());
    }
    long lights = order.stream().filter("light"::equals).count();
    assertThat(lights).as("5 light of the first 10 served, though it queued after 50 heavy ones: %s", order)
        .isEqualTo(5);
    assertThat(q.poll().value).as("each tenant's own FIFO order holds").isEqualTo("h5");
  }

  @Test
  void weightsSplitServiceInTheirRatio() {
    FairQueue.Tenant gold = new FairQueue.Tenant("gold", 3);
    FairQueue.Tenant bronze = new FairQueue.Tenant("bronze", 1);
    for (int i = 0; i < 400; i++) {
      q.offer("g" + i, gold, 0, MINUTE);
      q.offer("b" + i, bronze, 0, MINUTE);
    }
    int g = 0;
    for (int i = 0; i < 400; i++) {
      if (q.poll().tenant == gold) {
        g++;
      }
    }
    assertThat(g).as("weight 3 against 1: three quarters of the service").isEqualTo(300);
  }

  @Test
  void anIdleTenantBanksNoCredit() {
    // light waits alone for a while (served at once), then heavy floods: light returning gets its fair share only.
    for (int i = 0; i < 20; i++) {
      q.offer("h" + i, HEAVY, 0, MINUTE);
    }
    for (int i = 0; i < 20; i++) {
      q.poll();
    }
    for (int i = 0; i < 20; i++) {
      q.offer("l" + i, LIGHT, 0, MINUTE);
      q.offer("H" + i, HEAVY, 0, MINUTE);
    }
    int lightFirst10 = 0;
    for (int i = 0; i < 10; i++) {
      if (q.poll().tenant == LIGHT) {
        lightFirst10++;
      }
    }
    assertThat(lightFirst10).as("heavy's earlier service is not held against it").isEqualTo(5);
  }

  @Test
  void deadlinesExpireOldestFirstAndOnlyOnceDue() {
    FairQueue.Entry<String> a = q.offer("a", HEAVY, 10, 100);
    now += 50;
    FairQueue.Entry<String> b = q.offer("b", LIGHT, 10, 100);
    List<String> expired = new ArrayList<>();
    now += 49;
    assertThat(q.expire(e -> expired.add(e.value))).isZero();
    assertThat(q.nextDeadline()).isEqualTo(a.deadlineNanos);
    now += 1;
    assertThat(q.expire(e -> expired.add(e.value))).isEqualTo(1);
    assertThat(expired).containsExactly("a");
    assertThat(a.queued()).isFalse();
    assertThat(b.queued()).isTrue();
    assertThat(budget.used()).as("an expired waiter's bytes return to the budget").isEqualTo(10);
    now += 50;
    q.expire(e -> expired.add(e.value));
    assertThat(expired).containsExactly("a", "b");
    assertThat(q.size()).isZero();
    assertThat(q.nextDeadline()).isEqualTo(Long.MAX_VALUE);
    assertThat(q.poll()).isNull();
  }

  @Test
  void bytesPastTheSharedCapAreRefusedAtOnce() {
    FairQueue.ByteBudget small = new FairQueue.ByteBudget(100);
    FairQueue<String> one = new FairQueue<>(() -> now, small);
    FairQueue<String> two = new FairQueue<>(() -> now, small);
    assertThat(one.offer("a", HEAVY, 60, MINUTE)).isNotNull();
    assertThat(two.offer("b", LIGHT, 41, MINUTE)).as("the cap is shared by every group's queue").isNull();
    assertThat(two.offer("c", LIGHT, 40, MINUTE)).isNotNull();
    assertThat(small.used()).isEqualTo(100);
    assertThat(one.poll().value).isEqualTo("a");
    assertThat(small.used()).as("served waiters give their bytes back").isEqualTo(40);
    assertThat(two.offer("b", LIGHT, 41, MINUTE)).isNotNull();
  }

  @Test
  void aRemovedWaiterLeavesAtOnceFromAnyPosition() {
    FairQueue.Entry<String> h0 = q.offer("h0", HEAVY, 5, MINUTE);
    FairQueue.Entry<String> h1 = q.offer("h1", HEAVY, 5, MINUTE);
    FairQueue.Entry<String> h2 = q.offer("h2", HEAVY, 5, MINUTE);
    FairQueue.Entry<String> l0 = q.offer("l0", LIGHT, 5, MINUTE);
    assertThat(q.remove(h1)).isTrue();
    assertThat(q.remove(h1)).as("twice is a no-op").isFalse();
    assertThat(q.remove(l0)).isTrue();
    assertThat(q.tenants()).as("a tenant with no waiter left keeps no state").containsExactly("heavy");
    assertThat(budget.used()).isEqualTo(10);
    assertThat(q.remove(h0)).as("the head of its lane").isTrue();
    assertThat(q.poll()).isSameAs(h2);
    assertThat(q.poll()).isNull();
    assertThat(q.remove(h2)).as("already served").isFalse();
    assertThat(budget.used()).isZero();
    now += 2 * MINUTE;
    assertThat(q.expire(e -> { throw new AssertionError("removed waiters never expire"); })).isZero();
  }
}
