package io.sluice.admin.spend;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
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
 * {@code now + budget_duration}. Spend logs are kept: only the running totals restart.
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
