package io.sluice.config;

/**
 * A configuration that cannot be used. The message names the file, the path inside it
 * ({@code model_list[2].litellm_params.api_base}) and what is wrong, and never contains a secret value.
 */
public final class ConfigException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
