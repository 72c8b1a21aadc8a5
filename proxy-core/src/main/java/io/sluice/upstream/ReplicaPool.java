package io.sluice.upstream;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import io.sluice.config.ServerSettings;
import io.sluice.routing.Endpoint;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/** Connections to one endpoint from one event loop. Event loop only; see {@link UpstreamPools}. */
final class ReplicaPool {
  static final AttributeKey<ReplicaPool> POOL = AttributeKey.valueOf("sluice.pool");

  private final UpstreamPools owner;
  private final EventLoop loop;
  private final Endpoint endpoint;
  private final Bootstrap bootstrap;
  private final int maxOpen;
  private final int maxIdle;
  private final long acquireTimeoutNanos;
  /** When a connect last succeeded or a released connection was handed to a waiter. */
  private long progressNanos;
  private final ArrayDeque<Channel> idle = new ArrayDeque<>();
  private final ArrayDeque<Promise<Channel>> waiters = new ArrayDeque<>();
  private int open;
  /** Connects under way; at most {@link UpstreamPools#MAX_CONCURRENT_CONNECTS}, the rest wait as acquirers. */
  private int connecting;

  ReplicaPool(UpstreamPools owner, EventLoop loop, Endpoint endpoint, Bootstrap bootstrap, ServerSettings s) {
    this.owner = owner;
    this.loop = loop;
    this.endpoint = endpoint;
    this.bootstrap = bootstrap;
    this.maxOpen = s.maxConnectionsPerReplica();
    this.maxIdle = s.maxIdlePerReplica();
    this.acquireTimeoutNanos = s.connectTimeout().toNanos();
  }

  /** The most recently released idle connection still open (the likeliest to be open on the replica's side too). */
  Channel pollIdle() {
    Channel ch;
    while ((ch = idle.pollLast()) != null) {
      if (ch.isActive()) {
        return ch;
      }
    }
    return null;
  }

  Future<Channel> acquire() {
    Channel ch = pollIdle();
    if (ch != null) {
      return loop.newSucceededFuture(ch);
    }
    Promise<Channel> promise = loop.newPromise();
    if (open < maxOpen && connecting < UpstreamPools.MAX_CONCURRENT_CONNECTS) {
      connect(promise);
    } else if (waiters.size() < UpstreamPools.MAX_PENDING_ACQUIRES) {
      // At the connection limit, or at the limit of connects under way: wait for a released connection or for a
      // connect slot (pacing a burst, so that thousands of new streams do not open thousands of sockets at once
      // and time out in the replica's accept queue — issue 20 §2).
      waiters.add(promise);
      Wait w = new Wait(promise, System.nanoTime());
      w.arm(acquireTimeoutNanos);
      promise.addListener(f -> w.timer.cancel(false));
    } else {
      promise.setFailure(new PoolExhaustedException(endpoint + ": " + waiters.size()
          + " requests already wait for a connection from this event loop"));
    }
    return promise;
  }

  /**
   * An acquirer's wait. It fails only when the pool made no progress — no connect succeeded and no connection was
   * handed over — for {@code connect_timeout}: a long line behind paced connects or busy connections that keeps
   * moving is not a failure (8 000 new streams at once must all get a connection, issue 20 §2), while a replica that
   * stopped accepting or a pool whose connections never free fails its waiters within {@code connect_timeout}.
   */
  private final class Wait implements Runnable {
    final Promise<Channel> promise;
    final long since;
    ScheduledFuture<?> timer;

    Wait(Promise<Channel> promise, long since) {
      this.promise = promise;
      this.since = since;
    }

    void arm(long delayNanos) {
      timer = loop.schedule(this, delayNanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void run() {
      if (promise.isDone()) {
        return;
      }
      long now = System.nanoTime();
      long still = Math.max(progressNanos, since) + acquireTimeoutNanos - now;
      if (still > 0) {
        arm(still); // the line moved within connect_timeout: keep waiting
        return;
      }
      if (waiters.remove(promise)) {
        promise.tryFailure(new PoolExhaustedException("no connection to " + endpoint + " became free or connected "
            + "within " + TimeUnit.NANOSECONDS.toMillis(acquireTimeoutNanos) + " ms (sluice_settings.connect_timeout)"
            + " while " + (waiters.size() + 1) + " requests waited (" + open + " of " + maxOpen + " connections open, "
            + connecting + " connecting; waited " + TimeUnit.NANOSECONDS.toMillis(now - since) + " ms)"));
      }
    }
  }

  private void connect(Promise<Channel> promise) {
    open++;
    connecting++;
    owner.connects.increment();
    ChannelFuture cf = bootstrap.connect();
    Channel ch = cf.channel();
    ch.attr(POOL).set(this);
    ch.closeFuture().addListener(f -> onClosed(ch));
    cf.addListener(f -> {
      connecting--;
      connectWaiter(); // a connect slot is free: the next waiter's turn
      if (f.isSuccess()) {
        progressNanos = System.nanoTime();
        if (!promise.trySuccess(ch)) {
          release(ch); // the caller gave up meanwhile
        }
      } else {
        owner.connectFailures.increment();
        promise.tryFailure(f.cause());
      }
    });
  }

  void release(Channel ch) {
    if (!ch.isActive()) {
      return;
    }
    Promise<Channel> w;
    while ((w = waiters.poll()) != null) {
      if (w.trySuccess(ch)) {
        progressNanos = System.nanoTime();
        return;
      }
    }
    if (idle.size() >= maxIdle) {
      ch.close();
    } else {
      idle.addLast(ch);
    }
  }

  private void onClosed(Channel ch) {
    open--;
    idle.remove(ch);
    connectWaiter();
  }

  /** Starts a connect for the longest-waiting acquirer still waiting, when the limits allow one. */
  private void connectWaiter() {
    while (open < maxOpen && connecting < UpstreamPools.MAX_CONCURRENT_CONNECTS) {
      Promise<Channel> w = waiters.poll();
      if (w == null) {
        return;
      }
      if (!w.isDone()) {
        connect(w);
        return;
      }
    }
  }

  int connecting() {
    return connecting;
  }

  int open() {
    return open;
  }

  int idle() {
    return idle.size();
  }

  int pending() {
    return waiters.size();
  }

  Endpoint endpoint() {
    return endpoint;
  }
}
