package io.sluice.metrics;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Metric;
import com.codahale.metrics.MetricRegistry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's metrics: one Dropwizard {@link MetricRegistry} whose metrics are series of labelled
 * {@link Family families} (see {@link Families} for the catalogue). Each series is registered under a readable name,
 * {@code family{label="value",...}}, and indexed here, so the Prometheus bridge can put the labels back (see
 * {@code io.sluice.server.PrometheusExposition}). Never a key in a label: {@link Families#keyLabels} gives an alias or
 * a hash prefix, and only when {@code sluice_settings.metrics_key_labels} is on. Thread-safe.
 */
public final class GatewayMetrics {
  private static final Logger log = LoggerFactory.getLogger(GatewayMetrics.class);

  /** A registered series: its family, label values (in the family's label order) and a unique id. */
  public record Series(Family family, List<String> labelValues, int id) {}

  private final MetricRegistry registry = new MetricRegistry();
  private final ConcurrentHashMap<String, Metric> metrics = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Series> series = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Family> families = new ConcurrentHashMap<>();
  private final AtomicInteger ids = new AtomicInteger();
  private final List<Runnable> beforeScrape = new CopyOnWriteArrayList<>();
  private final boolean keyLabels;
  private final boolean requireAuth;
  private volatile MetricsExposition exposition;

  /** Key labels off, {@code /metrics} behind the master key. */
  public GatewayMetrics() {
    this(false, true);
  }

  /**
   * @param keyLabels   {@code sluice_settings.metrics_key_labels}: per-key labels ({@code api_key_alias},
   *                    {@code hashed_api_key} prefix, {@code user}, {@code team}) on the per-request families
   * @param requireAuth {@code require_auth_for_metrics_endpoint}: {@code /metrics} needs an admin's key
   */
  public GatewayMetrics(boolean keyLabels, boolean requireAuth) {
    this.keyLabels = keyLabels;
    this.requireAuth = requireAuth;
  }

  public boolean keyLabels() {
    return keyLabels;
  }

  public boolean requireAuth() {
    return requireAuth;
  }

  /** The Dropwizard registry (series names as described above; also plain metrics such as the JVM's). */
  public MetricRegistry registry() {
    return registry;
  }

  /** What renders {@code /metrics}, or null when none was installed (then {@code /metrics} answers 404). */
  public MetricsExposition exposition() {
    return exposition;
  }

  public void exposition(MetricsExposition e) {
    this.exposition = e;
  }

  /** The series registered under a Dropwizard name, or null for a plain metric. */
  public Series series(String dropwizardName) {
    return series.get(dropwizardName);
  }

  /** Every family that has (or had) a series, by name. */
  public Map<String, Family> families() {
    return Map.copyOf(families);
  }

  /** Runs {@code task} before each scrape (to refresh gauges whose set of series changes, e.g. per deployment). */
  public void beforeScrape(Runnable task) {
    beforeScrape.add(task);
  }

  /** Called by the exposition before it reads the registry; a failing task is logged and skipped. */
  public void prepareScrape() {
    for (Runnable r : beforeScrape) {
      try {
        r.run();
      } catch (RuntimeException e) {
        log.warn("metrics: refreshing before a scrape failed: {}", e.toString());
      }
    }
  }

  /** The counter of {@code family} (a counter family) for these label values, created on first use. */
  public Counter counter(Family family, String... values) {
    return (Counter) metric(family, Family.Type.COUNTER, values, Counter::new);
  }

  /** A fractional counter (spend). */
  public DoubleCounter doubleCounter(Family family, String... values) {
    return (DoubleCounter) metric(family, Family.Type.COUNTER, values, DoubleCounter::new);
  }

  /** The histogram of {@code family} (seconds, {@link BucketHistogram#LATENCY_BUCKETS}). */
  public BucketHistogram histogram(Family family, String... values) {
    return (BucketHistogram) metric(family, Family.Type.HISTOGRAM, values, BucketHistogram::new);
  }

  /** A gauge read at scrape time; replaces an earlier one of the same series. */
  public void gauge(Family family, Supplier<? extends Number> value, String... values) {
    if (family.type() != Family.Type.GAUGE) {
      throw new IllegalArgumentException(family.name() + " is a " + family.type());
    }
    replace(family, values, (Gauge<Number>) value::get);
  }

  /** A counter whose value is read at scrape time from something that counts already (e.g. a cache's hits). */
  public void readCounter(Family family, LongSupplier value, String... values) {
    if (family.type() != Family.Type.COUNTER) {
      throw new IllegalArgumentException(family.name() + " is a " + family.type());
    }
    replace(family, values, (Gauge<Long>) value::getAsLong);
  }

  /** Removes the series of {@code family} whose label values match (e.g. a deployment that was deleted). */
  public void removeIf(Family family, Predicate<List<String>> values) {
    for (Series s : new ArrayList<>(series.values())) {
      if (s.family().name().equals(family.name()) && values.test(s.labelValues())) {
        remove(family.seriesName(s.labelValues().toArray(String[]::new)));
      }
    }
  }

  /** Every series of {@code family} currently registered. */
  public Collection<Series> seriesOf(Family family) {
    List<Series> out = new ArrayList<>();
    for (Series s : series.values()) {
      if (s.family().name().equals(family.name())) {
        out.add(s);
      }
    }
    return out;
  }

  private void remove(String name) {
    synchronized (metrics) {
      metrics.remove(name);
      series.remove(name);
      registry.remove(name);
    }
  }

  private void replace(Family family, String[] values, Metric m) {
    String name = family.seriesName(values);
    synchronized (metrics) {
      checkFamily(family);
      if (metrics.put(name, m) != null) {
        registry.remove(name);
      }
      series.putIfAbsent(name, new Series(family, List.of(copy(values)), ids.incrementAndGet()));
      registry.register(name, m);
    }
  }

  private Metric metric(Family family, Family.Type type, String[] values, Supplier<Metric> make) {
    if (family.type() != type) {
      throw new IllegalArgumentException(family.name() + " is a " + family.type() + ", not a " + type);
    }
    String name = family.seriesName(values);
    Metric m = metrics.get(name);
    if (m != null) {
      return m;
    }
    synchronized (metrics) {
      m = metrics.get(name);
      if (m == null) {
        checkFamily(family);
        m = make.get();
        series.put(name, new Series(family, List.of(copy(values)), ids.incrementAndGet()));
        metrics.put(name, m);
        registry.register(name, m);
      }
      return m;
    }
  }

  private void checkFamily(Family family) {
    Family known = families.putIfAbsent(family.name(), family);
    if (known != null && !known.equals(family)) {
      throw new IllegalArgumentException("metric family " + family.name() + " registered twice with different "
          + "types or labels: " + known + " and " + family);
    }
  }

  private static String[] copy(String[] values) {
    String[] out = new String[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i] == null ? "" : values[i];
    }
    return out;
  }
}
