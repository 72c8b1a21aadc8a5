package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.snapshots.MetricMetadata;
import io.sluice.metrics.Families;
import io.sluice.metrics.Family;
import io.sluice.metrics.GatewayMetrics;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class PrometheusExpositionTest {
  static String render(GatewayMetrics m) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    new PrometheusExposition(m).write(out);
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void seriesOfOneFamilyShareOneHelpAndTypeLineAndKeepTheirLabels() throws Exception {
    // The bridge alone (client_java 1.4.3) throws "duplicate metric name" for two series of one name.
    GatewayMetrics m = new GatewayMetrics();
    Family f = Family.counter("t_requests", "Requests seen", "model", "route");
    m.counter(f, "llama", "chat").inc(3);
    m.counter(f, "qw\"en\\x\ny", "chat").inc();
    String text = render(m);
    assertThat(text).containsOnlyOnce("# HELP t_requests_total Requests seen")
        .containsOnlyOnce("# TYPE t_requests_total counter")
        .contains("t_requests_total{model=\"llama\",route=\"chat\"} 3.0")
        .contains("t_requests_total{model=\"qw\\\"en\\\\x\\ny\",route=\"chat\"} 1.0")
        .doesNotContain("__sluice_series_").doesNotContain("Generated from Dropwizard");
  }

  @Test
  void spendIsACounterOfFractionsAndHistogramsAreCumulativeWithInf() throws Exception {
    GatewayMetrics m = new GatewayMetrics();
    m.doubleCounter(Families.SPEND, "llama").add(0.0125);
    var h = m.histogram(Families.TTFB, "llama", "a");
    h.update(3_000_000);      // 3 ms
    h.update(40_000_000);     // 40 ms
    h.update(900_000_000_000L); // 900 s: only +Inf
    String text = render(m);
    assertThat(text).contains("# TYPE litellm_spend_metric_total counter")
        .contains("litellm_spend_metric_total{model=\"llama\"} 0.0125")
        .contains("# TYPE litellm_llm_api_time_to_first_token_metric histogram")
        .contains("litellm_llm_api_time_to_first_token_metric_bucket{model=\"llama\",model_id=\"a\",le=\"0.005\"} 1")
        .contains("litellm_llm_api_time_to_first_token_metric_bucket{model=\"llama\",model_id=\"a\",le=\"0.05\"} 2")
        .contains("litellm_llm_api_time_to_first_token_metric_bucket{model=\"llama\",model_id=\"a\",le=\"300.0\"} 2")
        .contains("litellm_llm_api_time_to_first_token_metric_bucket{model=\"llama\",model_id=\"a\",le=\"+Inf\"} 3")
        .contains("litellm_llm_api_time_to_first_token_metric_count{model=\"llama\",model_id=\"a\"} 3");
  }

  @Test
  void plainDropwizardMetricsPassThroughTheBridgeAndGaugesAreReadAtScrape() throws Exception {
    GatewayMetrics m = new GatewayMetrics();
    m.registry().counter("plain.things").inc(7);
    int[] n = {1};
    m.gauge(Families.IN_FLIGHT_ALL, () -> n[0]);
    m.beforeScrape(() -> n[0] = 5);
    String text = render(m);
    assertThat(text).contains("plain_things_total 7.0").contains("sluice_in_flight_requests 5.0");
  }

  @Test
  void everyFamilyIsAValidPrometheusMetricWithHelp() {
    for (Family f : Families.all()) {
      for (Family v : new Family[] {f, Families.withKeys(f, true)}) {
        new MetricMetadata(v.name(), v.help()); // throws on a name the format reserves
        assertThat(v.help()).as(v.name()).isNotBlank();
      }
    }
  }
}
