package io.sluice.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.resolver.AddressResolverGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.sluice.auth.Authenticator;
import io.sluice.auth.KeyCache;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyLimits;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.KeyStore;
import io.sluice.auth.LayeredKeyStore;
import io.sluice.auth.Role;
import io.sluice.config.ConfigLoader;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.SluiceConfig;
import io.sluice.http.GatewayContext;
import io.sluice.http.GatewayInitializer;
import io.sluice.http.Metering;
import io.sluice.routing.RegistryHolder;
import io.sluice.upstream.UpstreamPools;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warm before ready: at start-up, drives synthetic traffic through the real pipeline — the same
 * {@link GatewayInitializer}, handlers and event loops as client traffic — until the JIT has compiled it, while
 * {@code /health/readiness} answers 503. Without this a JVM serves its first tens of seconds interpreted and
 * half-compiled, and on a gateway pinned to one core the compiler competes with the traffic for that core.
 *
 * <p>What runs, all on loopback and all in this process: a stand-in replica (vLLM's wire format: a chat completion
 * with {@code usage}, and a chunked SSE stream of one event per flush with its usage chunk and {@code [DONE]}); a
 * second listener with its own {@link GatewayContext} (a virtual key held in memory behind the real
 * {@link LayeredKeyStore}, its own metrics, no series of the real {@code /metrics} moves); and a closed-loop client,
 * three JSON requests to one stream. The warm-up's usage events go, every {@link #WINDOW}, through the real
 * gateway's spend path as a rehearsal ({@link Metering#rehearse}: the same SQL on the real database, in a
 * transaction that is rolled back — no spend row is ever kept), half of them as rows with a user, a team, an end
 * user and a spend, as real rows have: the spend writer is the process's biggest compile (its insert alone took
 * 2 s of C2 on a pinned core) and otherwise compiled under the first real traffic. A rehearsal that fails (no
 * database, a refusal) is logged and not tried again.
 *
 * <p>It stops when the compiler has settled — total compilation time grew by less than {@link #SETTLED_SHARE} of
 * the wall time in {@link #SETTLED_WINDOWS} consecutive windows of {@link #WINDOW} — or at the time limit. Either
 * way everything it opened is closed and readiness turns 200; a failure is logged and ends it early (never blocks
 * readiness). Runs on its own thread; the real listener serves meanwhile.
 */
final class Warmup {
  private static final Logger log = LoggerFactory.getLogger(Warmup.class);
  static final String MODEL = "sluice-warmup";
  static final Duration WINDOW = Duration.ofMillis(500);
  static final int SETTLED_WINDOWS = 4;
  static final double SETTLED_SHARE = 0.05;
  static final Duration MIN = Duration.ofSeconds(3);
  private static final int CONNECTIONS = 16;

  /** Spend rows handed to one rehearsal at most (the real writer's batches are up to 1 000). */
  static final int REHEARSAL_BATCH = 512;

  /**
   * What a finished warm-up did (for the log and tests). {@code rehearsedRows}: spend rows run through the real
   * spend path and rolled back; {@code rehearsal}: why the rehearsals stopped, or null.
   */
  record Report(long requests, long errors, Duration took, long compileMillis, boolean settled, long rehearsedRows,
      String rehearsal) {}

  private Warmup() {}

  /**
   * Runs the warm-up (blocking the calling thread, never an event loop) and returns what it did.
   *
   * @param max the longest it may take
   */
  static Report run(SluiceConfig config, GatewayContext real, EventLoopGroup group,
      Class<? extends ServerChannel> serverChannels, ChannelFactory<? extends Channel> clientChannels,
      AddressResolverGroup<? extends SocketAddress> resolver, Duration max) throws InterruptedException {
    long t0 = System.nanoTime();
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    boolean timed = jit != null && jit.isCompilationTimeMonitoringSupported();
    long jit0 = timed ? jit.getTotalCompilationTime() : 0;
    ChannelGroup opened = new DefaultChannelGroup("sluice-warmup", GlobalEventExecutor.INSTANCE);
    Client client = null;
    boolean settled = false;
    Rehearsal rehearsal = new Rehearsal(real.metering());
    try {
      Channel upstream = new ServerBootstrap().group(group).channel(serverChannels)
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childHandler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
              opened.add(ch);
              ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1 << 20), new Replica());
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      opened.add(upstream);
      String key = "sk-warmup-" + HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
      GatewayContext gw = context(config, real, group, clientChannels, resolver, upstream, key, rehearsal);
      Channel listener = new ServerBootstrap().group(group).channel(serverChannels)
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childHandler(new GatewayInitializer(gw)) // its connections close when the client's do
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      opened.add(listener);
      client = new Client(group, clientChannels, (InetSocketAddress) listener.localAddress(), key, opened);
      client.start(CONNECTIONS);
      long deadline = t0 + max.toNanos();
      long last = timed ? jit.getTotalCompilationTime() : 0;
      int quiet = 0;
      while (System.nanoTime() - deadline < 0) {
        Thread.sleep(WINDOW.toMillis());
        rehearsal.run();
        if (client.failed() != null) {
          log.warn("warm-up stopped early: {}", client.failed());
          break;
        }
        if (!timed) {
          continue; // no compile-time counter: run to the time limit
        }
        long now = jit.getTotalCompilationTime();
        quiet = now - last < WINDOW.toMillis() * SETTLED_SHARE ? quiet + 1 : 0;
        last = now;
        if (quiet >= SETTLED_WINDOWS && System.nanoTime() - t0 >= MIN.toNanos()) {
          settled = true;
          break;
        }
      }
    } catch (RuntimeException e) {
      log.warn("warm-up failed (serving anyway): {}", e.toString());
    } finally {
      if (client != null) {
        client.stop(); // let the requests in flight finish, so no replica connection is cut mid-response
      }
      opened.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    return new Report(client == null ? 0 : client.done(), client == null ? 0 : client.errors(), took,
        timed ? jit.getTotalCompilationTime() - jit0 : -1, settled, rehearsal.rows, rehearsal.stopped);
  }

  /**
   * Collects the warm-up gateway's usage events (never blocking the event loop that offers them; beyond a batch's
   * worth they are dropped) and hands them, on the warm-up thread, to the real gateway's spend path as rehearsals.
   */
  static final class Rehearsal implements io.sluice.usage.UsageSink {
    private final Metering real;
    private final java.util.concurrent.ConcurrentLinkedQueue<io.sluice.usage.UsageEvent> events =
        new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.atomic.AtomicInteger queued = new java.util.concurrent.atomic.AtomicInteger();
    long rows;
    volatile String stopped;

    Rehearsal(Metering real) {
      this.real = real;
    }

    @Override
    public boolean offer(io.sluice.usage.UsageEvent event) {
      if (stopped == null && queued.incrementAndGet() <= REHEARSAL_BATCH) {
        events.offer(event);
      } else {
        queued.decrementAndGet();
      }
      return true;
    }

    /** One rehearsal of what was collected (warm-up thread). */
    void run() {
      if (stopped != null) {
        return;
      }
      List<io.sluice.usage.UsageEvent> batch = new ArrayList<>(REHEARSAL_BATCH);
      for (io.sluice.usage.UsageEvent e; batch.size() < REHEARSAL_BATCH && (e = events.poll()) != null; ) {
        queued.decrementAndGet();
        batch.add(batch.size() % 2 == 0 ? e : attributed(e));
      }
      if (batch.isEmpty()) {
        return;
      }
      try {
        if (real.rehearse(batch) == 0) {
          stopped = "no spend path to rehearse";
          return;
        }
        rows += batch.size();
      } catch (RuntimeException e) {
        stopped = e.toString();
        log.warn("warm-up: spend rehearsal failed, not tried again (the warm-up goes on): {}", e.toString());
      }
    }

    /** {@code e} as a real key's row usually is: with a user, a team, an end user and a spend. */
    private static io.sluice.usage.UsageEvent attributed(io.sluice.usage.UsageEvent e) {
      long tokens = e.promptTokens() + e.completionTokens();
      return new io.sluice.usage.UsageEvent(e.requestId(), e.keyHash(), e.keyAlias(), "sluice-warmup-user",
          "sluice-warmup-team", e.route(), e.modelGroup(), e.deploymentId(), e.promptTokens(), e.completionTokens(),
          e.estimated(), tokens * 1e-6, e.startMicros(), e.endMicros(), e.status(), e.outcome(), e.stream(),
          "sluice-warmup-end-user");
    }
  }

  /**
   * The warm-up gateway: the real one's settings and classes, its own key, replica and metrics; its usage events go
   * to {@code usage} (the rehearsal).
   */
  private static GatewayContext context(SluiceConfig config, GatewayContext real, EventLoopGroup group,
      ChannelFactory<? extends Channel> clientChannels, AddressResolverGroup<? extends SocketAddress> resolver,
      Channel upstream, String key, io.sluice.usage.UsageSink usage) {
    int port = ((InetSocketAddress) upstream.localAddress()).getPort();
    ObjectNode entry = new ObjectMapper().createObjectNode();
    entry.put("model_name", MODEL);
    ObjectNode params = entry.putObject("litellm_params");
    params.put("model", "hosted_vllm/" + MODEL);
    params.put("api_base", "http://127.0.0.1:" + port + "/v1");
    params.put("api_key", "warmup-replica-key");
    DeploymentConfig d = ConfigLoader.deployment(entry, Map.of(), "warm-up");
    RegistryHolder registry = new RegistryHolder(List.of(d), config.router());
    KeyHash hash = KeyHash.of(key);
    KeyRecord record = new KeyRecord(hash, "sk-...warm", "warm-up", null, null, Role.INTERNAL_USER, Set.of(MODEL),
        Set.of(), List.of(), false, false, null, KeyLimits.NONE);
    KeyStore store = h -> CompletableFuture.completedFuture(h.equals(hash) ? Optional.of(record) : Optional.empty());
    LayeredKeyStore keys = new LayeredKeyStore(store, KeyCache.NONE, Runnable::run, LayeredKeyStore.Settings.DEFAULTS);
    // A master key too, never sent: the real path checks it before the virtual key's hash.
    io.sluice.config.Secret master = io.sluice.config.Secret.of("sk-warmup-master-" + HexFormat.of().formatHex(
        new SecureRandom().generateSeed(16)));
    Authenticator auth = new Authenticator(master, false, config.general().keyHeaderName(), keys, Clock.systemUTC());
    UpstreamPools pools = new UpstreamPools(config.server(), clientChannels, resolver,
        GatewayInitializer.upstreamHandlers());
    io.sluice.metrics.GatewayMetrics metrics = new io.sluice.metrics.GatewayMetrics(
        config.server().metricsKeyLabels(), config.litellm().requireAuthForMetrics());
    return new GatewayContext(real.server(), real.maxRequestBodyBytes(), real.defaultTimeout(), auth, registry, pools,
        real.version(), 0, real.cooldown(), new io.sluice.http.Drain(), real.streamTimeout(), real.strategy(),
        io.sluice.management.ManagementApi.NONE, io.sluice.http.Readiness.NO_DATABASE,
        io.sluice.routing.PassThroughTargets.NONE,
        new Metering(usage, null), io.sluice.http.AccessLog.NONE, metrics, null);
  }

  /** The stand-in replica: vLLM's chat completion, or its SSE stream (one event per write and flush). */
  static final class Replica extends SimpleChannelInboundHandler<FullHttpRequest> {
    static final int TOKENS = 16;

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      boolean stream = req.content().toString(StandardCharsets.UTF_8).contains("\"stream\":true");
      String id = "chatcmpl-warmup" + Long.toHexString(System.nanoTime());
      if (!stream) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < TOKENS; i++) {
          text.append(i == 0 ? "" : " ").append("tok").append(i);
        }
        byte[] body = ("{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"" + MODEL
            + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"reasoning_content\":null,"
            + "\"content\":\"" + text + "\",\"tool_calls\":[]},\"logprobs\":null,\"finish_reason\":\"length\","
            + "\"stop_reason\":null}],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":" + (12 + TOKENS)
            + ",\"completion_tokens\":" + TOKENS + ",\"prompt_tokens_details\":null},\"prompt_logprobs\":null}")
            .getBytes(StandardCharsets.UTF_8);
        HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        head.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
            .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        ctx.write(head);
        ctx.writeAndFlush(new io.netty.handler.codec.http.DefaultLastHttpContent(Unpooled.wrappedBuffer(body)));
        return;
      }
      HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
      head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
          .set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
      ctx.writeAndFlush(head);
      String prefix = "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\""
          + MODEL + "\",\"choices\":[";
      event(ctx, prefix + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
          + "\"finish_reason\":null}]}\n\n");
      for (int i = 0; i < TOKENS; i++) {
        event(ctx, prefix + "{\"index\":0,\"delta\":{\"content\":\" tok" + i + "\"},\"logprobs\":null,"
            + "\"finish_reason\":" + (i == TOKENS - 1 ? "\"length\",\"stop_reason\":null" : "null") + "}]}\n\n");
      }
      event(ctx, prefix + "],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":" + (12 + TOKENS)
          + ",\"completion_tokens\":" + TOKENS + "}}\n\n");
      event(ctx, "data: [DONE]\n\n");
      ctx.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT);
    }

    private static void event(ChannelHandlerContext ctx, String s) {
      ctx.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(s.getBytes(StandardCharsets.UTF_8))));
    }
  }

  /** Closed loop over a few keep-alive connections: three JSON chat requests, then one stream, and again. */
  static final class Client {
    private final EventLoopGroup group;
    private final ChannelFactory<? extends Channel> channels;
    private final InetSocketAddress target;
    private final ChannelGroup opened;
    private final byte[] json;
    private final byte[] stream;
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
    private final List<Channel> conns = new ArrayList<>();
    private volatile boolean stopped;
    private volatile String failed;

    Client(EventLoopGroup group, ChannelFactory<? extends Channel> channels, InetSocketAddress target, String key,
        ChannelGroup opened) {
      this.group = group;
      this.channels = channels;
      this.target = target;
      this.opened = opened;
      this.json = request(key, false);
      this.stream = request(key, true);
    }

    private static byte[] request(String key, boolean stream) {
      String body = "{\"model\":\"" + MODEL + "\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
          + "{\"role\":\"user\",\"content\":\"warm the relay \\u00e9\"}],\"max_tokens\":16,\"temperature\":0.2"
          + (stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "") + "}";
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      return ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key
          + "\r\nContent-Type: application/json\r\nAccept: */*\r\nUser-Agent: sluice-warmup\r\nContent-Length: "
          + b.length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8);
    }

    void start(int n) throws InterruptedException {
      for (int i = 0; i < n; i++) {
        int offset = i;
        Channel ch = new Bootstrap().group(group).channelFactory(channels)
            .option(ChannelOption.TCP_NODELAY, true)
            .handler(new ChannelInitializer<>() {
              @Override
              protected void initChannel(Channel c) {
                c.pipeline().addLast(new HttpResponseDecoder(), new Reader(offset)); // requests: bytes as sent
              }
            })
            .connect(target).sync().channel();
        opened.add(ch);
        conns.add(ch);
        send(ch, offset);
      }
    }

    private void send(Channel ch, long n) {
      if (!stopped && ch.isActive()) {
        inFlight.incrementAndGet();
        ch.writeAndFlush(Unpooled.wrappedBuffer(n % 4 == 3 ? stream : json));
      }
    }

    /** Sends no more, and waits (at most 2 s) for the responses still coming. */
    void stop() throws InterruptedException {
      stopped = true;
      for (int i = 0; i < 200 && inFlight.get() > 0; i++) {
        Thread.sleep(10);
      }
      for (Channel c : conns) {
        c.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
      }
    }

    long done() {
      return done.get();
    }

    long errors() {
      return errors.get();
    }

    /** Why the warm-up cannot go on (the gateway answers errors only), or null. */
    String failed() {
      return failed;
    }

    /** Counts one response per LastHttpContent and sends the next request on that connection. */
    private final class Reader extends SimpleChannelInboundHandler<HttpObject> {
      private long n;
      private int status;

      Reader(int offset) {
        this.n = offset;
      }

      @Override
      protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
        if (msg instanceof HttpResponse r) {
          status = r.status().code();
        }
        if (msg instanceof LastHttpContent) {
          inFlight.decrementAndGet();
          long total = done.incrementAndGet();
          if (status != 200 && errors.incrementAndGet() > 100 && errors.get() * 2 > total) {
            failed = "the warm-up gateway answered " + status + " to " + errors.get() + " of " + total
                + " requests";
          }
          n++;
          send(ctx.channel(), n);
        }
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        errors.incrementAndGet();
        inFlight.decrementAndGet();
        ctx.close();
      }
    }
  }
}
