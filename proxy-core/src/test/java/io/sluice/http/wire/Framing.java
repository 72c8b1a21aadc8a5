package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Test support: feeds raw bytes to a decoder in an {@link EmbeddedChannel} and reduces what it emits to a framing
 * summary (per request: method, URI, version, fields, body bytes, trailers, whether it ended, whether it failed).
 * Releases everything it reads.
 */
final class Framing {
  static final int MAX_LINE = 512;
  static final int MAX_HEADER = 1024;
  static final int MAX_CHUNK = 64;

  /** One request as decoded. {@code head} is null for a failure before any head was accepted. */
  static final class Entry {
    String head;
    final ByteArrayOutputStream body = new ByteArrayOutputStream();
    final List<String> trailers = new ArrayList<>();
    boolean complete;
    boolean failed;
    String cause;

    @Override
    public String toString() {
      return (failed ? "FAILED(" + cause + ") " : "") + head + " body=" + body.size() + ":"
          + new String(body.toByteArray(), StandardCharsets.ISO_8859_1).replace("\r", "\\r").replace("\n", "\\n")
          + " trailers=" + trailers + (complete ? " complete" : " incomplete");
    }

    boolean sameAs(Entry o) {
      return java.util.Objects.equals(head, o.head) && java.util.Arrays.equals(body.toByteArray(), o.body.toByteArray())
          && trailers.equals(o.trailers) && complete == o.complete && failed == o.failed;
    }
  }

  static ChannelHandler netty() {
    return new HttpRequestDecoder(new HttpDecoderConfig().setMaxInitialLineLength(MAX_LINE)
        .setMaxHeaderSize(MAX_HEADER).setMaxChunkSize(MAX_CHUNK));
  }

  static ChannelHandler wire() {
    return new WireRequestDecoder(MAX_LINE, MAX_HEADER, MAX_CHUNK);
  }

  /** Feeds {@code pieces} in order (each a new buffer: the channel takes ownership) and summarises. */
  static List<Entry> run(ChannelHandler decoder, List<byte[]> pieces) {
    EmbeddedChannel ch = new EmbeddedChannel(decoder);
    List<Entry> out = new ArrayList<>();
    try {
      for (byte[] p : pieces) {
        ch.writeInbound(Unpooled.copiedBuffer(p));
        drain(ch, out);
      }
    } finally {
      ch.finishAndReleaseAll();
    }
    return out;
  }

  static List<Entry> run(ChannelHandler decoder, byte[] whole) {
    return run(decoder, List.of(whole));
  }

  private static void drain(EmbeddedChannel ch, List<Entry> out) {
    Object m;
    while ((m = ch.readInbound()) != null) {
      try {
        add((HttpObject) m, out);
      } finally {
        ReferenceCountUtil.release(m);
      }
    }
  }

  private static void add(HttpObject o, List<Entry> out) {
    Entry cur = out.isEmpty() ? null : out.get(out.size() - 1);
    if (o instanceof HttpRequest req) {
      Entry e = new Entry();
      out.add(e);
      if (req.decoderResult().isFailure()) {
        e.failed = true;
        e.cause = req.decoderResult().cause().getClass().getSimpleName() + ": "
            + req.decoderResult().cause().getMessage();
        return;
      }
      StringBuilder sb = new StringBuilder();
      sb.append(req.method().name()).append(' ').append(req.uri()).append(' ').append(req.protocolVersion());
      for (Map.Entry<String, String> h : req.headers()) {
        sb.append(" | ").append(h.getKey().toLowerCase(Locale.ROOT)).append(": ").append(h.getValue());
      }
      e.head = sb.toString();
      cur = e;
      if (!(o instanceof HttpContent)) {
        return;
      }
    }
    if (o instanceof HttpContent c) {
      if (cur == null || cur.complete || cur.failed) {
        cur = new Entry(); // content with no request open: record as its own (never expected)
        cur.head = "<orphan content>";
        out.add(cur);
      }
      if (c.decoderResult().isFailure()) {
        cur.failed = true;
        cur.cause = c.decoderResult().cause().getClass().getSimpleName() + ": "
            + c.decoderResult().cause().getMessage();
        return;
      }
      ByteBuf b = c.content();
      byte[] bytes = new byte[b.readableBytes()];
      b.getBytes(b.readerIndex(), bytes);
      cur.body.writeBytes(bytes);
      if (c instanceof LastHttpContent last) {
        for (Map.Entry<String, String> h : last.trailingHeaders()) {
          cur.trailers.add(h.getKey().toLowerCase(Locale.ROOT) + ": " + h.getValue());
        }
        cur.complete = true;
      }
    }
  }

  static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private Framing() {
  }
}
