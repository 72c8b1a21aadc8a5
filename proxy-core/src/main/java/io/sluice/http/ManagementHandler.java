package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.sluice.management.ManagementApi;
import io.sluice.management.ManagementRequest;
import io.sluice.management.ManagementResponse;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the {@link Route#MANAGEMENT} routes: collects the (bounded: the guard enforces the body limit) request
 * body, hands the call to the {@link ManagementApi} port, and writes its answer when it completes — on this
 * channel's event loop, with reads paused meanwhile. Other routes pass on untouched. Management bodies are small
 * admin JSON documents, so aggregating them here is fine; LLM routes never come here.
 *
 * <p>Pipeline position ({@link GatewayInitializer}): management — after local endpoints, before body inspection. Owns
 * the admin calls' bodies and answers.
 */
final class ManagementHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(ManagementHandler.class);
  static final AsciiString CHANGED_BY = AsciiString.cached("litellm-changed-by");

  private final ClientConnection conn;
  private final ManagementApi api;
  private Exchange current;
  private CompositeByteBuf body;

  ManagementHandler(ClientConnection conn, ManagementApi api) {
    this.conn = conn;
    this.api = api;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      reset();
      if (ex.route != Route.MANAGEMENT) {
        ctx.fireChannelRead(ex);
        return;
      }
      current = ex;
      body = ctx.alloc().compositeBuffer(64);
      // The call waits for the body's LastHttpContent, which always follows the head here — never for
      // ex.requestComplete: after an async key lookup the guard saw the end long ago while the chunks are still on
      // their way from the auth step (issue 14, finding 1: a cold key's /key/generate lost its body).
      return;
    }
    if (current != null && msg instanceof HttpContent c) {
      Exchange ex = current;
      if (ex.responseStarted()) {
        c.release();
        return;
      }
      body.addComponent(true, c.content());
      if (c instanceof LastHttpContent) {
        call(ctx, ex);
      }
      return;
    }
    ctx.fireChannelRead(msg);
  }

  private void call(ChannelHandlerContext ctx, Exchange ex) {
    byte[] bytes = ByteBufUtil.getBytes(body);
    body.release();
    body = null;
    current = null;
    ManagementRequest req = new ManagementRequest(ex.request.method().name(), ex.path,
        ex.query.isEmpty() ? "" : ex.query.substring(1), bytes, ex.principal, ex.requestId,
        ex.request.headers().get(CHANGED_BY));
    CompletionStage<ManagementResponse> answer;
    try {
      answer = api.handle(req);
    } catch (RuntimeException e) {
      log.error("[{}] management call {} {} failed", ex.requestId, req.method(), PathNormalizer.redacted(req.path()), e);
      ex.fail(ProxyError.INTERNAL, "Internal error while handling " + PathNormalizer.redacted(ex.path) + "; the operator can see the cause "
          + "in Sluice's log (request id " + ex.requestId + ").");
      return;
    }
    answer.whenCompleteAsync((res, err) -> {
      try {
        answered(ex, req, res, err);
      } catch (RuntimeException e) {
        ctx.fireExceptionCaught(e); // the pipeline's last-resort handler fails the exchange and closes
      }
    }, ctx.executor());
  }

  private void answered(Exchange ex, ManagementRequest req, ManagementResponse res, Throwable err) {
    if (err != null) {
      log.error("[{}] management call {} {} failed", ex.requestId, req.method(), PathNormalizer.redacted(req.path()), err);
      ex.fail(ProxyError.INTERNAL, "Internal error while handling " + PathNormalizer.redacted(ex.path) + "; the operator can see the "
          + "cause in Sluice's log (request id " + ex.requestId + ").");
    } else {
      ex.reply(HttpResponseStatus.valueOf(res.status()), Unpooled.wrappedBuffer(res.body()), false);
    }
  }

  private void reset() {
    current = null;
    if (body != null) {
      body.release();
      body = null;
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    reset();
    ctx.fireChannelInactive();
  }
}
