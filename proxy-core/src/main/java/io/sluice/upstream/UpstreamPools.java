package io.sluice.upstream;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.resolver.AddressResolverGroup;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.concurrent.Future;
import io.sluice.config.ServerSettings;
import io.sluice.http.wire.WireClientCodec;
import io.sluice.routing.Endpoint;
import java.net.SocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * HTTP/1.1 keep-alive connections to replicas, pooled per event loop and then per {@link Endpoint}, so a client
 * channel and the upstream channel serving it share one thread: no locks, no hops (ARCHITECTURE §6; the shape of
 * Armeria's {@code HttpChannelPool} and reactor-netty's colocated pools). Every method must be called on the event
 * loop passed to it.
 *
 * <p>Each upstream channel's pipeline is {@code [ssl] → http (WireClientCodec: Sluice's strict
 * response decoder, Netty's request encoder) → idle (IdleStateHandler) → relay}
 * where {@code relay} is the handler the caller's factory makes; it owns what the channel reads.
 *
 * <p>Limits, per event loop and endpoint: {@code max_connections_per_replica} open at once (more callers wait, up
 * to {@link #MAX_PENDING_ACQUIRES}, as long as a connect succeeds or a connection is handed over at least every
 * {@code connect_timeout}); {@code max_idle_per_replica} kept idle;
 * an idle connection is closed after {@code upstream_idle_timeout}.
 */
public final class UpstreamPools {
  /** Callers that may wait for a connection per event loop and endpoint; beyond it, acquiring fails at once. */
  public static final int MAX_PENDING_ACQUIRES = 16_384;
  /**
   * Connects under way at once per event loop and replica; further acquirers wait (as at the connection limit) for
   * a released connection or a free connect slot, while the line moves (see {@code ReplicaPool.Wait}).
   */
  public static final int MAX_CONCURRENT_CONNECTS = 64;
  public static final String RELAY_HANDLER = "relay";

  private final ServerSettings settings;
  private final ChannelFactory<? extends Channel> channelFactory;
  private final AddressResolverGroup<? extends SocketAddress> resolver;
  private final Supplier<ChannelHandler> relayHandlers;
  private final FastThreadLocal<Map<Endpoint, ReplicaPool>> perLoop = new FastThreadLocal<>() {
    @Override
    protected Map<Endpoint, ReplicaPool> initialValue() {
      return new HashMap<>();
    }
  };
  /** The loops that have pools, for {@link #stats()}. */
  private final java.util.Set<EventLoop> loops = java.util.concurrent.ConcurrentHashMap.newKeySet();
  final LongAdder connects = new LongAdder();
  final LongAdder connectFailures = new LongAdder();
  private volatile SslContext ssl;

  /**
   * @param channelFactory makes client socket channels matching the event loops' transport (NIO or epoll)
   * @param resolver       resolves replica host names without blocking the loop
   * @param relayHandlers  makes the last handler of each new upstream channel
   */
  public UpstreamPools(ServerSettings settings, ChannelFactory<? extends Channel> channelFactory,
      AddressResolverGroup<? extends SocketAddress> resolver, Supplier<ChannelHandler> relayHandlers) {
    this.settings = settings;
    this.channelFactory = channelFactory;
    this.resolver = resolver;
    this.relayHandlers = relayHandlers;
    if (settings.upstreamCaBundle() != null) {
      try {
        this.ssl = clientContext(settings); // a bad bundle stops start-up, not the first https request
      } catch (SSLException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
    }
  }

  /**
   * A connection to {@code endpoint} on {@code loop}: the most recently released healthy idle one, else a new one.
   * The future completes on {@code loop}. Call on {@code loop}.
   */
  public Future<Channel> acquire(EventLoop loop, Endpoint endpoint) {
    assert loop.inEventLoop();
    return pool(loop, endpoint).acquire();
  }

  /**
   * The most recently released healthy idle connection to {@code endpoint} on {@code loop}, or null (then
   * {@link #acquire}): the same choice without a future. Call on {@code loop}.
   */
  public Channel pollIdle(EventLoop loop, Endpoint endpoint) {
    assert loop.inEventLoop();
    return pool(loop, endpoint).pollIdle();
  }

  /** Gives a healthy connection, whose last response was read completely, back for reuse. Call on its loop. */
  public void release(Channel ch) {
    ReplicaPool p = ch.attr(ReplicaPool.POOL).get();
    if (p == null) {
      ch.close();
    } else {
      p.release(ch);
    }
  }

  /** Connections to one endpoint summed over every event loop. */
  public record PoolStats(Endpoint endpoint, int open, int idle, int pending) {}

  /**
   * Open, idle and waiting counts per endpoint, summed over the loops: each loop reads its own pools (they are not
   * thread-safe), so the answer comes once every loop has run the read. For metrics; never on the hot path.
   */
  public java.util.concurrent.CompletableFuture<java.util.List<PoolStats>> stats() {
    java.util.List<java.util.concurrent.CompletableFuture<java.util.List<PoolStats>>> parts = new java.util.ArrayList<>();
    for (EventLoop loop : loops) {
      java.util.concurrent.CompletableFuture<java.util.List<PoolStats>> f = new java.util.concurrent.CompletableFuture<>();
      try {
        loop.execute(() -> {
          java.util.List<PoolStats> out = new java.util.ArrayList<>();
          for (ReplicaPool p : perLoop.get().values()) {
            out.add(new PoolStats(p.endpoint(), p.open(), p.idle(), p.pending()));
          }
          f.complete(out);
        });
      } catch (java.util.concurrent.RejectedExecutionException e) {
        f.complete(java.util.List.of()); // the loop is shutting down
      }
      parts.add(f);
    }
    return java.util.concurrent.CompletableFuture.allOf(parts.toArray(java.util.concurrent.CompletableFuture[]::new))
        .thenApply(v -> {
          java.util.Map<Endpoint, int[]> sum = new java.util.LinkedHashMap<>();
          for (var part : parts) {
            for (PoolStats s : part.join()) {
              int[] a = sum.computeIfAbsent(s.endpoint(), e -> new int[3]);
              a[0] += s.open();
              a[1] += s.idle();
              a[2] += s.pending();
            }
          }
          java.util.List<PoolStats> out = new java.util.ArrayList<>();
          sum.forEach((e, a) -> out.add(new PoolStats(e, a[0], a[1], a[2])));
          return out;
        });
  }

  /** Connections that failed to open since start (all loops). */
  public long connectFailuresTotal() {
    return connectFailures.sum();
  }

  /** Total connections opened since start (all loops). */
  public long connectsTotal() {
    return connects.sum();
  }

  ReplicaPool pool(EventLoop loop, Endpoint endpoint) {
    Map<Endpoint, ReplicaPool> m = perLoop.get();
    ReplicaPool p = m.get(endpoint);
    if (p == null) {
      p = new ReplicaPool(this, loop, endpoint, bootstrap(loop, endpoint), settings);
      m.put(endpoint, p);
      loops.add(loop);
    }
    return p;
  }

  private Bootstrap bootstrap(EventLoop loop, Endpoint endpoint) {
    return new Bootstrap()
        .group(loop)
        .channelFactory(channelFactory)
        .resolver(resolver)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) settings.connectTimeout().toMillis())
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .remoteAddress(endpoint.host(), endpoint.port())
        .handler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel ch) throws SSLException {
            ChannelPipeline p = ch.pipeline();
            if (endpoint.tls()) {
              SSLEngine engine = sslContext().newEngine(ch.alloc(), endpoint.host(), endpoint.port());
              SSLParameters params = engine.getSSLParameters();
              params.setEndpointIdentificationAlgorithm("HTTPS");
              engine.setSSLParameters(params);
              p.addLast("ssl", new SslHandler(engine));
            }
            p.addLast("http", new WireClientCodec(new HttpDecoderConfig()
                .setMaxInitialLineLength(8192)
                .setMaxHeaderSize(65536)
                .setMaxChunkSize(65536)));
            // Reader idle, not all idle: a pooled connection that idles reads nothing, and a handler that also
            // watches writes turns every void-promise write of the relay into a real promise with a listener.
            p.addLast("idle", new IdleStateHandler(settings.upstreamIdleTimeout().toMillis(), 0, 0,
                TimeUnit.MILLISECONDS));
            p.addLast(RELAY_HANDLER, relayHandlers.get());
          }
        });
  }

  private SslContext sslContext() throws SSLException {
    SslContext c = ssl;
    if (c == null) {
      synchronized (this) {
        c = ssl;
        if (c == null) {
          ssl = c = clientContext(settings);
        }
      }
    }
    return c;
  }

  /**
   * The client context for {@code https} replicas: TLS 1.3/1.2; certificates and host names are always verified
   * (HTTPS endpoint identification on every engine); {@code upstream_ca_bundle} replaces the JDK's trust store, e.g.
   * for replicas behind an internal CA.
   */
  private static SslContext clientContext(ServerSettings settings) throws SSLException {
    SslContextBuilder b = SslContextBuilder.forClient().protocols("TLSv1.3", "TLSv1.2");
    java.nio.file.Path ca = settings.upstreamCaBundle();
    if (ca != null) {
      try {
        b.trustManager(ca.toFile());
      } catch (IllegalArgumentException e) {
        throw new SSLException("sluice_settings.upstream_ca_bundle: " + ca + " holds no readable PEM certificate ("
            + e.getMessage() + "); expected one or more -----BEGIN CERTIFICATE----- blocks", e);
      }
    }
    return b.build();
  }
}
