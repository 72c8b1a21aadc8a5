package io.sluice.server;

import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.common.export.MemoryMode;
import io.opentelemetry.sdk.metrics.InstrumentType;
import io.opentelemetry.sdk.metrics.data.AggregationTemporality;
import io.opentelemetry.sdk.metrics.data.LongPointData;
import io.opentelemetry.sdk.metrics.data.MetricData;
import io.opentelemetry.sdk.metrics.export.CollectionRegistration;
import io.opentelemetry.sdk.metrics.export.MetricReader;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.sluice.config.SluiceConfig;
import io.sluice.http.Tracing;
import io.sluice.metrics.Families;
import io.sluice.metrics.GatewayMetrics;
import java.util.Collection;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenTelemetry SDK behind {@link Tracing} (issue 19), configured the OTel way by the SDK's own autoconfigure
 * module: {@code OTEL_EXPORTER_OTLP_ENDPOINT} / {@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT},
 * {@code OTEL_EXPORTER_OTLP_PROTOCOL} ({@code http/protobuf}, the default, or {@code grpc}),
 * {@code OTEL_EXPORTER_OTLP_HEADERS}, {@code OTEL_SERVICE_NAME} (default {@code sluice}),
 * {@code OTEL_RESOURCE_ATTRIBUTES}, {@code OTEL_TRACES_SAMPLER} / {@code OTEL_TRACES_SAMPLER_ARG} (default
 * {@code parentbased_always_on}), {@code OTEL_BSP_*} (the batch processor: queue 2048, batch 512, every 5 s) — each
 * also as the matching {@code otel.*} system property, which wins. Only traces: metrics and logs exporters are off.
 *
 * <p>On when {@code litellm_settings.callbacks} lists {@code "otel"} or an OTLP endpoint is set in the
 * environment; off when neither, or when {@code OTEL_SDK_DISABLED=true} / {@code OTEL_TRACES_EXPORTER=none}.
 * Spans end into the SDK's {@code BatchSpanProcessor}: a bounded queue, exported on its own thread, so an event
 * loop never waits on the collector; a full queue or a failed export loses spans, counted in
 * {@code sluice_otel_spans_dropped_total{reason}}.
 */
final class OtelTracing implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(OtelTracing.class);

  private final OpenTelemetrySdk sdk;
  private final Tracing tracing;
  private final LongAdder exported = new LongAdder();
  private final LongAdder exportFailed = new LongAdder();
  private final ProcessorCounts processor = new ProcessorCounts();

  private OtelTracing(Map<String, String> defaults) {
    this.sdk = AutoConfiguredOpenTelemetrySdk.builder()
        .addPropertiesSupplier(() -> defaults)
        // Sluice exports traces only; its metrics are Prometheus' (/metrics), its logs its own.
        .addPropertiesCustomizer(c -> Map.of("otel.traces.exporter", "otlp", "otel.metrics.exporter", "none",
            "otel.logs.exporter", "none", "otel.experimental.sdk.telemetry.version", "legacy"))
        .addSpanExporterCustomizer((e, c) -> new CountingExporter(e, exported, exportFailed))
        // The batch processor counts what it drops through the SDK's meter provider; read here, never exported.
        .addMeterProviderCustomizer((b, c) -> b.registerMetricReader(processor))
        .disableShutdownHook()
        .build()
        .getOpenTelemetrySdk();
    this.tracing = new Tracing(sdk.getTracer("io.sluice", Version.get()));
  }

  /**
   * The SDK when tracing is on for {@code config} and {@code env} (see the class comment), else null.
   * System properties ({@code otel.*}) are read as well, over the environment.
   */
  static OtelTracing start(SluiceConfig config, Map<String, String> env) {
    if (!enabled(config.litellm().otel(), env)) {
      return null;
    }
    Map<String, String> defaults = new HashMap<>();
    defaults.put("otel.service.name", "sluice");
    // The OTLP spec's default (the Java SDK's autoconfigure still defaults to grpc).
    defaults.put("otel.exporter.otlp.protocol", "http/protobuf");
    OtelTracing t;
    try {
      t = new OtelTracing(defaults);
    } catch (io.opentelemetry.sdk.autoconfigure.spi.ConfigurationException e) {
      throw new IllegalArgumentException("OpenTelemetry (OTEL_* / otel.*): " + e.getMessage(), e);
    }
    log.info("OpenTelemetry traces on: OTLP {} to {}, sampler {}",
        setting("otel.exporter.otlp.protocol", env, "http/protobuf"),
        setting("otel.exporter.otlp.traces.endpoint", env,
            setting("otel.exporter.otlp.endpoint", env, "the default (localhost:4318 / :4317)")),
        setting("otel.traces.sampler", env, "parentbased_always_on"));
    return t;
  }

  static boolean enabled(boolean callback, Map<String, String> env) {
    if ("true".equalsIgnoreCase(setting("otel.sdk.disabled", env, "false"))
        || "none".equalsIgnoreCase(setting("otel.traces.exporter", env, ""))) {
      return false;
    }
    return callback || setting("otel.exporter.otlp.endpoint", env, null) != null
        || setting("otel.exporter.otlp.traces.endpoint", env, null) != null;
  }

  /** An OTel setting: the system property {@code name}, else its environment variable, else {@code dflt}. */
  private static String setting(String name, Map<String, String> env, String dflt) {
    String v = System.getProperty(name);
    if (v == null || v.isBlank()) {
      v = env.get(name.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_'));
    }
    return v == null || v.isBlank() ? dflt : v;
  }

  Tracing tracing() {
    return tracing;
  }

  /** {@code sluice_otel_spans_exported_total} and {@code sluice_otel_spans_dropped_total{reason}}. */
  void install(GatewayMetrics m) {
    m.readCounter(Families.OTEL_SPANS_EXPORTED, exported::sum);
    m.readCounter(Families.OTEL_SPANS_DROPPED, processor::dropped, "queue_full");
    m.readCounter(Families.OTEL_SPANS_DROPPED, exportFailed::sum, "export_failed");
  }

  long dropped() {
    return processor.dropped() + exportFailed.sum();
  }

  /** Exports what is queued (bounded by the exporter's timeout), then stops. */
  @Override
  public void close() {
    sdk.getSdkTracerProvider().shutdown().join(10, TimeUnit.SECONDS);
    sdk.close();
  }

  /** Counts the spans of each export by its result; the export itself is the wrapped exporter's. */
  static final class CountingExporter implements SpanExporter {
    private final SpanExporter delegate;
    private final LongAdder ok;
    private final LongAdder failed;

    CountingExporter(SpanExporter delegate, LongAdder ok, LongAdder failed) {
      this.delegate = delegate;
      this.ok = ok;
      this.failed = failed;
    }

    @Override
    public CompletableResultCode export(Collection<SpanData> spans) {
      int n = spans.size();
      CompletableResultCode r;
      try {
        r = delegate.export(spans);
      } catch (RuntimeException e) {
        failed.add(n);
        return CompletableResultCode.ofFailure();
      }
      r.whenComplete(() -> (r.isSuccess() ? ok : failed).add(n));
      return r;
    }

    @Override
    public CompletableResultCode flush() {
      return delegate.flush();
    }

    @Override
    public CompletableResultCode shutdown() {
      return delegate.shutdown();
    }

    @Override
    public String toString() {
      return "CountingExporter{" + delegate + "}";
    }
  }

  /**
   * Reads the batch processor's own count of the spans it dropped ({@code processedSpans{dropped=true}}, the SDK's
   * legacy internal telemetry, pinned above) at scrape time; exports nothing.
   */
  static final class ProcessorCounts implements MetricReader {
    private volatile CollectionRegistration registration;

    @Override
    public void register(CollectionRegistration r) {
      this.registration = r;
    }

    long dropped() {
      CollectionRegistration r = registration;
      if (r == null) {
        return 0;
      }
      long n = 0;
      for (MetricData m : r.collectAllMetrics()) {
        if (!"processedSpans".equals(m.getName())) {
          continue;
        }
        for (LongPointData p : m.getLongSumData().getPoints()) {
          if (Boolean.TRUE.equals(p.getAttributes().get(
              io.opentelemetry.api.common.AttributeKey.booleanKey("dropped")))) {
            n += p.getValue();
          }
        }
      }
      return n;
    }

    @Override
    public AggregationTemporality getAggregationTemporality(InstrumentType t) {
      return AggregationTemporality.CUMULATIVE;
    }

    @Override
    public MemoryMode getMemoryMode() {
      return MemoryMode.IMMUTABLE_DATA;
    }

    @Override
    public CompletableResultCode forceFlush() {
      return CompletableResultCode.ofSuccess();
    }

    @Override
    public CompletableResultCode shutdown() {
      return CompletableResultCode.ofSuccess();
    }
  }
}
