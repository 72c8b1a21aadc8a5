package io.sluice.config;

import java.util.Map;

/**
 * The one precedence for the master key: {@code general_settings.master_key} (after {@code os.environ/} resolution)
 * → env {@code LITELLM_MASTER_KEY} → env {@code SLUICE_MASTER_KEY}. The file wins over the environment, so a key
 * written in the config is never silently overridden by a stray variable. Empty values count as unset.
 */
public final class MasterKeys {
  private MasterKeys() {}

  /** Where the master key came from; {@link #describe()} is safe to log. */
  public enum Source {
    CONFIG("general_settings.master_key"),
    ENV_LITELLM_MASTER_KEY("env LITELLM_MASTER_KEY"),
    ENV_SLUICE_MASTER_KEY("env SLUICE_MASTER_KEY"),
    NONE("none");

    private final String description;

    Source(String description) {
      this.description = description;
    }

    public String describe() {
      return description;
    }
  }

  /** @param key the master key, or null when no source has one */
  public record Resolved(Secret key, Source source) {}

  public static Resolved resolve(SluiceConfig cfg, Map<String, String> env) {
    if (cfg.general().masterKey() != null) {
      return new Resolved(cfg.general().masterKey(), Source.CONFIG);
    }
    String v = env.get("LITELLM_MASTER_KEY");
    if (v != null && !v.isEmpty()) {
      return new Resolved(Secret.of(v), Source.ENV_LITELLM_MASTER_KEY);
    }
    v = env.get("SLUICE_MASTER_KEY");
    if (v != null && !v.isEmpty()) {
      return new Resolved(Secret.of(v), Source.ENV_SLUICE_MASTER_KEY);
    }
    return new Resolved(null, Source.NONE);
  }
}
