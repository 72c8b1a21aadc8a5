package io.sluice.bench.e2e;

import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The relay tests' one end-to-end fixture: a Sluice server on an ephemeral port of 127.0.0.1 in front of fake vLLM
 * replicas (or any socket), with the settings a test names and the defaults for the rest — one event loop, the
 * master key, no key store unless a database is named (then the admin plane on it: virtual keys, users, spend), the
 * native transport. What used to be a copy of the same fifteen lines in each relay test class ({@code RelayTest},
 * {@code ResilienceTest}, {@code VllmRoutesTest}, {@code PassThroughTest}, {@code SecurityRegressionTest},
 * {@code ContextWindowFallbackTest}, {@code ResponseModelTest}, {@code AnthropicMessagesTest}).
 *
 * <pre>{@code
 * sluice = Gateway.builder(MASTER)
 *     .model(Gateway.vllm("llama", SERVED, fake, REPLICA_KEY, "fake-a"))
 *     .router(router)
 *     .start();
 * }</pre>
 */
final class Gateway {
  private Gateway() {}

  /** A {@code hosted_vllm} deployment of group {@code group} at {@code fake}'s {@code /v1}. */
  static DeploymentConfig vllm(String group, String served, FakeVllm fake, String replicaKey, String id) {
    return vllm(group, served, fake.port(), replicaKey, null, id);
  }

  /** As above at any port (a dead one, a scripted upstream), with a per-deployment {@code timeout} (or null). */
  static DeploymentConfig vllm(String group, String served, int port, String replicaKey, Duration timeout,
      String id) {
    return new DeploymentConfig(group, Provider.HOSTED_VLLM, served, URI.create("http://127.0.0.1:" + port + "/v1"),
        replicaKey == null ? null : Secret.of(replicaKey), null, null, null, timeout, id);
  }

  /** Sluice for a config loaded elsewhere (a {@code config.yaml} text), with the fixture's defaults. */
  static SluiceServer start(SluiceConfig cfg, String masterKey) throws Exception {
    return start(cfg, masterKey, null);
  }

  /** As above, with its admin plane on {@code databaseUrl} (LiteLLM's {@code DATABASE_URL} form) unless null. */
  static SluiceServer start(SluiceConfig cfg, String masterKey, String databaseUrl) throws Exception {
    SluiceServer.Options o = options(masterKey);
    if (databaseUrl != null) {
      io.sluice.server.AdminPlane plane = io.sluice.server.AdminPlane.start(cfg, io.sluice.server.AdminPlane.Settings
          .from(cfg, java.util.Map.of("DATABASE_URL", databaseUrl), Secret.of(masterKey)), java.util.Map.of(),
          io.sluice.auth.KeyCache.NONE);
      o = o.withAdminPlane(plane);
    }
    return SluiceServer.start(cfg, o);
  }

  private static SluiceServer.Options options(String masterKey) {
    return new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(masterKey), false, io.sluice.auth.KeyStore.NONE,
        true);
  }

  static Builder builder(String masterKey) {
    return new Builder(masterKey);
  }

  static final class Builder {
    private final String masterKey;
    private final List<DeploymentConfig> models = new ArrayList<>();
    private GeneralSettings general = GeneralSettings.defaults();
    private RouterSettings router = RouterSettings.defaults();
    private LitellmSettings litellm = LitellmSettings.defaults();
    private ServerSettings server = ServerSettings.defaults();
    private io.sluice.config.PassThroughSettings passThrough;
    private String databaseUrl;
    private java.util.function.LongSupplier clock;

    private Builder(String masterKey) {
      this.masterKey = masterKey;
    }

    Builder model(DeploymentConfig d) {
      models.add(d);
      return this;
    }

    Builder models(List<DeploymentConfig> ds) {
      models.addAll(ds);
      return this;
    }

    Builder general(GeneralSettings g) {
      this.general = g;
      return this;
    }

    Builder router(RouterSettings r) {
      this.router = r;
      return this;
    }

    Builder litellm(LitellmSettings l) {
      this.litellm = l;
      return this;
    }

    Builder server(ServerSettings s) {
      this.server = s;
      return this;
    }

    Builder passThrough(io.sluice.config.PassThroughSettings p) {
      this.passThrough = p;
      return this;
    }

    /** Virtual keys, users and spend in this PostgreSQL database (LiteLLM's {@code DATABASE_URL} form). */
    Builder database(String litellmUrl) {
      this.databaseUrl = litellmUrl;
      return this;
    }

    /**
     * The replicas' state (cooldowns, health failures, limit windows at routing) judged on {@code nanos} instead of
     * {@link System#nanoTime}: a test moves it past a cooldown instead of sleeping. Not with {@link #database}.
     */
    Builder clock(java.util.function.LongSupplier nanos) {
      this.clock = nanos;
      return this;
    }

    SluiceConfig config() {
      return passThrough == null ? new SluiceConfig(null, List.copyOf(models), general, router, litellm, server)
          : new SluiceConfig(null, List.copyOf(models), general, router, litellm, server, passThrough);
    }

    /** Starts it (with its admin plane when a database was given); the caller closes it. */
    SluiceServer start() throws Exception {
      if (clock != null) {
        if (databaseUrl != null) {
          throw new IllegalStateException("a clock and a database together: the admin plane builds its own registry");
        }
        SluiceConfig cfg = config();
        return SluiceServer.start(cfg, options(masterKey).withRegistry(
            new io.sluice.routing.RegistryHolder(cfg.modelList(), cfg.router(), clock)));
      }
      return Gateway.start(config(), masterKey, databaseUrl);
    }
  }
}
