package io.sluice.admin.spend;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.usage.UsageEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@link UsageEvent} as one line of the spill file: a JSON object with snake_case names (those of the spend-log
 * columns), instants as ISO-8601 strings ({@link Instant#toString()}'s form). The field names are the file format: a
 * file written by one Sluice version is replayed by the next, so names are only ever added (unknown ones are ignored
 * when read).
 *
 * <p>Written and read with Jackson's streaming generator and parser, field by field, and the instants formatted and
 * parsed by hand for the one form this codec writes ({@code 2026-12-08T01:32:30.147123Z}; anything else a line may
 * hold goes to {@link Instant#parse}). The spill file is the writer's overflow while the database is behind, so its
 * cost lands on the gateway's cores exactly when they are busiest: profiled on one pinned core, encoding and
 * replaying through Jackson's data binding with {@code Instant.toString}/{@code Instant.parse} cost about five times
 * what writing the same rows to PostgreSQL cost the writer. The lines are the same bytes as before.
 */
final class SpillCodec {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonFactory FACTORY = JSON.getFactory();

  private static final Pattern REQUEST_ID = Pattern.compile("\"request_id\"\\s*:\\s*\"([^\"\\\\]{1,200})\"");

  private SpillCodec() {}

  /** The event as JSON, without the line feed. Control characters are escaped, so the line is one line. */
  static byte[] encode(UsageEvent e) {
    ByteArrayBuilder out = new ByteArrayBuilder(512);
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      write(g, e);
    } catch (IOException ex) {
      throw new IllegalStateException("cannot encode a usage event", ex);
    }
    return out.toByteArray();
  }

  /**
   * Each event as its line, each followed by a line feed, to {@code out} (not closed; flushed): one generator for
   * them all, which is most of what a line costs to write.
   */
  static void encode(Iterable<UsageEvent> events, java.io.OutputStream out) throws IOException {
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
      g.setRootValueSeparator(null);
      for (UsageEvent e : events) {
        write(g, e);
        g.writeRaw('\n');
      }
    }
  }

  private static void write(JsonGenerator g, UsageEvent e) throws IOException {
    g.writeStartObject();
    g.writeStringField("request_id", e.requestId());
    g.writeStringField("api_key", e.keyHash());
    g.writeStringField("key_alias", e.keyAlias());
    g.writeStringField("user_id", e.userId());
    g.writeStringField("team_id", e.teamId());
    g.writeStringField("route", e.route());
    g.writeStringField("model_group", e.modelGroup());
    g.writeStringField("model_id", e.deploymentId());
    g.writeNumberField("prompt_tokens", e.promptTokens());
    g.writeNumberField("completion_tokens", e.completionTokens());
    g.writeBooleanField("tokens_estimated", e.estimated());
    g.writeNumberField("spend", SpendStore.spend(e));
    g.writeStringField("start_time", instantText(e.startMicros()));
    g.writeStringField("end_time", instantText(e.endMicros()));
    g.writeNumberField("status", e.status());
    g.writeStringField("outcome", e.outcome().label());
    g.writeBooleanField("stream", e.stream());
    g.writeStringField("end_user", e.endUser());
    g.writeEndObject();
  }

  /**
   * The event on {@code line}. A field may be missing (a line written before it existed: {@code end_user}) and then
   * reads as null, 0 or false; the two times and the outcome must be there.
   *
   * @throws IOException if the line is not a complete, valid event (the exception's message may quote the line:
   *     never log it)
   */
  static UsageEvent decode(byte[] line, int length) throws IOException {
    String requestId = null;
    String apiKey = null;
    String keyAlias = null;
    String userId = null;
    String teamId = null;
    String route = null;
    String modelGroup = null;
    String modelId = null;
    long prompt = 0;
    long completion = 0;
    boolean estimated = false;
    double spend = 0;
    String start = null;
    String end = null;
    int status = 0;
    String outcome = null;
    boolean stream = false;
    String endUser = null;
    try (JsonParser p = FACTORY.createParser(line, 0, length)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("not a JSON object");
      }
      String name;
      while ((name = p.nextFieldName()) != null) {
        JsonToken t = p.nextToken();
        switch (name) {
          case "request_id" -> requestId = text(p, t);
          case "api_key" -> apiKey = text(p, t);
          case "key_alias" -> keyAlias = text(p, t);
          case "user_id" -> userId = text(p, t);
          case "team_id" -> teamId = text(p, t);
          case "route" -> route = text(p, t);
          case "model_group" -> modelGroup = text(p, t);
          case "model_id" -> modelId = text(p, t);
          case "prompt_tokens" -> prompt = p.getValueAsLong();
          case "completion_tokens" -> completion = p.getValueAsLong();
          case "tokens_estimated" -> estimated = p.getValueAsBoolean();
          case "spend" -> spend = p.getValueAsDouble();
          case "start_time" -> start = text(p, t);
          case "end_time" -> end = text(p, t);
          case "status" -> status = p.getValueAsInt();
          case "outcome" -> outcome = text(p, t);
          case "stream" -> stream = p.getValueAsBoolean();
          case "end_user" -> endUser = text(p, t);
          default -> p.skipChildren(); // a field a later version added
        }
      }
      if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
        throw new IOException("not one complete JSON object");
      }
    } catch (com.fasterxml.jackson.core.JsonProcessingException ex) {
      throw new IOException("not a JSON usage event", ex);
    }
    try {
      return new UsageEvent(requestId, apiKey, keyAlias, userId, teamId, route, modelGroup, modelId, prompt,
          completion, estimated, spend, parseMicros(start), parseMicros(end), status,
          UsageEvent.Outcome.parse(outcome), stream, endUser);
    } catch (RuntimeException ex) {
      throw new IOException("incomplete or invalid usage event", ex);
    }
  }

  /** A string field's value; null for JSON null; an object or array is not a string. */
  private static String text(JsonParser p, JsonToken t) throws IOException {
    if (t == JsonToken.VALUE_NULL) {
      return null;
    }
    if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
      throw new IOException("field " + p.currentName() + ": not a string");
    }
    return p.getText();
  }

  /**
   * {@code Instant.toString()} of the instant {@code micros} after the epoch: {@code yyyy-MM-ddTHH:mm:ss}, then
   * {@code .SSS} or {@code .SSSSSS} when there is a fraction, then {@code Z}. Years outside 1970–9999 (never a
   * request's) go through {@link Instant#toString()}.
   */
  static String instantText(long micros) {
    long secs = Math.floorDiv(micros, 1_000_000L);
    int us = (int) Math.floorMod(micros, 1_000_000L);
    if (micros < 0 || secs >= 253_402_300_800L) { // 10000-01-01T00:00:00Z
      return Instant.ofEpochSecond(secs, us * 1000L).toString();
    }
    long days = secs / 86_400;
    int sod = (int) (secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian; eras of 400 years from 0000-03-01).
    long z = days + 719_468;
    long era = z / 146_097;
    int doe = (int) (z - era * 146_097);
    int yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    int day = doy - (153 * mp + 2) / 5 + 1;
    int month = mp < 10 ? mp + 3 : mp - 9;
    int year = (int) (yoe + era * 400) + (month <= 2 ? 1 : 0);
    byte[] b = new byte[us == 0 ? 20 : us % 1000 == 0 ? 24 : 27];
    digits(b, 0, year, 4);
    b[4] = '-';
    digits(b, 5, month, 2);
    b[7] = '-';
    digits(b, 8, day, 2);
    b[10] = 'T';
    digits(b, 11, sod / 3600, 2);
    b[13] = ':';
    digits(b, 14, sod / 60 % 60, 2);
    b[16] = ':';
    digits(b, 17, sod % 60, 2);
    if (us != 0) {
      b[19] = '.';
      if (us % 1000 == 0) {
        digits(b, 20, us / 1000, 3);
      } else {
        digits(b, 20, us, 6);
      }
    }
    b[b.length - 1] = 'Z';
    return new String(b, StandardCharsets.ISO_8859_1);
  }

  private static void digits(byte[] b, int at, int value, int width) {
    for (int i = at + width - 1; i >= at; i--) {
      b[i] = (byte) ('0' + value % 10);
      value /= 10;
    }
  }

  /**
   * The instant {@code text} names, in microseconds since the epoch rounded as {@link UsageEvent#micros} rounds:
   * {@code yyyy-MM-ddTHH:mm:ss[.f…]Z} (1 to 9 fraction digits) is read here; anything else goes to
   * {@link Instant#parse}, which decides what it means or refuses it.
   *
   * @throws DateTimeParseException if {@code text} is not an instant
   * @throws NullPointerException   if {@code text} is null (the field is missing)
   */
  static long parseMicros(String text) {
    int n = text.length();
    if (n >= 20 && n <= 30 && n != 21 && text.charAt(4) == '-' && text.charAt(7) == '-' && text.charAt(10) == 'T'
        && text.charAt(13) == ':' && text.charAt(16) == ':' && text.charAt(n - 1) == 'Z'
        && (n == 20 || text.charAt(19) == '.')) {
      int year = num(text, 0, 4);
      int month = num(text, 5, 2);
      int day = num(text, 8, 2);
      int hour = num(text, 11, 2);
      int minute = num(text, 14, 2);
      int second = num(text, 17, 2);
      int nanos = 0;
      boolean ok = year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= lengthOfMonth(year, month)
          && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59;
      for (int i = 20; ok && i < n - 1; i++) {
        char c = text.charAt(i);
        ok = c >= '0' && c <= '9';
        nanos = nanos * 10 + (c - '0');
      }
      if (ok) {
        for (int digits = n - 21; n > 20 && digits < 9; digits++) {
          nanos *= 10; // the fraction's digits, scaled to nine
        }
        long secs = epochDay(year, month, day) * 86_400L + hour * 3600L + minute * 60L + second;
        return UsageEvent.micros(Instant.ofEpochSecond(secs, nanos));
      }
    }
    return UsageEvent.micros(Instant.parse(text));
  }

  /** The decimal number in {@code text[at, at + width)}; -1 if any of it is not a digit. */
  private static int num(String text, int at, int width) {
    int v = 0;
    for (int i = at; i < at + width; i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      v = v * 10 + (c - '0');
    }
    return v;
  }

  private static int lengthOfMonth(int year, int month) {
    return switch (month) {
      case 2 -> (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
      case 4, 6, 9, 11 -> 30;
      default -> 31;
    };
  }

  /** Days from 1970-01-01 to the civil date (proleptic Gregorian), the inverse of {@link #instantText}'s. */
  private static long epochDay(int year, int month, int day) {
    int y = month <= 2 ? year - 1 : year;
    long era = Math.floorDiv(y, 400);
    int yoe = (int) (y - era * 400);
    int doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146_097 + doe - 719_468;
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
