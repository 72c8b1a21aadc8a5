package io.sluice.config;

import java.nio.file.Path;
import java.util.List;

/**
 * A loaded, validated, immutable configuration: LiteLLM's {@code config.yaml} subset plus {@code sluice_settings}.
 * Built by {@link ConfigLoader}; every {@code os.environ/NAME} reference is already resolved.
 *
 * @param source      the file it came from (for messages), or null when built in code
 * @param passThrough pass-through endpoints, the {@code /vllm/*} default target and BYOK
 */
public record SluiceConfig(
    Path source,
    List<DeploymentConfig> modelList,
    GeneralSettings general,
    RouterSettings router,
    LitellmSettings litellm,
    ServerSettings server,
    PassThroughSettings passThrough) {

  public SluiceConfig {
    modelList = List.copyOf(modelList);
    if (passThrough == null) {
      passThrough = PassThroughSettings.NONE;
    }
  }

  /** Without pass-through endpoints or BYOK. */
  public SluiceConfig(Path source, List<DeploymentConfig> modelList, GeneralSettings general, RouterSettings router,
      LitellmSettings litellm, ServerSettings server) {
    this(source, modelList, general, router, litellm, server, PassThroughSettings.NONE);
  }
}
