package io.sluice.http;

import io.netty.channel.Channel;

/**
 * Per client connection state shared by the gateway's handlers: who holds the channel's auto-read off.
 * Several handlers need reads paused for their own reason (an async key lookup, a queued pipelined request,
 * backpressure from the upstream); auto-read is on only while no reason holds. Event loop only.
 */
final class ClientConnection {
  static final int PAUSE_PIPELINED = 1;
  static final int PAUSE_AUTH = 1 << 1;
  static final int PAUSE_UPSTREAM_BACKPRESSURE = 1 << 2;
  static final int PAUSE_LIMITS = 1 << 3;
  static final int PAUSE_END_USER = 1 << 4;

  final Channel channel;
  private int pauseReasons;
  /** Reused by every response of this connection (one at a time): see {@link Exchange#respondBytes}. */
  final ResponseFields responseFields = new ResponseFields();
  private io.sluice.http.wire.RelayedHead relayedHead;

  io.sluice.http.wire.RelayedHead relayedHead() {
    if (relayedHead == null) {
      relayedHead = new io.sluice.http.wire.RelayedHead();
    }
    return relayedHead;
  }

  ClientConnection(Channel channel) {
    this.channel = channel;
  }

  void pauseReads(int reason) {
    int before = pauseReasons;
    pauseReasons |= reason;
    if (before == 0 && pauseReasons != 0) {
      channel.config().setAutoRead(false);
    }
  }

  void resumeReads(int reason) {
    int before = pauseReasons;
    pauseReasons &= ~reason;
    if (before != 0 && pauseReasons == 0) {
      channel.config().setAutoRead(true);
    }
  }

  boolean readsPaused() {
    return pauseReasons != 0;
  }
}
