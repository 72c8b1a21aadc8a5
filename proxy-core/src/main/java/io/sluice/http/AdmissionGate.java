package io.sluice.http;

import io.sluice.config.AdmissionSettings;
import io.sluice.routing.Deployment;
import io.sluice.routing.DeploymentLoad;
import io.sluice.routing.FairQueue;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Fair admission (issue 20 §2): while every available replica of a model group is saturated, new requests wait here
 * — holding their body bytes, no upstream connection — in per-tenant queues served by weighted fair queueing
 * ({@link FairQueue}), and go on when a replica frees a slot.
 *
 * <p>A replica is saturated when this node has {@code max_parallel_requests} requests in flight to it, or its last
 * scraped {@code vllm:num_requests_waiting} / {@code vllm:kv_cache_usage_perc} is above {@code fair_admission}'s
 * thresholds — the queue estimated between scrapes from this node's own requests since the last one
 * ({@link io.sluice.routing.DeploymentLoad#queueRoom}), so a burst inside one scrape interval cannot pile onto vLLM's
 * queue unseen. Requests this node passed or let go but that are not yet in flight ({@code pending}: the connect or
 * the hop to their loop) hold a slot too, so a burst cannot overshoot {@code max_parallel_requests} before the
 * replica's own in-flight count catches up.
 *
 * <p>Threading: one gate for the whole node, shared by every event loop, because the slots it hands out (in-flight
 * counts per replica) are shared. Its state is guarded by one monitor held only for O(tenants) queue operations —
 * never for I/O, never while anything is written; the requests let go resume on their own channel's event loop
 * ({@link Ticket#loop}). On the hot path without waiters it takes no lock and allocates nothing: an arriving
 * request reads {@link #queued} (one volatile load) and the group's load counters; a finishing one reads
 * {@link #queued} only.
 */
public final class AdmissionGate {
  /** How often a gate with waiters re-checks saturation (scraped thresholds drop without a request finishing). */
  static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  /** Why a request left the queue without being admitted ({@code reason} label). */
  enum Shed { TIMEOUT, FULL, GONE }

  /** Metric hooks; {@link #NONE} without metrics. Called outside the gate's lock. */
  interface Listener {
    Listener NONE = new Listener() {};

    default void queued(String group, String tenant) {}

    default void admitted(String group, String tenant, long waitedNanos) {}

    default void shed(String group, String tenant, Shed reason) {}
  }

  /** A queued request: where it resumes, and its place in the queue. Event-loop fields are its loop's only. */
  static final class Ticket {
    final EventExecutor loop;
    final String group;
    final String tenant;
    /** Runs on {@link #loop} once the ticket is let go. */
    Runnable admit;
    /** Runs on {@link #loop} once the ticket's deadline passed and the gate removed it. */
    Runnable expired;
    FairQueue.Entry<Ticket> entry;
    io.netty.util.concurrent.ScheduledFuture<?> timer;

    Ticket(EventExecutor loop, String group, String tenant) {
      this.loop = loop;
      this.group = group;
      this.tenant = tenant;
    }
  }

  private static final class Group {
    /** Guarded by the gate. */
    final FairQueue<Ticket> queue;
    /** Requests passed or let go but not yet in flight: each holds a slot (lock-free). */
    final AtomicInteger pending = new AtomicInteger();

    Group(FairQueue<Ticket> queue) {
      this.queue = queue;
    }
  }

  private final AdmissionSettings settings;
  private final RegistryHolder registry;
  private final boolean thresholds;
  private final FairQueue.ByteBudget budget;
  /** One per model group ever watched (bounded by the groups); kept, so its pending count is never lost. */
  private final Map<String, Group> groups = new ConcurrentHashMap<>();
  /** Waiting requests, all groups: the lock-free "anything to do?" of the hot path. */
  private final AtomicInteger queued = new AtomicInteger();
  private final AtomicBoolean ticking = new AtomicBoolean();
  private final java.util.function.LongSupplier clock;
  volatile Listener listener = Listener.NONE;

  public AdmissionGate(AdmissionSettings settings, RegistryHolder registry) {
    this(settings, registry, System::nanoTime);
  }

  AdmissionGate(AdmissionSettings settings, RegistryHolder registry, java.util.function.LongSupplier clock) {
    this.settings = settings;
    this.registry = registry;
    this.thresholds = settings.maxWaiting() != null || settings.maxKvCacheUsage() != null;
    this.budget = new FairQueue.ByteBudget(settings.maxQueuedBytes());
    this.clock = clock;
  }

  /** The gate for these settings, or null when fair admission is off. */
  public static AdmissionGate of(AdmissionSettings settings, RegistryHolder registry) {
    return settings.enabled() ? new AdmissionGate(settings, registry) : null;
  }

  AdmissionSettings settings() {
    return settings;
  }

  /** Whether the gate can ever hold {@code g}'s requests: a field read or two, no allocation. */
  boolean watches(ModelGroup g) {
    return thresholds || g.parallelLimits();
  }

  /** Requests waiting, all groups. */
  int queued() {
    return queued.get();
  }

  /**
   * The tenant a request queues as, which is also its metric label: the key's alias, else the key's team id, else
   * the key's hash prefix ({@code key-1a2b3c4d}) — never the key. Keys without an alias in one team share its queue.
   */
  static String tenant(Exchange ex) {
    io.sluice.auth.KeyRecord k = ex.principal == null ? null : ex.principal.key();
    if (k == null) {
      return ex.principal != null && ex.principal.isMaster() ? "proxy_admin" : "-";
    }
    if (k.alias() != null) {
      return k.alias();
    }
    return k.teamId() != null ? k.teamId() : "key-" + k.hash().prefix();
  }

  double weight(Exchange ex) {
    io.sluice.auth.KeyRecord k = ex.principal == null ? null : ex.principal.key();
    if (k != null && k.alias() != null) {
      Double w = settings.keyWeights().get(k.alias());
      if (w != null) {
        return w;
      }
    }
    String team = ex.principal == null ? null : ex.principal.teamId();
    Double w = team == null ? null : settings.teamWeights().get(team);
    return w == null ? 1 : w;
  }

  /**
   * The hot path's try: true when nothing waits and a replica of {@code g} has room — the caller then holds a slot
   * until its request is in flight ({@link #release}). No lock, no allocation; false means build a ticket and
   * {@link #offer} it.
   */
  boolean tryPass(ModelGroup g) {
    return queued.get() == 0 && reserve(g, group(g.name()));
  }

  /** What {@link #offer} decided. */
  enum Verdict { PASS, QUEUED, FULL }

  /**
   * An arriving request for {@code g}: PASS when it may go on now (nothing waits and a replica has room), QUEUED
   * when {@code t} now waits (its {@code admit} runs on its loop once a slot frees), FULL when its bytes do not fit
   * the queue's cap.
   */
  Verdict offer(ModelGroup g, Ticket t, long bytes, double weight) {
    Group q = group(g.name());
    if (queued.get() == 0 && reserve(g, q)) {
      return Verdict.PASS; // the common case: no lock; the caller holds a slot until it is in flight (release)
    }
    synchronized (this) {
      if (q.queue.size() == 0 && reserve(g, q)) {
        return Verdict.PASS;
      }
      FairQueue.Entry<Ticket> e = q.queue.offer(t, new FairQueue.Tenant(t.tenant, weight), bytes,
          settings.queueTimeout().toNanos());
      if (e == null) {
        return Verdict.FULL;
      }
      t.entry = e;
      queued.incrementAndGet();
    }
    listener.queued(t.group, t.tenant);
    return Verdict.QUEUED;
  }

  private Group group(String name) {
    Group q = groups.get(name);
    return q != null ? q : groups.computeIfAbsent(name, n -> new Group(new FairQueue<>(clock, budget)));
  }

  /**
   * Takes a slot of {@code g} when one is free, counting the others taken but not yet in flight; lock-free (two
   * requests racing for the last slot get different counts, so only one wins).
   */
  private boolean reserve(ModelGroup g, Group q) {
    int p = q.pending.incrementAndGet();
    if (!saturated(g, p - 1)) {
      return true;
    }
    q.pending.decrementAndGet();
    return false;
  }

  /** Removes a ticket that still waits (client gone, or its deadline passed). Returns whether it still waited. */
  boolean remove(Ticket t, Shed why) {
    boolean removed;
    synchronized (this) {
      Group q = groups.get(t.group);
      removed = q != null && t.entry != null && q.queue.remove(t.entry);
      if (removed) {
        queued.decrementAndGet();
      }
    }
    if (removed) {
      listener.shed(t.group, t.tenant, why);
    }
    return removed;
  }

  /**
   * A request that passed or was let go is now in flight (the replica's own count holds its slot) or gave up: its
   * reservation of {@code groupName} ends. Lock-free; any thread.
   */
  void release(String groupName) {
    Group q = groups.get(groupName);
    if (q != null && q.pending.decrementAndGet() < 0) {
      q.pending.incrementAndGet(); // never below zero (defensive)
    }
  }

  /**
   * A slot may have freed (a request to a replica of {@code groupName} ended): lets go as many waiters as the group
   * has room for. Cheap when nothing waits: one volatile read. Any thread; never runs a waiter here.
   */
  void freed(String groupName) {
    if (queued.get() == 0) {
      return;
    }
    drain(groupName);
  }

  /** Lets go the waiters {@code groupName} has room for, each resumed on its own loop. */
  void drain(String groupName) {
    List<Ticket> go = null;
    List<FairQueue.Entry<Ticket>> expired = null;
    ModelGroup g = registry.get().group(groupName);
    synchronized (this) {
      Group q = groups.get(groupName);
      if (q == null) {
        return;
      }
      if (q.queue.nextDeadline() - clock.getAsLong() <= 0) {
        expired = new ArrayList<>();
        q.queue.expire(expired::add);
        queued.addAndGet(-expired.size());
      }
      while (q.queue.size() > 0 && (g == null || reserve(g, q))) {
        FairQueue.Entry<Ticket> e = q.queue.poll(); // its slot is reserved: released once in flight
        queued.decrementAndGet();
        if (go == null) {
          go = new ArrayList<>();
        }
        go.add(e.value);
      }
    }
    if (expired != null) {
      for (FairQueue.Entry<Ticket> e : expired) {
        Ticket t = e.value;
        listener.shed(t.group, t.tenant, Shed.TIMEOUT);
        t.loop.execute(t.expired);
      }
    }
    if (go != null) {
      long now = clock.getAsLong();
      for (Ticket t : go) {
        listener.admitted(t.group, t.tenant, now - t.entry.enqueuedNanos);
        t.loop.execute(t.admit);
      }
    }
  }

  /** Re-checks every group with waiters; the periodic tick's body. */
  void drainAll() {
    for (Map.Entry<String, Group> e : groups.entrySet()) {
      if (e.getValue().queue.size() > 0) { // a racy read: the drain itself checks under the lock
        drain(e.getKey());
      }
    }
  }

  /**
   * Keeps one periodic re-check running on {@code loop} while anything waits: scraped thresholds can clear without
   * a request of this node finishing.
   */
  void ensureTick(EventExecutor loop) {
    if (ticking.compareAndSet(false, true)) {
      loop.schedule(() -> tick(loop), TICK_NANOS, TimeUnit.NANOSECONDS);
    }
  }

  private void tick(EventExecutor loop) {
    drainAll();
    ticking.set(false);
    if (queued.get() > 0) {
      ensureTick(loop);
    }
  }

  /** Waiting requests of {@code group} and tenant label {@code tenant} (a gauge's read; takes the lock). */
  synchronized int depth(String group, String tenant) {
    Group q = groups.get(group);
    return q == null ? 0 : q.queue.size(tenant);
  }

  /**
   * Whether every available replica of {@code g} is saturated, counting {@code pending} requests let go but not yet
   * in flight as taking slots. A group with no available replica is not (routing answers that, as before).
   */
  boolean saturated(ModelGroup g, int pending) {
    long now = registry.nanoTime(); // cooldowns are judged on the registry's clock, as the relay judges them
    long free = 0;
    boolean any = false;
    for (Deployment d : g.deployments()) {
      if (d.health().coolingAt(now)) {
        continue;
      }
      any = true;
      DeploymentLoad load = d.load();
      long room = Long.MAX_VALUE; // requests this replica can still take
      if (thresholds && load.hasScrape()) {
        if (settings.maxKvCacheUsage() != null && load.kvCache() > settings.maxKvCacheUsage()) {
          continue; // saturated by vLLM's cache
        }
        if (settings.maxWaiting() != null && (room = load.queueRoom(settings.maxWaiting())) == 0) {
          continue; // saturated by vLLM's queue (as scraped, plus this node's requests since the scrape)
        }
      }
      Integer max = d.config().maxParallelRequests();
      if (max != null) {
        room = Math.min(room, Math.max(0, max - load.inFlight()));
      }
      if (room == Long.MAX_VALUE) {
        return false; // no slot limit and below the thresholds by an unknown margin: room
      }
      free += room;
      if (free > pending) {
        return false; // room enough: the rest need not be read
      }
    }
    return any && free <= pending;
  }

  /** The tenant labels with waiters in {@code group}, for tests. */
  synchronized java.util.Set<String> tenants(String group) {
    Group q = groups.get(group);
    return q == null ? java.util.Set.of() : q.queue.tenants();
  }

  /** Metrics: queue depth gauges (registered per series on first sight), wait histogram, admitted/shed counters. */
  static Listener metrics(AdmissionGate gate, io.sluice.metrics.GatewayMetrics m) {
    Map<String, Boolean> gauges = new ConcurrentHashMap<>();
    return new Listener() {
      @Override
      public void queued(String group, String tenant) {
        if (gauges.putIfAbsent(group + '\u0000' + tenant, Boolean.TRUE) == null) {
          m.gauge(io.sluice.metrics.Families.ADMISSION_QUEUE_DEPTH, () -> gate.depth(group, tenant), group, tenant);
        }
      }

      @Override
      public void admitted(String group, String tenant, long waitedNanos) {
        m.counter(io.sluice.metrics.Families.ADMISSION_ADMITTED, group, tenant).inc();
        m.histogram(io.sluice.metrics.Families.ADMISSION_WAIT, group, tenant).update(waitedNanos);
      }

      @Override
      public void shed(String group, String tenant, Shed reason) {
        m.counter(io.sluice.metrics.Families.ADMISSION_SHED, group, tenant,
            reason.name().toLowerCase(java.util.Locale.ROOT)).inc();
      }
    };
  }
}
