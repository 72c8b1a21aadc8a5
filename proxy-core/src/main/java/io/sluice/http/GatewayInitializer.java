package io.sluice.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.sluice.config.ServerSettings;
import java.util.function.Supplier;

/**
 * Builds a client channel's pipeline; it reads as the request's path through the gateway (ARCHITECTURE, "the hot
 * path"): codec → keep-alive → guard → auth → admin UI → local endpoints → management → body inspection → relay.
 */
public final class GatewayInitializer extends ChannelInitializer<Channel> {
  private final GatewayContext gw;
  private final HttpDecoderConfig decoderConfig;
  /** One per gateway (its series holders are shared by every channel); null without metrics. */
  private final RequestMetrics metrics;

  public GatewayInitializer(GatewayContext gw) {
    this.gw = gw;
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
    addHttp1Handlers(p);
    addGatewayHandlers(p, conn);
  }

  private void addHttp1Handlers(ChannelPipeline p) {
    p.addLast("codec", new HttpServerCodec(decoderConfig));
    p.addLast("keepalive", new HttpServerKeepAliveHandler());
  }

  private void addGatewayHandlers(ChannelPipeline p, ClientConnection conn) {
    p.addLast("guard", new RequestGuard(conn, gw.server(), gw.maxRequestBodyBytes(), gw.drain(),
        gw.passThrough().endpoints(), gw.accessLog(), metrics, gw.metrics() != null && !gw.metrics().requireAuth()));
    p.addLast("auth", new AuthHandler(conn, gw.authenticator(), gw.ui()));
    p.addLast("ui", new UiHandler(conn, gw.ui(), gw.authenticator(), gw.registry()));
    p.addLast("local", new LocalEndpoints(gw.registry(), gw.version(), gw.drain(), gw.readiness(), gw.metrics()));
    p.addLast("management", new ManagementHandler(conn, gw.management()));
    p.addLast("body", new BodyInspector(gw.registry(), gw.passThrough(), UpstreamRelay.metered(gw)));
    p.addLast("relay", new UpstreamRelay(gw, metrics));
  }
}
