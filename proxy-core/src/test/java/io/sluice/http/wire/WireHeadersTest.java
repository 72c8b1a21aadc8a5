package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link WireHeaders} against Netty's {@code DefaultHttpHeaders}: generated request heads (names in any case,
 * repeated names, values with and without surrounding whitespace) are decoded by {@link WireRequestDecoder}, the same
 * fields put in a Netty map, and then both get the same generated sequence of reads and edits; every read must answer
 * the same, and the two heads the encoders write must carry the same fields in the same order when Netty's own decoder
 * reads them back. Fixed seed: the same 3 000 cases in every build.
 */
class WireHeadersTest {
  private static final String[] NAMES = {"Host", "host", "Content-Type", "content-length", "Authorization",
      "x-litellm-api-key", "X-Api-Key", "api-key", "Connection", "keep-alive", "Te", "x-request-id", "traceparent",
      "x-custom-header", "X-Stainless-Lang", "Accept", "User-Agent", "Cookie", "Expect"};
  private static final String[] VALUES = {"", "a", "application/json", "Bearer sk-1234", "close", "keep-alive, Foo",
      "text/event-stream; charset=utf-8", "x y  z", "100-continue", "a,,Foo,", ", close", "\u00e9t\u00e9", "0", "42",
      "sk-virtual-key-abc"};

  private static String pick(Random r, String[] from) {
    return from[r.nextInt(from.length)];
  }

  private static String casing(Random r, String name) {
    StringBuilder b = new StringBuilder(name.length());
    for (char c : name.toCharArray()) {
      b.append(r.nextInt(4) == 0 ? Character.toUpperCase(c) : r.nextInt(4) == 0 ? Character.toLowerCase(c) : c);
    }
    return b.toString();
  }

  /** A decoded request's headers (must be a WireHeaders) and the reference map holding the same fields. */
  private record Pair(HttpRequest request, HttpHeaders ref) {}

  private static Pair generate(Random r) {
    int n = r.nextInt(9);
    StringBuilder head = new StringBuilder("POST /v1/chat/completions HTTP/1.1\r\n");
    HttpHeaders ref = DefaultHttpHeadersFactory.headersFactory().withValidation(false).newHeaders();
    for (int i = 0; i < n; i++) {
      String name = casing(r, pick(r, NAMES));
      if (name.equalsIgnoreCase("content-length") || name.equalsIgnoreCase("host") && ref.contains("host")) {
        name = "X-Other-" + i; // framing and the single Host are the parser's business, not this test's
      }
      String value = pick(r, VALUES);
      String before = r.nextBoolean() ? " " : r.nextBoolean() ? "" : " \t ";
      String after = r.nextInt(3) == 0 ? " \t" : "";
      head.append(name).append(':').append(before).append(value).append(after).append("\r\n");
      ref.add(name, value);
    }
    head.append("\r\n");
    EmbeddedChannel ch = new EmbeddedChannel(new WireRequestDecoder(new HttpDecoderConfig()));
    ch.writeInbound(Unpooled.copiedBuffer(head, StandardCharsets.ISO_8859_1));
    HttpRequest req = ch.readInbound();
    Object last = ch.readInbound();
    assertThat(last).isInstanceOf(LastHttpContent.class);
    ReferenceCountUtil.release(last);
    assertThat(req.decoderResult().isSuccess()).as("%s", head).isTrue();
    assertThat(req.headers()).isInstanceOf(WireHeaders.class);
    ch.finishAndReleaseAll();
    return new Pair(req, ref);
  }

  private static List<String> fields(HttpHeaders h) {
    List<String> out = new ArrayList<>();
    for (Iterator<Map.Entry<CharSequence, CharSequence>> it = h.iteratorCharSequence(); it.hasNext(); ) {
      Map.Entry<CharSequence, CharSequence> e = it.next();
      out.add(e.getKey() + ": " + e.getValue());
    }
    return out;
  }

  private static void sameReads(HttpHeaders w, HttpHeaders ref, String name, String value, String step) {
    String cl = ref.get(HttpHeaderNames.CONTENT_LENGTH);
    assertThat(((WireHeaders) w).contentLength()).as(step + " contentLength")
        .isEqualTo(cl == null ? -1 : Long.parseLong(cl));
    assertThat(w.get(name)).as(step + " get " + name).isEqualTo(ref.get(name));
    assertThat(w.get(AsciiString.of(name))).as(step + " get(ascii) " + name).isEqualTo(ref.get(name));
    assertThat(w.getAll(name)).as(step + " getAll " + name).isEqualTo(ref.getAll(name));
    assertThat(w.contains(name)).as(step + " contains " + name).isEqualTo(ref.contains(name));
    assertThat(w.contains(name, value, true)).as(step + " contains(v, ic)").isEqualTo(ref.contains(name, value, true));
    assertThat(w.contains(name, value, false)).as(step + " contains(v)").isEqualTo(ref.contains(name, value, false));
    assertThat(w.containsValue(name, value, true)).as(step + " containsValue")
        .isEqualTo(ref.containsValue(name, value, true));
    for (String token : new String[] {"foo", "Foo", "keep-alive", "close", "", "x y  z"}) {
      assertThat(w.containsValue(name, token, true)).as(step + " containsValue ic " + token)
          .isEqualTo(ref.containsValue(name, token, true));
      assertThat(w.containsValue(name, token, false)).as(step + " containsValue " + token)
          .isEqualTo(ref.containsValue(name, token, false));
    }
    List<String> seen = new ArrayList<>();
    w.valueStringIterator(name).forEachRemaining(seen::add);
    // Netty's map iterates a name's values newest first, its getAll oldest first; the order is not part of the
    // contract (WireHeaders gives arrival order both ways): the same values.
    assertThat(seen).as(step + " valueStringIterator").containsExactlyInAnyOrderElementsOf(ref.getAll(name));
    assertThat(w.getInt(name)).as(step + " getInt").isEqualTo(ref.getInt(name));
    assertThat(w.size()).as(step + " size").isEqualTo(ref.size());
    assertThat(w.isEmpty()).as(step + " isEmpty").isEqualTo(ref.isEmpty());
    assertThat(fields(w)).as(step + " fields").isEqualTo(fields(ref));
  }

  /** The fields Netty's decoder reads from what {@code encoder} writes for {@code req}. */
  private static List<String> roundTrip(io.netty.channel.ChannelHandler encoder, HttpRequest req) {
    EmbeddedChannel out = new EmbeddedChannel(encoder);
    out.writeOutbound(req, LastHttpContent.EMPTY_LAST_CONTENT);
    ByteBuf all = Unpooled.buffer();
    ByteBuf b;
    while ((b = out.readOutbound()) != null) {
      all.writeBytes(b);
      b.release();
    }
    out.finishAndReleaseAll();
    EmbeddedChannel in = new EmbeddedChannel(new HttpRequestDecoder());
    in.writeInbound(all);
    HttpObject decoded = in.readInbound();
    assertThat(decoded.decoderResult().isSuccess()).as("re-read: %s", decoded.decoderResult()).isTrue();
    List<String> f = fields(((HttpRequest) decoded).headers());
    in.finishAndReleaseAll();
    return f;
  }

  @Test
  void aValueReadAgainOnTheSameThreadIsTheSameStringOnlyForTheSameBytes() {
    byte[] a = "Bearer sk-aaaa".getBytes(StandardCharsets.ISO_8859_1);
    byte[] b = "Bearer sk-aaab".getBytes(StandardCharsets.ISO_8859_1);
    String first = WireHeaders.recent(a, 0, a.length);
    assertThat(WireHeaders.recent(a.clone(), 0, a.length)).isEqualTo("Bearer sk-aaaa").isSameAs(first);
    String other = WireHeaders.recent(b, 0, b.length);
    assertThat(other).isEqualTo("Bearer sk-aaab").isNotSameAs(first);
    assertThat(WireHeaders.recent(a, 0, a.length)).as("the slot now holds the other").isEqualTo("Bearer sk-aaaa")
        .isNotSameAs(first);
    byte[] latin1 = {'c', (byte) 0xE9, 'x'};
    assertThat(WireHeaders.recent(latin1, 0, 3)).isEqualTo("c\u00e9x");
    assertThat(WireHeaders.recent(new byte[] {'c', (byte) 0x69, 'x'}, 0, 3)).isEqualTo("cix");
    byte[] big = new byte[600];
    java.util.Arrays.fill(big, (byte) 'x');
    assertThat(WireHeaders.recent(big, 0, 600)).hasSize(600).isNotSameAs(WireHeaders.recent(big, 0, 600));
    assertThat(WireHeaders.recent(a, 7, 7)).isEqualTo("sk-aaaa");
  }

  @Test
  void everyReadAndEditAnswersAsNettysMapAndTheEncodedHeadCarriesTheSameFields() {
    Random r = new Random(18_2026);
    int inflatedCases = 0;
    for (int c = 0; c < 3000; c++) {
      Pair p = generate(r);
      HttpHeaders w = p.request().headers();
      HttpHeaders ref = p.ref();
      sameReads(w, ref, pick(r, NAMES), pick(r, VALUES), "case " + c + " start");
      int ops = r.nextInt(12);
      for (int k = 0; k < ops; k++) {
        String name = casing(r, pick(r, NAMES));
        if (name.equalsIgnoreCase("content-length")) {
          name = "X-Not-Framing"; // Content-Length is set as a number below: the re-read must stay framable
        }
        String value = pick(r, VALUES);
        String step = "case " + c + " op " + k;
        switch (r.nextInt(8)) {
          case 0, 1 -> {
            w.remove(name);
            ref.remove(name);
          }
          case 2 -> {
            w.set(name, value);
            ref.set(name, value);
          }
          case 3 -> {
            w.set(HttpHeaderNames.AUTHORIZATION, AsciiString.of("Bearer replica-key"));
            ref.set(HttpHeaderNames.AUTHORIZATION, AsciiString.of("Bearer replica-key"));
          }
          case 4 -> {
            w.add(name, value);
            ref.add(name, value);
          }
          case 5 -> {
            int v = r.nextInt(100_000);
            w.setInt(HttpHeaderNames.CONTENT_LENGTH, v);
            ref.setInt(HttpHeaderNames.CONTENT_LENGTH, v);
          }
          case 6 -> {
            if (r.nextInt(10) == 0) {
              assertThat(new ArrayList<>(w.names())).as(step + " names").isEqualTo(new ArrayList<>(ref.names()));
              assertThat(w.entries().stream().map(e -> e.getKey() + "=" + e.getValue()).toList()).as(step + " entries")
                  .isEqualTo(ref.entries().stream().map(e -> e.getKey() + "=" + e.getValue()).toList()); // inflates
            } else {
              w.remove(HttpHeaderNames.CONNECTION);
              ref.remove(HttpHeaderNames.CONNECTION);
            }
          }
          default -> {
            if (r.nextInt(20) == 0) {
              w.clear();
              ref.clear();
            }
          }
        }
        sameReads(w, ref, name, value, step);
      }
      if (((WireHeaders) w).inflated()) {
        inflatedCases++;
      }
      // The replica side's encoder writes the kept bytes; Netty's writes the map: same fields, same order.
      io.netty.handler.codec.http.DefaultHttpRequest refReq = new io.netty.handler.codec.http.DefaultHttpRequest(
          p.request().protocolVersion(), p.request().method(), p.request().uri(), ref);
      List<String> wire = roundTrip(new WireClientCodec(new HttpDecoderConfig()), p.request());
      assertThat(wire).as("case %d encoded", c).isEqualTo(roundTrip(new HttpRequestEncoder(), refReq));
    }
    assertThat(inflatedCases).as("both the byte path and the inflated one were exercised").isBetween(50, 2950);
  }

  @Test
  void theFramedContentLengthIsReadWithoutAStringUntilAnEditAndThenAsNettyReadsIt() {
    for (String field : new String[] {"Content-Length: 42", "content-length:42", "CONTENT-LENGTH: \t42 \t"}) {
      EmbeddedChannel ch = new EmbeddedChannel(new WireRequestDecoder(new HttpDecoderConfig()));
      ch.writeInbound(Unpooled.copiedBuffer("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n" + field
          + "\r\nx-a: b\r\n\r\n", StandardCharsets.ISO_8859_1));
      HttpRequest req = ch.readInbound();
      WireHeaders w = (WireHeaders) req.headers();
      assertThat(w.contentLength()).as(field).isEqualTo(42).isEqualTo(io.netty.handler.codec.http.HttpUtil
          .getContentLength(req, -1L));
      w.remove("x-a"); // an edit: read from the fields from now on
      assertThat(w.contentLength()).isEqualTo(42);
      w.setInt(HttpHeaderNames.CONTENT_LENGTH, 7);
      assertThat(w.contentLength()).isEqualTo(7);
      w.remove(HttpHeaderNames.CONTENT_LENGTH);
      assertThat(w.contentLength()).isEqualTo(-1);
      ch.finishAndReleaseAll();
    }
  }

  @Test
  void theRelaysReadsAndEditsKeepTheHeadAsBytes() {
    String head = "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer sk-client\r\n"
        + "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\nx-custom:  v  \r\n"
        + "x-name: caf\u00e9\r\n\r\n{}";
    EmbeddedChannel ch = new EmbeddedChannel(new WireRequestDecoder(new HttpDecoderConfig()));
    ch.writeInbound(Unpooled.copiedBuffer(head, StandardCharsets.ISO_8859_1));
    HttpRequest req = ch.readInbound();
    ch.finishAndReleaseAll();
    WireHeaders h = (WireHeaders) req.headers();
    assertThat(h.get(HttpHeaderNames.AUTHORIZATION)).isEqualTo("Bearer sk-client");
    assertThat(h.containsValue(HttpHeaderNames.CONNECTION, "close", true)).isFalse();
    h.remove(HttpHeaderNames.CONNECTION);
    h.remove(HttpHeaderNames.AUTHORIZATION);
    h.set(HttpHeaderNames.HOST, "replica:8000");
    h.set(HttpHeaderNames.AUTHORIZATION, AsciiString.of("Bearer replica-secret"));
    h.setInt(HttpHeaderNames.CONTENT_LENGTH, 2);
    assertThat(h.inflated()).isFalse();
    req.setUri("/v1/chat/completions");
    EmbeddedChannel out = new EmbeddedChannel(new WireClientCodec(new HttpDecoderConfig()));
    out.writeOutbound(req);
    ByteBuf b = out.readOutbound();
    String written = b.toString(StandardCharsets.ISO_8859_1);
    b.release();
    out.finishAndReleaseAll();
    // The client's lines as they came (the value's inner spacing and the name's case kept), the edits appended.
    assertThat(written).isEqualTo("POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n"
        + "x-custom:  v\r\nx-name: caf\u00e9\r\nhost: replica:8000\r\nauthorization: Bearer replica-secret\r\n"
        + "content-length: 2\r\n\r\n");
  }
}
