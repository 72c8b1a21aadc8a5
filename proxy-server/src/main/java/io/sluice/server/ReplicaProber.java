package io.sluice.server;

import io.sluice.routing.Deployment;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code general_settings.background_health_checks}: every {@code health_check_interval}, off the event loops, GET
 * each replica's {@code /health} (vLLM's root route, no key needed; 503/500 when the engine is dead). A failure
 * cools the replica down at once; a pass ends a cooldown early, so a replica that recovered gets traffic again
 * without waiting for {@code cooldown_time}.
 */
final class ReplicaProber implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ReplicaProber.class);

  private final RegistryHolder registry;
  private final HttpClient http;
  private final ScheduledExecutorService timer;

  ReplicaProber(RegistryHolder registry, Duration interval) {
    this.registry = registry;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sluice-health-prober");
      t.setDaemon(true);
      return t;
    });
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).executor(timer).build();
    timer.scheduleWithFixedDelay(this::probeAll, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void probeAll() {
    for (ModelGroup g : registry.get().groups()) {
      for (Deployment d : g.deployments()) {
        probe(d);
      }
    }
  }

  private void probe(Deployment d) {
    HttpRequest req = HttpRequest.newBuilder(URI.create(d.endpoint() + "/health")).timeout(Duration.ofSeconds(5))
        .GET().build();
    http.sendAsync(req, HttpResponse.BodyHandlers.discarding()).whenComplete((res, err) -> {
      if (err == null && res.statusCode() == 200) {
        d.health().probePassed();
      } else {
        log.warn("replica {} of model {} failed its health probe ({}): cooling down", d.id(), d.modelGroup(),
            err != null ? err.getClass().getSimpleName() : "status " + res.statusCode());
        d.health().probeFailed(System.nanoTime());
      }
    });
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
