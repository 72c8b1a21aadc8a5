package io.sluice.server;

import io.sluice.routing.Deployment;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Something done to every replica of the current registry at a fixed interval, off the event loops: its own daemon
 * thread, which also runs the JDK HTTP client's callbacks. Subclasses say what to do with one replica.
 */
abstract class ReplicaPoller implements AutoCloseable {
  private final RegistryHolder registry;
  private final ScheduledExecutorService timer;
  final HttpClient http;

  /** Starts polling at once; subclasses therefore keep no instance state of their own. */
  /** The registry polled (its clock judges the replicas' state). */
  RegistryHolder registry() {
    return registry;
  }

  ReplicaPoller(RegistryHolder registry, Duration interval, String threadName, Duration connectTimeout) {
    this.registry = registry;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, threadName);
      t.setDaemon(true);
      return t;
    });
    this.http = HttpClient.newBuilder().connectTimeout(connectTimeout).executor(timer).build();
    timer.scheduleWithFixedDelay(this::pollAll, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void pollAll() {
    for (ModelGroup g : registry.get().groups()) {
      for (Deployment d : g.deployments()) {
        poll(d);
      }
    }
  }

  /** Starts this round's work for one replica; must not block (use {@link #http}'s async calls). */
  abstract void poll(Deployment d);

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
