package io.sluice.server;

import io.sluice.routing.Deployment;
import io.sluice.routing.RegistryHolder;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code general_settings.background_health_checks}: every {@code health_check_interval}, off the event loops, GET
 * each replica's {@code /health} (vLLM's root route, no key needed; 503/500 when the engine is dead). A failure
 * cools the replica down at once; a pass ends a cooldown early, so a replica that recovered gets traffic again
 * without waiting for {@code cooldown_time}.
 */
final class ReplicaProber extends ReplicaPoller {
  private static final Logger log = LoggerFactory.getLogger(ReplicaProber.class);

  ReplicaProber(RegistryHolder registry, Duration interval) {
    super(registry, interval, "sluice-health-prober", Duration.ofSeconds(2));
  }

  @Override
  void poll(Deployment d) {
    HttpRequest req = HttpRequest.newBuilder(URI.create(d.endpoint() + "/health")).timeout(Duration.ofSeconds(5))
        .GET().build();
    http.sendAsync(req, HttpResponse.BodyHandlers.discarding()).whenComplete((res, err) -> {
      if (err == null && res.statusCode() == 200) {
        d.health().probePassed();
      } else {
        log.warn("replica {} of model {} failed its health probe ({}): cooling down", d.id(), d.modelGroup(),
            err != null ? err.getClass().getSimpleName() : "status " + res.statusCode());
        d.health().probeFailed(registry().nanoTime());
      }
    });
  }
}
