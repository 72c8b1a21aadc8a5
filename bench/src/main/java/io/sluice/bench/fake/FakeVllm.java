package io.sluice.bench.fake;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A fake vLLM OpenAI-compatible server that speaks vLLM's exact wire format (shared/reference/vllm-wire.md): chat
 * and completions as JSON or SSE (role chunk, one chunk per token, finish chunk, the usage chunk when
 * {@code stream_options} asks, {@code data: [DONE]}), chunked transfer encoding, vLLM's error shapes, the
 * {@code --api-key} check on {@code /v1} paths with its {@code {"error":"Unauthorized"}} 401, {@code /health},
 * {@code /version}, {@code /v1/models}, {@code /metrics} with vLLM's metric names, {@code /tokenize},
 * {@code /detokenize}, {@code /v1/embeddings}.
 *
 * <p>Generation is deterministic: token i is {@code "tok<i> "}; prompt tokens are the whitespace-separated words of
 * the prompt or messages. It stops when the connection closes (counted as an abort, like vLLM's
 * {@code abort(request_id)}), and pauses while the connection is not writable, as uvicorn's {@code await send()}
 * does.
 *
 * <p>Per-request overrides by header: {@code x-fake-tokens: N}, {@code x-fake-itl-ms: N}, {@code x-fake-ttft-ms: N}.
 * Runtime knobs: {@link #faults()}.
 *
 * <p>{@link Builder#simulate Simulation mode} ({@link Simulation}) replaces the fixed TTFT and inter-token delay by
 * a replica model — concurrent sequences, a FIFO queue, an LRU prefix cache — and {@code /metrics} reports it. The
 * default mode is unchanged by it.
 */
public final class FakeVllm implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(FakeVllm.class);

  final String servedModel;
  final String apiKey;
  final long created;
  final Faults faults;
  /** Null unless built with {@link Builder#simulate}. */
  final Simulation simulation;
  private final EventLoopGroup group;
  private final Channel server;

  private final ArrayDeque<RecordedRequest> requests = new ArrayDeque<>();
  private final List<Long> abortNanos = new ArrayList<>();
  final AtomicLong streamsStarted = new AtomicLong();
  final AtomicLong streamsCompleted = new AtomicLong();
  final AtomicLong streamsAborted = new AtomicLong();
  final AtomicLong connectionsAccepted = new AtomicLong();
  final AtomicInteger openConnections = new AtomicInteger();
  final AtomicInteger running = new AtomicInteger();
  final AtomicLong tokensWritten = new AtomicLong();
  final AtomicLong promptTokensTotal = new AtomicLong();
  final AtomicLong generationTokensTotal = new AtomicLong();
  /** This replica's own Responses API store (vLLM keeps stored responses in the process that made them). */
  final FakeResponses responses = new FakeResponses(this);

  /** Every accepted connection, for {@link #close()}. */
  private final io.netty.channel.group.ChannelGroup connections;

  private FakeVllm(Builder b) throws InterruptedException {
    this.servedModel = b.servedModel;
    this.apiKey = b.apiKey;
    this.created = b.created;
    this.faults = new Faults(b.tokens, b.ttft, b.itl);
    this.simulation = b.simulation == null ? null : new Simulation(b.simulation);
    this.group = new MultiThreadIoEventLoopGroup(b.threads, NioIoHandler.newFactory());
    this.connections = new io.netty.channel.group.DefaultChannelGroup(
        io.netty.util.concurrent.GlobalEventExecutor.INSTANCE);
    ServerBootstrap sb = new ServerBootstrap()
        .group(group)
        .channel(NioServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG, 4096)
        .option(ChannelOption.SO_REUSEADDR, true)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel ch) {
            connections.add(ch);
            ch.pipeline().addLast(new HttpServerCodec());
            ch.pipeline().addLast(new HttpServerKeepAliveHandler());
            ch.pipeline().addLast(new HttpObjectAggregator(16 * 1024 * 1024));
            ch.pipeline().addLast(new FakeVllmHandler(FakeVllm.this));
          }
        });
    this.server = sb.bind(new InetSocketAddress(b.host, b.port)).sync().channel();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builder; every setting has a default. */
  public static final class Builder {
    private String host = "127.0.0.1";
    private int port = 0;
    private String servedModel = "fake-model";
    private String apiKey;
    private int tokens = 16;
    private Duration ttft = Duration.ZERO;
    private Duration itl = Duration.ZERO;
    private int threads = 1;
    private long created = -1;
    private Simulation.Config simulation;

    public Builder host(String h) {
      this.host = h;
      return this;
    }

    public Builder port(int p) {
      this.port = p;
      return this;
    }

    public Builder servedModel(String m) {
      this.servedModel = m;
      return this;
    }

    /** The replica's {@code --api-key}; null = no auth. */
    public Builder apiKey(String k) {
      this.apiKey = k;
      return this;
    }

    public Builder tokens(int n) {
      this.tokens = n;
      return this;
    }

    public Builder ttft(Duration d) {
      this.ttft = d;
      return this;
    }

    public Builder interTokenDelay(Duration d) {
      this.itl = d;
      return this;
    }

    public Builder threads(int n) {
      this.threads = n;
      return this;
    }

    /** A fixed {@code created} timestamp (seconds) for byte-exact comparisons; default: the current second. */
    public Builder created(long epochSeconds) {
      this.created = epochSeconds;
      return this;
    }

    /**
     * Simulation mode ({@link Simulation}): {@code maxRunning} concurrent sequences, an LRU prefix cache of
     * {@code cacheBlocks} blocks of {@code blockTokens} tokens, {@code prefillMicrosPerToken} µs of prefill per
     * uncached prompt token, then {@code decodeTokensPerSecond} per sequence. The fixed TTFT and inter-token delay
     * (and their {@code x-fake-*} headers) no longer apply to chat and completions.
     */
    public Builder simulate(int maxRunning, int cacheBlocks, int blockTokens, double prefillMicrosPerToken,
        double decodeTokensPerSecond) {
      this.simulation = new Simulation.Config(maxRunning, cacheBlocks, blockTokens,
          (long) (prefillMicrosPerToken * 1000), decodeTokensPerSecond <= 0 ? 0
          : (long) (1e9 / decodeTokensPerSecond));
      return this;
    }

    public FakeVllm start() throws InterruptedException {
      return new FakeVllm(this);
    }
  }

  public int port() {
    return ((InetSocketAddress) server.localAddress()).getPort();
  }

  public Faults faults() {
    return faults;
  }

  /** Whether this replica's Responses API store holds {@code id}. */
  public boolean holdsResponse(String id) {
    return responses.holds(id);
  }

  /** How many responses this replica's Responses API store holds. */
  public int storedResponses() {
    return responses.stored();
  }

  long createdNow() {
    return created >= 0 ? created : System.currentTimeMillis() / 1000;
  }

  void record(RecordedRequest r) {
    synchronized (requests) {
      if (requests.size() >= 10_000) {
        requests.pollFirst();
      }
      requests.addLast(r);
    }
  }

  /** Requests received, oldest first (the last 10 000). */
  public List<RecordedRequest> requests() {
    synchronized (requests) {
      return new ArrayList<>(requests);
    }
  }

  public void clearRequests() {
    synchronized (requests) {
      requests.clear();
    }
  }

  void aborted() {
    synchronized (abortNanos) {
      abortNanos.add(System.nanoTime());
      streamsAborted.incrementAndGet();
      abortNanos.notifyAll();
    }
  }

  /** {@link System#nanoTime()} of each abort (a connection closed before {@code [DONE]}), in order. */
  public List<Long> abortNanos() {
    synchronized (abortNanos) {
      return new ArrayList<>(abortNanos);
    }
  }

  /** Waits until at least {@code n} generations were aborted in total. */
  public boolean awaitAborted(int n, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (abortNanos) {
      while (streamsAborted.get() < n) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        TimeUnit.NANOSECONDS.timedWait(abortNanos, left);
      }
      return true;
    }
  }

  public long streamsStarted() {
    return streamsStarted.get();
  }

  public long streamsCompleted() {
    return streamsCompleted.get();
  }

  public long streamsAborted() {
    return streamsAborted.get();
  }

  public long connectionsAccepted() {
    return connectionsAccepted.get();
  }

  public int openConnections() {
    return openConnections.get();
  }

  /** Simulation mode: prompt tokens looked up in the prefix cache so far ({@code vllm:prefix_cache_queries}). */
  public long prefixCacheQueries() {
    return simulation == null ? 0 : simulation.prefixCacheQueries();
  }

  /** Simulation mode: prompt tokens found in the prefix cache so far ({@code vllm:prefix_cache_hits}). */
  public long prefixCacheHits() {
    return simulation == null ? 0 : simulation.prefixCacheHits();
  }

  /** Simulation mode: sequences running and waiting now; 0 otherwise. */
  public int simulatedRunning() {
    return simulation == null ? 0 : simulation.running();
  }

  public int simulatedWaiting() {
    return simulation == null ? 0 : simulation.waiting();
  }

  /** Content chunks written to sockets so far, all streams. */
  public long tokensWritten() {
    return tokensWritten.get();
  }

  @Override
  /**
   * Stops the server as a dying vLLM would: the listening socket and every open connection are closed (FIN), then
   * the event loops stop. Closing the connections explicitly matters: a loop's shutdown alone was seen to leave
   * accepted sockets open under load, so a "dead" replica's streams never ended.
   */
  public void close() {
    server.close().awaitUninterruptibly();
    connections.close().awaitUninterruptibly();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
  }

  /**
   * {@code java -cp sluice-bench.jar io.sluice.bench.fake.FakeVllm [--host H] [--port P] [--model NAME]
   * [--api-key K] [--tokens N] [--ttft-ms N] [--itl-ms N] [--fault-status N] [--reset-after-tokens K]
   * [--stall-after-tokens K] [--threads N] [--sim-seqs N [--sim-cache-blocks N] [--sim-block-tokens N]
   * [--sim-prefill-us N] [--sim-decode-tps N]]}; {@code --api-key} defaults to env {@code VLLM_API_KEY}.
   * {@code --sim-seqs} turns simulation mode on (defaults: 4096 blocks of 16 tokens, 100 µs per uncached token,
   * 50 tokens/s).
   */
  public static void main(String[] args) throws Exception {
    Builder b = builder().port(8000).apiKey(System.getenv("VLLM_API_KEY"));
    int status = 0;
    int reset = -1;
    int stall = -1;
    int simSeqs = 0;
    int simBlocks = 4096;
    int simBlockTokens = 16;
    double simPrefillUs = 100;
    double simDecodeTps = 50;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("-h") || a.equals("--help")) {
        System.out.println("usage: fake-vllm [--host H] [--port P] [--model NAME] [--api-key K] [--tokens N] "
            + "[--ttft-ms N] [--itl-ms N] [--fault-status N] [--reset-after-tokens K] [--stall-after-tokens K] "
            + "[--threads N] [--sim-seqs N [--sim-cache-blocks N] [--sim-block-tokens N] [--sim-prefill-us N] "
            + "[--sim-decode-tps N]]");
        return;
      }
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException(a + ": missing value");
      }
      String v = args[++i];
      switch (a) {
        case "--host" -> b.host(v);
        case "--port" -> b.port(Integer.parseInt(v));
        case "--model" -> b.servedModel(v);
        case "--api-key" -> b.apiKey(v.isEmpty() ? null : v);
        case "--tokens" -> b.tokens(Integer.parseInt(v));
        case "--ttft-ms" -> b.ttft(Duration.ofMillis(Long.parseLong(v)));
        case "--itl-ms" -> b.interTokenDelay(Duration.ofMillis(Long.parseLong(v)));
        case "--threads" -> b.threads(Integer.parseInt(v));
        case "--fault-status" -> status = Integer.parseInt(v);
        case "--reset-after-tokens" -> reset = Integer.parseInt(v);
        case "--stall-after-tokens" -> stall = Integer.parseInt(v);
        case "--sim-seqs" -> simSeqs = Integer.parseInt(v);
        case "--sim-cache-blocks" -> simBlocks = Integer.parseInt(v);
        case "--sim-block-tokens" -> simBlockTokens = Integer.parseInt(v);
        case "--sim-prefill-us" -> simPrefillUs = Double.parseDouble(v);
        case "--sim-decode-tps" -> simDecodeTps = Double.parseDouble(v);
        default -> throw new IllegalArgumentException("unknown option " + a + " (see --help)");
      }
    }
    if (simSeqs > 0) {
      b.simulate(simSeqs, simBlocks, simBlockTokens, simPrefillUs, simDecodeTps);
    }
    FakeVllm f = b.start();
    f.faults().status(status).resetAfterTokens(reset).stallAfterTokens(stall);
    log.info("fake vLLM listening on {}:{} (model {}, {})", b.host, f.port(), f.servedModel,
        f.apiKey == null ? "no api key" : "api key required");
    Runtime.getRuntime().addShutdownHook(new Thread(f::close));
    f.server.closeFuture().sync();
  }
}
