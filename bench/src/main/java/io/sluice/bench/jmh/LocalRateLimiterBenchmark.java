package io.sluice.bench.jmh;

import io.sluice.limits.Admission;
import io.sluice.limits.LimitScope;
import io.sluice.limits.LocalRateLimiter;
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

/**
 * The per-node limiter's cost per request: one acquire (through the port, so with its completed future) and its
 * release, for a key with rpm, tpm and a parallel limit (and, with 3 scopes, its user and team as well). Limits
 * are high enough that every request is admitted, the common case.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class LocalRateLimiterBenchmark {
  @Param({"1", "3"})
  public int scopes;

  private LocalRateLimiter limiter;
  private List<LimitScope> list;
  private long now;

  @Setup
  public void setup() {
    limiter = new LocalRateLimiter();
    List<LimitScope> l = new ArrayList<>();
    String hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    l.add(new LimitScope(LimitScope.Kind.KEY, hash, Long.MAX_VALUE, Long.MAX_VALUE, Integer.MAX_VALUE, null, 0, "-",
        0));
    if (scopes > 1) {
      l.add(new LimitScope(LimitScope.Kind.USER, "user-1", Long.MAX_VALUE, null, null, 1e9, 0, "1767225600",
          1767225600));
      l.add(new LimitScope(LimitScope.Kind.TEAM, "team-1", null, Long.MAX_VALUE, 1_000_000, null, 0, "-", 0));
    }
    list = List.copyOf(l);
    now = System.currentTimeMillis();
  }

  @Benchmark
  public Admission acquireRelease() {
    Admission a = limiter.acquire(list, now).toCompletableFuture().getNow(null);
    limiter.release(list, 100, 0.001, now);
    return a;
  }
}
