package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;
import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.db.Database;
import io.sluice.admin.db.DatabaseUrl;
import io.sluice.admin.db.TestDatabases;
import io.sluice.usage.UsageEvent;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import org.jooq.DSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spend writer against a real PostgreSQL, including one that goes away (a TCP proxy in front of it). */
class SpendWriterTest {
  static final String KEY = "a".repeat(64);

  @TempDir
  Path dir;
  TestDatabases.TestDatabase tdb;
  DSLContext dsl;

  @BeforeEach
  void setUp() {
    tdb = TestDatabases.create();
    dsl = tdb.db.dsl();
    dsl.insertInto(SLUICE_USERS, SLUICE_USERS.USER_ID).values("u1").execute();
    dsl.insertInto(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID).values("t1").execute();
    dsl.insertInto(SLUICE_KEYS, SLUICE_KEYS.TOKEN, SLUICE_KEYS.KEY_NAME, SLUICE_KEYS.USER_ID, SLUICE_KEYS.TEAM_ID)
        .values(KEY, "sk-...test", "u1", "t1").execute();
  }

  @AfterEach
  void tearDown() {
    tdb.close();
  }

  static UsageEvent event(String id, double spend) {
    Instant now = Instant.now();
    return new UsageEvent(id, KEY, "alias", "u1", "t1", "/v1/chat/completions", "llama", "replica-a", 3, 5, false,
        spend, now.minusMillis(20), now, 200, UsageEvent.Outcome.COMPLETED, true);
  }

  SpendWriter.Settings settings(int memoryLimit) {
    return new SpendWriter.Settings(10_000, 100, Duration.ofMillis(20), memoryLimit, dir.resolve("spill.jsonl"));
  }

  Set<String> rows() {
    return new TreeSet<>(dsl.select(SLUICE_SPEND_LOGS.REQUEST_ID).from(SLUICE_SPEND_LOGS)
        .fetch(SLUICE_SPEND_LOGS.REQUEST_ID));
  }

  double keySpend() {
    return dsl.select(SLUICE_KEYS.SPEND).from(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(KEY)).fetchOne().value1();
  }

  /** A second pool on the same database, through {@code proxy}. */
  Database viaProxy(TcpProxy proxy) {
    URI u = URI.create(tdb.url.jdbcUrl().substring("jdbc:".length()));
    String jdbc = "jdbc:postgresql://127.0.0.1:" + proxy.port() + u.getRawPath()
        + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery());
    return Database.open(new Database.Options(new DatabaseUrl(jdbc, tdb.url.user(), tdb.url.password()), null, 2,
        List.of("classpath:db/migration")));
  }

  @Test
  void batchesRowsAndAddsSpendToKeyUserAndTeamOnce() throws Exception {
    try (SpendWriter w = new SpendWriter(dsl, settings(1000))) {
      for (int i = 0; i < 250; i++) {
        assertThat(w.offer(event("r" + i, 0.01))).isTrue();
      }
      assertThat(w.offer(event("r7", 0.01))).as("a duplicate is accepted, then ignored").isTrue();
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
      assertThat(rows()).hasSize(250);
      assertThat(keySpend()).isCloseTo(2.5, org.assertj.core.data.Offset.offset(1e-9));
      assertThat(dsl.select(SLUICE_USERS.SPEND).from(SLUICE_USERS).fetchOne().value1())
          .isCloseTo(2.5, org.assertj.core.data.Offset.offset(1e-9));
      assertThat(dsl.select(SLUICE_TEAMS.SPEND).from(SLUICE_TEAMS).fetchOne().value1())
          .isCloseTo(2.5, org.assertj.core.data.Offset.offset(1e-9));
      assertThat(w.written()).isEqualTo(250);
    }
  }

  @Test
  void aDatabaseOutageLosesNoRowAndCountsNoSpendTwice() throws Exception {
    try (TcpProxy proxy = new TcpProxy("127.0.0.1", URI.create(tdb.url.jdbcUrl().substring(5)).getPort());
        Database db = viaProxy(proxy);
        SpendWriter w = new SpendWriter(db.dsl(), settings(50))) {
      for (int i = 0; i < 100; i++) {
        w.offer(event("before-" + i, 0.001));
      }
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
      proxy.refuse(true);
      for (int i = 0; i < 300; i++) { // more than the memory limit: the rest goes to the spill file
        w.offer(event("down-" + i, 0.001));
        if (i % 50 == 0) {
          Thread.sleep(30);
        }
      }
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (w.spilled() == 0 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(w.spilled()).as("past the memory limit, rows went to the spill file").isPositive();
      assertThat(Files.exists(dir.resolve("spill.jsonl"))).isTrue();
      proxy.refuse(false);
      assertThat(w.flush(Duration.ofSeconds(20))).as(String.valueOf(w.lastError())).isTrue();
      assertThat(rows()).hasSize(400);
      assertThat(keySpend()).isCloseTo(0.4, org.assertj.core.data.Offset.offset(1e-9));
      assertThat(Files.exists(dir.resolve("spill.jsonl"))).as("replayed, then removed").isFalse();
    }
  }

  @Test
  void closeWithTheDatabaseDownKeepsRowsForTheNextStart() throws Exception {
    try (TcpProxy proxy = new TcpProxy("127.0.0.1", URI.create(tdb.url.jdbcUrl().substring(5)).getPort());
        Database db = viaProxy(proxy)) {
      proxy.refuse(true);
      SpendWriter w = new SpendWriter(db.dsl(), settings(1000));
      for (int i = 0; i < 40; i++) {
        w.offer(event("late-" + i, 0.01));
      }
      w.close(Duration.ofMillis(500));
      assertThat(w.offer(event("after-close", 1))).as("closed: refused").isFalse();
      assertThat(Files.readAllLines(dir.resolve("spill.jsonl"))).hasSize(40)
          .allSatisfy(l -> assertThat(l).doesNotContain("sk-"));
    }
    try (SpendWriter next = new SpendWriter(dsl, settings(1000))) {
      assertThat(next.flush(Duration.ofSeconds(10))).isTrue();
      assertThat(rows()).hasSize(40);
      assertThat(keySpend()).isCloseTo(0.4, org.assertj.core.data.Offset.offset(1e-9));
    }
  }

  @Test
  void aFullQueueDropsCountsAndNeverBlocks() throws Exception {
    try (TcpProxy proxy = new TcpProxy("127.0.0.1", URI.create(tdb.url.jdbcUrl().substring(5)).getPort());
        Database db = viaProxy(proxy)) {
      proxy.blackhole(true); // the writer hangs on its first batch
      SpendWriter w = new SpendWriter(db.dsl(), new SpendWriter.Settings(10, 5, Duration.ofMillis(5), 1000,
          dir.resolve("spill.jsonl")));
      long t0 = System.nanoTime();
      int accepted = 0;
      for (int i = 0; i < 10_000; i++) {
        if (w.offer(event(UUID.randomUUID().toString(), 0))) {
          accepted++;
        }
      }
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("offer never waits").isLessThan(Duration.ofSeconds(2));
      assertThat(w.dropped()).isEqualTo(10_000 - accepted).isPositive();
      proxy.blackhole(false);
      proxy.refuse(true);
      w.close(Duration.ofMillis(200));
    }
  }

  @Test
  void budgetsResetWhenTheirPeriodEnds() {
    dsl.update(SLUICE_KEYS).set(SLUICE_KEYS.SPEND, 5.0).set(SLUICE_KEYS.BUDGET_DURATION, "1d")
        .set(SLUICE_KEYS.BUDGET_RESET_AT, java.time.OffsetDateTime.now().minusMinutes(1)).execute();
    dsl.update(SLUICE_TEAMS).set(SLUICE_TEAMS.SPEND, 7.0).set(SLUICE_TEAMS.BUDGET_DURATION, "30d")
        .set(SLUICE_TEAMS.BUDGET_RESET_AT, java.time.OffsetDateTime.now().plusDays(1)).execute();
    var reset = BudgetResets.run(dsl, Instant.now());
    assertThat(reset).extracting(h -> h.hex()).containsExactly(KEY);
    assertThat(keySpend()).isZero();
    assertThat(dsl.select(SLUICE_KEYS.BUDGET_RESET_AT).from(SLUICE_KEYS).fetchOne().value1().toInstant())
        .isAfter(Instant.now().plus(Duration.ofHours(23)));
    assertThat(dsl.select(SLUICE_TEAMS.SPEND).from(SLUICE_TEAMS).fetchOne().value1()).as("not due").isEqualTo(7.0);
    assertThat(BudgetResets.run(dsl, Instant.now())).as("nothing due twice").isEmpty();
  }
}
