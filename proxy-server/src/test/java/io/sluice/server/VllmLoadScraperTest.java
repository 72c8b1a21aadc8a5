package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.routing.Deployment;
import java.net.URI;
import org.junit.jupiter.api.Test;

class VllmLoadScraperTest {
  private static Deployment dep() {
    return new Deployment(new DeploymentConfig("g", Provider.HOSTED_VLLM, "m", URI.create("http://h:1/v1"), null,
        null, null, null, null, "d"));
  }

  @Test
  void sumsOverEnginesAndFallsBackToTheDeprecatedKvCacheName() {
    Deployment d = dep();
    VllmLoadScraper.parse(d, """
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{engine="0",model_name="m"} 3.0
        vllm:num_requests_waiting{engine="1",model_name="m"} 4.0
        vllm:num_requests_running{engine="0",model_name="m"} 8.0
        vllm:gpu_cache_usage_perc{model_name="m"} 0.5
        vllm:num_requests_waiting_total_bogus garbage
        """);
    assertThat(d.load().waiting()).isEqualTo(7.0);
    assertThat(d.load().running()).isEqualTo(8.0);
    assertThat(d.load().kvCache()).as("V0 name when the V1 one is absent").isEqualTo(0.5);
    VllmLoadScraper.parse(d, "vllm:kv_cache_usage_perc{engine=\"0\"} 0.25\nvllm:gpu_cache_usage_perc 0.9\n");
    assertThat(d.load().kvCache()).as("V1 name wins").isEqualTo(0.25);
    assertThat(d.load().vllmScore()).isEqualTo(0.0);
  }
}
