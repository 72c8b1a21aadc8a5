package io.sluice.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class GatewayMetricsTest {
  static final Family REQ = Family.counter("t_requests", "help", "model", "route");

  @Test
  void aSeriesIsCreatedOnceAndIndexedWithItsFamilyAndLabels() {
    GatewayMetrics m = new GatewayMetrics();
    m.counter(REQ, "llama", "chat").inc();
    m.counter(REQ, "llama", "chat").inc(2);
    m.counter(REQ, "qwen", "chat").inc();
    assertThat(m.counter(REQ, "llama", "chat").getCount()).isEqualTo(3);
    GatewayMetrics.Series s = m.series("t_requests{model=\"llama\",route=\"chat\"}");
    assertThat(s.family()).isEqualTo(REQ);
    assertThat(s.labelValues()).containsExactly("llama", "chat");
    assertThat(m.seriesOf(REQ)).hasSize(2);
    assertThat(m.registry().getCounters()).hasSize(2);
  }

  @Test
  void labelValuesAreEscapedInTheSeriesNameSoTwoValuesNeverShareASeries() {
    GatewayMetrics m = new GatewayMetrics();
    m.counter(REQ, "a\",route=\"b", "c").inc();
    m.counter(REQ, "a", "b\",c").inc();
    assertThat(m.seriesOf(REQ)).hasSize(2);
    assertThat(m.registry().getNames()).contains("t_requests{model=\"a\\\",route=\\\"b\",route=\"c\"}");
  }

  @Test
  void aFamilyRegisteredAgainWithOtherLabelsOrTypeIsRefused() {
    GatewayMetrics m = new GatewayMetrics();
    m.counter(REQ, "a", "b");
    assertThatThrownBy(() -> m.counter(Family.counter("t_requests", "help", "model"), "a"))
        .hasMessageContaining("registered twice");
    assertThatThrownBy(() -> m.counter(REQ, "only-one")).hasMessageContaining("1 label value(s)");
    assertThatThrownBy(() -> m.histogram(REQ, "a", "b")).hasMessageContaining("COUNTER");
  }

  @Test
  void familyNamesThePrometheusFormatReservesAreRefused() {
    for (String bad : List.of("x_total", "x_bucket", "x_count", "x_sum", "x_info", "x_created", "1x", "a-b")) {
      assertThatThrownBy(() -> Family.gauge(bad, "h")).as(bad).isInstanceOf(IllegalArgumentException.class);
    }
    assertThatThrownBy(() -> Family.gauge("x", "h", "le")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Family.gauge("x", "h", "__name")).isInstanceOf(IllegalArgumentException.class);
    for (Family f : Families.all()) {
      List<String> keyed = Families.withKeys(f, true).labels();
      assertThat(keyed.subList(0, f.labels().size())).isEqualTo(f.labels());
      assertThat(keyed.subList(f.labels().size(), keyed.size())).isEqualTo(Families.KEY_LABELS);
    }
  }

  @Test
  void gaugesAreReplacedAndRemoved() {
    GatewayMetrics m = new GatewayMetrics();
    Family g = Family.gauge("t_state", "h", "id");
    m.gauge(g, () -> 1, "a");
    m.gauge(g, () -> 2, "a");
    m.gauge(g, () -> 3, "b");
    assertThat(m.registry().getGauges().get("t_state{id=\"a\"}").getValue()).isEqualTo(2);
    m.removeIf(g, v -> v.get(0).equals("a"));
    assertThat(m.registry().getGauges()).containsOnlyKeys("t_state{id=\"b\"}");
    assertThat(m.seriesOf(g)).hasSize(1);
  }

  @Test
  void histogramBucketsIncludeTheirUpperBoundAndEverythingLandsInOneBucket() {
    BucketHistogram h = new BucketHistogram(new double[] {0.001, 0.01, 1.0});
    h.update(0);              // ≤ 1 ms
    h.update(1_000_000);      // exactly 1 ms: the le="0.001" bucket (upper bounds are inclusive)
    h.update(1_000_001);      // just above: le="0.01"
    h.update(500_000_000);    // 0.5 s
    h.update(5_000_000_000L); // +Inf
    h.update(-5);             // clamped to 0
    assertThat(h.counts()).containsExactly(3, 1, 1, 1);
    assertThat(h.cumulativeCounts()).containsExactly(3, 4, 5, 6);
    assertThat(h.getCount()).isEqualTo(6);
    assertThat(h.sumSeconds()).isCloseTo(5.502000001, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(new BucketHistogram().upperBounds()).startsWith(0.005).endsWith(300.0);
  }

  @Test
  void theDoubleCounterNeverGoesDown() {
    DoubleCounter c = new DoubleCounter();
    c.add(0.25);
    c.add(-1);
    c.add(Double.NaN);
    c.add(0.5);
    assertThat(c.getValue()).isEqualTo(0.75);
  }
}
