package io.sluice.http;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.sluice.auth.LayeredKeyStore;
import io.sluice.metrics.Families;
import io.sluice.metrics.GatewayMetrics;
import io.sluice.routing.Deployment;
import io.sluice.routing.ModelGroup;
import io.sluice.upstream.UpstreamPools;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The gauges and read-at-scrape counters of the data plane: per deployment (state, cooldowns, requests and streams
 * in flight — refreshed before each scrape, so deployments added or removed by {@code /model/*} appear and go),
 * upstream pools (each event loop reads its own), key caches, requests in flight, dropped access-log lines,
 * Netty's direct memory and the build. Nothing here runs on the hot path.
 */
public final class GatewayGauges {
  private GatewayGauges() {}

  /**
   * @param keys the layered key store, or null without a database
   */
  public static void install(GatewayMetrics m, GatewayContext gw, LayeredKeyStore keys) {
    m.gauge(Families.BUILD, () -> 1, gw.version());
    m.gauge(Families.IN_FLIGHT_ALL, () -> gw.drain().inFlight());
    AccessLog log = gw.accessLog();
    m.readCounter(Families.ACCESS_LOG_DROPPED, log::dropped);
    UpstreamPools pools = gw.pools();
    m.readCounter(Families.POOL_CONNECTS, pools::connectsTotal);
    m.readCounter(Families.POOL_CONNECT_FAILURES, pools::connectFailuresTotal);
    if (ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider p) {
      m.gauge(Families.DIRECT_MEMORY, () -> p.metric().usedDirectMemory());
    }
    if (keys != null) {
      m.readCounter(Families.KEY_CACHE_HITS, keys::l1Hits, "l1");
      m.readCounter(Families.KEY_CACHE_MISSES, keys::l1Misses, "l1");
      m.readCounter(Families.KEY_CACHE_HITS, keys::l2Hits, "l2");
      m.readCounter(Families.KEY_CACHE_MISSES, keys::l2Misses, "l2");
    }
    Set<Deployment> registered = new HashSet<>();
    m.beforeScrape(() -> refreshDeployments(m, gw, registered));
    m.beforeScrape(() -> refreshPools(m, pools));
  }

  private static synchronized void refreshDeployments(GatewayMetrics m, GatewayContext gw, Set<Deployment> done) {
    Set<Deployment> live = new HashSet<>();
    Set<String> ids = new HashSet<>();
    for (ModelGroup g : gw.registry().get().groups()) {
      for (Deployment d : g.deployments()) {
        live.add(d);
        ids.add(d.id());
        if (done.add(d)) {
          String[] labels = RequestMetrics.deploymentLabels(d);
          m.gauge(Families.DEPLOYMENT_STATE, () -> d.health().state(gw.registry().nanoTime()), labels);
          m.readCounter(Families.DEPLOYMENT_COOLED_DOWN, () -> d.health().cooldowns(), labels);
          m.gauge(Families.IN_FLIGHT, () -> d.load().inFlight(), d.modelGroup(), d.id());
          m.gauge(Families.IN_FLIGHT_STREAMS, () -> d.load().streams(), d.modelGroup(), d.id());
        }
      }
    }
    done.retainAll(live);
    // A deployment deleted by /model/delete: its gauges go (its counters stay, as counters do).
    m.removeIf(Families.DEPLOYMENT_STATE, v -> !ids.contains(v.get(1)));
    m.removeIf(Families.DEPLOYMENT_COOLED_DOWN, v -> !ids.contains(v.get(1)));
    m.removeIf(Families.IN_FLIGHT, v -> !ids.contains(v.get(1)));
    m.removeIf(Families.IN_FLIGHT_STREAMS, v -> !ids.contains(v.get(1)));
  }

  private static void refreshPools(GatewayMetrics m, UpstreamPools pools) {
    List<UpstreamPools.PoolStats> stats;
    try {
      stats = pools.stats().get(2, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException("upstream pool statistics did not arrive: " + e, e);
    }
    Set<String> seen = new HashSet<>();
    for (UpstreamPools.PoolStats s : stats) {
      String up = s.endpoint().toString();
      seen.add(up);
      m.gauge(Families.POOL_OPEN, s::open, up, "open");
      m.gauge(Families.POOL_OPEN, s::idle, up, "idle");
      m.gauge(Families.POOL_PENDING, s::pending, up);
    }
    m.removeIf(Families.POOL_OPEN, v -> !seen.contains(v.get(0)));
    m.removeIf(Families.POOL_PENDING, v -> !seen.contains(v.get(0)));
  }
}
