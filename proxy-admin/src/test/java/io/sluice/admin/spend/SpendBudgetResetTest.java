package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_END_USERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;
import static io.sluice.admin.spend.SpendFixture.hash;
import static io.sluice.admin.spend.SpendFixture.keySpend;
import static io.sluice.admin.spend.SpendFixture.teamSpend;
import static io.sluice.admin.spend.SpendFixture.userSpend;
import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyHash;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import org.jooq.DSLContext;
import org.jooq.Field;
import org.jooq.Table;
import org.jooq.TableField;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Budget periods: due keys, users and teams restart their spend; the affected keys are reported. */
class SpendBudgetResetTest {
  static final Instant NOW = Instant.parse("2026-04-01T00:00:00Z");
  static final OffsetDateTime PAST = OffsetDateTime.ofInstant(NOW.minusSeconds(1), ZoneOffset.UTC);
  static final OffsetDateTime FUTURE = OffsetDateTime.ofInstant(NOW.plusSeconds(3600), ZoneOffset.UTC);

  @TempDir
  Path dir;
  TestDatabases.TestDatabase tdb;
  DSLContext dsl;

  @BeforeEach
  void up() {
    tdb = TestDatabases.create();
    dsl = tdb.db.dsl();
    SpendFixture.seed(dsl, "u-due", null, "k-of-due-user");
    SpendFixture.seed(dsl, "u-later", "t-due", "k-of-due-team");
    SpendFixture.seed(dsl, null, null, "k-due");
    SpendFixture.seed(dsl, null, null, "k-never-set");
    SpendFixture.seed(dsl, null, null, "k-later");
    SpendFixture.seed(dsl, null, null, "k-no-budget");
    SpendFixture.seed(dsl, null, "t-later", null);
    dsl.update(SLUICE_KEYS).set(SLUICE_KEYS.SPEND, 5.0).execute();
    dsl.update(SLUICE_USERS).set(SLUICE_USERS.SPEND, 3.0).execute();
    dsl.update(SLUICE_TEAMS).set(SLUICE_TEAMS.SPEND, 2.0).execute();
    budget(SLUICE_KEYS, SLUICE_KEYS.TOKEN, hash("k-due"), "30d", PAST);
    budget(SLUICE_KEYS, SLUICE_KEYS.TOKEN, hash("k-never-set"), "1h", null);
    budget(SLUICE_KEYS, SLUICE_KEYS.TOKEN, hash("k-later"), "30s", FUTURE);
    budget(SLUICE_USERS, SLUICE_USERS.USER_ID, "u-due", "15m", PAST);
    budget(SLUICE_USERS, SLUICE_USERS.USER_ID, "u-later", "24h", FUTURE);
    budget(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID, "t-due", "1mo", NOW.atOffset(ZoneOffset.UTC)); // due at exactly now
    budget(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID, "t-later", "7d", FUTURE);
  }

  @AfterEach
  void down() {
    tdb.close();
  }

  private void budget(Table<?> t, TableField<?, String> id, String value, String duration, OffsetDateTime resetAt) {
    Field<String> d = t.field("budget_duration", String.class);
    Field<OffsetDateTime> at = t.field("budget_reset_at", OffsetDateTime.class);
    dsl.update(t).set(d, duration).set(at, resetAt).where(id.eq(value)).execute();
  }

  @Test
  void dueBudgetsRestartAndTheirKeysAreReported() {
    List<KeyHash> changed;
    try (SpendWriter w = SpendWriter.start(dsl, SpendWriter.Settings.defaults(dir))) {
      changed = w.resetBudgets(NOW);
    }
    assertThat(changed).extracting(KeyHash::hex).containsExactlyInAnyOrder(hash("k-due"), hash("k-never-set"),
        hash("k-of-due-user"), hash("k-of-due-team"));

    assertThat(keySpend(dsl, "k-due")).isZero();
    assertThat(keySpend(dsl, "k-never-set")).isZero();
    assertThat(keySpend(dsl, "k-later")).isEqualTo(5.0);
    assertThat(keySpend(dsl, "k-no-budget")).isEqualTo(5.0);
    assertThat(keySpend(dsl, "k-of-due-user")).as("a user's reset leaves its keys' own spend").isEqualTo(5.0);
    assertThat(userSpend(dsl, "u-due")).isZero();
    assertThat(userSpend(dsl, "u-later")).isEqualTo(3.0);
    assertThat(teamSpend(dsl, "t-due")).isZero();
    assertThat(teamSpend(dsl, "t-later")).isEqualTo(2.0);

    assertThat(resetAt(SLUICE_KEYS, SLUICE_KEYS.TOKEN, hash("k-due"))).isEqualTo(NOW.plus(Duration.ofDays(30)));
    assertThat(resetAt(SLUICE_KEYS, SLUICE_KEYS.TOKEN, hash("k-never-set"))).isEqualTo(NOW.plusSeconds(3600));
    assertThat(resetAt(SLUICE_USERS, SLUICE_USERS.USER_ID, "u-due")).isEqualTo(NOW.plusSeconds(900));
    assertThat(resetAt(SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID, "t-due")).isEqualTo(Instant.parse("2026-05-01T00:00:00Z"));
    assertThat(resetAt(SLUICE_KEYS, SLUICE_KEYS.TOKEN, hash("k-later"))).isEqualTo(FUTURE.toInstant());

    assertThat(new BudgetResets(dsl).resetBudgets(NOW)).as("nothing is due twice").isEmpty();
    assertThat(new BudgetResets(dsl).resetBudgets(NOW.plusSeconds(3600)))
        .extracting(KeyHash::hex).as("an hour on: the 1h and 30s budgets").containsExactlyInAnyOrder(
            hash("k-never-set"), hash("k-later"), hash("k-of-due-user"), hash("k-of-due-team"));
  }

  /** LiteLLM's reset_budget_for_litellm_budget_table: a due budget row restarts its end users' and members' spend. */
  @Test
  void aDueBudgetRowRestartsTheSpendOfItsEndUsersAndTeamMembers() {
    dsl.insertInto(SLUICE_BUDGETS).set(SLUICE_BUDGETS.BUDGET_ID, "tier-due").set(SLUICE_BUDGETS.MAX_BUDGET, 1.0)
        .set(SLUICE_BUDGETS.BUDGET_DURATION, "1d").set(SLUICE_BUDGETS.BUDGET_RESET_AT, PAST).execute();
    dsl.insertInto(SLUICE_BUDGETS).set(SLUICE_BUDGETS.BUDGET_ID, "tier-later").set(SLUICE_BUDGETS.MAX_BUDGET, 1.0)
        .set(SLUICE_BUDGETS.BUDGET_DURATION, "1d").set(SLUICE_BUDGETS.BUDGET_RESET_AT, FUTURE).execute();
    dsl.insertInto(SLUICE_BUDGETS).set(SLUICE_BUDGETS.BUDGET_ID, "no-period").set(SLUICE_BUDGETS.MAX_BUDGET, 1.0)
        .execute();
    dsl.insertInto(SLUICE_END_USERS).set(SLUICE_END_USERS.USER_ID, "eu-due").set(SLUICE_END_USERS.SPEND, 4.0)
        .set(SLUICE_END_USERS.BUDGET_ID, "tier-due").execute();
    dsl.insertInto(SLUICE_END_USERS).set(SLUICE_END_USERS.USER_ID, "eu-later").set(SLUICE_END_USERS.SPEND, 4.0)
        .set(SLUICE_END_USERS.BUDGET_ID, "tier-later").execute();
    dsl.insertInto(SLUICE_END_USERS).set(SLUICE_END_USERS.USER_ID, "eu-none").set(SLUICE_END_USERS.SPEND, 4.0)
        .set(SLUICE_END_USERS.BUDGET_ID, "no-period").execute();
    dsl.insertInto(SLUICE_TEAM_MEMBERS).set(SLUICE_TEAM_MEMBERS.TEAM_ID, "t-due")
        .set(SLUICE_TEAM_MEMBERS.USER_ID, "u-later").set(SLUICE_TEAM_MEMBERS.SPEND, 2.5)
        .set(SLUICE_TEAM_MEMBERS.BUDGET_ID, "tier-due").execute();

    BudgetResets.RowsReset r = new BudgetResets(dsl).resetBudgetRows(NOW);
    assertThat(r.budgets()).isEqualTo(1);
    assertThat(r.endUsers()).isEqualTo(1);
    assertThat(r.members()).isEqualTo(1);
    assertThat(r.endUsersChanged()).isTrue();
    assertThat(r.memberKeys()).extracting(KeyHash::hex).as("the member's key in that team")
        .containsExactly(hash("k-of-due-team"));
    assertThat(endUserSpend("eu-due")).isZero();
    assertThat(endUserSpend("eu-later")).isEqualTo(4.0);
    assertThat(endUserSpend("eu-none")).as("no budget_duration: never reset").isEqualTo(4.0);
    assertThat(dsl.select(SLUICE_TEAM_MEMBERS.SPEND).from(SLUICE_TEAM_MEMBERS).fetchOne().value1()).isZero();
    assertThat(resetAt(SLUICE_BUDGETS, SLUICE_BUDGETS.BUDGET_ID, "tier-due")).isEqualTo(NOW.plus(Duration.ofDays(1)));
    assertThat(resetAt(SLUICE_BUDGETS, SLUICE_BUDGETS.BUDGET_ID, "tier-later")).isEqualTo(FUTURE.toInstant());
    assertThat(new BudgetResets(dsl).resetBudgetRows(NOW).budgets()).as("nothing is due twice").isZero();
  }

  private double endUserSpend(String id) {
    return dsl.select(SLUICE_END_USERS.SPEND).from(SLUICE_END_USERS).where(SLUICE_END_USERS.USER_ID.eq(id))
        .fetchOne().value1();
  }

  @Test
  void aBudgetDurationThatIsNotADurationIsLeftAlone() {
    budget(SLUICE_KEYS, SLUICE_KEYS.TOKEN, hash("k-no-budget"), "fortnightly", PAST);
    List<KeyHash> changed = new BudgetResets(dsl).resetBudgets(NOW);
    assertThat(changed).extracting(KeyHash::hex).doesNotContain(hash("k-no-budget"));
    assertThat(keySpend(dsl, "k-no-budget")).isEqualTo(5.0);
    assertThat(keySpend(dsl, "k-due")).as("the others still reset").isZero();
  }

  private Instant resetAt(Table<?> t, TableField<?, String> id, String value) {
    return dsl.select(t.field("budget_reset_at", OffsetDateTime.class)).from(t).where(id.eq(value))
        .fetchOne().value1().toInstant();
  }
}
