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
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
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
 * <p>What runs, all on loopback and all in this process: a stand-in replica (vLLM's wire format: a chat completion with
 * {@code usage}, and its SSE stream with the usage chunk and {@code [DONE]}, in three shapes: see {@link Replica}); a
 * second listener with its own {@link GatewayContext} (a virtual key held in memory behind the real {@link
 * LayeredKeyStore}, its own metrics, no series of the real {@code /metrics} moves); and a closed-loop client, seven
 * JSON chats, two streams and one other kind of request in ten (see {@link Client}). The warm-up's usage events go,
 * every {@link #WINDOW}, through the real gateway's spend path as a rehearsal ({@link Metering#rehearse}: the same SQL
 * on the real database, in a transaction that is rolled back — no spend row is ever kept), half of them as rows with a
 * user, a team, an end user and a spend, as real rows have: the spend writer is the process's biggest compile (its
 * insert alone took 2 s of C2 on a pinned core) and otherwise compiled under the first real traffic. A rehearsal that
 * fails (no database, a refusal) is logged and not tried again.
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
   * spend path and rolled back; {@code rehearsal}: why the rehearsals stopped, or null; {@code unexpected}: the last
   * request that got another status than its own, or null; {@code answered}: how many of each kind of request got
   * their own status.
   */
  record Report(long requests, long errors, Duration took, long compileMillis, boolean settled, long rehearsedRows,
      String rehearsal, String unexpected, Map<String, Long> answered) {}

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
              ch.pipeline().addLast(new Replica());
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      opened.add(upstream);
      String key = "sk-warmup-" + HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
      String master = "sk-warmup-master-" + HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
      GatewayContext gw = context(config, real, group, clientChannels, resolver, upstream, key, master, rehearsal);
      Channel listener = new ServerBootstrap().group(group).channel(serverChannels)
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childHandler(new GatewayInitializer(gw)) // its connections close when the client's do
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      opened.add(listener);
      client = new Client(group, clientChannels, (InetSocketAddress) listener.localAddress(), key, master, opened);
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
        timed ? jit.getTotalCompilationTime() - jit0 : -1, settled, rehearsal.rows, rehearsal.stopped,
        client == null ? null : client.unexpected(), client == null ? Map.of() : client.answered());
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
      if (stopped != null) {
        return true;
      }
      if (queued.incrementAndGet() <= REHEARSAL_BATCH) {
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
      Channel upstream, String key, String masterKey, io.sluice.usage.UsageSink usage) {
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
    // A master key too: the real path checks it before the virtual key's hash; /metrics is read with it.
    io.sluice.config.Secret master = io.sluice.config.Secret.of(masterKey);
    Authenticator auth = new Authenticator(master, false, config.general().keyHeaderName(), keys, Clock.systemUTC());
    UpstreamPools pools = new UpstreamPools(config.server(), clientChannels, resolver,
        GatewayInitializer.upstreamHandlers());
    io.sluice.metrics.GatewayMetrics metrics = new io.sluice.metrics.GatewayMetrics(
        config.server().metricsKeyLabels(), config.litellm().requireAuthForMetrics());
    metrics.exposition(new PrometheusExposition(metrics)); // its own series: the real /metrics never sees them
    return new GatewayContext(real.server(), real.maxRequestBodyBytes(), real.defaultTimeout(), auth, registry, pools,
        real.version(), 0, real.cooldown(), new io.sluice.http.Drain(), real.streamTimeout(), real.strategy(),
        io.sluice.management.ManagementApi.NONE, io.sluice.http.Readiness.NO_DATABASE,
        io.sluice.routing.PassThroughTargets.NONE,
        new Metering(usage, null), io.sluice.http.AccessLog.NONE, metrics, null);
  }

  /**
   * The stand-in replica, on bytes (as {@link Wire}): vLLM's chat completion (Content-Length), or its SSE stream in
   * turn in each of the shapes a gateway meets — chunked with one event per write and flush (vLLM token by token),
   * chunked with all events in one flush (a loaded vLLM whose events share a TCP segment), and whole with a
   * Content-Length (a replica behind a buffering proxy) — so the relay's profile holds all three before the JIT
   * compiles it. Its head is uvicorn's (vLLM's server): {@code date}, {@code server}, the type and the framing.
   */
  static final class Replica extends io.netty.handler.codec.ByteToMessageDecoder {
    static final int TOKENS = 16;
    private int streams;

    @Override
    protected void decode(ChannelHandlerContext ctx, io.netty.buffer.ByteBuf in, List<Object> out) {
      int head = Wire.headEnd(in);
      if (head < 0) {
        return;
      }
      long length = Wire.contentLength(in, head);
      if (length < 0) { // Sluice frames a chat body with a Content-Length; anything else is not the warm-up's
        in.skipBytes(in.readableBytes());
        ctx.close();
        return;
      }
      if (in.readableBytes() < head + length) {
        return;
      }
      boolean stream = io.netty.buffer.ByteBufUtil.indexOf(STREAM, in.slice(in.readerIndex() + head, (int) length))
          >= 0;
      in.skipBytes(head + (int) length);
      String id = "chatcmpl-warmup" + Long.toHexString(System.nanoTime());
      if (!stream) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < TOKENS; i++) {
          text.append(i == 0 ? "" : " ").append("tok").append(i);
        }
        String body = "{\"id\":\"" + id + "\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"" + MODEL
            + "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"reasoning_content\":null,"
            + "\"content\":\"" + text + "\",\"tool_calls\":[]},\"logprobs\":null,\"finish_reason\":\"length\","
            + "\"stop_reason\":null}],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":" + (12 + TOKENS)
            + ",\"completion_tokens\":" + TOKENS + ",\"prompt_tokens_details\":null},\"prompt_logprobs\":null}";
        ctx.writeAndFlush(bytes(head("application/json", "content-length: " + utf8Length(body)) + body));
        return;
      }
      List<String> events = events(id);
      int shape = streams++ % 3;
      if (shape == 2) { // whole, with a Content-Length
        String body = String.join("", events);
        ctx.writeAndFlush(bytes(head("text/event-stream; charset=utf-8", "content-length: " + utf8Length(body))
            + body));
        return;
      }
      ctx.writeAndFlush(bytes(head("text/event-stream; charset=utf-8", "transfer-encoding: chunked")));
      for (String e : events) {
        io.netty.buffer.ByteBuf chunk = bytes(Integer.toHexString(utf8Length(e)) + "\r\n" + e + "\r\n");
        if (shape == 0) {
          ctx.writeAndFlush(chunk); // one event per write and flush
        } else {
          ctx.write(chunk); // all in one flush
        }
      }
      ctx.writeAndFlush(bytes("0\r\n\r\n"));
    }

    private static final io.netty.buffer.ByteBuf STREAM = Unpooled.unreleasableBuffer(Unpooled.copiedBuffer(
        "\"stream\":true", StandardCharsets.US_ASCII));

    private static String head(String type, String framing) {
      return "HTTP/1.1 200 OK\r\ndate: " + java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(
          java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC)) + "\r\nserver: uvicorn\r\ncontent-type: " + type
          + "\r\n" + framing + "\r\n\r\n";
    }

    private static int utf8Length(String s) {
      return s.getBytes(StandardCharsets.UTF_8).length;
    }

    private static io.netty.buffer.ByteBuf bytes(String s) {
      return Unpooled.wrappedBuffer(s.getBytes(StandardCharsets.UTF_8));
    }

    /** vLLM's events for one stream: the role, one per token, the usage chunk, {@code [DONE]}. */
    private static List<String> events(String id) {
      String prefix = "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\""
          + MODEL + "\",\"choices\":[";
      List<String> out = new ArrayList<>(TOKENS + 3);
      out.add(prefix + "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
          + "\"finish_reason\":null}]}\n\n");
      for (int i = 0; i < TOKENS; i++) {
        out.add(prefix + "{\"index\":0,\"delta\":{\"content\":\" tok" + i + "\"},\"logprobs\":null,"
            + "\"finish_reason\":" + (i == TOKENS - 1 ? "\"length\",\"stop_reason\":null" : "null") + "}]}\n\n");
      }
      out.add(prefix + "],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":" + (12 + TOKENS)
          + ",\"completion_tokens\":" + TOKENS + "}}\n\n");
      out.add("data: [DONE]\n\n");
      return out;
    }
  }

  /**
   * The warm-up's own ends (replica and client) read HTTP/1.1 from bytes with these few lines, not with Netty's HTTP
   * codec: the gateway's real path does not use that codec's decoders, and the warm-up running them would spend the
   * compiler on code real traffic never runs, and give the response encoder the warm-up's message types to profile.
   * Trusted input only (the warm-up gateway talking to itself).
   */
  static final class Wire {
    private Wire() {}

    /** The length of the head (through its empty line) at the reader index, or -1 when it has not all come. */
    static int headEnd(io.netty.buffer.ByteBuf in) {
      int from = in.readerIndex();
      int to = in.writerIndex();
      for (int i = from; i + 3 < to; i++) {
        if (in.getByte(i) == '\r' && in.getByte(i + 1) == '\n' && in.getByte(i + 2) == '\r'
            && in.getByte(i + 3) == '\n') {
          return i + 4 - from;
        }
      }
      return -1;
    }

    /** Content-Length, 0 when there is none and no Transfer-Encoding, -1 for a chunked body. */
    static long contentLength(io.netty.buffer.ByteBuf in, int length) {
      String h = in.toString(in.readerIndex(), length, StandardCharsets.US_ASCII).toLowerCase(java.util.Locale.ROOT);
      int at = h.indexOf("\r\ncontent-length:");
      if (at >= 0) {
        int v = at + "\r\ncontent-length:".length();
        return Long.parseLong(h.substring(v, h.indexOf('\r', v)).trim());
      }
      return h.contains("\r\ntransfer-encoding:") ? -1 : 0;
    }

    /** The status code of a response head at the reader index. */
    static int status(io.netty.buffer.ByteBuf in) {
      int at = in.readerIndex() + "HTTP/1.1 ".length();
      return (in.getByte(at) - '0') * 100 + (in.getByte(at + 1) - '0') * 10 + (in.getByte(at + 2) - '0');
    }
  }

  /**
   * Closed loop over a few connections. Most requests are what a gateway mostly relays — JSON chats, and a stream to
   * every three or four of them — and one in ten is one of the others it also answers all day, in turn: liveness and
   * readiness probes, a {@code /metrics} scrape, {@code /v1/models}, a wrong key (401), a model the key may not use
   * (401), a body that is not JSON (400), an unknown route (404), and a chat with {@code Connection: close}, after
   * which the connection ends and a new one takes its place (connection set-up and tear-down are on the path too).
   * Without them the first probe or scrape after readiness deoptimised the relay's biggest compiled methods (an untaken
   * branch inlined into them) and the compiler ran again under real traffic. Each request has its expected status;
   * another one is an error.
   */
  static final class Client {
    /** One request as sent, the status it must get, and whether it ends its connection. */
    record Job(String what, byte[] bytes, int expect, boolean closes) {}

    private final EventLoopGroup group;
    private final ChannelFactory<? extends Channel> channels;
    private final InetSocketAddress target;
    private final ChannelGroup opened;
    private final Job json;
    private final Job stream;
    private final List<Job> others;
    private final AtomicLong done = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.Set<Channel> conns = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean stopped;
    private volatile String failed;
    private volatile String unexpected;
    private final AtomicLong otherTurn = new AtomicLong();
    private final java.util.concurrent.ConcurrentHashMap<String, java.util.concurrent.atomic.LongAdder> answered =
        new java.util.concurrent.ConcurrentHashMap<>();

    Client(EventLoopGroup group, ChannelFactory<? extends Channel> channels, InetSocketAddress target, String key,
        String master, ChannelGroup opened) {
      this.group = group;
      this.channels = channels;
      this.target = target;
      this.opened = opened;
      this.json = chat("chat", key, MODEL, false, false, 200);
      this.stream = chat("stream", key, MODEL, true, false, 200);
      this.others = List.of(
          get("GET /health/liveliness", "/health/liveliness", null, 200),
          get("GET /health/readiness", "/health/readiness", null, 200),
          get("GET /metrics", "/metrics", master, 200),
          get("GET /v1/models", "/v1/models", key, 200),
          chat("a wrong key", "sk-warmup-wrong-" + key.substring(key.length() - 8), MODEL, false, false, 401),
          chat("a model the key may not use", key, MODEL + "-other", false, false, 401),
          post("a body that is not JSON", key, "{\"model\": \"" + MODEL + "\", \"messages\": [", 400),
          get("an unknown route", "/v1/no-such-route", key, 404),
          chat("Connection: close", key, MODEL, false, true, 200));
    }

    private static Job chat(String what, String key, String model, boolean stream, boolean close, int expect) {
      String body = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
          + "{\"role\":\"user\",\"content\":\"warm the relay \\u00e9\"}],\"max_tokens\":16,\"temperature\":0.2"
          + (stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "") + "}";
      return new Job(what, request("POST", "/v1/chat/completions", key, body, close), expect, close);
    }

    private static Job post(String what, String key, String body, int expect) {
      return new Job(what, request("POST", "/v1/chat/completions", key, body, false), expect, false);
    }

    private static Job get(String what, String path, String key, int expect) {
      return new Job(what, request("GET", path, key, null, false), expect, false);
    }

    private static byte[] request(String method, String path, String key, String body, boolean close) {
      StringBuilder b = new StringBuilder(256).append(method).append(' ').append(path)
          .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      if (key != null) {
        b.append("Authorization: Bearer ").append(key).append("\r\n");
      }
      b.append("Accept: */*\r\nUser-Agent: sluice-warmup\r\n");
      if (close) {
        b.append("Connection: close\r\n");
      }
      byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
      if (body != null) {
        b.append("Content-Type: application/json\r\nContent-Length: ").append(bytes.length).append("\r\n");
      }
      byte[] head = b.append("\r\n").toString().getBytes(StandardCharsets.UTF_8);
      byte[] all = java.util.Arrays.copyOf(head, head.length + bytes.length);
      System.arraycopy(bytes, 0, all, head.length, bytes.length);
      return all;
    }

    /**
     * The request number {@code n} of a connection: chats, a stream in slots 3 and 7, and in slot 9 the next of the
     * other kinds (in turn over all connections, so each kind comes within the first few hundred requests).
     */
    Job job(long n) {
      int slot = (int) (n % 10);
      if (slot == 9) {
        return others.get((int) (otherTurn.getAndIncrement() % others.size()));
      }
      return slot == 3 || slot == 7 ? stream : json;
    }

    void start(int n) throws InterruptedException {
      for (int i = 0; i < n; i++) {
        connect(i).sync();
      }
    }

    /** A new connection whose first request is number {@code first}. */
    private io.netty.channel.ChannelFuture connect(long first) {
      Reader reader = new Reader(first);
      return new Bootstrap().group(group).channelFactory(channels)
          .option(ChannelOption.TCP_NODELAY, true)
          .handler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel c) {
              c.pipeline().addLast(reader); // requests and responses: bytes (see Wire)
            }
          })
          .connect(target).addListener((io.netty.channel.ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
              failed = "cannot connect to the warm-up listener: " + f.cause();
              return;
            }
            opened.add(f.channel());
            conns.add(f.channel());
            reader.send(f.channel());
          });
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

    /** Per kind of request, how many got their own status. */
    Map<String, Long> answered() {
      Map<String, Long> out = new java.util.TreeMap<>();
      answered.forEach((k, v) -> out.put(k, v.sum()));
      return out;
    }

    /** The last request that got a status other than its own, or null. */
    String unexpected() {
      return unexpected;
    }

    /** Why the warm-up cannot go on (the gateway answers errors only), or null. */
    String failed() {
      return failed;
    }

    /** One connection's loop: reads each response (see {@link Wire}), counts it and sends the next request. */
    private final class Reader extends io.netty.handler.codec.ByteToMessageDecoder {
      private long n;
      private Job sent;
      private int status;
      /** Body bytes still to skip (Content-Length), -1 inside a chunked body, -2 between responses. */
      private long remaining = -2;

      Reader(long first) {
        this.n = first;
      }

      void send(Channel ch) {
        if (!stopped && ch.isActive()) {
          sent = job(n);
          inFlight.incrementAndGet();
          ch.writeAndFlush(Unpooled.wrappedBuffer(sent.bytes()));
        }
      }

      @Override
      protected void decode(ChannelHandlerContext ctx, io.netty.buffer.ByteBuf in, List<Object> out) {
        while (in.isReadable()) {
          if (remaining == -2) {
            int head = Wire.headEnd(in);
            if (head < 0) {
              return;
            }
            status = Wire.status(in);
            remaining = Wire.contentLength(in, head);
            in.skipBytes(head);
          }
          if (remaining > 0) {
            int k = (int) Math.min(remaining, in.readableBytes());
            in.skipBytes(k);
            remaining -= k;
            if (remaining > 0) {
              return;
            }
          } else if (remaining == -1) { // chunked: size line, data, CRLF; the last chunk ends it (no trailers)
            int line = in.bytesBefore((byte) '\n');
            if (line < 0) {
              return;
            }
            String size = in.toString(in.readerIndex(), line, StandardCharsets.US_ASCII).trim();
            int semi = size.indexOf(';');
            long chunk = Long.parseLong(semi < 0 ? size : size.substring(0, semi), 16);
            long need = line + 1 + chunk + 2;
            if (in.readableBytes() < need) {
              return;
            }
            in.skipBytes((int) need);
            if (chunk > 0) {
              continue;
            }
          }
          remaining = -2;
          answered(ctx);
        }
      }

      /** One whole response: counted, and the connection's next request sent (unless it asked to close). */
      private void answered(ChannelHandlerContext ctx) {
        Job job = sent;
        if (job == null) {
          return;
        }
        sent = null;
        inFlight.decrementAndGet();
        long total = done.incrementAndGet();
        if (status == job.expect()) {
          answered.computeIfAbsent(job.what(), k -> new java.util.concurrent.atomic.LongAdder()).increment();
        } else {
          unexpected = job.what() + " answered " + status + " (expected " + job.expect() + ")";
          if (errors.incrementAndGet() > 100 && errors.get() * 2 > total) {
            failed = "the warm-up gateway answered " + errors.get() + " of " + total + " requests unexpectedly; "
                + "last: " + unexpected;
          }
        }
        n++;
        if (!job.closes()) {
          send(ctx.channel());
        } // else the gateway closes the connection and channelInactive opens the next one
      }

      @Override
      public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        super.channelInactive(ctx);
        conns.remove(ctx.channel());
        if (sent != null) { // closed before its answer
          sent = null;
          inFlight.decrementAndGet();
          errors.incrementAndGet();
        }
        if (!stopped) {
          connect(n);
        }
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close(); // channelInactive counts it and reconnects
      }
    }
  }
}
