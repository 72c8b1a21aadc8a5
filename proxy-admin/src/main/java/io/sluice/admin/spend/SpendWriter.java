package io.sluice.admin.spend;

import io.sluice.auth.KeyHash;
import io.sluice.usage.UsageEvent;
import io.sluice.usage.UsageSink;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.jooq.DSLContext;
import org.jooq.exception.DataAccessException;
import org.jooq.exception.SQLStateClass;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The spend-log writer: the admin plane's {@link UsageSink}. Event loops {@link #offer} one {@link UsageEvent} per
 * request into a bounded lock-free queue; the writer thread ({@code sluice-spend-writer}) moves them to memory it
 * holds, cuts batches (up to {@link Settings#batchSize} rows, or what came within {@link Settings#flushInterval})
 * and has each written in one transaction by {@link SpendStore} (idempotent per request id) on a database thread of
 * its own ({@code sluice-spend-db}), one batch at a time.
 *
 * <p>No row is lost while the process lives, and none at an orderly shutdown: a batch the database does not take
 * stays held and is retried with back-off (100 ms doubling to 5 s) while events keep queueing; past
 * {@link Settings#memoryLimit} held rows the oldest go to the spill file ({@link SpillFile}, fsync'd per append, a
 * batch below the limit at a time), which is replayed once the database answers again and has room beside the rows
 * in memory — also at start, for a file a previous run left. A full batch in memory goes before the file's front,
 * so a database that is merely slower than the traffic sends only the overflow through the file: each spilled row
 * is written, fsync'd, read and parsed again on the gateway's own cores, where rows written straight from memory
 * cost the database round trip only.
 * {@link #flush} and {@link #close} write what is left to the spill file when the database does not take it in time.
 * Only a full queue drops ({@link #dropped()}; a WARN at most once a minute): the queue absorbs the time the writer
 * needs per tick, not the database's outages, so it does not fill at rated load.
 *
 * <p>Why the database calls run on a second thread: a database that stops answering can hold a JDBC call for the
 * pool's connection timeout or, blackholed, for as long as TCP keepalive takes. Meanwhile the writer thread keeps
 * draining the queue, spilling and honouring {@link #flush}'s deadline; a write it gave up on is harmless if it
 * commits later (its rows are then in the spill file too, and replaying them inserts nothing).
 *
 * <p>Logs carry request ids and counts, never a key (only a key hash prefix would be shown, and none is needed).
 */
public final class SpendWriter implements UsageSink, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SpendWriter.class);

  static final long FIRST_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(5);
  static final long LOG_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);
  /** While the spill file cannot be written, the writer stops draining the queue; it tries again this often. */
  static final long SPILL_RETRY_NANOS = TimeUnit.SECONDS.toNanos(5);
  /** How long {@link #close} waits for the database before the rest goes to the spill file. */
  public static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);
  /** A larger transaction would hold its keys' row locks (and the admin API's writes to them) for too long. */
  static final int MAX_BATCH_SIZE = 10_000;

  /**
   * How the writer buffers and batches.
   *
   * @param queueCapacity events the queue holds before {@link #offer} drops (default 100 000)
   * @param batchSize     rows per insert transaction (default 1000; at most 10 000)
   * @param flushInterval the longest a row waits in memory for its batch to fill (default 100 ms)
   * @param memoryLimit   rows held in memory, not yet written, before the oldest go to the spill file (default
   *                      200 000; at least {@code batchSize}). Should the spill file fail too, the writer stops
   *                      taking from the queue at this bound (then the queue fills and drops): at worst
   *                      {@code memoryLimit + queueCapacity} events are in memory
   * @param spillFile     the spill file, {@code <data dir>/spend-spill.jsonl}
   * @param spendLogs     whether each request's row goes into {@code sluice_spend_logs} (default true; false for
   *                      {@code general_settings.disable_spend_logs: true}: then spend and the daily rollup are
   *                      still added, but a batch written twice counts twice, see {@link SpendStore})
   */
  public record Settings(int queueCapacity, int batchSize, Duration flushInterval, int memoryLimit, Path spillFile,
      boolean spendLogs) {
    public static final int DEFAULT_QUEUE_CAPACITY = 100_000;
    public static final int DEFAULT_BATCH_SIZE = 1000;
    public static final Duration DEFAULT_FLUSH_INTERVAL = Duration.ofMillis(100);
    public static final int DEFAULT_MEMORY_LIMIT = 200_000;
    public static final String SPILL_FILE_NAME = "spend-spill.jsonl";
    /** The defaults, the spill file in {@code ./data} (as the embedded database's {@code ./data/pg}). */
    public static final Settings DEFAULTS = defaults(Path.of(".", "data"));

    public Settings(int queueCapacity, int batchSize, Duration flushInterval, int memoryLimit, Path spillFile) {
      this(queueCapacity, batchSize, flushInterval, memoryLimit, spillFile, true);
    }

    public Settings {
      check(queueCapacity > 0, "spend queue capacity: %s (expected: > 0)", queueCapacity);
      check(batchSize > 0 && batchSize <= MAX_BATCH_SIZE, "spend batch size: %s (expected: 1 to %s)", batchSize,
          MAX_BATCH_SIZE);
      check(flushInterval != null && !flushInterval.isNegative() && !flushInterval.isZero(),
          "spend flush interval: %s (expected: > 0)", flushInterval);
      check(memoryLimit >= batchSize, "spend memory limit: %s rows (expected: >= batch size %s)", memoryLimit,
          batchSize);
      check(spillFile != null, "spend spill file: missing");
    }

    /** The defaults, with the spill file in {@code dataDir}. */
    public static Settings defaults(Path dataDir) {
      return new Settings(DEFAULT_QUEUE_CAPACITY, DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MEMORY_LIMIT,
          dataDir.resolve(SPILL_FILE_NAME));
    }

    public Settings withQueueCapacity(int n) {
      return new Settings(n, batchSize, flushInterval, memoryLimit, spillFile, spendLogs);
    }

    public Settings withBatchSize(int n) {
      return new Settings(queueCapacity, n, flushInterval, memoryLimit, spillFile, spendLogs);
    }

    public Settings withFlushInterval(Duration d) {
      return new Settings(queueCapacity, batchSize, d, memoryLimit, spillFile, spendLogs);
    }

    public Settings withMemoryLimit(int n) {
      return new Settings(queueCapacity, batchSize, flushInterval, n, spillFile, spendLogs);
    }

    public Settings withSpillFile(Path p) {
      return new Settings(queueCapacity, batchSize, flushInterval, memoryLimit, p, spendLogs);
    }

    /** {@code false} for {@code general_settings.disable_spend_logs: true}. */
    public Settings withSpendLogs(boolean on) {
      return new Settings(queueCapacity, batchSize, flushInterval, memoryLimit, spillFile, on);
    }

    private static void check(boolean ok, String format, Object... args) {
      if (!ok) {
        throw new IllegalArgumentException(String.format(format, args));
      }
    }
  }

  private final Settings settings;
  private final SpendStore store;
  private final BudgetResets budgets;
  private final SpillFile spill;
  private final ConcurrentLinkedQueue<UsageEvent> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger queued = new AtomicInteger();
  private final AtomicLong dropped = new AtomicLong();
  private final AtomicLong droppedSinceLog = new AtomicLong();
  private final AtomicLong written = new AtomicLong();
  private final AtomicLong rejected = new AtomicLong();
  private final ConcurrentLinkedQueue<FlushRequest> flushes = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean closeCalled = new AtomicBoolean();
  private final ExecutorService db;
  private final Thread thread;
  private volatile boolean closed;
  private volatile boolean stop;
  private volatile int pending;
  private volatile long spilled;
  private volatile String lastError;

  // Writer thread only.
  private final ArrayDeque<UsageEvent> held = new ArrayDeque<>();
  private InFlight inFlight;
  private long nextAttempt;
  private long backoff;
  private long lastSubmit;
  private boolean failing;
  private long lastFailureLog;
  private long lastDropLog;
  private long spillFailingUntil;
  private long replayRetryAt;
  private long lastSpillErrorLog;

  /** A batch handed to the database thread; {@code replay} is set when its rows come from the spill file. */
  private record InFlight(List<UsageEvent> rows, SpillFile.Batch replay, CompletableFuture<Written> result) {}

  /** What a batch write did: rows inserted, and request ids of rows the database refused outright. */
  private record Written(int inserted, List<String> refused) {}

  private record FlushRequest(long deadline, CompletableFuture<Boolean> done) {}

  private SpendWriter(DSLContext dsl, Settings settings) {
    this.settings = settings;
    this.store = new SpendStore(dsl, settings.spendLogs());
    this.budgets = new BudgetResets(dsl);
    try {
      this.spill = new SpillFile(settings.spillFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the spend spill file " + settings.spillFile() + ": " + e
          + ". Check that the data directory is writable.", e);
    }
    this.spilled = spill.rows();
    this.db = Executors.newSingleThreadExecutor(r -> daemon(r, "sluice-spend-db"));
    this.thread = daemon(this::run, "sluice-spend-writer");
  }

  /**
   * Starts a writer over {@code dsl} (the admin plane's pool). A spill file a previous run left is replayed first,
   * as soon as the database answers.
   *
   * @throws UncheckedIOException if an existing spill file cannot be read
   */
  public static SpendWriter start(DSLContext dsl, Settings settings) {
    SpendWriter w = new SpendWriter(dsl, settings);
    if (w.spilled > 0) {
      log.info("spend spill file {} holds {} row(s) from a previous run; replaying them first",
          settings.spillFile(), w.spilled);
    }
    w.thread.start();
    return w;
  }

  // ------------------------------------------------------------------------------------------------ any thread

  /** Queues {@code event}; false (and counted in {@link #dropped()}) when the queue is full or the writer closed. */
  @Override
  public boolean offer(UsageEvent event) {
    if (closed) {
      drop();
      return false;
    }
    int n = queued.incrementAndGet();
    if (n > settings.queueCapacity()) {
      queued.decrementAndGet();
      drop();
      return false;
    }
    queue.offer(event);
    if (n == settings.batchSize()) {
      LockSupport.unpark(thread); // a full batch is waiting: no need to wait for the tick
    }
    return true;
  }

  /**
   * {@link SpendStore#rehearse}s {@code events} on the database thread (after the batch it may be writing): the
   * real statements in a transaction that is rolled back, so nothing is stored, queued or counted. Blocking: never
   * call on an event loop.
   *
   * @throws org.jooq.exception.DataAccessException when the database refuses or cannot be reached
   * @throws IllegalStateException when the writer is closed or the database thread did not answer within 10 s
   */
  @Override
  public int rehearse(java.util.Collection<UsageEvent> events) {
    if (closed) {
      throw new IllegalStateException("the spend writer is closed");
    }
    java.util.List<UsageEvent> copy = java.util.List.copyOf(events);
    try {
      return db.submit(() -> store.rehearse(copy)).get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException("spend rehearsal failed: " + e.getCause(), e.getCause());
    } catch (TimeoutException e) {
      throw new IllegalStateException("spend rehearsal: the database thread did not answer within 10 s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("spend rehearsal interrupted");
    } catch (java.util.concurrent.RejectedExecutionException e) {
      throw new IllegalStateException("the spend writer is closed");
    }
  }

  private void drop() {
    dropped.incrementAndGet();
    droppedSinceLog.incrementAndGet();
  }

  /**
   * Writes everything queued and held to the database, waiting at most {@code timeout}; what the database has not
   * taken by then goes to the spill file. Blocking: never call on an event loop.
   *
   * @return true if everything reached the database; false if some went to the spill file (or, should the spill
   *     file fail too, is still only in memory: the log says so)
   */
  public boolean flush(Duration timeout) {
    if (!thread.isAlive()) {
      return queued.get() == 0 && pending == 0;
    }
    FlushRequest r = new FlushRequest(System.nanoTime() + timeout.toNanos(), new CompletableFuture<>());
    flushes.add(r);
    LockSupport.unpark(thread);
    try {
      return r.done().get(timeout.toMillis() + 5_000, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (ExecutionException | TimeoutException e) {
      return false;
    }
  }

  /**
   * Stops accepting events, {@link #flush flushes} (at most {@link #CLOSE_TIMEOUT}) and stops the threads. For
   * SIGTERM: when this returns, every accepted event is in the database or the spill file. Idempotent.
   */
  @Override
  public void close() {
    close(CLOSE_TIMEOUT);
  }

  /** {@link #close()}, waiting at most {@code timeout} for the database before the rest goes to the spill file. */
  public void close(Duration timeout) {
    if (closeCalled.getAndSet(true)) {
      return;
    }
    closed = true;
    boolean all = flush(timeout);
    stop = true;
    LockSupport.unpark(thread);
    try {
      thread.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    db.shutdownNow();
    if (!thread.isAlive()) {
      try {
        spill.close();
      } catch (IOException e) {
        log.warn("spend spill file {}: close failed: {}", spill.path(), e.toString());
      }
    }
    log.info("spend writer closed: {} row(s) written{}, {} in the spill file {}, {} dropped", written.get(),
        all ? "" : " (the database did not take the rest in time)", spilled, spill.path(), dropped.get());
  }

  /**
   * Starts a new budget period where one is due: see {@link BudgetResets#resetBudgets}. Blocking JDBC on the
   * caller's thread (never an event loop).
   */
  public List<KeyHash> resetBudgets(Instant now) {
    return budgets.resetBudgets(now);
  }

  /** Events in the queue, not yet taken by the writer thread. */
  public int queueDepth() {
    return queued.get();
  }

  /** Events refused by {@link #offer} since start (queue full, or after {@link #close}). */
  public long dropped() {
    return dropped.get();
  }

  /** Rows this writer inserted (a replayed row already in the table is not counted). */
  public long written() {
    return written.get();
  }

  /** Rows held in memory, taken from the queue but not yet in the database (nor in the spill file). */
  public int pending() {
    return pending;
  }

  /** Rows in the spill file, waiting to be replayed. */
  public long spilled() {
    return spilled;
  }

  /**
   * Rows the database refused as data (a constraint or a value it cannot store), so never written; each is logged
   * with its request id. Expected to stay 0.
   */
  public long rejected() {
    return rejected.get();
  }

  /** The last database or spill-file error (its first line), or null if there has been none. */
  public String lastError() {
    return lastError;
  }

  // ------------------------------------------------------------------------------------------ writer thread only

  private void run() {
    // nanoTime has an arbitrary origin (it may be negative): every deadline starts from a reading, never from 0.
    long now = System.nanoTime();
    lastDropLog = now - LOG_INTERVAL_NANOS;
    lastSpillErrorLog = now - LOG_INTERVAL_NANOS;
    lastSubmit = now;
    nextAttempt = now;
    spillFailingUntil = now;
    replayRetryAt = now;
    while (!stop) {
      try {
        step();
      } catch (RuntimeException | Error e) {
        log.error("spend writer: unexpected failure; continuing", e);
        LockSupport.parkNanos(settings.flushInterval().toNanos());
      }
    }
    // close() flushed before stopping; anything that raced in after that goes to the spill file.
    drainQueue(Integer.MAX_VALUE);
    abandonInFlight();
    if (!held.isEmpty()) {
      spillHeld(held.size(), "at shutdown");
    }
    updateGauges();
  }

  private void step() {
    long now = System.nanoTime();
    completeInFlight(now);
    boolean spillFailing = now - spillFailingUntil < 0;
    drainQueue(spillFailing ? Math.max(0, settings.memoryLimit() - held.size()) : Integer.MAX_VALUE);
    if (inFlight == null && now - nextAttempt >= 0) {
      submit(now);
    }
    int over = pendingRows() - settings.memoryLimit();
    if (over > 0 && !spillFailing) {
      // A batch's worth below the limit, not just to it: one append and fsync per batch of overflow, not one per
      // tick with the few rows that came since the last.
      spillHeld(Math.min(held.size(), over + settings.batchSize()),
          "over the memory limit of " + settings.memoryLimit() + " rows");
    }
    serveFlushes(now);
    logDrops(now);
    updateGauges();
    park(now);
  }

  private void drainQueue(int max) {
    for (int i = 0; i < max; i++) {
      UsageEvent e = queue.poll();
      if (e == null) {
        return;
      }
      queued.decrementAndGet();
      held.addLast(e);
    }
  }

  /**
   * Hands the next batch to the database thread: a full batch of held rows (or any, when a flush waits or at close)
   * first, else the spill file's front, else what is held once the flush interval is up. So while the database is
   * behind, only the overflow takes the detour through the file (the rows still in memory are written straight
   * away, not spilled behind the file's), and the file drains whenever the database has room to spare; the order
   * rows reach the database in does not matter (each is idempotent by request id and its spend is a sum).
   */
  private void submit(long now) {
    boolean heldFirst = held.size() >= settings.batchSize() || !flushes.isEmpty() || closed;
    if (!heldFirst && replayable(now)) {
      try {
        SpillFile.Batch b = spill.read(settings.batchSize());
        if (b.events().isEmpty()) {
          spill.commit(b); // nothing but unreadable lines: skip them
          return;
        }
        start(b.events(), b);
        return;
      } catch (IOException e) {
        replayRetryAt = now + SPILL_RETRY_NANOS;
        spillError("cannot be replayed", e); // write the held rows meanwhile
      }
    }
    if (held.isEmpty()) {
      return;
    }
    boolean due = held.size() >= settings.batchSize() || !flushes.isEmpty() || closed
        || now - lastSubmit >= settings.flushInterval().toNanos();
    if (!due) {
      return;
    }
    List<UsageEvent> batch = new ArrayList<>(Math.min(held.size(), settings.batchSize()));
    while (batch.size() < settings.batchSize() && !held.isEmpty()) {
      batch.add(held.pollFirst());
    }
    lastSubmit = now;
    start(batch, null);
  }

  private void start(List<UsageEvent> rows, SpillFile.Batch replay) {
    CompletableFuture<Written> f = CompletableFuture.supplyAsync(() -> write(rows), db);
    inFlight = new InFlight(rows, replay, f);
    f.whenComplete((r, e) -> LockSupport.unpark(thread));
  }

  private void completeInFlight(long now) {
    InFlight f = inFlight;
    if (f == null || !f.result().isDone()) {
      return;
    }
    inFlight = null;
    Written w;
    try {
      w = f.result().join();
    } catch (CompletionException | java.util.concurrent.CancellationException e) {
      failed(f, e.getCause() == null ? e : e.getCause(), now);
      return;
    }
    written.addAndGet(w.inserted());
    for (String id : w.refused()) {
      rejected.incrementAndGet();
      log.error("spend row of request {} refused by the database as data; it is not written (see the error "
          + "above: {})", id, lastError);
    }
    if (f.replay() != null) {
      try {
        spill.commit(f.replay());
      } catch (IOException e) {
        spillError("cannot be truncated after replay (rows will be replayed again; harmless)", e);
      }
    }
    backoff = 0;
    nextAttempt = now;
    if (failing) {
      failing = false;
      log.info("spend logging: the database takes writes again; {} row(s) held in memory, {} in the spill file",
          pendingRows(), spill.rows());
    }
  }

  private void failed(InFlight f, Throwable e, long now) {
    if (f.replay() == null) {
      // Back to the front, in order: the next attempt writes the same rows.
      for (int i = f.rows().size() - 1; i >= 0; i--) {
        held.addFirst(f.rows().get(i));
      }
    }
    lastError = describe(e);
    backoff = backoff == 0 ? FIRST_BACKOFF_NANOS : Math.min(MAX_BACKOFF_NANOS, backoff * 2);
    nextAttempt = now + backoff;
    if (!failing || now - lastFailureLog >= LOG_INTERVAL_NANOS) {
      log.warn("spend logging: the database did not take a batch ({}); {} row(s) held in memory, {} in the spill "
          + "file {}; retrying with back-off up to {} s", lastError, pendingRows(), spill.rows(), spill.path(),
          TimeUnit.NANOSECONDS.toSeconds(MAX_BACKOFF_NANOS));
      lastFailureLog = now;
    } else {
      log.debug("spend logging: retry failed ({}), next in {} ms", lastError, TimeUnit.NANOSECONDS.toMillis(backoff));
    }
    failing = true;
  }

  /** Moves the {@code n} oldest held rows to the spill file. */
  private void spillHeld(int n, String why) {
    List<UsageEvent> rows = new ArrayList<>(Math.min(n, held.size()));
    Iterator<UsageEvent> it = held.iterator();
    while (rows.size() < n && it.hasNext()) {
      rows.add(it.next());
    }
    try {
      boolean first = spill.rows() == 0;
      spill.append(rows);
      for (int i = 0; i < rows.size(); i++) {
        held.pollFirst();
      }
      if (first) {
        log.warn("spend logging: {} row(s) written to the spill file {} ({}); replayed when the database is back",
            rows.size(), spill.path(), why);
      } else {
        log.debug("spend logging: {} more row(s) spilled ({})", rows.size(), why);
      }
    } catch (IOException | RuntimeException e) {
      spillFailingUntil = System.nanoTime() + SPILL_RETRY_NANOS;
      spillError("cannot be written; " + pendingRows() + " row(s) stay in memory and the queue is no longer "
          + "drained past the memory limit (events beyond it are dropped)", e);
    }
  }

  private void spillError(String what, Exception e) {
    lastError = "spill file: " + e;
    long now = System.nanoTime();
    if (now - lastSpillErrorLog >= LOG_INTERVAL_NANOS) {
      lastSpillErrorLog = now;
      log.error("spend spill file {} {}: {}", spill.path(), what, e.toString());
    }
  }

  /**
   * Takes back the batch in flight, if its rows came from memory: they return to the front of {@link #held} (to be
   * spilled). Its late result is ignored: had it committed, replaying the same rows inserts nothing.
   */
  private void abandonInFlight() {
    InFlight f = inFlight;
    if (f != null && f.replay() == null) {
      for (int i = f.rows().size() - 1; i >= 0; i--) {
        held.addFirst(f.rows().get(i));
      }
    }
    inFlight = null;
  }

  private void serveFlushes(long now) {
    if (flushes.isEmpty()) {
      return;
    }
    boolean drained = queued.get() == 0 && held.isEmpty() && (inFlight == null || inFlight.replay() != null);
    boolean late = false;
    for (FlushRequest r : flushes) {
      late |= now - r.deadline() >= 0;
    }
    if (!drained && late) {
      // The database did not take it in time: everything not yet in it goes to the spill file.
      drainQueue(Integer.MAX_VALUE);
      abandonInFlight();
      if (!held.isEmpty()) {
        spillHeld(held.size(), "flush timed out");
      }
    }
    updateGauges(); // the caller reads them as soon as its flush returns
    for (Iterator<FlushRequest> it = flushes.iterator(); it.hasNext(); ) {
      FlushRequest r = it.next();
      if (drained) {
        r.done().complete(true);
        it.remove();
      } else if (now - r.deadline() >= 0) {
        if (!held.isEmpty()) {
          log.error("spend logging: {} row(s) could be written neither to the database nor to the spill file {}; "
              + "they are lost if the process exits now", held.size(), spill.path());
        }
        r.done().complete(false);
        it.remove();
      }
    }
  }

  private void logDrops(long now) {
    if (now - lastDropLog >= LOG_INTERVAL_NANOS && droppedSinceLog.get() > 0) {
      lastDropLog = now;
      log.warn("spend logging: {} usage event(s) dropped since the last report (queue of {} full{}); {} in total",
          droppedSinceLog.getAndSet(0), settings.queueCapacity(), closed ? ", or offered after close" : "",
          dropped.get());
    }
  }

  private void park(long now) {
    long wait = settings.flushInterval().toNanos();
    if (inFlight == null && (!held.isEmpty() || replayable(now))) {
      wait = Math.min(wait, Math.max(nextAttempt - now, 0));
      if (!held.isEmpty() && held.size() < settings.batchSize() && !replayable(now)) {
        wait = Math.max(wait, Math.min(settings.flushInterval().toNanos(),
            lastSubmit + settings.flushInterval().toNanos() - now));
      }
    }
    for (FlushRequest r : flushes) {
      wait = Math.min(wait, r.deadline() - now);
    }
    if (wait > 0 && !stop) {
      LockSupport.parkNanos(this, wait);
    }
  }

  private boolean replayable(long now) {
    return spill.rows() > 0 && now - replayRetryAt >= 0;
  }

  private void updateGauges() {
    pending = pendingRows();
    spilled = spill.rows();
  }

  private int pendingRows() {
    InFlight f = inFlight;
    return held.size() + (f != null && f.replay() == null ? f.rows().size() : 0);
  }

  // ------------------------------------------------------------------------------------- database thread only

  /**
   * Writes one batch. If the database refuses the batch's data (SQL state class 22 or 23: never expected, as the
   * table has no constraint a valid event can break), the rows are written one by one so that one bad row cannot
   * hold back every other; the ones refused again are reported. Anything else (the database unreachable) throws:
   * the batch is retried whole.
   */
  private Written write(List<UsageEvent> rows) {
    try {
      return new Written(store.write(rows), List.of());
    } catch (DataAccessException e) {
      if (!refusedAsData(e)) {
        throw e;
      }
      lastError = describe(e);
    }
    int inserted = 0;
    List<String> refused = new ArrayList<>();
    for (UsageEvent e : rows) {
      try {
        inserted += store.write(List.of(e));
      } catch (DataAccessException ex) {
        if (!refusedAsData(ex)) {
          throw ex;
        }
        refused.add(e.requestId());
      }
    }
    return new Written(inserted, refused);
  }

  private static boolean refusedAsData(DataAccessException e) {
    SQLStateClass c = e.sqlStateClass();
    return c == SQLStateClass.C22_DATA_EXCEPTION || c == SQLStateClass.C23_INTEGRITY_CONSTRAINT_VIOLATION;
  }

  /** The database's own words (first line, SQL state), for {@link #lastError()} and logs. */
  static String describe(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof SQLException sql && sql.getMessage() != null) {
        String state = sql.getSQLState() == null ? "" : " (SQL state " + sql.getSQLState() + ")";
        return firstLine(sql.getMessage()) + state;
      }
    }
    return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + firstLine(e.getMessage()));
  }

  private static String firstLine(String m) {
    String s = m.strip();
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl).strip();
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }
}
