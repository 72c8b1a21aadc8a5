package io.sluice.config;

/**
 * The {@code litellm_params.model} prefixes Sluice serves: those LiteLLM sends in OpenAI's wire format to the
 * {@code api_base} the entry names — vLLM and other self-hosted OpenAI-compatible servers (LiteLLM's
 * {@code openai_compatible_providers} that have no fixed cloud endpoint, plus {@code openai/} and
 * {@code text-completion-openai/} with an {@code api_base}). Cloud providers (a bare {@code gpt-4o},
 * {@code bedrock/…}, {@code anthropic/…}, {@code groq/…}) are not served: such a {@code model_list} entry is skipped
 * with a warning.
 */
public enum Provider {
  /** {@code hosted_vllm/<served-name>}: a vLLM replica. */
  HOSTED_VLLM("hosted_vllm/"),
  /** {@code openai/<served-name>}: any OpenAI-compatible server at {@code api_base}. */
  OPENAI("openai/"),
  /** {@code text-completion-openai/<name>}: LiteLLM's route for /v1/completions servers; same wire format. */
  TEXT_COMPLETION_OPENAI("text-completion-openai/"),
  /** {@code custom_openai/<name>}: LiteLLM's alias for an OpenAI-compatible {@code api_base}. */
  CUSTOM_OPENAI("custom_openai/"),
  /** {@code litellm_proxy/<name>}: another LiteLLM-compatible proxy (Sluice included) at {@code api_base}. */
  LITELLM_PROXY("litellm_proxy/"),
  /** {@code llamafile/<name>}, {@code lm_studio/<name>}, {@code xinference/<name>}: local OpenAI-compatible servers. */
  LLAMAFILE("llamafile/"),
  LM_STUDIO("lm_studio/"),
  XINFERENCE("xinference/");

  private final String prefix;

  Provider(String prefix) {
    this.prefix = prefix;
  }

  public String prefix() {
    return prefix;
  }
}
