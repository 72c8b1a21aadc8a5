package io.sluice.admin.api;

import static io.sluice.admin.db.jooq.Tables.SLUICE_DEPLOYMENTS;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.admin.store.Deployments;
import io.sluice.admin.store.SecretBox;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.ModelAccess;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigLoader;
import io.sluice.config.DeploymentConfig;
import io.sluice.routing.Deployment;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;
import java.time.Clock;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.impl.DSL;

/**
 * {@code /model/new}, {@code /model/update}, {@code /model/delete}, {@code /model/info} and
 * {@code /v1/model/info} (LiteLLM's model_management_endpoints.py / proxy_server.py). Deployments added here are
 * stored with their replica key sealed ({@link SecretBox}) or as an {@code os.environ/} reference, and join routing
 * at once. Deployments from {@code config.yaml} are read-only here. No response ever shows an {@code api_key}.
 */
final class ModelApi {
  private final Deployments deployments;
  private final SecretBox box;
  private final RegistryHolder registry;
  private final Map<String, String> env;
  private final boolean storeModelInDb;
  private final Clock clock;

  ModelApi(Deployments deployments, SecretBox box, RegistryHolder registry, Map<String, String> env,
      boolean storeModelInDb, Clock clock) {
    this.deployments = deployments;
    this.box = box;
    this.registry = registry;
    this.env = env;
    this.storeModelInDb = storeModelInDb;
    this.clock = clock;
  }

  private void requireStore(String path) {
    if (!storeModelInDb) {
      throw ApiException.badRequest(null, path + " needs stored models, which this server has off "
          + "(general_settings.store_model_in_db: false / STORE_MODEL_IN_DB=False). Set it to true, or edit "
          + "model_list in config.yaml.");
    }
  }

  ObjectNode add(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/model/new");
    requireStore("/model/new");
    ObjectNode entry = entry(b, null);
    String id = entry.with("model_info").path("id").asText(null);
    if (id == null || id.isBlank()) {
      id = UUID.randomUUID().toString();
      entry.with("model_info").put("id", id);
    }
    DeploymentConfig d = validate(entry);
    String modelId = id;
    if (deployments.isFromConfig(modelId)) {
      throw ApiException.badRequest("model_info.id", "model_info.id \"" + modelId + "\" is the id of a config.yaml "
          + "deployment. Choose another id.");
    }
    OffsetDateTime now = now();
    dsl.transaction(cfg -> {
      DSLContext tx = DSL.using(cfg);
      if (tx.fetchExists(SLUICE_DEPLOYMENTS, SLUICE_DEPLOYMENTS.MODEL_ID.eq(modelId))) {
        throw ApiException.badRequest("model_info.id", "A deployment with model_info.id \"" + modelId + "\" "
            + "already exists. Use /model/update to change it, or choose another id.");
      }
      Uniques.insert(() -> tx.insertInto(SLUICE_DEPLOYMENTS)
          .set(SLUICE_DEPLOYMENTS.MODEL_ID, modelId)
          .set(SLUICE_DEPLOYMENTS.MODEL_NAME, d.modelName())
          .set(SLUICE_DEPLOYMENTS.LITELLM_PARAMS, Out.jsonb(sealed((ObjectNode) entry.get("litellm_params"))))
          .set(SLUICE_DEPLOYMENTS.MODEL_INFO, Out.jsonb(entry.get("model_info")))
          .set(SLUICE_DEPLOYMENTS.CREATED_BY, c.userId())
          .set(SLUICE_DEPLOYMENTS.UPDATED_BY, c.userId())
          .set(SLUICE_DEPLOYMENTS.CREATED_AT, now)
          .set(SLUICE_DEPLOYMENTS.UPDATED_AT, now)
          .execute(), "model_info.id", modelId);
    });
    deployments.reloadAfterWrite();
    return describe(dsl.selectFrom(SLUICE_DEPLOYMENTS).where(SLUICE_DEPLOYMENTS.MODEL_ID.eq(modelId)).fetchOne());
  }

  ObjectNode update(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/model/update");
    requireStore("/model/update");
    String id = modelId(b);
    if (deployments.isFromConfig(id)) {
      throw ApiException.badRequest("model_info.id", "Deployment \"" + id + "\" is defined in config.yaml; edit the "
          + "file and restart to change it.");
    }
    dsl.transaction(cfg -> {
      DSLContext tx = DSL.using(cfg);
      Record r = tx.selectFrom(SLUICE_DEPLOYMENTS).where(SLUICE_DEPLOYMENTS.MODEL_ID.eq(id)).forUpdate().fetchOne();
      if (r == null) {
        throw ApiException.notFound("model_info.id", "No stored deployment with model_info.id \"" + id + "\". "
            + "GET /model/info lists them.");
      }
      ObjectNode params = (ObjectNode) Out.json(r.get(SLUICE_DEPLOYMENTS.LITELLM_PARAMS));
      ObjectNode info = (ObjectNode) Out.json(r.get(SLUICE_DEPLOYMENTS.MODEL_INFO));
      ObjectNode newParams = b.object("litellm_params");
      if (newParams != null) {
        for (Iterator<Map.Entry<String, JsonNode>> it = newParams.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          if (e.getValue().isNull()) {
            params.remove(e.getKey());
          } else {
            params.set(e.getKey(), e.getValue());
          }
        }
      }
      ObjectNode newInfo = b.object("model_info");
      if (newInfo != null) {
        info.setAll(newInfo);
      }
      info.put("id", id);
      String name = b.present("model_name") ? b.string("model_name") : r.get(SLUICE_DEPLOYMENTS.MODEL_NAME);
      ObjectNode entry = Out.obj();
      entry.put("model_name", name);
      // A stored sealed key is opened only to validate the merged entry; it is sealed again below.
      ObjectNode check = params.deepCopy();
      JsonNode k = check.get("api_key");
      if (k != null && k.isTextual() && k.asText().startsWith(SecretBox.PREFIX) && box != null) {
        check.put("api_key", box.open(k.asText()));
      }
      entry.set("litellm_params", check);
      entry.set("model_info", info);
      validate(entry);
      tx.update(SLUICE_DEPLOYMENTS)
          .set(SLUICE_DEPLOYMENTS.MODEL_NAME, name)
          .set(SLUICE_DEPLOYMENTS.LITELLM_PARAMS, Out.jsonb(sealed(params)))
          .set(SLUICE_DEPLOYMENTS.MODEL_INFO, Out.jsonb(info))
          .set(SLUICE_DEPLOYMENTS.UPDATED_BY, c.userId())
          .set(SLUICE_DEPLOYMENTS.UPDATED_AT, now())
          .where(SLUICE_DEPLOYMENTS.MODEL_ID.eq(id)).execute();
    });
    deployments.reloadAfterWrite();
    return describe(dsl.selectFrom(SLUICE_DEPLOYMENTS).where(SLUICE_DEPLOYMENTS.MODEL_ID.eq(id)).fetchOne());
  }

  ObjectNode delete(DSLContext dsl, Caller c, Body b) {
    c.requireAdmin("/model/delete");
    requireStore("/model/delete");
    String id = b.string("id");
    if (id == null) {
      id = modelId(b);
    }
    String modelId = id;
    if (deployments.isFromConfig(modelId)) {
      throw ApiException.badRequest("id", "Deployment \"" + modelId + "\" is defined in config.yaml; remove it from "
          + "the file and restart.");
    }
    int n = dsl.deleteFrom(SLUICE_DEPLOYMENTS).where(SLUICE_DEPLOYMENTS.MODEL_ID.eq(modelId)).execute();
    if (n == 0) {
      throw ApiException.notFound("id", "No stored deployment with id \"" + modelId + "\". GET /model/info lists "
          + "them.");
    }
    deployments.reloadAfterWrite();
    ObjectNode out = Out.obj();
    out.put("message", "Model: " + modelId + " deleted successfully");
    return out;
  }

  /**
   * LiteLLM's {@code /model_group/info}: one entry per model group the caller may use, with what its deployments
   * say in common — providers, costs, context limits and mode from {@code model_info}, summed rpm/tpm, access
   * groups ({@code ?model_group=} filters).
   */
  ObjectNode groupInfo(DSLContext dsl, Caller c, KeyRecord key, String onlyGroup) {
    Map<String, Record> stored = new HashMap<>();
    dsl.selectFrom(SLUICE_DEPLOYMENTS).fetch().forEach(r -> stored.put(r.get(SLUICE_DEPLOYMENTS.MODEL_ID), r));
    ArrayNode data = Out.F.arrayNode();
    for (ModelGroup g : registry.get().groups()) {
      if ((onlyGroup != null && !onlyGroup.equals(g.name()))
          || (key != null && ModelAccess.denial(key, g.name(), g.accessGroups()) != null)) {
        continue;
      }
      ObjectNode e = Out.obj();
      e.put("model_group", g.name());
      java.util.Set<String> providers = new java.util.TreeSet<>();
      long rpm = 0;
      long tpm = 0;
      boolean anyRpm = false;
      boolean anyTpm = false;
      ObjectNode firstInfo = null;
      for (Deployment d : g.deployments()) {
        providers.add(d.config().provider().prefix().replace("/", ""));
        if (d.config().rpm() != null) {
          rpm += d.config().rpm();
          anyRpm = true;
        }
        if (d.config().tpm() != null) {
          tpm += d.config().tpm();
          anyTpm = true;
        }
        if (firstInfo == null) {
          Record r = stored.get(d.id());
          firstInfo = (ObjectNode) (r != null ? describe(r) : describe(d.config())).get("model_info");
        }
      }
      ArrayNode p = e.putArray("providers");
      providers.forEach(p::add);
      for (String f : java.util.List.of("max_input_tokens", "max_output_tokens", "max_tokens", "input_cost_per_token",
          "output_cost_per_token", "mode", "supports_function_calling", "supports_vision")) {
        JsonNode v = firstInfo == null ? null : firstInfo.get(f);
        e.set(f, v == null ? Out.F.nullNode() : v);
      }
      if (anyRpm) {
        e.put("rpm", rpm);
      }
      if (anyTpm) {
        e.put("tpm", tpm);
      }
      ArrayNode ag = e.putArray("access_groups");
      new java.util.TreeSet<>(g.accessGroups()).forEach(ag::add);
      e.put("num_deployments", g.deployments().size());
      data.add(e);
    }
    ObjectNode out = Out.obj();
    out.set("data", data);
    return out;
  }

  /** Every deployment the caller may use: config ones and stored ones, as in the live registry. */
  ObjectNode info(DSLContext dsl, Caller c, KeyRecord key, String onlyId) {
    Map<String, Record> stored = new HashMap<>();
    dsl.selectFrom(SLUICE_DEPLOYMENTS).fetch().forEach(r -> stored.put(r.get(SLUICE_DEPLOYMENTS.MODEL_ID), r));
    ArrayNode data = Out.F.arrayNode();
    for (ModelGroup g : registry.get().groups()) {
      if (key != null && ModelAccess.denial(key, g.name(), g.accessGroups()) != null) {
        continue;
      }
      for (Deployment d : g.deployments()) {
        if (onlyId != null && !onlyId.equals(d.id())) {
          continue;
        }
        Record r = stored.get(d.id());
        data.add(r != null ? describe(r) : describe(d.config()));
      }
    }
    ObjectNode out = Out.obj();
    out.set("data", data);
    return out;
  }

  // ----------------------------------------------------------------------------------------------------- helpers

  private ObjectNode entry(Body b, String id) {
    String name = b.requiredString("model_name");
    ObjectNode params = b.object("litellm_params");
    if (params == null) {
      throw ApiException.badRequest("litellm_params", "litellm_params is required, e.g. {\"model\": "
          + "\"hosted_vllm/<served-name>\", \"api_base\": \"http://vllm:8000/v1\", \"api_key\": \"…\"}.");
    }
    ObjectNode info = b.object("model_info");
    ObjectNode e = Out.obj();
    e.put("model_name", name);
    e.set("litellm_params", params.deepCopy());
    e.set("model_info", info == null ? Out.obj() : info.deepCopy());
    return e;
  }

  private DeploymentConfig validate(ObjectNode entry) {
    try {
      return ConfigLoader.deployment(entry, env, "request body");
    } catch (ConfigException e) {
      String m = e.getMessage();
      String path = m.startsWith("request body: ") ? m.substring(14, m.indexOf(':', 14)) : null;
      throw ApiException.badRequest(path, m);
    }
  }

  private static String modelId(Body b) {
    ObjectNode info = b.object("model_info");
    String id = info == null ? null : info.path("id").isTextual() ? info.get("id").asText() : null;
    if (id == null) {
      throw ApiException.badRequest("model_info.id", "model_info.id is required: the id of the deployment "
          + "(GET /model/info lists them).");
    }
    return id;
  }

  /** {@code api_key} sealed unless it is an {@code os.environ/} reference. */
  private ObjectNode sealed(ObjectNode params) {
    ObjectNode p = params.deepCopy();
    JsonNode k = p.get("api_key");
    if (k != null && k.isTextual() && !k.asText().startsWith("os.environ/")
        && !k.asText().startsWith(SecretBox.PREFIX)) {
      if (box == null) {
        throw ApiException.badRequest("litellm_params.api_key", "This server cannot store replica keys: it has no "
            + "master key and no LITELLM_SALT_KEY to encrypt them with. Set LITELLM_SALT_KEY, or pass the key as "
            + "\"os.environ/<VARIABLE>\".");
      }
      p.put("api_key", box.seal(k.asText()));
    }
    return p;
  }

  /** LiteLLM's model info entry; {@code litellm_params} without {@code api_key}. */
  private static ObjectNode describe(Record r) {
    ObjectNode params = (ObjectNode) Out.json(r.get(SLUICE_DEPLOYMENTS.LITELLM_PARAMS));
    params.remove("api_key");
    ObjectNode info = (ObjectNode) Out.json(r.get(SLUICE_DEPLOYMENTS.MODEL_INFO));
    info.put("id", r.get(SLUICE_DEPLOYMENTS.MODEL_ID));
    info.put("db_model", true);
    info.set("created_at", Out.time(r.get(SLUICE_DEPLOYMENTS.CREATED_AT)));
    info.put("created_by", r.get(SLUICE_DEPLOYMENTS.CREATED_BY));
    info.set("updated_at", Out.time(r.get(SLUICE_DEPLOYMENTS.UPDATED_AT)));
    info.put("updated_by", r.get(SLUICE_DEPLOYMENTS.UPDATED_BY));
    ObjectNode o = Out.obj();
    o.put("model_name", r.get(SLUICE_DEPLOYMENTS.MODEL_NAME));
    o.set("litellm_params", params);
    o.set("model_info", info);
    return o;
  }

  private static ObjectNode describe(DeploymentConfig d) {
    ObjectNode params = Out.obj();
    params.put("model", d.provider().prefix() + d.upstreamModel());
    params.put("api_base", d.apiBase().toString());
    if (d.rpm() != null) {
      params.put("rpm", d.rpm());
    }
    if (d.tpm() != null) {
      params.put("tpm", d.tpm());
    }
    if (d.weight() != null) {
      params.put("weight", d.weight());
    }
    if (d.order() != null) {
      params.put("order", d.order());
    }
    if (d.timeout() != null) {
      params.put("timeout", d.timeout().toMillis() / 1000.0);
    }
    ObjectNode info = Out.F.objectNode();
    // The entry's own model_info first (custom fields included, as LiteLLM shows them), then what Sluice derives.
    d.modelInfo().forEach((k, v) -> info.set(k, Out.MAPPER.valueToTree(v)));
    info.put("id", d.id());
    info.put("db_model", false);
    if (d.inputCostPerToken() != null) {
      info.put("input_cost_per_token", d.inputCostPerToken());
    }
    if (d.outputCostPerToken() != null) {
      info.put("output_cost_per_token", d.outputCostPerToken());
    }
    ObjectNode o = Out.obj();
    o.put("model_name", d.modelName());
    o.set("litellm_params", params);
    o.set("model_info", info);
    return o;
  }

  private OffsetDateTime now() {
    return OffsetDateTime.ofInstant(clock.instant(), ZoneOffset.UTC);
  }
}
