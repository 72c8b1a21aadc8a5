package io.sluice.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.ModelAccess;
import io.sluice.auth.Role;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import java.net.URI;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Issue 14, finding 3: wildcard model groups route as LiteLLM's, and keys' model lists may hold patterns. */
class WildcardRoutingTest {
  static DeploymentConfig d(String name, String upstream, String id) {
    return new DeploymentConfig(name, Provider.HOSTED_VLLM, upstream, URI.create("http://127.0.0.1:9/v1"), null,
        null, null, null, null, id);
  }

  @Test
  void anExactGroupWinsThenTheMostSpecificPatternAndTheUpstreamGetsTheMatchedPart() {
    DeploymentRegistry r = DeploymentRegistry.of(List.of(d("*", "*", "catch-all"),
        d("hosted_vllm/*", "*", "vllm-any"), d("hosted_vllm/llama", "meta/llama", "llama")));
    assertThat(r.group("hosted_vllm/llama").name()).isEqualTo("hosted_vllm/llama");
    ModelGroup g = r.group("hosted_vllm/Qwen/Qwen2-7B");
    assertThat(g.name()).isEqualTo("hosted_vllm/*");
    assertThat(g.deployments().get(0).upstreamModelFor("hosted_vllm/Qwen/Qwen2-7B")).isEqualTo("Qwen/Qwen2-7B");
    ModelGroup any = r.group("mistral-7b");
    assertThat(any.name()).isEqualTo("*");
    assertThat(any.deployments().get(0).upstreamModelFor("mistral-7b")).isEqualTo("mistral-7b");
    assertThat(r.group("hosted_vllm/llama").deployments().get(0).upstreamModelFor("x")).isEqualTo("meta/llama");
    assertThat(DeploymentRegistry.of(List.of(d("hosted_vllm/*", "*", "v"))).group("openai/gpt-4")).isNull();
  }

  @Test
  void aKeysModelListMayHoldWildcardPatterns() {
    KeyRecord k = KeyRecord.simple(KeyHash.of("sk-x"), null, Role.INTERNAL_USER, Set.of("hosted_vllm/*", "llama"),
        false, null);
    assertThat(ModelAccess.denial(k, "hosted_vllm/Qwen/Qwen2-7B")).isNull();
    assertThat(ModelAccess.denial(k, "llama")).isNull();
    assertThat(ModelAccess.denial(k, "openai/gpt-4")).isNotNull();
    assertThat(ModelAccess.denial(k, "openai/gpt-4").message()).contains("Tried to access openai/gpt-4");
  }
}
