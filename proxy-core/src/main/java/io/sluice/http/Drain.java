package io.sluice.http;

import io.netty.channel.Channel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Graceful drain, shared by every client channel of one gateway. While draining, {@code /health/readiness} answers
 * 503 (load balancers stop sending), every response carries {@code Connection: close} (keep-alive clients move to
 * another node), idle keep-alive connections are closed, and in-flight exchanges — streams included — run to their
 * end. Thread-safe.
 */
public final class Drain {
  /** Fired at every client channel when draining starts. */
  static final Object STARTED = new Object();

  private final ChannelGroup clients = new DefaultChannelGroup("sluice-clients", GlobalEventExecutor.INSTANCE);
  private final AtomicInteger inFlight = new AtomicInteger();
  private volatile boolean draining;

  public boolean draining() {
    return draining;
  }

  /** Exchanges whose response is not complete yet. */
  public int inFlight() {
    return inFlight.get();
  }

  void register(Channel ch) {
    clients.add(ch);
  }

  void exchangeStarted() {
    inFlight.incrementAndGet();
  }

  void exchangeEnded() {
    inFlight.decrementAndGet();
  }

  /**
   * Starts draining and waits until no exchange is in flight or {@code timeout} passed. Returns the number of
   * exchanges still in flight (0 = drained cleanly). Call from a non-event-loop thread.
   */
  public int drain(Duration timeout) throws InterruptedException {
    draining = true;
    for (Channel ch : clients) {
      ch.pipeline().fireUserEventTriggered(STARTED);
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    while (inFlight.get() > 0 && System.nanoTime() < deadline) {
      TimeUnit.MILLISECONDS.sleep(20);
    }
    return inFlight.get();
  }
}
