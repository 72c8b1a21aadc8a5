package io.sluice.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.resolver.dns.DnsAddressResolverGroup;
import io.netty.resolver.dns.DnsNameResolverBuilder;
import io.sluice.auth.Authenticator;
import io.sluice.auth.KeyStore;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import io.sluice.http.Drain;
import io.sluice.http.GatewayContext;
import io.sluice.http.GatewayInitializer;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.RegistryHolder;
import io.sluice.routing.Strategy;
import io.sluice.upstream.UpstreamPools;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running gateway: one server socket on an acceptor thread of its own, one event loop group shared by client and
 * upstream channels (an upstream connection lives on the loop of the client it serves). {@link #close()} stops
 * accepting and shuts the loops down.
 */
public final class SluiceServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SluiceServer.class);

  private final EventLoopGroup group;
  private final DnsAddressResolverGroup resolver;
  private final Channel serverChannel;
  private final RegistryHolder registry;
  private final Drain drain;
  private final VllmLoadScraper scraper;
  private final ReplicaProber prober;
  /** {@code /health}'s real probes (null with {@code background_health_checks}). */
  private DeploymentProbe healthProbe;
  /** {@code /health} probes in flight at once per node, over all deployments; the rest queue. */
  static final int MAX_CONCURRENT_HEALTH_PROBES = 8;
  private final AutoCloseable closeWith;
  /** Counted down when {@link #close()} has finished (the admin plane flushed its spend rows). */
  private final java.util.concurrent.CountDownLatch closed = new java.util.concurrent.CountDownLatch(1);
  private final java.util.concurrent.atomic.AtomicBoolean closing = new java.util.concurrent.atomic.AtomicBoolean();
  private final io.sluice.http.AccessLog accessLog;
  private final io.sluice.metrics.GatewayMetrics metrics;
  /** The listener's certificate, reloaded on change; null on a plain-HTTP listener. */
  private volatile ListenerTls tls;
  /** The OpenTelemetry SDK, or null when tracing is off. */
  private volatile OtelTracing otel;
  /** Finds the replicas of k8s:// deployments; null when there are none. */
  private volatile io.sluice.routing.ReplicaDiscovery discovery;
  /** What a warm-up needs (tests run one on demand): the configuration, the gateway, the transport. */
  private SluiceConfig config;
  private GatewayContext gateway;
  private Transport transport;
  private EventLoopGroup acceptor;

  private SluiceServer(EventLoopGroup group, DnsAddressResolverGroup resolver, Channel serverChannel,
      RegistryHolder registry, Drain drain, VllmLoadScraper scraper, ReplicaProber prober, AutoCloseable closeWith,
      io.sluice.http.AccessLog accessLog, io.sluice.metrics.GatewayMetrics metrics) {
    this.metrics = metrics;
    this.closeWith = closeWith;
    this.accessLog = accessLog;
    this.scraper = scraper;
    this.prober = prober;
    this.group = group;
    this.resolver = resolver;
    this.serverChannel = serverChannel;
    this.registry = registry;
    this.drain = drain;
  }

  /** What to start. {@code threads} 0 = one event loop per available processor. */
  public record Options(String host, int port, int threads, Secret masterKey, boolean allowUnauthenticated,
      KeyStore keyStore, boolean nativeTransport, io.sluice.management.ManagementApi management,
      io.sluice.http.Readiness readiness, RegistryHolder registry, AutoCloseable closeWith,
      io.sluice.http.Metering metering, io.sluice.routing.ReplicaDiscovery discovery, String transport) {

    /** Discovery of {@code k8s://} replicas from the environment (the pod's service account) when there are any. */
    public Options(String host, int port, int threads, Secret masterKey, boolean allowUnauthenticated,
        KeyStore keyStore, boolean nativeTransport, io.sluice.management.ManagementApi management,
        io.sluice.http.Readiness readiness, RegistryHolder registry, AutoCloseable closeWith,
        io.sluice.http.Metering metering) {
      this(host, port, threads, masterKey, allowUnauthenticated, keyStore, nativeTransport, management, readiness,
          registry, closeWith, metering, null, "auto");
    }

    public Options(String host, int port, int threads, Secret masterKey, boolean allowUnauthenticated,
        KeyStore keyStore, boolean nativeTransport, io.sluice.management.ManagementApi management,
        io.sluice.http.Readiness readiness, RegistryHolder registry, AutoCloseable closeWith) {
      this(host, port, threads, masterKey, allowUnauthenticated, keyStore, nativeTransport, management, readiness,
          registry, closeWith, io.sluice.http.Metering.NONE);
    }

    /** Without an admin plane: master key (or the given key store) only, deployments from the config. */
    public Options(String host, int port, int threads, Secret masterKey, boolean allowUnauthenticated,
        KeyStore keyStore, boolean nativeTransport) {
      this(host, port, threads, masterKey, allowUnauthenticated, keyStore, nativeTransport,
          io.sluice.management.ManagementApi.NONE, io.sluice.http.Readiness.NO_DATABASE, null, null);
    }

    /**
     * With an admin plane: its key store, management API, readiness and the registry it keeps up to date; the
     * plane is closed with the server.
     */
    public Options withAdminPlane(AdminPlane plane) {
      return new Options(host, port, threads, masterKey, allowUnauthenticated, plane.keys(), nativeTransport,
          plane.api(), plane.readiness(), plane.registry(), plane, plane.metering(), discovery, transport);
    }

    /** With {@code r} as the deployment registry (built by the caller: a test's clock, say) instead of a new one. */
    public Options withRegistry(RegistryHolder r) {
      return new Options(host, port, threads, masterKey, allowUnauthenticated, keyStore, nativeTransport, management,
          readiness, r, closeWith, metering, discovery, transport);
    }

    /**
     * With {@code discovery} finding the replicas of {@code k8s://} deployments (instead of a Kubernetes client
     * from the environment); it is closed with the server.
     */
    public Options withDiscovery(io.sluice.routing.ReplicaDiscovery d) {
      return new Options(host, port, threads, masterKey, allowUnauthenticated, keyStore, nativeTransport, management,
          readiness, registry, closeWith, metering, d, transport);
    }

    /**
     * With the socket transport {@code t}: {@code auto} (epoll where its native library loads, else NIO),
     * {@code epoll}, {@code io_uring} or {@code nio}; a native one that cannot load fails the start with its cause.
     */
    public Options withTransport(String t) {
      return new Options(host, port, threads, masterKey, allowUnauthenticated, keyStore, nativeTransport, management,
          readiness, registry, closeWith, metering, discovery, t);
    }

    public Options {
      java.util.Objects.requireNonNull(management, "management");
      Transport.check(transport);
      java.util.Objects.requireNonNull(readiness, "readiness");
      java.util.Objects.requireNonNull(metering, "metering");
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("port: " + port + " (expected: 0-65535)");
      }
      if (threads < 0) {
        throw new IllegalArgumentException("threads: " + threads + " (expected: >= 0)");
      }
      if (masterKey == null && !allowUnauthenticated) {
        throw new IllegalArgumentException("no master key: set general_settings.master_key, LITELLM_MASTER_KEY or "
            + "SLUICE_MASTER_KEY, or start with --allow-unauthenticated");
      }
    }

    public static Options of(String host, int port, Secret masterKey) {
      return new Options(host, port, 0, masterKey, false, KeyStore.NONE, true);
    }
  }

  /** Without the start-up warm-up: ready at once (tests, embedding). */
  public static SluiceServer start(SluiceConfig config, Options o) throws InterruptedException {
    return start(config, o, Duration.ZERO);
  }

  /**
   * Starts the gateway; with {@code warmup} > 0, readiness answers 503 while synthetic traffic warms the relay
   * ({@link Warmup}) for at most that long, then 200. The listener serves real clients meanwhile.
   */
  public static SluiceServer start(SluiceConfig config, Options o, Duration warmup) throws InterruptedException {
    Transport transport = Transport.of(o.transport(), o.nativeTransport());
    int threads = o.threads() > 0 ? o.threads() : Runtime.getRuntime().availableProcessors();
    EventLoopGroup group = transport.newGroup(threads);
    // The listening socket gets a thread of its own: accepting never waits behind relay work on the event loops, so
    // a burst of thousands of new clients is taken off the kernel's listen queue (somaxconn) before it overflows and
    // costs those clients SYN retries and resets (ManyStreamsTest, 8 000 at once). Idle otherwise.
    EventLoopGroup acceptor = transport.newGroup(1);
    DnsAddressResolverGroup resolver = new DnsAddressResolverGroup(
        new DnsNameResolverBuilder().datagramChannelType(transport.datagramChannel()));
    io.sluice.http.AccessLog accessLog = io.sluice.http.AccessLog.NONE;
    ListenerTls tls = null;
    DeploymentProbe healthProbe = null;
    io.sluice.routing.ReplicaDiscovery discovery = null;
    OtelTracing otel = null;
    try {
      otel = OtelTracing.start(config, System.getenv());
      if (config.server().tls()) {
        tls = ListenerTls.start(config.server().tlsCertFile(), config.server().tlsKeyFile(),
            config.server().tlsReloadInterval());
      }
      RegistryHolder registry = o.registry() != null ? o.registry()
          : new RegistryHolder(config.modelList(), config.router());
      UpstreamPools pools = new UpstreamPools(config.server(), transport.clientChannels(), resolver,
          GatewayInitializer.upstreamHandlers());
      Authenticator auth = new Authenticator(o.masterKey(), o.allowUnauthenticated(),
          config.general().keyHeaderName(), o.keyStore(), Clock.systemUTC());
      Duration defaultTimeout = config.router().timeout() != null ? config.router().timeout()
          : config.litellm().requestTimeout();
      Drain drain = new Drain();
      accessLog = io.sluice.http.AccessLog.start();
      Strategy strategy = Strategy.of(config.router().routingStrategy());
      if (strategy == null) {
        strategy = Strategy.SIMPLE_SHUFFLE;
      }
      io.sluice.metrics.GatewayMetrics metrics = new io.sluice.metrics.GatewayMetrics(
          config.server().metricsKeyLabels(), config.litellm().requireAuthForMetrics());
      WarmingReadiness readiness = new WarmingReadiness(o.readiness(), warmup.compareTo(Duration.ZERO) > 0);
      // LiteLLM: with background_health_checks, /health answers the background results; else a real call each.
      healthProbe = config.general().backgroundHealthChecks() ? null
          : new DeploymentProbe(config.server().connectTimeout(), config.server().healthCheckTimeout());
      GatewayContext gw = new GatewayContext(config.server(), config.general().maxRequestSizeBytes(),
          defaultTimeout, auth, registry, pools, Version.get(), config.router().numRetries(),
          config.router().cooldownTime(), drain, config.router().streamTimeout(), strategy,
          o.management(), readiness, io.sluice.routing.PassThroughTargets.of(config.passThrough(),
              config.router()), o.metering(), accessLog, metrics,
          o.management() == io.sluice.management.ManagementApi.NONE ? null : io.sluice.auth.UiSessions.defaults(),
          otel == null ? null : otel.tracing(),
          healthProbe == null ? null : new io.sluice.routing.EndpointHealth(healthProbe,
              config.server().healthCheckTtl(), config.server().healthCheckTimeout(), MAX_CONCURRENT_HEALTH_PROBES),
          io.sluice.http.AdmissionGate.of(config.router().admission(), registry));
      if (otel != null) {
        otel.install(metrics);
      }
      io.sluice.http.GatewayGauges.install(metrics, gw,
          o.keyStore() instanceof io.sluice.auth.LayeredKeyStore keys ? keys : null);
      ServerMetrics.install(metrics, group, o.closeWith() instanceof AdminPlane plane ? plane : null);
      metrics.exposition(new PrometheusExposition(metrics));
      ServerBootstrap b = new ServerBootstrap()
          .group(acceptor, group)
          .channel(transport.serverChannel())
          .option(ChannelOption.SO_BACKLOG, 4096)
          .option(ChannelOption.SO_REUSEADDR, true)
          .childOption(ChannelOption.TCP_NODELAY, true)
          .childOption(ChannelOption.SO_KEEPALIVE, true)
          .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(64 * 1024, 128 * 1024))
          .childHandler(new GatewayInitializer(gw, tls));
      Channel ch = b.bind(new InetSocketAddress(o.host(), o.port())).sync().channel();
      log.info("Sluice {} listening on {} ({}, {} transport, {} event loops, {} model groups)", Version.get(),
          ch.localAddress(), tls != null ? "https" : "http", transport.name(), threads, registry.get().size());
      discovery = watchDiscovered(config, registry, o.discovery());
      for (String w : ConfigReport.publicPassThroughWarnings(config)) {
        log.warn("{}", w);
      }
      if (registry.get().size() == 0) {
        log.warn("NO MODEL DEPLOYMENTS: model_list {} and the database holds none, so every model request is "
            + "refused with 400. Add model_list entries (sluice check --config FILE shows what was read) or "
            + "POST /model/new.", config.modelList().isEmpty() ? "is empty" : "has none");
      }
      boolean scrape = strategy == Strategy.VLLM_LOAD
          || strategy == Strategy.PREFIX_AFFINITY && config.router().affinity().needsScrape()
          || config.router().admission().needsScrape(); // fair admission's vLLM thresholds
      VllmLoadScraper scraper = scrape ? new VllmLoadScraper(registry, Duration.ofSeconds(1)) : null;
      ReplicaProber prober = config.general().backgroundHealthChecks()
          ? new ReplicaProber(registry, config.general().healthCheckInterval()) : null;
      log.info("Routing strategy {}{}", strategy.wireName(), prober == null ? ""
          : ", background health checks every " + config.general().healthCheckInterval());
      SluiceServer server = new SluiceServer(group, resolver, ch, registry, drain, scraper, prober, o.closeWith(),
          accessLog, metrics);
      server.tls = tls;
      server.otel = otel;
      server.healthProbe = healthProbe;
      server.discovery = discovery;
      server.config = config;
      server.gateway = gw;
      server.transport = transport;
      server.acceptor = acceptor;
      if (readiness.warmingUp()) {
        startWarmup(config, gw, group, transport, resolver, warmup, readiness);
      }
      return server;
    } catch (InterruptedException | RuntimeException e) {
      if (tls != null) {
        tls.close();
      }
      if (healthProbe != null) {
        healthProbe.close();
      }
      if (discovery != null) {
        discovery.close();
      }
      accessLog.close();
      if (otel != null) {
        otel.close();
      }
      resolver.close();
      acceptor.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      throw e;
    }
  }

  private static void startWarmup(SluiceConfig config, GatewayContext gw, EventLoopGroup group, Transport transport,
      DnsAddressResolverGroup resolver, Duration max, WarmingReadiness readiness) {
    Thread t = new Thread(() -> {
      try {
        log.info("Warming up (readiness 503 until done, at most {} s): synthetic traffic through the relay",
            max.toSeconds());
        Warmup.Report r = Warmup.run(config, gw, group, transport.serverChannel(), transport.clientChannels(),
            resolver, max);
        log.info("Warm-up done in {} ms: {} requests ({} errors), {} spend rows rehearsed{}, {} ms of JIT "
            + "compilation, {}; readiness 200", r.took().toMillis(), r.requests(), r.errors(), r.rehearsedRows(),
            r.rehearsal() == null ? "" : " (" + r.rehearsal() + ")", r.compileMillis(),
            r.settled() ? "compiler settled" : "time limit reached");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        log.warn("warm-up failed (ready anyway): {}", e.toString());
      } finally {
        readiness.ready();
      }
    }, "sluice-warmup");
    t.setDaemon(true);
    t.start();
  }

  /** Readiness that also answers 503 until the start-up warm-up is done. */
  static final class WarmingReadiness implements io.sluice.http.Readiness {
    private final io.sluice.http.Readiness delegate;
    private volatile boolean warming;

    WarmingReadiness(io.sluice.http.Readiness delegate, boolean warming) {
      this.delegate = delegate;
      this.warming = warming;
    }

    void ready() {
      warming = false;
    }

    @Override
    public String database() {
      return delegate.database();
    }

    @Override
    public boolean databaseDown() {
      return delegate.databaseDown();
    }

    @Override
    public boolean warmingUp() {
      return warming;
    }
  }

  /**
   * Starts watching the service of every {@code k8s://} deployment of config.yaml; each change of its ready pods
   * replaces that template's replicas in the registry. Null when there is no such deployment.
   */
  private static io.sluice.routing.ReplicaDiscovery watchDiscovered(SluiceConfig config, RegistryHolder registry,
      io.sluice.routing.ReplicaDiscovery given) {
    java.util.List<io.sluice.config.DeploymentConfig> templates = config.modelList().stream()
        .filter(io.sluice.config.DeploymentConfig::discovered).toList();
    if (templates.isEmpty()) {
      if (given != null) {
        given.close();
      }
      return null;
    }
    io.sluice.routing.ReplicaDiscovery d = given != null ? given : KubernetesReplicaDiscovery.fromEnvironment();
    for (io.sluice.config.DeploymentConfig t : templates) {
      d.watch(t, bases -> registry.replicas(t.id(), bases));
    }
    return d;
  }

  /** Runs a warm-up now, on the caller's thread (tests). */
  Warmup.Report warmupForTest(Duration max) throws InterruptedException {
    return Warmup.run(config, gateway, group, transport.serverChannel(), transport.clientChannels(), resolver, max);
  }

  /** The port actually bound (useful with port 0). */
  /** The socket transport the gateway runs on: {@code epoll}, {@code io_uring} or {@code nio}. */
  public String transportName() {
    return transport.name();
  }

  public int port() {
    return ((InetSocketAddress) serverChannel.localAddress()).getPort();
  }

  public RegistryHolder registry() {
    return registry;
  }

  /** The gateway's metrics (what {@code /metrics} shows). */
  public io.sluice.metrics.GatewayMetrics metrics() {
    return metrics;
  }

  /**
   * Drains, then closes: readiness answers 503 and every response says {@code Connection: close} while in-flight
   * requests and streams finish, for at most {@code timeout}; new connections are still accepted meanwhile (so load
   * balancers see the 503). Returns the number of exchanges cut short by the timeout.
   */
  public int drainAndClose(Duration timeout) throws InterruptedException {
    log.info("Draining: readiness now 503; waiting up to {} for {} in-flight request(s)", timeout, drain.inFlight());
    int left = drain.drain(timeout);
    if (left > 0) {
      log.warn("Drain timeout: closing with {} request(s) still in flight", left);
    } else {
      log.info("Drained");
    }
    close();
    return left;
  }

  public Drain drain() {
    return drain;
  }

  /** Blocks until the server socket closes. */
  public void awaitClose() throws InterruptedException {
    serverChannel.closeFuture().sync();
    if (closing.get()) {
      closed.await(); // let close() finish (spend rows flushed) before the process exits
    }
  }

  @Override
  public void close() {
    if (!closing.compareAndSet(false, true)) {
      return;
    }
    try {
      closeNow();
    } finally {
      closed.countDown();
    }
  }

  /** The listener's TLS, or null on plain HTTP. */
  ListenerTls tls() {
    return tls;
  }

  private void closeNow() {
    if (tls != null) {
      tls.close();
    }
    if (discovery != null) {
      discovery.close();
    }
    if (scraper != null) {
      scraper.close();
    }
    if (prober != null) {
      prober.close();
    }
    if (healthProbe != null) {
      healthProbe.close();
    }
    serverChannel.close().awaitUninterruptibly();
    acceptor.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    resolver.close();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
    accessLog.close(); // the last lines: every exchange has ended
    if (otel != null) {
      otel.close(); // the last spans: every exchange has ended
    }
    if (closeWith != null) {
      try {
        closeWith.close();
      } catch (Exception e) {
        log.warn("closing the admin plane failed: {}", e.toString());
      }
    }
  }
}
