package io.sluice.http;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import io.netty.handler.codec.http.HttpHeaders;
import io.sluice.routing.Deployment;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.ModelGroup;
import java.util.List;
import io.sluice.upstream.PoolExhaustedException;
import io.sluice.upstream.UpstreamPools;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last client-side handler: sends each inspected exchange to its deployment over a pooled connection from
 * this channel's own event loop, and ties the two channels' lifetimes together.
 *
 * <ul>
 *   <li>Request: headers edited in place by {@link HeaderRules}, URI = the deployment's base path + the route's
 *       path + the client's query, body written as the retained buffers the inspector gathered.</li>
 *   <li>A reused connection that fails before any response byte (the replica closed it while idle) is retried once
 *       on another connection, as Go's {@code http.Transport} does; the body is kept until the first response
 *       byte for that. A fresh connection that fails → 502.</li>
 *   <li>No response head within the deployment's {@code timeout} (else {@code router_settings.timeout}, else
 *       {@code litellm_settings.request_timeout}) → 504, and the upstream connection is closed.</li>
 *   <li>Client gone → the upstream connection is closed at once, which is how vLLM learns to abort the
 *       generation (vllm-wire.md §7). Client not writable → upstream reads stop until it drains.</li>
 * </ul>
 * Event loop only.
 *
 * <p>Pipeline position ({@link GatewayInitializer}): relay — the last handler before the last-resort one. Owns limit
 * admission, the {@link RetryPolicy}, the first-byte and stream timers, and the upstream call it started ({@link
 * UpstreamHandler}, talking back through its listener).
 */
final class UpstreamRelay extends ChannelInboundHandlerAdapter implements UpstreamHandler.Listener {
  private static final Logger log = LoggerFactory.getLogger(UpstreamRelay.class);
  private static final int MAX_STALE_RETRIES = 2;

  private final GatewayContext gw;
  private ChannelHandlerContext ctx;
  private Exchange active;
  private UpstreamHandler upstream;
  private ScheduledFuture<?> ttfbTimer;
  private long ttfbDeadline;
  private long ttfbMillis;
  private int staleRetries;
  /** The active exchange's place in the admission queue while it waits there; null otherwise. */
  private AdmissionGate.Ticket queuedTicket;
  /** The group whose admission slot the active exchange holds until it is in flight (passed or let go); or null. */
  private String reservedGroup;
  /** The active exchange went past the admission check already (it is made once, before the first attempt). */
  private boolean admissionChecked;
  /** Where the active exchange's next attempt goes (exchanges run one at a time per connection). */
  private final RetryPolicy policy = new RetryPolicy();
  private final java.util.function.Function<String, ModelGroup> groupByName;
  private long attemptStartNanos;
  private final io.sluice.json.UsageScanner usageScanner = new io.sluice.json.UsageScanner();
  /** The pieces of the body of the attempt being sent (see {@link BodyInspector#bodyPieces}); reused. */
  private final io.netty.buffer.ByteBuf[] bodyPieces = new io.netty.buffer.ByteBuf[BodyInspector.MAX_BODY_PIECES];

  /** Null: no metrics. */
  private final RequestMetrics metrics;

  UpstreamRelay(GatewayContext gw) {
    this(gw, null);
  }

  UpstreamRelay(GatewayContext gw, RequestMetrics metrics) {
    this.gw = gw;
    this.metrics = metrics;
    this.groupByName = name -> gw.registry().get().group(name);
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      start(ex);
    } else {
      ReferenceCountUtil.release(msg); // nothing else reaches the end of the pipeline
    }
  }

  private void start(Exchange ex) {
    active = ex;
    staleRetries = 0;
    admissionChecked = false;
    releasePending(); // defensive: a previous exchange's pending slot never outlives it
    io.sluice.routing.DeploymentRegistry reg = gw.registry().get();
    policy.start(ex.group, fallbacks(ex, reg), groupByName, gw.strategy(), gw.numRetries(), reg.affinity(), ex.keyed,
        ex.affinityKey);
    HttpRequest req = ex.request;
    req.setProtocolVersion(HttpVersion.HTTP_1_1);
    String perRequest = req.headers().get(Exchange.X_LITELLM_TIMEOUT);
    if (perRequest != null) {
      // LiteLLM's per-request timeout (seconds): replaces the deployment's for this request; not forwarded.
      req.headers().remove(Exchange.X_LITELLM_TIMEOUT);
      ex.requestedTimeout = seconds(perRequest);
      if (ex.requestedTimeout == null) {
        active = null;
        ex.fail(ProxyError.BAD_REQUEST, "x-litellm-timeout: expected seconds > 0 (e.g. 30 or 2.5), got \""
            + (perRequest.length() > 40 ? perRequest.substring(0, 40) + "…" : perRequest) + "\".");
        return;
      }
    }
    ex.maxRetries = ex.passThrough == null ? gw.numRetries() : -1;
    io.sluice.auth.Authenticator auth = gw.authenticator();
    if (ex.passThrough != null) {
      PassThroughHeaders.toUpstream(ex.passThrough, req.headers(), ex.credentialHeader, ex.requestId);
    } else {
      if (gw.passThrough().settings().forwardProviderAuth()) {
        ex.providerAuthorization = HeaderRules.providerAuthorization(req.headers(), ex.credentialHeader,
            ex.credentials, auth);
      }
      HeaderRules.toUpstream(req.headers(), ex.credentialHeader, ex.requestId);
      if (ex.route == Route.VLLM) {
        req.headers().remove(BodyInspector.X_SLUICE_DEPLOYMENT);
      }
    }
    // Whatever the route's rules kept: no header carries a Sluice credential upstream (issue 13, finding 1).
    ex.credentials.scrub(req.headers(), auth);
    if (ex.trace != null) {
      Tracing.started(ex); // the child traceparent upstream, replacing the client's (every route)
    }
    Metering m = gw.metering();
    if (metered(gw)) {
      ex.metering = m;
      // A token count generates nothing: its {"input_tokens":N} is no usage (limits and the spend row still apply).
      // One scanner per connection: exchanges run one at a time, and the observer has read the last one's counts
      // before the next exchange starts (Exchange.markComplete).
      ex.usage = ex.route.countsUsage() ? usageScanner.reset() : null;
    }
    if (ex.endUser != null && m.endUsers() != io.sluice.auth.EndUserStore.NONE) {
      findEndUser(ex, m.endUsers());
      return;
    }
    limit(ex, null);
  }

  /**
   * Looks up the body's {@code user} (LiteLLM's end user) before admission: a cached one answers in this loop turn;
   * a miss is read off the loop (JDBC) with reads paused, and the exchange resumes on this channel's loop. A failed
   * lookup lets the request through without end-user limits, as LiteLLM's get_end_user_object and blocked-user hook
   * do (both treat a lookup error as "no end user").
   */
  private void findEndUser(Exchange ex, io.sluice.auth.EndUserStore endUsers) {
    java.util.concurrent.CompletableFuture<java.util.Optional<io.sluice.auth.EndUser>> f;
    try {
      f = endUsers.find(ex.endUser).toCompletableFuture();
    } catch (RuntimeException e) {
      f = java.util.concurrent.CompletableFuture.failedFuture(e);
    }
    if (f.isDone() && !f.isCompletedExceptionally()) {
      endUserFound(ex, f.getNow(java.util.Optional.empty()).orElse(null));
      return;
    }
    ex.conn.pauseReads(ClientConnection.PAUSE_END_USER);
    io.opentelemetry.api.trace.Span lookup = Tracing.childOf(ex, "end user lookup");
    f.whenCompleteAsync((eu, err) -> {
      ex.conn.resumeReads(ClientConnection.PAUSE_END_USER);
      if (lookup != null) {
        Tracing.endChild(lookup, err);
      }
      if (active != ex || !ctx.channel().isActive() || ex.responseComplete()) {
        return; // the client left meanwhile (the relay's channelInactive released the body)
      }
      if (err != null) {
        log.warn("[{}] end user lookup failed, serving without end-user limits: {}", ex.requestId, err.toString());
      }
      guarded(() -> endUserFound(ex, err == null ? eu.orElse(null) : null));
    }, ctx.executor());
  }

  /** The end user is known (null: none, or not a stored one): refuse a blocked one, else check the limits. */
  private void endUserFound(Exchange ex, io.sluice.auth.EndUser eu) {
    if (eu != null && eu.blocked()) {
      active = null;
      // LiteLLM's wording and status (enterprise_hooks/blocked_user_list.py: HTTPException 400).
      ex.fail(ProxyError.END_USER_BLOCKED, "User blocked from making LLM API Calls. User="
          + BodyInspector.shorten(eu.id()));
      return;
    }
    limit(ex, eu);
  }

  /** Checks the key's (user's, team's) and the end user's limits, if any, then routes. */
  private void limit(Exchange ex, io.sluice.auth.EndUser eu) {
    io.sluice.limits.RateLimiter limiter = gw.metering().limiter();
    io.sluice.auth.KeyRecord key = ex.principal == null ? null : ex.principal.key();
    if (limiter != null && (key != null && key.limited() || eu != null && eu.limits().limited())) {
      List<io.sluice.limits.LimitScope> scopes = Metering.scopes(key, eu);
      if (!scopes.isEmpty()) {
        admit(ex, scopes, Metering.reservation(ex, scopes, gw.server().reservationMaxTokens()), limiter);
        return;
      }
    }
    route(ex);
  }

  /** {@code v} as a positive number of seconds, or null. */
  private static Duration seconds(String v) {
    try {
      double d = Double.parseDouble(v.trim());
      return d > 0 && d <= 86_400 * 7 ? Duration.ofMillis(Math.max(1, Math.round(d * 1000))) : null;
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /** Runs an async resume; a throw goes to the pipeline's last-resort handler instead of vanishing in a future. */
  private void guarded(Runnable resume) {
    try {
      resume.run();
    } catch (RuntimeException e) {
      ctx.fireExceptionCaught(e);
    }
  }

  /** Whether exchanges are metered: spend logging, limits, usage-based routing or the token metrics need tokens. */
  static boolean metered(GatewayContext gw) {
    Metering m = gw.metering();
    return m.records() || m.limiter() != null || gw.strategy() == io.sluice.routing.Strategy.USAGE_BASED
        || gw.metrics() != null || gw.registry().get().limitsEnforced();
  }

  /**
   * Checks the key's (user's, team's) limits before routing. A local limiter answers at once; a shared one (Redis)
   * answers on its own thread: reads stay paused meanwhile and the answer resumes on this channel's loop.
   */
  private void admit(Exchange ex, List<io.sluice.limits.LimitScope> scopes, io.sluice.limits.Reservation held,
      io.sluice.limits.RateLimiter limiter) {
    java.util.concurrent.CompletableFuture<io.sluice.limits.Admission> f;
    try {
      f = limiter.acquire(scopes, held, System.currentTimeMillis()).toCompletableFuture();
    } catch (RuntimeException e) {
      f = java.util.concurrent.CompletableFuture.failedFuture(e);
    }
    if (f.isDone()) {
      io.sluice.limits.Admission a = f.getNow(null);
      admitted(ex, scopes, held, limiter, a, a == null ? new IllegalStateException("no answer") : null);
      return;
    }
    ex.conn.pauseReads(ClientConnection.PAUSE_LIMITS);
    io.opentelemetry.api.trace.Span round = Tracing.childOf(ex, "limiter round trip");
    f.whenCompleteAsync((a, err) -> {
      ex.conn.resumeReads(ClientConnection.PAUSE_LIMITS);
      if (round != null) {
        Tracing.endChild(round, err);
      }
      guarded(() -> admitted(ex, scopes, held, limiter, a, err));
    }, ctx.executor());
  }

  private void admitted(Exchange ex, List<io.sluice.limits.LimitScope> scopes, io.sluice.limits.Reservation held,
      io.sluice.limits.RateLimiter limiter, io.sluice.limits.Admission a, Throwable err) {
    if (err == null && a == null) {
      err = new IllegalStateException("the limiter answered nothing");
    }
    if (err instanceof java.util.concurrent.CompletionException && err.getCause() != null) {
      err = err.getCause();
    }
    if (active != ex || !ctx.channel().isActive() || ex.responseComplete()) {
      if (err == null && a.admitted()) {
        limiter.release(scopes, held, 0, 0, System.currentTimeMillis()); // the client left while we asked
      }
      return;
    }
    if (err != null) {
      active = null;
      log.debug("[{}] limits unavailable: {}", ex.requestId, err.toString());
      ex.fail(ProxyError.LIMITS_UNAVAILABLE, "Rate limits cannot be checked right now (the shared limiter, "
          + limiter.describe() + ", is unreachable and limits fail closed). Try again shortly.", false, 1);
      return;
    }
    ex.admission = a;
    if (!a.admitted()) {
      active = null;
      if (metrics != null) {
        metrics.limited(a);
      }
      ex.fail(a.limit() == io.sluice.limits.Admission.Limit.BUDGET ? ProxyError.BUDGET_EXCEEDED : ProxyError.RATE_LIMITED,
          limitMessage(ex, a), false, a.retryAfterSeconds());
      return;
    }
    ex.limits = scopes;
    ex.reservation = held;
    route(ex);
  }

  private static String limitMessage(Exchange ex, io.sluice.limits.Admission a) {
    io.sluice.auth.KeyRecord key = ex.principal.key();
    String who = switch (a.scope()) {
      case KEY -> "key " + (key.alias() != null ? key.alias() : key.keyName() != null ? key.keyName() : key.hash().prefix());
      case USER -> "user " + key.userId();
      case TEAM -> "team " + key.teamId();
      case END_USER -> "end user " + BodyInspector.shorten(ex.endUser);
      case TEAM_MEMBER -> "user " + key.userId() + " in team " + key.teamId();
    };
    String when = a.retryAfterSeconds() > 0 ? " Try again in " + a.retryAfterSeconds() + " s." : "";
    boolean budget = a.limit() == io.sluice.limits.Admission.Limit.BUDGET;
    if (budget && a.scope() == io.sluice.limits.LimitScope.Kind.END_USER) {
      // LiteLLM's end-user check (auth_checks.py::_check_end_user_budget) says "End User=<id> over budget".
      return "Budget has been exceeded! End User=" + BodyInspector.shorten(ex.endUser)
          + " over budget (max_budget of its budget). "
          + (a.retryAfterSeconds() > 0 ? "The budget resets in " + a.retryAfterSeconds() + " s."
          : "Raise the end user's max_budget (/customer/update) to continue.");
    }
    if (budget && a.scope() == io.sluice.limits.LimitScope.Kind.TEAM_MEMBER) {
      // LiteLLM's team member check (auth_checks.py::_check_team_member_budget) words it so.
      return "Budget has been exceeded! User=" + key.userId() + " in Team=" + key.teamId() + " Max budget: "
          + key.memberLimits().maxBudget() + " (max_budget_in_team). " + (a.retryAfterSeconds() > 0
          ? "The budget resets in " + a.retryAfterSeconds() + " s." : "Raise it with /team/member_update to continue.");
    }
    if (budget) {
      // LiteLLM's wording starts so (its scripts and client libraries match on it).
      return "Budget has been exceeded! Max budget reached for " + who + " (max_budget). " + (a.retryAfterSeconds() > 0
          ? "The budget resets in " + a.retryAfterSeconds() + " s." : "Raise max_budget to continue.");
    }
    return "Rate limit exceeded for " + who + ": " + a.limit().field() + " (" + a.limit().words() + ") reached."
        + when;
  }

  /**
   * Sends {@code ex} to the next deployment: a replica of the current group that is not cooling down and was not
   * tried yet, while the group's attempts stay within {@code 1 + num_retries}; then the groups of
   * {@code router_settings.fallbacks}, in order. With none left: the last attempt's error, or — when no attempt could
   * be made because every replica is cooling down — 429 with {@code Retry-After} (LiteLLM's behaviour).
   */
  private void route(Exchange ex) {
    AdmissionGate gate = gw.admission();
    if (gate != null && !admissionChecked) {
      admissionChecked = true;
      if (gate.watches(policy.group()) && queued(ex, gate)) {
        return;
      }
    }
    long now = gw.registry().nanoTime();
    ModelGroup before = policy.group();
    Deployment d = policy.next(now);
    if (policy.group() != before) {
      log.debug("[{}] model group {} cannot serve: falling back to {}", ex.requestId, before.name(),
          policy.group().name());
    }
    ex.group = policy.group();
    if (d != null) {
      send(ex, d);
      return;
    }
    releasePending();
    active = null;
    Deployment pinned = ex.pinned();
    if (pinned != null && policy.groupAttempts() == 0) {
      long wait = pinned.health().remainingNanos(now);
      long seconds = Math.max(1, java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(wait + 999_999_999L));
      ex.fail(ProxyError.RESPONSE_REPLICA_UNAVAILABLE, "The replica that holds this stored response (deployment "
          + pinned.id() + " of model " + pinned.modelGroup() + ") is cooling down after failures, and stored "
          + "responses live only on the replica that made them. Try again in " + seconds + " s.", false, seconds);
      return;
    }
    RetryPolicy.GiveUp g = policy.giveUp(ex.model == null ? ex.group : gw.registry().get().group(ex.model),
        ex.model == null ? ex.group.name() : ex.model, now);
    ex.fail(g.error(), g.message(), false, g.retryAfterSeconds());
  }

  /**
   * Fair admission (issue 20 §2): when every replica of the group is saturated, the exchange waits in the gate's
   * queue — its body held, no upstream connection — until a slot frees ({@link #dequeued}), its deadline passes
   * (429 with {@code Retry-After}), or the client leaves ({@link #channelInactive}). Returns false when it may go on
   * now. Event loop only.
   */
  private boolean queued(Exchange ex, AdmissionGate gate) {
    ModelGroup g = policy.group();
    if (gate.tryPass(g)) {
      reservedGroup = g.name(); // a slot is ours until the request is in flight
      return false;
    }
    AdmissionGate.Ticket t = new AdmissionGate.Ticket(ctx.executor(), g.name(), AdmissionGate.tenant(ex));
    long bytes = ex.body == null ? 0 : ex.body.readableBytes();
    AdmissionGate.Verdict v = gate.offer(g, t, bytes, gate.weight(ex));
    if (v == AdmissionGate.Verdict.PASS) {
      reservedGroup = g.name(); // a slot is ours until the request is in flight
      return false;
    }
    if (v == AdmissionGate.Verdict.FULL) {
      gate.listener.shed(t.group, t.tenant, AdmissionGate.Shed.FULL);
      active = null;
      ex.fail(ProxyError.ADMISSION_SHED, "Every replica of model " + g.name() + " is busy and Sluice's admission "
          + "queue is full (router_settings.fair_admission.max_queued_bytes: " + gate.settings().maxQueuedBytes()
          + " bytes of queued request bodies). Retry later.", false, 1);
      return true;
    }
    t.admit = () -> guarded(() -> dequeued(ex, t, gate));
    t.expired = () -> guarded(() -> queueExpired(ex, t, gate));
    queuedTicket = t;
    log.debug("[{}] model {} saturated: queued as tenant {}", ex.requestId, g.name(), t.tenant);
    t.timer = ctx.executor().schedule(() -> {
      if (gate.remove(t, AdmissionGate.Shed.TIMEOUT)) {
        queueExpired(ex, t, gate);
      }
    }, gate.settings().queueTimeout().toNanos(), TimeUnit.NANOSECONDS);
    gate.ensureTick(ctx.executor());
    return true;
  }

  /** The gate let {@code t} go (on this loop): route it, holding its pending slot until it is in flight. */
  private void dequeued(Exchange ex, AdmissionGate.Ticket t, AdmissionGate gate) {
    if (queuedTicket != t) {
      gate.release(t.group);
      gate.drain(t.group); // its slot goes to the next waiter
      return;
    }
    queuedTicket = null;
    if (t.timer != null) {
      t.timer.cancel(false);
    }
    if (active != ex || !ctx.channel().isActive() || ex.responseComplete()) {
      gate.release(t.group);
      gate.drain(t.group);
      return;
    }
    reservedGroup = t.group;
    route(ex);
  }

  /** {@code t}'s deadline passed while it waited (the gate removed it): 429 with {@code Retry-After}. */
  private void queueExpired(Exchange ex, AdmissionGate.Ticket t, AdmissionGate gate) {
    if (queuedTicket != t) {
      return;
    }
    queuedTicket = null;
    if (t.timer != null) {
      t.timer.cancel(false);
    }
    if (active != ex || ex.responseComplete()) {
      return;
    }
    active = null;
    long wait = gate.settings().queueTimeout().toMillis();
    ex.fail(ProxyError.ADMISSION_SHED, "Every replica of model " + t.group + " stayed busy for the request's "
        + wait + " ms in Sluice's admission queue (router_settings.fair_admission.queue_timeout). Retry later.",
        false, 1);
  }

  /** The exchange let go by the admission queue is in flight now, or gave up: its pending slot is released. */
  private void releasePending() {
    String g = reservedGroup;
    if (g != null) {
      reservedGroup = null;
      gw.admission().release(g);
    }
  }

  private void send(Exchange ex, Deployment d) {
    attemptStartNanos = System.nanoTime(); // latency: the real clock
    if (d.hasRateLimits() && gw.registry().get().limitsEnforced()) {
      d.load().countRequest(gw.registry().nanoTime()); // its rpm: every attempt counts, as LiteLLM's pre-call check
    }
    ex.attempts++;
    ex.deployment = d;
    HttpRequest req = ex.request;
    HttpHeaders h = req.headers();
    if (ex.upstreamPath == null) {
      String target = d.target(ex.route.ordinal(), ex.route.atRoot, ex.route.upstreamSuffix);
      req.setUri(ex.query.isEmpty() ? target : target + ex.query);
    } else {
      req.setUri(originForm((ex.rawBase ? d.basePath() : d.rootPath()) + ex.upstreamPath, ex.upstreamQuery));
    }
    h.set(HttpHeaderNames.HOST, d.hostHeader());
    if (ex.passThrough != null) {
      PassThroughHeaders.apply(ex.passThrough, h); // the endpoint's own headers; never the deployment's key
    } else if (ex.providerAuthorization != null) {
      h.set(HttpHeaderNames.AUTHORIZATION, ex.providerAuthorization); // BYOK: the client's provider key wins
    } else if (d.authorization() != null) {
      h.set(HttpHeaderNames.AUTHORIZATION, d.authorization());
    } else {
      h.remove(HttpHeaderNames.AUTHORIZATION);
    }
    h.setInt(HttpHeaderNames.CONTENT_LENGTH, BodyInspector.bodyLength(ex, d));
    // The response's "model" as the client named it (LiteLLM's proxy restamps it too), unless configured off.
    ex.restamp = ex.model != null && ex.upstreamPath == null && ex.route.restampsModel()
        && !gw.server().servedModelName() ? d.restamp(ex.aliasOf != null ? ex.aliasOf : ex.model) : null;
    acquire(ex);
  }

  /**
   * The request target in origin-form (RFC 9112 §3.2.1: an absolute path, then the query): {@code /vllm?x=1} on a
   * target without a path is {@code /?x=1}, never {@code ?x=1} (issue 13, finding 7).
   */
  static String originForm(String path, String query) {
    if (path.isEmpty() || path.charAt(0) != '/') {
      path = "/" + path;
    }
    return query.isEmpty() ? path : path + query;
  }

  /**
   * An attempt failed before any response byte reached the client: count it against the replica when it is the
   * replica's fault, and route again (another replica, a fallback group, or the final error).
   */
  private void attemptFailed(Exchange ex, ProxyError error, String message, boolean replicaFault) {
    attemptFailed(ex, error, message, replicaFault, error.status().code());
  }

  /** As above; {@code status} is what the attempt is counted as in the deployment metrics. */
  private void attemptFailed(Exchange ex, ProxyError error, String message, boolean replicaFault, int status) {
    if (metrics != null) {
      metrics.attemptFailed(ex, ex.deployment, status);
    }
    if (replicaFault && error == ProxyError.UPSTREAM_TIMEOUT
        && lastAvailable(ex.deployment, ex.group, gw.registry().nanoTime())) {
      // An overload symptom (no connection or no first byte in time) on the group's only replica still taking
      // traffic: cooling it down would turn a slow replica into "no healthy deployment" for everyone (issue 20 §2;
      // LiteLLM exempts single-deployment groups from its rate and error-rate cooldowns too). Counted, not cooled.
      log.debug("[{}] replica {} is the last available one of model {}: not cooled down for a timeout",
          ex.requestId, ex.deployment.id(), ex.deployment.modelGroup());
    } else if (replicaFault && ex.deployment.health().failure(gw.registry().nanoTime())) {
      ex.cooldowns++;
      log.warn("replica {} of model {} cooling down for {} after repeated failures (last: {})", ex.deployment.id(),
          ex.deployment.modelGroup(), gw.cooldown(), message);
    }
    policy.failed(error, message);
    if (active == ex && ctx.channel().isActive() && !ex.responseComplete()) {
      route(ex);
    }
  }

  /** Whether {@code d} is the only replica of {@code group} not cooling down at {@code now}. */
  static boolean lastAvailable(Deployment d, ModelGroup group, long now) {
    if (group == null) {
      return true;
    }
    for (Deployment other : group.deployments()) {
      if (other != d && !other.health().coolingAt(now)) {
        return false;
      }
    }
    return true;
  }

  /**
   * The groups to fall back to, in order: the body's own {@code fallbacks} when it sent some (LiteLLM's per-request
   * parameter), else {@code router_settings.fallbacks} of the requested group; none for pass-through.
   */
  private static List<String> fallbacks(Exchange ex, DeploymentRegistry registry) {
    Exchange.Steering s = ex.steering;
    if (ex.model == null || ex.upstreamPath != null || s != null && s.pinned != null) {
      return List.of(); // pinned: only one replica holds the stored response
    }
    return s != null && s.fallbacks != null ? s.fallbacks : registry.fallbacks(ex.model);
  }

  /**
   * The replica answered with a 5xx head. Counted against it; when another attempt is possible the response is
   * dropped (the connection closed, nothing reached the client) and the request goes elsewhere. Returns true when
   * it did so, false when the caller should relay the response as the replica sent it.
   */
  @Override
  public boolean retryOnServerError(Exchange ex, UpstreamHandler h, int status) {
    if (upstream != h) {
      return false;
    }
    long now = gw.registry().nanoTime();
    if (!policy.hasAlternative(now)) {
      ex.deployment.health().failure(now);
      return false;
    }
    detach(h, false);
    attemptFailed(ex, ProxyError.UPSTREAM_BROKEN, "Replica " + ex.deployment.id() + " of model "
        + ex.deployment.modelGroup() + " answered " + status + ".", true, status);
    return true;
  }

  /** Context window fallbacks apply on model-routed routes: the body's own, else router_settings'. */
  private static List<String> contextWindowFallbacks(Exchange ex, DeploymentRegistry registry) {
    if (ex.model == null || ex.upstreamPath != null || ex.passThrough != null) {
      return List.of();
    }
    Exchange.Steering s = ex.steering;
    return s != null && s.contextWindowFallbacks != null ? s.contextWindowFallbacks
        : registry.contextWindowFallbacks(ex.model);
  }

  @Override
  public boolean holdsContextWindowError(Exchange ex) {
    return active == ex && policy.contextWindowLeft(contextWindowFallbacks(ex, gw.registry().get()));
  }

  /**
   * The replica answered 400 saying the request exceeds its context window: the exchange goes on to the next
   * context window fallback group (LiteLLM's router does the same with its ContextWindowExceededError). Nothing
   * reached the client; the replica is not at fault (no cooldown). Returns false when no group is left.
   */
  @Override
  public boolean contextWindowExceeded(Exchange ex, UpstreamHandler h, boolean reusable, String body) {
    if (upstream != h) {
      return false;
    }
    String replicaSaid = body.length() > 500 ? body.substring(0, 500) + "…" : body;
    if (!policy.contextWindowExceeded(contextWindowFallbacks(ex, gw.registry().get()), "Replica "
        + ex.deployment.id() + " of model " + ex.deployment.modelGroup() + " answered that the request exceeds its "
        + "context window, and no context_window_fallbacks group could take it. The replica said: " + replicaSaid)) {
      return false;
    }
    if (metrics != null) {
      metrics.attemptFailed(ex, ex.deployment, 400);
    }
    log.debug("[{}] model {} (replica {}): context window exceeded, trying context_window_fallbacks", ex.requestId,
        ex.deployment.modelGroup(), ex.deployment.id());
    detach(h, reusable);
    if (active == ex && ctx.channel().isActive() && !ex.responseComplete()) {
      route(ex);
    }
    return true;
  }

  /**
   * count_tokens got a 404 from a replica whose vLLM has no such route (issue 15 §1): asks the same replica's
   * {@code /tokenize} with the request's messages instead (see {@link TokenCount}), on a new connection. Returns
   * false — relay the 404 as it is — when the body is no Anthropic request Sluice can restate.
   */
  @Override
  public boolean countTokensByTokenize(Exchange ex, UpstreamHandler h) {
    if (upstream != h || ex.body == null) {
      return false;
    }
    TokenCount.Request t = TokenCount.tokenizeRequest(ctx.alloc(), ex.body, ex.model);
    if (t == null) {
      return false;
    }
    log.debug("[{}] replica {} has no /v1/messages/count_tokens: asking its /tokenize", ex.requestId,
        ex.deployment.id());
    detach(h, false);
    ex.releaseBody();
    ex.body = t.body();
    ex.modelStart = t.modelStart();
    ex.modelEnd = t.modelEnd();
    ex.tokenCount = new TokenCount();
    ex.upstreamPath = "/tokenize"; // at the server root, as vLLM serves it
    ex.rawBase = false;
    ex.upstreamQuery = "";
    policy.dropFallbacks(); // a /tokenize is asked of this group only, as any pass-through-style request
    policy.resend(ex.deployment);
    send(ex, ex.deployment);
    return true;
  }

  /** The {@code /tokenize} Sluice asked for count_tokens did not answer 200: the exchange fails with a 404. */
  @Override
  public void tokenizeFailed(Exchange ex, UpstreamHandler h, int status) {
    if (upstream != h) {
      return;
    }
    detach(h, false);
    if (active == ex) {
      active = null;
    }
    ex.fail(ProxyError.NOT_FOUND, "Replica " + ex.deployment.id() + " of model " + ex.deployment.modelGroup()
        + " serves neither /v1/messages/count_tokens nor /tokenize (it answered " + status + ").");
  }

  private void acquire(Exchange ex) {
    Channel idle = gw.pools().pollIdle(ctx.channel().eventLoop(), ex.deployment.endpoint());
    if (idle != null) {
      started(ex, idle); // the common case: a kept-alive connection, no future made for it
      return;
    }
    Future<Channel> f = gw.pools().acquire(ctx.channel().eventLoop(), ex.deployment.endpoint());
    if (f.isDone()) {
      onAcquired(ex, f);
    } else {
      // Not a pooled connection: a connect (its own span when traced).
      io.opentelemetry.api.trace.Span connect = Tracing.connectOf(ex);
      f.addListener(x -> {
        if (connect != null) {
          Tracing.endChild(connect, f.cause());
        }
        guarded(() -> onAcquired(ex, f));
      });
    }
  }

  private void onAcquired(Exchange ex, Future<Channel> f) {
    if (active != ex || ex.responseComplete()) {
      if (f.isSuccess()) {
        gw.pools().release(f.getNow()); // the client left while we waited
      }
      return;
    }
    if (!f.isSuccess()) {
      Throwable cause = f.cause();
      if (cause instanceof io.netty.channel.ConnectTimeoutException) {
        attemptFailed(ex, ProxyError.UPSTREAM_TIMEOUT, "Replica " + ex.deployment.id() + " of model "
            + ex.deployment.modelGroup() + " did not accept a connection within "
            + gw.server().connectTimeout().toMillis() + " ms (sluice_settings.connect_timeout).", true);
      } else if (cause instanceof PoolExhaustedException) {
        attemptFailed(ex, ProxyError.UPSTREAM_POOL_EXHAUSTED, "Replica " + ex.deployment.id() + " of model "
            + ex.deployment.modelGroup() + " had no connection for this request: " + cause.getMessage()
            + ". Retry later.",
            false);
      } else {
        attemptFailed(ex, ProxyError.UPSTREAM_UNREACHABLE, "Replica " + ex.deployment.id() + " of model "
            + ex.deployment.modelGroup() + " is unreachable: " + cause.getClass().getSimpleName() + ": "
            + cause.getMessage(), true);
      }
      return;
    }
    started(ex, f.getNow());
  }

  /** Sends the attempt's request on {@code ch}, a connection the pool gave for it. */
  private void started(Exchange ex, Channel ch) {
    UpstreamHandler h = (UpstreamHandler) ch.pipeline().get(UpstreamPools.RELAY_HANDLER);
    upstream = h;
    int n = BodyInspector.bodyPieces(ctx, ex, ex.deployment, bodyPieces);
    h.start(this, ex, ex.request, bodyPieces, n, ctx.channel().isWritable());
    if (reservedGroup != null) {
      releasePending(); // in flight now: the replica's own count holds its slot
    }
    armTtfbTimer(ex, h);
  }

  /**
   * Arms the first-byte deadline. One timer per client connection is kept and re-armed lazily: when it fires early
   * (the deadline moved on with a later request) it schedules itself for the remainder, so a keep-alive connection
   * does not pay a schedule and a cancel on the event loop's timer queue for every request.
   */
  private void armTtfbTimer(Exchange ex, UpstreamHandler h) {
    Duration t = ex.requestedTimeout != null ? ex.requestedTimeout
        : ex.deployment.timeout() != null ? ex.deployment.timeout() : gw.defaultTimeout();
    ex.timeout = t;
    ttfbMillis = t.toMillis();
    ttfbDeadline = ctx.executor().ticker().nanoTime() + t.toNanos();
    ensureTimer(t.toNanos());
  }

  private void ensureTimer(long delayNanos) {
    if (ttfbTimer != null && ttfbTimer.getDelay(TimeUnit.NANOSECONDS) <= delayNanos) {
      return;
    }
    if (ttfbTimer != null) {
      ttfbTimer.cancel(false); // a shorter deadline than the pending check: check sooner
    }
    ttfbTimer = ctx.executor().schedule(this::onTtfbTimer, delayNanos, TimeUnit.NANOSECONDS);
  }

  /**
   * The relay's one timer: before the response head, the first-byte deadline; after it, with
   * {@code stream_timeout}, the longest silence between two reads from the replica.
   */
  private void onTtfbTimer() {
    ttfbTimer = null;
    UpstreamHandler h = upstream;
    Exchange ex = active;
    if (h == null || ex == null) {
      return; // nothing in flight; the next request arms a new timer
    }
    long now = ctx.executor().ticker().nanoTime();
    if (h.responseStarted()) {
      Duration st = gw.streamTimeout();
      if (st == null) {
        return;
      }
      long left = h.lastReadNanos() + st.toNanos() - now;
      if (left > 0) {
        ttfbTimer = ctx.executor().schedule(this::onTtfbTimer, left, TimeUnit.NANOSECONDS);
        return;
      }
      detach(h, false); // closing the connection is what makes vLLM abort the generation
      active = null;
      ex.deployment.health().failure(gw.registry().nanoTime());
      ex.fail(ProxyError.UPSTREAM_TIMEOUT, "Replica " + ex.deployment.id() + " of model " + ex.deployment.modelGroup()
          + " sent nothing for " + st.toMillis() + " ms mid-response (router_settings.stream_timeout); "
          + "the response is incomplete.");
      return;
    }
    long left = ttfbDeadline - now;
    if (left > 0) {
      ttfbTimer = ctx.executor().schedule(this::onTtfbTimer, left, TimeUnit.NANOSECONDS);
      return;
    }
    detach(h, false);
    attemptFailed(ex, ProxyError.UPSTREAM_TIMEOUT, "Replica " + ex.deployment.id() + " of model "
        + ex.deployment.modelGroup() + " sent no response within " + ttfbMillis + " ms (the deployment's timeout, "
        + "else router_settings.timeout, else litellm_settings.request_timeout).", true);
  }

  private void cancelTimer() {
    if (ttfbTimer != null) {
      ttfbTimer.cancel(false);
      ttfbTimer = null;
    }
  }

  /** The replica's response head is about to go to the client: no retry from here on. */
  @Override
  public void responseStarted(Exchange ex, UpstreamHandler h) {
    ex.requestBodyBytes = ex.body == null ? 0 : ex.body.readableBytes();
    ex.releaseBody(); // no retry from here on
    ex.deployment.load().ttfb(System.nanoTime() - attemptStartNanos);
    Duration st = gw.streamTimeout();
    if (st != null) {
      ensureTimer(st.toNanos()); // from now on the timer watches the silence between reads
    }
  }

  /** The response is complete. */
  @Override
  public void upstreamDone(Exchange ex, UpstreamHandler h, boolean reusable) {
    detach(h, reusable);
    if (active == ex) {
      active = null;
    }
  }

  /** The upstream connection broke or misbehaved while bound to {@code ex}. */
  @Override
  public void upstreamFailed(Exchange ex, UpstreamHandler h, String what) {
    if (upstream != h) {
      return;
    }
    boolean started = h.responseStarted();
    // A pooled connection that sat idle and dies before any response byte was most likely closed by the replica's
    // keep-alive timer meanwhile: the request never reached it. One that was busy a moment ago failed for real.
    boolean diedIdle = h.diedIdle();
    detach(h, false);
    if (diedIdle && staleRetries < MAX_STALE_RETRIES && active == ex && ctx.channel().isActive()) {
      staleRetries++;
      log.debug("[{}] reused connection to {} {}: retrying on another", ex.requestId, ex.deployment.id(), what);
      acquire(ex);
      return;
    }
    if (!started) {
      attemptFailed(ex, ProxyError.UPSTREAM_UNREACHABLE, "Replica " + ex.deployment.id() + " of model "
          + ex.deployment.modelGroup() + " " + what + " before responding.", true);
    } else {
      if (active == ex) {
        active = null;
      }
      log.info("[{}] replica {} {} mid-response", ex.requestId, ex.deployment.id(), what);
      ex.deployment.health().failure(gw.registry().nanoTime());
      ex.fail(ProxyError.UPSTREAM_BROKEN, "Replica " + ex.deployment.id() + " of model " + ex.deployment.modelGroup() + " " + what
          + " mid-response; the response is incomplete.");
    }
  }

  /** Unbinds the upstream call, returning its connection to the pool when reusable, else closing it. */
  private void detach(UpstreamHandler h, boolean reusable) {
    if (upstream == h) {
      upstream = null;
    }
    Exchange ex = active;
    h.release(gw.pools(), reusable);
    AdmissionGate gate = gw.admission();
    if (gate != null && ex != null && ex.deployment != null) {
      gate.freed(ex.deployment.modelGroup()); // a volatile read when nothing waits
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    UpstreamHandler h = upstream;
    if (h != null) {
      h.clientWritable(ctx.channel().isWritable());
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    cancelTimer();
    UpstreamHandler h = upstream;
    if (h != null) {
      // Client gone: closing the upstream connection is what makes vLLM abort the generation.
      Exchange ex = active;
      log.debug("[{}] client gone: closing upstream connection", ex == null ? "-" : ex.requestId);
      detach(h, false);
    }
    AdmissionGate.Ticket t = queuedTicket;
    if (t != null) {
      queuedTicket = null;
      if (t.timer != null) {
        t.timer.cancel(false);
      }
      gw.admission().remove(t, AdmissionGate.Shed.GONE); // at once: its bytes and place go to the others
    }
    releasePending();
    if (active != null) {
      active.releaseBody(); // the guard, after this, tells the exchange's observer (tokens, limiter slots, log)
      active = null;
    }
    ctx.fireChannelInactive();
  }
}
