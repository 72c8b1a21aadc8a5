package io.sluice.server.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RedisSettingsTest {
  private static RedisSettings url(String url) {
    return RedisSettings.fromEnv(Map.of("REDIS_URL", url)).orElseThrow();
  }

  @Test
  void nothingConfiguredMeansNoRedis() {
    assertThat(RedisSettings.fromEnv(Map.of())).isEmpty();
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_URL", " ", "REDIS_HOST", ""))).isEmpty();
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_PASSWORD", "pw", "REDIS_PORT", "6380"))).isEmpty();
  }

  @Test
  void urlForms() {
    assertThat(url("redis://localhost")).isEqualTo(new RedisSettings("localhost", 6379, null, null, false, 0));
    assertThat(url("redis://cache.internal:6380/2"))
        .isEqualTo(new RedisSettings("cache.internal", 6380, null, null, false, 2));
    assertThat(url("rediss://alice:s3cret@redis.example.com:6390/1"))
        .isEqualTo(new RedisSettings("redis.example.com", 6390, "alice", "s3cret", true, 1));
    assertThat(url("redis://:s3cret@10.0.0.5")).isEqualTo(new RedisSettings("10.0.0.5", 6379, null, "s3cret", false, 0));
    assertThat(url("redis://s3cret@10.0.0.5")).as("a lone user-info is the password (Lettuce's convention)")
        .isEqualTo(new RedisSettings("10.0.0.5", 6379, null, "s3cret", false, 0));
    assertThat(url("REDIS://h:1/")).isEqualTo(new RedisSettings("h", 1, null, null, false, 0));
    assertThat(url("redis://[::1]:7000/3")).isEqualTo(new RedisSettings("::1", 7000, null, null, false, 3));
    assertThat(url("redis://h?timeout=5s")).isEqualTo(new RedisSettings("h", 6379, null, null, false, 0));
    assertThat(url("redis://redis_primary.svc:6379").host()).isEqualTo("redis_primary.svc");
  }

  @Test
  void urlCredentialsArePercentDecodedAndMayContainReservedCharacters() {
    RedisSettings s = url("redis://us%40er:p%3Aa%2Fss%25w+rd@h:6379/0");
    assertThat(s.username()).isEqualTo("us@er");
    assertThat(s.password()).isEqualTo("p:a/ss%w+rd");
    assertThat(url("redis://:pa@ss/w@h/4")).isEqualTo(new RedisSettings("h", 6379, null, "pa@ss/w", false, 4));
  }

  @Test
  void passwordFromEnvFillsAUrlWithoutOne() {
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_URL", "redis://h:1", "REDIS_PASSWORD", "pw")).orElseThrow()
        .password()).isEqualTo("pw");
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_URL", "redis://:own@h:1", "REDIS_PASSWORD", "pw"))
        .orElseThrow().password()).isEqualTo("own");
  }

  @Test
  void hostAndPortVariables() {
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_HOST", "redis")))
        .contains(new RedisSettings("redis", 6379, null, null, false, 0));
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_HOST", "redis", "REDIS_PORT", "6380", "REDIS_PASSWORD", "pw",
        "REDIS_USERNAME", "bob", "REDIS_SSL", "TRUE")))
        .contains(new RedisSettings("redis", 6380, "bob", "pw", true, 0));
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_HOST", "redis", "REDIS_SSL", "false")).map(RedisSettings::ssl))
        .contains(false);
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_HOST", "[fd00::1]")).map(RedisSettings::host)).contains("fd00::1");
    assertThat(RedisSettings.fromEnv(Map.of("REDIS_URL", "redis://url-wins:1", "REDIS_HOST", "ignored")))
        .map(RedisSettings::host).contains("url-wins");
  }

  @Test
  void passwordIsRedacted() {
    RedisSettings s = url("rediss://alice:hunter2@redis.example.com:6390/1");
    assertThat(s.toString()).doesNotContain("hunter2").contains("***")
        .isEqualTo("RedisSettings[rediss://alice:***@redis.example.com:6390/1]");
    assertThat(s.describe()).isEqualTo("redis.example.com:6390/1");
    assertThat(url("redis://:hunter2@h").toString()).isEqualTo("RedisSettings[redis://:***@h:6379/0]");
    assertThat(url("redis://h").toString()).isEqualTo("RedisSettings[redis://h:6379/0]");
    assertThat(new RedisSettings("::1", 1, null, null, false, 0).describe()).isEqualTo("[::1]:1/0");
    Optional<RedisSettings> env = RedisSettings.fromEnv(Map.of("REDIS_HOST", "h", "REDIS_PASSWORD", "hunter2"));
    assertThat(env.toString()).doesNotContain("hunter2");
  }

  @Test
  void badPortNamesTheVariableNotThePassword() {
    assertThatThrownBy(() -> RedisSettings.fromEnv(Map.of("REDIS_HOST", "h", "REDIS_PORT", "63x9",
        "REDIS_PASSWORD", "hunter2")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("REDIS_PORT").hasMessageContaining("63x9").hasMessageNotContaining("hunter2");
    assertThatThrownBy(() -> RedisSettings.fromEnv(Map.of("REDIS_HOST", "h", "REDIS_PORT", "70000")))
        .hasMessageContaining("REDIS_PORT");
    assertThatThrownBy(() -> RedisSettings.fromEnv(Map.of("REDIS_HOST", "h", "REDIS_PORT", "0")))
        .hasMessageContaining("REDIS_PORT");
    assertThatThrownBy(() -> url("redis://:hunter2@h:port/0"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("REDIS_URL").hasMessageNotContaining("hunter2");
    assertThatThrownBy(() -> RedisSettings.fromEnv(Map.of("REDIS_HOST", "h", "REDIS_SSL", "maybe")))
        .hasMessageContaining("REDIS_SSL");
  }

  @Test
  void badUrlsNameTheVariableNotThePassword() {
    for (String bad : new String[] {"localhost:6379", "http://:hunter2@h", "redis://:hunter2@", "redis://:hunter2@h/x",
        "redis://:hunter2@h/-1", "redis://:hunter2@[::1", "redis://:hunt%zzer2@h", "hunter2", "redis://:hunter2@h h"}) {
      assertThatThrownBy(() -> url(bad)).as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("REDIS_URL")
          .hasMessageNotContaining("hunter2")
          .hasNoCause();
    }
    assertThatThrownBy(() -> url("http://h")).hasMessageContaining("scheme 'http'");
  }
}
