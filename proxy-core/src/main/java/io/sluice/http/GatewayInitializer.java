package io.sluice.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.sluice.config.ServerSettings;
import java.util.function.Supplier;

/**
 * Builds a client channel's pipeline; it reads as the request's path through the gateway (ARCHITECTURE, "the hot
 * path"): [tls] → head watch → codec (Sluice's strict request decoder, Netty's response encoder, keep-alive) → guard
 * → auth → admin UI → local endpoints → management → body inspection → relay.
 */
public final class GatewayInitializer extends ChannelInitializer<Channel> {
  private final GatewayContext gw;
  private final HttpDecoderConfig decoderConfig;
  /** One per gateway (its series holders are shared by every channel); null without metrics. */
  private final RequestMetrics metrics;
  /** Told of every exchange's end: metering → metrics → access log (one per gateway). */
  private final ExchangeObserver observer;
  /** The listener's current TLS context, read once per new connection; null = plain HTTP. */
  private final Supplier<io.netty.handler.ssl.SslContext> tls;
  /** {@code sluice_settings.cache_isolation}: one per gateway, its salts shared by every channel; null = off. */
  private final CacheSalts salts;

  public GatewayInitializer(GatewayContext gw) {
    this(gw, null);
  }

  /**
   * @param tls the listener's TLS context, asked once per accepted connection (so a reloaded certificate serves new
   *            connections while open ones keep the engine they started with); null = plain HTTP
   */
  public GatewayInitializer(GatewayContext gw, Supplier<io.netty.handler.ssl.SslContext> tls) {
    this.gw = gw;
    this.tls = tls;
    this.metrics = gw.metrics() == null ? null : new RequestMetrics(gw.metrics());
    if (metrics != null) {
      // Holders of deployments replaced or removed by /model/* are let go (their series stay).
      gw.metrics().beforeScrape(() -> {
        java.util.Set<io.sluice.routing.Deployment> live = new java.util.HashSet<>();
        for (io.sluice.routing.ModelGroup g : gw.registry().get().groups()) {
          live.addAll(g.deployments());
        }
        metrics.forget(live);
      });
    }
    this.observer = new ExchangeObserver(metrics, gw.accessLog(), gw.tracing());
    this.salts = CacheSalts.of(gw);
    ServerSettings s = gw.server();
    this.decoderConfig = new HttpDecoderConfig()
        .setMaxInitialLineLength(s.maxUriLength())
        .setMaxHeaderSize(s.maxHeaderSize())
        .setMaxChunkSize(65536);
  }

  /** The handler that a pooled upstream channel ends with; give it to {@code UpstreamPools}. */
  public static Supplier<ChannelHandler> upstreamHandlers() {
    return UpstreamHandler::new;
  }

  @Override
  protected void initChannel(Channel ch) {
    ClientConnection conn = new ClientConnection(ch);
    ChannelPipeline p = ch.pipeline();
    RequestGuard guard = new RequestGuard(conn, gw.server(), gw.maxRequestBodyBytes(), gw.drain(),
        gw.passThrough().endpoints(), observer, gw.metrics() != null && !gw.metrics().requireAuth());
    addTlsHandler(p, ch);
    addHttp1Handlers(p, guard);
    addGatewayHandlers(p, conn, guard);
    p.addLast("last-resort", new LastResort(guard));
  }

  /** First in the pipeline: everything after it sees plaintext. ALPN offers only http/1.1 (see the context). */
  private void addTlsHandler(ChannelPipeline p, Channel ch) {
    if (tls != null) {
      p.addLast("tls", tls.get().newHandler(ch.alloc()));
    }
  }

  private void addHttp1Handlers(ChannelPipeline p, RequestGuard guard) {
    p.addLast("headwatch", guard.headWatch()); // request_read_timeout from a head's first byte (plaintext)
    // Strict RFC 9112 framing, and persistence (HttpServerKeepAliveHandler's rules, folded in: one hop fewer).
    p.addLast("codec", new io.sluice.http.wire.WireServerCodec(decoderConfig));
  }

  private void addGatewayHandlers(ChannelPipeline p, ClientConnection conn, RequestGuard guard) {
    p.addLast("guard", guard);
    p.addLast("auth", new AuthHandler(conn, gw.authenticator(), gw.ui()));
    p.addLast("ui", new UiHandler(conn, gw.ui(), gw.authenticator(), gw.registry()));
    p.addLast("local", new LocalEndpoints(gw.registry(), gw.version(), gw.drain(), gw.readiness(), gw.metrics(),
        gw.health(), gw.management().routes(), gw.passThrough()));
    p.addLast("management", new ManagementHandler(conn, gw.management()));
    p.addLast("body", new BodyInspector(gw.registry(), gw.passThrough(), UpstreamRelay.metered(gw), salts));
    p.addLast("relay", new UpstreamRelay(gw, metrics));
  }
}
