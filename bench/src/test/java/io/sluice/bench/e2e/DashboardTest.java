package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.metrics.Families;
import io.sluice.metrics.Family;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Grafana dashboard in the repository queries only metrics Sluice exposes, each with its type's suffix. */
class DashboardTest {
  static final Path DASHBOARD = Path.of("..", "examples", "grafana", "sluice-dashboard.json");
  /** A metric name is followed by its selector (every query of the dashboard selects job and instance). */
  static final Pattern METRIC = Pattern.compile("\\b((?:litellm|sluice|jvm)_[a-z0-9_]+)\\{");

  @Test
  void everyQueryOfTheDashboardNamesAMetricSluiceExposesWithItsTypesSuffix() throws Exception {
    JsonNode dash = new ObjectMapper().readTree(Files.readString(DASHBOARD));
    Map<String, Family> families = new HashMap<>();
    for (Family f : Families.all()) {
      families.put(f.name(), f);
    }
    int queries = 0;
    for (JsonNode panel : dash.get("panels")) {
      for (JsonNode t : panel.path("targets")) {
        String expr = t.get("expr").asText();
        queries++;
        Matcher m = METRIC.matcher(expr);
        assertThat(m.find()).as(expr).isTrue();
        m.reset();
        while (m.find()) {
          String name = m.group(1);
          if (name.startsWith("jvm_")) {
            assertThat(name).isEqualTo("jvm_memory_heap_used"); // Dropwizard's metrics-jvm, checked by MetricsTest
            continue;
          }
          String base = name.replaceAll("_(total|bucket|count|sum)$", "");
          Family f = families.get(base);
          assertThat(f).as("%s in %s is not a Sluice metric", name, expr).isNotNull();
          String suffix = name.substring(base.length());
          switch (f.type()) {
            case COUNTER -> assertThat(suffix).as(name).isEqualTo("_total");
            case GAUGE -> assertThat(suffix).as(name).isEmpty();
            case HISTOGRAM -> assertThat(suffix).as(name).isIn("_bucket", "_count", "_sum");
          }
        }
      }
    }
    assertThat(queries).isGreaterThan(20);
  }
}
