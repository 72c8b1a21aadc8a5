package io.sluice.server;

import com.codahale.metrics.Metric;
import com.codahale.metrics.MetricFilter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.dropwizard.DropwizardExports;
import io.prometheus.metrics.instrumentation.dropwizard5.labels.CustomLabelMapper;
import io.prometheus.metrics.instrumentation.dropwizard5.labels.MapperConfig;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricMetadata;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.sluice.metrics.BucketHistogram;
import io.sluice.metrics.Family;
import io.sluice.metrics.GatewayMetrics;
import io.sluice.metrics.MetricsExposition;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code /metrics} in Prometheus' text format (0.0.4): the gateway's Dropwizard registry through Prometheus'
 * maintained bridge, {@code prometheus-metrics-instrumentation-dropwizard}, and the library's own text writer.
 *
 * <p>The bridge turns each Dropwizard metric into one snapshot, its labels coming from a {@link CustomLabelMapper};
 * version 1.4.3 (the newest on Maven Central here) refuses two snapshots of one name in a scrape
 * (prometheus/client_java#1712), which every labelled family has. So the mapper here gives each series a unique
 * interim name ({@code family__<id>}) and its real labels; the snapshots are then merged per family, with the
 * family's help text and type (a spend counter is a Dropwizard gauge of a double, shown as a Prometheus counter).
 * {@link BucketHistogram}s, which the bridge does not know, become classic Prometheus histograms.
 */
public final class PrometheusExposition implements MetricsExposition {
  private static final String INTERIM = "__sluice_series_";

  private final GatewayMetrics metrics;
  private final DropwizardExports bridge;
  private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

  public PrometheusExposition(GatewayMetrics metrics) {
    this.metrics = metrics;
    this.bridge = new DropwizardExports(metrics.registry(), MetricFilter.ALL, new SeriesMapper(metrics));
  }

  @Override
  public String contentType() {
    return PrometheusTextFormatWriter.CONTENT_TYPE;
  }

  @Override
  public void write(OutputStream out) throws IOException {
    writer.write(out, collect());
  }

  /** Every metric as snapshots, one per family. */
  public MetricSnapshots collect() {
    metrics.prepareScrape();
    Map<String, Family> known = metrics.families();
    Map<String, Merged> families = new LinkedHashMap<>();
    List<MetricSnapshot> plain = new ArrayList<>();
    for (MetricSnapshot s : bridge.collect()) {
      String name = s.getMetadata().getName();
      int at = name.indexOf(INTERIM);
      if (at < 0) {
        plain.add(s); // a metric without a family (the JVM's): unique name, no labels
        continue;
      }
      Family f = known.get(name.substring(0, at));
      if (f == null) {
        continue; // removed between the bridge's read and now
      }
      Merged m = families.computeIfAbsent(f.name(), k -> new Merged(f));
      for (var dp : s.getDataPoints()) {
        if (dp instanceof CounterDataPointSnapshot c) {
          m.add(c.getLabels(), c.getValue());
        } else if (dp instanceof GaugeDataPointSnapshot g) {
          m.add(g.getLabels(), g.getValue());
        }
      }
    }
    for (Map.Entry<String, Metric> e : metrics.registry().getMetrics().entrySet()) {
      if (e.getValue() instanceof BucketHistogram h) {
        GatewayMetrics.Series series = metrics.series(e.getKey());
        if (series != null) {
          families.computeIfAbsent(series.family().name(), k -> new Merged(series.family()))
              .add(labels(series), h);
        }
      }
    }
    MetricSnapshots.Builder b = MetricSnapshots.builder();
    for (Merged m : families.values()) {
      b.metricSnapshot(m.snapshot());
    }
    for (MetricSnapshot s : plain) {
      if (!families.containsKey(s.getMetadata().getName())) {
        b.metricSnapshot(s);
      }
    }
    return b.build();
  }

  static Labels labels(GatewayMetrics.Series s) {
    return Labels.of(s.family().labels(), s.labelValues());
  }

  /** One family's data points, gathered from its series. */
  private static final class Merged {
    final Family family;
    final List<CounterDataPointSnapshot> counters = new ArrayList<>();
    final List<GaugeDataPointSnapshot> gauges = new ArrayList<>();
    final List<HistogramDataPointSnapshot> histograms = new ArrayList<>();

    Merged(Family family) {
      this.family = family;
    }

    void add(Labels labels, double value) {
      if (family.type() == Family.Type.COUNTER) {
        counters.add(CounterDataPointSnapshot.builder().labels(labels).value(value).build());
      } else {
        gauges.add(GaugeDataPointSnapshot.builder().labels(labels).value(value).build());
      }
    }

    void add(Labels labels, BucketHistogram h) {
      double[] bounds = h.upperBounds();
      double[] withInf = java.util.Arrays.copyOf(bounds, bounds.length + 1);
      withInf[bounds.length] = Double.POSITIVE_INFINITY;
      histograms.add(HistogramDataPointSnapshot.builder()
          .classicHistogramBuckets(ClassicHistogramBuckets.of(withInf, h.counts()))
          .sum(h.sumSeconds())
          .labels(labels)
          .build());
    }

    MetricSnapshot snapshot() {
      MetricMetadata meta = new MetricMetadata(family.name(), family.help());
      return switch (family.type()) {
        case COUNTER -> new CounterSnapshot(meta, counters);
        case GAUGE -> new GaugeSnapshot(meta, gauges);
        case HISTOGRAM -> new HistogramSnapshot(meta, histograms);
      };
    }
  }

  /** Gives each series a unique interim name and its family's labels (see the class comment). */
  private static final class SeriesMapper extends CustomLabelMapper {
    private final GatewayMetrics metrics;

    SeriesMapper(GatewayMetrics metrics) {
      super(List.of(new MapperConfig("sluice.unused.*", "sluice_unused", Map.of())));
      this.metrics = metrics;
    }

    @Override
    public String getName(String dropwizardName) {
      GatewayMetrics.Series s = metrics.series(dropwizardName);
      return s == null ? dropwizardName : s.family().name() + INTERIM + s.id();
    }

    @Override
    public Labels getLabels(String dropwizardName, List<String> names, List<String> values) {
      GatewayMetrics.Series s = metrics.series(dropwizardName);
      return s == null ? Labels.of(names, values) : labels(s);
    }
  }
}
