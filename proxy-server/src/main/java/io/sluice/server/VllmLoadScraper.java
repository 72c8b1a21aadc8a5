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
 * For {@code routing_strategy: vllm-load}: scrapes every replica's {@code /metrics} once a second, off the event
 * loops (its own daemon thread and the JDK HTTP client), and records {@code vllm:num_requests_waiting},
 * {@code vllm:num_requests_running} and {@code vllm:kv_cache_usage_perc} — falling back to the deprecated
 * {@code vllm:gpu_cache_usage_perc} — summed over engines (vllm-wire.md §9). {@code /metrics} needs no key on vLLM.
 * A failed scrape keeps the last values; the replica's passive health handles a dead one.
 */
final class VllmLoadScraper extends ReplicaPoller {
  private static final Logger log = LoggerFactory.getLogger(VllmLoadScraper.class);

  VllmLoadScraper(RegistryHolder registry, Duration interval) {
    super(registry, interval, "sluice-vllm-scraper", Duration.ofSeconds(1));
  }

  @Override
  void poll(Deployment d) {
    URI uri = URI.create(d.endpoint() + "/metrics");
    HttpRequest req = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(1)).GET().build();
    http.sendAsync(req, HttpResponse.BodyHandlers.ofString()).whenComplete((res, err) -> {
      if (err != null || res.statusCode() != 200) {
        log.debug("vllm-load: scrape of {} failed: {}", d.id(), err != null ? err.toString() : res.statusCode());
        return;
      }
      parse(d, res.body());
    });
  }

  /** Sums each gauge over its label sets; the KV-cache name falls back to the pre-0.9 one. */
  static void parse(Deployment d, String text) {
    double waiting = 0;
    double running = 0;
    double kv = -1;
    double gpuKv = -1;
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.charAt(0) == '#') {
        continue;
      }
      int sp = line.lastIndexOf(' ');
      if (sp < 0) {
        continue;
      }
      double v;
      try {
        v = Double.parseDouble(line.substring(sp + 1).trim());
      } catch (NumberFormatException e) {
        continue;
      }
      if (line.startsWith("vllm:num_requests_waiting")) {
        waiting += v;
      } else if (line.startsWith("vllm:num_requests_running")) {
        running += v;
      } else if (line.startsWith("vllm:kv_cache_usage_perc")) {
        kv = Math.max(kv, v);
      } else if (line.startsWith("vllm:gpu_cache_usage_perc")) {
        gpuKv = Math.max(gpuKv, v);
      }
    }
    d.load().scraped(waiting, running, kv >= 0 ? kv : Math.max(0, gpuKv));
  }
}
