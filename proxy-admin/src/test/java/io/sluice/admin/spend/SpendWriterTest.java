package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;
import static io.sluice.admin.spend.SpendFixture.event;
import static io.sluice.admin.spend.SpendFixture.hash;
import static io.sluice.admin.spend.SpendFixture.keySpend;
import static io.sluice.admin.spend.SpendFixture.rows;
import static io.sluice.admin.spend.SpendFixture.teamSpend;
import static io.sluice.admin.spend.SpendFixture.userSpend;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.sluice.admin.db.TestDatabases;
import io.sluice.admin.db.jooq.tables.records.SluiceSpendLogsRecord;
import io.sluice.usage.UsageEvent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.jooq.DSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The spend writer against a live PostgreSQL: rows, spend totals, idempotency, a full queue. */
class SpendWriterTest {
  @TempDir
  Path dir;
  TestDatabases.TestDatabase tdb;
  DSLContext dsl;

  @BeforeEach
  void up() {
    tdb = TestDatabases.create();
    dsl = tdb.db.dsl();
  }

  @AfterEach
  void down() {
    tdb.close();
  }

  SpendWriter.Settings settings() {
    return SpendWriter.Settings.defaults(dir);
  }

  @Test
  void eachEventBecomesOneRowAndSpendIsSummedPerKeyUserAndTeam() {
    SpendFixture.seed(dsl, "u1", "t1", "k1");
    SpendFixture.seed(dsl, "u2", null, "k2");
    SpendFixture.seed(dsl, null, "t2", "k3");
    int n = 2_500; // more than two batches of 1000
    double k1 = 0;
    double k2 = 0;
    double k3 = 0;
    double master = 0;
    try (SpendWriter w = SpendWriter.start(dsl, settings())) {
      for (int i = 0; i < n; i++) {
        double s = (i % 7) * 0.125; // exact in binary: sums compare exactly
        UsageEvent e = switch (i % 4) {
          case 0 -> event("r" + i, hash("k1"), "u1", "t1", s);
          case 1 -> event("r" + i, hash("k2"), "u2", null, s);
          case 2 -> event("r" + i, hash("k3"), null, "t2", s);
          default -> event("r" + i, null, null, null, s); // the master key: a row, no key to charge
        };
        switch (i % 4) {
          case 0 -> k1 += s;
          case 1 -> k2 += s;
          case 2 -> k3 += s;
          default -> master += s;
        }
        assertThat(w.offer(e)).isTrue();
      }
      assertThat(w.flush(Duration.ofSeconds(30))).as("everything reached the database").isTrue();
      assertThat(w.written()).isEqualTo(n);
      assertThat(w.pending()).isZero();
      assertThat(w.queueDepth()).isZero();
      assertThat(w.spilled()).isZero();
      assertThat(w.dropped()).isZero();
    }
    assertThat(rows(dsl)).isEqualTo(n);
    assertThat(keySpend(dsl, "k1")).isEqualTo(k1);
    assertThat(keySpend(dsl, "k2")).isEqualTo(k2);
    assertThat(keySpend(dsl, "k3")).isEqualTo(k3);
    assertThat(userSpend(dsl, "u1")).isEqualTo(k1);
    assertThat(userSpend(dsl, "u2")).isEqualTo(k2);
    assertThat(teamSpend(dsl, "t1")).isEqualTo(k1);
    assertThat(teamSpend(dsl, "t2")).isEqualTo(k3);
    double logged = dsl.select(org.jooq.impl.DSL.sum(SLUICE_SPEND_LOGS.SPEND)).from(SLUICE_SPEND_LOGS)
        .fetchOne(0, Double.class);
    assertThat(logged).isCloseTo(k1 + k2 + k3 + master, within(1e-9));
    assertThat(Files.exists(dir.resolve("spend-spill.jsonl"))).isFalse();
  }

  @Test
  void aRowHoldsEveryFieldOfItsEvent() {
    UsageEvent e = new UsageEvent("req-fields", hash("kf"), "kf-alias", "uf", "tf", "/v1/completions", "llama",
        "vllm-b", 123, 45, true, 0.5, SpendFixture.T0, SpendFixture.T0.plusSeconds(2), 499,
        UsageEvent.Outcome.CLIENT_GONE, true);
    try (SpendWriter w = SpendWriter.start(dsl, settings())) {
      w.offer(e);
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
    }
    SluiceSpendLogsRecord r = dsl.selectFrom(SLUICE_SPEND_LOGS).fetchOne();
    assertThat(r.getRequestId()).isEqualTo("req-fields");
    assertThat(r.getApiKey()).isEqualTo(hash("kf"));
    assertThat(r.getKeyAlias()).isEqualTo("kf-alias");
    assertThat(r.getUserId()).isEqualTo("uf");
    assertThat(r.getTeamId()).isEqualTo("tf");
    assertThat(r.getRoute()).isEqualTo("/v1/completions");
    assertThat(r.getModelGroup()).isEqualTo("llama");
    assertThat(r.getModelId()).isEqualTo("vllm-b");
    assertThat(r.getPromptTokens()).isEqualTo(123);
    assertThat(r.getCompletionTokens()).isEqualTo(45);
    assertThat(r.getTotalTokens()).isEqualTo(168);
    assertThat(r.getTokensEstimated()).isTrue();
    assertThat(r.getSpend()).isEqualTo(0.5);
    assertThat(r.getStartTime().toInstant()).isEqualTo(SpendFixture.T0);
    assertThat(r.getEndTime().toInstant()).isEqualTo(SpendFixture.T0.plusSeconds(2));
    assertThat(r.getStatus()).isEqualTo(499);
    assertThat(r.getOutcome()).isEqualTo("client_gone");
    assertThat(r.getStream()).isTrue();
    assertThat(r.getStreamFinished()).as("the client left: the stream did not finish").isFalse();
  }

  @Test
  void theSameRequestIdTwiceIsOneRowAndItsSpendCountsOnce() {
    SpendFixture.seed(dsl, "u1", "t1", "k1");
    UsageEvent e = event("dup-1", hash("k1"), "u1", "t1", 1.5);
    try (SpendWriter w = SpendWriter.start(dsl, settings())) {
      w.offer(e);
      w.offer(e); // twice in one batch
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
      w.offer(e); // and again later, in a batch of its own (a replay)
      w.offer(event("dup-2", hash("k1"), "u1", "t1", 0.25));
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
      assertThat(w.written()).as("rows inserted, not rows offered").isEqualTo(2);
    }
    assertThat(rows(dsl)).isEqualTo(2);
    assertThat(keySpend(dsl, "k1")).isEqualTo(1.75);
    assertThat(userSpend(dsl, "u1")).isEqualTo(1.75);
    assertThat(teamSpend(dsl, "t1")).isEqualTo(1.75);
  }

  @Test
  void spendOfADeletedKeyIsLoggedAndChargesNobody() {
    try (SpendWriter w = SpendWriter.start(dsl, settings())) {
      w.offer(event("gone-1", hash("deleted"), "no-such-user", "no-such-team", 2.0));
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
    }
    assertThat(rows(dsl)).as("no foreign keys: the history stays").isEqualTo(1);
  }

  @Test
  void aFullQueueRefusesAtOnceCountsAndLogsOnce() {
    Logger logger = (Logger) LoggerFactory.getLogger(SpendWriter.class);
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    logs.start();
    logger.addAppender(logs);
    // A long flush interval and a batch larger than the queue: once idle, the writer does not drain on its own.
    SpendWriter.Settings s = settings().withQueueCapacity(100).withBatchSize(1000)
        .withFlushInterval(Duration.ofMinutes(5));
    int accepted = 0;
    int refused = 0;
    try (SpendWriter w = SpendWriter.start(dsl, s)) {
      SpendFixture.await("the writer idle", Duration.ofSeconds(5), SpendWriterTest::writerParked);
      long t0 = System.nanoTime();
      for (int i = 0; i < 10_000; i++) {
        if (w.offer(event("q" + i, null, null, null, 0))) {
          accepted++;
        } else {
          refused++;
        }
      }
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("offer never blocks").isLessThan(Duration.ofSeconds(1));
      assertThat(accepted).isEqualTo(100);
      assertThat(refused).isEqualTo(9_900);
      assertThat(w.dropped()).isEqualTo(9_900);
      assertThat(w.queueDepth()).isEqualTo(100);
      // The drop report comes from the writer's next tick; flush wakes it.
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
      List<String> warns = warnings(logs);
      assertThat(warns).hasSize(1);
      assertThat(warns.get(0)).contains("9900 usage event(s) dropped");
      for (int i = 0; i < 201; i++) {
        if (w.offer(event("more" + i, null, null, null, 0))) {
          accepted++;
        }
      }
      assertThat(w.dropped()).isEqualTo(9_900 + 101);
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
      assertThat(warnings(logs)).as("at most one report a minute").hasSize(1);
      assertThat(w.written()).isEqualTo(accepted);
    } finally {
      logger.detachAppender(logs);
    }
    assertThat(rows(dsl)).as("what was accepted is written").isEqualTo(accepted);
  }

  private static List<String> warnings(ListAppender<ILoggingEvent> logs) {
    List<String> out = new ArrayList<>();
    for (ILoggingEvent l : List.copyOf(logs.list)) {
      if (l.getLevel() == Level.WARN) {
        out.add(l.getFormattedMessage());
      }
    }
    return out;
  }

  @Test
  void ratedLoadIsNeitherDroppedNorSpilled() {
    // 25 000 events/s for 6 s: more than the queue holds, so the writer must keep draining it while the database
    // works through the backlog.
    int perMs = 25;
    int n = 0;
    try (SpendWriter w = SpendWriter.start(dsl, settings())) {
      long t0 = System.nanoTime();
      for (int ms = 0; ms < 6_000; ms++) {
        for (int i = 0; i < perMs; i++, n++) {
          w.offer(event("rl" + n, hash("k" + n % 50), "u" + n % 20, "t" + n % 5, 0.001));
        }
        long next = t0 + (ms + 1) * 1_000_000L;
        while (System.nanoTime() - next < 0) {
          java.util.concurrent.locks.LockSupport.parkNanos(200_000);
        }
      }
      assertThat(w.dropped()).isZero();
      assertThat(w.flush(Duration.ofSeconds(90))).isTrue();
      assertThat(w.spilled()).isZero();
      assertThat(w.written()).isEqualTo(n);
    }
    assertThat(rows(dsl)).isEqualTo(n);
  }

  @Test
  void offerAfterCloseIsRefusedAndCounted() {
    SpendWriter w = SpendWriter.start(dsl, settings());
    w.close();
    assertThat(w.offer(event("late", null, null, null, 1))).isFalse();
    assertThat(w.dropped()).isEqualTo(1);
    assertThat(rows(dsl)).isZero();
  }

  @Test
  void aRequestIdWithANulCharacterDoesNotStallTheBatch() {
    try (SpendWriter w = SpendWriter.start(dsl, settings())) {
      w.offer(event("nul\0id", null, null, null, 1));
      w.offer(event("plain", null, null, null, 1));
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
      assertThat(w.rejected()).isZero();
    }
    assertThat(SpendFixture.requestIds(dsl)).containsExactlyInAnyOrder("nulid", "plain");
  }

  /** The writer thread waits for its next tick (every writer in this JVM, should another be alive). */
  private static boolean writerParked() {
    boolean seen = false;
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().equals("sluice-spend-writer")) {
        seen = true;
        if (t.getState() != Thread.State.TIMED_WAITING) {
          return false;
        }
      }
    }
    return seen;
  }
}
