package io.sluice.server;

import io.sluice.routing.Deployment;
import io.sluice.routing.DeploymentRegistry;
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
 * For {@code routing_strategy: vllm-load}: scrapes every replica's {@code /metrics} once a second, off the event
 * loops (its own daemon thread and the JDK HTTP client), and records {@code vllm:num_requests_waiting},
 * {@code vllm:num_requests_running} and {@code vllm:kv_cache_usage_perc} — falling back to the deprecated
 * {@code vllm:gpu_cache_usage_perc} — summed over engines (vllm-wire.md §9). {@code /metrics} needs no key on vLLM.
 * A failed scrape keeps the last values; the replica's passive health handles a dead one.
 */
final class VllmLoadScraper implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(VllmLoadScraper.class);

  private final RegistryHolder registry;
  private final HttpClient http;
  private final ScheduledExecutorService timer;

  VllmLoadScraper(RegistryHolder registry, Duration interval) {
    this.registry = registry;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sluice-vllm-scraper");
      t.setDaemon(true);
      return t;
    });
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).executor(timer).build();
    timer.scheduleWithFixedDelay(this::scrapeAll, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void scrapeAll() {
    DeploymentRegistry reg = registry.get();
    for (ModelGroup g : reg.groups()) {
      for (Deployment d : g.deployments()) {
        scrape(d);
      }
    }
  }

  private void scrape(Deployment d) {
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

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
