package io.sluice.limits;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.limits.LimitScope.Kind;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class LocalRateLimiterTest extends RateLimiterConformance {
  private final LocalRateLimiter limiter = new LocalRateLimiter();

  @Override
  protected RateLimiter limiter() {
    return limiter;
  }

  @Test
  void answersAtOnce() {
    CompletableFuture<Admission> f = limiter.acquire(List.of(scope(Kind.KEY).rpm(1).build()), t0)
        .toCompletableFuture();
    assertThat(f).isCompleted();
    assertThat(limiter.describe()).isEqualTo("local");
  }

  @Test
  void idleScopesAreDroppedButNeverWithARequestInFlight() throws Exception {
    LimitScope idle = scope(Kind.KEY).rpm(1).build();
    LimitScope busy = scope(Kind.TEAM).parallel(1).build();
    LimitScope spender = scope(Kind.USER).tpm(10).build();
    assertThat(acquire(t0, idle).admitted()).isTrue();
    release(t0, 0, 0, idle);
    assertThat(acquire(t0, busy).admitted()).isTrue();
    assertThat(acquire(t0, spender).admitted()).isTrue();
    release(t0 + 100_000, 10, 0, spender); // also a sweep: nothing idle yet
    // every admitted request holds its scopes until released, with or without a parallel limit
    assertThat(limiter.size()).isEqualTo(3);

    // Dropped when idle for over 2 minutes, by a sweep that runs at most once a minute: within 3 minutes.
    long later = t0 + Duration.ofMinutes(3).toMillis() + 1;
    LimitScope other = scope(Kind.KEY).rpm(1).build();
    assertThat(acquire(later, other).admitted()).as("runs the sweep").isTrue();
    assertThat(limiter.size()).as("idle dropped; in flight and recently released kept").isEqualTo(3);
    assertThat(acquire(later, busy).admitted()).as("its slot survived the sweep").isFalse();

    release(later, 0, 0, busy);
    release(later, 0, 0, other);
    long muchLater = later + Duration.ofMinutes(3).toMillis() + 1;
    assertThat(acquire(muchLater, idle).admitted()).as("a dropped scope starts afresh").isTrue();
    assertThat(limiter.size()).as("only the scope just used").isEqualTo(1);
  }

  @Test
  void aScopeListedTwiceCountsTwiceWithoutDeadlock() throws Exception {
    LimitScope key = scope(Kind.KEY).rpm(3).build();
    assertThat(acquire(t0, key, key).remainingRequests()).isEqualTo(1);
    assertThat(acquire(t0, key, key).admitted()).as("one left, checked before counting").isTrue();
    assertThat(acquire(t0, key).admitted()).isFalse();
  }
}
