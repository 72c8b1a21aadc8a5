package io.sluice.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

/** The UI's server-side sessions: expiry (idle and absolute), sign-out, bounds, CSRF tokens. */
class UiSessionsTest {
  static final class TestClock extends Clock {
    Instant now = Instant.parse("2026-06-01T10:00:00Z");

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }

  final TestClock clock = new TestClock();
  final UiSessions sessions = new UiSessions(Duration.ofMinutes(30), Duration.ofHours(8), 3, clock);

  @Test
  void aSessionEndsAfterThirtyIdleMinutesOrEightHoursWhicheverIsFirst() {
    UiSessions.Created c = sessions.create(Principal.MASTER);
    assertThat(c.id()).hasSizeGreaterThanOrEqualTo(43);
    assertThat(sessions.find(c.id())).isPresent();
    clock.now = clock.now.plus(Duration.ofMinutes(29));
    assertThat(sessions.find(c.id())).as("used within 30 minutes: still alive, and touched").isPresent();
    clock.now = clock.now.plus(Duration.ofMinutes(29));
    assertThat(sessions.find(c.id())).isPresent();
    for (int i = 0; i < 16; i++) {
      clock.now = clock.now.plus(Duration.ofMinutes(29));
      sessions.find(c.id());
    }
    assertThat(sessions.find(c.id())).as("8 hours after sign-in, however busy").isEmpty();
    UiSessions.Created idle = sessions.create(Principal.MASTER);
    clock.now = clock.now.plus(Duration.ofMinutes(30));
    assertThat(sessions.find(idle.id())).as("30 idle minutes").isEmpty();
  }

  @Test
  void signingOutEndsASessionAndUnknownIdsFindNothing() {
    UiSessions.Created a = sessions.create(Principal.MASTER);
    sessions.remove(a.id());
    assertThat(sessions.find(a.id())).isEmpty();
    sessions.remove(a.id());
    sessions.remove(null);
    assertThat(sessions.find("nope")).isEmpty();
    assertThat(sessions.find(null)).isEmpty();
    assertThat(sessions.find("x".repeat(500))).isEmpty();
  }

  @Test
  void theStoreIsBoundedAndHoldsNoIdNorKey() {
    UiSessions.Created first = sessions.create(Principal.MASTER);
    clock.now = clock.now.plusSeconds(1);
    sessions.create(Principal.MASTER);
    clock.now = clock.now.plusSeconds(1);
    sessions.create(Principal.MASTER);
    UiSessions.Created fourth = sessions.create(Principal.MASTER);
    assertThat(sessions.size()).isEqualTo(3);
    assertThat(sessions.find(first.id())).as("the oldest went").isEmpty();
    assertThat(sessions.find(fourth.id())).isPresent();
    assertThat(fourth.toString()).doesNotContain(fourth.id()).contains("master");
    assertThat(fourth.session().role()).isEqualTo(Role.PROXY_ADMIN);
    assertThat(fourth.session().readOnly()).isFalse();
  }

  @Test
  void csrfTokensAreRandomPerSessionAndComparedExactly() {
    UiSessions.Session a = sessions.create(Principal.MASTER).session();
    UiSessions.Session b = sessions.create(Principal.MASTER).session();
    assertThat(a.csrf()).isNotEqualTo(b.csrf()).hasSizeGreaterThanOrEqualTo(32);
    assertThat(UiSessions.csrfMatches(a, a.csrf())).isTrue();
    assertThat(UiSessions.csrfMatches(a, b.csrf())).isFalse();
    assertThat(UiSessions.csrfMatches(a, null)).isFalse();
    assertThat(UiSessions.csrfMatches(a, a.csrf() + "x")).isFalse();
  }

  @Test
  void settingsAreChecked() {
    assertThatThrownBy(() -> new UiSessions(Duration.ZERO, Duration.ofHours(1), 1, clock))
        .hasMessageContaining("expected: 0 < idle <= maxAge");
    assertThatThrownBy(() -> new UiSessions(Duration.ofHours(2), Duration.ofHours(1), 1, clock))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new UiSessions(Duration.ofMinutes(1), Duration.ofHours(1), 0, clock))
        .hasMessageContaining("maxSessions");
  }
}
