package io.sluice.bench.load;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The load driver against a JDK HttpServer test double: JSON with a Content-Length, an SSE stream (chunked) with
 * a known number of events, a 500, a stream missing its {@code [DONE]}, and a closed port. Plus the byte parser
 * fed one byte at a time.
 */
class LoadDriverTest {
  static final int SSE_DATA_EVENTS = 5;
  static HttpServer server;
  static ExecutorService pool;
  static final ConcurrentHashMap<String, String> seenHeaders = new ConcurrentHashMap<>();
  static final AtomicLong served = new AtomicLong();

  @BeforeAll
  static void start() throws IOException {
    // Without TCP_NODELAY the JDK server's response waits ~40 ms for the client's delayed ACK after a quiet spell
    // (Nagle): fine for a closed loop, it caps an open loop's spaced requests at ~25/s per connection.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    pool = Executors.newFixedThreadPool(4);
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 128);
    server.setExecutor(pool);
    server.createContext("/json", ex -> {
      drain(ex);
      served.incrementAndGet();
      byte[] b = "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"hi\"}}]}".getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(200, b.length);
      try (OutputStream os = ex.getResponseBody()) {
        os.write(b);
      }
    });
    server.createContext("/sse", ex -> sse(ex, true));
    server.createContext("/sse-no-done", ex -> sse(ex, false));
    server.createContext("/slow", ex -> {
      drain(ex);
      try {
        Thread.sleep(20); // a server that does 50 requests/s on one connection
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      byte[] b = "{}".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, b.length);
      try (OutputStream os = ex.getResponseBody()) {
        os.write(b);
      }
    });
    server.createContext("/fail", ex -> {
      drain(ex);
      byte[] b = "{\"error\":\"boom\"}".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(500, b.length);
      try (OutputStream os = ex.getResponseBody()) {
        os.write(b);
      }
    });
    server.start();
  }

  static void drain(HttpExchange ex) throws IOException {
    ex.getRequestHeaders().forEach((k, v) -> seenHeaders.put(k.toLowerCase(java.util.Locale.ROOT), v.get(0)));
    try (InputStream in = ex.getRequestBody()) {
      String body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      seenHeaders.put("<body>", body);
    }
  }

  static void sse(HttpExchange ex, boolean done) throws IOException {
    drain(ex);
    ex.getResponseHeaders().set("Content-Type", "text/event-stream");
    ex.sendResponseHeaders(200, 0); // chunked
    try (OutputStream os = ex.getResponseBody()) {
      // A comment line (not an event), then data events flushed one by one, then [DONE].
      os.write(": keep-alive\n\n".getBytes(StandardCharsets.US_ASCII));
      for (int i = 0; i < SSE_DATA_EVENTS; i++) {
        os.write(("data: {\"choices\":[{\"delta\":{\"content\":\"tok" + i + " \"}}]}\n\n")
            .getBytes(StandardCharsets.US_ASCII));
        os.flush();
      }
      if (done) {
        os.write("data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII));
      }
    }
  }

  @AfterAll
  static void stop() {
    server.stop(0);
    pool.shutdownNow();
  }

  static String url(String path) {
    return "http://127.0.0.1:" + server.getAddress().getPort() + path;
  }

  static LoadDriver.Options opts(String path) {
    return new LoadDriver.Options().url(url(path)).connections(2).warmup(0.2).duration(1).threads(1);
  }

  @Test
  void stopAfterEndsTheWindowOnceThatManyResponsesCompleted() throws Exception {
    long t0 = System.nanoTime();
    LoadDriver.Result r = LoadDriver.run(opts("/json").duration(60).stopAfter(20));
    double took = (System.nanoTime() - t0) / 1e9;
    assertThat(r.errors()).isZero();
    assertThat(r.requests()).as("at least the 20 asked for (the other connection's may finish too)")
        .isGreaterThanOrEqualTo(20);
    assertThat(took).as("ended early, not after the 60 s deadline").isLessThan(30);
    assertThat(r.toJson()).contains("\"durationS\":");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> LoadDriver.Options.parse(new String[] {"--url",
        url("/json"), "--stop-after", "-1"})).hasMessageContaining("--stop-after");
  }

  @Test
  void jsonRequestsAreCountedAndTimed() throws Exception {
    LoadDriver.Result r = LoadDriver.run(opts("/json").tokens(16).model("bench-model")
        .header("Authorization", "Bearer sk-test"));
    assertThat(r.requests()).isGreaterThan(0);
    assertThat(r.errors()).isZero();
    assertThat(r.warmupErrors()).isZero();
    assertThat(r.firstError()).isNull();
    assertThat(r.latencyHistogram().getTotalCount()).isEqualTo(r.requests());
    assertThat(r.ttfbHistogram().getTotalCount()).isEqualTo(r.requests());
    assertThat(r.latencyHistogram().getMaxValue()).isGreaterThan(0);
    assertThat(r.requestsPerSecond()).isGreaterThan(0);
    assertThat(r.events()).isZero();
    assertThat(served.get()).isGreaterThanOrEqualTo(r.requests() + r.warmupRequests());
    assertThat(seenHeaders).containsEntry("x-fake-tokens", "16").containsEntry("authorization", "Bearer sk-test")
        .containsEntry("content-type", "application/json");
    assertThat(seenHeaders.get("<body>")).contains("\"model\":\"bench-model\"").contains("\"stream\":false");
    String json = r.toJson();
    assertThat(json).startsWith("{").endsWith("}").contains("\"requests\":" + r.requests())
        .contains("\"errors\":0").contains("\"firstError\":null");
  }

  @Test
  void sseEventsAreCountedAcrossTwoEventLoops() throws Exception {
    LoadDriver.Result r = LoadDriver.run(opts("/sse").stream(true).tokens(200).threads(2).connections(4));
    assertThat(r.requests()).isGreaterThan(0);
    assertThat(r.errors()).isZero();
    assertThat(r.latencyHistogram().getTotalCount()).isEqualTo(r.requests());
    assertThat(r.ttfbHistogram().getTotalCount()).isEqualTo(r.requests());
    // Each stream: 5 data events + [DONE]; the comment-only block is not an event.
    assertThat(r.events()).isEqualTo(r.requests() * (SSE_DATA_EVENTS + 1));
    assertThat(r.ttfbHistogram().getValueAtPercentile(50))
        .isLessThanOrEqualTo(r.latencyHistogram().getValueAtPercentile(50));
    assertThat(seenHeaders.get("<body>")).contains("\"stream\":true");
    assertThat(r.toText()).contains("events/s");
  }

  @Test
  void openLoopHoldsTheOfferedRateWhenTheServerKeepsUp() throws Exception {
    LoadDriver.Result r = LoadDriver.run(opts("/json").rate(200).connections(4).threads(2));
    assertThat(r.errors()).isZero();
    assertThat(r.requestsPerSecond()).as("offered 200/s").isBetween(150.0, 250.0);
    assertThat(r.backlog()).isLessThanOrEqualTo(4);
    assertThat(r.sendLagHistogram().getTotalCount()).isGreaterThan(0);
    assertThat(r.toJson()).contains("\"rate\":200.000").contains("\"late\":");
    assertThat(r.toText()).contains("open loop  offered 200.0 req/s");
  }

  @Test
  void openLoopCountsQueueingTheClosedLoopWouldHide() throws Exception {
    // One connection, 100/s offered, the server does 50/s: requests queue in the client. A closed loop would
    // report ~20 ms per request; from the due time the queue's wait shows, and the requests count as late.
    LoadDriver.Result r = LoadDriver.run(opts("/slow").rate(100).connections(1).warmup(0));
    assertThat(r.errors()).isZero();
    assertThat(r.requestsPerSecond()).isLessThan(70.0);
    assertThat(r.late()).isGreaterThan(0);
    assertThat(r.backlog()).isGreaterThan(10);
    assertThat(r.latencyHistogram().getValueAtPercentile(90)).as("µs, queueing included").isGreaterThan(200_000);
  }

  @Test
  void status500IsAnError() throws Exception {
    LoadDriver.Result r = LoadDriver.run(opts("/fail"));
    assertThat(r.requests()).isZero();
    assertThat(r.errorsStatus()).isGreaterThan(0);
    assertThat(r.errors()).isEqualTo(r.errorsStatus());
    assertThat(r.latencyHistogram().getTotalCount()).isZero();
    assertThat(r.firstError()).isEqualTo("status 500");
  }

  @Test
  void streamWithoutDoneIsMalformed() throws Exception {
    LoadDriver.Result r = LoadDriver.run(opts("/sse-no-done").stream(true));
    assertThat(r.requests()).isZero();
    assertThat(r.errorsMalformed()).isGreaterThan(0);
    assertThat(r.errors()).isEqualTo(r.errorsMalformed());
    assertThat(r.firstError()).contains("[DONE]");
  }

  @Test
  void closedPortCountsConnectionErrorsAndStillEnds() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    long t0 = System.nanoTime();
    LoadDriver.Result r = LoadDriver.run(new LoadDriver.Options().url("http://127.0.0.1:" + port + "/x")
        .connections(2).warmup(0).duration(0.5));
    assertThat(System.nanoTime() - t0).isLessThan(10_000_000_000L);
    assertThat(r.requests()).isZero();
    assertThat(r.errorsConnection()).isGreaterThan(0);
  }

  @Test
  void optionsParse() throws Exception {
    LoadDriver.Options o = LoadDriver.Options.parse("--url", "http://127.0.0.1:9/v1/chat/completions",
        "--connections", "8", "--duration=2.5", "--warmup", "0", "--threads", "2", "--stream", "--tokens", "200",
        "--header", "Authorization: Bearer sk-1", "--model", "m", "--json", "--rate", "2500.5");
    assertThat(o.connections).isEqualTo(8);
    assertThat(o.durationS).isEqualTo(2.5);
    assertThat(o.threads).isEqualTo(2);
    assertThat(o.stream).isTrue();
    assertThat(o.json).isTrue();
    assertThat(o.rate).isEqualTo(2500.5);
    assertThat(LoadDriver.Options.parse("--url", "http://x/").rate).as("closed loop by default").isZero();
    assertThatThrownBy(() -> LoadDriver.Options.parse("--url", "http://x/", "--rate", "0"))
        .hasMessageContaining("--rate");
    String req = new String(o.requestBytes(), StandardCharsets.UTF_8);
    assertThat(req).startsWith("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
        .contains("\r\nx-fake-tokens: 200\r\n").contains("\r\nAuthorization: Bearer sk-1\r\n")
        .contains("\"model\":\"m\"").contains("\"stream\":true").endsWith("}");
    int cl = Integer.parseInt(req.replaceAll("(?s).*Content-Length: (\\d+).*", "$1"));
    assertThat(req.substring(req.indexOf("\r\n\r\n") + 4).getBytes(StandardCharsets.UTF_8)).hasSize(cl);
    assertThatThrownBy(() -> LoadDriver.Options.parse("--connections", "2"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--url");
    assertThatThrownBy(() -> LoadDriver.Options.parse("--url", "http://x/", "--bogus", "1"))
        .hasMessageContaining("unknown option");
  }

  // --- ResponseScanner, fed one byte at a time and all at once -------------------------------------------------

  static ResponseScanner scanOneByOne(boolean sse, String wire, int[] consumed) {
    ResponseScanner s = new ResponseScanner(sse);
    byte[] b = wire.getBytes(StandardCharsets.US_ASCII);
    int total = 0;
    for (int i = 0; i < b.length && !s.isComplete() && !s.isFailed(); i++) {
      total += s.feed(b, i, 1);
    }
    consumed[0] = total;
    return s;
  }

  static ResponseScanner scanAll(boolean sse, String wire, int[] consumed) {
    ResponseScanner s = new ResponseScanner(sse);
    byte[] b = wire.getBytes(StandardCharsets.US_ASCII);
    consumed[0] = s.feed(b, 0, b.length);
    return s;
  }

  @Test
  void scannerChunkedSse() {
    String body = "data: {\"a\":1}\r\n\r\n: comment\n\nevent: x\ndata: 2\n\ndata: [DONE]\n\n";
    StringBuilder wire = new StringBuilder("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        + "transfer-encoding: Chunked\r\n\r\n");
    // Split the body into odd-sized chunks, one with an extension.
    int i = 0;
    int size = 7;
    while (i < body.length()) {
      int n = Math.min(size, body.length() - i);
      wire.append(Integer.toHexString(n)).append(size == 7 ? ";ext=1" : "").append("\r\n")
          .append(body, i, i + n).append("\r\n");
      i += n;
      size = size == 7 ? 13 : 7;
    }
    wire.append("0\r\nx-trailer: 1\r\n\r\n");
    String full = wire.toString();
    for (boolean oneByOne : new boolean[] {true, false}) {
      int[] consumed = new int[1];
      ResponseScanner s = oneByOne ? scanOneByOne(true, full + "EXTRA", consumed)
          : scanAll(true, full + "EXTRA", consumed);
      assertThat(s.isComplete()).isTrue();
      assertThat(consumed[0]).isEqualTo(full.length());
      assertThat(s.status()).isEqualTo(200);
      assertThat(s.events()).isEqualTo(3);
      assertThat(s.sseEndedWithDone()).isTrue();
      assertThat(s.connectionClose()).isFalse();
    }
  }

  @Test
  void scannerSseEndingWrongIsNotDone() {
    int[] c = new int[1];
    String head = "HTTP/1.1 200 OK\r\nContent-Length: ";
    for (String body : new String[] {"data: [DONE]\n\ndata: 1\n\n", "data: [DONE]\n", "data: [DONE]x\n\n",
        "data: 1\n\n"}) {
      ResponseScanner s = scanOneByOne(true, head + body.length() + "\r\n\r\n" + body, c);
      assertThat(s.isComplete()).as(body).isTrue();
      assertThat(s.sseEndedWithDone()).as(body).isFalse();
    }
  }

  @Test
  void scannerLengthEofAndErrors() {
    int[] c = new int[1];
    ResponseScanner s = scanOneByOne(false, "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 3\r\n"
        + "Connection: close\r\n\r\nabc", c);
    assertThat(s.isComplete()).isTrue();
    assertThat(s.status()).isEqualTo(500);
    assertThat(s.connectionClose()).isTrue();

    s = scanAll(false, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", c);
    assertThat(s.isComplete()).isTrue();
    assertThat(s.status()).isEqualTo(204);

    s = scanAll(true, "HTTP/1.0 200 OK\r\n\r\ndata: [DONE]\n\n", c);
    assertThat(s.isComplete()).isFalse();
    assertThat(s.onEof()).isTrue();
    assertThat(s.sseEndedWithDone()).isTrue();

    s = scanAll(false, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", c);
    assertThat(s.onEof()).isFalse();

    assertThat(scanAll(false, "garbage\r\n\r\n", c).isFailed()).isTrue();
    assertThat(scanAll(false, "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", c).isFailed()).isTrue();
    assertThat(scanAll(false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", c).isFailed())
        .isTrue();
    assertThat(scanAll(false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", c).isFailed())
        .isTrue();

    // reset() makes the instance reusable
    s = scanAll(false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", c);
    assertThat(s.isComplete()).isTrue();
    s.reset();
    byte[] again = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    assertThat(s.feed(again, 0, again.length)).isEqualTo(again.length);
    assertThat(s.isComplete()).isTrue();
    assertThat(s.status()).isEqualTo(404);
  }
}
