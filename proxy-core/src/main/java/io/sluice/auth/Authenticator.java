package io.sluice.auth;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import io.sluice.config.Secret;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Decides who a request's caller is (litellm/proxy/auth/user_api_key_auth.py, the subset Sluice mirrors).
 *
 * <p>The credential comes from {@code x-litellm-api-key} (a {@code Bearer } prefix optional), else
 * {@code Authorization: Bearer …}; when {@code litellm_key_header_name} is configured, only from that header.
 * The master key is compared in constant time and answered at once; any other {@code sk-} key is looked up by
 * hash through the {@link KeyStore} port, which completes off the event loop. Messages never contain the key.
 * Thread-safe and immutable.
 */
public final class Authenticator {
  public static final AsciiString X_LITELLM_API_KEY = AsciiString.cached("x-litellm-api-key");
  /** Anthropic's key header: a Sluice credential on the Anthropic routes, after the two above. */
  public static final AsciiString X_API_KEY = AsciiString.cached("x-api-key");

  private final Secret masterKey;
  private final boolean allowUnauthenticated;
  private final AsciiString customHeader;
  private final KeyStore keys;
  private final Clock clock;
  /** The master key's answers, one per header that can carry it: shared, so the common case allocates nothing. */
  private final CompletionStage<Outcome> masterViaCustom;
  private final CompletionStage<Outcome> masterViaLitellm;
  private final CompletionStage<Outcome> masterViaAuthorization;
  private final CompletionStage<Outcome> masterViaApiKey;

  /**
   * @param masterKey            the resolved master key, or null
   * @param allowUnauthenticated with no master key: admit every caller as {@code internal_user} (LiteLLM's default,
   *                             ours only on request)
   * @param customHeader         {@code litellm_key_header_name}, or null
   */
  public Authenticator(Secret masterKey, boolean allowUnauthenticated, String customHeader, KeyStore keys,
      Clock clock) {
    this.masterKey = masterKey;
    this.allowUnauthenticated = allowUnauthenticated;
    this.customHeader = customHeader == null ? null : AsciiString.of(customHeader.toLowerCase(java.util.Locale.ROOT));
    this.keys = keys;
    this.clock = clock;
    this.masterViaCustom = done(Outcome.accept(Principal.MASTER, this.customHeader));
    this.masterViaLitellm = done(Outcome.accept(Principal.MASTER, X_LITELLM_API_KEY));
    this.masterViaAuthorization = done(Outcome.accept(Principal.MASTER, HttpHeaderNames.AUTHORIZATION));
    this.masterViaApiKey = done(Outcome.accept(Principal.MASTER, X_API_KEY));
  }

  /** The header {@code litellm_key_header_name} names (lower case), or null. */
  public AsciiString customHeader() {
    return customHeader;
  }

  /**
   * Whether {@code token} is a credential Sluice knows: the master key, or a virtual key this node has seen as valid
   * (from memory, no lookup). Such a value is never forwarded upstream, whichever header carries it.
   */
  public boolean isKnownCredential(String token) {
    if (token == null || token.isEmpty()) {
      return false;
    }
    if (masterKey != null && masterKey.matches(token)) {
      return true;
    }
    return token.startsWith("sk-") && keys.knownLocally(KeyHash.of(token));
  }

  /**
   * Which of {@code tokens} are valid virtual keys (looked up like a credential; completes off the loop unless every
   * answer is cached). Used for keys a request carries besides the one that authenticated, which must not be
   * forwarded either.
   */
  public CompletableFuture<java.util.List<String>> validKeys(java.util.List<String> tokens) {
    @SuppressWarnings("unchecked")
    CompletableFuture<Optional<KeyRecord>>[] finds = new CompletableFuture[tokens.size()];
    for (int i = 0; i < finds.length; i++) {
      finds[i] = keys.find(KeyHash.of(tokens.get(i))).toCompletableFuture();
    }
    return CompletableFuture.allOf(finds).thenApply(v -> {
      java.util.List<String> valid = new java.util.ArrayList<>(finds.length);
      for (int i = 0; i < finds.length; i++) {
        if (finds[i].join().isPresent()) {
          valid.add(tokens.get(i));
        }
      }
      return valid;
    });
  }

  /** The master key, or null: its plaintext is only compared against header values going upstream. */
  public Secret masterKey() {
    return masterKey;
  }

  /** The outcome of authentication: a principal, or a rejection with a message safe to show the caller. */
  public record Outcome(Principal principal, AsciiString credentialHeader, String rejection, boolean expired) {
    static Outcome accept(Principal p, AsciiString header) {
      return new Outcome(p, header, null, false);
    }

    static Outcome reject(String message, AsciiString header) {
      return new Outcome(null, header, message, false);
    }

    public boolean accepted() {
      return principal != null;
    }
  }

  /**
   * Authenticates from the request headers. Completes at once for the master key and for rejections that need no
   * lookup; a virtual key completes when the {@link KeyStore} answers (off the caller's thread, so the caller must
   * hop back to its event loop). {@link Outcome#credentialHeader()} names the header that carried the credential,
   * so later steps strip exactly that one.
   */
  public CompletionStage<Outcome> authenticate(HttpHeaders headers) {
    return authenticate(headers, null);
  }

  /**
   * As {@link #authenticate(HttpHeaders)}, reading the key from {@code routeHeader} when it is not null (a
   * pass-through endpoint's {@code litellm_user_api_key}).
   */
  public CompletionStage<Outcome> authenticate(HttpHeaders headers, String routeHeader) {
    return authenticate(headers, routeHeader, false);
  }

  /**
   * As {@link #authenticate(HttpHeaders, String)}; with {@code apiKeyHeader} (the Anthropic routes) a key in
   * {@code x-api-key} is read when neither {@code x-litellm-api-key} nor {@code Authorization} is present — the
   * order LiteLLM reads them in (user_api_key_auth.py). The header actually read is the outcome's
   * {@link Outcome#credentialHeader()}: BYOK decides from it, never from which headers are present.
   */
  public CompletionStage<Outcome> authenticate(HttpHeaders headers, String routeHeader, boolean apiKeyHeader) {
    AsciiString header;
    String raw;
    AsciiString custom = routeHeader != null ? AsciiString.of(routeHeader) : customHeader;
    if (custom != null) {
      header = custom;
      raw = headers.get(custom);
    } else {
      raw = headers.get(X_LITELLM_API_KEY);
      header = X_LITELLM_API_KEY;
      if (raw == null) {
        raw = headers.get(HttpHeaderNames.AUTHORIZATION);
        header = raw == null ? null : HttpHeaderNames.AUTHORIZATION;
        if (raw == null && apiKeyHeader) {
          raw = headers.get(X_API_KEY);
          header = raw == null ? null : X_API_KEY;
        }
        if (raw != null && header == HttpHeaderNames.AUTHORIZATION && !startsWithBearer(raw)) {
          return done(Outcome.reject(
              "Authentication Error, Malformed API Key passed in. Ensure the Authorization header is 'Bearer <key>'.",
              header));
        }
      }
    }
    if (raw == null) {
      if (masterKey == null && allowUnauthenticated) {
        return done(Outcome.accept(Principal.UNAUTHENTICATED, null));
      }
      return done(Outcome.reject("Authentication Error, No api key passed in. Send the key as 'Authorization: Bearer "
          + "<key>'" + (custom != null ? " in the " + custom + " header." : apiKeyHeader ? " or 'x-api-key: <key>'."
          : "."), null));
    }
    String key = startsWithBearer(raw) ? bearerKey(raw) : raw.trim();
    if (masterKey != null && masterKey.matches(key)) {
      if (routeHeader != null) {
        return done(Outcome.accept(Principal.MASTER, header));
      }
      return header == customHeader ? masterViaCustom
          : header == X_LITELLM_API_KEY ? masterViaLitellm : header == X_API_KEY ? masterViaApiKey
          : masterViaAuthorization;
    }
    if (masterKey == null && allowUnauthenticated) {
      return done(Outcome.accept(Principal.UNAUTHENTICATED, header));
    }
    if (!key.startsWith("sk-")) {
      return done(Outcome.reject("Authentication Error, LiteLLM Virtual Key expected: the key passed does not start "
          + "with 'sk-'.", header));
    }
    KeyHash hash = KeyHash.of(key);
    AsciiString h = header;
    CompletableFuture<Optional<KeyRecord>> found = keys.find(hash).toCompletableFuture();
    if (found.isDone() && !found.isCompletedExceptionally()) {
      return doneMemo(decide(found.join(), hash, h)); // a cached key: decided here, no stage chained per request
    }
    return found.thenApply(f -> decide(f, hash, h));
  }

  /**
   * Authenticates a key given as it is (the UI's sign-in form), not in a header: the master key at once, a virtual
   * key by its hash through the {@link KeyStore}. No credential header is involved ({@code credentialHeader} null).
   */
  public CompletionStage<Outcome> authenticateKey(String key) {
    String k = key == null ? "" : key.strip();
    if (masterKey != null && masterKey.matches(k)) {
      return done(Outcome.accept(Principal.MASTER, null));
    }
    if (!k.startsWith("sk-")) {
      return done(Outcome.reject("Authentication Error, the key does not start with 'sk-': sign in with the master "
          + "key or an admin user's virtual key.", null));
    }
    return authenticateHash(KeyHash.of(k));
  }

  /**
   * Re-checks a virtual key known only by its hash (a UI session's key): blocked, expired or deleted keys are
   * rejected as in {@link #authenticate(HttpHeaders)}.
   */
  public CompletionStage<Outcome> authenticateHash(KeyHash hash) {
    return keys.find(hash).thenApply(found -> decide(found, hash, null));
  }

  private Outcome decide(Optional<KeyRecord> found, KeyHash hash, AsciiString header) {
    if (found.isEmpty()) {
      return Outcome.reject("Authentication Error, Invalid proxy server token passed. Key hash prefix="
          + hash.prefix() + " is not a valid key.", header);
    }
    KeyRecord k = found.get();
    if (k.blocked()) {
      return Outcome.reject("Authentication Error, Key is blocked. Key hash prefix=" + hash.prefix(), header);
    }
    if (k.teamBlocked()) {
      return Outcome.reject("Authentication Error, Team is blocked: team_id=" + k.teamId()
          + ". A proxy admin can unblock it with /team/unblock.", header);
    }
    java.time.Instant now = k.expires() == null ? null : clock.instant(); // no Instant per request without expiry
    if (now != null && !now.isBefore(k.expires())) {
      return new Outcome(null, header, "Authentication Error - Expired Key. Key Expiry time " + k.expires()
          + " and current time " + now + ". Key hash prefix=" + hash.prefix() + ".", true);
    }
    Outcome last = LAST_ACCEPTED.get();
    if (last != null && last.principal().key() == k && last.credentialHeader() == header) {
      return last; // the same key record in the same header as this thread's last request: the same answer
    }
    Outcome accepted = Outcome.accept(Principal.of(k), header);
    LAST_ACCEPTED.set(accepted);
    return accepted;
  }

  /**
   * Each thread's last accepted virtual-key outcome: a connection's requests usually carry one key, so the outcome
   * (and its principal and hash prefix) is made once per key record, not per request. Keyed by the record's
   * identity: a reloaded record (changed, blocked, expired later) is a new instance and gets a new outcome; the
   * checks above run for every request whatever is memoised.
   */
  private static final io.netty.util.concurrent.FastThreadLocal<Outcome> LAST_ACCEPTED =
      new io.netty.util.concurrent.FastThreadLocal<>();

  /** Whether {@code v} starts with {@code Bearer } (any case). */
  public static boolean startsWithBearer(String v) {
    return v.length() >= 7 && v.regionMatches(true, 0, "Bearer ", 0, 7);
  }

  /**
   * The key of a {@code Bearer <key>} value ({@code raw} {@linkplain #startsWithBearer starts with it}), trimmed.
   * Per thread the last value's key is kept by identity: auth and then the credential scrub read the request's one
   * header {@code String}, and cut one substring out of it, not two. (The thread holds the last request's key in
   * memory, as its headers do.)
   */
  public static String bearerKey(String raw) {
    String[] last = LAST_BEARER.get();
    if (last[0] == raw) {
      return last[1];
    }
    String key = raw.substring(7).trim();
    last[0] = raw;
    last[1] = key;
    return key;
  }

  private static final io.netty.util.concurrent.FastThreadLocal<String[]> LAST_BEARER =
      new io.netty.util.concurrent.FastThreadLocal<>() {
        @Override
        protected String[] initialValue() {
          return new String[2];
        }
      };

  private static CompletionStage<Outcome> done(Outcome o) {
    return CompletableFuture.completedFuture(o);
  }

  /**
   * {@link #done}, the same completed stage again when {@code o} is this thread's last one ({@link #LAST_ACCEPTED}
   * hands the same outcome on for a connection's repeated key). A completed future holds no dependants: callers
   * chaining on it run at once and change nothing in it.
   */
  @SuppressWarnings("unchecked")
  private static CompletionStage<Outcome> doneMemo(Outcome o) {
    Object[] last = LAST_DONE.get();
    if (last[0] == o) {
      return (CompletionStage<Outcome>) last[1];
    }
    CompletableFuture<Outcome> f = CompletableFuture.completedFuture(o);
    last[0] = o;
    last[1] = f;
    return f;
  }

  /** This thread's last outcome and its completed stage ({@link #doneMemo}). */
  private static final io.netty.util.concurrent.FastThreadLocal<Object[]> LAST_DONE =
      new io.netty.util.concurrent.FastThreadLocal<>() {
        @Override
        protected Object[] initialValue() {
          return new Object[2];
        }
      };
}
