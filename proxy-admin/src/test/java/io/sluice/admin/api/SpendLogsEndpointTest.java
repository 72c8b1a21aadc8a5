package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.admin.spend.SpendWriter;
import io.sluice.auth.KeyHash;
import io.sluice.auth.Principal;
import io.sluice.usage.UsageEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /spend/logs} over rows the spend writer wrote; and the {@code spend} the info endpoints show. (In the
 * api package for the harness; named Spend* to run with the spend tests.)
 */
class SpendLogsEndpointTest {
  static final Principal ADMIN = Principal.MASTER;
  @TempDir
  static Path dir;
  static AdminHarness h;
  static String keyAlice;
  static String keyAliceTeam;
  static String keyBob;
  static String keyViewer;
  static String keyIvy;

  @BeforeAll
  static void up() {
    h = new AdminHarness();
    keyAlice = h.post(ADMIN, "/user/new", "{\"user_id\":\"alice\"}").json().get("key").asText();
    keyBob = h.post(ADMIN, "/user/new", "{\"user_id\":\"bob\"}").json().get("key").asText();
    keyViewer = h.post(ADMIN, "/user/new", "{\"user_id\":\"vic\",\"user_role\":\"proxy_admin_viewer\"}").json()
        .get("key").asText();
    keyIvy = h.post(ADMIN, "/user/new", "{\"user_id\":\"ivy\",\"user_role\":\"internal_user_viewer\"}").json()
        .get("key").asText();
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"team-x\",\"members_with_roles\":[{\"role\":\"user\","
        + "\"user_id\":\"alice\"}]}").status()).isEqualTo(200);
    keyAliceTeam = h.post(ADMIN, "/key/generate", "{\"user_id\":\"alice\",\"team_id\":\"team-x\"}").json()
        .get("key").asText();
    try (SpendWriter w = SpendWriter.start(h.tdb.db.dsl(), SpendWriter.Settings.defaults(dir))) {
      w.offer(event("a1", keyAlice, "alice", null, 0.5, "2026-03-01T10:00:00Z", 200, UsageEvent.Outcome.COMPLETED));
      w.offer(event("a2", keyAliceTeam, "alice", "team-x", 0.25, "2026-03-02T23:59:59Z", 200,
          UsageEvent.Outcome.COMPLETED));
      w.offer(event("a3", keyAlice, "alice", null, 1.0, "2026-03-03T00:00:00Z", 502,
          UsageEvent.Outcome.UPSTREAM_ERROR));
      w.offer(event("b1", keyBob, "bob", null, 2.0, "2026-03-02T12:00:00Z", 200, UsageEvent.Outcome.COMPLETED));
      w.offer(event("i1", keyIvy, "ivy", null, 0.125, "2026-03-02T13:00:00Z", 200, UsageEvent.Outcome.COMPLETED));
      w.offer(event("m1", null, Principal.MASTER_USER_ID, null, 0, "2026-03-04T08:00:00Z", 200,
          UsageEvent.Outcome.COMPLETED));
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
    }
  }

  @AfterAll
  static void down() {
    h.close();
  }

  static UsageEvent event(String id, String key, String user, String team, double spend, String start, int status,
      UsageEvent.Outcome outcome) {
    Instant t = Instant.parse(start);
    return new UsageEvent(id, key == null ? null : KeyHash.of(key).hex(), key == null ? null : "alias-" + id, user,
        team, "/v1/chat/completions", "llama", "vllm-a", 10, 5, false, spend, t, t.plusMillis(250), status,
        outcome, true);
  }

  static List<String> ids(Reply r) {
    assertThat(r.status()).as(r.json().toString()).isEqualTo(200);
    assertThat(r.json().isArray()).isTrue();
    List<String> out = new ArrayList<>();
    r.json().forEach(row -> out.add(row.get("request_id").asText()));
    return out;
  }

  static List<String> adminIds(String query) {
    return ids(h.get(ADMIN, "/spend/logs" + query));
  }

  @Test
  void adminSeesEveryRowNewestFirstAsLiteLLMSpendLogs() {
    Reply r = h.get(ADMIN, "/spend/logs");
    assertThat(ids(r)).containsExactly("m1", "a3", "a2", "i1", "b1", "a1");
    JsonNode a3 = r.json().get(1);
    assertThat(a3.get("call_type").asText()).isEqualTo("/v1/chat/completions");
    assertThat(a3.get("api_key").asText()).isEqualTo(KeyHash.of(keyAlice).hex());
    assertThat(a3.get("spend").asDouble()).isEqualTo(1.0);
    assertThat(a3.get("total_tokens").asLong()).isEqualTo(15);
    assertThat(a3.get("prompt_tokens").asLong()).isEqualTo(10);
    assertThat(a3.get("completion_tokens").asLong()).isEqualTo(5);
    assertThat(Instant.parse(a3.get("startTime").asText())).isEqualTo(Instant.parse("2026-03-03T00:00:00Z"));
    assertThat(Instant.parse(a3.get("endTime").asText())).isEqualTo(Instant.parse("2026-03-03T00:00:00.250Z"));
    assertThat(a3.get("request_duration_ms").asLong()).isEqualTo(250);
    assertThat(a3.get("model").asText()).isEqualTo("llama");
    assertThat(a3.get("model_group").asText()).isEqualTo("llama");
    assertThat(a3.get("model_id").asText()).isEqualTo("vllm-a");
    assertThat(a3.get("user").asText()).isEqualTo("alice");
    assertThat(a3.get("team_id").isNull()).isTrue();
    assertThat(a3.get("status").asText()).isEqualTo("failure");
    assertThat(a3.get("request_tags").isArray()).isTrue();
    assertThat(a3.get("request_tags").size()).isZero();
    JsonNode meta = a3.get("metadata");
    assertThat(meta.get("key_alias").asText()).isEqualTo("alias-a3");
    assertThat(meta.get("outcome").asText()).isEqualTo("upstream_error");
    assertThat(meta.get("http_status").asInt()).isEqualTo(502);
    assertThat(meta.get("stream").asBoolean()).isTrue();
    assertThat(meta.get("stream_finished").asBoolean()).isFalse();
    assertThat(meta.get("tokens_estimated").asBoolean()).isFalse();
    assertThat(r.json().get(2).get("status").asText()).isEqualTo("success");
    assertThat(r.json().get(2).get("team_id").asText()).isEqualTo("team-x");
    assertThat(r.json().get(0).get("api_key").asText()).as("the master key: no hash").isEmpty();
    assertThat(r.json().toString()).doesNotContain(keyAlice).doesNotContain(keyBob);
  }

  @Test
  void filtersByKeyUserTeamAndRequest() {
    assertThat(adminIds("?api_key=" + keyAlice)).containsExactly("a3", "a1");
    assertThat(adminIds("?api_key=" + KeyHash.of(keyAlice).hex())).as("the hash works too")
        .containsExactly("a3", "a1");
    assertThat(adminIds("?user_id=alice")).containsExactly("a3", "a2", "a1");
    assertThat(adminIds("?team_id=team-x")).containsExactly("a2");
    assertThat(adminIds("?request_id=b1")).containsExactly("b1");
    assertThat(adminIds("?request_id=nope")).isEmpty();
    assertThat(adminIds("?user_id=alice&api_key=" + keyAliceTeam)).containsExactly("a2");
    assertThat(h.get(ADMIN, "/spend/logs?api_key=not-a-key").json().path("error").path("param").asText())
        .isEqualTo("api_key");
  }

  @Test
  void datesAreInclusiveUtcDaysOrInstants() {
    assertThat(adminIds("?start_date=2026-03-02&end_date=2026-03-02")).as("the whole day, to 23:59:59")
        .containsExactly("a2", "i1", "b1");
    assertThat(adminIds("?start_date=2026-03-03")).containsExactly("m1", "a3");
    assertThat(adminIds("?end_date=2026-03-01")).containsExactly("a1");
    assertThat(adminIds("?start_date=2026-03-02T12:00:00Z&end_date=2026-03-02T13:00:00Z"))
        .as("instants are inclusive").containsExactly("i1", "b1");
    assertThat(adminIds("?start_date=2026-03-02T14:00:00%2B02:00&end_date=2026-03-02T12:00:00Z"))
        .as("an offset").containsExactly("b1");
    assertThat(adminIds("?start_date=2026-03-02T14:00:00+02:00&end_date=2026-03-02T12:00:00Z"))
        .as("an offset whose + arrived as a space").containsExactly("b1");
    assertThat(adminIds("?start_date=2026-03-02%2012:00:00&end_date=2026-03-02%2012:00:00"))
        .as("LiteLLM's YYYY-MM-DD HH:MM:SS, UTC").containsExactly("b1");
  }

  @Test
  void aBadDateIs400NamingTheParameter() {
    for (String[] c : new String[][] {{"start_date", "2026-02-30"}, {"end_date", "yesterday"},
        {"start_date", "2026-03-02T25:00:00Z"}}) {
      Reply r = h.get(ADMIN, "/spend/logs?" + c[0] + "=" + c[1]);
      assertThat(r.status()).as(c[0] + "=" + c[1]).isEqualTo(400);
      JsonNode err = r.json().get("error");
      assertThat(err.get("param").asText()).isEqualTo(c[0]);
      assertThat(err.get("type").asText()).isEqualTo("bad_request_error");
      assertThat(err.get("code").asText()).isEqualTo("400");
      assertThat(err.get("message").asText()).startsWith(c[0] + ": \"" + c[1] + "\" is not a date");
    }
    Reply reversed = h.get(ADMIN, "/spend/logs?start_date=2026-03-03&end_date=2026-03-01");
    assertThat(reversed.status()).isEqualTo(400);
    assertThat(reversed.json().get("error").get("param").asText()).isEqualTo("start_date");
  }

  @Test
  void pagesNewestFirst() {
    assertThat(adminIds("?limit=2")).containsExactly("m1", "a3");
    assertThat(adminIds("?limit=2&page=2")).containsExactly("a2", "i1");
    assertThat(adminIds("?limit=2&page=4")).isEmpty();
    assertThat(adminIds("?limit=2&offset=4")).containsExactly("b1", "a1");
    assertThat(adminIds("?limit=1000")).hasSize(6);
    for (String bad : List.of("limit=1001", "limit=0", "page=0", "offset=-1", "limit=x")) {
      Reply r = h.get(ADMIN, "/spend/logs?" + bad);
      assertThat(r.status()).as(bad).isEqualTo(400);
      assertThat(r.json().get("error").get("param").asText()).isEqualTo(bad.substring(0, bad.indexOf('=')));
    }
  }

  @Test
  void internalUsersSeeOnlyTheirOwnRowsAndViewersSeeAll() {
    Principal alice = h.principal(keyAlice);
    assertThat(ids(h.get(alice, "/spend/logs"))).containsExactly("a3", "a2", "a1");
    assertThat(ids(h.get(alice, "/spend/logs?user_id=alice"))).containsExactly("a3", "a2", "a1");
    assertThat(ids(h.get(alice, "/spend/logs?api_key=" + keyBob))).as("another's key: none of its rows").isEmpty();
    assertThat(ids(h.get(alice, "/spend/logs?request_id=b1"))).isEmpty();
    Reply other = h.get(alice, "/spend/logs?user_id=bob");
    assertThat(other.status()).isEqualTo(403);
    assertThat(other.json().get("error").get("type").asText()).isEqualTo("auth_error");
    assertThat(ids(h.get(h.principal(keyIvy), "/spend/logs"))).as("internal_user_viewer: own rows")
        .containsExactly("i1");
    assertThat(ids(h.get(h.principal(keyViewer), "/spend/logs"))).as("proxy_admin_viewer: all").hasSize(6);
    assertThat(ids(h.get(h.principal(keyViewer), "/spend/logs?user_id=bob"))).containsExactly("b1");
    assertThat(h.call(ADMIN, "POST", "/spend/logs", "{}").status()).isEqualTo(405);
  }

  @Test
  void infoEndpointsShowTheSpendTheWriterAdded() {
    JsonNode key = h.get(ADMIN, "/key/info?key=" + keyAlice).json().get("info");
    assertThat(key.get("spend").asDouble()).isEqualTo(1.5);
    assertThat(h.get(ADMIN, "/key/info?key=" + keyAliceTeam).json().get("info").get("spend").asDouble())
        .isEqualTo(0.25);
    JsonNode user = h.get(ADMIN, "/user/info?user_id=alice").json();
    assertThat(user.get("user_info").get("spend").asDouble()).isEqualTo(1.75);
    assertThat(user.get("keys").get(0).get("spend").asDouble()).isGreaterThan(0);
    assertThat(h.get(ADMIN, "/team/info?team_id=team-x").json().get("team_info").get("spend").asDouble())
        .isEqualTo(0.25);
    assertThat(h.get(h.principal(keyBob), "/user/info").json().get("user_info").get("spend").asDouble())
        .isEqualTo(2.0);
  }

  @Test
  void aBudgetDurationStartsItsFirstPeriodOnCreateAndUpdate() {
    Instant before = Instant.now();
    JsonNode k = h.post(ADMIN, "/key/generate", "{\"budget_duration\":\"30d\",\"max_budget\":10}").json();
    assertThat(Instant.parse(k.get("budget_reset_at").asText()))
        .isBetween(before.plus(Duration.ofDays(30)), Instant.now().plus(Duration.ofDays(30)));
    JsonNode u = h.post(ADMIN, "/user/new", "{\"user_id\":\"budgeted\",\"budget_duration\":\"24h\","
        + "\"auto_create_key\":false}").json();
    assertThat(Instant.parse(u.get("budget_reset_at").asText()))
        .isBetween(before.plus(Duration.ofHours(24)), Instant.now().plus(Duration.ofHours(24)));
    JsonNode t = h.post(ADMIN, "/team/new", "{\"team_id\":\"team-b\",\"budget_duration\":\"7d\"}").json();
    assertThat(Instant.parse(t.get("budget_reset_at").asText()))
        .isBetween(before.plus(Duration.ofDays(7)), Instant.now().plus(Duration.ofDays(7)));
    JsonNode t2 = h.post(ADMIN, "/team/update", "{\"team_id\":\"team-b\",\"budget_duration\":\"1h\"}").json();
    assertThat(Instant.parse(t2.get("budget_reset_at").asText()))
        .isBetween(before.plus(Duration.ofHours(1)), Instant.now().plus(Duration.ofHours(1)));
    JsonNode u2 = h.post(ADMIN, "/user/update", "{\"user_id\":\"budgeted\",\"budget_duration\":null}").json();
    assertThat(u2.get("budget_duration").isNull()).isTrue();
    assertThat(u2.get("budget_reset_at").isNull()).as("no period without a duration").isTrue();
    JsonNode plain = h.post(ADMIN, "/team/update", "{\"team_id\":\"team-b\",\"team_alias\":\"B\"}").json();
    assertThat(Instant.parse(plain.get("budget_reset_at").asText())).as("untouched when not sent")
        .isEqualTo(Instant.parse(t2.get("budget_reset_at").asText()));
  }
}
