package io.sluice.admin.db;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DatabaseUrlTest {
  private static final String SECRET = "S3cr3t";

  @Test
  void litellmFormWithPercentEncodedPasswordSslmodeAndSchema() {
    DatabaseUrl u = DatabaseUrl.parse("postgresql://llm:p%40ss%3Aw%2Fo%25rd%20x+y@db.internal:6543/litellm"
        + "?sslmode=require&schema=gw&connection_limit=5&pool_timeout=10");
    assertThat(u.jdbcUrl()).isEqualTo("jdbc:postgresql://db.internal:6543/litellm?sslmode=require&currentSchema=gw");
    assertThat(u.user()).isEqualTo("llm");
    assertThat(u.password()).isEqualTo("p@ss:w/o%rd x+y"); // '+' is literal in a URI's userinfo
    assertThat(u.describe()).isEqualTo("db.internal:6543/litellm");
    assertThat(u.schema()).isEqualTo("gw");
    assertThat(u.toString()).isEqualTo("DatabaseUrl[db.internal:6543/litellm, user=llm, password=***]")
        .doesNotContain("p@ss");
  }

  @Test
  void postgresSchemeDefaultsAndIpv6() {
    assertThat(DatabaseUrl.parse("postgres://a@h/d").jdbcUrl()).isEqualTo("jdbc:postgresql://h/d");
    assertThat(DatabaseUrl.parse("postgres://a@h/d").user()).isEqualTo("a");
    assertThat(DatabaseUrl.parse("postgres://a@h/d").password()).isNull();
    assertThat(DatabaseUrl.parse("postgres://h").jdbcUrl()).isEqualTo("jdbc:postgresql://h/postgres");
    assertThat(DatabaseUrl.parse("postgresql://h:5432/").jdbcUrl()).isEqualTo("jdbc:postgresql://h:5432/postgres");
    assertThat(DatabaseUrl.parse("postgresql://u:p@[::1]:5433/d").jdbcUrl()).isEqualTo("jdbc:postgresql://[::1]:5433/d");
    assertThat(DatabaseUrl.parse("  postgresql://h/d  ").jdbcUrl()).isEqualTo("jdbc:postgresql://h/d");
    assertThat(DatabaseUrl.parse("postgresql://h/d").toString()).contains("password=none");
  }

  @Test
  void queryParametersPassThroughAndLibpqSpellingsAreRenamed() {
    DatabaseUrl u = DatabaseUrl.parse("postgresql://u:" + SECRET + "@h/d?sslmode=verify-full&sslrootcert=%2Fetc%2Fca"
        + ".pem&connect_timeout=7&application_name=gw&pgbouncer=true&statement_cache_size=0");
    assertThat(u.jdbcUrl()).isEqualTo("jdbc:postgresql://h/d?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
        + "&connectTimeout=7&ApplicationName=gw&prepareThreshold=0");
    assertThat(u.jdbcUrl()).doesNotContain(SECRET);
    // Credentials given as parameters move into the components too.
    DatabaseUrl q = DatabaseUrl.parse("postgresql://h/d?user=x&password=" + SECRET + "&sslmode=disable");
    assertThat(q.user()).isEqualTo("x");
    assertThat(q.password()).isEqualTo(SECRET);
    assertThat(q.jdbcUrl()).isEqualTo("jdbc:postgresql://h/d?sslmode=disable");
  }

  @Test
  void jdbcFormKeepsItsParametersButNotItsCredentials() {
    DatabaseUrl j = DatabaseUrl.parse("jdbc:postgresql://h1:5432,h2:5432/x?user=u&password=p%26w+d&sslmode=require"
        + "&targetServerType=primary");
    assertThat(j.jdbcUrl()).isEqualTo("jdbc:postgresql://h1:5432,h2:5432/x?sslmode=require&targetServerType=primary");
    assertThat(j.user()).isEqualTo("u");
    assertThat(j.password()).isEqualTo("p&w d"); // decoded as pgjdbc decodes its parameters
    assertThat(j.describe()).isEqualTo("h1:5432,h2:5432/x");
    assertThat(j.toString()).doesNotContain("p&w");
    DatabaseUrl plain = DatabaseUrl.parse("jdbc:postgresql://h:5432/x");
    assertThat(plain.jdbcUrl()).isEqualTo("jdbc:postgresql://h:5432/x");
    assertThat(plain.user()).isNull();
    assertThat(plain.schema()).isNull();
  }

  @Test
  void withDatabaseKeepsServerCredentialsAndParameters() {
    DatabaseUrl u = DatabaseUrl.parse("postgresql://u:" + SECRET + "@h:1/d?sslmode=require").withDatabase("other");
    assertThat(u.jdbcUrl()).isEqualTo("jdbc:postgresql://h:1/other?sslmode=require");
    assertThat(u.password()).isEqualTo(SECRET);
    assertThat(DatabaseUrl.parse("postgresql://h").withDatabase("o").jdbcUrl()).isEqualTo("jdbc:postgresql://h/o");
  }

  @Test
  void badUrlsSayWhatIsWrongWithoutThePassword() {
    assertThatThrownBy(() -> DatabaseUrl.parse("mysql://u:" + SECRET + "@h/d"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must start with postgresql://").hasMessageContaining("'mysql://'")
        .hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("u:" + SECRET + "@h/d")).hasMessageContaining("no scheme")
        .hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://u:" + SECRET + " x@h/d"))
        .hasMessageContaining("not a valid URL").hasMessageContaining("percent-encode")
        .hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://u:" + SECRET + "%zz@h/d"))
        .hasMessageContaining("percent-encode").hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://u:" + SECRET + "@x@h/d"))
        .hasMessageContaining("no valid host").hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://u:" + SECRET + "/x@h/d"))
        .hasMessageContaining("no valid host").hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://u:" + SECRET + "@h/d#frag"))
        .hasMessageContaining("'#'").hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql:///d")).hasMessageContaining("no valid host");
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://u:" + SECRET + "@h:99999/d"))
        .hasMessageContaining("invalid port").hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://h1:5432,h2:5432/d")).hasMessageContaining("jdbc:");
    assertThatThrownBy(() -> DatabaseUrl.parse("postgresql://h/a%2Fb")).hasMessageContaining("single database");
    assertThatThrownBy(() -> DatabaseUrl.parse("jdbc:postgresql://u:" + SECRET + "@h/d"))
        .hasMessageContaining("?user=").hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> DatabaseUrl.parse("jdbc:postgresql://h/d?password=" + SECRET + "%zz"))
        .hasMessageContaining("malformed").hasMessageNotContaining(SECRET);
    assertThatThrownBy(() -> new DatabaseUrl("postgresql://h/d", null, null)).hasMessageContaining("jdbc:postgresql:");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " ", "\t"})
  void emptyIsAnError(String s) {
    assertThatThrownBy(() -> DatabaseUrl.parse(s)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("empty");
    assertThatThrownBy(() -> DatabaseUrl.parse(null)).hasMessageContaining("empty");
  }
}
