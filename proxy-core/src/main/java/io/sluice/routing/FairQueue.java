package io.sluice.routing;

import java.util.PriorityQueue;
import java.util.function.LongSupplier;

/**
 * The queue discipline of fair admission (issue 20 §2): one FIFO per tenant, served by weighted fair queueing, each
 * waiter with a deadline, every waiter's bytes counted against a shared {@link ByteBudget}.
 *
 * <p>Weighted fair queueing by virtual finish tags (start-time fair queueing, one unit of work per request): a
 * waiter of a tenant with weight {@code w} gets the tag {@code max(V, last tag of its tenant) + 1/w}, where V is the
 * tag of the waiter served last; {@link #poll()} serves the tenant whose oldest waiter has the lowest tag. A tenant
 * that sends ten times another's rate therefore gets served at the same rate as the other while both wait (weights
 * equal), and a tenant that was idle starts at V instead of banking credit.
 *
 * <p>Waiters sit in two intrusive lists — their tenant's and the arrival order — so removal (a client that left) is
 * O(1) plus O(tenants) for the tenant heap; deadlines expire from the head of the arrival list.
 *
 * <p>Not thread-safe: its owner ({@link AdmissionGate}) guards it. Plain object, no timers: time comes from the
 * injected clock, so tests run it deterministically.
 *
 * @param <T> what waits (an exchange in the gateway)
 */
public final class FairQueue<T> {
  /** Who the waiter belongs to, and the weight its share is served with (> 0). */
  public record Tenant(String id, double weight) {
    public Tenant {
      if (!(weight > 0) || Double.isInfinite(weight)) {
        throw new IllegalArgumentException("weight: " + weight + " (expected: > 0)");
      }
    }
  }

  /** A waiter: handed out by {@link #offer}, given back by {@link #poll}/{@link #expire}. */
  public static final class Entry<T> {
    public final T value;
    public final Tenant tenant;
    public final long bytes;
    public final long enqueuedNanos;
    public final long deadlineNanos;
    private final double tag;
    private Lane<T> lane;
    private Entry<T> prevInLane;
    private Entry<T> nextInLane;
    private Entry<T> prevArrival;
    private Entry<T> nextArrival;
    private boolean queued = true;

    private Entry(T value, Tenant tenant, long bytes, long enqueuedNanos, long deadlineNanos, double tag) {
      this.value = value;
      this.tenant = tenant;
      this.bytes = bytes;
      this.enqueuedNanos = enqueuedNanos;
      this.deadlineNanos = deadlineNanos;
      this.tag = tag;
    }

    /** Whether it still waits (false once polled, expired or removed). */
    public boolean queued() {
      return queued;
    }
  }

  /** One tenant's FIFO. */
  private static final class Lane<T> {
    final String id;
    Entry<T> head;
    Entry<T> tail;
    int size;
    double lastTag;
    boolean inHeap;

    Lane(String id) {
      this.id = id;
    }
  }

  /** A byte budget shared by several queues (the gateway's one global cap). Guarded by the queues' owner. */
  public static final class ByteBudget {
    private final long max;
    private long used;

    public ByteBudget(long max) {
      if (max < 0) {
        throw new IllegalArgumentException("max: " + max + " (expected: >= 0)");
      }
      this.max = max;
    }

    public long used() {
      return used;
    }

    public long max() {
      return max;
    }

    boolean take(long n) {
      if (n > max - used) {
        return false;
      }
      used += n;
      return true;
    }

    void give(long n) {
      used -= n;
    }
  }

  private final LongSupplier clock;
  private final ByteBudget budget;
  private final java.util.Map<String, Lane<T>> lanes = new java.util.HashMap<>();
  private final PriorityQueue<Lane<T>> heap = new PriorityQueue<>(
      (x, y) -> Double.compare(x.head.tag, y.head.tag));
  private Entry<T> oldest;
  private Entry<T> newest;
  private int size;
  private double virtualTime;

  /** {@code clock}: nanoseconds, monotonic (System::nanoTime in the gateway, a counter in tests). */
  public FairQueue(LongSupplier clock, ByteBudget budget) {
    this.clock = clock;
    this.budget = budget;
  }

  public int size() {
    return size;
  }

  /** Waiters of tenant {@code id}. */
  public int size(String id) {
    Lane<T> l = lanes.get(id);
    return l == null ? 0 : l.size;
  }

  /** The tenants with waiters (a copy). */
  public java.util.Set<String> tenants() {
    return java.util.Set.copyOf(lanes.keySet());
  }

  /**
   * Queues {@code value} for {@code tenant}, its {@code bytes} taken from the budget, waiting at most
   * {@code timeoutNanos}. Null when the budget cannot hold the bytes (the caller sheds the request at once).
   */
  public Entry<T> offer(T value, Tenant tenant, long bytes, long timeoutNanos) {
    if (bytes < 0 || timeoutNanos < 0) {
      throw new IllegalArgumentException("bytes " + bytes + ", timeout " + timeoutNanos + " (expected: >= 0)");
    }
    if (!budget.take(bytes)) {
      return null;
    }
    long now = clock.getAsLong();
    Lane<T> lane = lanes.computeIfAbsent(tenant.id(), Lane::new);
    double tag = Math.max(virtualTime, lane.lastTag) + 1 / tenant.weight();
    lane.lastTag = tag;
    Entry<T> e = new Entry<>(value, tenant, bytes, now, now + timeoutNanos, tag);
    e.lane = lane;
    e.prevInLane = lane.tail;
    if (lane.tail != null) {
      lane.tail.nextInLane = e;
    } else {
      lane.head = e;
    }
    lane.tail = e;
    lane.size++;
    e.prevArrival = newest;
    if (newest != null) {
      newest.nextArrival = e;
    } else {
      oldest = e;
    }
    newest = e;
    size++;
    if (!lane.inHeap) {
      heap.add(lane);
      lane.inHeap = true;
    }
    return e;
  }

  /** The next waiter by weighted fair queueing (expired ones included: call {@link #expire} first), or null. */
  public Entry<T> poll() {
    Lane<T> lane = heap.peek();
    if (lane == null) {
      return null;
    }
    Entry<T> e = lane.head;
    virtualTime = Math.max(virtualTime, e.tag);
    unlink(e);
    return e;
  }

  /** Removes {@code e} if it still waits (a client that left); returns whether it did. */
  public boolean remove(Entry<T> e) {
    if (!e.queued) {
      return false;
    }
    unlink(e);
    return true;
  }

  /**
   * Removes the waiters whose deadline passed, oldest first, handing each to {@code expired}. Scans from the oldest
   * and stops at the first one not due: deadlines follow arrival order when every waiter gets the same timeout (the
   * gateway's case; its per-waiter timers cover any other).
   */
  public int expire(java.util.function.Consumer<Entry<T>> expired) {
    long now = clock.getAsLong();
    int n = 0;
    while (oldest != null && oldest.deadlineNanos - now <= 0) {
      Entry<T> e = oldest;
      unlink(e);
      expired.accept(e);
      n++;
    }
    return n;
  }

  /** The oldest waiter's deadline (nanos), or {@link Long#MAX_VALUE} when none waits. */
  public long nextDeadline() {
    return oldest == null ? Long.MAX_VALUE : oldest.deadlineNanos;
  }

  private void unlink(Entry<T> e) {
    e.queued = false;
    budget.give(e.bytes);
    size--;
    Lane<T> lane = e.lane;
    boolean wasHead = lane.head == e;
    if (wasHead) {
      heap.remove(lane); // its key changes (or it empties)
      lane.inHeap = false;
    }
    if (e.prevInLane != null) {
      e.prevInLane.nextInLane = e.nextInLane;
    } else {
      lane.head = e.nextInLane;
    }
    if (e.nextInLane != null) {
      e.nextInLane.prevInLane = e.prevInLane;
    } else {
      lane.tail = e.prevInLane;
    }
    lane.size--;
    if (lane.size == 0) {
      lanes.remove(lane.id); // an idle tenant keeps no state: it restarts at the virtual time when it returns
    } else if (wasHead) {
      heap.add(lane);
      lane.inHeap = true;
    }
    if (e.prevArrival != null) {
      e.prevArrival.nextArrival = e.nextArrival;
    } else {
      oldest = e.nextArrival;
    }
    if (e.nextArrival != null) {
      e.nextArrival.prevArrival = e.prevArrival;
    } else {
      newest = e.prevArrival;
    }
    e.prevInLane = e.nextInLane = e.prevArrival = e.nextArrival = null;
    e.lane = null;
  }
}
