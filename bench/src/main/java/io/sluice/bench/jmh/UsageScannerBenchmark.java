package io.sluice.bench.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.sluice.json.UsageScanner;
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
 * The usage tap's cost per relayed stream: {@link UsageScanner} over a 200-event SSE response (vLLM's chat chunks
 * with the usage chunk, or vLLM's Anthropic events), one pooled direct buffer per event as the codec hands them over.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class UsageScannerBenchmark {
  @Param({"openai", "anthropic"})
  public String wire;

  private ByteBuf[] events;

  @Setup(Level.Trial)
  public void setup() {
    events = new ByteBuf[202];
    for (int i = 0; i < events.length; i++) {
      String e;
      boolean anthropic = wire.equals("anthropic");
      if (i == 0) {
        e = anthropic ? "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"chatcmpl-x\","
            + "\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":"
            + "12,\"output_tokens\":0}}}\n\n"
            : "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
            + "\"finish_reason\":null}]}\n\n";
      } else if (i == events.length - 1) {
        e = anthropic ? "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
            + "\"end_turn\"},\"usage\":{\"input_tokens\":12,\"output_tokens\":200}}\n\n"
            : "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
            + "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":212,\"completion_tokens\":200}}\n\n";
      } else {
        e = anthropic ? "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":"
            + "\"text_delta\",\"text\":\"tok" + i + " \"},\"index\":0}\n\n"
            : "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok" + i + " \"},\"logprobs\":null,"
            + "\"finish_reason\":null}]}\n\n";
      }
      byte[] b = e.getBytes(StandardCharsets.UTF_8);
      events[i] = PooledByteBufAllocator.DEFAULT.directBuffer(b.length).writeBytes(b);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (ByteBuf b : events) {
      b.release();
    }
  }

  @Benchmark
  public long scanStream() {
    UsageScanner u = new UsageScanner();
    for (ByteBuf b : events) {
      u.scan(b);
    }
    return u.completionTokens();
  }
}
