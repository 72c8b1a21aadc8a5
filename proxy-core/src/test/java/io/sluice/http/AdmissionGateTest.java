package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.concurrent.ImmediateEventExecutor;
import io.sluice.config.AdmissionSettings;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.routing.Deployment;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The gate's saturation rule and slot accounting, with the queue's clock in the test's hand. */
class AdmissionGateTest {
  long now = 0;

  static DeploymentConfig dep(String id, Integer parallel) {
    return new DeploymentConfig("g", Provider.OPENAI, "m", URI.create("http://" + id + "/v1"), null, null, null,
        null, null, id, null, null, null, Map.of(), parallel);
  }

  final RegistryHolder registry = new RegistryHolder(List.of(dep("a", 1), dep("b", 2)), RouterSettings.defaults());
  final AdmissionGate gate = new AdmissionGate(new AdmissionSettings(true, Duration.ofSeconds(1), null, null, 100,
      Map.of(), Map.of()), registry, () -> now);
  final List<String> admitted = new ArrayList<>();
  final List<String> expired = new ArrayList<>();

  final Map<String, AdmissionGate.Ticket> tickets = new java.util.HashMap<>();

  AdmissionGate.Ticket ticketOf(String name) {
    return tickets.get(name);
  }

  AdmissionGate.Ticket ticket(String name, String tenant) {
    AdmissionGate.Ticket t = new AdmissionGate.Ticket(ImmediateEventExecutor.INSTANCE, "g", tenant);
    t.admit = () -> admitted.add(name);
    t.expired = () -> expired.add(name);
    tickets.put(name, t);
    return t;
  }

  ModelGroup group() {
    return registry.get().group("g");
  }

  Deployment d(int i) {
    return group().deployments().get(i);
  }

  @Test
  void passesUntilEveryReplicaIsAtItsMaxParallelThenQueuesAndLetsGoOnePerFreedSlot() {
    assertThat(gate.watches(group())).isTrue();
    assertThat(gate.offer(group(), ticket("x", "t"), 10, 1)).isEqualTo(AdmissionGate.Verdict.PASS);
    assertThat(gate.offer(group(), ticket("x", "t"), 10, 1)).isEqualTo(AdmissionGate.Verdict.PASS);
    assertThat(gate.offer(group(), ticket("x", "t"), 10, 1)).isEqualTo(AdmissionGate.Verdict.PASS);
    assertThat(gate.offer(group(), ticket("early", "t"), 10, 1))
        .as("three passed and not yet in flight hold the three slots: no overshoot while they connect")
        .isEqualTo(AdmissionGate.Verdict.QUEUED);
    d(0).load().started();
    d(1).load().started();
    d(1).load().started();
    gate.release("g");
    gate.release("g");
    gate.release("g");
    gate.freed("g");
    assertThat(admitted).as("in flight now; still no free slot").isEmpty();
    assertThat(gate.remove(ticketOf("early"), AdmissionGate.Shed.GONE)).isTrue();
    AdmissionGate.Ticket one = ticket("one", "t");
    AdmissionGate.Ticket two = ticket("two", "t");
    assertThat(gate.offer(group(), one, 10, 1)).isEqualTo(AdmissionGate.Verdict.QUEUED);
    assertThat(gate.offer(group(), two, 10, 1)).isEqualTo(AdmissionGate.Verdict.QUEUED);
    gate.freed("g");
    assertThat(admitted).as("nothing freed yet").isEmpty();
    d(1).load().ended();
    gate.freed("g");
    assertThat(admitted).as("one slot: one waiter").containsExactly("one");
    gate.freed("g");
    assertThat(admitted).as("the waiter let go holds the slot until it is in flight").containsExactly("one");
    d(1).load().started();
    gate.release("g");
    gate.freed("g");
    assertThat(admitted).containsExactly("one");
    d(0).load().ended();
    gate.freed("g");
    assertThat(admitted).containsExactly("one", "two");
    gate.release("g");
    assertThat(gate.queued()).isZero();
  }

  @Test
  void aNewRequestDoesNotOvertakeWaitersAndTheByteCapRefusesAtOnce() {
    d(0).load().started();
    d(1).load().started();
    d(1).load().started();
    assertThat(gate.offer(group(), ticket("w", "t"), 60, 1)).isEqualTo(AdmissionGate.Verdict.QUEUED);
    assertThat(gate.offer(group(), ticket("big", "t"), 41, 1)).as("100-byte cap").isEqualTo(
        AdmissionGate.Verdict.FULL);
    d(0).load().ended();
    // A slot is free, but a waiter is there first: the newcomer queues behind it.
    assertThat(gate.offer(group(), ticket("late", "u"), 10, 1)).isEqualTo(AdmissionGate.Verdict.QUEUED);
  }

  @Test
  void deadlinesAndLeaversFreeTheirPlace() {
    d(0).load().started();
    d(1).load().started();
    d(1).load().started();
    AdmissionGate.Ticket old = ticket("old", "t");
    gate.offer(group(), old, 10, 1);
    now += 500_000_000L;
    AdmissionGate.Ticket leaver = ticket("leaver", "u");
    gate.offer(group(), leaver, 10, 1);
    assertThat(gate.remove(leaver, AdmissionGate.Shed.GONE)).isTrue();
    assertThat(gate.tenants("g")).containsExactly("t");
    now += 600_000_000L;
    gate.drain("g");
    assertThat(expired).as("past its 1 s deadline").containsExactly("old");
    assertThat(gate.remove(old, AdmissionGate.Shed.TIMEOUT)).isFalse();
    assertThat(gate.queued()).isZero();
  }

  @Test
  void vllmThresholdsSaturateAReplicaWithoutAParallelLimit() {
    RegistryHolder r = new RegistryHolder(List.of(dep("a", null)), RouterSettings.defaults());
    AdmissionGate g = new AdmissionGate(new AdmissionSettings(true, Duration.ofSeconds(1), 4.0, 0.9, 100, Map.of(),
        Map.of()), r, () -> now);
    ModelGroup mg = r.get().group("g");
    assertThat(g.saturated(mg, 0)).as("not scraped yet").isFalse();
    mg.deployments().get(0).load().scraped(5, 10, 0.5);
    assertThat(g.saturated(mg, 0)).as("5 waiting > max_waiting 4").isTrue();
    mg.deployments().get(0).load().scraped(0, 10, 0.95);
    assertThat(g.saturated(mg, 0)).as("KV 95 % > 90 %").isTrue();
    mg.deployments().get(0).load().scraped(0, 10, 0.5);
    assertThat(g.saturated(mg, 0)).isFalse();
    RegistryHolder none = new RegistryHolder(List.of(dep("a", null)), RouterSettings.defaults());
    AdmissionGate off = new AdmissionGate(AdmissionSettings.defaults(), none, () -> now);
    assertThat(off.watches(none.get().group("g"))).as("no limit, no threshold: the gate never looks").isFalse();
  }

  @Test
  void aBurstBetweenScrapesCountsAgainstMaxWaiting() {
    RegistryHolder r = new RegistryHolder(List.of(dep("a", null)), RouterSettings.defaults());
    AdmissionGate g = new AdmissionGate(new AdmissionSettings(true, Duration.ofSeconds(1), 0.0, null, 100, Map.of(),
        Map.of()), r, () -> now);
    ModelGroup mg = r.get().group("g");
    var load = mg.deployments().get(0).load();
    for (int i = 0; i < 5; i++) {
      load.started();
    }
    load.scraped(1, 4, 0.5); // vLLM: a batch of 4, one waiting
    assertThat(g.saturated(mg, 0)).isTrue();
    load.ended();
    assertThat(g.saturated(mg, 0)).as("the one waiting moved into the freed slot: none waits now").isTrue();
    load.ended();
    assertThat(g.saturated(mg, 0)).as("a batch slot is free").isFalse();
    assertThat(g.saturated(mg, 1)).as("taken by the one let go and not yet in flight").isTrue();
    load.started();
    assertThat(g.saturated(mg, 0)).as("the one let go is in flight now: full again")
        .isTrue();
  }
}
