package io.sluice.config;

/** The {@code litellm_params.model} prefixes Sluice understands; both speak OpenAI's wire format. */
public enum Provider {
  /** {@code hosted_vllm/<served-name>}: a vLLM replica. */
  HOSTED_VLLM("hosted_vllm/"),
  /** {@code openai/<served-name>}: any OpenAI-compatible server at {@code api_base}. */
  OPENAI("openai/");

  private final String prefix;

  Provider(String prefix) {
    this.prefix = prefix;
  }

  public String prefix() {
    return prefix;
  }
}
