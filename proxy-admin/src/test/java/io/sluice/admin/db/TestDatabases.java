package io.sluice.admin.db;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A fresh, migrated database per test class on a real PostgreSQL. The server, chosen once per JVM:
 * <ol>
 *   <li>{@code DATABASE_URL} if set (any form {@link DatabaseUrl#parse} accepts; its database is the maintenance
 *       database the test databases are created from);</li>
 *   <li>else the local server on 127.0.0.1:5432 as user {@code postgres} (trust auth), if it answers;</li>
 *   <li>else one embedded PostgreSQL (zonky) in a temp directory, started once per JVM and stopped at exit.</li>
 * </ol>
 * The system property or environment variable {@code SLUICE_TEST_DB=embedded} forces the embedded server.
 * {@link #create()} runs {@code CREATE DATABASE sluice_t_<random>}; {@link TestDatabase#close()} drops it. Nothing
 * secret is printed: only {@link DatabaseUrl#describe()}.
 */
public final class TestDatabases {
  private static final Logger log = LoggerFactory.getLogger(TestDatabases.class);
  private static final DatabaseUrl LOCAL =
      new DatabaseUrl("jdbc:postgresql://127.0.0.1:5432/postgres?connectTimeout=2", "postgres", null);

  private static DatabaseUrl server;
  private static EmbeddedPostgres shared;

  private TestDatabases() {}

  /** A database of its own and its URLs; close to drop it. */
  public static final class TestDatabase implements AutoCloseable {
    /** The test database (jdbc form, credentials in the components). */
    public final DatabaseUrl url;
    /** A {@link Database} opened (and migrated) on it. */
    public final Database db;
    private final DatabaseUrl admin;
    private final String name;
    private boolean closed;

    TestDatabase(DatabaseUrl admin, DatabaseUrl url, String name, Database db) {
      this.admin = admin;
      this.url = url;
      this.db = db;
      this.name = name;
    }

    public DatabaseUrl url() {
      return url;
    }

    public Database db() {
      return db;
    }

    /** The database's name, {@code sluice_t_…}. */
    public String name() {
      return name;
    }

    /** The jdbc form, without credentials (they are in {@link #url}). */
    public String jdbcUrl() {
      return url.jdbcUrl();
    }

    /**
     * LiteLLM's form, {@code postgresql://user[:password]@host:port/db[?params]}, credentials percent-encoded. It
     * holds the password, if the server has one: pass it on, never print it.
     */
    public String litellmUrl() {
      return toLitellmForm(url);
    }

    /** Closes the pool and drops the database ({@code WITH (FORCE)}). Idempotent. */
    @Override
    public synchronized void close() {
      if (closed) {
        return;
      }
      closed = true;
      db.close();
      try (Connection c = connect(admin); Statement s = c.createStatement()) {
        s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
      } catch (SQLException e) {
        throw new IllegalStateException("could not drop test database " + name + " on " + admin.describe() + ": "
            + e.getMessage(), e);
      }
    }

    @Override
    public String toString() {
      return "TestDatabase[" + url.describe() + "]";
    }
  }

  /** Creates and migrates a fresh database on the test server. */
  public static TestDatabase create() {
    DatabaseUrl admin = server();
    String name = "sluice_t_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16)
        .toLowerCase(Locale.ROOT);
    try (Connection c = connect(admin); Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("could not create a test database on " + admin.describe() + ": "
          + e.getMessage(), e);
    }
    DatabaseUrl url = admin.withDatabase(name);
    try {
      Database db = Database.open(Database.Options.of(url).withPoolSize(4));
      return new TestDatabase(admin, url, name, db);
    } catch (RuntimeException e) {
      drop(admin, name, e);
      throw e;
    }
  }

  /** The server the tests use, as a URL of its maintenance database. Chosen once per JVM. */
  public static synchronized DatabaseUrl server() {
    if (server != null) {
      return server;
    }
    String env = System.getenv("DATABASE_URL");
    String force = System.getProperty("SLUICE_TEST_DB", System.getenv("SLUICE_TEST_DB"));
    if (!"embedded".equalsIgnoreCase(force)) {
      if (env != null && !env.isBlank()) {
        server = DatabaseUrl.parse(env);
      } else if (reachable(LOCAL)) {
        server = LOCAL;
      }
    }
    if (server == null) {
      server = startShared();
    }
    log.info("test databases on {}", server.describe());
    return server;
  }

  /** LiteLLM's {@code postgresql://} form of a {@code jdbc:postgresql://} URL. */
  static String toLitellmForm(DatabaseUrl u) {
    StringBuilder sb = new StringBuilder("postgresql://");
    if (u.user() != null) {
      sb.append(enc(u.user()));
      if (u.password() != null) {
        sb.append(':').append(enc(u.password()));
      }
      sb.append('@');
    }
    String rest = u.jdbcUrl().substring("jdbc:postgresql://".length());
    return sb.append(rest).toString(); // host:port/db and the (already encoded) parameters carry over as they are
  }

  static Connection connect(DatabaseUrl u) throws SQLException {
    return DriverManager.getConnection(u.jdbcUrl(), u.user(), u.password());
  }

  private static boolean reachable(DatabaseUrl u) {
    try (Connection c = connect(u)) {
      return c.isValid(2);
    } catch (SQLException e) {
      return false;
    }
  }

  private static DatabaseUrl startShared() {
    try {
      Path dir = Files.createTempDirectory("sluice-test-pg");
      // Throwaway cluster: zonky's test defaults (fsync off), deleted when it stops at JVM exit (its shutdown hook).
      shared = EmbeddedPostgres.builder().setDataDirectory(dir).setCleanDataDirectory(true).start();
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("no PostgreSQL for tests: set DATABASE_URL, start one on 127.0.0.1:5432 "
          + "(user postgres, trust auth), or let the embedded one start (it failed: " + e.getMessage() + ")", e);
    }
    return new DatabaseUrl("jdbc:postgresql://localhost:" + shared.getPort() + "/postgres", "postgres", null);
  }

  private static void drop(DatabaseUrl admin, String name, RuntimeException pending) {
    try (Connection c = connect(admin); Statement s = c.createStatement()) {
      s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (SQLException e) {
      pending.addSuppressed(e);
    }
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
