package io.sluice.server.redis;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.sluice.auth.KeyHash;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells every node at once which keys and deployments changed, so a block, delete, update or regenerate on one node
 * (and {@code /model/*} writes) take effect on all of them within a second rather than after their L1 TTL.
 *
 * <p>Each change INCRs {@code sluice:changes:seq} and PUBLISHes {@code "<seq> <node> K <hash> …"} (keys) or
 * {@code "<seq> <node> D"} (deployments) on {@code sluice:changes}, in one script. Subscribers drop those keys from
 * their L1 (the publisher already invalidated L2) or re-read deployments. Pub/sub is at-most-once: a message sent
 * while a node's subscription was down is lost. So every {@code sweepInterval} each node reads the sequence; if it is
 * ahead of the highest sequence the node received, and still was one sweep later (so not a message in flight), the
 * node assumes it missed something and drops its whole L1 and re-reads deployments. A sequence that went backwards
 * (Redis restarted empty) does the same. A node's own messages come back to it too; handling them is harmless.
 *
 * <p>Never fails its caller: a publish that Redis does not take is logged (at most once a minute); the other nodes
 * then catch up by their L1 TTL (60 s) — the bound without Redis. Logs name keys by {@link KeyHash#prefix()} only.
 */
public final class RedisChangeBus implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RedisChangeBus.class);
  public static final String CHANNEL = "sluice:changes";
  public static final String SEQ = "sluice:changes:seq";
  /** Hashes per message: a bulk change is sent in several. */
  static final int MAX_HASHES_PER_MESSAGE = 500;

  /** KEYS[1] the sequence; ARGV[1] channel, ARGV[2] "<node> <payload>". Returns the sequence. */
  static final RedisKeyCache.Script PUBLISH = new RedisKeyCache.Script(
      "local s = redis.call('INCR', KEYS[1])\n"
          + "redis.call('PUBLISH', ARGV[1], s .. ' ' .. ARGV[2])\n"
          + "return s\n");

  /** Told on a Lettuce or sweep thread: must not block (hand database work to an executor). */
  public interface Listener {
    void keysChanged(Collection<KeyHash> hashes);

    void allKeysChanged();

    void deploymentsChanged();
  }

  private final RedisConnection redis;
  private final String nodeId;
  private final Listener listener;
  private final StatefulRedisPubSubConnection<String, String> pubsub;
  private final ScheduledExecutorService sweeper;
  private final LogThrottle publishFailures = new LogThrottle(Duration.ofMinutes(1));
  private final LogThrottle sweepFailures = new LogThrottle(Duration.ofMinutes(1));
  /** Highest sequence received in a message (or adopted by a sweep). */
  private long seen = -1;
  /** The sequence a sweep found ahead of {@link #seen}, or -1. */
  private long ahead = -1;
  private volatile boolean closed;

  private RedisChangeBus(RedisConnection redis, String nodeId, Listener listener,
      StatefulRedisPubSubConnection<String, String> pubsub) {
    this.redis = redis;
    this.nodeId = nodeId;
    this.listener = listener;
    this.pubsub = pubsub;
    this.sweeper = Executors.newSingleThreadScheduledExecutor(new DefaultThreadFactory("sluice-change-sweep", true));
  }

  /** Subscribes (blocking until Redis answered, at most a few seconds) and starts the sweep. */
  public static RedisChangeBus start(RedisConnection redis, String nodeId, Listener listener,
      Duration sweepInterval) {
    StatefulRedisPubSubConnection<String, String> ps = redis.connectPubSub();
    RedisChangeBus bus = new RedisChangeBus(redis, nodeId, listener, ps);
    ps.addListener(new RedisPubSubAdapter<>() {
      @Override
      public void message(String channel, String message) {
        bus.onMessage(message);
      }
    });
    try {
      ps.sync().subscribe(CHANNEL);
      String s = redis.async().get(SEQ).toCompletableFuture().get(2, TimeUnit.SECONDS);
      synchronized (bus) {
        bus.seen = s == null ? 0 : Long.parseLong(s);
      }
    } catch (Exception e) {
      LOG.warn("change bus: Redis at {} did not answer at start ({}); the sweep catches up when it does",
          redis.describe(), RedisConnection.rootCause(e));
    }
    long ms = sweepInterval.toMillis();
    bus.sweeper.scheduleWithFixedDelay(bus::sweep, ms, ms, TimeUnit.MILLISECONDS);
    return bus;
  }

  /** Announces changed keys to every node (this one included). Completes normally even when Redis failed. */
  public CompletionStage<Void> publishKeys(Collection<KeyHash> hashes) {
    if (hashes.isEmpty()) {
      return CompletableFuture.completedFuture(null);
    }
    List<CompletableFuture<Void>> sent = new ArrayList<>();
    StringBuilder sb = null;
    int n = 0;
    for (KeyHash h : hashes) {
      if (sb == null) {
        sb = new StringBuilder(8 + 65 * Math.min(hashes.size(), MAX_HASHES_PER_MESSAGE)).append(nodeId).append(" K");
      }
      sb.append(' ').append(h.hex());
      if (++n == MAX_HASHES_PER_MESSAGE) {
        sent.add(publish(sb.toString(), hashes.size()));
        sb = null;
        n = 0;
      }
    }
    if (sb != null) {
      sent.add(publish(sb.toString(), hashes.size()));
    }
    return CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new));
  }

  /** Announces that stored deployments changed. */
  public CompletionStage<Void> publishDeployments() {
    return publish(nodeId + " D", 0);
  }

  private CompletableFuture<Void> publish(String payload, int keys) {
    if (closed) {
      return CompletableFuture.completedFuture(null);
    }
    String[] k = {SEQ};
    return redis.async().<Long>evalsha(PUBLISH.sha1, ScriptOutputType.INTEGER, k, CHANNEL, payload)
        .toCompletableFuture()
        .exceptionallyCompose(e -> unwrap(e) instanceof RedisNoScriptException
            ? redis.async().<Long>eval(PUBLISH.text, ScriptOutputType.INTEGER, k, CHANNEL, payload)
                .toCompletableFuture()
            : CompletableFuture.failedFuture(e))
        .handle((seq, e) -> {
          if (e != null && publishFailures.tryAcquire() >= 0) {
            LOG.warn("change bus: could not announce a change of {} to other nodes via Redis at {} ({}); they "
                + "pick it up within their key cache TTL", keys > 0 ? keys + " key(s)" : "deployments",
                redis.describe(), RedisConnection.rootCause(unwrap(e)));
          }
          return null;
        });
  }

  private void onMessage(String message) {
    int a = message.indexOf(' ');
    int b = a < 0 ? -1 : message.indexOf(' ', a + 1);
    if (a <= 0 || b < 0) {
      return; // not ours
    }
    long seq;
    try {
      seq = Long.parseLong(message.substring(0, a));
    } catch (NumberFormatException e) {
      return;
    }
    synchronized (this) {
      seen = Math.max(seen, seq);
    }
    String rest = message.substring(b + 1);
    try {
      if (rest.equals("D")) {
        listener.deploymentsChanged();
      } else if (rest.startsWith("K ")) {
        List<KeyHash> hashes = new ArrayList<>();
        for (String h : rest.substring(2).split(" ")) {
          if (h.length() == 64) {
            hashes.add(new KeyHash(h));
          }
        }
        listener.keysChanged(hashes);
      }
    } catch (RuntimeException e) {
      LOG.warn("change bus: listener failed: {}", e.toString());
    }
  }

  /** Catches a missed message: see the class comment. */
  void sweep() {
    if (closed) {
      return;
    }
    String s;
    try {
      s = redis.async().get(SEQ).toCompletableFuture().get(RedisConnection.COMMAND_TIMEOUT.toMillis() * 2,
          TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      if (sweepFailures.tryAcquire() >= 0) {
        LOG.warn("change bus: cannot read the change sequence from Redis at {} ({})", redis.describe(),
            RedisConnection.rootCause(unwrap(e)));
      }
      return;
    }
    long seq = s == null ? 0 : Long.parseLong(s);
    boolean missed;
    synchronized (this) {
      if (seq < seen) {
        missed = true; // Redis restarted without its data
      } else if (seq > seen) {
        missed = ahead >= 0 && ahead <= seq && seen < ahead; // ahead at the last sweep too: not in flight
        if (!missed) {
          ahead = seq;
          return;
        }
      } else {
        ahead = -1;
        return;
      }
      seen = seq;
      ahead = -1;
    }
    LOG.info("change bus: missed change message(s) (sequence {}); dropping this node's key cache and re-reading "
        + "deployments", seq);
    listener.allKeysChanged();
    listener.deploymentsChanged();
  }

  private static Throwable unwrap(Throwable e) {
    while ((e instanceof java.util.concurrent.CompletionException
        || e instanceof java.util.concurrent.ExecutionException) && e.getCause() != null) {
      e = e.getCause();
    }
    return e;
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    sweeper.shutdownNow();
    try {
      pubsub.close();
    } catch (RuntimeException e) {
      LOG.debug("closing the pub/sub connection: {}", e.toString());
    }
  }
}
