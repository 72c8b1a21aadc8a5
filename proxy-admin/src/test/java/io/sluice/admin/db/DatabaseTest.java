package io.sluice.admin.db;

import static io.sluice.admin.db.jooq.Tables.SLUICE_DEPLOYMENTS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_KEYS;
import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.sluice.admin.db.jooq.tables.records.SluiceKeysRecord;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.List;
import org.jooq.JSONB;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Migrations, failures and the pool on a real PostgreSQL (see {@link TestDatabases}). */
class DatabaseTest {
  private static final List<String> TABLES = List.of("sluice_budgets", "sluice_deployments", "sluice_end_users",
      "sluice_keys", "sluice_organization_members", "sluice_organizations", "sluice_spend_daily", "sluice_spend_logs", "sluice_team_members", "sluice_teams", "sluice_users");
  /**
   * Migrations in this build (V1 admin plane, V2 spend logs, V3 daily spend rollup, V4 model aliases, V5 budgets and
   * end users, V6 organizations, V7 the spend rows' end user).
   */
  private static final long MIGRATIONS = 7;

  static TestDatabases.TestDatabase t;

  @BeforeAll
  static void create() {
    t = TestDatabases.create();
  }

  @AfterAll
  static void drop() {
    if (t != null) {
      t.close();
    }
  }

  @Test
  void migrationsCreateTheAdminTablesInAFreshDatabase() {
    List<String> tables = t.db.dsl().fetch("SELECT table_name FROM information_schema.tables WHERE "
        + "table_schema = 'public' ORDER BY 1").getValues(0, String.class);
    assertThat(tables).containsExactlyInAnyOrderElementsOf(concat(TABLES, Database.HISTORY_TABLE));
    assertThat(t.db.dsl().fetchValue("SELECT string_agg(version || ':' || script || ':' || success, ',' ORDER BY "
        + "installed_rank) FROM " + Database.HISTORY_TABLE))
        .isEqualTo("1:V1__admin_plane.sql:true,2:V2__spend_logs.sql:true,3:V3__spend_daily.sql:true,4:V4__model_aliases.sql:true,"
            + "5:V5__budgets_end_users.sql:true,6:V6__organizations.sql:true,7:V7__spend_end_user.sql:true");
    // The PostgreSQL types behind the generated String[] / JSONB / OffsetDateTime fields.
    assertThat(t.db.dsl().fetch("SELECT column_name || ' ' || udt_name FROM information_schema.columns WHERE "
        + "table_name = 'sluice_keys' AND column_name IN ('models', 'metadata', 'expires', 'token') ORDER BY 1")
        .getValues(0, String.class))
        .containsExactly("expires timestamptz", "metadata jsonb", "models _varchar", "token varchar");
  }

  @Test
  void generatedClassesHaveTheRightJavaTypesAndRoundTrip() {
    assertThat(SLUICE_KEYS.MODELS.getType()).isEqualTo(String[].class);
    assertThat(SLUICE_KEYS.ALLOWED_ROUTES.getType()).isEqualTo(String[].class);
    assertThat(SLUICE_KEYS.METADATA.getType()).isEqualTo(JSONB.class);
    assertThat(SLUICE_DEPLOYMENTS.LITELLM_PARAMS.getType()).isEqualTo(JSONB.class);
    assertThat(SLUICE_KEYS.EXPIRES.getType()).isEqualTo(OffsetDateTime.class);
    assertThat(SLUICE_USERS.CREATED_AT.getType()).isEqualTo(OffsetDateTime.class);
    assertThat(SLUICE_KEYS.getPrimaryKey().getFields()).containsExactly(SLUICE_KEYS.TOKEN);

    OffsetDateTime expires = OffsetDateTime.now(ZoneOffset.UTC).plusDays(1).truncatedTo(ChronoUnit.MICROS);
    String token = "a".repeat(64);
    t.db.dsl().insertInto(SLUICE_KEYS)
        .set(SLUICE_KEYS.TOKEN, token)
        .set(SLUICE_KEYS.KEY_NAME, "sk-...abcd")
        .set(SLUICE_KEYS.MODELS, new String[] {"llama", "gpt-4o"})
        .set(SLUICE_KEYS.METADATA, JSONB.valueOf("{\"team\": \"a\"}"))
        .set(SLUICE_KEYS.EXPIRES, expires)
        .execute();
    SluiceKeysRecord r = t.db.dsl().selectFrom(SLUICE_KEYS).where(SLUICE_KEYS.TOKEN.eq(token)).fetchOne();
    assertThat(r).isNotNull();
    assertThat(r.getModels()).containsExactly("llama", "gpt-4o");
    assertThat(r.getAllowedRoutes()).isEmpty(); // the column default '{}'
    assertThat(r.getMetadata().data()).isEqualTo("{\"team\": \"a\"}");
    assertThat(r.getExpires().isEqual(expires)).isTrue();
    assertThat(r.getBlocked()).isFalse();
    assertThat(r.getCreatedAt()).isNotNull();
    // The CHECK constraint from the migration is there.
    assertThatThrownBy(() -> t.db.dsl().insertInto(SLUICE_KEYS).set(SLUICE_KEYS.TOKEN, "short")
        .set(SLUICE_KEYS.KEY_NAME, "x").execute()).hasMessageContaining("sluice_keys_token_is_sha256_hex");
  }

  @Test
  void reopeningIsIdempotentAndTheLitellmFormReachesTheSameDatabase() {
    try (Database again = Database.open(Database.Options.of(t.url).withPoolSize(2))) {
      assertThat(again.ping()).isTrue();
      assertThat(again.embedded()).isFalse();
    }
    try (Database viaLitellm = Database.open(Database.Options.fromUrl(t.litellmUrl()).withPoolSize(1))) {
      assertThat(viaLitellm.dsl().fetchValue("SELECT current_database()")).isEqualTo(t.name());
    }
    assertThat(t.db.dsl().fetchValue("SELECT count(*) FROM " + Database.HISTORY_TABLE)).isEqualTo(MIGRATIONS);
  }

  @Test
  void aFailedMigrationStopsStartUpNamingTheScriptAndTheDatabaseError() {
    try (TestDatabases.TestDatabase fresh = TestDatabases.create()) {
      Database.Options broken = Database.Options.of(fresh.url)
          .withLocations(List.of("classpath:db/migration", "classpath:db/broken"));
      assertThatThrownBy(() -> Database.open(broken))
          .isInstanceOfSatisfying(MigrationFailedException.class, e -> {
            assertThat(e.version()).isEqualTo("99");
            assertThat(e.script()).isEqualTo("V99__broken.sql");
          })
          .hasMessageContaining("migration V99 (V99__broken.sql) failed")
          .hasMessageContaining("relation \"no_such_table\" does not exist")
          .hasMessageContaining("Sluice did not start")
          .hasMessageContaining(fresh.url.describe())
          .hasMessageContaining("rolled back");
      // V99 left nothing behind: the schema is still at V7 and opens normally.
      try (Database db = Database.open(Database.Options.of(fresh.url).withPoolSize(1))) {
        assertThat(db.dsl().fetchValue("SELECT max(installed_rank) FROM " + Database.HISTORY_TABLE))
            .isEqualTo((int) MIGRATIONS);
        assertThat(db.dsl().fetchValue("SELECT version FROM " + Database.HISTORY_TABLE + " ORDER BY installed_rank "
            + "DESC LIMIT 1")).isEqualTo("7");
      }
    }
  }

  @Test
  void aChangedAppliedMigrationFailsValidationClearly() {
    try (TestDatabases.TestDatabase fresh = TestDatabases.create()) {
      fresh.db.dsl().execute("UPDATE " + Database.HISTORY_TABLE + " SET checksum = checksum + 1 WHERE version = '1'");
      assertThatThrownBy(() -> Database.open(Database.Options.of(fresh.url).withPoolSize(1)))
          .isInstanceOf(MigrationFailedException.class)
          .hasMessageContaining("schema check failed")
          .hasMessageContaining("checksum mismatch for migration version 1")
          .hasMessageContaining("An applied migration must never change")
          .hasMessageContaining("Sluice did not start");
    }
  }

  @Test
  void prismaSchemaParameterPutsTheTablesInThatSchema() {
    try (TestDatabases.TestDatabase fresh = TestDatabases.create();
        Database db = Database.open(Database.Options.fromUrl(fresh.litellmUrl() + (fresh.litellmUrl().contains("?")
            ? "&" : "?") + "schema=gw").withPoolSize(1))) {
      assertThat(db.dsl().fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'gw'")
          .getValues(0, String.class)).containsAll(TABLES).contains(Database.HISTORY_TABLE);
      assertThat(db.dsl().fetchCount(SLUICE_USERS)).isZero(); // unqualified generated names resolve in gw
    }
  }

  @Test
  void pingIsTrueWhileOpenAndFalseOnceClosed() {
    Database db = Database.open(Database.Options.of(t.url).withPoolSize(1));
    assertThat(db.ping()).isTrue();
    db.close();
    assertThat(db.ping()).isFalse();
    db.close(); // idempotent
  }

  @Test
  void descriptionNamesTheServerButNeverThePassword() {
    // With trust auth (the local and embedded test servers) the server ignores a password it did not ask for.
    String password = t.url.password() != null ? t.url.password() : "Never-Printed-9";
    DatabaseUrl withPassword = new DatabaseUrl(t.url.jdbcUrl(), t.url.user(), password);
    try (Database db = Database.open(Database.Options.of(withPassword).withPoolSize(1))) {
      assertThat(db.description()).isEqualTo(t.url.describe()).doesNotContain(password);
      assertThat(withPassword.toString()).doesNotContain(password);
    }
  }

  @Test
  void anUnreachableServerIsAClearErrorWithoutThePassword() {
    DatabaseUrl u = DatabaseUrl.parse("postgresql://sluice:TOPSECRET@127.0.0.1:1/x?connect_timeout=1");
    assertThatThrownBy(() -> Database.open(Database.Options.of(u)))
        .isInstanceOf(DatabaseUnavailableException.class)
        .hasMessageContaining("Cannot connect to PostgreSQL at 127.0.0.1:1/x")
        .hasMessageContaining("DATABASE_URL")
        .hasMessageNotContaining("TOPSECRET");
  }

  @Test
  void optionsDefaults() {
    Database.Options o = Database.Options.fromUrl(" ");
    assertThat(o.url()).isNull();
    assertThat(o.embeddedDir().toString()).isEqualTo("./data/pg");
    assertThat(o.poolSize()).isEqualTo(10);
    assertThat(o.locations()).containsExactly("classpath:db/migration");
    assertThat(new Database.Options(null, null, 3, null).embeddedDir()).isEqualTo(o.embeddedDir());
    assertThatThrownBy(() -> o.withPoolSize(0)).hasMessageContaining("at least 1");
    assertThatThrownBy(() -> Database.Options.fromUrl("mysql://u:TOPSECRET@h/d"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageNotContaining("TOPSECRET");
  }

  private static List<String> concat(List<String> l, String s) {
    List<String> out = new java.util.ArrayList<>(l);
    out.add(s);
    return out;
  }
}
