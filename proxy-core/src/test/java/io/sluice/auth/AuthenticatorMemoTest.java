package io.sluice.auth;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.Test;

/**
 * A connection's repeated virtual key is decided once per key record: the same outcome and the same completed stage
 * on the thread's next request, never another key's.
 */
class AuthenticatorMemoTest {
  private static final String A = "sk-aaaaaaaaaaaaaaaaaaaaaa";
  private static final String B = "sk-bbbbbbbbbbbbbbbbbbbbbb";

  private static HttpHeaders bearer(String key) {
    return new DefaultHttpHeaders().set("Authorization", "Bearer " + key);
  }

  @Test
  void theSameKeyGetsTheSameStageAnotherKeyItsOwn() {
    KeyRecord a = KeyRecord.simple(KeyHash.of(A), "a", Role.INTERNAL_USER, Set.of(), false, null);
    KeyRecord b = KeyRecord.simple(KeyHash.of(B), "b", Role.INTERNAL_USER, Set.of(), false, null);
    Map<KeyHash, KeyRecord> keys = Map.of(a.hash(), a, b.hash(), b);
    KeyStore store = hash -> CompletableFuture.completedFuture(Optional.ofNullable(keys.get(hash)));
    Authenticator auth = new Authenticator(null, false, null, store, Clock.systemUTC());

    CompletionStage<Authenticator.Outcome> first = auth.authenticate(bearer(A));
    CompletionStage<Authenticator.Outcome> again = auth.authenticate(bearer(A));
    assertThat(again).isSameAs(first);
    assertThat(again.toCompletableFuture().join().principal().key()).isSameAs(a);

    CompletionStage<Authenticator.Outcome> other = auth.authenticate(bearer(B));
    assertThat(other).isNotSameAs(first);
    assertThat(other.toCompletableFuture().join().principal().key()).isSameAs(b);

    CompletionStage<Authenticator.Outcome> unknown = auth.authenticate(bearer("sk-cccccccccccccccccccccc"));
    assertThat(unknown.toCompletableFuture().join().principal()).isNull();
    assertThat(auth.authenticate(bearer(A)).toCompletableFuture().join().principal().key())
        .as("after a rejection, the key's own answer again").isSameAs(a);
  }
}
