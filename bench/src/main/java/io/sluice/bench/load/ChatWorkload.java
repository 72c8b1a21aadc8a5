package io.sluice.bench.load;

import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.AffinitySettings;
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
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Issue 20 §6, first table: a multi-turn chat workload over simulated vLLM replicas ({@code FakeVllm.simulate}),
 * through 1 and through 2 Sluice nodes, once per routing strategy. Conversations share a system prompt; each turn
 * resends the whole history (system, every user turn and a fixed answer per turn) plus a new user message, streamed.
 * {@code concurrency} workers each take the next conversation and play its turns in order; turn {@code t} of a
 * conversation goes to node {@code (conversation + t) % nodes}, so with 2 nodes every conversation alternates
 * between them. Everything runs in this JVM with fresh replicas (cold caches) per row, after one discarded row that
 * warms the JIT.
 *
 * <p>Per row: the replicas' prefix-cache hit rate (Σ hits / Σ queries from their counters, in tokens), TTFT p50 and
 * p99 at the client (request sent → first content token), completed requests per second over the row.
 *
 * <pre>{@code java -cp sluice-bench.jar io.sluice.bench.load.ChatWorkload [--conversations N] [--turns T]
 *     [--concurrency C] [--replicas R] [--out FILE]}</pre>
 */
public final class ChatWorkload {
  private static final String MASTER = "sk-chat-workload";
  private static final String[] STRATEGIES = {"simple-shuffle", "least-busy", "vllm-load", "prefix-affinity"};

  int conversations = 96;
  int turns = 6;
  int concurrency = 16;
  int replicas = 4;
  // The simulated replica: 8 sequences, 256 blocks of 16 tokens (the active conversations fit in the 4 caches
  // together, not in any one), 200 µs prefill per uncached token, 100 tokens/s.
  int seqs = 8;
  int cacheBlocks = 256;
  double prefillUs = 200;
  double decodeTps = 100;
  int answerTokens = 8;

  record Row(String strategy, int nodes, double hitRate, double ttftP50Ms, double ttftP99Ms, double reqPerSec,
      int errors) {
  }

  public static void main(String[] args) throws Exception {
    ChatWorkload w = new ChatWorkload();
    Path out = null;
    for (int i = 0; i < args.length; i += 2) {
      String v = args[i + 1];
      switch (args[i]) {
        case "--conversations" -> w.conversations = Integer.parseInt(v);
        case "--turns" -> w.turns = Integer.parseInt(v);
        case "--concurrency" -> w.concurrency = Integer.parseInt(v);
        case "--replicas" -> w.replicas = Integer.parseInt(v);
        case "--out" -> out = Path.of(v);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    // One discarded row first: the first row in a fresh JVM would otherwise carry the JIT's warm-up.
    System.err.println("chat workload: warm-up (discarded): " + w.run(STRATEGIES[0], 1));
    List<Row> rows = new ArrayList<>();
    for (int nodes = 1; nodes <= 2; nodes++) {
      for (String s : STRATEGIES) {
        Row r = w.run(s, nodes);
        System.err.println("chat workload: " + r);
        rows.add(r);
      }
    }
    String table = w.table(rows);
    System.out.print(table);
    if (out != null) {
      Files.writeString(out, table);
    }
    System.exit(0);
  }

  String table(List<Row> rows) {
    StringBuilder b = new StringBuilder();
    b.append(String.format("%d conversations × %d turns, %d workers, %d simulated replicas (%d seqs, %d blocks × 16 "
        + "tokens, %.0f µs/uncached token, %.0f tokens/s, %d tokens per answer)%n%n", conversations, turns,
        concurrency, replicas, seqs, cacheBlocks, prefillUs, decodeTps, answerTokens));
    b.append("| strategy | Sluice nodes | prefix-cache hit rate | TTFT p50 | TTFT p99 | completed req/s | errors |\n");
    b.append("|---|---|---|---|---|---|---|\n");
    for (Row r : rows) {
      b.append(String.format("| %s | %d | %.1f %% | %.0f ms | %.0f ms | %.1f | %d |%n", r.strategy, r.nodes,
          100 * r.hitRate, r.ttftP50Ms, r.ttftP99Ms, r.reqPerSec, r.errors));
    }
    return b.toString();
  }

  Row run(String strategy, int nodes) throws Exception {
    List<FakeVllm> fakes = new ArrayList<>();
    List<SluiceServer> sluices = new ArrayList<>();
    try {
      List<DeploymentConfig> models = new ArrayList<>();
      for (int i = 0; i < replicas; i++) {
        FakeVllm f = FakeVllm.builder().servedModel("m").tokens(answerTokens)
            .simulate(seqs, cacheBlocks, 16, prefillUs, decodeTps).start();
        fakes.add(f);
        models.add(new DeploymentConfig("chat", Provider.HOSTED_VLLM, "m",
            URI.create("http://127.0.0.1:" + f.port() + "/v1"), null, null, null, null, null, "replica-" + i));
      }
      RouterSettings router = new RouterSettings(strategy, null, 2, 1000, Duration.ofSeconds(5), Map.of(), null,
          AffinitySettings.defaults());
      for (int n = 0; n < nodes; n++) {
        sluices.add(SluiceServer.start(new SluiceConfig(null, models, GeneralSettings.defaults(), router,
            LitellmSettings.defaults(), ServerSettings.defaults()), new SluiceServer.Options("127.0.0.1", 0, 1,
            Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true)));
      }
      if (strategy.equals("vllm-load")) {
        Thread.sleep(1500); // one scrape of every replica before the first request
      }
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5)).build();
      AtomicInteger next = new AtomicInteger();
      AtomicInteger errors = new AtomicInteger();
      AtomicLong completed = new AtomicLong();
      ConcurrentLinkedQueue<Long> ttfts = new ConcurrentLinkedQueue<>();
      List<Thread> workers = new ArrayList<>();
      long t0 = System.nanoTime();
      for (int k = 0; k < concurrency; k++) {
        Thread t = new Thread(() -> {
          int c;
          while ((c = next.getAndIncrement()) < conversations) {
            for (int turn = 0; turn < turns; turn++) {
              SluiceServer s = sluices.get((c + turn) % nodes);
              long ttft = turn(http, s.port(), body(c, turn));
              if (ttft < 0) {
                errors.incrementAndGet();
              } else {
                ttfts.add(ttft);
                completed.incrementAndGet();
              }
            }
          }
        }, "chat-worker-" + k);
        workers.add(t);
        t.start();
      }
      for (Thread t : workers) {
        t.join();
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      long hits = 0;
      long queries = 0;
      for (FakeVllm f : fakes) {
        hits += f.prefixCacheHits();
        queries += f.prefixCacheQueries();
      }
      long[] sorted = ttfts.stream().mapToLong(Long::longValue).sorted().toArray();
      return new Row(strategy, nodes, queries == 0 ? 0 : hits / (double) queries, pct(sorted, 0.50) / 1e6,
          pct(sorted, 0.99) / 1e6, completed.get() / seconds, errors.get());
    } finally {
      for (SluiceServer s : sluices) {
        s.close();
      }
      fakes.forEach(FakeVllm::close);
    }
  }

  private static long pct(long[] sorted, double p) {
    if (sorted.length == 0) {
      return 0;
    }
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
  }

  /** Sends one streamed turn; the time to its first content token in ns, or -1 on an error. */
  private static long turn(HttpClient http, int port, String body) {
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
        .header("Authorization", "Bearer " + MASTER).header("Content-Type", "application/json")
        .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    long start = System.nanoTime();
    try {
      HttpResponse<InputStream> res = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
      try (BufferedReader r = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8))) {
        if (res.statusCode() != 200) {
          return -1;
        }
        long first = -1;
        boolean done = false;
        String line;
        while ((line = r.readLine()) != null) {
          if (first < 0 && line.contains("\"content\":\"tok")) {
            first = System.nanoTime() - start;
          }
          if (line.equals("data: [DONE]")) {
            done = true;
          }
        }
        return done ? first : -1;
      }
    } catch (Exception e) {
      return -1;
    }
  }

  private static final String SYSTEM = words(60, "system");

  /** Conversation {@code c}'s request at turn {@code t}: the shared system prompt, its history, a new question. */
  static String body(int c, int t) {
    StringBuilder b = new StringBuilder("{\"model\":\"chat\",\"stream\":true,\"messages\":[{\"role\":\"system\","
        + "\"content\":\"").append(SYSTEM).append("\"}");
    for (int i = 0; i <= t; i++) {
      if (i > 0) {
        b.append(",{\"role\":\"assistant\",\"content\":\"").append(words(20, "a" + c + "t" + i + "w")).append("\"}");
      }
      b.append(",{\"role\":\"user\",\"content\":\"").append(words(40, "c" + c + "t" + i + "w")).append("\"}");
    }
    return b.append("]}").toString();
  }

  private static String words(int n, String prefix) {
    String[] w = new String[n];
    Arrays.setAll(w, i -> prefix + i);
    return String.join(" ", w);
  }
}
