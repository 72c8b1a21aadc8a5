package io.sluice.server.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.metrics.CommandLatencyRecorder;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.Delay;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Lettuce client and one multiplexed connection to Redis, tuned for a cache that must never slow a request
 * down: commands time out after {@link #COMMAND_TIMEOUT}; while the link is down, commands are rejected at once
 * ({@code REJECT_COMMANDS}) instead of queueing, and Lettuce reconnects in the background (backing off to at most
 * {@link #MAX_RECONNECT_DELAY}). Lettuce runs its own small event loops (Lettuce's minimum of two I/O and two
 * computation threads, of which one connection starts one I/O thread) plus its timer thread; it does not share the
 * server's loops. Futures complete on that I/O thread: continuations must not block.
 *
 * <p>Messages and logs name the server as {@link RedisSettings#describe()}, never with credentials.
 */
public final class RedisConnection implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RedisConnection.class);

  /** Per-command timeout: an L2 lookup slower than this is a miss. */
  public static final Duration COMMAND_TIMEOUT = Duration.ofMillis(500);
  /** TCP connect timeout (and the limit for the connection handshake). */
  public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
  /** Upper bound of the reconnect back-off once Redis went away. */
  public static final Duration MAX_RECONNECT_DELAY = Duration.ofSeconds(5);
  /** What {@link #ping()} waits for an answer. */
  public static final Duration PING_TIMEOUT = Duration.ofMillis(500);

  /**
   * Lettuce's floor for both pools (it raises smaller sizes to 2, logging at INFO). Netty starts loop threads
   * lazily, so the one connection here only ever starts one I/O thread.
   */
  private static final int LETTUCE_MIN_THREADS = 2;

  private final RedisSettings settings;
  private final ClientResources resources;
  private final RedisClient client;
  private final StatefulRedisConnection<String, String> connection;
  private volatile boolean closed;

  private RedisConnection(RedisSettings settings, ClientResources resources, RedisClient client,
      StatefulRedisConnection<String, String> connection) {
    this.settings = settings;
    this.resources = resources;
    this.client = client;
    this.connection = connection;
  }

  /**
   * Connects now (blocking, at most about {@link #CONNECT_TIMEOUT} plus the handshake).
   *
   * @throws IllegalStateException if Redis cannot be reached or refuses the credentials; the message names
   *                               {@code host:port/db}, never the password
   */
  public static RedisConnection connect(RedisSettings settings) {
    Objects.requireNonNull(settings, "settings");
    ClientResources resources = DefaultClientResources.builder()
        .ioThreadPoolSize(LETTUCE_MIN_THREADS)
        .computationThreadPoolSize(LETTUCE_MIN_THREADS)
        .commandLatencyRecorder(CommandLatencyRecorder.disabled())
        .reconnectDelay(Delay.exponential(Duration.ofMillis(50), MAX_RECONNECT_DELAY, 2, TimeUnit.MILLISECONDS))
        .build();
    RedisClient client = null;
    try {
      client = RedisClient.create(resources);
      client.setOptions(ClientOptions.builder()
          .autoReconnect(true)
          .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
          .timeoutOptions(TimeoutOptions.enabled(COMMAND_TIMEOUT))
          .socketOptions(SocketOptions.builder().connectTimeout(CONNECT_TIMEOUT).keepAlive(true).build())
          .build());
      StatefulRedisConnection<String, String> conn = client.connect(StringCodec.UTF8, uri(settings));
      LOG.info("redis: connected to {}{}", settings.describe(), settings.ssl() ? " (TLS)" : "");
      return new RedisConnection(settings, resources, client, conn);
    } catch (RuntimeException e) {
      shutdown(client, resources);
      String why = rootCause(e);
      if (settings.password() != null) {
        why = why.replace(settings.password(), "***");
      }
      throw new IllegalStateException("redis: cannot connect to " + settings.describe() + ": " + why, e);
    }
  }

  private static RedisURI uri(RedisSettings s) {
    RedisURI.Builder b = RedisURI.Builder.redis(s.host(), s.port())
        .withSsl(s.ssl())
        .withDatabase(s.database())
        .withTimeout(CONNECT_TIMEOUT);
    if (s.password() != null) {
      if (s.username() != null) {
        b.withAuthentication(s.username(), s.password());
      } else {
        b.withPassword((CharSequence) s.password());
      }
    }
    return b.build();
  }

  /** Where this connection points, for logs: {@code host:port/db}. */
  public String describe() {
    return settings.describe();
  }

  public RedisSettings settings() {
    return settings;
  }

  /** The shared async command API (thread safe; commands are pipelined over the one connection). */
  public RedisAsyncCommands<String, String> async() {
    return connection.async();
  }

  /**
   * A second, pub/sub connection on this client: same server, options and Lettuce threads. Blocking, like
   * {@link #connect}; the caller closes it (before this connection).
   *
   * @throws IllegalStateException once this connection is closed
   * @throws io.lettuce.core.RedisConnectionException if Redis cannot be reached
   */
  StatefulRedisPubSubConnection<String, String> connectPubSub() {
    if (closed) {
      throw new IllegalStateException("redis: the connection to " + settings.describe() + " is closed");
    }
    return client.connectPubSub(StringCodec.UTF8, uri(settings));
  }

  /** Lettuce's timer-capable computation threads, for small periodic tasks that must not block. */
  ScheduledExecutorService scheduler() {
    return resources.eventExecutorGroup();
  }

  /** Whether {@link #close()} was called. */
  public boolean isClosed() {
    return closed;
  }

  /** Whether the link is up now (false while Lettuce reconnects or after {@link #close()}). */
  public boolean isOpen() {
    return !closed && connection.isOpen();
  }

  /** Readiness: whether Redis answers PING within {@link #PING_TIMEOUT}. Blocks; never throws. */
  public boolean ping() {
    return ping(PING_TIMEOUT);
  }

  /** Readiness: whether Redis answers PING within {@code timeout}. Blocks; never throws. */
  public boolean ping(Duration timeout) {
    try {
      return pingAsync().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (Exception e) {
      return false;
    }
  }

  /** PING without blocking: completes true on {@code PONG}, false on any failure (never exceptionally). */
  public CompletionStage<Boolean> pingAsync() {
    if (closed) {
      return CompletableFuture.completedFuture(false);
    }
    try {
      return connection.async().ping().toCompletableFuture()
          .handle((pong, err) -> err == null && "PONG".equalsIgnoreCase(pong));
    } catch (RuntimeException e) {
      return CompletableFuture.completedFuture(false);
    }
  }

  /** Closes the connection and stops Lettuce's threads. Idempotent. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      connection.close();
    } catch (RuntimeException e) {
      LOG.debug("redis: closing the connection to {} failed: {}", settings.describe(), e.toString());
    }
    shutdown(client, resources);
  }

  private static void shutdown(RedisClient client, ClientResources resources) {
    try {
      if (client != null) {
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      }
    } catch (RuntimeException e) {
      LOG.debug("redis: client shutdown failed: {}", e.toString());
    }
    try {
      resources.shutdown(0, 2, TimeUnit.SECONDS).get(3, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      LOG.debug("redis: resources shutdown failed: {}", e.toString());
    }
  }

  /** The innermost cause as {@code Type: message}: Lettuce's own messages carry addresses, not credentials. */
  static String rootCause(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String msg = t.getMessage();
    return t.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
  }
}
