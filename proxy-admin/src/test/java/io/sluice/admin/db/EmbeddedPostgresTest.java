package io.sluice.admin.db;

import static io.sluice.admin.db.jooq.Tables.SLUICE_USERS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded PostgreSQL (zonky) that runs when no DATABASE_URL is set: data kept in its directory across runs. */
class EmbeddedPostgresTest {

  @Test
  void dataSurvivesACloseAndASecondStartOnTheSameDirectory(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("pg");
    Database.Options o = Database.Options.fromUrl(null).withEmbeddedDir(dir).withPoolSize(2);
    try (Database db = Database.open(o)) {
      assertThat(db.embedded()).isTrue();
      assertThat(db.description()).isEqualTo("embedded PostgreSQL at " + dir);
      assertThat(db.ping()).isTrue();
      assertThat(db.dsl().insertInto(SLUICE_USERS).set(SLUICE_USERS.USER_ID, "kept-user")
          .set(SLUICE_USERS.MODELS, new String[] {"llama"}).execute()).isEqualTo(1);
      // A persistent cluster: zonky's throwaway-test defaults (fsync off, async commit) are overridden.
      assertThat(db.dsl().fetchValue("SHOW fsync")).isEqualTo("on");
      assertThat(db.dsl().fetchValue("SHOW synchronous_commit")).isEqualTo("on");
    }
    assertThat(dir.resolve("PG_VERSION")).exists();
    String pgVersion = Files.readString(dir.resolve("PG_VERSION")).strip();
    long confModified = Files.getLastModifiedTime(dir.resolve("postgresql.conf")).toMillis();

    try (Database db = Database.open(o)) {
      assertThat(db.dsl().selectFrom(SLUICE_USERS).where(SLUICE_USERS.USER_ID.eq("kept-user")).fetchOne())
          .isNotNull()
          .satisfies(r -> assertThat(r.getModels()).containsExactly("llama"));
      assertThat(db.dsl().fetchValue("SELECT count(*) FROM " + Database.HISTORY_TABLE)).as("V1, V2, V3, V4, V5, V6, V7")
          .isEqualTo(7L);
      assertThat(String.valueOf(db.dsl().fetchValue("SHOW server_version"))).startsWith(pgVersion + ".");
    }
    // No second initdb: the cluster's files are the first run's.
    assertThat(Files.getLastModifiedTime(dir.resolve("postgresql.conf")).toMillis()).isEqualTo(confModified);
  }

  @Test
  void aDirectoryInUseIsAClearError(@TempDir Path tmp) {
    Database.Options o = Database.Options.of(null).withEmbeddedDir(tmp.resolve("pg")).withPoolSize(1);
    try (Database first = Database.open(o)) {
      assertThatThrownBy(() -> Database.open(o))
          .isInstanceOf(DatabaseUnavailableException.class)
          .hasMessageContaining("Cannot start the embedded PostgreSQL in")
          .hasMessageContaining("another Sluice")
          .hasMessageContaining("DATABASE_URL");
      assertThat(first.ping()).isTrue();
    }
  }
}
