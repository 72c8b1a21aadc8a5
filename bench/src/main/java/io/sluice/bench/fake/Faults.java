package io.sluice.bench.fake;

import java.time.Duration;

/**
 * Knobs of a running {@link FakeVllm}, changeable at any time from any thread; they apply to requests that start
 * after the change. {@code -1} turns a token-count fault off.
 */
public final class Faults {
  private final int defaultTokens;
  private final Duration defaultTtft;
  private final Duration defaultItl;

  volatile int status;
  volatile int resetAfterTokens = -1;
  volatile int stallAfterTokens = -1;
  volatile int closeAfterTokens = -1;
  volatile int errorAfterTokens = -1;
  volatile boolean refuseConnections;
  volatile int tokens;
  volatile long ttftNanos;
  volatile long itlNanos;
  volatile int numRequestsWaiting;
  volatile double kvCacheUsagePerc;
  volatile int healthStatus;
  volatile boolean noCountTokens;
  /** vLLM's max_model_len: a prompt longer than this is refused with vLLM's 400; 0 = no limit. */
  volatile int maxModelLen;

  Faults(int tokens, Duration ttft, Duration itl) {
    this.defaultTokens = tokens;
    this.defaultTtft = ttft;
    this.defaultItl = itl;
    reset();
  }

  /** Back to the builder's settings, no faults. */
  public Faults reset() {
    status = 0;
    resetAfterTokens = -1;
    stallAfterTokens = -1;
    closeAfterTokens = -1;
    errorAfterTokens = -1;
    refuseConnections = false;
    tokens = defaultTokens;
    ttftNanos = defaultTtft.toNanos();
    itlNanos = defaultItl.toNanos();
    numRequestsWaiting = 0;
    kvCacheUsagePerc = 0;
    healthStatus = 200;
    noCountTokens = false;
    maxModelLen = 0;
    return this;
  }

  /**
   * vLLM's {@code --max-model-len}: a chat or completion prompt of more tokens than {@code n} is refused with vLLM's
   * 400 (serving_engine.py's "This model's maximum context length is …" message); 0 = off.
   */
  public Faults maxModelLen(int n) {
    this.maxModelLen = n;
    return this;
  }

  /**
   * Answer {@code /v1/messages/count_tokens} with FastAPI's bare 404, as a vLLM build that has the Messages API but
   * not its count route does.
   */
  public Faults noCountTokens(boolean off) {
    this.noCountTokens = off;
    return this;
  }

  /** Answer every model request with vLLM's error JSON for this status; 0 = off. */
  public Faults status(int code) {
    this.status = code;
    return this;
  }

  /** Streaming: after k content chunks, reset the connection (RST). */
  public Faults resetAfterTokens(int k) {
    this.resetAfterTokens = k;
    return this;
  }

  /** Streaming: after k content chunks, send nothing more while keeping the connection open. */
  public Faults stallAfterTokens(int k) {
    this.stallAfterTokens = k;
    return this;
  }

  /** Streaming: after k content chunks, close the connection gracefully (FIN) mid-stream. */
  public Faults closeAfterTokens(int k) {
    this.closeAfterTokens = k;
    return this;
  }

  /** Streaming: after k content chunks, send vLLM's mid-stream error event and {@code [DONE]}. */
  public Faults errorAfterTokens(int k) {
    this.errorAfterTokens = k;
    return this;
  }

  /** Close every accepted connection at once. */
  public Faults refuseConnections(boolean refuse) {
    this.refuseConnections = refuse;
    return this;
  }

  public Faults tokens(int n) {
    this.tokens = n;
    return this;
  }

  public Faults ttft(Duration d) {
    this.ttftNanos = d.toNanos();
    return this;
  }

  public Faults interTokenDelay(Duration d) {
    this.itlNanos = d.toNanos();
    return this;
  }

  /** What {@code /health} answers: 200, or 503 as newer vLLM does on {@code EngineDeadError}. */
  public Faults healthStatus(int code) {
    this.healthStatus = code;
    return this;
  }

  /** {@code vllm:num_requests_waiting} on /metrics. */
  public Faults numRequestsWaiting(int n) {
    this.numRequestsWaiting = n;
    return this;
  }

  /** {@code vllm:kv_cache_usage_perc} (and the deprecated {@code gpu_cache_usage_perc}) on /metrics, 0–1. */
  public Faults kvCacheUsagePerc(double v) {
    this.kvCacheUsagePerc = v;
    return this;
  }
}
