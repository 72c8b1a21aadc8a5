package io.sluice.http;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.sluice.auth.Principal;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Answers the routes Sluice serves itself (after {@link AuthHandler}): {@code /health/liveliness} and
 * {@code /health/liveness} ({@code "I'm alive!"}, as LiteLLM), {@code /health/readiness}, and {@code /v1/models}
 * (the model groups the caller's key may use, in OpenAI's list shape as LiteLLM returns it). Everything else
 * passes on.
 *
 * <p>Pipeline position ({@link GatewayInitializer}): local — after the UI, before management. Owns the answers Sluice
 * makes itself (health, models, metrics).
 */
final class LocalEndpoints extends ChannelInboundHandlerAdapter {
  private static final JsonFactory JSON = new JsonFactory();
  private static final ByteBuf ALIVE = Unpooled.unreleasableBuffer(
      Unpooled.wrappedBuffer("\"I'm alive!\"".getBytes(StandardCharsets.US_ASCII)).asReadOnly());
  /** LiteLLM reports this fixed {@code created} for every model (proxy_server.py::model_list). */
  private static final long CREATED = 1677610602L;

  private final RegistryHolder registry;
  private final Readiness readiness;
  private final String version;
  private final Drain drain;
  /** FastAPI's shape for an unwrapped HTTPException, as LiteLLM's readiness answers when unhealthy. */
  private static final ByteBuf DRAINING = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(
      "{\"detail\":\"Service Unhealthy (draining: this node is shutting down)\"}".getBytes(StandardCharsets.US_ASCII))
      .asReadOnly());

  /** Null: no metrics ({@code /metrics} answers 404). */
  private final io.sluice.metrics.GatewayMetrics metrics;

  private static final ByteBuf WARMING = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(("{\"detail\":"
      + "\"Service Unhealthy (warming up: synthetic traffic until the JIT has compiled the relay; see Sluice's log)\"}")
      .getBytes(StandardCharsets.UTF_8))).asReadOnly();

  LocalEndpoints(RegistryHolder registry, String version, Drain drain, Readiness readiness) {
    this(registry, version, drain, readiness, null);
  }

  LocalEndpoints(RegistryHolder registry, String version, Drain drain, Readiness readiness,
      io.sluice.metrics.GatewayMetrics metrics) {
    this(registry, version, drain, readiness, metrics, null, java.util.Map.of(), io.sluice.routing.PassThroughTargets.NONE);
  }

  /** Null: {@code /health} reports the replicas' cooldown state (background checks, passive failures) only. */
  private final io.sluice.routing.EndpointHealth probes;
  /** The admin plane's routes, for {@code /routes}. */
  private final java.util.Map<String, java.util.List<String>> managementRoutes;
  private final io.sluice.routing.PassThroughTargets passThrough;

  LocalEndpoints(RegistryHolder registry, String version, Drain drain, Readiness readiness,
      io.sluice.metrics.GatewayMetrics metrics, io.sluice.routing.EndpointHealth probes,
      java.util.Map<String, java.util.List<String>> managementRoutes, io.sluice.routing.PassThroughTargets passThrough) {
    this.probes = probes;
    this.managementRoutes = managementRoutes;
    this.passThrough = passThrough;
    this.metrics = metrics;
    this.registry = registry;
    this.drain = drain;
    this.version = version;
    this.readiness = readiness;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      switch (ex.route) {
        case LIVENESS -> ex.reply(HttpResponseStatus.OK, ALIVE.duplicate(), false);
        case READINESS -> {
          if (drain.draining()) {
            ex.reply(HttpResponseStatus.SERVICE_UNAVAILABLE, DRAINING.duplicate(), false);
          } else if (readiness.warmingUp()) {
            ex.reply(HttpResponseStatus.SERVICE_UNAVAILABLE, WARMING.duplicate(), false);
          } else if (readiness.databaseDown()) {
            ex.reply(HttpResponseStatus.SERVICE_UNAVAILABLE, Unpooled.wrappedBuffer(("{\"detail\":\"Service "
                + "Unhealthy (database: not reachable; see Sluice's log)\"}").getBytes(StandardCharsets.UTF_8)),
                false);
          } else {
            ex.reply(HttpResponseStatus.OK, Unpooled.wrappedBuffer(("{\"status\":\"healthy\",\"db\":\""
                + readiness.database() + "\",\"cache\":null,\"litellm_version\":null,\"sluice_version\":\""
                + version + "\"}").getBytes(StandardCharsets.UTF_8)), false);
          }
        }
        case MODELS -> ex.reply(HttpResponseStatus.OK, models(ctx, ex.principal), false);
        case MODEL -> model(ctx, ex);
        case HEALTH -> health(ctx, ex);
        case ROUTES -> routes(ctx, ex);
        case METRICS -> metrics(ctx, ex);
        default -> ctx.fireChannelRead(ex);
      }
      return;
    }
    ctx.fireChannelRead(msg);
  }

  private static final java.util.concurrent.ExecutorService SCRAPES =
      java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "sluice-metrics-scrape");
        t.setDaemon(true);
        return t;
      });

  /**
   * {@code GET /metrics}: an admin's key (master key, {@code proxy_admin} or {@code proxy_admin_viewer}) unless
   * {@code require_auth_for_metrics_endpoint: false}. Rendered on a scrape thread, never on the event loop (a few
   * thousand series take milliseconds); the answer is written from the channel's loop.
   */
  private void metrics(ChannelHandlerContext ctx, Exchange ex) {
    io.sluice.metrics.MetricsExposition exposition = metrics == null ? null : metrics.exposition();
    if (exposition == null) {
      ex.fail(ProxyError.NOT_FOUND, "Metrics are not available on this gateway.");
      return;
    }
    Principal p = ex.principal;
    if (p != null && p != Principal.UNAUTHENTICATED && p.role() != io.sluice.auth.Role.PROXY_ADMIN
        && p.role() != io.sluice.auth.Role.PROXY_ADMIN_VIEWER) {
      ex.fail(ProxyError.FORBIDDEN, "Only the master key or a proxy_admin / proxy_admin_viewer key may read "
          + "/metrics (role of this key: " + p.role().wireName() + "). To let Prometheus scrape without a key, set "
          + "require_auth_for_metrics_endpoint: false.");
      return;
    }
    try {
      SCRAPES.execute(() -> {
        byte[] text;
        try {
          java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(64 * 1024);
          exposition.write(out);
          text = out.toByteArray();
        } catch (IOException | RuntimeException e) {
          org.slf4j.LoggerFactory.getLogger(LocalEndpoints.class).warn("[{}] rendering /metrics failed", ex.requestId,
              e);
          ctx.executor().execute(() -> ex.fail(ProxyError.INTERNAL, "Rendering the metrics failed; the operator can "
              + "see the cause in Sluice's log (request id " + ex.requestId + ")."));
          return;
        }
        String type = exposition.contentType();
        ctx.executor().execute(() -> ex.reply(HttpResponseStatus.OK, Unpooled.wrappedBuffer(text), false, 0, type));
      });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      ex.fail(ProxyError.INTERNAL, "Metrics cannot be rendered right now.");
    }
  }

  /**
   * {@code GET /health[?model=<group>]}, LiteLLM's shape: {@code healthy_endpoints}, {@code unhealthy_endpoints} and
   * their counts, for the model groups the caller may use ({@code model} limits it to one). With {@link #probes}
   * (no {@code background_health_checks}), each deployment gets a real call, as LiteLLM's perform_health_check,
   * through {@link io.sluice.routing.EndpointHealth} (cached, bounded, timed out), answered from the channel's loop
   * once all are back; without, as LiteLLM with background checks, the latest background results: a replica is
   * unhealthy while it cools down (a failed background probe, or passive failures). Never a key: model,
   * {@code api_base}, ids, and an unhealthy one's error only.
   */
  private void health(ChannelHandlerContext ctx, Exchange ex) {
    String model = new io.netty.handler.codec.http.QueryStringDecoder(ex.query, false).parameters()
        .getOrDefault("model", java.util.List.of()).stream().findFirst().orElse(null);
    DeploymentRegistry reg = registry.get();
    java.util.List<io.sluice.routing.Deployment> ds = new java.util.ArrayList<>();
    for (ModelGroup group : reg.groups()) {
      if ((model == null || model.equals(group.name()))
          && (ex.principal == null || ex.principal.mayUseModel(group.name(), group.accessGroups()))) {
        ds.addAll(group.deployments());
      }
    }
    if (model != null && ds.isEmpty()) {
      ex.fail(ProxyError.BAD_REQUEST, "No model group named `" + (model.length() > 200 ? model.substring(0, 200)
          + "…" : model) + "` that this key may use. GET /v1/models lists them; leave model out to check all.");
      return;
    }
    if (probes == null) {
      long now = registry.nanoTime();
      java.util.List<io.sluice.routing.EndpointProbe.Result> rs = new java.util.ArrayList<>(ds.size());
      for (io.sluice.routing.Deployment d : ds) {
        rs.add(d.health().coolingAt(now) ? io.sluice.routing.EndpointProbe.Result.failed("cooling down after "
            + "failed background health checks or requests") : io.sluice.routing.EndpointProbe.Result.OK);
      }
      ex.reply(HttpResponseStatus.OK, healthBody(ctx, ds, rs), false);
      return;
    }
    probes.check(ds).whenCompleteAsync((rs, err) -> {
      if (err != null) {
        ex.fail(ProxyError.INTERNAL, "The health check failed; the operator can see the cause in Sluice's log "
            + "(request id " + ex.requestId + ").");
        org.slf4j.LoggerFactory.getLogger(LocalEndpoints.class).warn("[{}] /health failed", ex.requestId, err);
        return;
      }
      ex.reply(HttpResponseStatus.OK, healthBody(ctx, ds, rs), false);
    }, ctx.executor());
  }

  private static ByteBuf healthBody(ChannelHandlerContext ctx, java.util.List<io.sluice.routing.Deployment> ds,
      java.util.List<io.sluice.routing.EndpointProbe.Result> rs) {
    ByteBuf buf = ctx.alloc().buffer(256);
    try (JsonGenerator g = JSON.createGenerator((java.io.OutputStream) new ByteBufOutputStream(buf))) {
      g.writeStartObject();
      int healthy = writeEndpoints(g, "healthy_endpoints", ds, rs, true);
      int unhealthy = writeEndpoints(g, "unhealthy_endpoints", ds, rs, false);
      g.writeNumberField("healthy_count", healthy);
      g.writeNumberField("unhealthy_count", unhealthy);
      g.writeEndObject();
    } catch (IOException e) {
      buf.release();
      throw new UncheckedIOException(e);
    }
    return buf;
  }

  private static int writeEndpoints(JsonGenerator g, String field, java.util.List<io.sluice.routing.Deployment> ds,
      java.util.List<io.sluice.routing.EndpointProbe.Result> rs, boolean healthy) throws IOException {
    g.writeArrayFieldStart(field);
    int n = 0;
    for (int i = 0; i < ds.size(); i++) {
      io.sluice.routing.EndpointProbe.Result r = rs.get(i);
      if (r.healthy() != healthy) {
        continue;
      }
      io.sluice.routing.Deployment d = ds.get(i);
      g.writeStartObject();
      g.writeStringField("model", d.config().provider().prefix() + d.upstreamModel());
      g.writeStringField("model_name", d.modelGroup());
      g.writeStringField("model_id", d.id());
      g.writeStringField("api_base", d.config().apiBase().toString());
      if (!healthy) {
        g.writeStringField("error", r.error());
      }
      g.writeEndObject();
      n++;
    }
    g.writeEndArray();
    return n;
  }

  /**
   * LiteLLM's {@code GET /routes}: {@code {"routes":[{"path","methods","name","endpoint"}]}} — Sluice's own routes,
   * the admin API's and the configured pass-through endpoints. Proxy admins only: it maps the whole surface.
   */
  private void routes(ChannelHandlerContext ctx, Exchange ex) {
    Principal p = ex.principal;
    if (p != null && p != Principal.UNAUTHENTICATED && p.role() != io.sluice.auth.Role.PROXY_ADMIN) {
      ex.fail(ProxyError.FORBIDDEN, "Only the master key or a proxy_admin key may read /routes (role of this key: "
          + p.role().wireName() + ").");
      return;
    }
    java.util.Map<String, java.util.List<String>> all = new java.util.LinkedHashMap<>(Route.catalog());
    managementRoutes.forEach(all::putIfAbsent);
    java.util.Set<String> passThroughPaths = new java.util.HashSet<>();
    for (io.sluice.config.PassThroughEndpoint e : passThrough.endpoints()) {
      String path = e.path() + (e.includeSubpath() ? "/{subpath}" : "");
      passThroughPaths.add(path);
      all.putIfAbsent(path, e.methods().isEmpty() ? Route.ANY_METHOD : java.util.List.copyOf(e.methods()));
    }
    ByteBuf buf = ctx.alloc().buffer(4096);
    try (JsonGenerator g = JSON.createGenerator((java.io.OutputStream) new ByteBufOutputStream(buf))) {
      g.writeStartObject();
      g.writeArrayFieldStart("routes");
      for (java.util.Map.Entry<String, java.util.List<String>> r : all.entrySet()) {
        g.writeStartObject();
        g.writeStringField("path", r.getKey());
        g.writeArrayFieldStart("methods");
        for (String m : r.getValue()) {
          g.writeString(m);
        }
        g.writeEndArray();
        String name = passThroughPaths.contains(r.getKey()) ? "pass_through_route" : routeName(r.getKey());
        g.writeStringField("name", name);
        g.writeStringField("endpoint", name);
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      buf.release();
      throw new UncheckedIOException(e);
    }
    ex.reply(HttpResponseStatus.OK, buf, false);
  }

  /** A route's name: its path as an identifier ({@code /key/generate} → {@code key_generate}). */
  private static String routeName(String path) {
    String n = path.replaceAll("[^A-Za-z0-9]+", "_").replaceAll("^_+|_+$", "");
    return n.isEmpty() ? "root" : n;
  }

  /** OpenAI's list shape: {@code {"data":[{"id","object":"model","created","owned_by"}],"object":"list"}}. */
  /**
   * {@code GET /v1/models/{id}}: the model as {@code GET /v1/models} lists it, for a group (or a wildcard group's
   * match) this key may use; else OpenAI's 404, the same for a model that does not exist and one the key may not
   * see (so a key learns nothing about groups outside its lists).
   */
  private void model(ChannelHandlerContext ctx, Exchange ex) {
    String id = Route.modelId(ex.path);
    ModelGroup group = registry.get().group(id);
    if (group == null || (ex.principal != null && !ex.principal.mayUseModel(id, group.accessGroups()))) {
      ex.fail(ProxyError.MODEL_NOT_FOUND, "The model `" + (id.length() > 200 ? id.substring(0, 200) + "…" : id)
          + "` does not exist or this key may not use it. GET /v1/models lists the models of this key.");
      return;
    }
    ByteBuf buf = ctx.alloc().buffer(128);
    try (JsonGenerator g = JSON.createGenerator((java.io.OutputStream) new ByteBufOutputStream(buf))) {
      modelObject(g, id);
    } catch (IOException e) {
      buf.release();
      throw new UncheckedIOException(e);
    }
    ex.reply(HttpResponseStatus.OK, buf, false);
  }

  private static void modelObject(JsonGenerator g, String id) throws IOException {
    g.writeStartObject();
    g.writeStringField("id", id);
    g.writeStringField("object", "model");
    g.writeNumberField("created", CREATED);
    g.writeStringField("owned_by", "openai");
    g.writeEndObject();
  }

  private ByteBuf models(ChannelHandlerContext ctx, Principal principal) {
    DeploymentRegistry reg = registry.get();
    ByteBuf buf = ctx.alloc().buffer(256);
    try (JsonGenerator g = JSON.createGenerator((java.io.OutputStream) new ByteBufOutputStream(buf))) {
      g.writeStartObject();
      g.writeArrayFieldStart("data");
      for (ModelGroup group : reg.groups()) {
        if (principal == null || principal.mayUseModel(group.name(), group.accessGroups())) {
          modelObject(g, group.name());
        }
      }
      g.writeEndArray();
      g.writeStringField("object", "list");
      g.writeEndObject();
    } catch (IOException e) {
      buf.release();
      throw new UncheckedIOException(e);
    }
    return buf;
  }
}
