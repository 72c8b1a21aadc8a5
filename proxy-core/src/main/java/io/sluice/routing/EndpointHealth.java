package io.sluice.routing;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;

/**
 * {@code GET /health}'s real probes (LiteLLM's {@code perform_health_check}: one call per deployment), made
 * affordable: a deployment's result is reused for {@code ttl} (so a load balancer or dashboard polling every node
 * costs one probe per deployment per {@code ttl} per node, not one per request); concurrent askers of the same
 * deployment share one probe in flight; at most {@code maxConcurrent} probes run at once, the rest wait in a queue;
 * each probe gets {@code timeout}, after which it counts as unhealthy. Thread-safe; nothing here blocks, so it may be
 * called from an event loop (its futures complete on the probe's threads: hop back before touching a channel).
 */
public final class EndpointHealth {
  private final EndpointProbe probe;
  private final Duration ttl;
  private final Duration timeout;
  private final int maxConcurrent;
  private final LongSupplier nanoClock;

  /** deployment id → the latest result (or the probe in flight), with when it completed. */
  private final Map<String, Entry> entries = new ConcurrentHashMap<>();
  /** Probes waiting for a slot; guarded by {@code this}. */
  private final ArrayDeque<Runnable> waiting = new ArrayDeque<>();
  /** Probes running; guarded by {@code this}. */
  private int running;

  private record Entry(CompletableFuture<EndpointProbe.Result> result, long doneAt) {}

  /**
   * @param ttl           how long a result is reused (> 0)
   * @param timeout       longest a probe may take before it counts as failed (> 0)
   * @param maxConcurrent probes in flight at once, over all deployments (> 0)
   */
  public EndpointHealth(EndpointProbe probe, Duration ttl, Duration timeout, int maxConcurrent) {
    this(probe, ttl, timeout, maxConcurrent, System::nanoTime);
  }

  EndpointHealth(EndpointProbe probe, Duration ttl, Duration timeout, int maxConcurrent, LongSupplier nanoClock) {
    check(ttl != null && !ttl.isNegative() && !ttl.isZero(), "ttl: %s (expected: > 0)", ttl);
    check(timeout != null && !timeout.isNegative() && !timeout.isZero(), "timeout: %s (expected: > 0)", timeout);
    check(maxConcurrent > 0, "maxConcurrent: %s (expected: > 0)", maxConcurrent);
    this.probe = java.util.Objects.requireNonNull(probe);
    this.ttl = ttl;
    this.timeout = timeout;
    this.maxConcurrent = maxConcurrent;
    this.nanoClock = nanoClock;
  }

  /** The results for {@code deployments}, in their order: cached when younger than the TTL, else probed now. */
  public CompletableFuture<List<EndpointProbe.Result>> check(List<Deployment> deployments) {
    List<CompletableFuture<EndpointProbe.Result>> each = new ArrayList<>(deployments.size());
    for (Deployment d : deployments) {
      each.add(result(d));
    }
    return CompletableFuture.allOf(each.toArray(CompletableFuture[]::new)).thenApply(v -> {
      List<EndpointProbe.Result> out = new ArrayList<>(each.size());
      each.forEach(f -> out.add(f.join()));
      return out;
    });
  }

  private CompletableFuture<EndpointProbe.Result> result(Deployment d) {
    long now = nanoClock.getAsLong();
    Entry e = entries.compute(d.id(), (id, old) -> {
      if (old != null && (!old.result.isDone() || now - old.doneAt < ttl.toNanos())) {
        return old; // in flight (share it) or fresh enough
      }
      return new Entry(new CompletableFuture<>(), Long.MAX_VALUE);
    });
    if (e.doneAt == Long.MAX_VALUE && !e.result.isDone() && claim(e)) {
      submit(d, e);
    }
    return e.result;
  }

  /** Entries created by {@link #result} whose probe has not been submitted yet. */
  private final java.util.Set<Entry> submitted = ConcurrentHashMap.newKeySet();

  private boolean claim(Entry e) {
    return submitted.add(e);
  }

  private void submit(Deployment d, Entry e) {
    Runnable start = () -> {
      CompletableFuture<EndpointProbe.Result> call;
      try {
        call = probe.probe(d).toCompletableFuture();
      } catch (RuntimeException x) {
        call = CompletableFuture.completedFuture(EndpointProbe.Result.failed(x.getClass().getSimpleName()));
      }
      call.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS).handle((r, err) -> {
        if (err != null) {
          Throwable c = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
              ? err.getCause() : err;
          return EndpointProbe.Result.failed(c instanceof TimeoutException
              ? "no answer within " + timeout.toMillis() + " ms" : c.getClass().getSimpleName());
        }
        return r;
      }).thenAccept(r -> {
        // Order matters: the fresh entry first; the slot handed on before the result is visible (whoever sees
        // this probe done may start another at once and must find the slot free); then the result; and only
        // then may the entry be claimed again and the next waiting probe start.
        entries.replace(d.id(), e, new Entry(e.result, nanoClock.getAsLong()));
        Runnable next = release();
        e.result.complete(r);
        submitted.remove(e);
        if (next != null) {
          next.run();
        }
      });
    };
    boolean now;
    synchronized (this) {
      now = running < maxConcurrent;
      if (now) {
        running++;
      } else {
        waiting.add(start);
      }
    }
    if (now) {
      start.run();
    }
  }

  /** Gives this probe's slot back, or hands it to the first waiting probe, returned for the caller to run. */
  private Runnable release() {
    synchronized (this) {
      Runnable next = waiting.poll();
      if (next == null) {
        running--;
      }
      return next;
    }
  }

  private static void check(boolean ok, String fmt, Object arg) {
    if (!ok) {
      throw new IllegalArgumentException(String.format(fmt, arg));
    }
  }
}
