package io.sluice.admin.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.admin.db.TestDatabases;
import io.sluice.admin.store.Deployments;
import io.sluice.admin.store.PgKeyStore;
import io.sluice.admin.store.SecretBox;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.Principal;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.management.ManagementRequest;
import io.sluice.management.ManagementResponse;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.RegistryHolder;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** An AdminApi over a fresh real PostgreSQL database, called the way the data plane calls it. */
final class AdminHarness implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String SALT = "test-salt-SECRET";

  final TestDatabases.TestDatabase tdb = TestDatabases.create();
  final ExecutorService exec = Executors.newFixedThreadPool(2);
  final RegistryHolder registry;
  final Deployments deployments;
  final AdminApi api;
  final List<KeyHash> invalidated = Collections.synchronizedList(new ArrayList<>());

  AdminHarness() {
    this(Map.of());
  }

  AdminHarness(Map<String, String> env) {
    DeploymentConfig cfg = new DeploymentConfig("llama", Provider.HOSTED_VLLM, "meta/llama",
        URI.create("http://127.0.0.1:9/v1"), Secret.of("replica-CONFIG-secret"), null, null, null, null,
        "config-llama");
    registry = new RegistryHolder(DeploymentRegistry.of(List.of(cfg)));
    SecretBox box = new SecretBox(SALT);
    deployments = new Deployments(tdb.db.dsl(), box, List.of(cfg), RouterSettings.defaults(), registry, env);
    deployments.reload();
    api = new AdminApi(tdb.db.dsl(), exec, keys -> {
      invalidated.addAll(keys);
      return java.util.concurrent.CompletableFuture.completedFuture(null);
    }, deployments, box, registry, env, true, Clock.systemUTC());
  }

  record Reply(int status, JsonNode json) {
    String message() {
      return json.path("error").path("message").asText();
    }
  }

  Reply call(Principal p, String method, String pathAndQuery, String body) {
    int q = pathAndQuery.indexOf('?');
    String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
    String query = q < 0 ? "" : pathAndQuery.substring(q + 1);
    ManagementRequest req = new ManagementRequest(method, path, query,
        body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8), p, "test-req", null);
    try {
      ManagementResponse r = api.handle(req).toCompletableFuture().get(10, TimeUnit.SECONDS);
      return new Reply(r.status(), JSON.readTree(r.body()));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  Reply post(Principal p, String path, String body) {
    return call(p, "POST", path, body);
  }

  Reply get(Principal p, String path) {
    return call(p, "GET", path, null);
  }

  /** The principal the data plane would build for {@code key}. */
  Principal principal(String key) {
    KeyRecord r = PgKeyStore.load(tdb.db.dsl(), KeyHash.of(key)).orElseThrow();
    return Principal.of(r);
  }

  @Override
  public void close() {
    exec.shutdownNow();
    tdb.close();
  }
}
