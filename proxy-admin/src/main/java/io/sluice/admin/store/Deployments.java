package io.sluice.admin.store;

import static io.sluice.admin.db.jooq.Tables.SLUICE_DEPLOYMENTS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigLoader;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.RouterSettings;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.RegistryHolder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the data plane's {@link RegistryHolder} equal to the configuration's {@code model_list} plus the
 * deployments stored in PostgreSQL ({@code /model/new}). {@link #reload()} reads the table and swaps in a new
 * snapshot when anything changed, keeping every unchanged deployment's health and load. Called at start, after
 * each {@code /model/*} write on this node, and periodically to pick up other nodes' writes. Never on an event
 * loop.
 */
public final class Deployments {
  private static final Logger log = LoggerFactory.getLogger(Deployments.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final DSLContext dsl;
  private final SecretBox box;
  private final List<DeploymentConfig> fromConfig;
  private final RouterSettings router;
  private final RegistryHolder registry;
  private final Map<String, String> env;
  private List<DeploymentConfig> applied;

  public Deployments(DSLContext dsl, SecretBox box, List<DeploymentConfig> fromConfig, RouterSettings router,
      RegistryHolder registry, Map<String, String> env) {
    this.dsl = dsl;
    this.box = box;
    this.fromConfig = List.copyOf(fromConfig);
    this.router = router;
    this.registry = registry;
    this.env = env;
  }

  public boolean isFromConfig(String id) {
    return fromConfig.stream().anyMatch(d -> d.id().equals(id));
  }

  public List<DeploymentConfig> fromConfig() {
    return fromConfig;
  }

  private volatile Runnable onWrite = () -> {};

  /** Told after this node changed stored deployments (e.g. to tell other nodes to re-read them at once). */
  public void onWrite(Runnable listener) {
    this.onWrite = listener;
  }

  /** {@link #reload()} after a write of this node's; then tells the {@link #onWrite} listener. */
  public List<DeploymentConfig> reloadAfterWrite() {
    List<DeploymentConfig> l = reload();
    try {
      onWrite.run();
    } catch (RuntimeException e) {
      org.slf4j.LoggerFactory.getLogger(Deployments.class).warn("deployment change listener failed: {}", e.toString());
    }
    return l;
  }

  /** Reads the stored deployments and swaps the registry if the set changed; returns the stored ones. */
  public synchronized List<DeploymentConfig> reload() {
    List<DeploymentConfig> stored = new ArrayList<>();
    for (Record r : dsl.selectFrom(SLUICE_DEPLOYMENTS).orderBy(SLUICE_DEPLOYMENTS.CREATED_AT,
        SLUICE_DEPLOYMENTS.MODEL_ID).fetch()) {
      String id = r.get(SLUICE_DEPLOYMENTS.MODEL_ID);
      if (isFromConfig(id)) {
        log.warn("stored deployment model_id={} has the id of a config.yaml deployment; the config's wins", id);
        continue;
      }
      try {
        stored.add(parse(r));
      } catch (ConfigException | IllegalStateException e) {
        log.error("stored deployment model_id={} is skipped: {}", id, e.getMessage());
      }
    }
    List<DeploymentConfig> all = new ArrayList<>(fromConfig);
    all.addAll(stored);
    if (!all.equals(applied)) {
      registry.rebuild(all, router); // keeps the replicas found for k8s:// templates
      if (applied != null) {
        log.info("deployments changed: {} from config.yaml, {} from the database", fromConfig.size(),
            stored.size());
      }
      applied = all;
    }
    return stored;
  }

  /** A stored row as a deployment: the sealed replica key opened, {@code os.environ/} references resolved. */
  DeploymentConfig parse(Record r) {
    ObjectNode entry = JSON.createObjectNode();
    entry.put("model_name", r.get(SLUICE_DEPLOYMENTS.MODEL_NAME));
    try {
      ObjectNode params = (ObjectNode) JSON.readTree(r.get(SLUICE_DEPLOYMENTS.LITELLM_PARAMS).data());
      JsonNode k = params.get("api_key");
      if (k != null && k.isTextual() && k.asText().startsWith(SecretBox.PREFIX)) {
        if (box == null) {
          throw new IllegalStateException("its replica key is encrypted and this server has no master key or "
              + "LITELLM_SALT_KEY to decrypt it");
        }
        params.put("api_key", box.open(k.asText()));
      }
      entry.set("litellm_params", params);
      ObjectNode info = JSON.createObjectNode();
      info.put("id", r.get(SLUICE_DEPLOYMENTS.MODEL_ID));
      entry.set("model_info", info);
    } catch (java.io.IOException e) {
      throw new IllegalStateException("litellm_params is not valid JSON");
    }
    return ConfigLoader.deployment(entry, env, "stored deployment model_id=" + r.get(SLUICE_DEPLOYMENTS.MODEL_ID));
  }
}
