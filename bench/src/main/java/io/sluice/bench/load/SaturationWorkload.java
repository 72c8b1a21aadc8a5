package io.sluice.bench.load;

import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.KeyStore;
import io.sluice.auth.Role;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.AdmissionSettings;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Issue 20 §6, second table: two tenants on a saturated cluster, one sending {@code ratio}× the other's rate, the two
 * together offering {@code load}× what the simulated replicas can serve — with and without fair admission.
 *
 * <p>The cluster: {@code replicas} fake vLLMs in simulation mode ({@code FakeVllm.simulate}), {@code seqs} sequences
 * each, every request a fresh {@code promptWords}-word prompt (no prefix-cache hits, so service times are equal) and
 * a streamed answer of {@code answerTokens} tokens at {@code decodeTps}. Capacity {@code C = replicas × seqs /
 * service}, service = prefill + answer. Arrivals are open loop, evenly spaced per tenant ({@link ArrivalSchedule}'s
 * rule), for {@code seconds}; each request runs on its own client thread, and its TTFT is counted from its due time,
 * so a queue anywhere shows (no coordinated omission). One Sluice node, {@code least-busy}.
 *
 * <p>Rows ({@link Mode}): <em>without</em> fair admission ({@code fair_admission.enabled: false}, no
 * {@code max_parallel_requests}: every request goes on to a replica and waits in vLLM's FIFO queue, what a gateway
 * without admission does); <em>with</em> it, saturation marked by {@code max_parallel_requests = seqs} (requests wait
 * in Sluice's per-tenant queues, served by weighted fair queueing, and get 429 past {@code queue_timeout}); the
 * same on two Sluice nodes, each taking every other request with half the slots; and saturation read from the
 * replicas' scraped {@code /metrics} instead ({@code max_waiting: 0}, no {@code max_parallel_requests}).
 *
 * <p>Per tenant: requests offered, completed (200 and {@code [DONE]}), shed (429), TTFT p50/p99 of the completed ones,
 * and its <em>served rate</em> — requests whose first token arrived inside the arrival window, per second. Jain's
 * fairness index is taken over each tenant's served rate divided by its max-min fair share of {@code C} (a tenant
 * asking less than an equal split gets all it asks; the rest is split among the others): 1 when every tenant gets its
 * fair share, 1/n at worst.
 *
 * <pre>{@code java -cp sluice-bench.jar io.sluice.bench.load.SaturationWorkload [--seconds S] [--load L]
 *     [--ratio R] [--replicas N] [--seqs K] [--queue-timeout SECONDS] [--out FILE]}</pre>
 */
public final class SaturationWorkload {
  private static final String MASTER = "sk-saturation-master";
  static final String HEAVY_KEY = "sk-saturation-heavy";
  static final String LIGHT_KEY = "sk-saturation-light";

  int replicas = 2;
  int seqs = 4;
  int promptWords = 64;
  int answerTokens = 20;
  double prefillUs = 200;
  double decodeTps = 100;
  double load = 1.5;
  double ratio = 10;
  int seconds = 30;
  double queueTimeoutSeconds = 5;

  record TenantRow(String tenant, double offeredPerSec, int sent, int completed, int shed, int errors,
      double ttftP50Ms, double ttftP99Ms, double servedPerSec, double fairSharePerSec) {
  }

  /** How a row admits requests. */
  enum Mode {
    OFF("off", 1),
    PARALLEL("on: `max_parallel_requests` = seqs", 1),
    PARALLEL_TWO_NODES("on, 2 Sluice nodes: `max_parallel_requests` = seqs / 2 each", 2),
    SCRAPED("on: scraped `vllm:num_requests_waiting` > 0 (`max_waiting: 0`)", 1);

    final String label;
    final int nodes;

    Mode(String label, int nodes) {
      this.label = label;
      this.nodes = nodes;
    }
  }

  record Row(Mode mode, List<TenantRow> tenants, double jain) {
  }

  public static void main(String[] args) throws Exception {
    SaturationWorkload w = new SaturationWorkload();
    Path out = null;
    for (int i = 0; i < args.length; i += 2) {
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException(args[i] + ": needs a value");
      }
      String v = args[i + 1];
      switch (args[i]) {
        case "--seconds" -> w.seconds = Integer.parseInt(v);
        case "--load" -> w.load = Double.parseDouble(v);
        case "--ratio" -> w.ratio = Double.parseDouble(v);
        case "--replicas" -> w.replicas = Integer.parseInt(v);
        case "--seqs" -> w.seqs = Integer.parseInt(v);
        case "--queue-timeout" -> w.queueTimeoutSeconds = Double.parseDouble(v);
        case "--out" -> out = Path.of(v);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    // A short discarded run first: the first row in a fresh JVM would otherwise carry the JIT's warm-up.
    int full = w.seconds;
    w.seconds = Math.min(8, full);
    System.err.println("saturation workload: warm-up (discarded): " + w.run(Mode.PARALLEL));
    w.seconds = full;
    List<Row> rows = new ArrayList<>();
    for (Mode mode : Mode.values()) {
      Row r = w.run(mode);
      System.err.println("saturation workload: " + r);
      rows.add(r);
    }
    String table = w.table(rows);
    System.out.print(table);
    if (out != null) {
      Files.writeString(out, table);
    }
    System.exit(0);
  }

  /** One request's service time on an idle replica, in seconds: prefill of the whole prompt, then the answer. */
  double serviceSeconds() {
    return promptWords * prefillUs / 1e6 + answerTokens / decodeTps;
  }

  /** What the cluster completes per second when every sequence is busy. */
  double capacityPerSec() {
    return replicas * seqs / serviceSeconds();
  }

  /** Offered rates, heavy first: together {@code load × C}, in the ratio {@code ratio : 1}. */
  double[] offered() {
    double total = load * capacityPerSec();
    return new double[] {total * ratio / (ratio + 1), total / (ratio + 1)};
  }

  String table(List<Row> rows) {
    double[] offered = offered();
    StringBuilder b = new StringBuilder();
    b.append(String.format("%d simulated replicas × %d seqs, %d-word prompts (%.0f µs/token prefill), %d-token answers "
        + "at %.0f tokens/s: capacity %.1f req/s; offered %.1f + %.1f req/s (%.0f %% of capacity, %.0f : 1) for %d s; "
        + "queue_timeout %.0f s; least-busy; a second node gets every other request%n%n", replicas, seqs, promptWords,
        prefillUs, answerTokens, decodeTps, capacityPerSec(), offered[0], offered[1], 100 * load, ratio, seconds,
        queueTimeoutSeconds));
    b.append("| fair admission | tenant | offered req/s | completed | shed (429) | TTFT p50 | TTFT p99 | served req/s "
        + "(fair share) | share of served | Jain's index |\n");
    b.append("|---|---|---|---|---|---|---|---|---|---|\n");
    for (Row r : rows) {
      double total = r.tenants.stream().mapToDouble(TenantRow::servedPerSec).sum();
      boolean first = true;
      for (TenantRow t : r.tenants) {
        b.append(String.format("| %s | %s | %.1f | %d of %d | %d | %s | %s | %.1f (%.1f) | %.1f %% | %s |%n",
            first ? r.mode.label : "", t.tenant, t.offeredPerSec, t.completed, t.sent, t.shed,
            ms(t.ttftP50Ms), ms(t.ttftP99Ms), t.servedPerSec, t.fairSharePerSec,
            total == 0 ? 0 : 100 * t.servedPerSec / total, first ? String.format("%.3f", r.jain) : ""));
        first = false;
      }
    }
    return b.toString();
  }

  private static String ms(double v) {
    return v >= 1000 ? String.format("%.2f s", v / 1000) : String.format("%.0f ms", v);
  }

  /**
   * Max-min fair shares of {@code capacity} among tenants asking {@code demand}: progressive filling — tenants asking
   * less than an equal split of what is left get what they ask, the rest split what remains equally.
   */
  static double[] maxMinShares(double capacity, double[] demand) {
    double[] share = new double[demand.length];
    boolean[] fixed = new boolean[demand.length];
    double left = capacity;
    int open = demand.length;
    boolean changed = true;
    while (open > 0 && changed) {
      changed = false;
      double equal = left / open;
      for (int i = 0; i < demand.length; i++) {
        if (!fixed[i] && demand[i] <= equal) {
          share[i] = demand[i];
          fixed[i] = true;
          left -= demand[i];
          open--;
          changed = true;
        }
      }
    }
    for (int i = 0; i < demand.length; i++) {
      if (!fixed[i]) {
        share[i] = left / open;
      }
    }
    return share;
  }

  /** Jain's fairness index of {@code x}: (Σx)² / (n Σx²); 1 when all are equal, 1/n when one has everything. */
  static double jain(double[] x) {
    double sum = 0;
    double squares = 0;
    for (double v : x) {
      sum += v;
      squares += v * v;
    }
    return squares == 0 ? 1 : sum * sum / (x.length * squares);
  }

  Row run(Mode mode) throws Exception {
    List<FakeVllm> fakes = new ArrayList<>();
    List<SluiceServer> sluices = new ArrayList<>();
    boolean fair = mode != Mode.OFF;
    Integer parallel = switch (mode) {
      case PARALLEL -> seqs;
      case PARALLEL_TWO_NODES -> Math.max(1, seqs / 2);
      default -> null;
    };
    ExecutorService clients = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "saturation-client");
      t.setDaemon(true);
      return t;
    });
    try {
      List<DeploymentConfig> models = new ArrayList<>();
      for (int i = 0; i < replicas; i++) {
        // A cache big enough never to evict, and prompts that never share a block: no hits, equal service times.
        FakeVllm f = FakeVllm.builder().servedModel("m").tokens(answerTokens)
            .simulate(seqs, 1 << 16, 16, prefillUs, decodeTps).start();
        fakes.add(f);
        models.add(new DeploymentConfig("chat", Provider.HOSTED_VLLM, "m",
            URI.create("http://127.0.0.1:" + f.port() + "/v1"), null, null, null, null, null, "replica-" + i, null,
            null, null, Map.of(), parallel));
      }
      AdmissionSettings admission = new AdmissionSettings(fair,
          Duration.ofMillis((long) (queueTimeoutSeconds * 1000)), mode == Mode.SCRAPED ? 0.0 : null, null,
          AdmissionSettings.DEFAULT_MAX_QUEUED_BYTES,
          Map.of(), Map.of());
      // No retries and a long first-byte timeout: a request waiting in vLLM's queue is not an error to retry.
      RouterSettings router = new RouterSettings("least-busy", Duration.ofSeconds(600), 0, 1000,
          Duration.ofSeconds(5), Map.of(), null, Map.of(), false, null, admission);
      Map<KeyHash, KeyRecord> keys = Map.of(
          KeyHash.of(HEAVY_KEY), KeyRecord.simple(KeyHash.of(HEAVY_KEY), "heavy", Role.INTERNAL_USER, Set.of(), false,
              null),
          KeyHash.of(LIGHT_KEY), KeyRecord.simple(KeyHash.of(LIGHT_KEY), "light", Role.INTERNAL_USER, Set.of(), false,
              null));
      KeyStore store = hash -> CompletableFuture.completedFuture(Optional.ofNullable(keys.get(hash)));
      for (int n = 0; n < mode.nodes; n++) {
        sluices.add(SluiceServer.start(new SluiceConfig(null, models, GeneralSettings.defaults(), router,
            LitellmSettings.defaults(), ServerSettings.defaults()), new SluiceServer.Options("127.0.0.1", 0, 1,
            Secret.of(MASTER), false, store, true)));
      }
      if (mode == Mode.SCRAPED) {
        Thread.sleep(1500); // one scrape of every replica before the first request
      }
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(10)).build();

      double[] rates = offered();
      String[] names = {"heavy", "light"};
      String[] keysOf = {HEAVY_KEY, LIGHT_KEY};
      Tally[] tallies = {new Tally(), new Tally()};
      AtomicLong serial = new AtomicLong();
      long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
      long windowEnd = start + TimeUnit.SECONDS.toNanos(seconds);
      long[] nextIndex = new long[2];
      long[] periodNanos = {(long) (1e9 / rates[0]), (long) (1e9 / rates[1])};
      // One dispatcher: sends every due request of both tenants, in due order, each on a client thread of its own.
      while (true) {
        int t = start + nextIndex[0] * periodNanos[0] <= start + nextIndex[1] * periodNanos[1] ? 0 : 1;
        long due = start + nextIndex[t] * periodNanos[t];
        if (due >= windowEnd) {
          break;
        }
        long wait = due - System.nanoTime();
        if (wait > 0) {
          LockSupport.parkNanos(wait);
          continue;
        }
        nextIndex[t]++;
        Tally tally = tallies[t];
        String key = keysOf[t];
        long n = serial.getAndIncrement();
        String body = body(n);
        int port = sluices.get((int) (n % sluices.size())).port();
        tally.sent.incrementAndGet();
        clients.execute(() -> tally.record(send(http, port, key, body, due), windowEnd));
      }
      clients.shutdown();
      // Without fair admission the backlog in vLLM's queue drains after the window: wait for all of it.
      if (!clients.awaitTermination(10, TimeUnit.MINUTES)) {
        throw new IllegalStateException("saturation workload: requests still running 10 minutes after the window");
      }
      double[] served = new double[2];
      for (int t = 0; t < 2; t++) {
        served[t] = tallies[t].servedInWindow.get() / (double) seconds;
      }
      double[] shares = maxMinShares(capacityPerSec(), rates);
      double[] normalized = new double[2];
      List<TenantRow> rows = new ArrayList<>();
      for (int t = 0; t < 2; t++) {
        normalized[t] = served[t] / shares[t];
        long[] sorted = tallies[t].ttfts.stream().mapToLong(Long::longValue).sorted().toArray();
        rows.add(new TenantRow(names[t], rates[t], tallies[t].sent.get(), tallies[t].completed.get(),
            tallies[t].shed.get(), tallies[t].errors.get(), pct(sorted, 0.50) / 1e6, pct(sorted, 0.99) / 1e6,
            served[t], shares[t]));
      }
      return new Row(mode, rows, jain(normalized));
    } finally {
      clients.shutdownNow();
      sluices.forEach(SluiceServer::close);
      fakes.forEach(FakeVllm::close);
    }
  }

  /** One tenant's outcomes; thread-safe. */
  static final class Tally {
    final AtomicInteger sent = new AtomicInteger();
    final AtomicInteger completed = new AtomicInteger();
    final AtomicInteger shed = new AtomicInteger();
    final AtomicInteger errors = new AtomicInteger();
    final AtomicInteger servedInWindow = new AtomicInteger();
    final ConcurrentLinkedQueue<Long> ttfts = new ConcurrentLinkedQueue<>();

    void record(Outcome o, long windowEnd) {
      switch (o.status) {
        case 200 -> {
          if (o.firstTokenAt < 0) {
            errors.incrementAndGet();
            return;
          }
          completed.incrementAndGet();
          ttfts.add(o.firstTokenAt - o.due);
          if (o.firstTokenAt < windowEnd) {
            servedInWindow.incrementAndGet();
          }
        }
        case 429 -> shed.incrementAndGet();
        default -> errors.incrementAndGet();
      }
    }
  }

  /** A request's end: its status (-1: no answer), and when its first content token came (-1: none, or no [DONE]). */
  record Outcome(int status, long due, long firstTokenAt) {
  }

  private static Outcome send(HttpClient http, int port, String key, String body, long due) {
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
        .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
        .timeout(Duration.ofMinutes(5)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    try {
      HttpResponse<InputStream> res = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
      try (BufferedReader r = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8))) {
        if (res.statusCode() != 200) {
          r.transferTo(java.io.Writer.nullWriter());
          return new Outcome(res.statusCode(), due, -1);
        }
        long first = -1;
        boolean done = false;
        String line;
        while ((line = r.readLine()) != null) {
          if (first < 0 && line.contains("\"content\":\"tok")) {
            first = System.nanoTime();
          }
          if (line.equals("data: [DONE]")) {
            done = true;
          }
        }
        return new Outcome(200, due, done ? first : -1);
      }
    } catch (Exception e) {
      return new Outcome(-1, due, -1);
    }
  }

  /** Request {@code n}'s body: a prompt of words no other request has, so no two share a cached block. */
  String body(long n) {
    StringBuilder b = new StringBuilder(promptWords * 12 + 96)
        .append("{\"model\":\"chat\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (int i = 0; i < promptWords; i++) {
      b.append(i == 0 ? "" : " ").append('r').append(n).append('w').append(i);
    }
    return b.append("\"}]}").toString();
  }

  private static long pct(long[] sorted, double p) {
    if (sorted.length == 0) {
      return 0;
    }
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
  }
}
