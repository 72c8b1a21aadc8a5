package io.sluice.bench.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.util.ReferenceCountUtil;
import io.sluice.http.wire.WireResponseDecoder;
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
 * The cost of decoding one replica response on the upstream side, Netty's {@code HttpResponseDecoder} (as
 * {@code HttpClientCodec} had it, same limits) against Sluice's {@link WireResponseDecoder}, each in an
 * {@link EmbeddedChannel}: a vLLM-shaped non-streaming chat completion (Content-Length JSON, uvicorn's headers) and a
 * streamed one (chunked SSE, one event per chunk, 20 content events, the usage event and {@code [DONE]}), handed over
 * in one pooled direct buffer; every message read is released. Run with {@code -prof gc} for B/op.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class ResponseDecoderBenchmark {
  @Param({"netty", "wire"})
  public String decoder;

  @Param({"json", "sse"})
  public String shape;

  private EmbeddedChannel channel;
  private ByteBuf response;

  @Setup(Level.Trial)
  public void setup() {
    ChannelHandler h = decoder.equals("netty")
        ? new HttpResponseDecoder(new HttpDecoderConfig().setMaxInitialLineLength(8192).setMaxHeaderSize(65536)
            .setMaxChunkSize(65536))
        : new WireResponseDecoder(8192, 65536, 65536);
    channel = new EmbeddedChannel(h);
    byte[] b = (shape.equals("json") ? json() : sse()).getBytes(StandardCharsets.UTF_8);
    response = PooledByteBufAllocator.DEFAULT.directBuffer(b.length).writeBytes(b);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    channel.finishAndReleaseAll();
    response.release();
  }

  @Benchmark
  public int decode() {
    channel.writeInbound(response.retainedDuplicate());
    int n = 0;
    Object m;
    while ((m = channel.readInbound()) != null) {
      n++;
      ReferenceCountUtil.release(m);
    }
    return n;
  }

  static String json() {
    String body = "{\"id\":\"chatcmpl-8f3a2c1e9b7d4a60\",\"object\":\"chat.completion\",\"created\":1718000000,"
        + "\"model\":\"llama-3-8b\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
        + "The quick brown fox jumps over the lazy dog. ".repeat(6) + "\",\"tool_calls\":[]},\"logprobs\":null,"
        + "\"finish_reason\":\"stop\",\"stop_reason\":null}],\"usage\":{\"prompt_tokens\":24,\"total_tokens\":84,"
        + "\"completion_tokens\":60,\"prompt_tokens_details\":null},\"prompt_logprobs\":null}";
    return "HTTP/1.1 200 OK\r\ndate: Wed, 02 Dec 2026 15:00:00 GMT\r\nserver: uvicorn\r\ncontent-length: "
        + body.length() + "\r\ncontent-type: application/json\r\n\r\n" + body;
  }

  static String sse() {
    StringBuilder sb = new StringBuilder("HTTP/1.1 200 OK\r\ndate: Wed, 02 Dec 2026 15:00:00 GMT\r\n"
        + "server: uvicorn\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n");
    for (int i = 0; i < 22; i++) {
      String e;
      if (i < 20) {
        e = "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"m\","
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" tok" + i + "\"},\"logprobs\":null,"
            + "\"finish_reason\":null}]}\n\n";
      } else if (i == 20) {
        e = "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"m\","
            + "\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":32,\"completion_tokens\":20}}\n\n";
      } else {
        e = "data: [DONE]\n\n";
      }
      sb.append(Integer.toHexString(e.length())).append("\r\n").append(e).append("\r\n");
    }
    return sb.append("0\r\n\r\n").toString();
  }
}
