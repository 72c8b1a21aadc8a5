package io.sluice.bench.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.sluice.json.RequestScanner;
import java.nio.charset.StandardCharsets;
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
 * The body inspection cost per request: scanning a chat request for top-level {@code model}/{@code stream} with
 * {@link RequestScanner}, fed from a pooled direct buffer as the codec would hand it over. {@code scan} makes a
 * scanner per request; {@code scanReused} resets one, as {@code BodyInspector} does per channel.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RequestScannerBenchmark {
  /** Prompt size in bytes: a short chat turn, and a long-context request. */
  @Param({"200", "16384"})
  public int promptBytes;

  private ByteBuf body;
  private final RequestScanner reused = new RequestScanner();

  @Setup(Level.Trial)
  public void setup() {
    String prompt = "lorem ipsum dolor sit amet ".repeat(Math.max(1, promptBytes / 27));
    String json = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are helpful.\"},{\"role\":\"user\","
        + "\"content\":\"" + prompt + "\"}],\"model\":\"llama-3-8b\",\"stream\":true,\"max_tokens\":256,"
        + "\"temperature\":0.7}";
    byte[] b = json.getBytes(StandardCharsets.UTF_8);
    body = PooledByteBufAllocator.DEFAULT.directBuffer(b.length).writeBytes(b);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    body.release();
  }

  @Benchmark
  public String scan() {
    RequestScanner s = new RequestScanner();
    s.feed(body);
    s.end();
    s.close();
    return s.model();
  }

  @Benchmark
  public String scanReused() {
    RequestScanner s = reused;
    s.reset();
    s.feed(body);
    s.end();
    return s.model();
  }
}
