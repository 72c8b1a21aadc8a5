package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_END_USERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import io.sluice.admin.api.Durations;
import io.sluice.auth.KeyHash;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jooq.DSLContext;
import org.jooq.Record2;
import org.jooq.Table;
import org.jooq.TableField;
import org.jooq.impl.DSL;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Budget periods (LiteLLM's {@code reset_budget} job): a key, user or team with a {@code budget_duration} whose
 * {@code budget_reset_at} has come (or was never set) gets {@code spend = 0} and its next reset at
 * {@code now + budget_duration}. Spend logs are kept: only the running totals restart. A budget row
 * ({@code sluice_budgets}) due likewise restarts the spend of the end users and team members that link it, and its own
 * next reset advances (LiteLLM's {@code reset_budget_for_litellm_budget_table}).
 *
 * <p>Blocking JDBC: call off the event loops (the server runs it every 60 s on its admin executor).
 */
public final class BudgetResets {
  private static final Logger log = LoggerFactory.getLogger(BudgetResets.class);

  private final DSLContext dsl;

  public BudgetResets(DSLContext dsl) {
    this.dsl = dsl;
  }

  /**
   * Resets every budget due at {@code now}, in one transaction.
   *
   * @return the keys whose budget state changed — keys reset themselves, and the keys of reset users and teams —
   *     for the caller to drop from its caches (a cached key still carries the old spend); empty when nothing was due
   * @throws org.jooq.exception.DataAccessException if the database fails: then nothing was reset
   */
  public List<KeyHash> resetBudgets(Instant now) {
    OffsetDateTime at = OffsetDateTime.ofInstant(now, ZoneOffset.UTC);
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      List<String> direct = reset(tx, SLUICE_KEYS, SLUICE_KEYS.TOKEN, SLUICE_KEYS.SPEND,
          SLUICE_KEYS.BUDGET_DURATION, SLUICE_KEYS.BUDGET_RESET_AT, at);
      Set<String> keys = new LinkedHashSet<>(direct);
      List<String> users = reset(tx, SLUICE_USERS, SLUICE_USERS.USER_ID, SLUICE_USERS.SPEND,
          SLUICE_USERS.BUDGET_DURATION, SLUICE_USERS.BUDGET_RESET_AT, at);
      List<String> teams = reset(tx, SLUICE_TEAMS, SLUICE_TEAMS.TEAM_ID, SLUICE_TEAMS.SPEND,
          SLUICE_TEAMS.BUDGET_DURATION, SLUICE_TEAMS.BUDGET_RESET_AT, at);
      if (!users.isEmpty() || !teams.isEmpty()) {
        tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS)
            .where(SLUICE_KEYS.USER_ID.in(users).or(SLUICE_KEYS.TEAM_ID.in(teams)))
            .orderBy(SLUICE_KEYS.TOKEN)
            .forEach(r -> keys.add(r.value1()));
      }
      if (!keys.isEmpty() || !users.isEmpty() || !teams.isEmpty()) {
        log.info("budget reset: {} key(s), {} user(s), {} team(s) started a new budget period ({} key(s) to "
            + "refresh)", direct.size(), users.size(), teams.size(), keys.size());
      }
      List<KeyHash> out = new ArrayList<>(keys.size());
      keys.forEach(k -> out.add(new KeyHash(k)));
      return out;
    });
  }

  /** What {@link #resetBudgetRows} did: the keys of reset team members (to drop from caches), and how many rows. */
  public record RowsReset(List<KeyHash> memberKeys, int budgets, int endUsers, int members) {
    /** Whether any end user's spend restarted (cached end users are then stale). */
    public boolean endUsersChanged() {
      return endUsers > 0;
    }
  }

  /**
   * Resets every budget row due at {@code now}, in one transaction: the end users and team members linking it get
   * {@code spend = 0}, the row its next {@code budget_reset_at} ({@code now + budget_duration}).
   *
   * @throws org.jooq.exception.DataAccessException if the database fails: then nothing was reset
   */
  public RowsReset resetBudgetRows(Instant now) {
    OffsetDateTime at = OffsetDateTime.ofInstant(now, ZoneOffset.UTC);
    return dsl.transactionResult(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Map<String, List<String>> byDuration = new LinkedHashMap<>();
      for (Record2<String, String> r : tx.select(SLUICE_BUDGETS.BUDGET_ID, SLUICE_BUDGETS.BUDGET_DURATION)
          .from(SLUICE_BUDGETS)
          .where(SLUICE_BUDGETS.BUDGET_DURATION.isNotNull()
              .and(SLUICE_BUDGETS.BUDGET_RESET_AT.isNull().or(SLUICE_BUDGETS.BUDGET_RESET_AT.le(at))))
          .orderBy(SLUICE_BUDGETS.BUDGET_ID).forUpdate().fetch()) {
        byDuration.computeIfAbsent(r.value2(), d -> new ArrayList<>()).add(r.value1());
      }
      List<String> due = new ArrayList<>();
      for (Map.Entry<String, List<String>> e : byDuration.entrySet()) {
        OffsetDateTime next;
        try {
          next = Durations.after(at, e.getKey());
        } catch (IllegalArgumentException ex) {
          log.warn("budget reset: {} budget row(s) have budget_duration \"{}\", which is not a duration; not reset",
              e.getValue().size(), e.getKey());
          continue;
        }
        tx.update(SLUICE_BUDGETS).set(SLUICE_BUDGETS.BUDGET_RESET_AT, next)
            .where(SLUICE_BUDGETS.BUDGET_ID.in(e.getValue())).execute();
        due.addAll(e.getValue());
      }
      if (due.isEmpty()) {
        return new RowsReset(List.of(), 0, 0, 0);
      }
      int endUsers = tx.update(SLUICE_END_USERS).set(SLUICE_END_USERS.SPEND, 0.0)
          .where(SLUICE_END_USERS.BUDGET_ID.in(due)).execute();
      int members = tx.update(SLUICE_TEAM_MEMBERS).set(SLUICE_TEAM_MEMBERS.SPEND, 0.0)
          .where(SLUICE_TEAM_MEMBERS.BUDGET_ID.in(due)).execute();
      List<KeyHash> keys = new ArrayList<>();
      tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS).join(SLUICE_TEAM_MEMBERS)
          .on(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(SLUICE_KEYS.TEAM_ID)
              .and(SLUICE_TEAM_MEMBERS.USER_ID.eq(SLUICE_KEYS.USER_ID)))
          .where(SLUICE_TEAM_MEMBERS.BUDGET_ID.in(due)).orderBy(SLUICE_KEYS.TOKEN)
          .forEach(r -> keys.add(new KeyHash(r.value1())));
      log.info("budget reset: {} budget row(s) started a new period ({} end user(s), {} team member(s), {} key(s) to "
          + "refresh)", due.size(), endUsers, members, keys.size());
      return new RowsReset(List.copyOf(keys), due.size(), endUsers, members);
    });
  }

  /** The rows of {@code table} due for a reset, reset; their ids. Rows are locked in id order. */
  private static List<String> reset(DSLContext tx, Table<?> table, TableField<?, String> id,
      TableField<?, Double> spend, TableField<?, String> duration, TableField<?, OffsetDateTime> resetAt,
      OffsetDateTime now) {
    Map<String, List<String>> byDuration = new LinkedHashMap<>();
    for (Record2<String, String> r : tx.select(id, duration).from(table)
        .where(duration.isNotNull().and(resetAt.isNull().or(resetAt.le(now))))
        .orderBy(id).forUpdate().fetch()) {
      byDuration.computeIfAbsent(r.value2(), d -> new ArrayList<>()).add(r.value1());
    }
    List<String> done = new ArrayList<>();
    for (Map.Entry<String, List<String>> e : byDuration.entrySet()) {
      OffsetDateTime next;
      try {
        next = Durations.after(now, e.getKey());
      } catch (IllegalArgumentException ex) {
        // Written before validation existed, or by hand: leave it be rather than reset it every minute.
        log.warn("budget reset: {} row(s) of {} have budget_duration \"{}\", which is not a duration; not reset",
            e.getValue().size(), table.getName(), e.getKey());
        continue;
      }
      tx.update(table).set(spend, 0.0).set(resetAt, next).where(id.in(e.getValue())).execute();
      done.addAll(e.getValue());
    }
    return done;
  }
}
