package io.sluice.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The end of a client channel's pipeline: where a handler's bug lands. An exception thrown by any gateway handler
 * (or handed here by an async resume: key lookup, limiter, pool, admin call) fails the exchange in progress with a
 * LiteLLM-shaped 500 — or, once its response started, ends it as {@link Exchange#fail} would — logs it once with
 * the channel and request id, and closes the connection, whose state can no longer be trusted. Every handler
 * releases what it holds when the channel closes. Anything read that reaches here is released. Event loop only.
 *
 * <p>Pipeline position ({@link GatewayInitializer}): last-resort — the end of the pipeline. Owns nothing but the
 * failure path.
 */
final class LastResort extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(LastResort.class);

  private final RequestGuard guard;

  LastResort(RequestGuard guard) {
    this.guard = guard;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    ReferenceCountUtil.release(msg); // nothing should get this far; never leak it
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    Exchange ex = guard.current();
    if (!ctx.channel().isActive()) {
      log.debug("{} [{}] error after close: {}", ctx.channel(), ex == null ? "-" : ex.requestId, cause.toString());
      return;
    }
    log.error("{} [{}] internal error, closing the connection", ctx.channel(), ex == null ? "-" : ex.requestId,
        cause);
    if (ex != null && !ex.responseComplete()) {
      ex.requestComplete = true;
      ex.fail(ProxyError.INTERNAL, "Internal error in Sluice; the operator can see the cause in Sluice's log "
          + "(request id " + ex.requestId + ").", true);
    }
    ctx.close();
  }
}
