package io.sluice.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.netty.util.concurrent.Future;
import io.sluice.config.ServerSettings;
import io.sluice.routing.Endpoint;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Issue 20 §2: a burst of acquires for one replica opens at most {@link UpstreamPools#MAX_CONCURRENT_CONNECTS}
 * connections at a time; the rest wait for a connect slot and all get a connection — none fails for the pacing.
 */
class ConnectPacingTest {
  static final int BURST = 600;

  /** Accepts every connection to {@code server} on a daemon thread, into {@code accepted}, until it closes. */
  static void acceptAll(ServerSocket server, List<Socket> accepted) {
    Thread acceptor = new Thread(() -> {
      try {
        while (!server.isClosed()) {
          accepted.add(server.accept());
        }
      } catch (java.io.IOException closed) {
        // done
      }
    });
    acceptor.setDaemon(true);
    acceptor.start();
  }

  @Test
  void aBurstOfAcquiresConnectsInPacedWavesAndEveryAcquirerGetsAConnection() throws Exception {
    List<Socket> accepted = new CopyOnWriteArrayList<>();
    try (ServerSocket server = new ServerSocket(0, BURST * 2, InetAddress.getLoopbackAddress())) {
      acceptAll(server, accepted);
      ServerSettings d = ServerSettings.defaults();
      ServerSettings s = new ServerSettings(d.maxUriLength(), d.maxHeaderSize(), d.requestReadTimeout(),
          d.idleTimeout(), Duration.ofSeconds(10), d.upstreamIdleTimeout(), BURST * 2, BURST, d.limitsFailClosed());
      MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
      UpstreamPools pools = new UpstreamPools(s, NioSocketChannel::new, DefaultAddressResolverGroup.INSTANCE,
          ChannelInboundHandlerAdapter::new);
      try {
        EventLoop loop = group.next();
        Endpoint endpoint = new Endpoint("127.0.0.1", server.getLocalPort(), false);
        AtomicInteger maxConnecting = new AtomicInteger();
        List<Future<Channel>> acquired = loop.submit(() -> {
          List<Future<Channel>> fs = new ArrayList<>();
          for (int i = 0; i < BURST; i++) {
            fs.add(pools.acquire(loop, endpoint));
            maxConnecting.accumulateAndGet(pools.pool(loop, endpoint).connecting(), Math::max);
          }
          return fs;
        }).get(10, TimeUnit.SECONDS);
        int ok = 0;
        for (Future<Channel> f : acquired) {
          assertThat(f.await(10, TimeUnit.SECONDS)).isTrue();
          assertThat(f.cause()).as("no acquirer fails for the pacing").isNull();
          ok++;
        }
        assertThat(ok).isEqualTo(BURST);
        assertThat(maxConnecting.get()).as("connects under way at once").isEqualTo(UpstreamPools.MAX_CONCURRENT_CONNECTS);
        assertThat(pools.connectsTotal()).isEqualTo(BURST);
        loop.submit(() -> acquired.forEach(f -> f.getNow().close())).get(10, TimeUnit.SECONDS);
      } finally {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        for (Socket a : accepted) {
          a.close();
        }
      }
    }
  }

  /**
   * One connection, connect_timeout 200 ms, five waiters handed the connection one after another every 120 ms: the
   * last waits ≈ 600 ms, three times connect_timeout, and gets it, because the line moved; a waiter behind a
   * connection that is never released fails after connect_timeout, with a message that says so.
   */
  @Test
  void aWaiterFailsOnlyWhenTheLineStopsMovingForConnectTimeout() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
      List<Socket> accepted = new CopyOnWriteArrayList<>();
      acceptAll(server, accepted);
      ServerSettings d = ServerSettings.defaults();
      ServerSettings s = new ServerSettings(d.maxUriLength(), d.maxHeaderSize(), d.requestReadTimeout(),
          d.idleTimeout(), Duration.ofMillis(200), d.upstreamIdleTimeout(), 1, 1, d.limitsFailClosed());
      MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
      UpstreamPools pools = new UpstreamPools(s, NioSocketChannel::new, DefaultAddressResolverGroup.INSTANCE,
          ChannelInboundHandlerAdapter::new);
      try {
        EventLoop loop = group.next();
        Endpoint endpoint = new Endpoint("127.0.0.1", server.getLocalPort(), false);
        Future<Channel> first = loop.submit(() -> pools.acquire(loop, endpoint)).get(5, TimeUnit.SECONDS);
        assertThat(first.await(5, TimeUnit.SECONDS)).isTrue();
        assertThat(first.cause()).isNull();
        List<Future<Channel>> line = loop.submit(() -> {
          List<Future<Channel>> fs = new ArrayList<>();
          for (int i = 0; i < 5; i++) {
            fs.add(pools.acquire(loop, endpoint));
          }
          return fs;
        }).get(5, TimeUnit.SECONDS);
        long t0 = System.nanoTime();
        Channel held = first.getNow();
        for (Future<Channel> next : line) {
          Thread.sleep(120);
          Channel h = held;
          loop.submit(() -> pools.release(h)).get(5, TimeUnit.SECONDS);
          assertThat(next.await(5, TimeUnit.SECONDS)).isTrue();
          assertThat(next.cause()).as("the line moved every 120 ms: no waiter fails").isNull();
          held = next.getNow();
        }
        assertThat((System.nanoTime() - t0) / 1_000_000).as("the last waited well past connect_timeout")
            .isGreaterThanOrEqualTo(550);
        long t1 = System.nanoTime();
        Future<Channel> stuck = loop.submit(() -> pools.acquire(loop, endpoint)).get(5, TimeUnit.SECONDS);
        assertThat(stuck.await(5, TimeUnit.SECONDS)).isTrue();
        long waited = (System.nanoTime() - t1) / 1_000_000;
        assertThat(stuck.cause()).isInstanceOf(PoolExhaustedException.class)
            .hasMessageContaining("within 200 ms (sluice_settings.connect_timeout)")
            .hasMessageContaining("1 of 1 connections open");
        assertThat(waited).as("no progress: fails after connect_timeout").isBetween(150L, 2000L);
        Channel last = held;
        loop.submit(() -> last.close()).get(5, TimeUnit.SECONDS);
      } finally {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
        for (Socket a : accepted) {
          a.close();
        }
      }
    }
  }
}
