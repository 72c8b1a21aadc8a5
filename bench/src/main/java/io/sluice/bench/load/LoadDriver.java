package io.sluice.bench.load;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * A closed-loop HTTP/1.1 load driver on Netty: {@code C} keep-alive connections spread over {@code T} NIO event
 * loops, each sending one request, reading the whole response, recording its latency and sending the next. For
 * JSON it checks the status is 200; with {@code --stream} it reads the SSE body, counts events and checks the stream
 * ends with {@code data: [DONE]}, and records TTFB as the time to the first complete SSE event (for JSON: to the
 * first response byte).
 *
 * <p>Timeline: connect, warm up for {@code warmup} seconds (responses completing then are counted apart), measure
 * for {@code duration} seconds, then stop sending, close every connection and the event loops. Only responses that
 * complete inside the measurement window count; requests still in flight at its end are dropped.
 *
 * <p>Kept cheap so it is not the bottleneck: each event loop owns a prebuilt request buffer sent as a
 * {@code retainedDuplicate()}, histograms and counters are per event loop (no sharing; merged at the end),
 * responses are parsed as bytes by {@link ResponseScanner} (the {@code [DONE]} check included), connection errors
 * are retried by reconnecting.
 *
 * <p>Open loop ({@code --rate R}): requests are due on a fixed schedule instead, evenly spaced at {@code R} per
 * second over all connections ({@link ArrivalSchedule}; request {@code k} at {@code start + k / R}). A due request
 * goes out at once on an idle connection, else on the first one to free up; its latency and TTFB are measured from
 * its <em>due</em> time, so queueing in the proxy (or in the client, when every connection is busy) shows in the
 * percentiles instead of slowing the offered load (coordinated omission). Each event loop dispatches what is due on
 * a 0.5 ms timer tick and whenever a response completes; it counts requests sent more than 1 ms after their due time
 * ({@code late}: the connections or the driver, not the server, were the bottleneck) and the queue left at the end.
 * {@code rps} is then the achieved rate.
 *
 * <pre>
 * java -cp bench/target/sluice-bench.jar io.sluice.bench.load.LoadDriver \
 *     --url http://127.0.0.1:4000/v1/chat/completions [--connections 64] [--duration 10] [--warmup 3] \
 *     [--threads 1] [--stream] [--tokens N] [--header 'Authorization: Bearer sk-…'] [--model NAME] \
 *     [--body-file F] [--timeout 30] [--rate R] [--json]
 * </pre>
 */
public final class LoadDriver {
  /** Latencies are recorded in microseconds up to this; slower values are clamped. */
  static final long MAX_US = TimeUnit.SECONDS.toMicros(120);

  private LoadDriver() {}

  // ---------------------------------------------------------------------------------------------------------------
  // Options

  /** What to run. Fluent setters; {@link #parse} reads the command line. */
  public static final class Options {
    URI url;
    int connections = 64;
    double durationS = 10;
    double warmupS = 3;
    int threads = 1;
    boolean stream;
    int tokens = -1;
    final List<String[]> headers = new ArrayList<>();
    String model = "bench-model";
    byte[] body;
    double timeoutS = 30;
    double connectTimeoutS = 5;
    boolean json;
    /** Open-loop requests per second over all connections; 0 = closed loop. */
    double rate;
    /** End the measured window early once this many responses completed in it; 0 = run the whole duration. */
    long stopAfter;

    /**
     * Ends the measured window as soon as {@code n} responses completed in it (the duration becomes a deadline): a
     * test that needs every connection's first stream done waits as long as this machine needs, no longer.
     */
    public Options stopAfter(long n) {
      if (n < 0) {
        throw new IllegalArgumentException("--stop-after must be >= 0");
      }
      this.stopAfter = n;
      return this;
    }

    public Options url(String u) {
      URI parsed = URI.create(u);
      if (!"http".equalsIgnoreCase(parsed.getScheme()) || parsed.getHost() == null) {
        throw new IllegalArgumentException("--url must be http://host:port/path, got " + u);
      }
      this.url = parsed;
      return this;
    }

    public Options connections(int c) {
      if (c < 1) {
        throw new IllegalArgumentException("--connections must be >= 1");
      }
      this.connections = c;
      return this;
    }

    public Options duration(double seconds) {
      if (!(seconds > 0)) {
        throw new IllegalArgumentException("--duration must be > 0");
      }
      this.durationS = seconds;
      return this;
    }

    public Options warmup(double seconds) {
      if (!(seconds >= 0)) {
        throw new IllegalArgumentException("--warmup must be >= 0");
      }
      this.warmupS = seconds;
      return this;
    }

    public Options threads(int t) {
      if (t < 1) {
        throw new IllegalArgumentException("--threads must be >= 1");
      }
      this.threads = t;
      return this;
    }

    public Options stream(boolean s) {
      this.stream = s;
      return this;
    }

    /** Sent as {@code x-fake-tokens: N}; negative = header not sent. */
    public Options tokens(int n) {
      this.tokens = n;
      return this;
    }

    /** An extra request header. */
    public Options header(String name, String value) {
      if (name.isEmpty() || name.indexOf(':') >= 0 || name.indexOf('\r') >= 0 || name.indexOf('\n') >= 0
          || value.indexOf('\r') >= 0 || value.indexOf('\n') >= 0) {
        throw new IllegalArgumentException("bad header " + name + ": " + value);
      }
      headers.add(new String[] {name, value});
      return this;
    }

    public Options model(String m) {
      this.model = m;
      return this;
    }

    /** The request body, sent as is (then {@link #model} and {@link #stream} do not change it). */
    public Options body(byte[] b) {
      this.body = b.clone();
      return this;
    }

    /** A request with no complete response after this long counts as a timeout error; its connection is replaced. */
    public Options timeout(double seconds) {
      if (!(seconds > 0)) {
        throw new IllegalArgumentException("--timeout must be > 0");
      }
      this.timeoutS = seconds;
      return this;
    }

    /** How long a TCP connect to the target may take before it counts as a connection error (default 5 s). */
    public Options connectTimeout(double seconds) {
      if (!(seconds > 0)) {
        throw new IllegalArgumentException("--connect-timeout must be > 0");
      }
      this.connectTimeoutS = seconds;
      return this;
    }

    /** Open loop at {@code r} requests per second in total (see the class comment); 0 = closed loop. */
    public Options rate(double r) {
      if (!(r >= 0) || r > 1e9) {
        throw new IllegalArgumentException("--rate must be > 0 and <= 1e9");
      }
      this.rate = r;
      return this;
    }

    public Options json(boolean j) {
      this.json = j;
      return this;
    }

    /** Reads command-line flags (see the class comment). */
    public static Options parse(String... args) throws IOException {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        String v = null;
        int eq = a.indexOf('=');
        if (a.startsWith("--") && eq > 0) {
          v = a.substring(eq + 1);
          a = a.substring(0, eq);
        }
        switch (a) {
          case "--stream" -> o.stream(true);
          case "--json" -> o.json(true);
          case "-h", "--help" -> throw new UsageException(null);
          default -> {
            if (v == null) {
              if (i + 1 >= args.length) {
                throw new UsageException(a + " needs a value");
              }
              v = args[++i];
            }
            try {
              switch (a) {
                case "--url" -> o.url(v);
                case "-c", "--connections" -> o.connections(Integer.parseInt(v));
                case "-d", "--duration" -> o.duration(Double.parseDouble(v));
                case "--warmup" -> o.warmup(Double.parseDouble(v));
                case "-t", "--threads" -> o.threads(Integer.parseInt(v));
                case "--tokens" -> o.tokens(Integer.parseInt(v));
                case "--model" -> o.model(v);
                case "--body-file" -> o.body(Files.readAllBytes(Path.of(v)));
                case "--timeout" -> o.timeout(Double.parseDouble(v));
                case "--connect-timeout" -> o.connectTimeout(Double.parseDouble(v));
                case "--stop-after" -> o.stopAfter(Long.parseLong(v));
                case "--rate" -> {
                  double r = Double.parseDouble(v);
                  if (!(r > 0)) {
                    throw new IllegalArgumentException("must be > 0");
                  }
                  o.rate(r);
                }
                case "-H", "--header" -> {
                  int c = v.indexOf(':');
                  if (c <= 0) {
                    throw new UsageException("--header wants NAME:VALUE, got " + v);
                  }
                  o.header(v.substring(0, c).trim(), v.substring(c + 1).trim());
                }
                default -> throw new UsageException("unknown option " + a);
              }
            } catch (IllegalArgumentException e) {
              if (e instanceof UsageException) {
                throw e;
              }
              throw new UsageException(a + ": " + e.getMessage());
            }
          }
        }
      }
      if (o.url == null) {
        throw new UsageException("--url is required");
      }
      return o;
    }

    byte[] requestBytes() {
      byte[] b = body;
      if (b == null) {
        b = ("{\"model\":\"" + jsonEscape(model) + "\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"write a haiku about gateways\"}],\"max_tokens\":1024,\"stream\":" + stream + "}")
            .getBytes(StandardCharsets.UTF_8);
      }
      String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
      if (url.getRawQuery() != null) {
        path += "?" + url.getRawQuery();
      }
      StringBuilder h = new StringBuilder(256);
      h.append("POST ").append(path).append(" HTTP/1.1\r\n");
      h.append("Host: ").append(url.getHost()).append(':').append(port()).append("\r\n");
      h.append("Content-Type: application/json\r\n");
      h.append("Accept: ").append(stream ? "text/event-stream" : "application/json").append("\r\n");
      h.append("Content-Length: ").append(b.length).append("\r\n");
      if (tokens >= 0) {
        h.append("x-fake-tokens: ").append(tokens).append("\r\n");
      }
      for (String[] kv : headers) {
        h.append(kv[0]).append(": ").append(kv[1]).append("\r\n");
      }
      h.append("\r\n");
      ByteArrayOutputStream out = new ByteArrayOutputStream(h.length() + b.length);
      out.writeBytes(h.toString().getBytes(StandardCharsets.UTF_8));
      out.writeBytes(b);
      return out.toByteArray();
    }

    int port() {
      return url.getPort() > 0 ? url.getPort() : 80;
    }
  }

  /** A command-line mistake; the message (null for --help) goes above the usage text. */
  static final class UsageException extends IllegalArgumentException {
    UsageException(String msg) {
      super(msg);
    }
  }

  static final String USAGE = String.join("\n",
      "usage: LoadDriver --url http://127.0.0.1:PORT/v1/chat/completions [options]",
      "  --connections C    keep-alive connections, each one request at a time (default 64)",
      "  --duration S       measured seconds (default 10)",
      "  --warmup S         seconds before measuring, results discarded (default 3)",
      "  --threads T        event loops (default 1)",
      "  --stream           send \"stream\":true; read SSE, count events, require a final data: [DONE]",
      "  --tokens N         send x-fake-tokens: N (the fake vLLM's completion length)",
      "  --header K:V       extra request header, repeatable (e.g. 'Authorization: Bearer sk-...')",
      "  --model NAME       model in the generated body (default bench-model)",
      "  --body-file F      send this body verbatim instead of the generated one",
      "  --timeout S        a request with no full response after S seconds is an error (default 30)",
      "  --connect-timeout S  a TCP connect longer than S seconds is a connection error (default 5)",
      "  --stop-after N     end the measured window once N responses completed in it (--duration is then a deadline)",
      "  --rate R           open loop: R requests/s in total, evenly spaced; latency and TTFB from each request's",
      "                     due time; reports the achieved rate and requests sent > 1 ms late (default: closed loop)",
      "  --json             print one JSON object instead of text",
      "");

  // ---------------------------------------------------------------------------------------------------------------
  // Result

  /** Merged outcome of a run. Latency and TTFB histograms are in microseconds. */
  public static final class Result {
    final Options options;
    final double measuredSeconds;
    final Histogram latency;
    final Histogram ttfb;
    /** Time between one SSE event and the next on the same stream, in µs (0 = delivered in the same read). */
    final Histogram gap;
    final long requests;
    final long events;
    final long bytes;
    final long errorsStatus;
    final long errorsMalformed;
    final long errorsConnection;
    final long errorsTimeout;
    final long warmupRequests;
    final long warmupErrors;
    final String firstError;
    /** Open loop: time from due to sent, µs (0 = sent on time). Empty in closed loop. */
    final Histogram sendLag;
    final long late;
    final long backlog;

    Result(Options options, double measuredSeconds, List<Worker.Snapshot> snaps) {
      this.options = options;
      this.measuredSeconds = measuredSeconds;
      this.latency = new Histogram(MAX_US, 3);
      this.ttfb = new Histogram(MAX_US, 3);
      this.gap = new Histogram(MAX_US, 3);
      this.sendLag = new Histogram(MAX_US, 3);
      long lt = 0;
      long bl = 0;
      long rq = 0;
      long ev = 0;
      long by = 0;
      long es = 0;
      long em = 0;
      long ec = 0;
      long et = 0;
      long wr = 0;
      long we = 0;
      String fe = null;
      for (Worker.Snapshot s : snaps) {
        latency.add(s.latency);
        ttfb.add(s.ttfb);
        gap.add(s.gap);
        sendLag.add(s.sendLag);
        lt += s.late;
        bl += s.backlog;
        rq += s.requests;
        ev += s.events;
        by += s.bytes;
        es += s.errorsStatus;
        em += s.errorsMalformed;
        ec += s.errorsConnection;
        et += s.errorsTimeout;
        wr += s.warmupRequests;
        we += s.warmupErrors;
        if (fe == null) {
          fe = s.firstError;
        }
      }
      this.requests = rq;
      this.events = ev;
      this.bytes = by;
      this.errorsStatus = es;
      this.errorsMalformed = em;
      this.errorsConnection = ec;
      this.errorsTimeout = et;
      this.warmupRequests = wr;
      this.warmupErrors = we;
      this.firstError = fe;
      this.late = lt;
      this.backlog = bl;
    }

    /** Open loop: requests sent in the window more than 1 ms after their due time. */
    public long late() {
      return late;
    }

    /** Open loop: requests due by the end of the window and never sent. */
    public long backlog() {
      return backlog;
    }

    /** Open loop: due → sent, microseconds, requests sent in the window. */
    public Histogram sendLagHistogram() {
      return sendLag;
    }

    /** Successful responses completed in the measurement window (= latency histogram count). */
    public long requests() {
      return requests;
    }

    public double requestsPerSecond() {
      return requests / measuredSeconds;
    }

    /** SSE events ({@code [DONE]} included) of the successful streams. */
    public long events() {
      return events;
    }

    public double eventsPerSecond() {
      return events / measuredSeconds;
    }

    /** Response bytes received during the measurement window. */
    public long bytes() {
      return bytes;
    }

    public long errors() {
      return errorsStatus + errorsMalformed + errorsConnection + errorsTimeout;
    }

    /** Complete responses whose status was not 200. */
    public long errorsStatus() {
      return errorsStatus;
    }

    /** Unparseable responses, extra bytes after a response, SSE streams not ending with {@code data: [DONE]}. */
    public long errorsMalformed() {
      return errorsMalformed;
    }

    /** Failed connects, resets, and connections closed mid-response. */
    public long errorsConnection() {
      return errorsConnection;
    }

    public long errorsTimeout() {
      return errorsTimeout;
    }

    public long warmupRequests() {
      return warmupRequests;
    }

    public long warmupErrors() {
      return warmupErrors;
    }

    /** A description of the first error seen (warm-up included), or null. */
    public String firstError() {
      return firstError;
    }

    /** Latency to the last response byte, microseconds, successful responses in the window. */
    public Histogram latencyHistogram() {
      return latency;
    }

    /** Time to the first SSE event (stream) or the first response byte (JSON), microseconds. */
    public Histogram ttfbHistogram() {
      return ttfb;
    }

    public double measuredSeconds() {
      return measuredSeconds;
    }

    public String toJson() {
      StringBuilder b = new StringBuilder(1024);
      b.append('{');
      b.append("\"url\":\"").append(jsonEscape(options.url.toString())).append('"');
      b.append(",\"stream\":").append(options.stream);
      b.append(",\"connections\":").append(options.connections);
      b.append(",\"threads\":").append(options.threads);
      b.append(",\"warmupS\":").append(num(options.warmupS));
      b.append(",\"durationS\":").append(num(measuredSeconds));
      b.append(",\"requests\":").append(requests);
      b.append(",\"rps\":").append(num(requestsPerSecond()));
      b.append(",\"rate\":").append(num(options.rate));
      b.append(",\"late\":").append(late);
      b.append(",\"backlog\":").append(backlog);
      percentiles(b, "sendLag", sendLag);
      percentiles(b, "latency", latency);
      percentiles(b, "ttfb", ttfb);
      percentiles(b, "gap", gap);
      b.append(",\"sameReadEvents\":").append(gap.getCountBetweenValues(0, 0));
      b.append(",\"events\":").append(events);
      b.append(",\"eventsPerSec\":").append(num(eventsPerSecond()));
      b.append(",\"eventsPerStream\":").append(num(requests == 0 ? 0 : (double) events / requests));
      b.append(",\"bytes\":").append(bytes);
      b.append(",\"mbPerSec\":").append(num(bytes / measuredSeconds / 1e6));
      b.append(",\"errors\":").append(errors());
      b.append(",\"errorsStatus\":").append(errorsStatus);
      b.append(",\"errorsMalformed\":").append(errorsMalformed);
      b.append(",\"errorsConnection\":").append(errorsConnection);
      b.append(",\"errorsTimeout\":").append(errorsTimeout);
      b.append(",\"warmupRequests\":").append(warmupRequests);
      b.append(",\"warmupErrors\":").append(warmupErrors);
      b.append(",\"firstError\":");
      if (firstError == null) {
        b.append("null");
      } else {
        b.append('"').append(jsonEscape(firstError)).append('"');
      }
      b.append('}');
      return b.toString();
    }

    private static void percentiles(StringBuilder b, String name, Histogram h) {
      boolean any = h.getTotalCount() > 0;
      b.append(",\"").append(name).append("P50Us\":").append(any ? h.getValueAtPercentile(50) : 0);
      b.append(",\"").append(name).append("P90Us\":").append(any ? h.getValueAtPercentile(90) : 0);
      b.append(",\"").append(name).append("P99Us\":").append(any ? h.getValueAtPercentile(99) : 0);
      b.append(",\"").append(name).append("P999Us\":").append(any ? h.getValueAtPercentile(99.9) : 0);
      b.append(",\"").append(name).append("MaxUs\":").append(any ? h.getMaxValue() : 0);
      b.append(",\"").append(name).append("MeanUs\":").append(num(any ? h.getMean() : 0));
    }

    public String toText() {
      StringBuilder b = new StringBuilder(1024);
      b.append(String.format(Locale.ROOT, "%s  %s, %d connections, %d thread(s), %.1f s after %.1f s warm-up%n",
          options.url, options.stream ? "SSE" : "JSON", options.connections, options.threads, measuredSeconds,
          options.warmupS));
      b.append(String.format(Locale.ROOT, "  requests   %d  (%.1f req/s)%n", requests, requestsPerSecond()));
      if (options.rate > 0) {
        b.append(String.format(Locale.ROOT,
            "  open loop  offered %.1f req/s; latency from due time; sent > 1 ms late %d, due → sent p99 %s,"
                + " never sent %d%n", options.rate, late, ms(sendLag, 99), backlog));
      }
      b.append(String.format(Locale.ROOT, "  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s%n",
          ms(latency, 50), ms(latency, 90), ms(latency, 99), ms(latency, 99.9), ms(latency, 100)));
      if (options.stream) {
        b.append(String.format(Locale.ROOT, "  ttfb       p50 %s  p99 %s  (first SSE event)%n", ms(ttfb, 50),
            ms(ttfb, 99)));
        b.append(String.format(Locale.ROOT, "  events     %d  (%.1f events/s, %.1f per stream)%n", events,
            eventsPerSecond(), requests == 0 ? 0.0 : (double) events / requests));
      } else {
        b.append(String.format(Locale.ROOT, "  ttfb       p50 %s  p99 %s  (first response byte)%n", ms(ttfb, 50),
            ms(ttfb, 99)));
      }
      b.append(String.format(Locale.ROOT, "  received   %.1f MB/s%n", bytes / measuredSeconds / 1e6));
      b.append(String.format(Locale.ROOT,
          "  errors     %d  (status %d, malformed %d, connection %d, timeout %d); warm-up: %d ok, %d errors%n",
          errors(), errorsStatus, errorsMalformed, errorsConnection, errorsTimeout, warmupRequests, warmupErrors));
      if (firstError != null) {
        b.append("  first error: ").append(firstError).append(System.lineSeparator());
      }
      return b.toString();
    }

    private static String ms(Histogram h, double pct) {
      if (h.getTotalCount() == 0) {
        return "-";
      }
      long us = pct >= 100 ? h.getMaxValue() : h.getValueAtPercentile(pct);
      return String.format(Locale.ROOT, "%.3fms", us / 1000.0);
    }

    private static String num(double d) {
      if (Double.isNaN(d) || Double.isInfinite(d)) {
        return "0";
      }
      return String.format(Locale.ROOT, "%.3f", d);
    }

    @Override
    public String toString() {
      return toText();
    }
  }

  static String jsonEscape(String s) {
    StringBuilder b = new StringBuilder(s.length() + 8);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) {
            b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.toString();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Run

  /** Runs the load as configured and returns when everything it opened is closed. */
  public static Result run(Options o) throws InterruptedException {
    if (o.url == null) {
      throw new IllegalArgumentException("url is required");
    }
    byte[] request = o.requestBytes();
    InetSocketAddress remote = new InetSocketAddress(o.url.getHost(), o.port());
    MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(o.threads,
        new DefaultThreadFactory("load-driver", true), NioIoHandler.newFactory());
    List<Worker> workers = new ArrayList<>();
    try {
      long start = System.nanoTime();
      long measureStart = start + (long) (o.warmupS * 1e9);
      long measureEnd = measureStart + (long) (o.durationS * 1e9);
      int stride = o.threads;
      java.util.concurrent.atomic.AtomicLong completed = o.stopAfter > 0 ? new java.util.concurrent.atomic.AtomicLong()
          : null;
      for (EventExecutor e : group) {
        Worker w = new Worker((EventLoop) e, o, request, remote, measureStart, measureEnd);
        w.completed = completed;
        if (o.rate > 0) {
          w.schedule = new ArrivalSchedule(System::nanoTime, start, o.rate, workers.size(), stride);
        }
        workers.add(w);
      }
      for (int i = 0; i < o.connections; i++) {
        workers.get(i % workers.size()).addConnection();
      }
      for (Worker w : workers) {
        w.loop.execute(w::start);
      }
      long left;
      while ((left = measureEnd - System.nanoTime()) > 0 && (completed == null || completed.get() < o.stopAfter)) {
        TimeUnit.NANOSECONDS.sleep(Math.min(left, completed == null ? 200_000_000L : 50_000_000L));
      }
      long end = Math.min(System.nanoTime(), measureEnd);
      List<Worker.Snapshot> snaps = new ArrayList<>();
      for (Worker w : workers) {
        snaps.add(get(w.loop.submit(w::stop)));
      }
      return new Result(o, Math.max(1, end - measureStart) / 1e9, snaps);
    } finally {
      List<Future<?>> closing = new ArrayList<>();
      for (Worker w : workers) {
        closing.add(w.loop.submit(w::closeAll));
      }
      for (Future<?> f : closing) {
        f.awaitUninterruptibly(5, TimeUnit.SECONDS);
      }
      group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
      for (Worker w : workers) {
        w.releaseTemplate();
      }
    }
  }

  private static <T> T get(Future<T> f) throws InterruptedException {
    try {
      return f.get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    } catch (java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("event loop did not answer", e);
    }
  }

  public static void main(String[] args) {
    PrintStream out = System.out;
    Options o;
    try {
      o = Options.parse(args);
    } catch (UsageException e) {
      if (e.getMessage() != null) {
        System.err.println("LoadDriver: " + e.getMessage());
      }
      (e.getMessage() == null ? out : System.err).print(USAGE);
      System.exit(e.getMessage() == null ? 0 : 2);
      return;
    } catch (IOException e) {
      System.err.println("LoadDriver: " + e);
      System.exit(2);
      return;
    }
    try {
      Result r = run(o);
      out.println(o.json ? r.toJson() : r.toText());
      out.flush();
      System.exit(0);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      System.exit(130);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Per event loop

  /** One event loop's connections, counters and histograms; touched only on that loop. */
  static final class Worker {
    static final int ERR_STATUS = 0;
    static final int ERR_MALFORMED = 1;
    static final int ERR_CONNECTION = 2;
    static final int ERR_TIMEOUT = 3;

    final EventLoop loop;
    final Options o;
    final InetSocketAddress remote;
    final long measureStart;
    final long measureEnd;
    final long timeoutNanos;
    final ByteBuf template;
    final Bootstrap bootstrap;
    final byte[] scratch = new byte[64 * 1024];
    final List<Conn> conns = new ArrayList<>();
    final Histogram latency = new Histogram(MAX_US, 3);
    final Histogram ttfb = new Histogram(MAX_US, 3);
    final Histogram gap = new Histogram(MAX_US, 3);
    long requests;
    long events;
    /** Responses completed in the window by every worker ({@link Options#stopAfter}); null when not counted. */
    java.util.concurrent.atomic.AtomicLong completed;
    long bytes;
    final long[] errors = new long[4];
    long warmupRequests;
    long warmupErrors;
    String firstError;
    boolean stopped;
    ScheduledFuture<?> ticker;
    private boolean templateReleased;
    /** Open loop: this loop's share of the arrivals; null = closed loop. Set before {@link #start}. */
    ArrivalSchedule schedule;
    /** Open loop: connections with nothing in flight, most recently freed on top. */
    Conn[] idle = new Conn[0];
    int idleCount;
    final Histogram sendLag = new Histogram(MAX_US, 3);
    long late;
    long backlogAtStop;
    ScheduledFuture<?> dispatcher;

    Worker(EventLoop loop, Options o, byte[] request, InetSocketAddress remote, long measureStart,
        long measureEnd) {
      this.loop = loop;
      this.o = o;
      this.remote = remote;
      this.measureStart = measureStart;
      this.measureEnd = measureEnd;
      this.timeoutNanos = (long) (o.timeoutS * 1e9);
      this.template = PooledByteBufAllocator.DEFAULT.directBuffer(request.length).writeBytes(request);
      this.bootstrap = new Bootstrap()
          .group(loop)
          .channel(NioSocketChannel.class)
          .option(ChannelOption.TCP_NODELAY, true)
          .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) (o.connectTimeoutS * 1000))
          .handler(new ChannelInboundHandlerAdapter()); // replaced per connection
    }

    void addConnection() {
      conns.add(new Conn(this));
    }

    void start() {
      ticker = loop.scheduleAtFixedRate(this::tick, 100, 100, TimeUnit.MILLISECONDS);
      if (schedule != null) {
        idle = new Conn[conns.size()];
        // One timer per loop, not a task per request; responses completing dispatch too (Conn.send).
        dispatcher = loop.scheduleAtFixedRate(this::dispatchDue, 0, 500, TimeUnit.MICROSECONDS);
      }
      for (Conn c : conns) {
        c.connect();
      }
    }

    /** Stops sending and returns a copy of the counters (runs on the loop). */
    Snapshot stop() {
      if (schedule != null) {
        backlogAtStop = schedule.backlog(Math.min(schedule.now(), measureEnd));
      }
      stopped = true;
      return new Snapshot(this);
    }

    void closeAll() {
      stopped = true;
      if (ticker != null) {
        ticker.cancel(false);
      }
      if (dispatcher != null) {
        dispatcher.cancel(false);
      }
      for (Conn c : conns) {
        c.close();
      }
    }

    void releaseTemplate() {
      if (!templateReleased) {
        templateReleased = true;
        template.release();
      }
    }

    boolean sending(long now) {
      return !stopped && now - measureEnd < 0;
    }

    void ok(long startNanos, long ttfbNanos, long now, int ev) {
      if (now - measureStart >= 0 && now - measureEnd < 0) {
        requests++;
        if (completed != null) {
          completed.incrementAndGet();
        }
        events += ev;
        latency.recordValue(Math.min(MAX_US, Math.max(0, (now - startNanos) / 1000)));
        ttfb.recordValue(Math.min(MAX_US, Math.max(0, (ttfbNanos - startNanos) / 1000)));
      } else if (now - measureStart < 0) {
        warmupRequests++;
      }
    }

    void error(int kind, long now, String what) {
      if (firstError == null) {
        firstError = what;
      }
      if (now - measureStart >= 0 && now - measureEnd < 0) {
        errors[kind]++;
      } else if (now - measureStart < 0) {
        warmupErrors++;
      }
    }

    /** Open loop: {@code c} has nothing in flight; it sends the next due request now, or waits for one. */
    void ready(Conn c) {
      if (!c.idle) {
        c.idle = true;
        idle[idleCount++] = c;
      }
      dispatchDue();
    }

    /** Open loop: sends every due request there is an idle connection for; the rest wait (in the schedule). */
    void dispatchDue() {
      long now = schedule.now();
      while (idleCount > 0 && sending(now) && schedule.hasDue(now)) {
        Conn c = idle[--idleCount];
        idle[idleCount] = null;
        c.idle = false;
        if (c.ch == null || !c.ch.isActive()) {
          continue; // reconnecting: it comes back through ready() once connected
        }
        long due = schedule.take();
        if (now - measureStart >= 0 && now - measureEnd < 0) {
          sendLag.recordValue(ArrivalSchedule.sinceDueMicros(due, now, MAX_US));
          if (ArrivalSchedule.late(due, now)) {
            late++;
          }
        }
        c.write(due);
      }
    }

    void gap(long now, long nanos) {
      if (now - measureStart >= 0 && now - measureEnd < 0) {
        gap.recordValue(Math.min(MAX_US, Math.max(0, nanos / 1000)));
      }
    }

    void received(long now, int n) {
      if (now - measureStart >= 0 && now - measureEnd < 0) {
        bytes += n;
      }
    }

    private void tick() {
      long now = System.nanoTime();
      for (Conn c : conns) {
        c.checkTimeout(now);
      }
    }

    static final class Snapshot {
      final Histogram latency;
      final Histogram ttfb;
      final Histogram gap;
      final long requests;
      final long events;
      final long bytes;
      final long errorsStatus;
      final long errorsMalformed;
      final long errorsConnection;
      final long errorsTimeout;
      final long warmupRequests;
      final long warmupErrors;
      final String firstError;
      final Histogram sendLag;
      final long late;
      final long backlog;

      Snapshot(Worker w) {
        latency = w.latency.copy();
        ttfb = w.ttfb.copy();
        gap = w.gap.copy();
        requests = w.requests;
        events = w.events;
        bytes = w.bytes;
        errorsStatus = w.errors[ERR_STATUS];
        errorsMalformed = w.errors[ERR_MALFORMED];
        errorsConnection = w.errors[ERR_CONNECTION];
        errorsTimeout = w.errors[ERR_TIMEOUT];
        warmupRequests = w.warmupRequests;
        warmupErrors = w.warmupErrors;
        firstError = w.firstError;
        sendLag = w.sendLag.copy();
        late = w.late;
        backlog = w.backlogAtStop;
      }
    }
  }

  /** One closed-loop connection slot: reconnects when its connection fails or the server closes it. */
  static final class Conn {
    final Worker w;
    final ResponseScanner scanner;
    Channel ch;
    boolean inFlight;
    long startNanos;
    long ttfbNanos;
    boolean ttfbSeen;
    int okOnThisChannel;
    int eventsSeen;
    long lastEventNanos;
    /** Open loop: on the worker's idle stack. */
    boolean idle;

    Conn(Worker w) {
      this.w = w;
      this.scanner = new ResponseScanner(w.o.stream);
    }

    void connect() {
      if (!w.sending(System.nanoTime())) {
        return;
      }
      Bootstrap b = w.bootstrap.clone().handler(new Handler(this));
      ChannelFuture f = b.connect(w.remote);
      ch = f.channel();
      okOnThisChannel = 0;
      f.addListener(fut -> {
        if (fut.isSuccess()) {
          send();
        } else if (f.channel() == ch) {
          ch = null;
          w.error(Worker.ERR_CONNECTION, System.nanoTime(), "connect: " + fut.cause());
          reconnectLater();
        }
      });
    }

    private void reconnectLater() {
      if (w.sending(System.nanoTime())) {
        w.loop.schedule(this::connect, 50, TimeUnit.MILLISECONDS);
      }
    }

    /** Ready for the next request: closed loop sends it now; open loop when one is due ({@link Worker#ready}). */
    void send() {
      if (w.schedule != null) {
        if (ch != null) {
          w.ready(this);
        }
        return;
      }
      long now = System.nanoTime();
      if (ch == null || !w.sending(now)) {
        return;
      }
      write(now);
    }

    /** Sends the request; latency and TTFB count from {@code startNanos} (open loop: its due time). */
    void write(long startNanos) {
      scanner.reset();
      inFlight = true;
      ttfbSeen = false;
      eventsSeen = 0;
      this.startNanos = startNanos;
      ch.writeAndFlush(w.template.retainedDuplicate(), ch.voidPromise());
    }

    void onRead(Channel c, ByteBuf buf) {
      if (c != ch) {
        return;
      }
      long now = System.nanoTime();
      int readable = buf.readableBytes();
      w.received(now, readable);
      if (!inFlight) {
        w.error(Worker.ERR_MALFORMED, now, "bytes with no request in flight");
        drop();
        return;
      }
      if (!ttfbSeen && !w.o.stream) {
        ttfbSeen = true;
        ttfbNanos = now;
      }
      byte[] s = w.scratch;
      int idx = buf.readerIndex();
      while (readable > 0) {
        int n = Math.min(readable, s.length);
        buf.getBytes(idx, s, 0, n);
        int used = scanner.feed(s, 0, n);
        idx += n;
        readable -= n;
        if (!ttfbSeen && scanner.events() > 0) {
          ttfbSeen = true;
          ttfbNanos = now;
        }
        for (int ev = scanner.events(); eventsSeen < ev; eventsSeen++) {
          if (eventsSeen > 0) {
            w.gap(now, now - lastEventNanos); // events of one read: gap 0 (what a coalescing proxy shows)
          }
          lastEventNanos = now;
        }
        if (scanner.isFailed()) {
          inFlight = false;
          w.error(Worker.ERR_MALFORMED, now, "malformed response: " + scanner.failure());
          drop();
          return;
        }
        if (scanner.isComplete()) {
          if (used < n || readable > 0) {
            inFlight = false;
            w.error(Worker.ERR_MALFORMED, now, "bytes after the end of the response");
            drop();
            return;
          }
          complete(now);
          if (scanner.connectionClose()) {
            drop();
          } else {
            send();
          }
          return;
        }
      }
    }

    /** The response ended: record it as a success or an error. */
    private void complete(long now) {
      inFlight = false;
      int status = scanner.status();
      if (status != 200) {
        w.error(Worker.ERR_STATUS, now, "status " + status);
      } else if (w.o.stream && !scanner.sseEndedWithDone()) {
        w.error(Worker.ERR_MALFORMED, now, "stream did not end with data: [DONE] (" + scanner.events()
            + " events)");
      } else {
        okOnThisChannel++;
        w.ok(startNanos, ttfbSeen ? ttfbNanos : now, now, scanner.events());
      }
    }

    void onInactive(Channel c) {
      if (c != ch) {
        return;
      }
      ch = null;
      long now = System.nanoTime();
      if (inFlight) {
        if (scanner.onEof()) {
          complete(now);
        } else {
          inFlight = false;
          w.error(Worker.ERR_CONNECTION, now, scanner.inHead() && okOnThisChannel == 0 && scanner.status() == 0
              ? "connection closed before a response" : "connection closed mid-response");
        }
      }
      if (okOnThisChannel > 0) {
        connect();
      } else {
        reconnectLater();
      }
    }

    void onException(Channel c, Throwable cause) {
      if (c != ch) {
        c.close();
        return;
      }
      if (inFlight) {
        inFlight = false;
        w.error(Worker.ERR_CONNECTION, System.nanoTime(), "connection error: " + cause);
      }
      c.close();
    }

    void checkTimeout(long now) {
      if (inFlight && now - startNanos > w.timeoutNanos) {
        inFlight = false;
        w.error(Worker.ERR_TIMEOUT, now, "no complete response after " + w.o.timeoutS + " s");
        drop();
      }
    }

    /** Closes the current connection; {@link #onInactive} reconnects. */
    private void drop() {
      Channel c = ch;
      if (c != null) {
        c.close();
      }
    }

    void close() {
      inFlight = false;
      Channel c = ch;
      ch = null;
      if (c != null) {
        c.close();
      }
    }
  }

  static final class Handler extends ChannelInboundHandlerAdapter {
    final Conn conn;

    Handler(Conn conn) {
      this.conn = conn;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ByteBuf buf = (ByteBuf) msg;
      try {
        conn.onRead(ctx.channel(), buf);
      } finally {
        buf.release();
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      conn.onInactive(ctx.channel());
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      conn.onException(ctx.channel(), cause);
    }
  }
}
