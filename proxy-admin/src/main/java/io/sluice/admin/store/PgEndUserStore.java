package io.sluice.admin.store;

import static io.sluice.admin.db.jooq.Tables.SLUICE_BUDGETS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_END_USERS;

import io.sluice.auth.EndUser;
import io.sluice.auth.EndUserStore;
import io.sluice.auth.KeyLimits;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import org.jooq.DSLContext;
import org.jooq.Record;

/**
 * The source of truth for end users (the request body's {@code user}): one indexed query (end user ⋈ its budget row)
 * per lookup, on {@code executor}, never on the caller's thread. Sits under the data plane's
 * {@link io.sluice.auth.LayeredEndUserStore}.
 */
public final class PgEndUserStore implements EndUserStore {
  private final DSLContext dsl;
  private final Executor executor;

  public PgEndUserStore(DSLContext dsl, Executor executor) {
    this.dsl = dsl;
    this.executor = executor;
  }

  @Override
  public CompletionStage<Optional<EndUser>> find(String id) {
    return CompletableFuture.supplyAsync(() -> load(dsl, id), executor);
  }

  /** Reads one end user now, on the calling thread (which must not be an event loop). */
  public static Optional<EndUser> load(DSLContext dsl, String id) {
    Record r = dsl.select(SLUICE_END_USERS.USER_ID, SLUICE_END_USERS.BLOCKED, SLUICE_END_USERS.SPEND,
            SLUICE_END_USERS.BUDGET_ID, SLUICE_BUDGETS.TPM_LIMIT, SLUICE_BUDGETS.RPM_LIMIT,
            SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS, SLUICE_BUDGETS.MAX_BUDGET, SLUICE_BUDGETS.BUDGET_RESET_AT)
        .from(SLUICE_END_USERS)
        .leftJoin(SLUICE_BUDGETS).on(SLUICE_BUDGETS.BUDGET_ID.eq(SLUICE_END_USERS.BUDGET_ID))
        .where(SLUICE_END_USERS.USER_ID.eq(id))
        .fetchOne();
    if (r == null) {
      return Optional.empty();
    }
    Double spend = r.get(SLUICE_END_USERS.SPEND);
    KeyLimits limits = KeyLimits.NONE;
    if (r.get(SLUICE_END_USERS.BUDGET_ID) != null) {
      java.time.OffsetDateTime reset = r.get(SLUICE_BUDGETS.BUDGET_RESET_AT);
      limits = new KeyLimits(r.get(SLUICE_BUDGETS.TPM_LIMIT), r.get(SLUICE_BUDGETS.RPM_LIMIT),
          r.get(SLUICE_BUDGETS.MAX_PARALLEL_REQUESTS), r.get(SLUICE_BUDGETS.MAX_BUDGET), spend == null ? 0 : spend,
          reset == null ? null : reset.toInstant());
    }
    return Optional.of(new EndUser(r.get(SLUICE_END_USERS.USER_ID),
        Boolean.TRUE.equals(r.get(SLUICE_END_USERS.BLOCKED)), limits));
  }
}
