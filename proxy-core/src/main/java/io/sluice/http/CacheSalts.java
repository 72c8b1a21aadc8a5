package io.sluice.http;

import io.sluice.auth.KeyRecord;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings.CacheIsolation;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.ConcurrentHashMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Tenant-isolated prefix caches ({@code sluice_settings.cache_isolation}, issue 20 §4): vLLM's {@code cache_salt}
 * request field (vLLM ≥ 0.9, PR #17045; chat completions, completions and the Responses API) salts the hash of a
 * prompt's first KV block, so only requests with the same salt share cached prefixes — closing the timing side
 * channel by which one tenant could learn what another sent. Sluice sets it for every request to a keyed hash of the
 * caller's team ({@link CacheIsolation#TEAM}; a key without a team, and the master key, get their own) or key
 * ({@link CacheIsolation#KEY}): {@code base64url(HMAC-SHA256(secret, "<scope>:<id>"))}, 43 characters — the length
 * vLLM's docs ask for (256 bits). The secret is the master key, the same on every node, so a tenant's salt is the
 * same wherever its requests land and its own cache hits survive; rotating the master key rotates every salt (one
 * cold prefix per tenant). A tenant never learns its salt from Sluice, and the client's own {@code cache_salt} is
 * overridden (Sluice's field is inserted last; Python's json keeps the last).
 *
 * <p>The field's bytes are computed once per tenant and kept (at most {@value #MAX_KEPT}, then forgotten at once and
 * recomputed): a request allocates nothing for them. Thread-safe.
 */
final class CacheSalts {
  static final int MAX_KEPT = 100_000;
  private static final byte[] HEAD = ",\"cache_salt\":\"".getBytes(StandardCharsets.US_ASCII);

  private final CacheIsolation mode;
  private final SecretKeySpec secret;
  /** Fields kept by team id and by key hash (two maps, so a lookup builds no scope string). */
  private final ConcurrentHashMap<String, byte[]> teams = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, byte[]> keys = new ConcurrentHashMap<>();
  private volatile byte[] master;
  private final ThreadLocal<Mac> macs;

  /**
   * @param secret the master key; null (no master key: unauthenticated mode) → a random secret of this process, so
   *               salts differ between nodes (isolation holds, a tenant's cache hits do not cross nodes)
   */
  CacheSalts(CacheIsolation mode, Secret secret) {
    if (mode == CacheIsolation.OFF) {
      throw new IllegalArgumentException("cache isolation is off");
    }
    this.mode = mode;
    byte[] k;
    if (secret != null) {
      k = ("sluice cache_salt v1\0" + secret.reveal()).getBytes(StandardCharsets.UTF_8);
    } else {
      k = new byte[32];
      new java.security.SecureRandom().nextBytes(k);
    }
    this.secret = new SecretKeySpec(k, "HmacSHA256");
    this.macs = ThreadLocal.withInitial(() -> {
      try {
        Mac m = Mac.getInstance("HmacSHA256");
        m.init(this.secret);
        return m;
      } catch (java.security.GeneralSecurityException e) {
        throw new IllegalStateException("HmacSHA256 is missing from this JVM", e);
      }
    });
  }

  /** {@code gw}'s salts, or null when {@code cache_isolation} is off. */
  static CacheSalts of(GatewayContext gw) {
    CacheIsolation m = gw.server().cacheIsolation();
    return m == CacheIsolation.OFF ? null : new CacheSalts(m, gw.authenticator().masterKey());
  }

  /** Whether vLLM takes {@code cache_salt} on {@code route} (not on {@code /v1/messages}, embeddings, pooling…). */
  boolean applies(Route route) {
    return route == Route.CHAT_COMPLETIONS || route == Route.COMPLETIONS || route == Route.RESPONSES;
  }

  /** {@code ,"cache_salt":"<salt>"} for the caller of {@code key} (null: the master key). Shared: do not modify. */
  byte[] field(KeyRecord key) {
    if (key == null) {
      byte[] m = master;
      if (m == null) {
        m = compute("master");
        master = m;
      }
      return m;
    }
    boolean team = mode == CacheIsolation.TEAM && key.teamId() != null;
    ConcurrentHashMap<String, byte[]> kept = team ? teams : keys;
    String id = team ? key.teamId() : key.hash().hex();
    byte[] f = kept.get(id);
    if (f == null) {
      if (kept.size() >= MAX_KEPT) {
        kept.clear();
      }
      f = compute((team ? "team:" : "key:") + id);
      kept.put(id, f);
    }
    return f;
  }

  /** The salt itself in a {@link #field} (tests). */
  static String saltOf(byte[] field) {
    return new String(field, HEAD.length, field.length - HEAD.length - 1, StandardCharsets.US_ASCII);
  }

  private byte[] compute(String scope) {
    byte[] mac = macs.get().doFinal(scope.getBytes(StandardCharsets.UTF_8));
    byte[] salt = Base64.getUrlEncoder().withoutPadding().encode(mac);
    byte[] f = new byte[HEAD.length + salt.length + 1];
    System.arraycopy(HEAD, 0, f, 0, HEAD.length);
    System.arraycopy(salt, 0, f, HEAD.length, salt.length);
    f[f.length - 1] = '"';
    return f;
  }
}
