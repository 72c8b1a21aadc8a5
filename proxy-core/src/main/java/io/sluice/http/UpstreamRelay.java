package io.sluice.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import io.sluice.routing.Deployment;
import io.sluice.upstream.PoolExhaustedException;
import io.sluice.upstream.UpstreamPools;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last client-side handler: sends each inspected exchange to its deployment over a pooled connection from
 * this channel's own event loop, and ties the two channels' lifetimes together.
 *
 * <ul>
 *   <li>Request: headers edited in place by {@link HeaderRules}, URI = the deployment's base path + the route's
 *       path + the client's query, body written as the retained buffers the inspector gathered.</li>
 *   <li>A reused connection that fails before any response byte (the replica closed it while idle) is retried once
 *       on another connection, as Go's {@code http.Transport} does; the body is kept until the first response
 *       byte for that. A fresh connection that fails → 502.</li>
 *   <li>No response head within the deployment's {@code timeout} (else {@code router_settings.timeout}, else
 *       {@code litellm_settings.request_timeout}) → 504, and the upstream connection is closed.</li>
 *   <li>Client gone → the upstream connection is closed at once, which is how vLLM learns to abort the
 *       generation (vllm-wire.md §7). Client not writable → upstream reads stop until it drains.</li>
 * </ul>
 * Event loop only.
 */
final class UpstreamRelay extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(UpstreamRelay.class);
  private static final int MAX_STALE_RETRIES = 2;

  private final GatewayContext gw;
  private ChannelHandlerContext ctx;
  private Exchange active;
  private UpstreamHandler upstream;
  private ScheduledFuture<?> ttfbTimer;
  private long ttfbDeadline;
  private long ttfbMillis;
  private int staleRetries;

  UpstreamRelay(GatewayContext gw) {
    this.gw = gw;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      start(ex);
    } else {
      ReferenceCountUtil.release(msg); // nothing else reaches the end of the pipeline
    }
  }

  private void start(Exchange ex) {
    active = ex;
    staleRetries = 0;
    Deployment d = ex.deployment;
    HttpRequest req = ex.request;
    req.setProtocolVersion(HttpVersion.HTTP_1_1);
    req.setUri(d.basePath() + ex.route.upstreamSuffix + ex.query);
    HeaderRules.toUpstream(req.headers(), ex.credentialHeader, d.hostHeader(), d.authorization(), ex.requestId);
    req.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, ex.body.readableBytes());
    acquire(ex);
  }

  private void acquire(Exchange ex) {
    Future<Channel> f = gw.pools().acquire(ctx.channel().eventLoop(), ex.deployment.endpoint());
    if (f.isDone()) {
      onAcquired(ex, f);
    } else {
      f.addListener(x -> onAcquired(ex, f));
    }
  }

  private void onAcquired(Exchange ex, Future<Channel> f) {
    if (active != ex || ex.responseComplete()) {
      if (f.isSuccess()) {
        gw.pools().release(f.getNow()); // the client left while we waited
      }
      return;
    }
    if (!f.isSuccess()) {
      active = null;
      Throwable cause = f.cause();
      if (cause instanceof PoolExhaustedException) {
        ex.fail(ProxyError.UPSTREAM_POOL_EXHAUSTED, "Replica " + ex.deployment.id() + " of model " + ex.model
            + " is at its connection limit: " + cause.getMessage() + ". Retry later.");
      } else {
        ex.fail(ProxyError.UPSTREAM_UNREACHABLE, "Replica " + ex.deployment.id() + " of model " + ex.model
            + " is unreachable: " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
      }
      return;
    }
    Channel ch = f.getNow();
    UpstreamHandler h = (UpstreamHandler) ch.pipeline().get(UpstreamPools.RELAY_HANDLER);
    upstream = h;
    h.bind(this, ex);
    ch.config().setAutoRead(ctx.channel().isWritable());
    ch.write(ex.request, ch.voidPromise());
    ch.writeAndFlush(new DefaultLastHttpContent(ex.body.retainedDuplicate())).addListener(
        (ChannelFutureListener) wf -> {
          if (wf.isSuccess()) {
            h.requestWritten = true;
          } else if (upstream == h) {
            upstreamFailed(ex, h, "refused the request (" + wf.cause().getMessage() + ")");
          }
        });
    armTtfbTimer(ex, h);
  }

  /**
   * Arms the first-byte deadline. One timer per client connection is kept and re-armed lazily: when it fires early
   * (the deadline moved on with a later request) it schedules itself for the remainder, so a keep-alive connection
   * does not pay a schedule and a cancel on the event loop's timer queue for every request.
   */
  private void armTtfbTimer(Exchange ex, UpstreamHandler h) {
    Duration t = ex.deployment.timeout() != null ? ex.deployment.timeout() : gw.defaultTimeout();
    ttfbMillis = t.toMillis();
    ttfbDeadline = ctx.executor().ticker().nanoTime() + t.toNanos();
    if (ttfbTimer == null) {
      ttfbTimer = ctx.executor().schedule(this::onTtfbTimer, t.toNanos(), TimeUnit.NANOSECONDS);
    } else if (ttfbTimer.getDelay(TimeUnit.NANOSECONDS) > t.toNanos()) {
      ttfbTimer.cancel(false); // a shorter deadline than the pending check: check sooner
      ttfbTimer = ctx.executor().schedule(this::onTtfbTimer, t.toNanos(), TimeUnit.NANOSECONDS);
    }
  }

  private void onTtfbTimer() {
    ttfbTimer = null;
    UpstreamHandler h = upstream;
    Exchange ex = active;
    if (h == null || ex == null || h.responseStarted) {
      return; // nothing waits for a first byte; the next request arms a new timer
    }
    long left = ttfbDeadline - ctx.executor().ticker().nanoTime();
    if (left > 0) {
      ttfbTimer = ctx.executor().schedule(this::onTtfbTimer, left, TimeUnit.NANOSECONDS);
      return;
    }
    detach(h, false);
    active = null;
    ex.fail(ProxyError.UPSTREAM_TIMEOUT, "Replica " + ex.deployment.id() + " of model " + ex.model
        + " sent no response within " + ttfbMillis + " ms (the deployment's timeout, else router_settings.timeout, "
        + "else litellm_settings.request_timeout).");
  }

  private void cancelTimer() {
    if (ttfbTimer != null) {
      ttfbTimer.cancel(false);
      ttfbTimer = null;
    }
  }

  /** The replica's response head is about to go to the client: no retry from here on. */
  void responseStarted(Exchange ex, UpstreamHandler h) {
    ex.releaseBody(); // no retry from here on; the lazy first-byte timer sees responseStarted and stands down
  }

  /** The response is complete. */
  void upstreamDone(Exchange ex, UpstreamHandler h, boolean reusable) {
    detach(h, reusable);
    if (active == ex) {
      active = null;
    }
  }

  /** The upstream connection broke or misbehaved while bound to {@code ex}. */
  void upstreamFailed(Exchange ex, UpstreamHandler h, String what) {
    if (upstream != h) {
      return;
    }
    boolean started = h.responseStarted;
    boolean reused = h.served > 0;
    detach(h, false);
    if (!started && reused && staleRetries < MAX_STALE_RETRIES && active == ex && ctx.channel().isActive()) {
      staleRetries++;
      log.debug("[{}] reused connection to {} {}: retrying on another", ex.requestId, ex.deployment.id(), what);
      acquire(ex);
      return;
    }
    if (active == ex) {
      active = null;
    }
    if (!started) {
      ex.fail(ProxyError.UPSTREAM_UNREACHABLE, "Replica " + ex.deployment.id() + " of model " + ex.model + " "
          + what + " before responding.");
    } else {
      log.info("[{}] replica {} {} mid-response", ex.requestId, ex.deployment.id(), what);
      ex.fail(ProxyError.UPSTREAM_BROKEN, "Replica " + ex.deployment.id() + " of model " + ex.model + " " + what
          + " mid-response; the response is incomplete.");
    }
  }

  /** Unbinds the upstream channel, returning it to the pool when reusable, else closing it. */
  private void detach(UpstreamHandler h, boolean reusable) {
    if (upstream == h) {
      upstream = null;
    }
    h.unbind();
    Channel ch = h.channel();
    if (reusable) {
      ch.config().setAutoRead(true);
      gw.pools().release(ch);
    } else {
      ch.close();
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    UpstreamHandler h = upstream;
    if (h != null) {
      h.channel().config().setAutoRead(ctx.channel().isWritable());
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    cancelTimer();
    UpstreamHandler h = upstream;
    if (h != null) {
      // Client gone: closing the upstream connection is what makes vLLM abort the generation.
      Exchange ex = active;
      log.debug("[{}] client gone: closing upstream connection", ex == null ? "-" : ex.requestId);
      detach(h, false);
    }
    if (active != null) {
      active.releaseBody();
      active = null;
    }
    ctx.fireChannelInactive();
  }
}
