package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.usage.UsageEvent;
import io.sluice.usage.UsageSink;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jooq.DSLContext;
import org.jooq.InsertValuesStep19;
import org.jooq.Record1;
import org.jooq.Result;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes one spend-log row per {@link UsageEvent}, in batches, and adds each row's spend to its key, user and team in
 * the same transaction. {@link #offer} never blocks (event loops call it): a bounded queue, and a full queue drops,
 * counts and logs (at most once a minute). One writer thread drains it.
 *
 * <p><b>No lost rows.</b> Rows are inserted with {@code ON CONFLICT (request_id) DO NOTHING RETURNING request_id}
 * and only the rows actually inserted add spend, so writing a batch again (after a commit whose answer was lost, or
 * from the spill file) never makes a second row and never counts spend twice. While PostgreSQL is down, rows wait in
 * memory (retried with back-off from 100 ms to 5 s); past {@link Settings#memoryLimit} they are appended to an
 * append-only spill file (JSON lines, fsync'd), replayed first when the database is back, then deleted. A spill
 * file left by an earlier run is replayed at start. {@link #close()} flushes; what the database cannot take within
 * the timeout goes to the spill file.
 */
public final class SpendWriter implements UsageSink, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SpendWriter.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * @param queueCapacity events queued between the event loops and the writer
   * @param batchSize     rows per transaction
   * @param flushInterval the longest a queued row waits for its batch
   * @param memoryLimit   rows held in memory while the database is down; beyond, the spill file
   * @param spillFile     the local append-only file for rows the database could not take
   */
  public record Settings(int queueCapacity, int batchSize, Duration flushInterval, int memoryLimit, Path spillFile) {
    public static Settings defaults(Path spillFile) {
      return new Settings(100_000, 1000, Duration.ofMillis(100), 200_000, spillFile);
    }
  }

  private final DSLContext dsl;
  private final Settings settings;
  private final ArrayBlockingQueue<UsageEvent> queue;
  /** Rows taken from the queue and not yet written (database down): the writer thread's only. */
  private final ArrayDeque<UsageEvent> held = new ArrayDeque<>();
  private final Thread thread;
  private final Object flushLock = new Object();
  private final AtomicLong dropped = new AtomicLong();
  private final AtomicLong droppedSinceLog = new AtomicLong();
  private final AtomicLong written = new AtomicLong();
  private final AtomicLong spilledRows = new AtomicLong();
  private volatile long lastDropLog;
  private volatile boolean closed;
  private volatile boolean dbDown;
  private volatile String lastError;
  private volatile int pendingHeld;
  /** Bumped after each loop pass: flush() waits for the queue and held rows to empty. */
  private long passes;

  public SpendWriter(DSLContext dsl, Settings settings) {
    this.dsl = dsl;
    this.settings = settings;
    this.queue = new ArrayBlockingQueue<>(settings.queueCapacity());
    try {
      if (Files.exists(settings.spillFile())) {
        spilledRows.set(countLines(settings.spillFile()));
        log.info("spend: {} row(s) left in {} from an earlier run; written when the database answers",
            spilledRows.get(), settings.spillFile());
      }
    } catch (IOException e) {
      log.warn("spend: cannot read {}: {}", settings.spillFile(), e.toString());
    }
    this.thread = new Thread(this::run, "sluice-spend-writer");
    thread.setDaemon(true);
    thread.start();
  }

  @Override
  public boolean offer(UsageEvent event) {
    if (!closed && queue.offer(event)) {
      return true;
    }
    dropped.incrementAndGet();
    droppedSinceLog.incrementAndGet();
    long now = System.nanoTime();
    if (now - lastDropLog > TimeUnit.MINUTES.toNanos(1)) {
      lastDropLog = now;
      log.warn("spend: queue full ({} rows): dropped {} spend row(s) since the last warning; the database cannot "
          + "keep up", settings.queueCapacity(), droppedSinceLog.getAndSet(0));
    }
    return false;
  }

  private void run() {
    long backoff = 100;
    List<UsageEvent> batch = new ArrayList<>(settings.batchSize());
    while (true) {
      try {
        if (held.isEmpty() && spilledRows.get() == 0) {
          UsageEvent first = queue.poll(settings.flushInterval().toMillis(), TimeUnit.MILLISECONDS);
          if (first == null) {
            if (closed) {
              return;
            }
            pass();
            continue;
          }
          batch.add(first);
        }
        boolean ok = writeSpill();
        if (ok) {
          while (!held.isEmpty() && batch.size() < settings.batchSize()) {
            batch.add(held.pollFirst()); // oldest first
          }
          queue.drainTo(batch, settings.batchSize() - batch.size());
          ok = write(batch);
        }
        if (ok) {
          batch.clear();
          backoff = 100;
          if (dbDown) {
            dbDown = false;
            log.info("spend: database reachable again; {} row(s) held in memory", held.size());
          }
        } else {
          for (int i = batch.size() - 1; i >= 0; i--) {
            held.addFirst(batch.get(i));
          }
          batch.clear();
          queue.drainTo(held);
          if (held.size() > settings.memoryLimit()) {
            spill(held.size() - settings.memoryLimit() / 2);
          }
          pendingHeld = held.size();
          if (closed) {
            return;
          }
          pass();
          Thread.sleep(backoff);
          backoff = Math.min(5000, backoff * 2);
          continue;
        }
        pendingHeld = held.size();
        pass();
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        log.error("spend writer: unexpected {}", e.toString(), e);
      }
    }
  }

  private void pass() {
    synchronized (flushLock) {
      passes++;
      flushLock.notifyAll();
    }
  }

  /** Inserts {@code batch} in one transaction; false (and nothing written) when the database failed. */
  private boolean write(List<UsageEvent> batch) {
    if (batch.isEmpty()) {
      return true;
    }
    try {
      int inserted = dsl.transactionResult(c -> insert(c.dsl(), batch));
      written.addAndGet(inserted);
      return true;
    } catch (RuntimeException e) {
      noteFailure(e);
      return false;
    }
  }

  private void noteFailure(RuntimeException e) {
    String why = rootMessage(e);
    lastError = why;
    if (!dbDown) {
      dbDown = true;
      log.error("spend: database write failed ({}); rows wait in memory (up to {}), then in {}", why,
          settings.memoryLimit(), settings.spillFile());
    }
  }

  private static int insert(DSLContext tx, List<UsageEvent> batch) {
    Map<String, UsageEvent> byId = new HashMap<>();
    InsertValuesStep19<?, String, String, String, String, String, String, String, String, Long, Long, Long, Boolean,
        Double, java.time.OffsetDateTime, java.time.OffsetDateTime, Integer, String, Boolean, Boolean> insert =
        tx.insertInto(SLUICE_SPEND_LOGS, SLUICE_SPEND_LOGS.REQUEST_ID, SLUICE_SPEND_LOGS.API_KEY,
            SLUICE_SPEND_LOGS.KEY_ALIAS, SLUICE_SPEND_LOGS.USER_ID, SLUICE_SPEND_LOGS.TEAM_ID,
            SLUICE_SPEND_LOGS.CALL_TYPE, SLUICE_SPEND_LOGS.MODEL_GROUP, SLUICE_SPEND_LOGS.MODEL_ID,
            SLUICE_SPEND_LOGS.PROMPT_TOKENS, SLUICE_SPEND_LOGS.COMPLETION_TOKENS, SLUICE_SPEND_LOGS.TOTAL_TOKENS,
            SLUICE_SPEND_LOGS.TOKENS_ESTIMATED, SLUICE_SPEND_LOGS.SPEND, SLUICE_SPEND_LOGS.START_TIME,
            SLUICE_SPEND_LOGS.END_TIME, SLUICE_SPEND_LOGS.STATUS, SLUICE_SPEND_LOGS.OUTCOME, SLUICE_SPEND_LOGS.STREAM,
            SLUICE_SPEND_LOGS.STREAM_FINISHED);
    for (UsageEvent e : batch) {
      if (byId.putIfAbsent(e.requestId(), e) != null) {
        continue; // the same request twice in one batch (a replay): one row
      }
      insert = insert.values(e.requestId(), e.keyHash(), e.keyAlias(), e.userId(), e.teamId(), e.route(),
          e.modelGroup(), e.deploymentId(), e.promptTokens(), e.completionTokens(), e.totalTokens(), e.estimated(),
          e.spend(), e.start().atOffset(ZoneOffset.UTC), e.end().atOffset(ZoneOffset.UTC), e.status(),
          e.outcome().label(), e.stream(), e.finished());
    }
    Result<Record1<String>> rows = insert.onConflict(SLUICE_SPEND_LOGS.REQUEST_ID).doNothing()
        .returningResult(SLUICE_SPEND_LOGS.REQUEST_ID).fetch();
    Map<String, Double> keys = new HashMap<>();
    Map<String, Double> users = new HashMap<>();
    Map<String, Double> teams = new HashMap<>();
    for (Record1<String> r : rows) {
      UsageEvent e = byId.get(r.value1());
      if (e == null || e.spend() == 0) {
        continue;
      }
      if (e.keyHash() != null) {
        keys.merge(e.keyHash(), e.spend(), Double::sum);
      }
      if (e.userId() != null) {
        users.merge(e.userId(), e.spend(), Double::sum);
      }
      if (e.teamId() != null) {
        teams.merge(e.teamId(), e.spend(), Double::sum);
      }
    }
    // Sorted ids: concurrent writers (several nodes) lock rows in one order, no deadlock.
    for (String k : new java.util.TreeSet<>(keys.keySet())) {
      tx.update(SLUICE_KEYS).set(SLUICE_KEYS.SPEND, SLUICE_KEYS.SPEND.plus(keys.get(k)))
          .where(SLUICE_KEYS.TOKEN.eq(k)).execute();
    }
    for (String u : new java.util.TreeSet<>(users.keySet())) {
      tx.update(SLUICE_USERS).set(SLUICE_USERS.SPEND, SLUICE_USERS.SPEND.plus(users.get(u)))
          .where(SLUICE_USERS.USER_ID.eq(u)).execute();
    }
    for (String t : new java.util.TreeSet<>(teams.keySet())) {
      tx.update(SLUICE_TEAMS).set(SLUICE_TEAMS.SPEND, SLUICE_TEAMS.SPEND.plus(teams.get(t)))
          .where(SLUICE_TEAMS.TEAM_ID.eq(t)).execute();
    }
    return rows.size();
  }

  /** Moves the {@code n} oldest held rows to the spill file. */
  private void spill(int n) {
    List<UsageEvent> out = new ArrayList<>(n);
    for (int i = 0; i < n && !held.isEmpty(); i++) {
      out.add(held.pollFirst());
    }
    if (!appendToSpill(out)) {
      for (int i = out.size() - 1; i >= 0; i--) {
        held.addFirst(out.get(i)); // the disk failed too: keep them in memory
      }
    }
  }

  private boolean appendToSpill(List<UsageEvent> rows) {
    if (rows.isEmpty()) {
      return true;
    }
    try {
      Path f = settings.spillFile();
      if (f.getParent() != null) {
        Files.createDirectories(f.getParent());
      }
      try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
          StandardOpenOption.APPEND);
          BufferedWriter w = new BufferedWriter(java.nio.channels.Channels.newWriter(ch, StandardCharsets.UTF_8))) {
        for (UsageEvent e : rows) {
          w.write(JSON.writeValueAsString(SpillRow.of(e)));
          w.write('\n');
        }
        w.flush();
        ch.force(true);
      }
      spilledRows.addAndGet(rows.size());
      log.warn("spend: {} row(s) written to {} while the database is down ({} there now)", rows.size(), f,
          spilledRows.get());
      return true;
    } catch (IOException e) {
      log.error("spend: cannot write {}: {}", settings.spillFile(), e.toString());
      return false;
    }
  }

  /** Replays the spill file into the database, then deletes it; false when the database failed. */
  private boolean writeSpill() {
    if (spilledRows.get() == 0) {
      return true;
    }
    Path f = settings.spillFile();
    List<UsageEvent> rows = new ArrayList<>();
    try (var lines = Files.lines(f, StandardCharsets.UTF_8)) {
      int n = 0;
      for (String line : (Iterable<String>) lines::iterator) {
        n++;
        if (line.isBlank()) {
          continue;
        }
        try {
          rows.add(JSON.readValue(line, SpillRow.class).toEvent());
        } catch (IOException | RuntimeException e) {
          log.warn("spend: {} line {} is not a spend row; skipped", f, n);
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      spilledRows.set(0);
      return true;
    } catch (IOException e) {
      log.error("spend: cannot read {}: {}", f, e.toString());
      return true; // do not hold up new rows behind an unreadable file
    }
    for (int i = 0; i < rows.size(); i += settings.batchSize()) {
      if (!write(rows.subList(i, Math.min(rows.size(), i + settings.batchSize())))) {
        return false; // written batches are idempotent: the next replay skips them
      }
    }
    try {
      Files.deleteIfExists(f);
    } catch (IOException e) {
      log.error("spend: cannot delete {} after replaying it: {}", f, e.toString());
      return true;
    }
    log.info("spend: replayed {} row(s) from {}", rows.size(), f);
    spilledRows.set(0);
    return true;
  }

  /**
   * Waits until everything offered so far is written, at most {@code timeout}; true when it all reached the
   * database.
   */
  public boolean flush(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (flushLock) {
      while (!queue.isEmpty() || pendingHeld > 0 || spilledRows.get() > 0 || dbDown) {
        long left = deadline - System.nanoTime();
        if (left <= 0 || !thread.isAlive()) {
          return false;
        }
        long seen = passes;
        while (passes == seen && left > 0) {
          TimeUnit.NANOSECONDS.timedWait(flushLock, left);
          left = deadline - System.nanoTime();
        }
      }
      // The batch in hand when the queue emptied is written by the pass that follows.
      long seen = passes;
      long left = deadline - System.nanoTime();
      while (passes <= seen + 1 && left > 0) {
        TimeUnit.NANOSECONDS.timedWait(flushLock, left);
        left = deadline - System.nanoTime();
      }
      return queue.isEmpty() && pendingHeld == 0 && spilledRows.get() == 0;
    }
  }

  /**
   * Stops taking rows and flushes: what the database does not take within {@code timeout} is appended to the spill
   * file, so it is written by the next run. Called at SIGTERM, after the server stopped relaying.
   */
  public void close(Duration timeout) {
    if (closed) {
      return;
    }
    try {
      flush(timeout);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    closed = true;
    thread.interrupt();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    List<UsageEvent> rest = new ArrayList<>(held);
    held.clear();
    queue.drainTo(rest);
    if (!rest.isEmpty()) {
      appendToSpill(rest);
      log.warn("spend: {} row(s) could not reach the database before exit; kept in {} for the next start",
          rest.size(), settings.spillFile());
    }
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(10));
  }

  public int queueDepth() {
    return queue.size();
  }

  public long dropped() {
    return dropped.get();
  }

  public long written() {
    return written.get();
  }

  /** Rows held in memory because the database is down. */
  public int pending() {
    return pendingHeld;
  }

  /** Rows in the spill file now. */
  public long spilled() {
    return spilledRows.get();
  }

  /** The last database error's message (never with a password), or null. */
  public String lastError() {
    return lastError;
  }

  private static long countLines(Path f) throws IOException {
    try (var lines = Files.lines(f, StandardCharsets.UTF_8)) {
      return lines.filter(l -> !l.isBlank()).count();
    }
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    Set<Throwable> seen = new HashSet<>();
    while (t.getCause() != null && seen.add(t)) {
      t = t.getCause();
    }
    String m = t.getMessage();
    return t.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
  }

  /** A spill-file line: a {@link UsageEvent} with epoch-millisecond times. */
  record SpillRow(String requestId, String keyHash, String keyAlias, String userId, String teamId, String route,
      String modelGroup, String deploymentId, long promptTokens, long completionTokens, boolean estimated,
      double spend, long startMillis, long endMillis, int status, String outcome, boolean stream) {
    static SpillRow of(UsageEvent e) {
      return new SpillRow(e.requestId(), e.keyHash(), e.keyAlias(), e.userId(), e.teamId(), e.route(),
          e.modelGroup(), e.deploymentId(), e.promptTokens(), e.completionTokens(), e.estimated(), e.spend(),
          e.start().toEpochMilli(), e.end().toEpochMilli(), e.status(), e.outcome().label(), e.stream());
    }

    UsageEvent toEvent() {
      return new UsageEvent(requestId, keyHash, keyAlias, userId, teamId, route, modelGroup, deploymentId,
          promptTokens, completionTokens, estimated, spend, java.time.Instant.ofEpochMilli(startMillis),
          java.time.Instant.ofEpochMilli(endMillis), status, UsageEvent.Outcome.parse(outcome), stream);
    }
  }
}
