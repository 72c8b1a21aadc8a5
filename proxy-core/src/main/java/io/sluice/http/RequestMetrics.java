package io.sluice.http;

import com.codahale.metrics.Counter;
import io.sluice.auth.KeyRecord;
import io.sluice.limits.Admission;
import io.sluice.limits.LimitScope;
import io.sluice.metrics.BucketHistogram;
import io.sluice.metrics.DoubleCounter;
import io.sluice.metrics.Families;
import io.sluice.metrics.Family;
import io.sluice.metrics.GatewayMetrics;
import io.sluice.routing.Deployment;
import java.net.URI;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts each request into the {@link Families per-request and per-deployment families} when it ends, on its event
 * loop. The series a request touches are found with two map lookups (one for the request's labels, one for its
 * deployment's), each giving a holder of the ready series; the rest is {@code LongAdder} increments and two
 * histogram updates. One per gateway, shared by every channel; thread-safe.
 */
final class RequestMetrics {
  private static final String[] STATUS_CLASS = {"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"};

  private final GatewayMetrics m;
  private final boolean keyLabels;
  private final Family proxyTotal;
  private final Family proxyFailed;
  private final Family requestsFamily;
  private final Family inputTokens;
  private final Family outputTokens;
  private final Family totalTokens;
  private final Family spend;
  private final ConcurrentHashMap<RequestKey, RequestSeries> byRequest = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<FailureKey, Counter> failures = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<DeploymentKey, DeploymentSeries> byDeployment = new ConcurrentHashMap<>();

  RequestMetrics(GatewayMetrics m) {
    this.m = m;
    this.keyLabels = m.keyLabels();
    this.proxyTotal = Families.withKeys(Families.PROXY_TOTAL_REQUESTS, keyLabels);
    this.proxyFailed = Families.withKeys(Families.PROXY_FAILED_REQUESTS, keyLabels);
    this.requestsFamily = Families.withKeys(Families.REQUESTS, keyLabels);
    this.inputTokens = Families.withKeys(Families.INPUT_TOKENS, keyLabels);
    this.outputTokens = Families.withKeys(Families.OUTPUT_TOKENS, keyLabels);
    this.totalTokens = Families.withKeys(Families.TOTAL_TOKENS, keyLabels);
    this.spend = Families.withKeys(Families.SPEND, keyLabels);
  }

  /** Not counted: probes and scrapes. */
  static boolean counted(Route route) {
    return route != Route.LIVENESS && route != Route.READINESS && route != Route.METRICS;
  }

  /** The {@code requested_model} label: the body's model, else the group chosen (pass-through), else empty. */
  private static String requested(Exchange ex) {
    return ex.model != null ? ex.model : ex.group != null ? ex.group.name() : "";
  }

  /** The {@code route} label: the route's name, {@code unknown} for a path Sluice does not serve (404). */
  static String routeLabel(Exchange ex) {
    return ex.route == null ? "unknown" : ex.route.label();
  }

  /**
   * The exchange ended (completed, failed, or the client left); after {@link Metering} counted its tokens. Never
   * throws: a metrics fault is logged, the exchange goes on.
   */
  void ended(Exchange ex, boolean clientGone) {
    try {
      record(ex, clientGone);
    } catch (RuntimeException e) {
      org.slf4j.LoggerFactory.getLogger(RequestMetrics.class).warn("[{}] counting the request in the metrics "
          + "failed: {}", ex.requestId, e.toString());
    }
  }

  private void record(Exchange ex, boolean clientGone) {
    if (!counted(ex.route)) {
      return;
    }
    String route = routeLabel(ex);
    String requested = requested(ex);
    String served = ex.group != null ? ex.group.name() : requested;
    boolean started = ex.responseStarted();
    int status = clientGone && !started ? 499 : ex.status;
    KeyRecord key = keyLabels && ex.principal != null ? ex.principal.key() : null;
    String[] keyValues = keyLabels ? keyValues(key) : null;
    RequestSeries s = byRequest.get(new RequestKey(requested, served, route, status, keyValues));
    if (s == null) {
      s = byRequest.computeIfAbsent(new RequestKey(requested, served, route, status, keyValues),
          k -> new RequestSeries(k));
    }
    s.total.inc();
    boolean failed = status >= 400 || clientGone || ex.failure != null;
    if (failed) {
      String cls = ex.failure != null ? ex.failure.type() : clientGone ? "client_gone" : "replica_error";
      FailureKey fk = new FailureKey(requested, route, status, cls, keyValues);
      Counter c = failures.get(fk);
      if (c == null) {
        c = failures.computeIfAbsent(fk, k -> m.counter(proxyFailed, with(k.keyValues, k.requested,
            k.route, Integer.toString(k.status), k.exceptionClass)));
      }
      c.inc();
    }
    if (ex.group != null) {
      LlmSeries llm = s.llm();
      llm.requests.inc();
      long p = ex.promptTokens;
      long c = ex.completionTokens;
      if (p + c > 0) {
        llm.input.inc(p);
        llm.output.inc(c);
        llm.tokens.inc(p + c);
      }
      llm.spend.add(ex.spend);
    }
    Deployment d = ex.deployment;
    long now = System.nanoTime();
    DeploymentSeries ds = deployment(d, requested, served, route);
    ds.latency.update(now - ex.startNanos);
    if (ex.firstByteNanos != 0 && d != null) {
      ds.ttfb.update(ex.firstByteNanos - ex.startNanos);
    }
    if (d != null) {
      // The final attempt at this deployment: the replica's status, else Sluice's for a failure before its head.
      int attemptStatus = ex.upstreamStatus > 0 ? ex.upstreamStatus : ex.failure != null
          ? ex.failure.status().code() : status;
      ds.attempts[attemptStatus / 100 % 6].inc();
      if (ex.upstreamStatus > 0 && ex.upstreamStatus < 400) {
        ds.success.inc();
      } else {
        ds.failure(attemptStatus).inc();
      }
      if (ex.attempts > 1) {
        ds.retries.inc(ex.attempts - 1);
      }
      if (ex.model != null && !served.equals(ex.model)) {
        m.counter(status < 400 && !clientGone ? Families.FALLBACKS_OK : Families.FALLBACKS_FAILED, ex.model, served)
            .inc();
      }
    }
  }

  /** An attempt at {@code d} failed before any response byte reached the client (it will be retried or failed). */
  void attemptFailed(Exchange ex, Deployment d, int status) {
    if (d == null) {
      return;
    }
    try {
      String requested = requested(ex);
      DeploymentSeries ds = deployment(d, requested, d.modelGroup(), routeLabel(ex));
      ds.attempts[status / 100 % 6].inc();
      ds.failure(status).inc();
    } catch (RuntimeException e) {
      org.slf4j.LoggerFactory.getLogger(RequestMetrics.class).warn("[{}] counting a failed attempt in the metrics "
          + "failed: {}", ex.requestId, e.toString());
    }
  }

  /** A limit refused a request (429). */
  void limited(Admission a) {
    String scope = a.scope() == null ? "" : a.scope().name().toLowerCase(Locale.ROOT);
    String limit = a.limit() == null ? "" : a.limit().field();
    m.counter(Families.RATE_LIMITED, scope, limit).inc();
  }

  private DeploymentSeries deployment(Deployment d, String requested, String served, String route) {
    DeploymentSeries last = lastDeployment.get();
    if (last != null && last.key.deployment == d && java.util.Objects.equals(last.key.requested, requested)
        && java.util.Objects.equals(last.key.served, served) && java.util.Objects.equals(last.key.route, route)) {
      return last; // the previous request's on this thread: no key object, no map lookup
    }
    DeploymentKey k = new DeploymentKey(d, requested, served, route);
    DeploymentSeries ds = byDeployment.get(k);
    if (ds == null) {
      ds = byDeployment.computeIfAbsent(k, DeploymentSeries::new);
    }
    lastDeployment.set(ds);
    return ds;
  }

  /**
   * Per thread (an event loop), the deployment series it looked up last: consecutive requests on a loop are mostly
   * for the same deployment, group and route. A series of a deployment {@link #forget} dropped stays reachable here
   * only for that very deployment object, which no new request gets.
   */
  private final io.netty.util.concurrent.FastThreadLocal<DeploymentSeries> lastDeployment =
      new io.netty.util.concurrent.FastThreadLocal<>();

  /**
   * Drops the holders of deployments no longer routed (after a {@code /model/*} change) so they can be collected;
   * their series stay (counters never go back).
   */
  void forget(java.util.Set<Deployment> live) {
    byDeployment.keySet().removeIf(k -> k.deployment != null && !live.contains(k.deployment));
  }

  private static String[] keyValues(KeyRecord key) {
    if (key == null) {
      return new String[] {"", "", "", ""};
    }
    String hex = key.hash().hex();
    return new String[] {hex.substring(0, Math.min(12, hex.length())), nz(key.alias()), nz(key.teamId()),
        nz(key.userId())};
  }

  private static String nz(String s) {
    return s == null ? "" : s;
  }

  private static String[] with(String[] keyValues, String... values) {
    if (keyValues == null) {
      return values;
    }
    String[] out = java.util.Arrays.copyOf(values, values.length + keyValues.length);
    System.arraycopy(keyValues, 0, out, values.length, keyValues.length);
    return out;
  }

  /** The labels of a deployment: never its key, nor credentials in its {@code api_base}. */
  static String apiBase(Deployment d) {
    URI u = d.config().apiBase();
    StringBuilder b = new StringBuilder().append(u.getScheme()).append("://").append(u.getHost());
    if (u.getPort() > 0) {
      b.append(':').append(u.getPort());
    }
    if (u.getRawPath() != null) {
      b.append(u.getRawPath());
    }
    return b.toString();
  }

  /**
   * A deployment's labels, in LiteLLM's order: {@code litellm_model_name}, {@code model_id}, {@code api_base},
   * {@code api_provider}.
   */
  static String[] deploymentLabels(Deployment d) {
    return new String[] {modelName(d), d.id(), apiBase(d), provider(d)};
  }

  static String modelName(Deployment d) {
    return d.config().provider().prefix() + d.upstreamModel();
  }

  static String provider(Deployment d) {
    String p = d.config().provider().prefix();
    return p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
  }

  private record RequestKey(String requested, String served, String route, int status, String[] keyValues) {
    @Override
    public boolean equals(Object o) {
      return o instanceof RequestKey k && status == k.status && route.equals(k.route) && requested.equals(k.requested)
          && served.equals(k.served) && java.util.Arrays.equals(keyValues, k.keyValues);
    }

    @Override
    public int hashCode() {
      return ((requested.hashCode() * 31 + served.hashCode()) * 31 + route.hashCode()) * 31 + status
          + java.util.Arrays.hashCode(keyValues);
    }
  }

  private record FailureKey(String requested, String route, int status, String exceptionClass, String[] keyValues) {
    @Override
    public boolean equals(Object o) {
      return o instanceof FailureKey k && status == k.status && route.equals(k.route) && requested.equals(k.requested)
          && exceptionClass.equals(k.exceptionClass) && java.util.Arrays.equals(keyValues, k.keyValues);
    }

    @Override
    public int hashCode() {
      return ((requested.hashCode() * 31 + exceptionClass.hashCode()) * 31 + route.hashCode()) * 31 + status
          + java.util.Arrays.hashCode(keyValues);
    }
  }

  /** Identity of the deployment object: a changed deployment is a new object with fresh holders. */
  private record DeploymentKey(Deployment deployment, String requested, String served, String route) {}

  private final class RequestSeries {
    final RequestKey key;
    final Counter total;
    /** Created on the first request that reached a model group (a 401 never creates token series). */
    private volatile LlmSeries llm;

    RequestSeries(RequestKey k) {
      this.key = k;
      total = m.counter(proxyTotal, with(k.keyValues, k.requested, k.route, Integer.toString(k.status)));
    }

    LlmSeries llm() {
      LlmSeries l = llm;
      if (l == null) {
        synchronized (this) {
          l = llm;
          if (l == null) {
            llm = l = new LlmSeries(key);
          }
        }
      }
      return l;
    }
  }

  private final class LlmSeries {
    final Counter requests;
    final Counter input;
    final Counter output;
    final Counter tokens;
    final DoubleCounter spend;

    LlmSeries(RequestKey k) {
      String[] kv = k.keyValues;
      requests = m.counter(requestsFamily, with(kv, k.served));
      input = m.counter(inputTokens, with(kv, k.served, k.requested));
      output = m.counter(outputTokens, with(kv, k.served, k.requested));
      tokens = m.counter(totalTokens, with(kv, k.served, k.requested));
      spend = m.doubleCounter(RequestMetrics.this.spend, with(kv, k.served));
    }
  }

  private final class DeploymentSeries {
    final BucketHistogram latency;
    final BucketHistogram ttfb;
    final Counter[] attempts = new Counter[6];
    final Counter success;
    final Counter retries;
    private final String[] labels;
    private final ConcurrentHashMap<Integer, Counter> failures = new ConcurrentHashMap<>();
    final DeploymentKey key;

    DeploymentSeries(DeploymentKey k) {
      this.key = k;
      Deployment d = k.deployment;
      String id = d == null ? "" : d.id();
      latency = m.histogram(Families.TOTAL_LATENCY, k.requested, k.served, id);
      ttfb = d == null ? null : m.histogram(Families.TTFB, k.served, id);
      if (d == null) {
        labels = null;
        success = null;
        retries = null;
        return;
      }
      retries = m.counter(Families.RETRIES, k.requested);
      labels = with(deploymentLabels(d), k.requested);
      success = m.counter(Families.DEPLOYMENT_SUCCESS, labels);
      for (int i = 0; i < attempts.length; i++) {
        attempts[i] = m.counter(Families.DEPLOYMENT_TOTAL, with(new String[] {k.route, STATUS_CLASS[i]},
            labels));
      }
    }

    Counter failure(int status) {
      Counter c = failures.get(status);
      if (c == null) {
        c = failures.computeIfAbsent(status, s -> m.counter(Families.DEPLOYMENT_FAILURE,
            with(new String[] {Integer.toString(s)}, labels)));
      }
      return c;
    }
  }
}
