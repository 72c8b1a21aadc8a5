package io.sluice.bench.fake;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.nio.charset.StandardCharsets;

/** Small buffer builders for the fake's events; the caller owns what they return. */
final class ByteBufs {
  private ByteBufs() {}

  static ByteBuf concat(ChannelHandlerContext ctx, byte[] head, String tail) {
    byte[] t = tail.getBytes(StandardCharsets.UTF_8);
    return ctx.alloc().buffer(head.length + t.length).writeBytes(head).writeBytes(t);
  }

  static ByteBuf concat(ChannelHandlerContext ctx, byte[] all) {
    return ctx.alloc().buffer(all.length).writeBytes(all);
  }
}
