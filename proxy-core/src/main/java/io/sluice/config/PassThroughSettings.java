package io.sluice.config;

import java.net.URI;
import java.util.List;

/**
 * Pass-through and BYOK settings.
 *
 * @param endpoints              {@code general_settings.pass_through_endpoints}, in file order
 * @param vllmApiBase            env {@code VLLM_API_BASE}: the default target of {@code /vllm/*} when the body names
 *                               no model group, or null
 * @param vllmApiKey             env {@code VLLM_API_KEY} (sent as {@code Authorization: Bearer}), or null
 * @param vllmDefaultDeployment  {@code model_info.id} of the first {@code model_list} entry with
 *                               {@code litellm_params.use_in_pass_through: true}, or null (wins over
 *                               {@code VLLM_API_BASE})
 * @param forwardProviderAuth    {@code forward_llm_provider_auth_headers} (general or litellm settings): a client's
 *                               {@code x-api-key} / {@code api-key} goes upstream as {@code Authorization: Bearer}
 */
public record PassThroughSettings(
    List<PassThroughEndpoint> endpoints,
    URI vllmApiBase,
    Secret vllmApiKey,
    String vllmDefaultDeployment,
    boolean forwardProviderAuth) {

  public static final PassThroughSettings NONE = new PassThroughSettings(List.of(), null, null, null, false);

  public PassThroughSettings {
    endpoints = List.copyOf(endpoints);
  }
}
