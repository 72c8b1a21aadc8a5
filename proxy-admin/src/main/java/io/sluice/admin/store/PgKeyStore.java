package io.sluice.admin.store;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAM_MEMBERS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyLimits;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.KeyStore;
import io.sluice.auth.Role;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import org.jooq.DSLContext;
import org.jooq.Record;

/**
 * The source of truth for virtual keys: one indexed query (key ⋈ user ⋈ team ⋈ the user's membership of the team and
 * its budget) per lookup, on {@code executor},
 * never on the caller's thread. Sits under the data plane's {@link io.sluice.auth.LayeredKeyStore}.
 */
public final class PgKeyStore implements KeyStore {
  private final DSLContext dsl;
  private final Executor executor;

  public PgKeyStore(DSLContext dsl, Executor executor) {
    this.dsl = dsl;
    this.executor = executor;
  }

  @Override
  public CompletionStage<Optional<KeyRecord>> find(KeyHash hash) {
    return CompletableFuture.supplyAsync(() -> load(dsl, hash), executor);
  }

  /** Reads one key record now, on the calling thread (which must not be an event loop). */
  public static Optional<KeyRecord> load(DSLContext dsl, KeyHash hash) {
    Record r = dsl.select(SLUICE_KEYS.asterisk(), SLUICE_USERS.USER_ROLE, SLUICE_TEAMS.MODELS, SLUICE_TEAMS.BLOCKED,
            SLUICE_USERS.TPM_LIMIT, SLUICE_USERS.RPM_LIMIT, SLUICE_USERS.MAX_PARALLEL_REQUESTS, SLUICE_USERS.MAX_BUDGET,
            SLUICE_USERS.SPEND, SLUICE_USERS.BUDGET_RESET_AT,
            SLUICE_TEAMS.TPM_LIMIT, SLUICE_TEAMS.RPM_LIMIT, SLUICE_TEAMS.MAX_PARALLEL_REQUESTS, SLUICE_TEAMS.MAX_BUDGET,
            SLUICE_TEAMS.SPEND, SLUICE_TEAMS.BUDGET_RESET_AT, SLUICE_USERS.MODELS, SLUICE_TEAMS.MODEL_ALIASES,
            SLUICE_TEAM_MEMBERS.SPEND, SLUICE_BUDGETS.MAX_BUDGET, SLUICE_BUDGETS.BUDGET_RESET_AT)
        .from(SLUICE_KEYS)
        .leftJoin(SLUICE_USERS).on(SLUICE_USERS.USER_ID.eq(SLUICE_KEYS.USER_ID))
        .leftJoin(SLUICE_TEAMS).on(SLUICE_TEAMS.TEAM_ID.eq(SLUICE_KEYS.TEAM_ID))
        .leftJoin(SLUICE_TEAM_MEMBERS).on(SLUICE_TEAM_MEMBERS.TEAM_ID.eq(SLUICE_KEYS.TEAM_ID)
            .and(SLUICE_TEAM_MEMBERS.USER_ID.eq(SLUICE_KEYS.USER_ID)))
        .leftJoin(SLUICE_BUDGETS).on(SLUICE_BUDGETS.BUDGET_ID.eq(SLUICE_TEAM_MEMBERS.BUDGET_ID))
        .where(SLUICE_KEYS.TOKEN.eq(hash.hex()))
        .fetchOne();
    if (r == null) {
      return Optional.empty();
    }
    Role role = Roles.parse(r.get(SLUICE_USERS.USER_ROLE));
    String[] teamModels = r.get(SLUICE_TEAMS.MODELS);
    Boolean teamBlocked = r.get(SLUICE_TEAMS.BLOCKED);
    java.time.OffsetDateTime expires = r.get(SLUICE_KEYS.EXPIRES);
    return Optional.of(new KeyRecord(
        hash,
        r.get(SLUICE_KEYS.KEY_NAME),
        r.get(SLUICE_KEYS.KEY_ALIAS),
        r.get(SLUICE_KEYS.USER_ID),
        r.get(SLUICE_KEYS.TEAM_ID),
        role == null ? Role.INTERNAL_USER : role,
        set(r.get(SLUICE_KEYS.MODELS)),
        set(teamModels),
        list(r.get(SLUICE_KEYS.ALLOWED_ROUTES)),
        Boolean.TRUE.equals(r.get(SLUICE_KEYS.BLOCKED)),
        Boolean.TRUE.equals(teamBlocked),
        expires == null ? null : expires.toInstant(),
        limits(r.get(SLUICE_KEYS.TPM_LIMIT), r.get(SLUICE_KEYS.RPM_LIMIT), r.get(SLUICE_KEYS.MAX_PARALLEL_REQUESTS),
            r.get(SLUICE_KEYS.MAX_BUDGET), r.get(SLUICE_KEYS.SPEND), r.get(SLUICE_KEYS.BUDGET_RESET_AT)),
        r.get(SLUICE_KEYS.USER_ID) == null ? KeyLimits.NONE : limits(r.get(SLUICE_USERS.TPM_LIMIT),
            r.get(SLUICE_USERS.RPM_LIMIT), r.get(SLUICE_USERS.MAX_PARALLEL_REQUESTS), r.get(SLUICE_USERS.MAX_BUDGET),
            r.get(SLUICE_USERS.SPEND), r.get(SLUICE_USERS.BUDGET_RESET_AT)),
        r.get(SLUICE_KEYS.TEAM_ID) == null ? KeyLimits.NONE : limits(r.get(SLUICE_TEAMS.TPM_LIMIT),
            r.get(SLUICE_TEAMS.RPM_LIMIT), r.get(SLUICE_TEAMS.MAX_PARALLEL_REQUESTS), r.get(SLUICE_TEAMS.MAX_BUDGET),
            r.get(SLUICE_TEAMS.SPEND), r.get(SLUICE_TEAMS.BUDGET_RESET_AT)),
        set(r.get(SLUICE_USERS.MODELS)),
        aliases(r.get(SLUICE_TEAMS.MODEL_ALIASES), r.get(SLUICE_KEYS.ALIASES)),
        // Only the member's max_budget_in_team is enforced per member (LiteLLM's _check_team_member_budget).
        r.get(SLUICE_BUDGETS.MAX_BUDGET) == null ? KeyLimits.NONE : limits(null, null, null,
            r.get(SLUICE_BUDGETS.MAX_BUDGET), r.get(SLUICE_TEAM_MEMBERS.SPEND),
            r.get(SLUICE_BUDGETS.BUDGET_RESET_AT))));
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

  /** The team's {@code model_aliases} overlaid by the key's own {@code aliases} (the key's win). */
  static java.util.Map<String, String> aliases(org.jooq.JSONB team, org.jooq.JSONB key) {
    java.util.Map<String, String> out = new java.util.HashMap<>();
    for (org.jooq.JSONB j : new org.jooq.JSONB[] {team, key}) {
      if (j == null) {
        continue;
      }
      try {
        JSON.readTree(j.data()).fields().forEachRemaining(e -> {
          if (e.getValue().isTextual()) {
            out.put(e.getKey(), e.getValue().asText());
          }
        });
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        // written only through the admin API, which validates it: nothing to map
      }
    }
    return out;
  }

  private static KeyLimits limits(Long tpm, Long rpm, Integer parallel, Double budget, Double spend,
      java.time.OffsetDateTime resetAt) {
    KeyLimits l = new KeyLimits(tpm, rpm, parallel, budget, spend == null ? 0 : spend,
        resetAt == null ? null : resetAt.toInstant());
    return l.limited() || l.spend() != 0 ? l : KeyLimits.NONE;
  }

  static Set<String> set(String[] a) {
    return a == null ? Set.of() : Set.copyOf(Arrays.asList(a));
  }

  static List<String> list(String[] a) {
    return a == null ? List.of() : List.of(a);
  }
}
