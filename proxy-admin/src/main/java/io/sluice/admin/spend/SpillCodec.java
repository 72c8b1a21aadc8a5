package io.sluice.admin.spend;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.usage.UsageEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@link UsageEvent} as one line of the spill file: a JSON object with snake_case names (those of the spend-log
 * columns), instants as ISO-8601 strings. The field names are the file format: a file written by one Sluice version
 * is replayed by the next, so names are only ever added (unknown ones are ignored when read).
 */
final class SpillCodec {
  private static final ObjectMapper JSON = new ObjectMapper()
      .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  private static final Pattern REQUEST_ID = Pattern.compile("\"request_id\"\\s*:\\s*\"([^\"\\\\]{1,200})\"");

  private SpillCodec() {}

  /** The line's fields. */
  record Line(
      @JsonProperty("request_id") String requestId,
      @JsonProperty("api_key") String apiKey,
      @JsonProperty("key_alias") String keyAlias,
      @JsonProperty("user_id") String userId,
      @JsonProperty("team_id") String teamId,
      @JsonProperty("route") String route,
      @JsonProperty("model_group") String modelGroup,
      @JsonProperty("model_id") String modelId,
      @JsonProperty("prompt_tokens") long promptTokens,
      @JsonProperty("completion_tokens") long completionTokens,
      @JsonProperty("tokens_estimated") boolean tokensEstimated,
      @JsonProperty("spend") double spend,
      @JsonProperty("start_time") String startTime,
      @JsonProperty("end_time") String endTime,
      @JsonProperty("status") int status,
      @JsonProperty("outcome") String outcome,
      @JsonProperty("stream") boolean stream,
      // absent in lines written before end users were recorded: null
      @JsonProperty("end_user") String endUser) {}

  /** The event as JSON, without the line feed. Control characters are escaped, so the line is one line. */
  static byte[] encode(UsageEvent e) {
    Line l = new Line(e.requestId(), e.keyHash(), e.keyAlias(), e.userId(), e.teamId(), e.route(), e.modelGroup(),
        e.deploymentId(), e.promptTokens(), e.completionTokens(), e.estimated(), SpendStore.spend(e),
        e.start().toString(), e.end().toString(), e.status(), e.outcome().label(), e.stream(), e.endUser());
    try {
      return JSON.writeValueAsBytes(l);
    } catch (JsonProcessingException ex) {
      throw new IllegalStateException("cannot encode a usage event", ex);
    }
  }

  /**
   * The event on {@code line}.
   *
   * @throws IOException if the line is not a complete, valid event (the exception's message may quote the line:
   *     never log it)
   */
  static UsageEvent decode(byte[] line, int length) throws IOException {
    Line l = JSON.readValue(line, 0, length, Line.class);
    try {
      return new UsageEvent(l.requestId(), l.apiKey(), l.keyAlias(), l.userId(), l.teamId(), l.route(),
          l.modelGroup(), l.modelId(), l.promptTokens(), l.completionTokens(), l.tokensEstimated(), l.spend(),
          Instant.parse(l.startTime()), Instant.parse(l.endTime()), l.status(),
          UsageEvent.Outcome.parse(l.outcome()), l.stream(), l.endUser());
    } catch (RuntimeException ex) {
      throw new IOException("incomplete or invalid usage event", ex);
    }
  }

  /**
   * The {@code request_id} of a line that {@link #decode} refused, if it can be read at all (from the JSON, else
   * from the text of a truncated line); else null. Nothing else of the line is ever shown.
   */
  static String requestIdOf(byte[] line, int length) {
    String text = new String(line, 0, length, StandardCharsets.UTF_8);
    try {
      JsonNode id = JSON.readTree(text).get("request_id");
      if (id != null && id.isTextual()) {
        return shown(id.asText());
      }
    } catch (IOException | RuntimeException ex) {
      // not JSON: look for the field in the text
    }
    Matcher m = REQUEST_ID.matcher(text);
    return m.find() ? shown(m.group(1)) : null;
  }

  private static String shown(String id) {
    return id.length() > 80 ? id.substring(0, 80) + "…" : id;
  }
}
