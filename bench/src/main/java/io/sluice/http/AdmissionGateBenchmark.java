package io.sluice.http;

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
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What fair admission (issue 20 §2) adds to a request: the gate's calls the relay makes, without the relay. In this
 * package because the gate's methods are the relay's (package-private), not a public API.
 *
 * <ul>
 *   <li>{@link #pass}: a watched group with room — {@code tryPass}, then {@code release} once in flight, then
 *       {@code freed} when the request ends (what every request of a watched group pays while nothing waits);
 *   <li>{@link #queueAndLeave}: a saturated group — the ticket, {@code offer} (queued under the lock) and
 *       {@code remove} (the client left): the cost of the queue itself, per queued request.
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class AdmissionGateBenchmark {
  @Param({"4", "16"})
  public int replicas;

  /** {@code parallel}: replicas with max_parallel_requests; {@code scraped}: max_waiting on scraped /metrics. */
  @Param({"parallel", "scraped"})
  public String limit;

  private AdmissionGate gate;
  private ModelGroup open;
  private AdmissionGate full;
  private ModelGroup saturated;
  private static final String TENANT = "team-a";

  @Setup
  public void setup() {
    boolean parallel = limit.equals("parallel");
    AdmissionSettings s = new AdmissionSettings(true, Duration.ofSeconds(30), parallel ? null : 0.0, null,
        64L << 20, Map.of(), Map.of());
    RegistryHolder r = registry(parallel ? 8 : null);
    gate = new AdmissionGate(s, r);
    open = r.get().group("g");
    for (Deployment d : open.deployments()) {
      for (int i = 0; i < 3; i++) {
        d.load().started();
      }
      d.load().scraped(1, 4, 0.5); // a batch of 4 seen full, then 2 of this node's finished: room for 2 each
      d.load().ended();
      d.load().ended();
    }
    RegistryHolder rf = registry(1);
    full = new AdmissionGate(new AdmissionSettings(true, Duration.ofSeconds(30), null, null, 64L << 20, Map.of(),
        Map.of()), rf);
    saturated = rf.get().group("g");
    for (Deployment d : saturated.deployments()) {
      d.load().started();
    }
  }

  private RegistryHolder registry(Integer parallel) {
    List<DeploymentConfig> ds = new ArrayList<>();
    for (int i = 0; i < replicas; i++) {
      ds.add(new DeploymentConfig("g", Provider.HOSTED_VLLM, "m", URI.create("http://10.0.0." + i + ":8000/v1"), null,
          null, null, null, null, "r" + i, null, null, null, Map.of(), parallel));
    }
    return new RegistryHolder(ds, RouterSettings.defaults());
  }

  @Benchmark
  public boolean pass() {
    boolean passed = gate.watches(open) && gate.tryPass(open);
    gate.release("g");
    gate.freed("g");
    return passed;
  }

  @Benchmark
  public boolean queueAndLeave() {
    AdmissionGate.Ticket t = new AdmissionGate.Ticket(ImmediateEventExecutor.INSTANCE, "g", TENANT);
    if (full.tryPass(saturated) || full.offer(saturated, t, 700, 1) != AdmissionGate.Verdict.QUEUED) {
      throw new IllegalStateException("the group should be saturated");
    }
    return full.remove(t, AdmissionGate.Shed.GONE);
  }
}
