package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
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
 * summary (per message: request line or status line, fields, body bytes, trailers, whether it ended, whether it
 * failed, raw bytes passed on after a protocol switch), and compares two such summaries ({@link #verdict}).
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
    /** Bytes passed on as plain {@link ByteBuf}s after the message (a 101 or a CONNECT tunnel). */
    final ByteArrayOutputStream raw = new ByteArrayOutputStream();
    boolean complete;
    boolean failed;
    String cause;

    @Override
    public String toString() {
      return (failed ? "FAILED(" + cause + ") " : "") + head + " body=" + body.size() + ":"
          + new String(body.toByteArray(), StandardCharsets.ISO_8859_1).replace("\r", "\\r").replace("\n", "\\n")
          + " trailers=" + trailers + (complete ? " complete" : " incomplete")
          + (raw.size() > 0 ? " raw=" + raw.size() : "");
    }

    boolean sameAs(Entry o) {
      return java.util.Objects.equals(head, o.head) && java.util.Arrays.equals(body.toByteArray(), o.body.toByteArray())
          && trailers.equals(o.trailers) && complete == o.complete && failed == o.failed
          && java.util.Arrays.equals(raw.toByteArray(), o.raw.toByteArray());
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

  /**
   * For a client codec: writes {@code requests} (their encoding is dropped), feeds {@code pieces}, then closes the
   * channel when {@code close} and summarises what the decoder emitted, including what it emitted on the close.
   */
  static List<Entry> exchange(ChannelHandler codec, List<HttpMethod> requests, List<byte[]> pieces, boolean close) {
    EmbeddedChannel ch = new EmbeddedChannel(codec);
    List<Entry> out = new ArrayList<>();
    try {
      for (HttpMethod m : requests) {
        ch.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, m, "/"));
      }
      ch.releaseOutbound();
      for (byte[] p : pieces) {
        ch.writeInbound(Unpooled.copiedBuffer(p));
        drain(ch, out);
      }
      if (close) {
        ch.finish();
        drain(ch, out);
      }
    } finally {
      ch.finishAndReleaseAll();
    }
    return out;
  }

  /** What {@link #verdict} found. */
  enum Verdict { SAME, STRICTER, BOTH_REFUSED, NETTY_REFUSED_SOONER }

  /**
   * Compares the new decoder's summary with Netty's: the new one may stop (fail) earlier, with no more of the head
   * or body than Netty gave, but never accept more or frame differently.
   *
   * @throws AssertionError saying how they differ, with {@code describe} prefixed
   */
  static Verdict verdict(List<Entry> wire, List<Entry> netty, String describe) {
    if (sameList(wire, netty)) {
      return !wire.isEmpty() && wire.get(wire.size() - 1).failed ? Verdict.BOTH_REFUSED : Verdict.SAME;
    }
    for (int i = 0; i < wire.size(); i++) {
      Entry w = wire.get(i);
      Entry t = i < netty.size() ? netty.get(i) : null;
      if (w.failed) {
        boolean headOk = w.head == null || (t != null && w.head.equals(t.head) && !(t.failed && t.head == null));
        byte[] wb = w.body.toByteArray();
        byte[] tb = t == null ? new byte[0] : t.body.toByteArray();
        boolean bodyPrefix = wb.length <= tb.length
            && java.util.Arrays.equals(wb, java.util.Arrays.copyOf(tb, wb.length));
        if (headOk && bodyPrefix) {
          return Verdict.STRICTER;
        }
        throw new AssertionError(describe + "message " + i + ": wire emitted a head/body Netty did not\n wire  "
            + wire + "\n netty " + netty);
      }
      if (t == null || !w.sameAs(t)) {
        throw new AssertionError(describe + "message " + i + " framed differently\n wire  " + wire + "\n netty "
            + netty);
      }
    }
    if (wire.size() < netty.size()) {
      boolean nettyOnlyFailsFurther = true;
      for (int i = wire.size(); i < netty.size(); i++) {
        nettyOnlyFailsFurther &= netty.get(i).failed && netty.get(i).head == null;
      }
      if (nettyOnlyFailsFurther) {
        return Verdict.NETTY_REFUSED_SOONER; // wire still waits for the rest of a line Netty already refused
      }
    }
    throw new AssertionError(describe + "wire emitted fewer messages without failing\n wire  " + wire
        + "\n netty " + netty);
  }

  static boolean sameList(List<Entry> a, List<Entry> b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (int i = 0; i < a.size(); i++) {
      if (!a.get(i).sameAs(b.get(i))) {
        return false;
      }
    }
    return true;
  }

  private static void drain(EmbeddedChannel ch, List<Entry> out) {
    Object m;
    while ((m = ch.readInbound()) != null) {
      try {
        add(m, out);
      } finally {
        ReferenceCountUtil.release(m);
      }
    }
  }

  private static void add(Object m, List<Entry> out) {
    Entry cur = out.isEmpty() ? null : out.get(out.size() - 1);
    if (m instanceof ByteBuf raw) {
      if (cur == null) {
        cur = new Entry();
        cur.head = "<orphan bytes>";
        out.add(cur);
      }
      byte[] bytes = new byte[raw.readableBytes()];
      raw.getBytes(raw.readerIndex(), bytes);
      cur.raw.writeBytes(bytes);
      return;
    }
    HttpObject o = (HttpObject) m;
    if (o instanceof HttpMessage msg) {
      Entry e = new Entry();
      out.add(e);
      if (msg.decoderResult().isFailure()) {
        e.failed = true;
        e.cause = msg.decoderResult().cause().getClass().getSimpleName() + ": "
            + msg.decoderResult().cause().getMessage();
        return;
      }
      StringBuilder sb = new StringBuilder();
      if (msg instanceof HttpRequest req) {
        sb.append(req.method().name()).append(' ').append(req.uri()).append(' ').append(req.protocolVersion());
      } else {
        HttpResponse res = (HttpResponse) msg;
        sb.append(res.protocolVersion()).append(' ').append(res.status().code()).append(" [")
            .append(res.status().reasonPhrase()).append(']');
      }
      StringBuilder te = new StringBuilder();
      for (Map.Entry<String, String> h : msg.headers()) {
        String name = h.getKey().toLowerCase(Locale.ROOT);
        // Netty re-sets what is left of Transfer-Encoding on a bodiless response, which moves it last: for
        // responses its fields are compared after the others (their order among themselves is kept)
        StringBuilder to = msg instanceof HttpResponse && name.equals("transfer-encoding") ? te : sb;
        to.append(" | ").append(name).append(": ").append(h.getValue());
      }
      e.head = sb.append(te).toString();
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
