package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_DAILY;
import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;
import static io.sluice.admin.spend.SpendFixture.T0;
import static io.sluice.admin.spend.SpendFixture.event;
import static io.sluice.admin.spend.SpendFixture.hash;
import static io.sluice.admin.spend.SpendFixture.keySpend;
import static io.sluice.admin.spend.SpendFixture.requestIds;
import static io.sluice.admin.spend.SpendFixture.rows;
import static io.sluice.admin.spend.SpendFixture.teamSpend;
import static io.sluice.admin.spend.SpendFixture.userSpend;
import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.db.TestDatabases;
import io.sluice.admin.db.jooq.tables.records.SluiceSpendLogsRecord;
import io.sluice.usage.UsageEvent;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jooq.DSLContext;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link SpendStore} against a live PostgreSQL: what one {@code write} leaves in the tables. */
class SpendStoreTest {
  TestDatabases.TestDatabase tdb;
  DSLContext dsl;
  SpendStore store;

  @BeforeEach
  void up() {
    tdb = TestDatabases.create();
    dsl = tdb.db.dsl();
    store = new SpendStore(dsl);
    SpendFixture.seed(dsl, "u1", "t1", "k1");
  }

  @AfterEach
  void down() {
    tdb.close();
  }

  long dailyRequests() {
    Long n = dsl.select(DSL.sum(SLUICE_SPEND_DAILY.REQUESTS)).from(SLUICE_SPEND_DAILY).fetchOne(0, Long.class);
    return n == null ? 0 : n;
  }

  double dailySpend() {
    Double s = dsl.select(DSL.sum(SLUICE_SPEND_DAILY.SPEND)).from(SLUICE_SPEND_DAILY).fetchOne(0, Double.class);
    return s == null ? 0 : s;
  }

  @Test
  void anEmptyBatchWritesNothing() {
    assertThat(store.write(List.of())).isZero();
    assertThat(rows(dsl)).isZero();
    assertThat(dailyRequests()).isZero();
  }

  @Test
  void nulCharactersAreStrippedFromEveryTextColumn() {
    UsageEvent e = new UsageEvent("req\0-nul", hash("k1"), "al\0ias", "u\u00001", "t1\0", "/v1/chat\0/completions",
        "lla\0ma", "\0vllm-a", 3, 4, false, 0.25, T0, T0.plusSeconds(1), 200, UsageEvent.Outcome.COMPLETED, false);
    assertThat(store.write(List.of(e))).isEqualTo(1);
    assertThat(store.write(List.of(e))).as("the cleaned id is the dedupe key").isZero();
    SluiceSpendLogsRecord r = dsl.selectFrom(SLUICE_SPEND_LOGS).fetchOne();
    assertThat(r.getRequestId()).isEqualTo("req-nul");
    assertThat(r.getKeyAlias()).isEqualTo("alias");
    assertThat(r.getUserId()).isEqualTo("u1");
    assertThat(r.getTeamId()).isEqualTo("t1");
    assertThat(r.getRoute()).isEqualTo("/v1/chat/completions");
    assertThat(r.getModelGroup()).isEqualTo("llama");
    assertThat(r.getModelId()).isEqualTo("vllm-a");
    assertThat(userSpend(dsl, "u1")).isEqualTo(0.25);
    assertThat(teamSpend(dsl, "t1")).isEqualTo(0.25);
    assertThat(dsl.fetchValue("SELECT model_group FROM sluice_spend_daily")).isEqualTo("llama");
  }

  @Test
  void nonFiniteAndNegativeSpendIsStoredAndSummedAsZero() {
    List<UsageEvent> batch = List.of(event("nan", hash("k1"), "u1", "t1", Double.NaN),
        event("neg", hash("k1"), "u1", "t1", -3.0), event("inf", hash("k1"), "u1", "t1", Double.POSITIVE_INFINITY),
        event("ninf", hash("k1"), "u1", "t1", Double.NEGATIVE_INFINITY), event("ok", hash("k1"), "u1", "t1", 0.5));
    assertThat(store.write(batch)).isEqualTo(5);
    assertThat(dsl.select(SLUICE_SPEND_LOGS.REQUEST_ID, SLUICE_SPEND_LOGS.SPEND).from(SLUICE_SPEND_LOGS)
        .fetchMap(SLUICE_SPEND_LOGS.REQUEST_ID, SLUICE_SPEND_LOGS.SPEND))
        .containsEntry("nan", 0.0).containsEntry("neg", 0.0).containsEntry("inf", 0.0).containsEntry("ninf", 0.0)
        .containsEntry("ok", 0.5);
    assertThat(keySpend(dsl, "k1")).isEqualTo(0.5);
    assertThat(userSpend(dsl, "u1")).isEqualTo(0.5);
    assertThat(teamSpend(dsl, "t1")).isEqualTo(0.5);
    assertThat(dailySpend()).isEqualTo(0.5);
    assertThat(dailyRequests()).isEqualTo(5);
  }

  @Test
  void aBatchWrittenTwiceCountsOnce() {
    List<UsageEvent> batch = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      batch.add(event("twice-" + i, hash("k1"), "u1", "t1", 0.125));
    }
    assertThat(store.write(batch)).isEqualTo(10);
    assertThat(store.write(batch)).isZero();
    // Half already there, half new: only the new half counts.
    List<UsageEvent> overlap = new ArrayList<>(batch.subList(5, 10));
    for (int i = 10; i < 15; i++) {
      overlap.add(event("twice-" + i, hash("k1"), "u1", "t1", 0.125));
    }
    assertThat(store.write(overlap)).isEqualTo(5);
    assertThat(rows(dsl)).isEqualTo(15);
    assertThat(keySpend(dsl, "k1")).isEqualTo(15 * 0.125);
    assertThat(userSpend(dsl, "u1")).isEqualTo(15 * 0.125);
    assertThat(teamSpend(dsl, "t1")).isEqualTo(15 * 0.125);
    assertThat(dailyRequests()).isEqualTo(15);
    assertThat(dailySpend()).isEqualTo(15 * 0.125);
  }

  @Test
  void aRehearsalRunsTheWriteAndLeavesEveryTableAsItWas() {
    List<UsageEvent> batch = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      UsageEvent e = event("rehearsed-" + i, hash("k1"), "u1", "t1", 0.125);
      batch.add(i % 2 == 0 ? e : new UsageEvent(e.requestId(), e.keyHash(), e.keyAlias(), e.userId(), e.teamId(),
          e.route(), e.modelGroup(), e.deploymentId(), e.promptTokens(), e.completionTokens(), e.estimated(),
          e.spend(), e.startMicros(), e.endMicros(), e.status(), e.outcome(), e.stream(), "end-user-" + i));
    }
    assertThat(store.rehearse(batch)).as("rows the insert would have added").isEqualTo(20);
    assertThat(store.rehearse(batch)).as("rolled back, so all of them again").isEqualTo(20);
    assertThat(rows(dsl)).isZero();
    assertThat(dailyRequests()).isZero();
    assertThat(keySpend(dsl, "k1")).isZero();
    assertThat(userSpend(dsl, "u1")).isZero();
    assertThat(teamSpend(dsl, "t1")).isZero();
    assertThat(dsl.fetchCount(DSL.table("sluice_end_users"))).as("no end user created").isZero();
    assertThat(store.write(batch)).as("the real write afterwards finds nothing in its way").isEqualTo(20);
    assertThat(keySpend(dsl, "k1")).isEqualTo(20 * 0.125);
  }

  @Test
  void aRequestIdTwiceInOneBatchKeepsTheFirst() {
    List<UsageEvent> batch = List.of(event("dup", hash("k1"), "u1", "t1", 0.5),
        event("other", hash("k1"), "u1", "t1", 0.25), event("dup", hash("k1"), "u1", "t1", 8.0));
    assertThat(store.write(batch)).isEqualTo(2);
    assertThat(requestIds(dsl)).containsExactlyInAnyOrder("dup", "other");
    assertThat(dsl.fetchValue(DSL.select(SLUICE_SPEND_LOGS.SPEND).from(SLUICE_SPEND_LOGS)
        .where(SLUICE_SPEND_LOGS.REQUEST_ID.eq("dup")))).isEqualTo(0.5);
    assertThat(keySpend(dsl, "k1")).isEqualTo(0.75);
    assertThat(dailyRequests()).isEqualTo(2);
  }

  @Test
  void aBatchOfFiveThousandRowsOverManyIdsAndDays() {
    for (int k = 2; k <= 40; k++) {
      SpendFixture.seed(dsl, "u" + (k % 7), "t" + (k % 5), "k" + k);
    }
    List<UsageEvent> batch = new ArrayList<>();
    double[] perKey = new double[41];
    for (int i = 0; i < 5000; i++) {
      int k = 1 + i % 40;
      double s = (i % 9) * 0.0625;
      perKey[k] += s;
      Instant start = Instant.parse("2026-03-01T00:00:00Z").plusSeconds(3600L * (i % 72)); // three UTC days
      batch.add(event("big-" + i, hash("k" + k), k == 1 ? "u1" : "u" + (k % 7), k == 1 ? "t1" : "t" + (k % 5), s,
          start));
    }
    assertThat(store.write(batch)).isEqualTo(5000);
    assertThat(rows(dsl)).isEqualTo(5000);
    for (int k = 1; k <= 40; k++) {
      assertThat(keySpend(dsl, "k" + k)).as("k" + k).isEqualTo(perKey[k]);
    }
    assertThat(dailyRequests()).isEqualTo(5000);
    assertThat(dsl.fetchCount(SLUICE_SPEND_DAILY)).isEqualTo(3 * 40);
    assertThat(dsl.selectDistinct(SLUICE_SPEND_DAILY.DAY).from(SLUICE_SPEND_DAILY).fetch(SLUICE_SPEND_DAILY.DAY))
        .containsExactlyInAnyOrder(LocalDate.of(2026, 3, 1), LocalDate.of(2026, 3, 2), LocalDate.of(2026, 3, 3));
    double total = 0;
    for (double s : perKey) {
      total += s;
    }
    assertThat(dailySpend()).isEqualTo(total);
    assertThat(store.write(batch)).as("the same 5000 again").isZero();
    assertThat(dailyRequests()).isEqualTo(5000);
  }

  @Test
  void withSpendLogsOffNoRowIsWrittenButSpendAndTheRollupAreAdded() {
    SpendStore off = new SpendStore(dsl, false);
    List<UsageEvent> batch = List.of(event("off-1", hash("k1"), "u1", "t1", 0.5),
        event("off-2", hash("k1"), "u1", "t1", 0.25), event("off-1", hash("k1"), "u1", "t1", 0.5));
    assertThat(off.write(batch)).as("distinct request ids").isEqualTo(2);
    assertThat(rows(dsl)).isZero();
    assertThat(keySpend(dsl, "k1")).isEqualTo(0.75);
    assertThat(userSpend(dsl, "u1")).isEqualTo(0.75);
    assertThat(teamSpend(dsl, "t1")).isEqualTo(0.75);
    assertThat(dailyRequests()).isEqualTo(2);
    assertThat(dailySpend()).isEqualTo(0.75);
    // Documented: with no row to recognise a request by, a batch written again counts again.
    assertThat(off.write(batch)).isEqualTo(2);
    assertThat(keySpend(dsl, "k1")).isEqualTo(1.5);
    assertThat(rows(dsl)).isZero();
  }

  @Test
  void zeroSpendRowsUpdateNoKeyUserOrTeam() throws Exception {
    // Hold the row locks of the key, its user and its team: any UPDATE of them would wait for this transaction.
    Connection locker = tdb.db.dsl().configuration().connectionProvider().acquire();
    try {
      locker.setAutoCommit(false);
      for (String sql : List.of("SELECT 1 FROM sluice_keys WHERE token = ? FOR UPDATE",
          "SELECT 1 FROM sluice_users WHERE user_id = ? FOR UPDATE",
          "SELECT 1 FROM sluice_teams WHERE team_id = ? FOR UPDATE")) {
        try (PreparedStatement ps = locker.prepareStatement(sql)) {
          ps.setString(1, sql.contains("keys") ? hash("k1") : sql.contains("users") ? "u1" : "t1");
          try (ResultSet rs = ps.executeQuery()) {
            assertThat(rs.next()).isTrue();
          }
        }
      }
      List<UsageEvent> batch = List.of(event("zero-1", hash("k1"), "u1", "t1", 0.0),
          event("zero-2", hash("k1"), "u1", "t1", -1.0), event("zero-3", hash("k1"), "u1", "t1", Double.NaN));
      int written = CompletableFuture.supplyAsync(() -> store.write(batch)).get(10, TimeUnit.SECONDS);
      assertThat(written).isEqualTo(3);
    } finally {
      locker.rollback();
      locker.setAutoCommit(true);
      tdb.db.dsl().configuration().connectionProvider().release(locker);
    }
    assertThat(rows(dsl)).isEqualTo(3);
    assertThat(keySpend(dsl, "k1")).isZero();
    assertThat(userSpend(dsl, "u1")).isZero();
    assertThat(teamSpend(dsl, "t1")).isZero();
    assertThat(dailyRequests()).isEqualTo(3);
  }

  @Test
  void timestampsKeepMicrosecondsAsPostgresqlWouldParseThem() {
    long[] nanos = {0, 1_000, 123_456_789, 999_999_499, 999_999_501, 1_499, 1_501, 42_000_000};
    List<UsageEvent> batch = new ArrayList<>();
    for (int i = 0; i < nanos.length; i++) {
      batch.add(event("ts-" + i, null, null, null, 0, T0.plusNanos(nanos[i])));
    }
    batch.add(event("ts-old", null, null, null, 0, Instant.parse("1969-12-31T23:59:59.999999Z")));
    store.write(batch);
    for (UsageEvent e : batch) {
      Boolean same = dsl.fetchOne("SELECT start_time = ?::timestamptz AND end_time = ?::timestamptz"
          + " FROM sluice_spend_logs WHERE request_id = ?", e.start().toString(), e.end().toString(),
          e.requestId()).get(0, Boolean.class);
      assertThat(same).as(e.requestId() + " " + e.start()).isTrue();
    }
    assertThat(SpendStore.micros(Instant.ofEpochSecond(0, 1_500))).as("a tie goes to even").isEqualTo(2);
    assertThat(SpendStore.micros(Instant.ofEpochSecond(0, 2_500))).isEqualTo(2);
    assertThat(SpendStore.micros(Instant.ofEpochSecond(-1, 999_999_500))).isEqualTo(-1_000_000 + 1_000_000);
  }
}
