package io.sluice.server.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.lettuce.core.resource.EpollProvider;
import io.lettuce.core.resource.Transports;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.util.Version;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class RedisConnectionTest {
  @Test
  void lettuceRunsOnNetty42() throws Exception {
    Map<String, Version> netty = Version.identify();
    assertThat(netty.get("netty-transport").artifactVersion()).isEqualTo("4.2.18.Final");
    assertThat(netty.get("netty-handler").artifactVersion()).isEqualTo("4.2.18.Final");
    assertThat(netty.get("netty-resolver-dns").artifactVersion()).isEqualTo("4.2.18.Final");
    assertThat(netty.get("netty-transport-native-epoll").artifactVersion()).isEqualTo("4.2.18.Final");
    // Lettuce picks Netty 4.2's native epoll: its (deprecated) EpollEventLoopGroup is a 4.2 IO-handler group.
    assertThat(EpollProvider.isAvailable()).isTrue();
    assertThat(Transports.socketChannelClass()).isEqualTo(EpollSocketChannel.class);
    assertThat(MultiThreadIoEventLoopGroup.class.isAssignableFrom(Transports.eventLoopGroupClass())).isTrue();
    try (RedisConnection c = TestRedis.connect()) {
      assertThat(c.ping()).isTrue();
      assertThat(TestRedis.await(c.async().set("sluice:test:" + UUID.randomUUID(), "v",
          io.lettuce.core.SetArgs.Builder.px(1000)))).isEqualTo("OK");
      assertThat(Thread.getAllStackTraces().keySet()).anySatisfy(t ->
          assertThat(t.getName()).startsWith("lettuce-epollEventLoop"));
    }
  }

  @Test
  void pingAndDescribe() {
    try (RedisConnection c = TestRedis.connect()) {
      assertThat(c.ping()).isTrue();
      assertThat(c.isOpen()).isTrue();
      assertThat(c.describe()).isEqualTo(TestRedis.settings().describe());
    }
  }

  @Test
  void anUnreachableRedisFailsClearlyAndQuickly() {
    RedisSettings closedPort = new RedisSettings("127.0.0.1", 1, "sluice", "hunter2-secret", false, 0);
    long start = System.nanoTime();
    assertThatThrownBy(() -> RedisConnection.connect(closedPort))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("127.0.0.1:1/0")
        .hasMessageContaining("cannot connect")
        .hasMessageNotContaining("hunter2-secret")
        .satisfies(e -> assertThat(stackText(e)).doesNotContain("hunter2-secret"));
    assertThat(System.nanoTime() - start).isLessThan(Duration.ofSeconds(5).toNanos());
  }

  @Test
  void rejectedCredentialsFailClearlyWithoutThePassword() {
    TestRedis.connect().close(); // the real Redis is up, so the failure below is the credentials'
    RedisSettings real = TestRedis.settings();
    String password = "hunter2-" + UUID.randomUUID();
    RedisSettings wrong = new RedisSettings(real.host(), real.port(), "sluice-no-such-user-" + UUID.randomUUID(),
        password, real.ssl(), real.database());
    assertThatThrownBy(() -> RedisConnection.connect(wrong))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(real.describe())
        .hasMessageNotContaining(password)
        .satisfies(e -> assertThat(stackText(e)).doesNotContain(password));
  }

  private static String stackText(Throwable e) {
    StringBuilder sb = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      sb.append(t).append('\n');
      for (Throwable s : t.getSuppressed()) {
        sb.append(s).append('\n');
      }
    }
    return sb.toString();
  }
}
