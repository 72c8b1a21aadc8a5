package io.sluice.bench.fake;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.function.LongConsumer;

/**
 * The fake vLLM's simulation mode (issue 20 §5): a replica with a fixed number of concurrent sequences, a FIFO queue
 * behind them, and an LRU prefix cache of block hashes, so routing choices show up as queueing and cache hits.
 *
 * <p>The model, per replica:
 * <ul>
 *   <li>A request arrives with its prompt tokens (the fake's whitespace words) cut into blocks of
 *       {@code blockTokens}; each full block is identified by the chained hash of every token up to its end, as
 *       vLLM's prefix cache identifies blocks (a block's hash covers its parent's).</li>
 *   <li>If fewer than {@code maxRunning} sequences run, it is admitted at once; else it waits in FIFO order.</li>
 *   <li>On admission the cache is looked up: the longest run of leading blocks present is the cached prefix (at most
 *       {@code prompt − 1} tokens: vLLM always computes the last one). {@code prefix_cache_queries} grows by the
 *       prompt's tokens, {@code prefix_cache_hits} by the cached ones, as vLLM counts them. Every full block of the
 *       prompt then becomes the most recently used; past {@code cacheBlocks} the least recently used is evicted.</li>
 *   <li>The first token comes {@code prefillNanosPerToken × uncached tokens} after admission (so TTFT = queue wait
 *       + prefill), then one token every {@code itlNanos}. The sequence holds its slot until its last token.</li>
 *   <li>{@code kv_cache_usage_perc} = blocks held by running sequences (prompt + output tokens, rounded up to
 *       blocks) / {@code cacheBlocks}, at most 1. Cached blocks that no sequence holds count as free, as in vLLM.</li>
 * </ul>
 * Simplifications: generated tokens are not cached (a next turn resending the answer misses on it), no preemption,
 * no chunked prefill, no batching effect on speed (each running sequence decodes at the configured rate).
 *
 * <p>Thread-safe (one lock; the fake's event loops share it); callbacks run on the request's own executor.
 */
final class Simulation {
  /**
   * @param maxRunning           concurrent sequences (vLLM's {@code --max-num-seqs})
   * @param cacheBlocks          KV-cache blocks, the prefix cache's capacity
   * @param blockTokens          tokens per block (vLLM's {@code --block-size}, 16 by default)
   * @param prefillNanosPerToken prefill time per uncached prompt token
   * @param itlNanos             time per output token once decoding
   */
  record Config(int maxRunning, int cacheBlocks, int blockTokens, long prefillNanosPerToken, long itlNanos) {
    Config {
      if (maxRunning < 1 || cacheBlocks < 1 || blockTokens < 1 || prefillNanosPerToken < 0 || itlNanos < 0) {
        throw new IllegalArgumentException("simulation: " + maxRunning + " seqs, " + cacheBlocks + " blocks, "
            + blockTokens + " tokens/block, " + prefillNanosPerToken + " ns/token prefill, " + itlNanos
            + " ns/token decode (expected: ≥ 1, ≥ 1, ≥ 1, ≥ 0, ≥ 0)");
      }
    }
  }

  /** One request, from arrival to its last token. */
  static final class Seq {
    final long[] blocks;
    final int promptTokens;
    final int outputTokens;
    final Executor executor;
    final LongConsumer onAdmit;
    boolean admitted;
    boolean finished;
    int heldBlocks;

    Seq(long[] blocks, int promptTokens, int outputTokens, Executor executor, LongConsumer onAdmit) {
      this.blocks = blocks;
      this.promptTokens = promptTokens;
      this.outputTokens = outputTokens;
      this.executor = executor;
      this.onAdmit = onAdmit;
    }
  }

  final Config config;
  private final ArrayDeque<Seq> waiting = new ArrayDeque<>();
  private final LinkedHashMap<Long, Boolean> cache;
  private int running;
  private long usedBlocks;
  private long queries;
  private long hits;

  Simulation(Config config) {
    this.config = config;
    this.cache = new LinkedHashMap<>(1024, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
        return size() > config.cacheBlocks();
      }
    };
  }

  /** The chained hash of each full block of {@code words} (the prompt's tokens, in order). */
  long[] blocks(String[] words) {
    int n = words.length / config.blockTokens();
    long[] out = new long[n];
    long h = 0x9E3779B97F4A7C15L;
    for (int i = 0; i < n * config.blockTokens(); i++) {
      h = (h ^ words[i].hashCode()) * 0x100000001B3L;
      h ^= h >>> 29;
      if ((i + 1) % config.blockTokens() == 0) {
        out[i / config.blockTokens()] = h;
      }
    }
    return out;
  }

  /** Queues {@code s}, or admits it at once when a slot is free. */
  synchronized void submit(Seq s) {
    if (running < config.maxRunning()) {
      admit(s);
    } else {
      waiting.addLast(s);
    }
  }

  /** {@code s} ended (last token sent, or its client left): its slot and blocks are free. Idempotent. */
  synchronized void finished(Seq s) {
    if (s.finished) {
      return;
    }
    s.finished = true;
    if (!s.admitted) {
      waiting.remove(s);
      return;
    }
    running--;
    usedBlocks -= s.heldBlocks;
    Seq next = waiting.pollFirst();
    if (next != null) {
      admit(next);
    }
  }

  private void admit(Seq s) {
    running++;
    s.admitted = true;
    int cachedBlocks = 0;
    while (cachedBlocks < s.blocks.length && cache.containsKey(s.blocks[cachedBlocks])) {
      cachedBlocks++;
    }
    for (long b : s.blocks) {
      cache.put(b, Boolean.TRUE); // most recently used; the eldest beyond capacity goes
    }
    int cachedTokens = Math.max(0, Math.min(cachedBlocks * config.blockTokens(), s.promptTokens - 1));
    queries += s.promptTokens;
    hits += cachedTokens;
    s.heldBlocks = (s.promptTokens + s.outputTokens + config.blockTokens() - 1) / config.blockTokens();
    usedBlocks += s.heldBlocks;
    long prefill = (long) (s.promptTokens - cachedTokens) * config.prefillNanosPerToken();
    s.executor.execute(() -> s.onAdmit.accept(prefill));
  }

  synchronized int running() {
    return running;
  }

  synchronized int waiting() {
    return waiting.size();
  }

  synchronized double kvCacheUsage() {
    return Math.min(1.0, usedBlocks / (double) config.cacheBlocks());
  }

  synchronized long prefixCacheQueries() {
    return queries;
  }

  synchronized long prefixCacheHits() {
    return hits;
  }
}
