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
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.jooq.DSLContext;
import org.jooq.Record3;

/**
 * {@code budget_duration}: when a key's, user's or team's {@code budget_reset_at} has passed, its spend starts again
 * at 0 and the next reset is one duration later (LiteLLM's reset job). One transaction per run; the caller invalidates
 * the returned keys' caches so limits see the new period at once.
 */
public final class BudgetResets {
  private BudgetResets() {}

  /** Resets what is due at {@code now}; returns the keys whose own, user's or team's budget was reset. */
  public static List<KeyHash> run(DSLContext dsl, Instant now) {
    return dsl.transactionResult(c -> {
      DSLContext tx = c.dsl();
      OffsetDateTime at = now.atOffset(ZoneOffset.UTC);
      Set<String> keys = new LinkedHashSet<>();
      for (Record3<String, String, OffsetDateTime> r : tx.select(SLUICE_KEYS.TOKEN, SLUICE_KEYS.BUDGET_DURATION,
          SLUICE_KEYS.BUDGET_RESET_AT).from(SLUICE_KEYS).where(SLUICE_KEYS.BUDGET_DURATION.isNotNull()
          .and(SLUICE_KEYS.BUDGET_RESET_AT.isNull().or(SLUICE_KEYS.BUDGET_RESET_AT.le(at)))).forUpdate().fetch()) {
        OffsetDateTime next = next(r.value2(), at);
        if (next != null) {
          tx.update(SLUICE_KEYS).set(SLUICE_KEYS.SPEND, 0.0).set(SLUICE_KEYS.BUDGET_RESET_AT, next)
              .where(SLUICE_KEYS.TOKEN.eq(r.value1())).execute();
          keys.add(r.value1());
        }
      }
      List<String> users = new ArrayList<>();
      for (Record3<String, String, OffsetDateTime> r : tx.select(SLUICE_USERS.USER_ID, SLUICE_USERS.BUDGET_DURATION,
          SLUICE_USERS.BUDGET_RESET_AT).from(SLUICE_USERS).where(SLUICE_USERS.BUDGET_DURATION.isNotNull()
          .and(SLUICE_USERS.BUDGET_RESET_AT.isNull().or(SLUICE_USERS.BUDGET_RESET_AT.le(at)))).forUpdate().fetch()) {
        OffsetDateTime next = next(r.value2(), at);
        if (next != null) {
          tx.update(SLUICE_USERS).set(SLUICE_USERS.SPEND, 0.0).set(SLUICE_USERS.BUDGET_RESET_AT, next)
              .where(SLUICE_USERS.USER_ID.eq(r.value1())).execute();
          users.add(r.value1());
        }
      }
      List<String> teams = new ArrayList<>();
      for (Record3<String, String, OffsetDateTime> r : tx.select(SLUICE_TEAMS.TEAM_ID, SLUICE_TEAMS.BUDGET_DURATION,
          SLUICE_TEAMS.BUDGET_RESET_AT).from(SLUICE_TEAMS).where(SLUICE_TEAMS.BUDGET_DURATION.isNotNull()
          .and(SLUICE_TEAMS.BUDGET_RESET_AT.isNull().or(SLUICE_TEAMS.BUDGET_RESET_AT.le(at)))).forUpdate().fetch()) {
        OffsetDateTime next = next(r.value2(), at);
        if (next != null) {
          tx.update(SLUICE_TEAMS).set(SLUICE_TEAMS.SPEND, 0.0).set(SLUICE_TEAMS.BUDGET_RESET_AT, next)
              .where(SLUICE_TEAMS.TEAM_ID.eq(r.value1())).execute();
          teams.add(r.value1());
        }
      }
      if (!users.isEmpty() || !teams.isEmpty()) {
        keys.addAll(tx.select(SLUICE_KEYS.TOKEN).from(SLUICE_KEYS)
            .where(SLUICE_KEYS.USER_ID.in(users).or(SLUICE_KEYS.TEAM_ID.in(teams))).fetch(SLUICE_KEYS.TOKEN));
      }
      List<KeyHash> out = new ArrayList<>(keys.size());
      for (String k : keys) {
        out.add(new KeyHash(k));
      }
      return out;
    });
  }

  private static OffsetDateTime next(String duration, OffsetDateTime now) {
    try {
      return Durations.after(now, duration);
    } catch (RuntimeException e) {
      return null; // a stored duration that no longer parses: leave the row alone
    }
  }
}
