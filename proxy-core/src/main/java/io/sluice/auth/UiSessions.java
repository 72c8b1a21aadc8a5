package io.sluice.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The admin UI's server-side sessions, in this node's memory. A session is created by signing in with the master
 * key or an admin user's key; the browser holds only an opaque random id in an {@code HttpOnly} cookie, never the
 * key. The store keeps neither the key nor the id: sessions are found by the SHA-256 of the id, and a virtual key's
 * session holds the key's hash (re-checked on every request, so a blocked or deleted key's sessions stop at once).
 * Each session has its own CSRF token, which the UI sends in a header on every write. A session ends on sign-out,
 * after {@code idle} without a request, or {@code maxAge} after sign-in, whichever is first. Thread-safe.
 */
public final class UiSessions {
  public static final String COOKIE = "sluice_session";
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();

  /**
   * One signed-in browser.
   *
   * @param keyHash the virtual key's hash, or null when signed in with the master key
   * @param role    the role at sign-in (what the UI shows; every request re-checks the key)
   * @param userId  the key's user id, or {@code default_user_id}
   * @param csrf    the token every write must carry in {@code x-sluice-csrf}
   * @param created sign-in time
   */
  public record Session(KeyHash keyHash, Role role, String userId, String csrf, Instant created) {
    public boolean master() {
      return keyHash == null;
    }

    /** Viewer roles get read-only pages. */
    public boolean readOnly() {
      return role != Role.PROXY_ADMIN;
    }

    @Override
    public String toString() {
      return "Session[role=" + role.wireName() + ", key=" + (keyHash == null ? "master" : keyHash.prefix()) + "]";
    }
  }

  private static final class Entry {
    final Session session;
    volatile Instant lastSeen;

    Entry(Session s, Instant now) {
      this.session = s;
      this.lastSeen = now;
    }
  }

  /** A new session and its id (the cookie value: shown to this browser once, kept nowhere). */
  public record Created(String id, Session session) {
    @Override
    public String toString() {
      return "Created[" + session + "]";
    }
  }

  private final Map<String, Entry> byIdHash = new ConcurrentHashMap<>();
  private final Duration idle;
  private final Duration maxAge;
  private final int maxSessions;
  private final Clock clock;

  public UiSessions(Duration idle, Duration maxAge, int maxSessions, Clock clock) {
    if (idle.isNegative() || idle.isZero() || maxAge.compareTo(idle) < 0) {
      throw new IllegalArgumentException("idle: " + idle + ", maxAge: " + maxAge + " (expected: 0 < idle <= maxAge)");
    }
    if (maxSessions < 1) {
      throw new IllegalArgumentException("maxSessions: " + maxSessions + " (expected: > 0)");
    }
    this.idle = idle;
    this.maxAge = maxAge;
    this.maxSessions = maxSessions;
    this.clock = clock;
  }

  /** 30 minutes idle, 8 hours at most, 10 000 sessions. */
  public static UiSessions defaults() {
    return new UiSessions(Duration.ofMinutes(30), Duration.ofHours(8), 10_000, Clock.systemUTC());
  }

  public Duration maxAge() {
    return maxAge;
  }

  /** Signs {@code p} in (the master key, or a virtual key's principal). */
  public Created create(Principal p) {
    Instant now = clock.instant();
    if (byIdHash.size() >= maxSessions) {
      expire(now);
      if (byIdHash.size() >= maxSessions) {
        // The oldest go first: a flood of sign-ins cannot grow the heap without bound.
        byIdHash.entrySet().stream().min((a, b) -> a.getValue().session.created()
            .compareTo(b.getValue().session.created())).ifPresent(e -> byIdHash.remove(e.getKey()));
      }
    }
    String id = token(32);
    Session s = new Session(p.key() == null ? null : p.key().hash(), p.role(), p.userId(), token(24), now);
    byIdHash.put(hash(id), new Entry(s, now));
    return new Created(id, s);
  }

  /** The live session for cookie value {@code id}, touched; empty when unknown or expired. */
  public Optional<Session> find(String id) {
    if (id == null || id.isEmpty() || id.length() > 100) {
      return Optional.empty();
    }
    String h = hash(id);
    Entry e = byIdHash.get(h);
    if (e == null) {
      return Optional.empty();
    }
    Instant now = clock.instant();
    if (expired(e, now)) {
      byIdHash.remove(h, e);
      return Optional.empty();
    }
    e.lastSeen = now;
    return Optional.of(e.session);
  }

  /** Signs out; idempotent. */
  public void remove(String id) {
    if (id != null && !id.isEmpty() && id.length() <= 100) {
      byIdHash.remove(hash(id));
    }
  }

  /** Ends every session of the key with this hash (blocked, deleted, regenerated). */
  public void removeKey(KeyHash key) {
    byIdHash.values().removeIf(e -> key.equals(e.session.keyHash()));
  }

  public int size() {
    return byIdHash.size();
  }

  private boolean expired(Entry e, Instant now) {
    return !now.isBefore(e.lastSeen.plus(idle)) || !now.isBefore(e.session.created().plus(maxAge));
  }

  private void expire(Instant now) {
    for (Iterator<Entry> it = byIdHash.values().iterator(); it.hasNext(); ) {
      if (expired(it.next(), now)) {
        it.remove();
      }
    }
  }

  /** Whether {@code given} is this session's CSRF token (constant time). */
  public static boolean csrfMatches(Session s, String given) {
    return given != null && MessageDigest.isEqual(s.csrf().getBytes(StandardCharsets.US_ASCII),
        given.getBytes(StandardCharsets.US_ASCII));
  }

  private static String token(int bytes) {
    byte[] b = new byte[bytes];
    RANDOM.nextBytes(b);
    return B64.encodeToString(b);
  }

  private static String hash(String id) {
    try {
      return B64.encodeToString(MessageDigest.getInstance("SHA-256").digest(id.getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
