package io.sluice.server.redis;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.sluice.auth.KeyHash;
import io.sluice.server.redis.RedisKeyCache.Script;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells every node of a cluster that keys or deployments changed, so that a block, delete, update or regenerate
 * on one node takes effect on the others within a second (each node keeps keys in its own L1 cache; the shared
 * L2 entry is already gone by then, see {@link RedisKeyCache#invalidate}).
 *
 * <p>Each change is one Lua script: {@code INCR sluice:changes:seq}, then {@code PUBLISH sluice:changes} of
 * {@code "<seq> <node> <kind>[ <hash hex>...]"} (kind {@code k} keys, {@code a} all keys, {@code d}
 * deployments, {@code e} end users; at most {@link #MAX_HASHES_PER_MESSAGE} hashes a message). Redis pub/sub is
 * fire and forget, so two safety nets catch a message that never arrived:
 *
 * <ul>
 *   <li>the <em>sweep</em>: every sweep interval the bus reads the sequence. Messages arrive in order on one link
 *       and a gap can only open across a reconnect, so the highest sequence seen in messages tells what arrived.
 *       If Redis was ahead at one sweep and what was seen has not caught up with that value by the next one
 *       (a message took more than one interval), the listener hears {@code allKeysChanged()} and
 *       {@code deploymentsChanged()};</li>
 *   <li>a <em>resubscription</em>: Lettuce reconnects a dropped pub/sub link and subscribes again; messages
 *       published meanwhile are lost, so the listener hears both "all changed" calls once the subscription is
 *       back (on the resubscription rather than on the reconnect: from then on no change can slip through).</li>
 * </ul>
 *
 * <p>A change published by this node is not handed to its own listener (the admin call that published it already
 * applied it locally); its sequence still counts as seen. Publishing never fails the caller: without Redis the
 * change is logged (at most once a minute) and other nodes keep what they cached until its TTL, the same bound as
 * a failed {@link RedisKeyCache#invalidate}. Logs name keys by {@link KeyHash#prefix()} only. The bus uses the
 * given {@link RedisConnection} for commands and opens its own pub/sub connection on the same client; it closes
 * only the latter.
 */
public final class RedisChangeBus implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RedisChangeBus.class);

  /** The pub/sub channel; the sequence key is this plus {@code :seq}. */
  public static final String CHANNEL = "sluice:changes";
  /** How often the sweep reads the sequence by default. */
  public static final Duration DEFAULT_SWEEP_INTERVAL = Duration.ofSeconds(1);
  /** Hashes per message (65 bytes each): a change of more keys goes out as several messages. */
  public static final int MAX_HASHES_PER_MESSAGE = 256;

  private static final Duration LOG_INTERVAL = Duration.ofMinutes(1);
  private static final Duration MIN_SWEEP_INTERVAL = Duration.ofMillis(10);
  private static final Pattern NODE_ID = Pattern.compile("[!-~]{1,100}"); // printable ASCII, no space
  private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

  /** KEYS[1] sequence; ARGV[1] channel, ARGV[2] the message after its sequence number. Returns the sequence. */
  static final Script PUBLISH = new Script(
      "local seq = redis.call('INCR', KEYS[1])\n"
          + "redis.call('PUBLISH', ARGV[1], seq .. ' ' .. ARGV[2])\n"
          + "return seq\n");

  /**
   * What a node does when others changed something. Called on a Lettuce I/O thread, possibly from two threads at
   * once (messages arrive on the pub/sub link, the sweep's verdict on the command link): implementations must be
   * thread safe and must not block (evict from a cache, or hand off to an executor). A throw is logged and
   * otherwise ignored. Every call is idempotent in effect: a call for a change this node already applied is
   * harmless, and the bus errs on the side of calling too often.
   */
  public interface Listener {
    /** These keys changed (blocked, deleted, updated, regenerated): forget them. */
    void keysChanged(Collection<KeyHash> hashes);

    /** Any key may have changed (a team or user change, or messages may have been missed): forget all. */
    void allKeysChanged();

    /** Deployments changed ({@code /model/new}, {@code /model/update}, {@code /model/delete}): reload them. */
    void deploymentsChanged();

    /**
     * End users or budgets changed ({@code /customer/*}, {@code /budget/update}): forget every cached end user. Also
     * heard whenever {@link #allKeysChanged} is (a missed message may have been about end users).
     */
    default void endUsersChanged() {}
  }

  private final RedisConnection redis;
  private final StatefulRedisPubSubConnection<String, String> pubsub;
  private final String channel;
  private final String sequenceKey;
  private final String nodeId;
  private final Listener listener;
  private final String where;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final LogThrottle publishFailures = new LogThrottle(LOG_INTERVAL);
  private final LogThrottle listenerFailures = new LogThrottle(LOG_INTERVAL);
  private final LogThrottle malformed = new LogThrottle(LOG_INTERVAL);

  /** The highest sequence number received in a message (or read at start). */
  private final AtomicLong seen = new AtomicLong();
  /** Subscription confirmations for {@link #channel}: the first is ours, each later one a resubscription. */
  private final AtomicInteger subscriptions = new AtomicInteger();
  /** Set after a full flush: the next sweep may take Redis' sequence as seen (the flush covered all before it). */
  private final AtomicBoolean resync = new AtomicBoolean();
  /** Whether a sweep's GET is in flight: sweeps never overlap, so the fields below need no more locking. */
  private final AtomicBoolean sweeping = new AtomicBoolean();
  /** Redis' sequence at the previous sweep if it was ahead of {@link #seen}, else 0. Sweep only. */
  private long lagTarget;
  /** Whether the previous sweep found Redis' sequence behind {@link #seen}. Sweep only. */
  private boolean wasBehind;
  /** Whether the sweep's last GET failed (one log line per incident). Sweep only. */
  private boolean sweepFailing;
  private volatile ScheduledFuture<?> sweepTask;

  private RedisChangeBus(RedisConnection redis, StatefulRedisPubSubConnection<String, String> pubsub,
      String channel, String nodeId, Listener listener) {
    this.redis = redis;
    this.pubsub = pubsub;
    this.channel = channel;
    this.sequenceKey = channel + ":seq";
    this.nodeId = nodeId;
    this.listener = listener;
    this.where = redis.describe();
  }

  /**
   * Subscribes to {@link #CHANNEL} and starts the sweep. Blocking (a connect, a SUBSCRIBE and a GET); call it
   * before the node serves keys, or evict them all after, since changes before the subscription are not heard.
   *
   * @param redis         the node's command connection (shared; the bus does not close it, close the bus first)
   * @param nodeId        this process, unique in the cluster ({@link #newNodeId()}); printable ASCII, no space,
   *                      at most 100 characters. Two nodes with one id would not hear each other.
   * @param listener      see {@link Listener}
   * @param sweepInterval how often the sequence is read (the bound on noticing a lost message is about twice
   *                      this), at least 10 ms; {@link #DEFAULT_SWEEP_INTERVAL} in production
   * @throws IllegalStateException if Redis cannot be reached; the message names {@code host:port/db} only
   */
  public static RedisChangeBus start(RedisConnection redis, String nodeId, Listener listener,
      Duration sweepInterval) {
    return start(redis, CHANNEL, nodeId, listener, sweepInterval);
  }

  /** {@link #start(RedisConnection, String, Listener, Duration)} on another channel (tests keep to their own). */
  static RedisChangeBus start(RedisConnection redis, String channel, String nodeId, Listener listener,
      Duration sweepInterval) {
    Objects.requireNonNull(redis, "redis");
    Objects.requireNonNull(channel, "channel");
    Objects.requireNonNull(listener, "listener");
    if (nodeId == null || !NODE_ID.matcher(nodeId).matches()) {
      throw new IllegalArgumentException("node id: expected 1-100 printable ASCII characters without spaces");
    }
    if (sweepInterval == null || sweepInterval.compareTo(MIN_SWEEP_INTERVAL) < 0) {
      throw new IllegalArgumentException("sweep interval: " + sweepInterval + " (expected: >= 10ms)");
    }
    StatefulRedisPubSubConnection<String, String> pubsub;
    try {
      pubsub = redis.connectPubSub();
    } catch (RuntimeException e) {
      throw new IllegalStateException("redis: cannot subscribe to changes on " + redis.describe() + ": "
          + redact(RedisConnection.rootCause(e), redis.settings()), e);
    }
    RedisChangeBus bus = new RedisChangeBus(redis, pubsub, channel, nodeId, listener);
    try {
      pubsub.addListener(bus.new Subscriber());
      long timeout = RedisConnection.CONNECT_TIMEOUT.toMillis();
      pubsub.async().subscribe(channel).get(timeout, TimeUnit.MILLISECONDS);
      // After the subscription: every change from here on arrives as a message.
      String seq = redis.async().get(bus.sequenceKey).get(timeout, TimeUnit.MILLISECONDS);
      bus.seen.accumulateAndGet(seq == null ? 0 : Long.parseLong(seq), Math::max);
      long nanos = sweepInterval.toNanos();
      bus.sweepTask = redis.scheduler().scheduleWithFixedDelay(bus::sweep, nanos, nanos, TimeUnit.NANOSECONDS);
    } catch (Exception e) {
      bus.close();
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      throw new IllegalStateException("redis: cannot subscribe to changes on " + redis.describe() + ": "
          + redact(RedisConnection.rootCause(e), redis.settings()), e);
    }
    LOG.info("redis {}: listening for key and deployment changes on {} as node {}", bus.where, channel, nodeId);
    return bus;
  }

  /** A fresh node id: a random UUID (unique per process start, as the bus needs). */
  public static String newNodeId() {
    return UUID.randomUUID().toString();
  }

  /** This node's id, as it appears in the messages it publishes. */
  public String nodeId() {
    return nodeId;
  }

  /**
   * Tells other nodes these keys changed. Completes once Redis has published the change (every subscribed node
   * then has the message in flight), or at once if {@code hashes} is empty or the bus is closed. Never completes
   * exceptionally: a Redis failure is logged and completes normally.
   */
  public CompletionStage<Void> publishKeys(Collection<KeyHash> hashes) {
    List<KeyHash> all = List.copyOf(hashes);
    if (all.isEmpty()) {
      return CompletableFuture.completedFuture(null);
    }
    List<CompletableFuture<Void>> parts = new ArrayList<>();
    for (int from = 0; from < all.size(); from += MAX_HASHES_PER_MESSAGE) {
      List<KeyHash> chunk = all.subList(from, Math.min(all.size(), from + MAX_HASHES_PER_MESSAGE));
      StringBuilder body = new StringBuilder(nodeId.length() + 2 + 65 * chunk.size()).append(nodeId).append(" k");
      for (KeyHash h : chunk) {
        body.append(' ').append(h.hex());
      }
      parts.add(publish(body.toString(), describeKeys(chunk)));
    }
    return parts.size() == 1 ? parts.get(0) : CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0]));
  }

  /** Tells other nodes any key may have changed (e.g. a team was blocked). Same completion as publishKeys. */
  public CompletionStage<Void> publishAllKeys() {
    return publish(nodeId + " a", "all keys");
  }

  /** Tells other nodes deployments changed. Same completion as {@link #publishKeys}. */
  public CompletionStage<Void> publishDeployments() {
    return publish(nodeId + " d", "deployments");
  }

  /** Tells other nodes end users (or budgets) changed. Same completion as {@link #publishKeys}. */
  public CompletionStage<Void> publishEndUsers() {
    return publish(nodeId + " e", "end users");
  }

  private CompletableFuture<Void> publish(String body, String what) {
    if (closed.get()) {
      LOG.debug("redis {}: change of {} not published: the change bus is closed", where, what);
      return CompletableFuture.completedFuture(null);
    }
    return eval(PUBLISH, new String[] {sequenceKey}, channel, body).handle((seq, err) -> {
      if (err != null) {
        long held = publishFailures.tryAcquire();
        if (held >= 0) {
          LOG.warn("redis {}: publishing the change of {} failed (other nodes keep what they cached until its TTL):"
              + " {}{}", where, what, RedisKeyCache.describe(err), held(held));
        }
      } else {
        LOG.debug("redis {}: published change {} of {}", where, seq, what);
      }
      return null;
    });
  }

  /** EVALSHA, falling back to EVAL (which also loads the script) when Redis does not know it yet. */
  private CompletableFuture<Long> eval(Script script, String[] keys, String... args) {
    try {
      RedisAsyncCommands<String, String> cmd = redis.async();
      return cmd.<Long>evalsha(script.sha1, ScriptOutputType.INTEGER, keys, args).toCompletableFuture()
          .exceptionallyCompose(err -> {
            if (unwrap(err) instanceof RedisNoScriptException) {
              return cmd.<Long>eval(script.text, ScriptOutputType.INTEGER, keys, args).toCompletableFuture();
            }
            return CompletableFuture.failedFuture(unwrap(err));
          });
    } catch (RuntimeException e) { // e.g. Lettuce already shut down
      return CompletableFuture.failedFuture(e);
    }
  }

  /** A message on the channel: {@code "<seq> <node> <kind>[ <hex>...]"}. Lettuce I/O thread. */
  private void onMessage(String message) {
    String[] parts = message.split(" ");
    long seq;
    try {
      seq = parts.length >= 3 ? Long.parseLong(parts[0]) : -1;
    } catch (NumberFormatException e) {
      seq = -1;
    }
    if (seq < 0) {
      logMalformed("unreadable message of " + message.length() + " characters");
      flushAll();
      return;
    }
    seen.accumulateAndGet(seq, Math::max);
    if (parts[1].equals(nodeId)) {
      return; // ours: applied locally by the call that published it
    }
    switch (parts[2]) {
      case "k": {
        List<KeyHash> hashes = new ArrayList<>(parts.length - 3);
        for (int i = 3; i < parts.length; i++) {
          if (!HEX64.matcher(parts[i]).matches()) {
            logMalformed("change " + seq + " names a malformed key hash");
            flushAll();
            return;
          }
          hashes.add(new KeyHash(parts[i]));
        }
        if (!hashes.isEmpty()) {
          LOG.debug("redis {}: change {} from node {}: {}", where, seq, parts[1], describeKeys(hashes));
          call(() -> listener.keysChanged(hashes));
        }
        return;
      }
      case "a":
        LOG.debug("redis {}: change {} from node {}: all keys", where, seq, parts[1]);
        call(listener::allKeysChanged);
        return;
      case "d":
        LOG.debug("redis {}: change {} from node {}: deployments", where, seq, parts[1]);
        call(listener::deploymentsChanged);
        return;
      case "e":
        LOG.debug("redis {}: change {} from node {}: end users", where, seq, parts[1]);
        call(listener::endUsersChanged);
        return;
      default: // a newer node's kind of change: forgetting everything is always correct
        logMalformed("change " + seq + " is of unknown kind '" + abbreviate(parts[2]) + "'");
        flushAll();
    }
  }

  /** Lettuce (re)subscribed us. Lettuce I/O thread. */
  private void onSubscribed() {
    if (subscriptions.incrementAndGet() > 1 && !closed.get()) {
      LOG.info("redis {}: change channel resubscribed after a reconnect: changes may have been missed, "
          + "forgetting all cached keys and reloading deployments", where);
      flushAll();
    }
  }

  /** One sweep tick (Lettuce computation thread): reads the sequence; the verdict runs in {@link #swept}. */
  private void sweep() {
    if (closed.get() || !sweeping.compareAndSet(false, true)) {
      return;
    }
    CompletableFuture<String> f;
    try {
      f = redis.async().get(sequenceKey).toCompletableFuture();
    } catch (RuntimeException e) {
      swept(null, e);
      return;
    }
    f.whenComplete(this::swept);
  }

  private void swept(String value, Throwable err) {
    try {
      if (closed.get()) {
        return;
      }
      if (err != null) {
        if (!sweepFailing) {
          sweepFailing = true;
          LOG.warn("redis {}: cannot read the change sequence (missed changes are noticed once Redis is back): {}",
              where, RedisKeyCache.describe(err));
        }
        return;
      }
      if (sweepFailing) {
        sweepFailing = false;
        LOG.info("redis {}: the change sequence is readable again", where);
      }
      long current;
      try {
        current = value == null ? 0 : Long.parseLong(value);
      } catch (NumberFormatException e) {
        logMalformed("the sequence key " + sequenceKey + " does not hold a number");
        return;
      }
      verdict(current);
    } finally {
      sweeping.set(false);
    }
  }

  /** Sweep only (never concurrently with itself): compares Redis' sequence with what messages brought. */
  private void verdict(long current) {
    if (resync.getAndSet(false)) {
      // A full flush happened before this GET's reply: every change up to `current` is covered by it or arrives
      // as a message (the flush followed the resubscription), so don't flush again for the same gap.
      seen.accumulateAndGet(current, Math::max);
      lagTarget = 0;
      wasBehind = false;
      return;
    }
    long s = seen.get();
    if (current < s) {
      // Once, this is a race (a message overtook this GET's reply); twice, the sequence was reset (FLUSHALL or
      // another Redis), and changes may have been lost with it.
      if (wasBehind) {
        LOG.warn("redis {}: the change sequence went back from {} to {}: forgetting all cached keys and reloading "
            + "deployments", where, s, current);
        seen.set(current);
        lagTarget = 0;
        wasBehind = false;
        flushAll();
        resync.set(false); // this verdict already took `current` as seen
      } else {
        wasBehind = true;
      }
      return;
    }
    wasBehind = false;
    if (lagTarget > 0 && s < lagTarget) {
      LOG.warn("redis {}: change {} was published but its message did not arrive within a sweep interval: "
          + "forgetting all cached keys and reloading deployments", where, lagTarget);
      seen.accumulateAndGet(current, Math::max);
      lagTarget = 0;
      flushAll();
      resync.set(false);
      return;
    }
    lagTarget = current > s ? current : 0;
  }

  private void flushAll() {
    call(listener::allKeysChanged);
    call(listener::endUsersChanged);
    call(listener::deploymentsChanged);
    resync.set(true);
  }

  private void call(Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      long held = listenerFailures.tryAcquire();
      if (held >= 0) {
        LOG.warn("redis {}: a change listener failed: {}{}", where, RedisKeyCache.describe(e), held(held));
      }
    }
  }

  private void logMalformed(String why) {
    long held = malformed.tryAcquire();
    if (held >= 0) {
      LOG.warn("redis {}: on {}: {}; forgetting all cached keys to be safe{}", where, channel, why, held(held));
    }
  }

  /** The highest sequence number seen (tests). */
  long seen() {
    return seen.get();
  }

  /**
   * Stops the sweep, unsubscribes and closes the pub/sub connection (not the command connection). Idempotent;
   * waits at most about a second for the UNSUBSCRIBE.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    ScheduledFuture<?> t = sweepTask;
    if (t != null) {
      t.cancel(false);
    }
    try {
      if (pubsub.isOpen()) {
        pubsub.async().unsubscribe(channel).get(1, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      LOG.debug("redis {}: unsubscribing from {} failed: {}", where, channel, RedisKeyCache.describe(e));
    }
    try {
      pubsub.close();
    } catch (RuntimeException e) {
      LOG.debug("redis {}: closing the pub/sub connection failed: {}", where, RedisKeyCache.describe(e));
    }
  }

  /** Lettuce's callbacks, on its I/O thread. */
  private final class Subscriber extends RedisPubSubAdapter<String, String> {
    @Override
    public void message(String ch, String message) {
      if (channel.equals(ch) && !closed.get()) {
        onMessage(message);
      }
    }

    @Override
    public void subscribed(String ch, long count) {
      if (channel.equals(ch)) {
        onSubscribed();
      }
    }
  }

  /** {@code 3 keys (1a2b3c4d, 5e6f7a8b, …)}: prefixes only. */
  private static String describeKeys(List<KeyHash> hashes) {
    StringBuilder sb = new StringBuilder().append(hashes.size()).append(hashes.size() == 1 ? " key (" : " keys (");
    for (int i = 0; i < Math.min(3, hashes.size()); i++) {
      sb.append(i == 0 ? "" : ", ").append(hashes.get(i).prefix());
    }
    return sb.append(hashes.size() > 3 ? ", …)" : ")").toString();
  }

  private static String abbreviate(String s) {
    String t = (s.length() > 8 ? s.substring(0, 8) : s).replaceAll("[^!-~]", "?");
    return s.length() > 8 ? t + "…" : t;
  }

  private static String held(long n) {
    return n > 0 ? " (" + n + " similar in the last minute not logged)" : "";
  }

  private static String redact(String why, RedisSettings settings) {
    return settings.password() == null ? why : why.replace(settings.password(), "***");
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }
}
