package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamFrame;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.trace.v1.Span;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * OTLP over gRPC (issue 19: "HTTP/protobuf and gRPC"): with {@code OTEL_EXPORTER_OTLP_PROTOCOL=grpc} Sluice's spans
 * reach a gRPC collector — here a minimal one in the test, Netty's HTTP/2 over cleartext with prior knowledge, as
 * an OTLP/gRPC endpoint on {@code http://} is reached — as {@code TraceService/Export} calls whose messages decode
 * as {@code ExportTraceServiceRequest}s holding the request's server span.
 */
class OtelGrpcExportTest {
  static final String MASTER = "sk-master-OG-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final String EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

  static MultiThreadIoEventLoopGroup group;
  static Channel collector;
  static final List<String> paths = new CopyOnWriteArrayList<>();
  static final List<ExportTraceServiceRequest> exports = new CopyOnWriteArrayList<>();
  static FakeVllm fake;
  static SluiceServer sluice;

  @BeforeAll
  static void start() throws Exception {
    group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    collector = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(Http2FrameCodecBuilder.forServer().build(),
                new Http2MultiplexHandler(new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel stream) {
                    stream.pipeline().addLast(new GrpcExport());
                  }
                }));
          }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    int port = ((InetSocketAddress) collector.localAddress()).getPort();
    System.setProperty("otel.exporter.otlp.protocol", "grpc");
    System.setProperty("otel.exporter.otlp.endpoint", "http://127.0.0.1:" + port);
    System.setProperty("otel.bsp.schedule.delay", "50");
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(3)
        .ttft(Duration.ZERO).interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), null, null, null, null, null, "fake-g", null,
        null, null));
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        new LitellmSettings(LitellmSettings.DEFAULT_REQUEST_TIMEOUT, true, true), ServerSettings.defaults());
    sluice = SluiceServer.start(cfg, SluiceServer.Options.of("127.0.0.1", 0, Secret.of(MASTER)));
  }

  @AfterAll
  static void stop() {
    System.clearProperty("otel.exporter.otlp.protocol");
    System.clearProperty("otel.exporter.otlp.endpoint");
    System.clearProperty("otel.bsp.schedule.delay");
    if (sluice != null) {
      sluice.close();
    }
    if (fake != null) {
      fake.close();
    }
    if (collector != null) {
      collector.close();
    }
    if (group != null) {
      group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
    }
  }

  /** One gRPC call: the request's length-prefixed message gathered, decoded, answered OK (an empty response). */
  static final class GrpcExport extends SimpleChannelInboundHandler<Http2StreamFrame> {
    private final ByteBuf message = Unpooled.buffer();

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, Http2StreamFrame frame) throws Exception {
      if (frame instanceof Http2HeadersFrame h) {
        paths.add(String.valueOf(h.headers().path()));
        assertThat(String.valueOf(h.headers().get("content-type"))).startsWith("application/grpc");
      } else if (frame instanceof Http2DataFrame d) {
        message.writeBytes(d.content());
        if (d.isEndStream()) {
          int compressed = message.readUnsignedByte();
          int length = (int) message.readUnsignedInt();
          assertThat(compressed).as("uncompressed message").isZero();
          exports.add(ExportTraceServiceRequest.parseFrom(new ByteBufInputStream(message.readSlice(length))));
          ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
              .set("content-type", "application/grpc")));
          ctx.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[5]))); // an empty response message
          ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("grpc-status", "0"), true));
        }
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      message.release();
    }
  }

  @Test
  void spansReachAGrpcCollectorAsTraceServiceExportCalls() throws Exception {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + sluice.port() + "/v1/chat/completions"))
        .header("Authorization", "Bearer " + MASTER).header("Content-Type", "application/json")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .POST(HttpRequest.BodyPublishers.ofString(
            "{\"model\":\"llama\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).contains("data: [DONE]");
    Span server = null;
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (server == null && System.nanoTime() < deadline) {
      for (ExportTraceServiceRequest e : exports) {
        for (var rs : e.getResourceSpansList()) {
          for (var ss : rs.getScopeSpansList()) {
            for (Span s : ss.getSpansList()) {
              if (s.getKind() == Span.SpanKind.SPAN_KIND_SERVER) {
                server = s;
              }
            }
          }
        }
      }
      if (server == null) {
        Thread.sleep(50);
      }
    }
    assertThat(server).as("the server span, exported over gRPC").isNotNull();
    assertThat(paths).isNotEmpty().allMatch(EXPORT_PATH::equals);
    assertThat(io.netty.buffer.ByteBufUtil.hexDump(server.getTraceId().toByteArray()))
        .isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
    assertThat(io.netty.buffer.ByteBufUtil.hexDump(server.getParentSpanId().toByteArray()))
        .isEqualTo("00f067aa0ba902b7");
  }
}
