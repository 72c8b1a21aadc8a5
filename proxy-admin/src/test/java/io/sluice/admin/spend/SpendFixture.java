package io.sluice.admin.spend;

import io.sluice.testing.TcpProxy;

import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_SPEND_LOGS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_TEAMS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;

import io.sluice.admin.db.Database;
import io.sluice.admin.db.DatabaseUrl;
import io.sluice.auth.KeyHash;
import io.sluice.usage.UsageEvent;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.jooq.DSLContext;

/** Events, seed rows and waits shared by the spend tests. */
final class SpendFixture {
  static final Instant T0 = Instant.parse("2026-03-01T10:00:00Z");

  private SpendFixture() {}

  /** The hash of the virtual key {@code sk-<name>}. */
  static String hash(String name) {
    return KeyHash.of("sk-" + name).hex();
  }

  static UsageEvent event(String id, String keyHash, String user, String team, double spend) {
    return event(id, keyHash, user, team, spend, T0);
  }

  static UsageEvent event(String id, String keyHash, String user, String team, double spend, Instant start) {
    return new UsageEvent(id, keyHash, keyHash == null ? null : "alias-" + keyHash.substring(0, 4), user, team,
        "/v1/chat/completions", "llama", "vllm-a", 10, 5, false, spend, start, start.plusMillis(250), 200,
        UsageEvent.Outcome.COMPLETED, true);
  }

  /** A user, a team and a key of both, as the admin API would have made them. */
  static void seed(DSLContext dsl, String user, String team, String keyName) {
    if (user != null) {
      dsl.insertInto(SLUICE_USERS).set(SLUICE_USERS.USER_ID, user).onConflictDoNothing().execute();
    }
    if (team != null) {
      dsl.insertInto(SLUICE_TEAMS).set(SLUICE_TEAMS.TEAM_ID, team).onConflictDoNothing().execute();
    }
    if (keyName != null) {
      dsl.insertInto(SLUICE_KEYS).set(SLUICE_KEYS.TOKEN, hash(keyName)).set(SLUICE_KEYS.KEY_NAME, "sk-...x")
          .set(SLUICE_KEYS.USER_ID, user).set(SLUICE_KEYS.TEAM_ID, team).execute();
    }
  }

  static int rows(DSLContext dsl) {
    return dsl.fetchCount(SLUICE_SPEND_LOGS);
  }

  static Set<String> requestIds(DSLContext dsl) {
    return new HashSet<>(dsl.select(SLUICE_SPEND_LOGS.REQUEST_ID).from(SLUICE_SPEND_LOGS)
        .fetch(SLUICE_SPEND_LOGS.REQUEST_ID));
  }

  static double keySpend(DSLContext dsl, String keyName) {
    return dsl.select(SLUICE_KEYS.SPEND).from(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(hash(keyName)))
        .fetchOne(SLUICE_KEYS.SPEND);
  }

  static double userSpend(DSLContext dsl, String user) {
    return dsl.select(SLUICE_USERS.SPEND).from(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq(user))
        .fetchOne(SLUICE_USERS.SPEND);
  }

  static double teamSpend(DSLContext dsl, String team) {
    return dsl.select(SLUICE_TEAMS.SPEND).from(SLUICE_TEAMS).where(SLUICE_TEAMS.TEAM_ID.eq(team))
        .fetchOne(SLUICE_TEAMS.SPEND);
  }

  /** Waits for {@code condition}, failing with {@code what} at the deadline. */
  static void await(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("timed out after " + timeout + " waiting for: " + what);
      }
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
    }
  }

  /** A proxy in front of the test database's server. */
  static TcpProxy proxyFor(DatabaseUrl url) throws IOException {
    URI u = URI.create(url.jdbcUrl().substring("jdbc:".length()));
    return new TcpProxy(u.getHost(), u.getPort());
  }

  /** The same database reached through {@code proxy}: a pool of its own, opened the way the server opens one. */
  static Database openThrough(DatabaseUrl url, TcpProxy proxy) {
    URI u = URI.create(url.jdbcUrl().substring("jdbc:".length()));
    String jdbc = url.jdbcUrl().replace("//" + u.getHost() + ":" + u.getPort() + "/",
        "//127.0.0.1:" + proxy.port() + "/");
    return Database.open(Database.Options.of(new DatabaseUrl(jdbc, url.user(), url.password())).withPoolSize(2));
  }
}
