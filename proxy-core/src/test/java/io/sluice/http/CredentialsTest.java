package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.sluice.auth.Authenticator;
import io.sluice.auth.KeyStore;
import io.sluice.config.Secret;
import java.time.Clock;
import org.junit.jupiter.api.Test;

/** Which header values carry a Sluice credential (issue 13, finding 1): the rule the scrub applies to every route. */
class CredentialsTest {
  static final String MASTER = "sk-master-CRED-SECRET-1";
  static final String KEY = "sk-virtual-CRED-SECRET-2";
  final Authenticator auth = new Authenticator(Secret.of(MASTER), false, null, KeyStore.NONE, Clock.systemUTC());

  Credentials accepted(String token) {
    HttpHeaders h = new DefaultHttpHeaders().set("x-litellm-api-key", token);
    return Credentials.of(h, Authenticator.X_LITELLM_API_KEY, auth);
  }

  @Test
  void equalsSchemePrefixedOrContainedValuesCarryTheCredential() {
    Credentials c = accepted(KEY);
    for (String v : new String[] {KEY, "Bearer " + KEY, "bearer  " + KEY + " ", "Basic " + KEY, "session=" + KEY + "; x=1",
        "[\"" + KEY + "\"]", MASTER, "Bearer " + MASTER}) {
      assertThat(c.carried(v, auth)).as(v).isTrue();
    }
    for (String v : new String[] {"application/json", "sk-something-else-entirely", "Bearer replica-key", ""}) {
      assertThat(c.carried(v, auth)).as(v).isFalse();
    }
  }

  @Test
  void aShortSecretIsMatchedOnlyWholeNeverInsideAnotherValue() {
    Credentials c = accepted("abc12"); // with allow-unauthenticated setups a short token is possible
    assertThat(c.carried("abc12", auth)).isTrue();
    assertThat(c.carried("Bearer abc12", auth)).isTrue();
    assertThat(c.carried(" abc12 ", auth)).isTrue();
    assertThat(c.carried("xabc12", auth)).isFalse();
    assertThat(c.carried("abc123", auth)).isFalse();
    assertThat(c.carried("a b abc12", auth)).isFalse();
  }

  @Test
  void scrubRemovesEveryHeaderCarryingOneAndKeepsTheRest() {
    Credentials c = accepted(KEY);
    HttpHeaders h = new DefaultHttpHeaders().add("authorization", "Bearer " + KEY).add("x-trace", "t-1")
        .add("cookie", "a=" + MASTER).add("content-type", "application/json");
    c.scrub(h, auth);
    assertThat(h.names()).containsExactlyInAnyOrder("x-trace", "content-type");
  }

  @Test
  void aBearerValuesTokenIsCutOnceAndIsTheSameAsTheGenericSchemeRule() {
    String[] values = {"Bearer sk-one", "bearer sk-two", "BEARER   sk-three", "Bearer sk-a b", "Bearer x"};
    for (String v : values) {
      String fresh = new String(v.toCharArray()); // a request's own header String
      String k = Credentials.token(fresh);
      assertThat(k).as(v).isEqualTo(v.substring(v.indexOf(' ') + 1).trim());
      assertThat(Authenticator.bearerKey(fresh)).as("auth and the scrub share one substring").isSameAs(k);
    }
    String a = new String("Bearer sk-first".toCharArray());
    String b = new String("Bearer sk-second".toCharArray());
    assertThat(Credentials.token(a)).isEqualTo("sk-first");
    assertThat(Credentials.token(b)).isEqualTo("sk-second");
    assertThat(Credentials.token(new String("Bearer sk-first".toCharArray()))).as("a new value, not the memo's")
        .isEqualTo("sk-first");
    assertThat(Credentials.token("Basic dXNlcjpwYXNz")).isEqualTo("dXNlcjpwYXNz");
    assertThat(Credentials.token("sk-bare")).isEqualTo("sk-bare");
    assertThat(Credentials.token(" Bearer sk-padded ")).isEqualTo("sk-padded");
  }
}
