package io.sluice.metrics;

import java.util.List;

/**
 * Every metric family Sluice exposes (the README's metrics table is this list). LiteLLM's names and label names are
 * used where LiteLLM has the metric, so dashboards built for LiteLLM keep working; Sluice's own carry the
 * {@code sluice_} prefix. Counters are shown by Prometheus with {@code _total} appended, as LiteLLM's are.
 */
public final class Families {
  private Families() {}

  /**
   * The per-key labels added to the per-request families when {@code sluice_settings.metrics_key_labels} is on:
   * the first 12 hex digits of the key's SHA-256 (never the key), its alias, its team and user ids.
   */
  public static final List<String> KEY_LABELS = List.of("hashed_api_key", "api_key_alias", "team", "user");

  // Requests, as the client saw them (once per request; liveness, readiness and /metrics are not counted).
  public static final Family PROXY_TOTAL_REQUESTS = Family.counter("litellm_proxy_total_requests_metric",
      "Requests made to Sluice, by requested model group, route and the status the client got (499: the client left "
          + "before the response started)", "requested_model", "route", "status_code");
  public static final Family PROXY_FAILED_REQUESTS = Family.counter("litellm_proxy_failed_requests_metric",
      "Requests whose client did not get a success: status >= 400, or a response cut short (client gone, upstream "
          + "error, timeout)", "requested_model", "route", "exception_status", "exception_class");
  public static final Family REQUESTS = Family.counter("litellm_requests_metric",
      "LLM requests that reached a model group (main and pass-through routes)", "model");
  public static final Family INPUT_TOKENS = Family.counter("litellm_input_tokens",
      "Prompt tokens, from the replica's usage (or estimated for a stream cut short)", "model", "requested_model");
  public static final Family OUTPUT_TOKENS = Family.counter("litellm_output_tokens",
      "Completion tokens, from the replica's usage (or estimated for a stream cut short)", "model", "requested_model");
  public static final Family TOTAL_TOKENS = Family.counter("litellm_total_tokens",
      "Prompt + completion tokens", "model", "requested_model");
  public static final Family SPEND = Family.counter("litellm_spend_metric",
      "Spend in USD (tokens × the serving deployment's input/output_cost_per_token)", "model");

  // Latency (seconds), per model group and deployment.
  public static final Family TOTAL_LATENCY = Family.histogram("litellm_request_total_latency_metric",
      "Seconds from the request's head to the response's last byte (or the client leaving)", "requested_model",
      "model", "model_id");
  public static final Family TTFB = Family.histogram("litellm_llm_api_time_to_first_token_metric",
      "Seconds from the request's head to the response head (for a stream: its first event follows at once)",
      "model", "model_id");

  // Per deployment, per attempt (a retried request counts once per replica it was sent to).
  private static final String[] DEPLOYMENT = {"requested_model", "litellm_model_name", "model_id", "api_base",
      "api_provider"};
  public static final Family DEPLOYMENT_TOTAL = Family.counter("litellm_deployment_total_requests",
      "Attempts sent to a deployment, by route and the class of the replica's status (or Sluice's, when the "
          + "attempt failed before the replica answered)", concat(DEPLOYMENT, "route", "status_class"));
  public static final Family DEPLOYMENT_SUCCESS = Family.counter("litellm_deployment_success_responses",
      "Attempts a deployment answered with a status below 400", DEPLOYMENT);
  public static final Family DEPLOYMENT_FAILURE = Family.counter("litellm_deployment_failure_responses",
      "Attempts that failed at a deployment (status >= 400, connect failure, timeout, broken response)",
      concat(DEPLOYMENT, "exception_status"));
  private static final String[] DEPLOYMENT_STATE_LABELS = {"litellm_model_name", "model_id", "api_base",
      "api_provider"};
  public static final Family DEPLOYMENT_STATE = Family.gauge("litellm_deployment_state",
      "0 = healthy, 1 = partial outage (failures in the last minute), 2 = complete outage (cooling down)",
      DEPLOYMENT_STATE_LABELS);
  public static final Family DEPLOYMENT_COOLED_DOWN = Family.counter("litellm_deployment_cooled_down",
      "Times a deployment was cooled down (allowed_fails failures within a minute, or a failed health probe)",
      DEPLOYMENT_STATE_LABELS);
  public static final Family IN_FLIGHT = Family.gauge("sluice_deployment_in_flight_requests",
      "Requests being served by a deployment now", "model_group", "model_id");
  public static final Family IN_FLIGHT_STREAMS = Family.gauge("sluice_deployment_in_flight_streams",
      "Streaming requests being served by a deployment now", "model_group", "model_id");

  // Routing.
  public static final Family RETRIES = Family.counter("sluice_retries",
      "Extra attempts after a failed one (router_settings.num_retries), by requested model group",
      "requested_model");
  public static final Family FALLBACKS_OK = Family.counter("litellm_deployment_successful_fallbacks",
      "Requests served by a fallback model group (router_settings.fallbacks) with a status below 400",
      "requested_model", "fallback_model");
  public static final Family FALLBACKS_FAILED = Family.counter("litellm_deployment_failed_fallbacks",
      "Requests that fell back to another model group and still failed", "requested_model", "fallback_model");

  // Upstream connection pools (all event loops), per replica endpoint.
  public static final Family POOL_OPEN = Family.gauge("sluice_upstream_connections",
      "Open connections to a replica endpoint (state=open), and how many of them are idle (state=idle)",
      "upstream", "state");
  public static final Family POOL_PENDING = Family.gauge("sluice_upstream_pending_acquires",
      "Requests waiting for a connection to a replica endpoint (max_connections_per_replica reached)", "upstream");
  public static final Family POOL_CONNECTS = Family.counter("sluice_upstream_connects",
      "Connections opened to replicas");
  public static final Family POOL_CONNECT_FAILURES = Family.counter("sluice_upstream_connect_failures",
      "Connections to replicas that failed to open");

  // Keys, limits, spend.
  public static final Family KEY_CACHE_HITS = Family.counter("sluice_key_cache_hits",
      "Virtual-key lookups answered by a cache layer (l1: this node's memory, l2: Redis)", "layer");
  public static final Family KEY_CACHE_MISSES = Family.counter("sluice_key_cache_misses",
      "Virtual-key lookups a cache layer could not answer (l1 → l2 → PostgreSQL)", "layer");
  public static final Family RATE_LIMITED = Family.counter("sluice_rate_limit_rejections",
      "Requests refused with 429 by a limit, by scope (key, user, team) and limit (rpm_limit, tpm_limit, "
          + "max_parallel_requests, max_budget)", "scope", "limit");
  // Fair admission (router_settings.fair_admission): tenant = key alias, else team id, else a key hash prefix.
  public static final Family ADMISSION_QUEUE_DEPTH = Family.gauge("sluice_admission_queue_depth",
      "Requests waiting in Sluice for a saturated model group, by group and tenant", "model_group", "tenant");
  public static final Family ADMISSION_WAIT = Family.histogram("sluice_admission_wait_seconds",
      "Seconds requests waited in the admission queue before being sent on (admitted ones only)", "model_group",
      "tenant");
  public static final Family ADMISSION_ADMITTED = Family.counter("sluice_admission_admitted",
      "Requests that waited in the admission queue and were then sent on", "model_group", "tenant");
  public static final Family ADMISSION_SHED = Family.counter("sluice_admission_shed",
      "Requests refused by the admission queue, by reason: timeout (queue_timeout passed), full (max_queued_bytes), "
          + "gone (the client left while queued)", "model_group", "tenant", "reason");
  public static final Family SPEND_QUEUE_DEPTH = Family.gauge("sluice_spend_queue_depth",
      "Spend-log rows queued for the database writer");
  public static final Family SPEND_PENDING = Family.gauge("sluice_spend_rows_pending",
      "Spend-log rows taken from the queue and held in memory while the database does not answer");
  public static final Family SPEND_SPILLED = Family.gauge("sluice_spend_rows_spilled",
      "Spend-log rows in the spill file, waiting to be replayed into the database");
  public static final Family SPEND_DROPPED = Family.counter("sluice_spend_rows_dropped",
      "Spend-log rows dropped because the queue was full (each is also logged): expected 0");
  public static final Family SPEND_WRITTEN = Family.counter("sluice_spend_rows_written",
      "Spend-log rows written to the database");
  public static final Family ACCESS_LOG_DROPPED = Family.counter("sluice_access_log_dropped",
      "Access-log lines dropped because the writer fell behind: expected 0");

  // The process.
  public static final Family IN_FLIGHT_ALL = Family.gauge("sluice_in_flight_requests",
      "Requests on this node now (every route)");
  public static final Family EVENT_LOOP_PENDING = Family.gauge("sluice_event_loop_pending_tasks",
      "Tasks waiting in an event loop's queue: a growing number means the loop is overloaded", "loop");
  public static final Family EVENT_LOOP_ALLOCATED = Family.counter("sluice_event_loop_allocated_bytes",
      "Bytes the event loop's thread has allocated on the heap since start (the JVM's per-thread count): its rate "
      + "divided by the request rate is the gateway's allocation per request", "loop");
  public static final Family DIRECT_MEMORY = Family.gauge("sluice_netty_direct_memory_bytes",
      "Direct memory held by Netty's pooled allocator");
  public static final Family OTEL_SPANS_EXPORTED = Family.counter("sluice_otel_spans_exported",
      "Trace spans the OTLP collector accepted (only with tracing on)");
  public static final Family OTEL_SPANS_DROPPED = Family.counter("sluice_otel_spans_dropped",
      "Trace spans lost: queue_full (the bounded export queue was full), export_failed (the collector refused or "
          + "was unreachable after the exporter's retries)", "reason");
  public static final Family BUFFER_LEAKS = Family.counter("sluice_buffer_leaks",
      "Buffer leaks Netty's leak detector reported (sampled; expected 0)");
  public static final Family BUILD = Family.gauge("sluice_build",
      "Always 1; the version label is Sluice's version", "version");

  /** {@code f} with the key labels appended when they are on. */
  public static Family withKeys(Family f, boolean keyLabels) {
    return keyLabels ? f.withLabels(KEY_LABELS) : f;
  }

  /** Every family, for the documentation test and the dashboard check. */
  public static List<Family> all() {
    return List.of(PROXY_TOTAL_REQUESTS, PROXY_FAILED_REQUESTS, REQUESTS, INPUT_TOKENS, OUTPUT_TOKENS, TOTAL_TOKENS,
        SPEND, TOTAL_LATENCY, TTFB, DEPLOYMENT_TOTAL, DEPLOYMENT_SUCCESS, DEPLOYMENT_FAILURE, DEPLOYMENT_STATE,
        DEPLOYMENT_COOLED_DOWN, IN_FLIGHT, IN_FLIGHT_STREAMS, RETRIES, FALLBACKS_OK, FALLBACKS_FAILED, POOL_OPEN,
        POOL_PENDING, POOL_CONNECTS, POOL_CONNECT_FAILURES, KEY_CACHE_HITS, KEY_CACHE_MISSES, RATE_LIMITED,
        ADMISSION_QUEUE_DEPTH, ADMISSION_WAIT, ADMISSION_ADMITTED, ADMISSION_SHED,
        SPEND_QUEUE_DEPTH, SPEND_PENDING, SPEND_SPILLED, SPEND_DROPPED, SPEND_WRITTEN, ACCESS_LOG_DROPPED,
        IN_FLIGHT_ALL, EVENT_LOOP_PENDING, EVENT_LOOP_ALLOCATED, DIRECT_MEMORY, OTEL_SPANS_EXPORTED, OTEL_SPANS_DROPPED, BUFFER_LEAKS, BUILD);
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
