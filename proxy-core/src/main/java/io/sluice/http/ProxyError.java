package io.sluice.http;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;

/**
 * The catalog of errors Sluice itself answers, each with its HTTP status and LiteLLM {@code type}. On the OpenAI
 * routes bodies follow LiteLLM's {@code ProxyException} handler:
 * {@code {"error":{"message":…,"type":…,"param":"None","code":"401"}}} where {@code code} is the status as a string
 * (litellm/proxy/_types.py::ProxyException). On the Anthropic routes ({@link Route.Family#ANTHROPIC}) they follow
 * Anthropic's API: {@code {"type":"error","error":{"type":"authentication_error","message":…}}}, the {@code type}
 * chosen by status as Anthropic's errors page lists them ({@link #anthropicType}); a mid-stream failure there is
 * Anthropic's {@code event: error} SSE event.
 */
public enum ProxyError {
  BAD_REQUEST(HttpResponseStatus.BAD_REQUEST, "bad_request_error"),
  AUTH(HttpResponseStatus.UNAUTHORIZED, "auth_error"),
  FORBIDDEN(HttpResponseStatus.FORBIDDEN, "auth_error"),
  EXPIRED_KEY(HttpResponseStatus.UNAUTHORIZED, "expired_key"),
  /** LiteLLM names the offending parameter here: {@code "param":"model"} (auth_checks.py). */
  KEY_MODEL_ACCESS_DENIED(HttpResponseStatus.UNAUTHORIZED, "key_model_access_denied", "model"),
  TEAM_MODEL_ACCESS_DENIED(HttpResponseStatus.UNAUTHORIZED, "team_model_access_denied", "model"),
  USER_MODEL_ACCESS_DENIED(HttpResponseStatus.UNAUTHORIZED, "user_model_access_denied", "model"),
  NO_DB_CONNECTION(HttpResponseStatus.BAD_REQUEST, "no_db_connection"),
  NOT_FOUND(HttpResponseStatus.NOT_FOUND, "not_found_error"),
  /** {@code GET /v1/models/{id}} of a model this key cannot see: OpenAI's 404 (its SDKs raise NotFoundError). */
  MODEL_NOT_FOUND(HttpResponseStatus.NOT_FOUND, "invalid_request_error", "model"),
  /** A stored response Sluice cannot place (vLLM's not-found names the parameter too). */
  RESPONSE_NOT_FOUND(HttpResponseStatus.NOT_FOUND, "invalid_request_error", "response_id"),
  PREVIOUS_RESPONSE_NOT_FOUND(HttpResponseStatus.NOT_FOUND, "invalid_request_error", "previous_response_id"),
  /** The replica holding a stored response cannot be reached now (cooling down after failures). */
  RESPONSE_REPLICA_UNAVAILABLE(HttpResponseStatus.SERVICE_UNAVAILABLE, "api_connection_error"),
  METHOD_NOT_ALLOWED(HttpResponseStatus.METHOD_NOT_ALLOWED, "bad_request_error"),
  REQUEST_TIMEOUT(HttpResponseStatus.REQUEST_TIMEOUT, "timeout_error"),
  PAYLOAD_TOO_LARGE(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "bad_request_error"),
  URI_TOO_LONG(HttpResponseStatus.REQUEST_URI_TOO_LONG, "bad_request_error"),
  HEADERS_TOO_LARGE(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "bad_request_error"),
  EXPECTATION_FAILED(HttpResponseStatus.EXPECTATION_FAILED, "bad_request_error"),
  /** A transfer coding Sluice does not implement (RFC 9112 §6.1). */
  NOT_IMPLEMENTED(HttpResponseStatus.NOT_IMPLEMENTED, "bad_request_error"),
  INTERNAL(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal_server_error"),
  UPSTREAM_UNREACHABLE(HttpResponseStatus.BAD_GATEWAY, "api_connection_error"),
  UPSTREAM_BROKEN(HttpResponseStatus.BAD_GATEWAY, "api_connection_error"),
  UPSTREAM_POOL_EXHAUSTED(HttpResponseStatus.SERVICE_UNAVAILABLE, "api_connection_error"),
  NO_HEALTHY_DEPLOYMENT(HttpResponseStatus.TOO_MANY_REQUESTS, "no_healthy_deployment"),
  UPSTREAM_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "timeout_error"),
  /** rpm_limit, tpm_limit or max_parallel_requests of the key, its user or its team. */
  RATE_LIMITED(HttpResponseStatus.TOO_MANY_REQUESTS, "rate_limit_error"),
  /** Fair admission: the request waited queue_timeout for a saturated group, or the queue's bytes are full. */
  ADMISSION_SHED(HttpResponseStatus.TOO_MANY_REQUESTS, "rate_limit_error"),
  /** max_budget of the key, its user or its team: 400 {@code Budget has been exceeded!…}, as LiteLLM answers. */
  BUDGET_EXCEEDED(HttpResponseStatus.BAD_REQUEST, "budget_exceeded"),
  /** The body's {@code user} is a blocked end user: LiteLLM's 400 (enterprise_hooks/blocked_user_list.py). */
  END_USER_BLOCKED(HttpResponseStatus.BAD_REQUEST, "invalid_request_error"),
  /** The shared limiter (Redis) is unreachable and limits fail closed. */
  LIMITS_UNAVAILABLE(HttpResponseStatus.SERVICE_UNAVAILABLE, "service_unavailable");

  private final HttpResponseStatus status;
  private final String type;
  private final byte[] tail;
  /** {@code {"type":"error","error":{"type":"<Anthropic's type for the status>","message":"}: the message follows. */
  private final byte[] anthropicHead;

  ProxyError(HttpResponseStatus status, String type) {
    this(status, type, "None");
  }

  ProxyError(HttpResponseStatus status, String type, String param) {
    this.status = status;
    this.type = type;
    this.tail = ("\",\"type\":\"" + type + "\",\"param\":\"" + param + "\",\"code\":\"" + status.code() + "\"}}")
        .getBytes(StandardCharsets.US_ASCII);
    this.anthropicHead = ("{\"type\":\"error\",\"error\":{\"type\":\"" + anthropicType(status.code())
        + "\",\"message\":\"").getBytes(StandardCharsets.US_ASCII);
  }

  /**
   * Anthropic's error {@code type} for an HTTP status (docs.anthropic.com, "Errors": 400 invalid_request_error,
   * 401 authentication_error, 402 billing_error, 403 permission_error, 404 not_found_error, 413 request_too_large,
   * 429 rate_limit_error, 500 api_error, 504 timeout_error, 529 overloaded_error). Statuses Anthropic does not use
   * take the nearest: other 4xx are invalid requests, 503 (no capacity) is overloaded, other 5xx are api errors.
   */
  static String anthropicType(int status) {
    return switch (status) {
      case 400 -> "invalid_request_error";
      case 401 -> "authentication_error";
      case 402 -> "billing_error";
      case 403 -> "permission_error";
      case 404 -> "not_found_error";
      case 413 -> "request_too_large";
      case 429 -> "rate_limit_error";
      case 408, 504 -> "timeout_error";
      case 503, 529 -> "overloaded_error";
      default -> status < 500 ? "invalid_request_error" : "api_error";
    };
  }

  /** The error for a model-access denial: the key's, its team's or its user's list refused the model. */
  static ProxyError of(io.sluice.auth.ModelAccess.Denial d) {
    return d.user() ? USER_MODEL_ACCESS_DENIED : d.team() ? TEAM_MODEL_ACCESS_DENIED : KEY_MODEL_ACCESS_DENIED;
  }

  public HttpResponseStatus status() {
    return status;
  }

  public String type() {
    return type;
  }

  private static final byte[] HEAD = "{\"error\":{\"message\":\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] SSE_HEAD = "data: {\"error\":{\"message\":\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] SSE_TAIL = "\n\ndata: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

  private static final byte[] ANTHROPIC_TAIL = "\"}}".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] ANTHROPIC_SSE_HEAD = "event: error\ndata: ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] ANTHROPIC_SSE_TAIL = "\n\n".getBytes(StandardCharsets.US_ASCII);

  /** The JSON error body of {@code family} for {@code message}; the caller owns (releases or writes) the result. */
  ByteBuf json(ByteBufAllocator alloc, String message, Route.Family family) {
    if (family != Route.Family.ANTHROPIC) {
      return json(alloc, message);
    }
    byte[] msg = JsonStringEncoder.getInstance().quoteAsUTF8(message);
    ByteBuf buf = alloc.buffer(anthropicHead.length + msg.length + ANTHROPIC_TAIL.length);
    return buf.writeBytes(anthropicHead).writeBytes(msg).writeBytes(ANTHROPIC_TAIL);
  }

  /**
   * The mid-stream error of {@code family}: vLLM's {@code data: {"error":…}} + {@code data: [DONE]} for the OpenAI
   * routes ({@link #sseEvents(ByteBufAllocator, String)}); for the Anthropic routes Anthropic's one
   * {@code event: error} event, {@code data: {"type":"error","error":{…}}} (its streams have no {@code [DONE]}).
   * Caller owns the result.
   */
  ByteBuf sseEvents(ByteBufAllocator alloc, String message, Route.Family family) {
    if (family != Route.Family.ANTHROPIC) {
      return sseEvents(alloc, message);
    }
    byte[] msg = JsonStringEncoder.getInstance().quoteAsUTF8(message);
    ByteBuf buf = alloc.buffer(ANTHROPIC_SSE_HEAD.length + anthropicHead.length + msg.length + ANTHROPIC_TAIL.length
        + ANTHROPIC_SSE_TAIL.length);
    return buf.writeBytes(ANTHROPIC_SSE_HEAD).writeBytes(anthropicHead).writeBytes(msg).writeBytes(ANTHROPIC_TAIL)
        .writeBytes(ANTHROPIC_SSE_TAIL);
  }

  /** The LiteLLM-shaped JSON body for {@code message}; the caller owns (releases or writes) the result. */
  public ByteBuf json(ByteBufAllocator alloc, String message) {
    byte[] msg = JsonStringEncoder.getInstance().quoteAsUTF8(message);
    ByteBuf buf = alloc.buffer(HEAD.length + msg.length + tail.length);
    return buf.writeBytes(HEAD).writeBytes(msg).writeBytes(tail);
  }

  /**
   * The same error as the last events of an SSE stream whose 200 already went out:
   * {@code data: {"error":{…}}} then {@code data: [DONE]} — what vLLM itself sends on a mid-stream failure
   * (serving_engine.py::create_streaming_error_response). Caller owns the result.
   */
  public ByteBuf sseEvents(ByteBufAllocator alloc, String message) {
    byte[] msg = JsonStringEncoder.getInstance().quoteAsUTF8(message);
    ByteBuf buf = alloc.buffer(SSE_HEAD.length + msg.length + tail.length + SSE_TAIL.length);
    return buf.writeBytes(SSE_HEAD).writeBytes(msg).writeBytes(tail).writeBytes(SSE_TAIL);
  }
}
