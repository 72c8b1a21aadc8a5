package io.sluice.server.redis;

import static org.assertj.core.api.Assertions.fail;

import io.sluice.auth.KeyHash;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * The real Redis these tests need: {@code REDIS_URL} if set, else {@code 127.0.0.1:6379}. Not reachable = the
 * test fails (a cache that was never exercised must not pass as green). Tests touch only keys of random hashes.
 */
final class TestRedis {
  static final String HOW = "start one with `redis-server --port 6379` or set REDIS_URL=redis://host:port";

  private TestRedis() {}

  static RedisSettings settings() {
    String url = System.getenv("REDIS_URL");
    if (url != null && !url.isBlank()) {
      return RedisSettings.fromEnv(Map.of("REDIS_URL", url)).orElseThrow();
    }
    return RedisSettings.of("127.0.0.1", 6379);
  }

  /** Connects or fails the test, saying how to provide a Redis. */
  static RedisConnection connect() {
    RedisSettings s = settings();
    try {
      return RedisConnection.connect(s);
    } catch (IllegalStateException e) {
      return fail("These tests need a real Redis at " + s.describe() + " and it is not reachable ("
          + e.getMessage() + "): " + HOW);
    }
  }

  static KeyHash randomHash() {
    return KeyHash.of("sk-" + UUID.randomUUID());
  }

  static <T> T await(CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  static <T> T await(CompletionStage<T> stage, Duration limit) throws Exception {
    return stage.toCompletableFuture().get(limit.toMillis(), TimeUnit.MILLISECONDS);
  }
}
