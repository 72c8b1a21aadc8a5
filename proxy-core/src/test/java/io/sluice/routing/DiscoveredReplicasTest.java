package io.sluice.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.sluice.config.ConfigException;
import io.sluice.config.ConfigLoader;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.SluiceConfig;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code api_base: k8s://SERVICE.NAMESPACE:PORT/path} templates and the replicas a discovery hands in. */
class DiscoveredReplicasTest {
  @TempDir
  Path dir;

  private SluiceConfig load(String apiBase) throws Exception {
    Path f = dir.resolve("c.yaml");
    Files.writeString(f, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, api_base: '"
        + apiBase + "'}\n    model_info: {id: vllm}\n  - model_name: other\n    litellm_params: {model: openai/x, "
        + "api_base: 'http://static:8000/v1'}\n    model_info: {id: static}\n");
    return ConfigLoader.load(f, Map.of());
  }

  @Test
  void k8sApiBaseIsATemplateAndMalformedOnesNameTheExpectedForm() throws Exception {
    DeploymentConfig t = load("k8s://vllm-llama.models:8000/v1").modelList().get(0);
    assertThat(t.discovered()).isTrue();
    assertThat(t.apiBase().getHost()).isEqualTo("vllm-llama.models");
    for (String bad : List.of("k8s://vllm:8000/v1", "k8s://vllm.models/v1", "k8s://Vllm.models:8000/v1",
        "k8s://a.b.c:8000/v1", "k8s://vllm.models:8000/v1?x=1")) {
      assertThatThrownBy(() -> load(bad)).as(bad).isInstanceOf(ConfigException.class)
          .hasMessageContaining("model_list[0].litellm_params.api_base")
          .hasMessageContaining("expected k8s://SERVICE.NAMESPACE:PORT/v1");
    }
  }

  @Test
  void templatesExpandToTheirReplicasAndSurvivorsKeepTheirDeployment() throws Exception {
    SluiceConfig cfg = load("k8s://vllm.models:8000/v1");
    RegistryHolder h = new RegistryHolder(cfg.modelList(), cfg.router());
    assertThat(h.get().group("llama").deployments()).as("no replica known yet; the group exists").isEmpty();
    assertThat(h.get().group("llama").choose()).isNull();
    assertThat(h.get().group("llama").nanosUntilAvailable(System.nanoTime())).isZero();

    h.replicas("vllm", List.of(URI.create("http://10.0.0.7:8000/v1"), URI.create("http://10.0.0.8:8000/v1")));
    List<Deployment> two = h.get().group("llama").deployments();
    assertThat(two).extracting(Deployment::id).containsExactly("vllm@10.0.0.7:8000", "vllm@10.0.0.8:8000");
    assertThat(two.get(0).endpoint()).isEqualTo(new Endpoint("10.0.0.7", 8000, false));
    assertThat(two.get(0).basePath()).isEqualTo("/v1");
    Deployment staticOne = h.get().deployment("static");

    h.replicas("vllm", List.of(URI.create("http://10.0.0.8:8000/v1"), URI.create("http://10.0.0.9:8000/v1")));
    assertThat(h.get().deployment("vllm@10.0.0.8:8000")).as("the survivor is the same object").isSameAs(two.get(1));
    assertThat(h.get().deployment("vllm@10.0.0.7:8000")).isNull();
    assertThat(h.get().deployment("static")).isSameAs(staticOne);

    // The admin plane's reload (config + stored deployments) keeps the discovered replicas.
    List<DeploymentConfig> withStored = new ArrayList<>(cfg.modelList());
    withStored.add(new DeploymentConfig("stored", io.sluice.config.Provider.OPENAI, "y",
        URI.create("http://stored:8000/v1"), null, null, null, null, null, "stored-1"));
    h.rebuild(withStored, cfg.router());
    assertThat(h.get().group("llama").deployments()).extracting(Deployment::id)
        .containsExactly("vllm@10.0.0.8:8000", "vllm@10.0.0.9:8000");
    assertThat(h.get().group("stored")).isNotNull();
  }
}
