package io.sluice.usage;

import java.time.Instant;
import java.util.Objects;

/**
 * One request's usage and spend, emitted once when the request ends (completed, failed, or the client left) and
 * written as one spend-log row. Carries no secret: the key only as its SHA-256 hex (what the keys table stores),
 * never a key, a replica key or a client provider key.
 *
 * @param requestId        the request's {@code x-request-id}; unique per request (the spend row's primary key)
 * @param keyHash          SHA-256 hex of the caller's virtual key; null for the master key or an unauthenticated
 *                         pass-through
 * @param keyAlias         the key's {@code key_alias}, or null
 * @param userId           the key's user, or null
 * @param teamId           the key's team, or null
 * @param route            the request path without its query, e.g. {@code /v1/chat/completions}
 * @param modelGroup       the model group that served (after fallbacks), or null when none was chosen
 * @param deploymentId     {@code model_info.id} of the replica that served, or null
 * @param promptTokens     prompt tokens (the replica's {@code usage}, else an estimate: see {@code estimated})
 * @param completionTokens completion tokens
 * @param estimated        the replica reported no usage (the stream was cut short, or the response carried none):
 *                         tokens are counted from what passed (one per content event, the prompt from its bytes)
 * @param spend            cost in USD: tokens × the deployment's {@code input/output_cost_per_token}; 0 when unset
 * @param startMicros      when the request arrived, in microseconds since the epoch (what the spend row stores;
 *                         {@link #start()} as an {@code Instant})
 * @param endMicros        when its response ended, likewise ({@link #end()})
 * @param status           the HTTP status the client got (0 when the client left before any response)
 * @param outcome          how it ended
 * @param stream           the client asked for a stream
 * @param endUser          the request body's {@code user} (LiteLLM's end user / customer), or null; the spend row's
 *                         {@code end_user}, and the end user's spend is added to
 */
public record UsageEvent(
    String requestId,
    String keyHash,
    String keyAlias,
    String userId,
    String teamId,
    String route,
    String modelGroup,
    String deploymentId,
    long promptTokens,
    long completionTokens,
    boolean estimated,
    double spend,
    long startMicros,
    long endMicros,
    int status,
    Outcome outcome,
    boolean stream,
    String endUser) {

  /** With its times as instants (rounded to the microsecond as {@link #micros} says). */
  public UsageEvent(String requestId, String keyHash, String keyAlias, String userId, String teamId, String route,
      String modelGroup, String deploymentId, long promptTokens, long completionTokens, boolean estimated,
      double spend, Instant start, Instant end, int status, Outcome outcome, boolean stream, String endUser) {
    this(requestId, keyHash, keyAlias, userId, teamId, route, modelGroup, deploymentId, promptTokens,
        completionTokens, estimated, spend, micros(Objects.requireNonNull(start, "start")),
        micros(Objects.requireNonNull(end, "end")), status, outcome, stream, endUser);
  }

  /** Without an end user. */
  public UsageEvent(String requestId, String keyHash, String keyAlias, String userId, String teamId, String route,
      String modelGroup, String deploymentId, long promptTokens, long completionTokens, boolean estimated,
      double spend, Instant start, Instant end, int status, Outcome outcome, boolean stream) {
    this(requestId, keyHash, keyAlias, userId, teamId, route, modelGroup, deploymentId, promptTokens,
        completionTokens, estimated, spend, start, end, status, outcome, stream, null);
  }

  /** When the request arrived. */
  public Instant start() {
    return instant(startMicros);
  }

  /** When its response ended. */
  public Instant end() {
    return instant(endMicros);
  }

  /**
   * Microseconds since the epoch, rounded to the nearest microsecond, a tie to even (PostgreSQL keeps microseconds
   * and rounds the fraction it is given so).
   */
  public static long micros(Instant t) {
    long us = t.getNano() / 1000;
    int rest = t.getNano() % 1000;
    if (rest > 500 || rest == 500 && (us & 1) == 1) {
      us++;
    }
    return Math.addExact(Math.multiplyExact(t.getEpochSecond(), 1_000_000L), us);
  }

  private static Instant instant(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1000L);
  }

  /** How a request ended. */
  public enum Outcome {
    /** The whole response reached the client. */
    COMPLETED("completed"),
    /** The client went away before the response ended; the upstream generation was aborted. */
    CLIENT_GONE("client_gone"),
    /** The replica failed (unreachable, error status relayed, broke mid-response). */
    UPSTREAM_ERROR("upstream_error"),
    /** No first byte, or a silent stream, within the configured timeout. */
    TIMEOUT("timeout"),
    /** Refused by Sluice before reaching a replica (limits, no healthy replica). */
    REJECTED("rejected");

    private final String label;

    Outcome(String label) {
      this.label = label;
    }

    /** The stored and logged name, e.g. {@code client_gone}. */
    public String label() {
      return label;
    }

    public static Outcome parse(String label) {
      for (Outcome o : values()) {
        if (o.label.equals(label)) {
          return o;
        }
      }
      throw new IllegalArgumentException("unknown outcome " + label);
    }
  }

  public UsageEvent {
    Objects.requireNonNull(requestId, "requestId");
    Objects.requireNonNull(route, "route");
    Objects.requireNonNull(outcome, "outcome");
  }

  public long totalTokens() {
    return promptTokens + completionTokens;
  }

  /** Whether the stream (or response) ran to its end: the spend row's {@code stream_finished}. */
  public boolean finished() {
    return outcome == Outcome.COMPLETED;
  }
}
