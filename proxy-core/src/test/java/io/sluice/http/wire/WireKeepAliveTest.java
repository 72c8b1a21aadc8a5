package io.sluice.http.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Keep-alive is {@link WireServerCodec}'s ({@link KeepAlive}): it must decide exactly as Netty's
 * {@link HttpServerKeepAliveHandler} decided after the same codec, for every request and response shape (RFC 9112
 * §9.3) — which response carries {@code Connection: close}, and after which one the connection closes.
 */
class WireKeepAliveTest {
  private static final HttpDecoderConfig CONFIG = new HttpDecoderConfig();

  /** The pipeline as it was: the codec without its keep-alive part, Netty's handler after it. */
  private static EmbeddedChannel reference() {
    return new EmbeddedChannel(new WireServerCodec(CONFIG, false), new HttpServerKeepAliveHandler());
  }

  private static EmbeddedChannel folded() {
    return new EmbeddedChannel(new WireServerCodec(CONFIG));
  }

  @ParameterizedTest(name = "{0} + [{1}] → open after the response: {2}")
  @CsvSource({
      "HTTP/1.1, '', true",
      "HTTP/1.1, 'Connection: close', false",
      "HTTP/1.1, 'Connection: Upgrade, Close', false",
      "HTTP/1.0, '', false",
      "HTTP/1.0, 'Connection: keep-alive', true",
  })
  void theConnectionStaysOpenAsTheRequestAsks(String version, String header, boolean open) {
    assertThat(openAfterResponse(folded(), version, header)).isEqualTo(open);
    assertThat(openAfterResponse(reference(), version, header)).isEqualTo(open);
    assertThat(openAfterResponse(new EmbeddedChannel(Framing.netty(), new HttpServerKeepAliveHandler()), version,
        header)).as("Netty's decoder and handler").isEqualTo(open);
  }

  private static boolean openAfterResponse(EmbeddedChannel ch, String version, String header) {
    String head = "GET / " + version + "\r\n" + (header.isEmpty() ? "" : header + "\r\n") + "\r\n";
    ch.writeInbound(Unpooled.copiedBuffer(head, StandardCharsets.US_ASCII));
    drainInbound(ch);
    FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.valueOf(version), HttpResponseStatus.OK);
    res.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 0);
    if (header.contains("keep-alive")) {
      res.headers().set(HttpHeaderNames.CONNECTION, "keep-alive"); // an HTTP/1.0 response says so itself
    }
    ch.writeOutbound(res);
    drainOutbound(ch);
    boolean open = ch.isOpen();
    assertThat(ch.finishAndReleaseAll()).isFalse();
    return open;
  }

  private static final String[] CONNECTION = {null, "close", "Close", "keep-alive", "Keep-Alive", "keep-alive, close",
      "Upgrade, close", "upgrade", "TE, keep-alive", " close "};
  private static final String[] RESPONSE_CONNECTION = {"close", "Close", "keep-alive", "Keep-Alive", "upgrade"};
  private static final int[] STATUS = {200, 200, 200, 201, 204, 304, 400, 404, 500, 503, 101};

  /** One response as the pipeline's handlers write it: a full one, or head + pieces + last (a relayed one). */
  private record Response(int status, HttpVersion version, String framing, String connection, boolean interim,
      boolean pieces) {
    List<HttpObject> messages() {
      List<HttpObject> out = new ArrayList<>();
      if (interim) {
        out.add(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE));
        out.add(LastHttpContent.EMPTY_LAST_CONTENT);
      }
      HttpResponseStatus s = HttpResponseStatus.valueOf(status);
      ByteBuf body = Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII);
      HttpResponse head;
      if (pieces) {
        head = new DefaultHttpResponse(version, s);
      } else {
        head = new DefaultFullHttpResponse(version, s, body);
      }
      switch (framing) {
        case "length" -> head.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 5);
        case "chunked" -> head.headers().set(HttpHeaderNames.TRANSFER_ENCODING, "chunked");
        case "multipart" -> head.headers().set(HttpHeaderNames.CONTENT_TYPE, "Multipart/mixed; boundary=x");
        default -> { } // none: ends when the connection closes
      }
      if (connection != null) {
        head.headers().set(HttpHeaderNames.CONNECTION, connection);
      }
      out.add(head);
      if (pieces) {
        out.add(new DefaultHttpContent(body));
        out.add(LastHttpContent.EMPTY_LAST_CONTENT);
      }
      return out;
    }
  }

  @Test
  void generatedExchangesKeepOrCloseTheConnectionAsNettysHandlerDid() {
    SplittableRandom r = new SplittableRandom(20261208);
    int closed = 0;
    int marked = 0;
    for (int n = 0; n < 4000; n++) {
      int requests = 1 + r.nextInt(4);
      StringBuilder in = new StringBuilder();
      for (int i = 0; i < requests; i++) {
        String method = new String[] {"GET", "HEAD", "POST"}[r.nextInt(3)];
        String version = r.nextInt(4) == 0 ? "HTTP/1.0" : "HTTP/1.1";
        String conn = CONNECTION[r.nextInt(CONNECTION.length)];
        in.append(method).append(" /").append(i).append(' ').append(version).append("\r\nHost: x\r\n");
        if (conn != null) {
          in.append("Connection: ").append(conn).append("\r\n");
        }
        in.append(method.equals("POST") ? "Content-Length: 2\r\n\r\nhi" : "\r\n");
      }
      if (r.nextInt(6) == 0) {
        in.append("GARBAGE\r\n\r\n"); // a bad request after them: Netty's /bad-request, HTTP/1.0
        requests++;
      }
      List<Response> responses = new ArrayList<>();
      for (int i = 0; i < requests; i++) {
        responses.add(new Response(STATUS[r.nextInt(STATUS.length)], r.nextInt(5) == 0 ? HttpVersion.HTTP_1_0
            : HttpVersion.HTTP_1_1, new String[] {"length", "length", "chunked", "none", "multipart"}[r.nextInt(5)],
            r.nextInt(4) == 0 ? RESPONSE_CONNECTION[r.nextInt(RESPONSE_CONNECTION.length)] : null, r.nextInt(8) == 0, r.nextBoolean()));
      }
      boolean oneWrite = r.nextBoolean();
      String input = in.toString();
      List<String> a = run(reference(), input, responses, oneWrite);
      List<String> b = run(folded(), input, responses, oneWrite);
      assertThat(b).as("case %s: %s then %s", n, input, responses).isEqualTo(a);
      closed += a.get(a.size() - 1).startsWith("closed") ? 1 : 0;
      marked += a.stream().anyMatch(s -> s.toLowerCase().contains("connection: close")) ? 1 : 0;
    }
    assertThat(closed).as("cases that ended with a close").isBetween(1000, 3900);
    assertThat(marked).as("cases where a response was marked Connection: close").isGreaterThan(500);
  }

  /**
   * Writes the requests (all at once, or each before its response), then each response; returns what went out after
   * each response and whether the connection was still open, until it closed.
   */
  private static List<String> run(EmbeddedChannel ch, String input, List<Response> responses, boolean oneWrite) {
    List<String> log = new ArrayList<>();
    List<String> requests = split(input);
    if (oneWrite) {
      ch.writeInbound(Unpooled.copiedBuffer(input, StandardCharsets.US_ASCII));
      drainInbound(ch);
    }
    for (int i = 0; i < responses.size() && ch.isOpen(); i++) {
      if (!oneWrite && i < requests.size()) {
        ch.writeInbound(Unpooled.copiedBuffer(requests.get(i), StandardCharsets.US_ASCII));
        drainInbound(ch);
      }
      for (HttpObject m : responses.get(i).messages()) {
        if (!ch.isOpen()) {
          ReferenceCountUtil.release(m);
          continue;
        }
        ch.writeOutbound(m);
      }
      log.add((ch.isOpen() ? "open " : "closed ") + drainOutbound(ch));
    }
    ch.finishAndReleaseAll();
    return log;
  }

  /** The requests one by one (each ends after its blank line, a POST after its 2 body bytes). */
  private static List<String> split(String input) {
    List<String> out = new ArrayList<>();
    int from = 0;
    while (from < input.length()) {
      int end = input.indexOf("\r\n\r\n", from) + 4;
      if (end < 4) {
        end = input.length();
      } else if (input.startsWith("POST", from)) {
        end += 2;
      }
      out.add(input.substring(from, end));
      from = end;
    }
    return out;
  }

  private static void drainInbound(EmbeddedChannel ch) {
    Object m;
    while ((m = ch.readInbound()) != null) {
      ReferenceCountUtil.release(m);
    }
  }

  private static String drainOutbound(EmbeddedChannel ch) {
    StringBuilder b = new StringBuilder();
    Object m;
    while ((m = ch.readOutbound()) != null) {
      if (m instanceof ByteBuf buf) {
        b.append(buf.toString(StandardCharsets.US_ASCII));
      }
      ReferenceCountUtil.release(m);
    }
    return b.toString();
  }
}
