package io.sluice.admin.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.sluice.admin.store.Deployments;
import io.sluice.admin.store.SecretBox;
import io.sluice.management.ManagementApi;
import io.sluice.management.ManagementRequest;
import io.sluice.management.ManagementResponse;
import io.sluice.routing.RegistryHolder;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.jooq.DSLContext;
import org.jooq.exception.DataAccessException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin plane's answer to the data plane's {@link ManagementApi} port: LiteLLM's {@code /key/*},
 * {@code /user/*}, {@code /team/*}, {@code /organization/*}, {@code /model/*}, {@code /budget/*}, {@code /customer/*}
 * ({@code /end_user/*}) and spend endpoints over PostgreSQL. Each call runs on
 * {@code executor} (never an event loop): it re-reads the caller, checks its role for the endpoint, does its work
 * in one transaction, drops the changed keys from the caches ({@link KeyInvalidator}) and only then answers, so the
 * next request on this node already sees the change.
 */
public final class AdminApi implements ManagementApi {
  private static final Logger log = LoggerFactory.getLogger(AdminApi.class);

  private final DSLContext dsl;
  private final Executor executor;
  private final KeyInvalidator invalidator;
  private final KeyApi keys;
  private final UserApi users;
  private final TeamApi teams;
  private final ModelApi models;
  private final BudgetApi budgets;
  private final EndUserApi endUsers;
  private final OrganizationApi orgs;
  private final SpendApi spend = new SpendApi();
  private final ReportApi reports;

  public AdminApi(DSLContext dsl, Executor executor, KeyInvalidator invalidator, Deployments deployments,
      SecretBox box, RegistryHolder registry, Map<String, String> env, boolean storeModelInDb, Clock clock) {
    this.dsl = dsl;
    this.executor = executor;
    this.invalidator = invalidator;
    this.keys = new KeyApi(clock);
    this.users = new UserApi(clock, keys);
    this.teams = new TeamApi(clock);
    this.models = new ModelApi(deployments, box, registry, env, storeModelInDb, clock);
    this.budgets = new BudgetApi(clock);
    this.endUsers = new EndUserApi(clock, registry);
    this.orgs = new OrganizationApi(clock);
    this.reports = new ReportApi(clock);
  }

  /**
   * Every route {@link #route} answers, with its methods, for {@code GET /routes} (a test calls each one, so this
   * table and the switch cannot drift apart).
   */
  static final Map<String, List<String>> ROUTES;

  static {
    Map<String, List<String>> r = new java.util.LinkedHashMap<>();
    r.put("/key/generate", List.of("POST"));
    r.put("/key/update", List.of("POST"));
    r.put("/key/info", List.of("GET"));
    r.put("/key/list", List.of("GET"));
    r.put("/key/delete", List.of("POST"));
    r.put("/key/block", List.of("POST"));
    r.put("/key/unblock", List.of("POST"));
    r.put("/key/regenerate", List.of("POST"));
    r.put("/key/{key}/regenerate", List.of("POST"));
    r.put("/user/new", List.of("POST"));
    r.put("/user/info", List.of("GET"));
    r.put("/user/update", List.of("POST"));
    r.put("/user/delete", List.of("POST"));
    r.put("/user/list", List.of("GET"));
    r.put("/team/new", List.of("POST"));
    r.put("/team/info", List.of("GET"));
    r.put("/team/update", List.of("POST"));
    r.put("/team/delete", List.of("POST"));
    r.put("/team/list", List.of("GET"));
    r.put("/team/member_add", List.of("POST"));
    r.put("/team/member_delete", List.of("POST"));
    r.put("/team/member_update", List.of("POST"));
    r.put("/team/model/add", List.of("POST"));
    r.put("/team/model/delete", List.of("POST"));
    r.put("/budget/new", List.of("POST"));
    r.put("/budget/update", List.of("POST"));
    r.put("/budget/info", List.of("POST"));
    r.put("/budget/list", List.of("GET"));
    r.put("/budget/settings", List.of("GET"));
    r.put("/budget/delete", List.of("POST"));
    r.put("/end_user/new", List.of("POST"));
    r.put("/customer/new", List.of("POST"));
    r.put("/end_user/info", List.of("GET"));
    r.put("/customer/info", List.of("GET"));
    r.put("/end_user/update", List.of("POST"));
    r.put("/customer/update", List.of("POST"));
    r.put("/end_user/delete", List.of("POST"));
    r.put("/customer/delete", List.of("POST"));
    r.put("/end_user/list", List.of("GET"));
    r.put("/customer/list", List.of("GET"));
    r.put("/end_user/block", List.of("POST"));
    r.put("/customer/block", List.of("POST"));
    r.put("/end_user/unblock", List.of("POST"));
    r.put("/customer/unblock", List.of("POST"));
    r.put("/organization/new", List.of("POST"));
    r.put("/organization/info", List.of("GET", "POST"));
    r.put("/organization/list", List.of("GET"));
    r.put("/organization/update", List.of("PATCH", "POST"));
    r.put("/organization/delete", List.of("DELETE", "POST"));
    r.put("/organization/member_add", List.of("POST"));
    r.put("/organization/member_update", List.of("PATCH", "POST"));
    r.put("/organization/member_delete", List.of("DELETE", "POST"));
    r.put("/team/block", List.of("POST"));
    r.put("/team/unblock", List.of("POST"));
    r.put("/model/new", List.of("POST"));
    r.put("/model/update", List.of("POST"));
    r.put("/model/delete", List.of("POST"));
    r.put("/model_group/info", List.of("GET"));
    r.put("/model/info", List.of("GET"));
    r.put("/v1/model/info", List.of("GET"));
    r.put("/v2/model/info", List.of("GET"));
    r.put("/spend/logs", List.of("GET"));
    r.put("/global/spend/report", List.of("GET"));
    r.put("/spend/keys", List.of("GET"));
    r.put("/spend/users", List.of("GET"));
    r.put("/global/spend/keys", List.of("GET"));
    r.put("/global/spend/models", List.of("GET"));
    r.put("/global/spend/teams", List.of("GET"));
    r.put("/global/activity", List.of("GET"));
    r.put("/global/activity/model", List.of("GET"));
    r.put("/user/daily/activity", List.of("GET"));
    r.put("/team/daily/activity", List.of("GET"));
    ROUTES = java.util.Collections.unmodifiableMap(r);
  }

  @Override
  public Map<String, List<String>> routes() {
    return ROUTES;
  }

  @Override
  public CompletionStage<ManagementResponse> handle(ManagementRequest req) {
    try {
      return CompletableFuture.supplyAsync(() -> call(req), executor)
          .thenCompose(r -> (r.endUsersChanged() ? invalidator.endUsersChanged().toCompletableFuture()
              : CompletableFuture.<Void>completedFuture(null)).exceptionally(e -> {
                log.warn("[{}] end-user cache invalidation after {} failed: {}", req.requestId(), safePath(req),
                    e.toString());
                return null;
              }).thenApply(v -> r))
          .thenCompose(r -> r.invalidate().isEmpty() ? CompletableFuture.completedFuture(r.response())
              : invalidator.invalidate(r.invalidate()).handle((v, e) -> {
                if (e != null) {
                  log.warn("[{}] cache invalidation after {} failed: {}", req.requestId(), safePath(req), e.toString());
                }
                return r.response();
              }));
    } catch (RejectedExecutionException e) {
      return CompletableFuture.completedFuture(error(new ApiException(503, "internal_server_error", null,
          "The admin plane is shutting down or overloaded; retry shortly.")));
    }
  }

  private record Outcome(ManagementResponse response, List<io.sluice.auth.KeyHash> invalidate,
      boolean endUsersChanged) {
    Outcome(ManagementResponse response, List<io.sluice.auth.KeyHash> invalidate) {
      this(response, invalidate, false);
    }
  }

  private Outcome call(ManagementRequest req) {
    try {
      Caller c = Caller.of(dsl, req.caller());
      return route(req, c);
    } catch (ApiException e) {
      return new Outcome(error(e), List.of());
    } catch (DataAccessException e) {
      log.error("[{}] {} {}: database error: {}", req.requestId(), req.method(), safePath(req), e.getMessage());
      return new Outcome(error(new ApiException(500, "internal_server_error", null, "Database error while handling "
          + safePath(req) + "; nothing was changed. The operator can see the cause in Sluice's log (request id "
          + req.requestId() + ").")), List.of());
    }
  }

  private Outcome route(ManagementRequest req, Caller c) {
    String path = req.path();
    String m = req.method();
    if (path.startsWith("/key/") && path.endsWith("/regenerate") && !path.equals("/key/regenerate")) {
      post(m, path);
      String inPath = path.substring("/key/".length(), path.length() - "/regenerate".length());
      return write(keys.regenerate(dsl, c, body(req), inPath));
    }
    switch (path) {
      case "/key/generate" -> {
        post(m, path);
        return write(keys.generate(dsl, c, body(req)));
      }
      case "/key/update" -> {
        post(m, path);
        return write(keys.update(dsl, c, body(req)));
      }
      case "/key/info" -> {
        get(m, path);
        return read(keys.info(dsl, c, req.queryParam("key")));
      }
      case "/key/list" -> {
        get(m, path);
        return read(keys.list(dsl, c, req.query()));
      }
      case "/key/delete" -> {
        post(m, path);
        return write(keys.delete(dsl, c, body(req)));
      }
      case "/key/block" -> {
        post(m, path);
        return write(keys.block(dsl, c, body(req), true));
      }
      case "/key/unblock" -> {
        post(m, path);
        return write(keys.block(dsl, c, body(req), false));
      }
      case "/key/regenerate" -> {
        post(m, path);
        return write(keys.regenerate(dsl, c, body(req), null));
      }
      case "/user/new" -> {
        post(m, path);
        return write(users.create(dsl, c, body(req)));
      }
      case "/user/info" -> {
        get(m, path);
        return read(users.info(dsl, c, req.queryParam("user_id")));
      }
      case "/user/update" -> {
        post(m, path);
        return write(users.update(dsl, c, body(req)));
      }
      case "/user/delete" -> {
        post(m, path);
        return write(users.delete(dsl, c, body(req)));
      }
      case "/user/list" -> {
        get(m, path);
        return read(users.list(dsl, c, req.query()));
      }
      case "/team/new" -> {
        post(m, path);
        return read(teams.create(dsl, c, body(req)));
      }
      case "/team/info" -> {
        get(m, path);
        return read(teams.info(dsl, c, req.queryParam("team_id")));
      }
      case "/team/update" -> {
        post(m, path);
        return write(teams.update(dsl, c, body(req)));
      }
      case "/team/delete" -> {
        post(m, path);
        return write(teams.delete(dsl, c, body(req)));
      }
      case "/team/list" -> {
        get(m, path);
        return read(teams.list(dsl, c, req.query()));
      }
      case "/team/member_add" -> {
        post(m, path);
        return write(teams.memberAdd(dsl, c, body(req)));
      }
      case "/team/member_delete" -> {
        post(m, path);
        return write(teams.memberDelete(dsl, c, body(req)));
      }
      case "/team/member_update" -> {
        post(m, path);
        return write(teams.memberUpdate(dsl, c, body(req)));
      }
      case "/team/model/add" -> {
        post(m, path);
        return write(teams.modelAdd(dsl, c, body(req)));
      }
      case "/team/model/delete" -> {
        post(m, path);
        return write(teams.modelDelete(dsl, c, body(req)));
      }
      case "/budget/new" -> {
        post(m, path);
        return read(budgets.create(dsl, c, body(req)));
      }
      case "/budget/update" -> {
        post(m, path);
        JsonNode out = budgets.update(dsl, c, body(req));
        String budgetId = out.path("budget_id").asText(null);
        // The budget's end users (dropped as a whole) and its team members' keys (cached with member budgets).
        return new Outcome(new ManagementResponse(200, Out.bytes(out)),
            budgetId == null ? List.of() : TeamApi.budgetMemberKeys(dsl, budgetId), true);
      }
      case "/budget/info" -> {
        post(m, path);
        return read(budgets.info(dsl, c, body(req)));
      }
      case "/budget/list" -> {
        get(m, path);
        return read(budgets.list(dsl, c));
      }
      case "/budget/settings" -> {
        get(m, path);
        return read(budgets.settings(dsl, c, req.queryParam("budget_id")));
      }
      case "/budget/delete" -> {
        post(m, path);
        return endUserWrite(budgets.delete(dsl, c, body(req)));
      }
      // LiteLLM serves the end-user routes under both names (/end_user/* is the older one).
      case "/end_user/new", "/customer/new" -> {
        post(m, path);
        return endUserWrite(endUsers.create(dsl, c, body(req), path));
      }
      case "/end_user/info", "/customer/info" -> {
        get(m, path);
        return read(endUsers.info(dsl, c, req.queryParam("end_user_id"), path));
      }
      case "/end_user/update", "/customer/update" -> {
        post(m, path);
        return endUserWrite(endUsers.update(dsl, c, body(req), path));
      }
      case "/end_user/delete", "/customer/delete" -> {
        post(m, path);
        return endUserWrite(endUsers.delete(dsl, c, body(req), path));
      }
      case "/end_user/list", "/customer/list" -> {
        get(m, path);
        return read(endUsers.list(dsl, c, path));
      }
      case "/end_user/block", "/customer/block" -> {
        post(m, path);
        return endUserWrite(endUsers.block(dsl, c, body(req), true, path));
      }
      case "/end_user/unblock", "/customer/unblock" -> {
        post(m, path);
        return endUserWrite(endUsers.block(dsl, c, body(req), false, path));
      }
      // LiteLLM's organization_endpoints.py: PATCH update/member_update, DELETE delete/member_delete (older
      // LiteLLM releases and clients send POST for those; both are answered).
      case "/organization/new" -> {
        post(m, path);
        return read(orgs.create(dsl, c, body(req)));
      }
      case "/organization/info" -> {
        allow(m, path, "GET", "POST");
        return read(m.equals("GET") ? orgs.info(dsl, c, req.queryParam("organization_id"))
            : orgs.infoMany(dsl, c, body(req)));
      }
      case "/organization/list" -> {
        get(m, path);
        return read(orgs.list(dsl, c));
      }
      case "/organization/update" -> {
        allow(m, path, "PATCH", "POST");
        return write(orgs.update(dsl, c, body(req)));
      }
      case "/organization/delete" -> {
        allow(m, path, "DELETE", "POST");
        OrganizationApi.Deleted d = orgs.delete(dsl, c, body(req));
        return new Outcome(new ManagementResponse(200, Out.bytes(d.body())), d.invalidate());
      }
      case "/organization/member_add" -> {
        post(m, path);
        return read(orgs.memberAdd(dsl, c, body(req)));
      }
      case "/organization/member_update" -> {
        allow(m, path, "PATCH", "POST");
        return read(orgs.memberUpdate(dsl, c, body(req)));
      }
      case "/organization/member_delete" -> {
        allow(m, path, "DELETE", "POST");
        return read(orgs.memberDelete(dsl, c, body(req)));
      }
      case "/team/block" -> {
        post(m, path);
        return write(teams.block(dsl, c, body(req), true));
      }
      case "/team/unblock" -> {
        post(m, path);
        return write(teams.block(dsl, c, body(req), false));
      }
      case "/model/new" -> {
        post(m, path);
        return read(models.add(dsl, c, body(req)));
      }
      case "/model/update" -> {
        post(m, path);
        return read(models.update(dsl, c, body(req)));
      }
      case "/model/delete" -> {
        post(m, path);
        return read(models.delete(dsl, c, body(req)));
      }
      case "/model_group/info" -> {
        get(m, path);
        return read(models.groupInfo(dsl, c, req.caller().key(), req.queryParam("model_group")));
      }
      case "/model/info", "/v1/model/info", "/v2/model/info" -> {
        get(m, path);
        return read(models.info(dsl, c, req.caller().key(), req.queryParam("litellm_model_id")));
      }
      case "/spend/logs" -> {
        get(m, path);
        return read(spend.logs(dsl, c, req.query()));
      }
      case "/global/spend/report" -> {
        get(m, path);
        return read(reports.globalReport(dsl, c, req.query()));
      }
      case "/spend/keys" -> {
        get(m, path);
        return read(reports.spendKeys(dsl, c));
      }
      case "/spend/users" -> {
        get(m, path);
        return read(reports.spendUsers(dsl, c, req.query()));
      }
      case "/global/spend/keys" -> {
        get(m, path);
        return read(reports.topKeys(dsl, c, req.query()));
      }
      case "/global/spend/models" -> {
        get(m, path);
        return read(reports.topModels(dsl, c, req.query()));
      }
      case "/global/spend/teams" -> {
        get(m, path);
        return read(reports.teams(dsl, c, req.query()));
      }
      case "/global/activity" -> {
        get(m, path);
        return read(reports.activity(dsl, c, req.query(), false));
      }
      case "/global/activity/model" -> {
        get(m, path);
        return read(reports.activity(dsl, c, req.query(), true));
      }
      case "/user/daily/activity" -> {
        get(m, path);
        return read(reports.dailyActivity(dsl, c, req.query(), false));
      }
      case "/team/daily/activity" -> {
        get(m, path);
        return read(reports.dailyActivity(dsl, c, req.query(), true));
      }
      default -> throw ApiException.notFound(null, "Route " + io.sluice.admin.api.Paths.redacted(path)
          + " not found. Management routes: /key/{generate,update,info,list,delete,block,unblock,regenerate}, "
          + "/user/{new,info,update,delete,list}, /team/{new,info,update,delete,list,member_add,member_update,"
          + "member_delete,block,unblock}, /team/model/{add,delete}, /model/{new,update,delete,info}, "
          + "/budget/{new,info,update,delete,list,settings}, /customer/{new,info,update,delete,list,block,unblock} "
          + "(or /end_user/…), /organization/{new,info,list,update,delete,member_add,member_update,member_delete}, "
          + "/spend/{logs,keys,users}, /global/spend/{report,keys,teams,models}, "
          + "/global/activity[/model], /user/daily/activity, /team/daily/activity.");
    }
  }

  private static Body body(ManagementRequest req) {
    return Body.parse(req.body());
  }

  private static void post(String method, String path) {
    if (!method.equals("POST")) {
      throw ApiException.methodNotAllowed(Paths.redacted(path), "POST");
    }
  }

  private static void get(String method, String path) {
    if (!method.equals("GET")) {
      throw ApiException.methodNotAllowed(Paths.redacted(path), "GET");
    }
  }

  private static void allow(String method, String path, String... methods) {
    if (!List.of(methods).contains(method)) {
      throw ApiException.methodNotAllowed(Paths.redacted(path), String.join(", ", methods));
    }
  }

  private static Outcome read(JsonNode body) {
    return new Outcome(new ManagementResponse(200, Out.bytes(body)), List.of());
  }

  /** A write to end users or budgets: cached end users are dropped (on every node) before it is answered. */
  private static Outcome endUserWrite(JsonNode body) {
    return new Outcome(new ManagementResponse(200, Out.bytes(body)), List.of(), true);
  }

  private static Outcome write(KeyApi.Result r) {
    return new Outcome(new ManagementResponse(200, Out.bytes(r.body())), r.invalidate());
  }

  private static ManagementResponse error(ApiException e) {
    return new ManagementResponse(e.status(), Out.bytes(Out.error(e)));
  }

  private static String safePath(ManagementRequest req) {
    return Paths.redacted(req.path());
  }
}
