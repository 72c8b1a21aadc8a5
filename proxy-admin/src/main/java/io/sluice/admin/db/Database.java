package io.sluice.admin.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.flywaydb.core.api.MigrationInfo;
import org.flywaydb.core.api.configuration.FluentConfiguration;
import org.flywaydb.core.api.exception.FlywayValidateException;
import org.flywaydb.core.api.output.MigrateResult;
import org.flywaydb.core.internal.exception.FlywayMigrateException;
import org.jooq.DSLContext;
import org.jooq.SQLDialect;
import org.jooq.conf.RenderNameCase;
import org.jooq.conf.RenderQuotedNames;
import org.jooq.conf.Settings;
import org.jooq.impl.DSL;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin plane's PostgreSQL: a HikariCP pool ({@code sluice-db}), the schema migrated by Flyway at open, and a jOOQ
 * context over the generated {@code io.sluice.admin.db.jooq} classes. With no URL, an embedded PostgreSQL (zonky) is
 * started with its data in {@code ./data/pg}, kept between runs, so the default run needs nothing installed.
 * Messages and logs name the server, never the password.
 */
public final class Database implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Database.class);

  /** Flyway's history table; not {@code flyway_schema_history}, so a shared database can tell whose it is. */
  public static final String HISTORY_TABLE = "sluice_schema_history";

  static final Duration CONNECTION_TIMEOUT = Duration.ofSeconds(3);
  static final Duration INITIAL_CONNECT_TIMEOUT = Duration.ofSeconds(5);
  static final int PING_TIMEOUT_SECONDS = 2;
  private static final String EMBEDDED_USER = "postgres";

  static {
    // jOOQ prints a banner and a "tip of the day" on first use; an operator's log has no room for them.
    System.setProperty("org.jooq.no-logo", "true");
    System.setProperty("org.jooq.no-tips", "true");
  }

  /**
   * How to open the database. {@code null} components take the defaults.
   *
   * @param url         the server (see {@link #fromUrl(String)}), or null for the embedded PostgreSQL
   * @param embeddedDir the embedded server's data directory (default {@code ./data/pg})
   * @param poolSize    the most connections in the pool (default 10)
   * @param locations   Flyway migration locations (default {@code classpath:db/migration})
   */
  public record Options(DatabaseUrl url, Path embeddedDir, int poolSize, List<String> locations) {
    public static final Path DEFAULT_EMBEDDED_DIR = Path.of(".", "data", "pg");
    public static final int DEFAULT_POOL_SIZE = 10;
    public static final List<String> DEFAULT_LOCATIONS = List.of("classpath:db/migration");

    public Options {
      embeddedDir = embeddedDir == null ? DEFAULT_EMBEDDED_DIR : embeddedDir;
      if (poolSize < 1) {
        throw new IllegalArgumentException("database pool size must be at least 1, got " + poolSize);
      }
      locations = locations == null || locations.isEmpty() ? DEFAULT_LOCATIONS : List.copyOf(locations);
    }

    /** The given server (null: embedded) with the defaults. */
    public static Options of(DatabaseUrl url) {
      return new Options(url, DEFAULT_EMBEDDED_DIR, DEFAULT_POOL_SIZE, DEFAULT_LOCATIONS);
    }

    /**
     * From what the operator gave ({@code DATABASE_URL} or {@code general_settings.database_url}, the caller
     * having chosen): null or blank means the embedded PostgreSQL.
     *
     * @throws IllegalArgumentException if the URL cannot be read (the message never quotes the password)
     */
    public static Options fromUrl(String databaseUrl) {
      return of(databaseUrl == null || databaseUrl.isBlank() ? null : DatabaseUrl.parse(databaseUrl));
    }

    public Options withEmbeddedDir(Path dir) {
      return new Options(url, dir, poolSize, locations);
    }

    public Options withPoolSize(int n) {
      return new Options(url, embeddedDir, n, locations);
    }

    public Options withLocations(List<String> l) {
      return new Options(url, embeddedDir, poolSize, l);
    }
  }

  private final HikariDataSource pool;
  private final EmbeddedPostgres embedded;
  private final DSLContext dsl;
  private final String description;
  private final AtomicBoolean closed = new AtomicBoolean();

  private Database(HikariDataSource pool, EmbeddedPostgres embedded, String description) {
    this.pool = pool;
    this.embedded = embedded;
    this.description = description;
    this.dsl = DSL.using(pool, SQLDialect.POSTGRES, jooqSettings());
  }

  /**
   * Connects (starting the embedded PostgreSQL first if there is no URL) and migrates the schema. Blocking.
   *
   * @throws DatabaseUnavailableException if the server cannot be reached or the embedded one cannot start
   * @throws MigrationFailedException     if the schema cannot be brought up to date (or validated)
   */
  public static Database open(Options o) {
    EmbeddedPostgres embedded = null;
    DatabaseUrl url = o.url();
    String description;
    if (url == null) {
      embedded = startEmbedded(o.embeddedDir());
      url = new DatabaseUrl("jdbc:postgresql://localhost:" + embedded.getPort() + "/postgres", EMBEDDED_USER, null);
      description = "embedded PostgreSQL at " + o.embeddedDir();
    } else {
      description = url.describe();
    }
    HikariDataSource pool = null;
    try {
      pool = connect(url, o.poolSize(), description, embedded != null);
      migrate(url, o.locations(), description);
      log.info("database: {} (schema up to date, pool of {})", description, o.poolSize());
      return new Database(pool, embedded, description);
    } catch (RuntimeException e) {
      if (pool != null) {
        pool.close();
      }
      stopEmbedded(embedded);
      throw e;
    }
  }

  private static HikariDataSource connect(DatabaseUrl url, int poolSize, String description, boolean embedded) {
    HikariConfig hc = new HikariConfig();
    hc.setPoolName("sluice-db");
    hc.setJdbcUrl(url.jdbcUrl());
    if (url.user() != null) {
      hc.setUsername(url.user());
    }
    if (url.password() != null) {
      hc.setPassword(url.password());
    }
    hc.setMaximumPoolSize(poolSize);
    hc.setMinimumIdle(Math.min(2, poolSize));
    hc.setConnectionTimeout(CONNECTION_TIMEOUT.toMillis());
    hc.setValidationTimeout(Duration.ofSeconds(2).toMillis());
    hc.setInitializationFailTimeout(INITIAL_CONNECT_TIMEOUT.toMillis());
    hc.addDataSourceProperty("ApplicationName", "sluice");
    hc.addDataSourceProperty("tcpKeepAlive", "true");
    try {
      return new HikariDataSource(hc);
    } catch (RuntimeException e) {
      String fix = embedded
          ? "The embedded PostgreSQL started but does not answer; see the log above, or set DATABASE_URL to use a "
              + "PostgreSQL server."
          : "Check that the server runs and accepts this user, and that DATABASE_URL (or general_settings."
              + "database_url) is right, e.g. postgresql://user:password@host:5432/db?sslmode=require; or unset "
              + "both to use the embedded PostgreSQL.";
      throw new DatabaseUnavailableException("Cannot connect to PostgreSQL at " + description + ": "
          + rootMessage(e) + ". " + fix, e);
    }
  }

  /**
   * Runs Flyway on connections of its own, not the pool's: on PostgreSQL Flyway holds two at once (one for its
   * advisory lock and history table, one for the migration), which would deadlock a pool of one.
   */
  private static void migrate(DatabaseUrl url, List<String> locations, String description) {
    FluentConfiguration c = Flyway.configure()
        .dataSource(url.jdbcUrl(), url.user(), url.password())
        .locations(locations.toArray(String[]::new))
        .table(HISTORY_TABLE)
        .baselineOnMigrate(false)
        .loggers("slf4j");
    String schema = url.schema();
    if (schema != null) {
      // Prisma's ?schema=…: the tables and history live there (Flyway creates the schema if it is missing).
      c.defaultSchema(schema).schemas(schema);
    }
    Flyway flyway = c.load();
    try {
      MigrateResult r = flyway.migrate();
      if (r.migrationsExecuted > 0) {
        log.info("database: applied {} migration(s), schema now at version {}", r.migrationsExecuted,
            r.targetSchemaVersion);
      }
    } catch (FlywayValidateException e) {
      throw new MigrationFailedException("Database schema check failed on " + description + ", so Sluice did not "
          + "start: the migrations recorded in " + HISTORY_TABLE + " differ from the ones in this Sluice build ("
          + validationDetails(e.getMessage()) + "). An applied migration must never change: run the Sluice version "
          + "that migrated this database, or restore the original migration script, then start again.", null, null,
          e);
    } catch (FlywayMigrateException e) {
      MigrationInfo m = e.getMigration();
      String version = m == null || m.getVersion() == null ? null : m.getVersion().getVersion();
      String script = m == null ? null : m.getScript();
      String which = m == null ? "a migration" : "migration V" + version + " (" + script + ")";
      throw new MigrationFailedException("Database migration failed on " + description + ", so Sluice did not "
          + "start: " + which + " failed: " + databaseError(e) + ". " + (e.isExecutableInTransaction()
          ? "It was rolled back; fix the cause and start again."
          : "It ran outside a transaction and may be partly applied; check the database and " + HISTORY_TABLE
              + ", then start again."), version, script, e);
    } catch (FlywayException e) {
      throw new MigrationFailedException("Database migration failed on " + description + ", so Sluice did not "
          + "start: " + databaseError(e) + ". Fix the cause (or restore the database) and start again.", null, null,
          e);
    }
  }

  private static EmbeddedPostgres startEmbedded(Path dir) {
    try {
      Files.createDirectories(dir);
      // zonky runs initdb only when the directory has no postgresql.conf; otherwise it starts the existing cluster.
      boolean existing = Files.exists(dir.resolve("postgresql.conf"));
      EmbeddedPostgres pg = EmbeddedPostgres.builder()
          .setDataDirectory(dir)
          .setCleanDataDirectory(false)
          // zonky's defaults are for throwaway test clusters (fsync off, asynchronous commit); this one keeps data.
          .setServerConfig("fsync", "on")
          .setServerConfig("synchronous_commit", "on")
          .setServerConfig("max_connections", "100")
          .setPGStartupWait(Duration.ofSeconds(30))
          .start();
      log.info("database: embedded PostgreSQL {} {} on port {}", existing ? "started on the existing data in"
          : "initialised and started in", dir.toAbsolutePath().normalize(), pg.getPort());
      return pg;
    } catch (IOException | RuntimeException e) {
      throw new DatabaseUnavailableException("Cannot start the embedded PostgreSQL in " + dir.toAbsolutePath()
          .normalize() + ": " + rootMessage(e) + ". If another Sluice uses that directory, stop it or give this one "
          + "another data directory; or set DATABASE_URL to use a PostgreSQL server.", e);
    }
  }

  /** The pool. Blocking JDBC: never use on an event loop. */
  public DataSource dataSource() {
    return pool;
  }

  /** jOOQ over the pool, PostgreSQL dialect, names rendered exactly as generated (quoted, lower case). */
  public DSLContext dsl() {
    return dsl;
  }

  /** Where the database is, for logs: {@code host:port/db} or {@code embedded PostgreSQL at DIR}. Never a password. */
  public String description() {
    return description;
  }

  /** Whether this instance started (and will stop) an embedded PostgreSQL. */
  public boolean embedded() {
    return embedded != null;
  }

  /** A {@code SELECT 1} with a short timeout, for readiness. Blocking: never call on an event loop. */
  public boolean ping() {
    if (closed.get()) {
      return false;
    }
    try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
      s.setQueryTimeout(PING_TIMEOUT_SECONDS);
      s.execute("SELECT 1");
      return true;
    } catch (SQLException | RuntimeException e) {
      log.debug("database ping failed: {}", e.getMessage());
      return false;
    }
  }

  /** Closes the pool, then stops the embedded PostgreSQL if this instance started it. Idempotent. */
  @Override
  public void close() {
    if (closed.getAndSet(true)) {
      return;
    }
    pool.close();
    stopEmbedded(embedded);
  }

  static Settings jooqSettings() {
    return new Settings()
        .withRenderNameCase(RenderNameCase.AS_IS)
        .withRenderQuotedNames(RenderQuotedNames.EXPLICIT_DEFAULT_QUOTED)
        // jOOQ's DEBUG query log inlines bind values (key hashes, encrypted provider keys): keep it off.
        .withExecuteLogging(false);
  }

  private static void stopEmbedded(EmbeddedPostgres pg) {
    if (pg != null) {
      try {
        pg.close();
      } catch (IOException e) {
        log.warn("embedded PostgreSQL did not stop cleanly: {}", e.toString());
      }
    }
  }

  /** The database's own words (first line, SQL state) from the first SQLException in the chain, else Flyway's. */
  private static String databaseError(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof SQLException sql && sql.getMessage() != null) {
        String state = sql.getSQLState() == null ? "" : " (SQL state " + sql.getSQLState() + ")";
        return firstLine(sql.getMessage()) + state;
      }
    }
    return firstLine(e.getMessage());
  }

  private static String validationDetails(String message) {
    List<String> kept = new ArrayList<>();
    for (String line : (message == null ? "" : message).split("\n")) {
      String l = line.strip();
      if (l.isEmpty() || l.startsWith("Validate failed") || l.startsWith("Need more flexibility")
          || l.startsWith("Either revert")) {
        continue;
      }
      kept.add(l);
    }
    return kept.isEmpty() ? "validation failed" : String.join("; ", kept);
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String m = t.getMessage();
    return m == null ? t.getClass().getSimpleName() : firstLine(m);
  }

  private static String firstLine(String m) {
    if (m == null || m.isBlank()) {
      return "unknown error";
    }
    String s = m.strip();
    int nl = s.indexOf('\n');
    return (nl < 0 ? s : s.substring(0, nl)).strip();
  }
}
