package io.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** LiteLLM's wildcard model names: what matches, what the upstream gets. */
class WildcardsTest {
  @Test
  void aStarMatchesAnyRunIncludingSlashesAndFillsTheUpstreamTemplate() {
    assertThat(Wildcards.match("hosted_vllm/*", "hosted_vllm/Qwen/Qwen2-7B")).containsExactly("Qwen/Qwen2-7B");
    assertThat(Wildcards.match("*", "anything/at all")).containsExactly("anything/at all");
    assertThat(Wildcards.match("meta-llama/*-Instruct", "meta-llama/Llama-3-8B-Instruct")).containsExactly("Llama-3-8B");
    assertThat(Wildcards.match("hosted_vllm/*", "openai/gpt-4")).isNull();
    assertThat(Wildcards.match("a*b*c", "a12b34c")).containsExactly("12", "34");
    assertThat(Wildcards.match("exact", "exact")).isEmpty();
    assertThat(Wildcards.fill("*", List.of("Qwen/Qwen2-7B"))).isEqualTo("Qwen/Qwen2-7B");
    assertThat(Wildcards.fill("org/*", List.of("m"))).isEqualTo("org/m");
    assertThat(Wildcards.specificity("hosted_vllm/*")).isGreaterThan(Wildcards.specificity("*"));
  }
}
