package io.sluice.bench.jmh;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.routing.Deployment;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.Strategy;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
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

/** Balancing overhead per request: one replica choice among 4 (or 16), each strategy, nothing cooling. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class BalancingBenchmark {
  @Param({"4", "16"})
  public int replicas;

  @Param({"SIMPLE_SHUFFLE", "LEAST_BUSY", "VLLM_LOAD"})
  public Strategy strategy;

  private ModelGroup group;
  private final List<Deployment> tried = new ArrayList<>(4);

  @Setup
  public void setup() {
    List<DeploymentConfig> ds = new ArrayList<>();
    for (int i = 0; i < replicas; i++) {
      ds.add(new DeploymentConfig("g", Provider.HOSTED_VLLM, "m", URI.create("http://10.0.0." + i + ":8000/v1"), null,
          null, null, (double) (i + 1), null, "r" + i));
    }
    group = DeploymentRegistry.of(ds).group("g");
    for (Deployment d : group.deployments()) {
      d.load().scraped(d.id().length(), 2, 0.3);
    }
  }

  @Benchmark
  public Deployment choose() {
    return group.choose(strategy, tried, System.nanoTime());
  }
}
