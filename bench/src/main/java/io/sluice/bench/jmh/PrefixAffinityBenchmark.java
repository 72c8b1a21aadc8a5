package io.sluice.bench.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.sluice.config.AffinitySettings;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.json.RequestScanner;
import io.sluice.routing.Deployment;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.ModelGroup;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What {@code routing_strategy: prefix-affinity} adds per request (issue 20 §1): the body scan with the prompt
 * prefix hashed ({@code scanHashed}) beside the same scan without it ({@code scanPlain}, what every other strategy
 * pays), and the replica choice by rendezvous with bounded load ({@code chooseAffine}) beside least-busy's
 * ({@code chooseLeastBusy}). A multi-turn chat body: a system prompt, then {@code turns} user/assistant pairs.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class PrefixAffinityBenchmark {
  /** History bytes per turn ≈ 400; 1 turn ≈ 0.5 KiB, 40 turns ≈ 16 KiB (past the 8 KiB hashed at most). */
  @Param({"1", "40"})
  public int turns;

  @Param({"4", "16"})
  public int replicas;

  private ByteBuf body;
  private final RequestScanner plain = new RequestScanner();
  private final RequestScanner hashed = new RequestScanner();
  private ModelGroup group;
  private final AffinitySettings affinity = AffinitySettings.defaults();
  private long key;

  @Setup(Level.Trial)
  public void setup() {
    StringBuilder json = new StringBuilder("{\"model\":\"g\",\"stream\":true,\"messages\":[{\"role\":\"system\","
        + "\"content\":\"You are a helpful assistant. Answer briefly and precisely.\"}");
    for (int t = 0; t < turns; t++) {
      json.append(",{\"role\":\"user\",\"content\":\"").append("question about the gateway, part ".repeat(5))
          .append(t).append("\"},{\"role\":\"assistant\",\"content\":\"")
          .append("the gateway relays bytes as they arrive. ".repeat(5)).append("\"}");
    }
    json.append("],\"max_tokens\":256,\"temperature\":0.7}");
    byte[] b = json.toString().getBytes(StandardCharsets.UTF_8);
    body = PooledByteBufAllocator.DEFAULT.directBuffer(b.length).writeBytes(b);
    hashed.hashPrompt(true);
    List<DeploymentConfig> configs = new ArrayList<>();
    for (int i = 0; i < replicas; i++) {
      configs.add(new DeploymentConfig("g", Provider.HOSTED_VLLM, "m", URI.create("http://10.0.0." + i + ":8000/v1"),
          null, null, null, null, null, "replica-" + i));
    }
    group = DeploymentRegistry.of(configs, new RouterSettings("prefix-affinity", null, 2, 3, Duration.ofSeconds(5),
        Map.of(), null, affinity)).group("g");
    for (Deployment d : group.deployments()) {
      d.load().started(); // one in flight each: the bound is checked, none is over it
    }
    key = scanHashed();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    body.release();
  }

  @Benchmark
  public String scanPlain() {
    plain.reset();
    plain.feed(body);
    plain.end();
    return plain.model();
  }

  @Benchmark
  public long scanHashed() {
    hashed.reset();
    hashed.feed(body);
    hashed.end();
    return hashed.prompt().key();
  }

  @Benchmark
  public Deployment chooseAffine() {
    return group.chooseAffine(key++, affinity, null, 0);
  }

  @Benchmark
  public Deployment chooseLeastBusy() {
    return group.choose(io.sluice.routing.Strategy.LEAST_BUSY, null, 0);
  }
}
