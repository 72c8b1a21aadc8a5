package io.sluice.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringDatagramChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import java.util.Locale;

/**
 * The socket transport of every event loop, listener and replica connection: {@code --transport} (env
 * {@code SLUICE_TRANSPORT}). {@code auto} is native epoll on Linux when its library loads, else NIO; {@code epoll}
 * and {@code io_uring} are asked for by name and fail the start, with the reason, when they cannot load (an old
 * kernel, {@code kernel.io_uring_disabled}, a seccomp profile that forbids {@code io_uring_setup}); {@code nio} is the
 * JDK's selector everywhere.
 */
record Transport(
    String name,
    IoHandlerFactory ioHandlerFactory,
    Class<? extends ServerChannel> serverChannel,
    ChannelFactory<? extends Channel> clientChannels,
    Class<? extends DatagramChannel> datagramChannel) {

  /** The names {@code --transport} takes. */
  static final java.util.List<String> NAMES = java.util.List.of("auto", "epoll", "io_uring", "nio");

  /** Refuses a name that is not one of {@link #NAMES}, saying which are (null is {@code auto}). */
  static void check(String name) {
    if (name != null && !NAMES.contains(name.toLowerCase(Locale.ROOT))) {
      throw new IllegalArgumentException("transport: unknown transport '" + name + "' (expected one of "
          + String.join(", ", NAMES) + ")");
    }
  }

  /**
   * The transport called {@code name} ({@code auto} when null); {@code allowNative} false turns {@code auto} into
   * NIO (tests, embedding).
   *
   * @throws IllegalArgumentException a native transport named explicitly is unavailable here (the message says why)
   */
  static Transport of(String name, boolean allowNative) {
    check(name);
    String n = name == null ? "auto" : name.toLowerCase(Locale.ROOT);
    switch (n) {
      case "epoll":
        if (!Epoll.isAvailable()) {
          throw new IllegalArgumentException("transport epoll is not available here: "
              + Epoll.unavailabilityCause() + " (use --transport auto or nio)");
        }
        return epoll();
      case "io_uring":
        if (!IoUring.isAvailable()) {
          throw new IllegalArgumentException("transport io_uring is not available here: "
              + IoUring.unavailabilityCause() + " (a kernel ≥ 5.14 with io_uring enabled is needed; use "
              + "--transport auto for epoll)");
        }
        return new Transport("io_uring", IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class,
            IoUringSocketChannel::new, IoUringDatagramChannel.class);
      case "nio":
        return nio();
      default:
        return allowNative && Epoll.isAvailable() ? epoll() : nio();
    }
  }

  private static Transport epoll() {
    return new Transport("epoll", EpollIoHandler.newFactory(), EpollServerSocketChannel.class,
        EpollSocketChannel::new, EpollDatagramChannel.class);
  }

  private static Transport nio() {
    return new Transport("nio", NioIoHandler.newFactory(), NioServerSocketChannel.class, NioSocketChannel::new,
        NioDatagramChannel.class);
  }

  EventLoopGroup newGroup(int threads) {
    return new MultiThreadIoEventLoopGroup(threads, ioHandlerFactory);
  }
}
