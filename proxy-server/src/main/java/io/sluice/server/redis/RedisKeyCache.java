package io.sluice.server.redis;

import io.lettuce.core.KeyValue;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.sluice.auth.KeyCache;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.function.BooleanSupplier;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared (L2) key cache on Redis. Per key hash {@code h}:
 *
 * <ul>
 *   <li>{@code sluice:key:v1:<h>}: the {@link KeyRecordCodec} JSON of the record, or {@code ~} for "known absent"
 *       (no such key in the database); expires after the TTL given to {@link #put};</li>
 *   <li>{@code sluice:keygen:<h>}: the entry's generation, an invalidation counter (absent = 0); {@link #invalidate}
 *       increments it and keeps it for {@link #GENERATION_TTL}.</li>
 * </ul>
 *
 * <p>{@link #get} reads both in one {@code MGET}. {@link #put} stores only if the generation is still the one read
 * with the miss (a Lua script compares and sets atomically), so a lookup that read the database before an admin
 * write cannot put the old record back after that write's {@link #invalidate}. The guarantee holds as long as the
 * lookup's read-to-put time stays below {@link #GENERATION_TTL} (after which an expired counter restarts at 0).
 *
 * <p>Redis is a cache, PostgreSQL the source of truth, so no operation here fails its caller: a failed or timed
 * out {@link #get} completes with {@link Cached#MISS}; {@link #put} is fire and forget; a failed
 * {@link #invalidate} completes normally too (the entry then lives at most its TTL, the same bound as a node's L1
 * entry). Failures are logged at most once a minute per kind; log lines name a key by {@link KeyHash#prefix()}
 * only, never the full hash, never a key. The keys have no hash tags: this is for a standalone Redis (or a
 * primary with replicas), not Redis Cluster.
 */
public final class RedisKeyCache implements KeyCache {
  private static final Logger LOG = LoggerFactory.getLogger(RedisKeyCache.class);

  public static final String VALUE_PREFIX = "sluice:key:v1:";
  public static final String GENERATION_PREFIX = "sluice:keygen:";
  /** The stored value meaning "no such key". */
  public static final String ABSENT = "~";
  /** How long an invalidation's generation is remembered. */
  public static final Duration GENERATION_TTL = Duration.ofMinutes(10);

  private static final Duration LOG_INTERVAL = Duration.ofMinutes(1);
  private static final Pattern HEX64 = Pattern.compile("\\b([0-9a-fA-F]{8})[0-9a-fA-F]{56}\\b");

  /** KEYS[1] value, KEYS[2] generation; ARGV[1] expected generation, ARGV[2] value, ARGV[3] ttl ms. */
  static final Script PUT = new Script(
      "local g = redis.call('GET', KEYS[2])\n"
          + "if g == false then g = '0' end\n"
          + "if g ~= ARGV[1] then return 0 end\n"
          + "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
          + "return 1\n");
  /** KEYS[1] value, KEYS[2] generation; ARGV[1] generation ttl ms. Returns the new generation. */
  static final Script INVALIDATE = new Script(
      "local g = redis.call('INCR', KEYS[2])\n"
          + "redis.call('PEXPIRE', KEYS[2], ARGV[1])\n"
          + "redis.call('DEL', KEYS[1])\n"
          + "return g\n");

  private final RedisAsyncCommands<String, String> redis;
  private final BooleanSupplier closed;
  private final String where;
  private final LogThrottle getFailures = new LogThrottle(LOG_INTERVAL);
  private final LogThrottle putFailures = new LogThrottle(LOG_INTERVAL);
  private final LogThrottle invalidateFailures = new LogThrottle(LOG_INTERVAL);
  private final LogThrottle malformed = new LogThrottle(LOG_INTERVAL);

  /** A cache over {@code connection}; once that is closed, every call answers at once as if Redis were down. */
  public RedisKeyCache(RedisConnection connection) {
    this(connection.async(), connection::isClosed, connection.describe());
  }

  RedisKeyCache(RedisAsyncCommands<String, String> redis, BooleanSupplier closed, String where) {
    this.redis = Objects.requireNonNull(redis);
    this.closed = Objects.requireNonNull(closed);
    this.where = Objects.requireNonNull(where);
  }

  /** The command API, or an {@link IllegalStateException} once the connection is closed (Lettuce is shut down). */
  private RedisAsyncCommands<String, String> redis() {
    if (closed.getAsBoolean()) {
      throw new IllegalStateException("the redis connection is closed");
    }
    return redis;
  }

  static String valueKey(KeyHash hash) {
    return VALUE_PREFIX + hash.hex();
  }

  static String generationKey(KeyHash hash) {
    return GENERATION_PREFIX + hash.hex();
  }

  /** One round trip; never completes exceptionally (any failure is {@link Cached#MISS}). */
  @Override
  public CompletionStage<Cached> get(KeyHash hash) {
    CompletableFuture<List<KeyValue<String, String>>> f;
    try {
      f = redis().mget(valueKey(hash), generationKey(hash)).toCompletableFuture();
    } catch (RuntimeException e) {
      logGetFailure(hash, e);
      return CompletableFuture.completedFuture(Cached.MISS);
    }
    return f.handle((kvs, err) -> {
      if (err != null) {
        logGetFailure(hash, err);
        return Cached.MISS;
      }
      try {
        return decode(hash, kvs);
      } catch (RuntimeException e) {
        logGetFailure(hash, e);
        return Cached.MISS;
      }
    });
  }

  private Cached decode(KeyHash hash, List<KeyValue<String, String>> kvs) {
    if (kvs == null || kvs.size() != 2) {
      return Cached.MISS;
    }
    long gen = 0;
    KeyValue<String, String> g = kvs.get(1);
    if (g.hasValue()) {
      try {
        gen = Long.parseLong(g.getValue());
      } catch (NumberFormatException e) {
        logMalformed(hash, "generation is not a number");
        return Cached.MISS; // a put with any generation is refused until an invalidation repairs the counter
      }
    }
    KeyValue<String, String> v = kvs.get(0);
    if (!v.hasValue()) {
      return Cached.miss(gen);
    }
    String s = v.getValue();
    if (ABSENT.equals(s)) {
      return Cached.of(Optional.empty(), gen);
    }
    try {
      return Cached.of(Optional.of(KeyRecordCodec.decode(s, hash)), gen);
    } catch (KeyRecordCodec.MalformedException e) {
      logMalformed(hash, e.getMessage());
      return Cached.miss(gen); // the database's answer will overwrite it
    }
  }

  /** Fire and forget: see {@link #tryPut}; failures are logged, never thrown. */
  @Override
  public void put(KeyHash hash, Optional<KeyRecord> value, Duration ttl, long generation) {
    tryPut(hash, value, ttl, generation).whenComplete((stored, err) -> {
      if (err != null) {
        long held = putFailures.tryAcquire();
        if (held >= 0) {
          LOG.warn("redis {}: caching key {} failed: {}{}", where, hash.prefix(), describe(err), held(held));
        }
      } else if (!stored) {
        LOG.debug("redis {}: key {} not cached: invalidated since it was read", where, hash.prefix());
      }
    });
  }

  /**
   * Stores {@code value} (empty = known absent) for {@code ttl} if the entry's generation still is
   * {@code generation}. Completes with whether it was stored, or exceptionally if Redis failed or the record
   * cannot be encoded. A TTL under one millisecond stores nothing.
   */
  public CompletionStage<Boolean> tryPut(KeyHash hash, Optional<KeyRecord> value, Duration ttl, long generation) {
    long ttlMillis = ttl.toMillis();
    if (ttlMillis <= 0) {
      return CompletableFuture.completedFuture(false);
    }
    String payload;
    try {
      if (value.isPresent()) {
        if (!value.get().hash().equals(hash)) {
          throw new IllegalArgumentException("record " + value.get().hash().prefix() + " put under key "
              + hash.prefix());
        }
        payload = KeyRecordCodec.encode(value.get());
      } else {
        payload = ABSENT;
      }
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    return eval(PUT, new String[] {valueKey(hash), generationKey(hash)},
        Long.toString(generation), payload, Long.toString(ttlMillis))
        .thenApply(r -> r != null && r == 1L);
  }

  /**
   * Bumps the generation (so in-flight lookups cannot put what they read) and deletes the value, atomically.
   * Completes when Redis answered; never exceptionally: a Redis failure is logged and completes normally, since
   * the database is the source of truth and the stale entry lives at most its TTL.
   */
  @Override
  public CompletionStage<Void> invalidate(KeyHash hash) {
    return eval(INVALIDATE, new String[] {valueKey(hash), generationKey(hash)},
        Long.toString(GENERATION_TTL.toMillis()))
        .handle((gen, err) -> {
          if (err != null) {
            long held = invalidateFailures.tryAcquire();
            if (held >= 0) {
              LOG.warn("redis {}: invalidating key {} failed (its entry may live until its TTL): {}{}", where,
                  hash.prefix(), describe(err), held(held));
            }
          }
          return null;
        });
  }

  /** EVALSHA, falling back to EVAL (which also loads the script) when Redis does not know it yet. */
  private CompletableFuture<Long> eval(Script script, String[] keys, String... args) {
    try {
      return redis().<Long>evalsha(script.sha1, ScriptOutputType.INTEGER, keys, args).toCompletableFuture()
          .exceptionallyCompose(err -> {
            if (unwrap(err) instanceof RedisNoScriptException) {
              return redis().<Long>eval(script.text, ScriptOutputType.INTEGER, keys, args).toCompletableFuture();
            }
            return CompletableFuture.failedFuture(unwrap(err));
          });
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  private void logGetFailure(KeyHash hash, Throwable err) {
    long held = getFailures.tryAcquire();
    if (held >= 0) {
      LOG.warn("redis {}: lookup of key {} failed, falling back to the database: {}{}", where, hash.prefix(),
          describe(err), held(held));
    }
  }

  private void logMalformed(KeyHash hash, String why) {
    long held = malformed.tryAcquire();
    if (held >= 0) {
      LOG.warn("redis {}: ignoring the cached entry of key {}: {}{}", where, hash.prefix(), why, held(held));
    }
  }

  private static String held(long n) {
    return n > 0 ? " (" + n + " similar in the last minute not logged)" : "";
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** {@code Type: message}, any 64-hex run shortened to its prefix (no full hash in logs), at most 200 chars. */
  static String describe(Throwable t) {
    Throwable e = unwrap(t);
    String msg = e.getMessage();
    String s = e.getClass().getSimpleName() + (msg == null ? "" : ": " + HEX64.matcher(msg).replaceAll("$1…"));
    return s.length() > 200 ? s.substring(0, 200) + "…" : s;
  }

  /** A Lua script and its SHA-1, as EVALSHA wants it. */
  static final class Script {
    final String text;
    final String sha1;

    Script(String text) {
      this.text = text;
      this.sha1 = sha1(text);
    }

    private static String sha1(String s) {
      try {
        byte[] d = MessageDigest.getInstance("SHA-1").digest(s.getBytes(StandardCharsets.UTF_8));
        StringBuilder sb = new StringBuilder(40);
        for (byte b : d) {
          sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return sb.toString();
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("SHA-1 is missing from this JVM", e);
      }
    }
  }
}
