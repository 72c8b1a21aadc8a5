package io.sluice.admin.spend;

import io.sluice.testing.TcpProxy;

import static io.sluice.admin.spend.SpendFixture.await;
import static io.sluice.admin.spend.SpendFixture.event;
import static io.sluice.admin.spend.SpendFixture.hash;
import static io.sluice.admin.spend.SpendFixture.keySpend;
import static io.sluice.admin.spend.SpendFixture.requestIds;
import static io.sluice.admin.spend.SpendFixture.rows;
import static io.sluice.admin.spend.SpendFixture.teamSpend;
import static io.sluice.admin.spend.SpendFixture.userSpend;
import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.db.Database;
import io.sluice.admin.db.TestDatabases;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.jooq.DSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spend writer while PostgreSQL goes away: its pool reaches the database through a {@link TcpProxy} the tests
 * cut. Every accepted event must end as exactly one row, its spend counted once, whatever the outage.
 */
class SpendOutageTest {
  @TempDir
  Path dir;
  TestDatabases.TestDatabase tdb;
  /** Direct to the database: what the tests check with. */
  DSLContext direct;
  TcpProxy proxy;
  /** Through the proxy: what the writer uses. */
  Database proxied;
  Path spillFile;

  @BeforeEach
  void up() throws IOException {
    tdb = TestDatabases.create();
    direct = tdb.db.dsl();
    proxy = SpendFixture.proxyFor(tdb.url);
    proxied = SpendFixture.openThrough(tdb.url, proxy);
    spillFile = dir.resolve("spend-spill.jsonl");
    SpendFixture.seed(direct, "u1", "t1", "k1");
  }

  @AfterEach
  void down() throws IOException {
    proxied.close();
    proxy.close();
    tdb.close();
  }

  SpendWriter.Settings settings() {
    return SpendWriter.Settings.defaults(dir);
  }

  @Test
  void databaseDownMidLoadLosesNothingAndCountsNothingTwice() {
    Set<String> offered = new HashSet<>();
    try (SpendWriter w = SpendWriter.start(proxied.dsl(), settings())) {
      int i = 0;
      for (; i < 3_000; i++) {
        offer(w, offered, "a" + i);
      }
      proxy.refuse(true); // mid-load: connections (some mid-transaction) cut, new ones refused
      for (; i < 6_000; i++) {
        offer(w, offered, "a" + i);
      }
      await("a failed write", Duration.ofSeconds(30), () -> w.lastError() != null);
      for (; i < 7_000; i++) {
        offer(w, offered, "a" + i);
      }
      assertThat(w.pending()).as("held in memory while the database is away").isPositive();
      proxy.refuse(false);
      for (; i < 8_000; i++) {
        offer(w, offered, "a" + i);
      }
      assertThat(w.flush(Duration.ofSeconds(60))).as("all in the database once it is back").isTrue();
      assertThat(w.dropped()).isZero();
      assertThat(w.spilled()).isZero();
    }
    assertThat(rows(direct)).isEqualTo(8_000);
    assertThat(requestIds(direct)).isEqualTo(offered);
    assertThat(keySpend(direct, "k1")).isEqualTo(8_000 * 0.25);
    assertThat(userSpend(direct, "u1")).isEqualTo(8_000 * 0.25);
    assertThat(teamSpend(direct, "t1")).isEqualTo(8_000 * 0.25);
  }

  @Test
  void pastTheMemoryLimitRowsSpillToDiskAndAreReplayedWhenTheDatabaseIsBack() throws IOException {
    SpendWriter.Settings s = settings().withBatchSize(50).withMemoryLimit(100);
    proxy.refuse(true);
    Set<String> offered = new HashSet<>();
    try (SpendWriter w = SpendWriter.start(proxied.dsl(), s)) {
      for (int i = 0; i < 1_000; i++) {
        offer(w, offered, "s" + i);
      }
      await("900 rows spilled", Duration.ofSeconds(30), () -> w.spilled() >= 900 && w.queueDepth() == 0);
      assertThat(w.pending()).as("memory stays within its limit").isLessThanOrEqualTo(100);
      assertThat(w.spilled() + w.pending()).isEqualTo(1_000);
      assertThat(Files.readAllLines(spillFile)).hasSize((int) w.spilled());
      assertThat(Files.readString(spillFile)).doesNotContain("sk-"); // key hashes only
      proxy.refuse(false);
      await("the spill file replayed", Duration.ofSeconds(60),
          () -> w.spilled() == 0 && w.pending() == 0 && w.queueDepth() == 0);
      assertThat(Files.exists(spillFile)).as("removed once replayed").isFalse();
      assertThat(w.written()).isEqualTo(1_000);
    }
    assertThat(rows(direct)).isEqualTo(1_000);
    assertThat(requestIds(direct)).isEqualTo(offered);
    assertThat(keySpend(direct, "k1")).isEqualTo(1_000 * 0.25);
  }

  @Test
  void closeWithTheDatabaseDownSpillsAndTheNextWriterReplays() throws IOException {
    proxy.refuse(true);
    Set<String> offered = new HashSet<>();
    SpendWriter w = SpendWriter.start(proxied.dsl(), settings());
    for (int i = 0; i < 500; i++) {
      offer(w, offered, "c" + i);
    }
    long t0 = System.nanoTime();
    w.close(Duration.ofSeconds(1));
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("close keeps to its timeout")
        .isLessThan(Duration.ofSeconds(4));
    assertThat(w.spilled()).isEqualTo(500);
    assertThat(w.pending()).isZero();
    assertThat(Files.readAllLines(spillFile)).hasSize(500);
    assertThat(rows(direct)).isZero();

    // The next start, on a live database, replays the file first.
    try (SpendWriter next = SpendWriter.start(direct, settings())) {
      assertThat(next.spilled()).isEqualTo(500);
      await("the leftover spill file replayed", Duration.ofSeconds(30), () -> next.spilled() == 0);
      assertThat(Files.exists(spillFile)).isFalse();
    }
    assertThat(requestIds(direct)).isEqualTo(offered);
    assertThat(keySpend(direct, "k1")).isEqualTo(500 * 0.25);
  }

  @Test
  void flushKeepsItsDeadlineWhenTheDatabaseHangsAndALateCommitIsNotCountedTwice() {
    Set<String> offered = new HashSet<>();
    try (SpendWriter w = SpendWriter.start(proxied.dsl(), settings())) {
      offer(w, offered, "warm");
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue(); // the pool holds live connections now
      proxy.blackhole(true); // bytes stop; the writer's JDBC call hangs
      for (int i = 0; i < 300; i++) {
        offer(w, offered, "h" + i);
      }
      long t0 = System.nanoTime();
      assertThat(w.flush(Duration.ofSeconds(1))).as("the database took nothing").isFalse();
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(4));
      assertThat(w.spilled()).isEqualTo(300);
      assertThat(w.pending()).isZero();
      // The hung transaction resumes and commits; the spill file replays the same rows: nothing doubles.
      proxy.blackhole(false);
      await("the spill file replayed", Duration.ofSeconds(30), () -> w.spilled() == 0 && w.pending() == 0);
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
    }
    assertThat(rows(direct)).isEqualTo(301);
    assertThat(requestIds(direct)).isEqualTo(offered);
    assertThat(keySpend(direct, "k1")).isEqualTo(301 * 0.25);
  }

  @Test
  void withTheSpillFileUnwritableTooAcceptedRowsStayInMemoryAndOnlyTheQueueDrops() throws IOException {
    Path notADir = Files.createFile(dir.resolve("a-file"));
    SpendWriter.Settings s = settings().withBatchSize(50).withMemoryLimit(100).withQueueCapacity(200)
        .withSpillFile(notADir.resolve("spend-spill.jsonl"));
    proxy.refuse(true);
    Set<String> accepted = new HashSet<>();
    int refused = 0;
    try (SpendWriter w = SpendWriter.start(proxied.dsl(), s)) {
      for (int i = 0; i < 150; i++) {
        offer(w, accepted, "m" + i); // within the queue: all accepted; over the memory limit once taken
      }
      await("a failed spill", Duration.ofSeconds(30), () -> w.lastError() != null
          && w.lastError().startsWith("spill file"));
      for (int i = 0; i < 1_000; i++) {
        if (w.offer(event("x" + i, hash("k1"), "u1", "t1", 0.25))) {
          accepted.add("x" + i);
        } else {
          refused++;
        }
      }
      assertThat(refused).as("the queue fills once the writer stops taking from it").isPositive();
      assertThat(w.dropped()).isEqualTo(refused);
      assertThat(w.spilled()).isZero();
      proxy.refuse(false);
      assertThat(w.flush(Duration.ofSeconds(60))).isTrue();
    }
    assertThat(requestIds(direct)).isEqualTo(accepted);
    assertThat(keySpend(direct, "k1")).isEqualTo(accepted.size() * 0.25);
  }

  @Test
  void aDatabaseThatFallsBehindWritesTheRowsStillInMemoryBeforeTheSpilledOnes() throws Exception {
    // The database stalls (a row lock the first batch waits for) while traffic goes on: past the memory limit the
    // oldest rows spill; once it answers again, a full batch still in memory goes before the file's front, so only
    // the overflow ever takes the detour through the file (before, every row after the first spill went through it).
    SpendWriter.Settings s = settings().withBatchSize(50).withMemoryLimit(200);
    Set<String> offered = new HashSet<>();
    try (java.sql.Connection lock = java.sql.DriverManager.getConnection(tdb.url.jdbcUrl(),
        tdb.url.user(), tdb.url.password())) {
      lock.setAutoCommit(false);
      try (var st = lock.prepareStatement("SELECT spend FROM sluice_keys WHERE token = ? FOR UPDATE")) {
        st.setString(1, hash("k1"));
        st.executeQuery().close();
      }
      try (SpendWriter w = SpendWriter.start(proxied.dsl(), s)) {
        for (int i = 0; i < 50; i++) {
          offer(w, offered, "a" + i);
        }
        await("the first batch waiting on the lock", Duration.ofSeconds(30),
            () -> w.queueDepth() == 0 && w.pending() == 50 && keyLockWaiters() == 1);
        for (int i = 0; i < 300; i++) {
          offer(w, offered, "b" + i);
        }
        await("the overflow spilled", Duration.ofSeconds(30), () -> w.queueDepth() == 0 && w.spilled() > 0);
        Set<String> spilled = new HashSet<>();
        for (String line : Files.readAllLines(spillFile)) {
          spilled.add(line.replaceAll("^\\{\"request_id\":\"([^\"]+)\".*$", "$1"));
        }
        assertThat(spilled).hasSize((int) w.spilled());
        assertThat(w.pending() - 50).as("a full batch and more still in memory").isGreaterThanOrEqualTo(50);
        assertThat(w.spilled() + w.pending()).isEqualTo(350);
        lock.rollback(); // the database answers again
        await("everything written", Duration.ofSeconds(60),
            () -> w.spilled() == 0 && w.pending() == 0 && w.queueDepth() == 0);
        // Batches are written one at a time, each its own transaction: xmin orders them.
        java.util.List<Set<String>> batches = new java.util.ArrayList<>();
        long last = -1;
        for (var r : direct.fetch("SELECT request_id, xmin::text::bigint AS tx FROM sluice_spend_logs ORDER BY 2")) {
          long tx = r.get("tx", Long.class);
          if (tx != last) {
            batches.add(new HashSet<>());
            last = tx;
          }
          batches.get(batches.size() - 1).add(r.get("request_id", String.class));
        }
        assertThat(batches.get(0)).as("the stalled batch").hasSize(50).allMatch(id -> id.startsWith("a"));
        assertThat(batches.get(1)).as("next: rows still in memory, none from the file").hasSize(50)
            .doesNotContainAnyElementsOf(spilled);
      }
    }
    assertThat(requestIds(direct)).isEqualTo(offered);
    assertThat(keySpend(direct, "k1")).isEqualTo(350 * 0.25);
  }

  /** Sessions waiting for a lock (the writer's, on the key row this test holds). */
  private int keyLockWaiters() {
    return direct.fetchOne("SELECT count(*) FROM pg_locks WHERE NOT granted").get(0, Integer.class);
  }

  private static void offer(SpendWriter w, Set<String> offered, String id) {
    assertThat(w.offer(event(id, hash("k1"), "u1", "t1", 0.25))).isTrue();
    offered.add(id);
  }
}
