package io.sluice.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.LastHttpContent;
import io.sluice.json.RequestScanner;
import io.sluice.routing.Deployment;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;

/**
 * For model-routed LLM routes (after {@link AuthHandler}): gathers the request body as the chunks that arrived
 * (retained, never copied; the guard bounds the total), finds the top-level {@code model} and {@code stream} with
 * {@link RequestScanner} as each chunk arrives, picks a deployment of that model group, and — when the replica's
 * model name differs — splices just the {@code model} string literal. The exchange then goes on to the relay with
 * {@link Exchange#body} set. Bad bodies → 400 that says what is wrong; unknown model → 400 as LiteLLM words it.
 */
final class BodyInspector extends ChannelInboundHandlerAdapter {
  private final RegistryHolder registry;
  private Exchange current;
  private RequestScanner scanner;
  private ByteBuf body;

  BodyInspector(RegistryHolder registry) {
    this.registry = registry;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      reset();
      if (ex.route.routeClass != Route.RouteClass.LLM) {
        ctx.fireChannelRead(ex);
        return;
      }
      current = ex;
      scanner = new RequestScanner();
      // The body ends with its LastHttpContent message, which always follows the head (EMPTY_LAST_CONTENT when there
      // is no body). Not ex.requestComplete: after an async key lookup the guard has already seen the end while the
      // chunks are still on their way here from the auth step.
      return;
    }
    if (current != null && msg instanceof HttpContent content) {
      onContent(ctx, content);
      return;
    }
    ctx.fireChannelRead(msg);
  }

  /** Takes ownership of {@code content}. */
  private void onContent(ChannelHandlerContext ctx, HttpContent content) {
    ByteBuf data = content.content();
    boolean last = content instanceof LastHttpContent;
    if (!data.isReadable()) {
      data.release();
    } else {
      if (body == null) {
        body = data;
      } else {
        CompositeByteBuf composite;
        if (body instanceof CompositeByteBuf c) {
          composite = c;
        } else {
          composite = ctx.alloc().compositeBuffer(Integer.MAX_VALUE);
          composite.addComponent(true, body);
          body = composite;
        }
        composite.addComponent(true, data);
      }
      if (!scanner.feed(data)) {
        Exchange ex = current;
        String why = scanner.error();
        reset();
        ex.fail(ProxyError.BAD_REQUEST, why);
        return;
      }
    }
    if (last) {
      complete(ctx);
    }
  }

  private void complete(ChannelHandlerContext ctx) {
    Exchange ex = current;
    RequestScanner s = scanner;
    ByteBuf b = body;
    current = null;
    scanner = null;
    body = null;
    boolean ok = s.end();
    s.close();
    if (!ok) {
      release(b);
      ex.fail(ProxyError.BAD_REQUEST, s.error());
      return;
    }
    String model = s.model();
    if (model == null) {
      release(b);
      ex.fail(ProxyError.BAD_REQUEST, "No \"model\" in the request body. Send the model group to use, e.g. "
          + "{\"model\": \"llama-3-8b\", …}; GET /v1/models lists them.");
      return;
    }
    ModelGroup group = registry.get().group(model);
    if (group == null || !ex.principal.mayUseModel(model)) {
      release(b);
      // LiteLLM's wording (proxy/route_llm_request.py); a key without access to the model hears the same, so the
      // answer does not reveal which model groups exist.
      ex.fail(ProxyError.BAD_REQUEST, "Invalid model name passed in model=" + shorten(model)
          + ". Call `/v1/models` to view available models for your key.");
      return;
    }
    ex.model = model;
    ex.stream = s.stream();
    ex.group = group;
    ex.body = b;
    ex.modelStart = (int) s.modelStart();
    ex.modelEnd = (int) s.modelEnd();
    ctx.fireChannelRead(ex);
  }

  /**
   * The body to send to {@code d}: the original when the replica's model name is what the client sent, else the
   * original with bytes [modelStart, modelEnd) — the {@code model} string literal — replaced by the replica's,
   * without copying: a composite of two retained slices of the original and the deployment's shared literal.
   * Borrows {@code ex.body}; the caller owns the result.
   */
  static ByteBuf bodyFor(ChannelHandlerContext ctx, Exchange ex, Deployment d) {
    ByteBuf body = ex.body;
    if (ex.model.equals(d.upstreamModel())) {
      return body.retainedDuplicate();
    }
    int ri = body.readerIndex();
    CompositeByteBuf out = ctx.alloc().compositeBuffer(3);
    if (ex.modelStart > 0) {
      out.addComponent(true, body.retainedSlice(ri, ex.modelStart));
    }
    out.addComponent(true, d.upstreamModelJson());
    int tail = body.readableBytes() - ex.modelEnd;
    if (tail > 0) {
      out.addComponent(true, body.retainedSlice(ri + ex.modelEnd, tail));
    }
    return out;
  }

  private static void release(ByteBuf b) {
    if (b != null) {
      b.release();
    }
  }

  private static String shorten(String s) {
    return s.length() > 200 ? s.substring(0, 200) + "…" : s;
  }

  private void reset() {
    current = null;
    if (scanner != null) {
      scanner.close();
      scanner = null;
    }
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
