package io.sluice.admin.spend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.usage.UsageEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The spill line's codec: the same bytes as the data-binding codec it replaced wrote (so files of either version
 * replay in the other), and its hand-made instants agree with {@link Instant#toString()} and {@link Instant#parse}.
 */
class SpillCodecTest {
  /** The line as Sluice wrote it before: Jackson data binding of this record, instants by {@code Instant}. */
  record OldLine(
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
      @JsonProperty("end_user") String endUser) {}

  private static final ObjectMapper OLD = new ObjectMapper();
  private static final long YEAR_10000 = 253_402_300_800L * 1_000_000L;

  static byte[] oldEncode(UsageEvent e) throws IOException {
    return OLD.writeValueAsBytes(new OldLine(e.requestId(), e.keyHash(), e.keyAlias(), e.userId(), e.teamId(),
        e.route(), e.modelGroup(), e.deploymentId(), e.promptTokens(), e.completionTokens(), e.estimated(),
        SpendStore.spend(e), e.start().toString(), e.end().toString(), e.status(), e.outcome().label(), e.stream(),
        e.endUser()));
  }

  static UsageEvent random(SplittableRandom r) {
    long start = switch (r.nextInt(4)) {
      case 0 -> r.nextLong(0, YEAR_10000); // any instant the fast path formats
      case 1 -> r.nextLong(0, YEAR_10000) / 1_000_000 * 1_000_000; // whole seconds
      case 2 -> r.nextLong(0, YEAR_10000) / 1000 * 1000; // whole milliseconds
      default -> 1_796_000_000_000_000L + r.nextLong(0, 86_400_000_000L); // a day in 2026
    };
    long end = start + r.nextLong(0, 600_000_000L);
    UsageEvent.Outcome[] outcomes = UsageEvent.Outcome.values();
    return new UsageEvent(text(r), text(r), maybe(r), maybe(r), maybe(r), "/v1/chat/completions", text(r),
        maybe(r), r.nextLong(0, 1L << 40), r.nextLong(0, 1L << 20), r.nextBoolean(),
        r.nextInt(3) == 0 ? 0 : r.nextDouble() * 10, start, end, 100 + r.nextInt(500),
        outcomes[r.nextInt(outcomes.length)], r.nextBoolean(), maybe(r));
  }

  /** Text with what a JSON writer must escape: quotes, backslashes, control characters, non-ASCII. */
  static String text(SplittableRandom r) {
    String alphabet = "abcXYZ019-_.:/ \"\\\t\n\u0001\u001féü€\u4e2d\ud83d\ude00";
    StringBuilder b = new StringBuilder();
    int n = r.nextInt(1, 24);
    for (int i = 0; i < n; i++) {
      int at = r.nextInt(alphabet.length());
      char c = alphabet.charAt(at);
      if (Character.isHighSurrogate(c)) {
        b.append(c).append(alphabet.charAt(at + 1));
      } else if (!Character.isLowSurrogate(c)) {
        b.append(c);
      }
    }
    return b.toString();
  }

  static String maybe(SplittableRandom r) {
    return r.nextInt(3) == 0 ? null : text(r);
  }

  @Test
  void aLineIsTheBytesTheDataBindingCodecWroteAndReadsBackAsTheEvent() throws IOException {
    SplittableRandom r = new SplittableRandom(20261208);
    for (int i = 0; i < 5000; i++) {
      UsageEvent e = random(r);
      byte[] line = SpillCodec.encode(e);
      assertThat(new String(line, StandardCharsets.UTF_8)).as("event %s", i)
          .isEqualTo(new String(oldEncode(e), StandardCharsets.UTF_8));
      assertThat(SpillCodec.decode(line, line.length)).as("event %s", i).isEqualTo(e);
    }
  }

  @Test
  void instantsAreFormattedAsInstantToStringDoes() {
    SplittableRandom r = new SplittableRandom(7);
    long[] edges = {0, 1, 999, 1000, 999_999, 1_000_000, 951_782_400_000_000L /* 2000-02-29 */,
        4_107_542_400_000_000L /* 2100-03-01 */, YEAR_10000 - 1, YEAR_10000, -1, -86_400_000_001L, Long.MAX_VALUE / 2};
    for (long us : edges) {
      assertThat(SpillCodec.instantText(us)).as("%s µs", us).isEqualTo(instant(us).toString());
    }
    for (int i = 0; i < 200_000; i++) {
      long us = i % 2 == 0 ? r.nextLong(0, YEAR_10000) : r.nextLong(0, YEAR_10000) / 1000 * 1000;
      assertThat(SpillCodec.instantText(us)).isEqualTo(instant(us).toString());
    }
  }

  @Test
  void instantsAreReadAsInstantParseReadsThemRoundedToTheMicrosecond() {
    SplittableRandom r = new SplittableRandom(11);
    for (int i = 0; i < 200_000; i++) {
      Instant t = Instant.ofEpochSecond(r.nextLong(0, 253_402_300_800L), r.nextInt(1_000_000_000));
      String s = t.toString(); // 0, 3, 6 or 9 fraction digits
      if (i % 3 == 0) {
        // 1 to 9 fraction digits, as another writer might
        int digits = 1 + r.nextInt(9);
        s = s.substring(0, 19) + "." + String.format("%09d", t.getNano()).substring(0, digits) + "Z";
      }
      assertThat(SpillCodec.parseMicros(s)).as(s).isEqualTo(UsageEvent.micros(Instant.parse(s)));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"2026-12-08T01:32:30Z", "2026-12-08T01:32:30.5Z", "2024-02-29T23:59:59.999999999Z",
      "2026-12-08T01:32:30.0000005Z", "2026-12-08T01:32:30.0000015Z", "0000-01-01T00:00:00Z",
      "2026-12-08T23:59:60Z", "2026-12-08t01:32:30z", "2026-12-08T01:32:30+01:00", "+12026-12-08T01:32:30Z",
      "2026-12-08T24:00:00Z", "2026-12-08T01:32:30.Z"})
  void whatTheFastPathDoesNotTakeInstantParseDecides(String s) {
    assertThat(SpillCodec.parseMicros(s)).isEqualTo(UsageEvent.micros(Instant.parse(s)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-32T00:00:00Z",
      "2026-12-08T01:32Z", "2026-12-08T01:60:00Z", "2026-12-08T01:32:30.1234567890Z",
      "2026-12-08T01:32:3aZ", "2026-12-08 01:32:30Z", "", "yesterday"})
  void whatInstantParseRefusesIsRefused(String s) {
    assertThatThrownBy(() -> Instant.parse(s)).isInstanceOf(DateTimeParseException.class);
    assertThatThrownBy(() -> SpillCodec.parseMicros(s)).isInstanceOf(DateTimeParseException.class);
  }

  @Test
  void aLineOfAnOlderVersionWithoutEndUserAndWithUnknownFieldsIsRead() throws IOException {
    String line = "{\"request_id\":\"r1\",\"api_key\":\"h\",\"key_alias\":null,\"user_id\":\"u\",\"team_id\":null,"
        + "\"route\":\"/v1/chat/completions\",\"model_group\":\"llama\",\"model_id\":\"vllm-a\",\"prompt_tokens\":10,"
        + "\"completion_tokens\":5,\"tokens_estimated\":false,\"spend\":0.25,\"start_time\":\"2026-12-08T01:00:00Z\","
        + "\"end_time\":\"2026-12-08T01:00:00.250Z\",\"status\":200,\"outcome\":\"completed\",\"stream\":true,"
        + "\"later\":{\"nested\":[1,2,{\"x\":null}]},\"also_later\":[true]}";
    byte[] b = line.getBytes(StandardCharsets.UTF_8);
    UsageEvent e = SpillCodec.decode(b, b.length);
    assertThat(e).isEqualTo(new UsageEvent("r1", "h", null, "u", null, "/v1/chat/completions", "llama", "vllm-a", 10,
        5, false, 0.25, Instant.parse("2026-12-08T01:00:00Z"), Instant.parse("2026-12-08T01:00:00.250Z"), 200,
        UsageEvent.Outcome.COMPLETED, true, null));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "[]", "{\"request_id\":\"r1\"", "{\"request_id\":\"r1\",\"start_time\":\"2026-12-08T01:00:00Z\"}",
      "{\"request_id\":\"r1\",\"start_time\":\"2026-12-08T01:00:00Z\",\"end_time\":\"2026-12-08T01:00:00Z\","
          + "\"outcome\":\"no such outcome\"}",
      "{\"request_id\":{\"x\":1},\"start_time\":\"2026-12-08T01:00:00Z\",\"end_time\":\"2026-12-08T01:00:00Z\","
          + "\"outcome\":\"completed\"}",
      "{\"request_id\":\"r1\",\"start_time\":\"2026-12-08T01:00:00Z\",\"end_time\":\"tomorrow\",\"outcome\":\"completed\"}",
      "{\"request_id\":\"r1\",\"start_time\":\"2026-12-08T01:00:00Z\",\"end_time\":\"2026-12-08T01:00:00Z\","
          + "\"outcome\":\"completed\"} trailing"})
  void anIncompleteOrInvalidLineIsAnIoException(String line) {
    byte[] b = line.getBytes(StandardCharsets.UTF_8);
    assertThatThrownBy(() -> SpillCodec.decode(b, b.length)).isInstanceOf(IOException.class);
  }

  private static Instant instant(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1000L);
  }
}
