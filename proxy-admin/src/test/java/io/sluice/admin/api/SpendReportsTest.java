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
import org.jooq.DSLContext;
import org.jooq.Record;
import org.jooq.impl.DSL;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The usage reports over rows the spend writer wrote: LiteLLM's shapes, the daily rollup equal to the spend-log
 * rows it sums (replays included), role scoping, and bad input. (Named Spend* to run with the spend tests.)
 */
class SpendReportsTest {
  static final Principal ADMIN = Principal.MASTER;
  @TempDir
  static Path dir;
  static AdminHarness h;
  static String keyAlice;
  static String keyAliceTeam;
  static String keyBob;
  static String keyViewer;
  static List<UsageEvent> events = new ArrayList<>();

  @BeforeAll
  static void up() {
    h = new AdminHarness();
    keyAlice = h.post(ADMIN, "/user/new", "{\"user_id\":\"alice\"}").json().get("key").asText();
    keyBob = h.post(ADMIN, "/user/new", "{\"user_id\":\"bob\"}").json().get("key").asText();
    keyViewer = h.post(ADMIN, "/user/new", "{\"user_id\":\"vic\",\"user_role\":\"proxy_admin_viewer\"}").json()
        .get("key").asText();
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"team-x\",\"team_alias\":\"Team X\","
        + "\"members_with_roles\":[{\"role\":\"user\",\"user_id\":\"alice\"}]}").status()).isEqualTo(200);
    keyAliceTeam = h.post(ADMIN, "/key/generate", "{\"user_id\":\"alice\",\"team_id\":\"team-x\","
        + "\"key_alias\":\"alice-team\"}").json().get("key").asText();
    events.add(event("a1", keyAlice, "alice", null, "llama", 0.5, "2026-03-01T10:00:00Z", 200,
        UsageEvent.Outcome.COMPLETED));
    events.add(event("a2", keyAliceTeam, "alice", "team-x", "llama", 0.25, "2026-03-02T23:59:59Z", 200,
        UsageEvent.Outcome.COMPLETED));
    events.add(event("a3", keyAlice, "alice", null, "qwen", 1.0, "2026-03-03T00:00:00Z", 502,
        UsageEvent.Outcome.UPSTREAM_ERROR));
    events.add(event("a4", keyAlice, "alice", null, "llama", 0.5, "2026-03-01T11:00:00Z", 200,
        UsageEvent.Outcome.COMPLETED));
    events.add(event("b1", keyBob, "bob", null, "llama", 3.0, "2026-03-02T12:00:00Z", 200,
        UsageEvent.Outcome.COMPLETED));
    events.add(event("b2", keyBob, "bob", null, "qwen", 0.0, "2026-03-02T12:30:00Z", 429,
        UsageEvent.Outcome.REJECTED));
    events.add(event("m1", null, Principal.MASTER_USER_ID, null, "llama", 0.125, "2026-03-04T08:00:00Z", 200,
        UsageEvent.Outcome.COMPLETED));
    write(events);
    // A batch written twice (a spill file replayed, a retry after a lost commit): nothing counts twice.
    write(events);
  }

  static void write(List<UsageEvent> batch) {
    try (SpendWriter w = SpendWriter.start(h.tdb.db.dsl(), SpendWriter.Settings.defaults(dir))) {
      batch.forEach(w::offer);
      assertThat(w.flush(Duration.ofSeconds(10))).isTrue();
    }
  }

  @AfterAll
  static void down() {
    h.close();
  }

  static UsageEvent event(String id, String key, String user, String team, String model, double spend, String start,
      int status, UsageEvent.Outcome outcome) {
    Instant t = Instant.parse(start);
    return new UsageEvent(id, key == null ? null : KeyHash.of(key).hex(), null, user, team, "/v1/chat/completions",
        model, "vllm-a", 10, 5, false, spend, t, t.plusMillis(250), status, outcome, false);
  }

  static JsonNode ok(Reply r) {
    assertThat(r.status()).as(r.json().toString()).isEqualTo(200);
    return r.json();
  }

  static String hash(String key) {
    return KeyHash.of(key).hex();
  }

  @Test
  void theRollupEqualsTheSpendLogRowsItSumsAndReplaysCountOnce() {
    DSLContext dsl = h.tdb.db.dsl();
    Record logs = dsl.fetchOne("SELECT count(*) AS n, sum(spend) AS s, sum(total_tokens) AS t,"
        + " count(*) FILTER (WHERE NOT (outcome = 'completed' AND status > 0 AND status < 400)) AS f"
        + " FROM sluice_spend_logs");
    Record daily = dsl.fetchOne("SELECT sum(requests) AS n, sum(spend) AS s, sum(total_tokens) AS t,"
        + " sum(failures) AS f FROM sluice_spend_daily");
    assertThat(logs.get("n", Long.class)).isEqualTo(7);
    assertThat(daily.get("n", Long.class)).as("requests").isEqualTo(7);
    assertThat(daily.get("s", Double.class)).as("spend").isEqualTo(logs.get("s", Double.class))
        .isEqualTo(5.375);
    assertThat(daily.get("t", Long.class)).as("tokens").isEqualTo(logs.get("t", Long.class)).isEqualTo(105);
    assertThat(daily.get("f", Long.class)).as("failures").isEqualTo(logs.get("f", Long.class)).isEqualTo(2);
    assertThat(dsl.fetchCount(DSL.table("sluice_spend_daily"))).as("a1 and a4 share a row (day, key, model)")
        .isEqualTo(6);
    assertThat(dsl.fetchValue("SELECT spend FROM sluice_keys WHERE token = ?", hash(keyAlice)))
        .as("key spend counted once").isEqualTo(2.0);
  }

  @Test
  void globalSpendReportByTeamIsLiteLLMsDailyShape() {
    JsonNode r = ok(h.get(ADMIN, "/global/spend/report?start_date=2026-03-01&end_date=2026-03-03"));
    assertThat(r.size()).as("days with spend, m1's day is outside the range").isEqualTo(3);
    JsonNode d1 = r.get(0);
    assertThat(d1.get("group_by_day").asText()).isEqualTo("2026-03-01T00:00:00+00:00");
    assertThat(d1.get("teams").size()).isEqualTo(1);
    JsonNode t = d1.get("teams").get(0);
    assertThat(t.get("team_name").asText()).isEqualTo("Unassigned Team");
    assertThat(t.get("total_spend").asDouble()).isEqualTo(1.0);
    JsonNode meta = t.get("metadata").get(0);
    assertThat(meta.get("model").asText()).isEqualTo("llama");
    assertThat(meta.get("api_key").asText()).isEqualTo(hash(keyAlice));
    assertThat(meta.get("spend").asDouble()).isEqualTo(1.0);
    assertThat(meta.get("total_tokens").asLong()).isEqualTo(30);
    JsonNode d2 = r.get(1);
    assertThat(d2.get("teams").findValuesAsText("team_name")).containsExactlyInAnyOrder("Team X",
        "Unassigned Team");
    assertThat(r.toString()).doesNotContain(keyAlice).doesNotContain(keyBob);
  }

  @Test
  void globalSpendReportByApiKeyAndByCustomer() {
    JsonNode r = ok(h.get(ADMIN, "/global/spend/report?start_date=2026-03-01&end_date=2026-03-04&group_by=api_key"));
    assertThat(r.findValuesAsText("api_key")).as("highest cost first")
        .startsWith(hash(keyBob), hash(keyAlice));
    JsonNode alice = r.get(1);
    assertThat(alice.get("total_cost").asDouble()).isEqualTo(2.0);
    assertThat(alice.get("total_input_tokens").asLong()).isEqualTo(30);
    assertThat(alice.get("total_output_tokens").asLong()).isEqualTo(15);
    assertThat(alice.get("model_details").findValuesAsText("model")).containsExactlyInAnyOrder("qwen", "llama");
    JsonNode one = ok(h.get(ADMIN, "/global/spend/report?start_date=2026-03-01&end_date=2026-03-04&api_key="
        + keyBob));
    assertThat(one.size()).isEqualTo(1);
    assertThat(one.get(0).get("api_key").asText()).isEqualTo(hash(keyBob));
    JsonNode cust = ok(h.get(ADMIN, "/global/spend/report?start_date=2026-03-01&end_date=2026-03-01"
        + "&group_by=customer"));
    assertThat(cust.get(0).get("customers").get(0).get("customer").isNull()).isTrue();
    assertThat(cust.get(0).get("customers").get(0).get("total_spend").asDouble()).isEqualTo(1.0);
  }

  @Test
  void topSpendersAndActivity() {
    String range = "start_date=2026-03-01&end_date=2026-03-04";
    JsonNode keys = ok(h.get(ADMIN, "/global/spend/keys?limit=2&" + range));
    assertThat(keys.size()).isEqualTo(2);
    assertThat(keys.get(0).get("api_key").asText()).isEqualTo(hash(keyBob));
    assertThat(keys.get(0).get("total_spend").asDouble()).isEqualTo(3.0);
    assertThat(keys.get(0).has("key_alias")).isTrue();
    assertThat(keys.get(0).get("key_name").asText()).startsWith("sk-...");
    JsonNode models = ok(h.get(ADMIN, "/global/spend/models?" + range));
    assertThat(models.findValuesAsText("model")).containsExactly("llama", "qwen");
    assertThat(models.get(0).get("total_spend").asDouble()).isEqualTo(4.375);
    JsonNode teams = ok(h.get(ADMIN, "/global/spend/teams?" + range));
    assertThat(teams.get("teams").toString()).contains("Team X", "Unassigned");
    assertThat(teams.get("daily_spend").get(1).get("Team X").asDouble()).isEqualTo(0.25);
    assertThat(teams.get("total_spend_per_team").get(0).get("team_id").asText()).isEqualTo("Unassigned");
    JsonNode act = ok(h.get(ADMIN, "/global/activity?" + range));
    assertThat(act.get("sum_api_requests").asLong()).isEqualTo(7);
    assertThat(act.get("daily_data").get(0).get("date").asText()).isEqualTo("2026-03-01");
    assertThat(act.get("daily_data").get(0).get("api_requests").asLong()).isEqualTo(2);
    JsonNode perModel = ok(h.get(ADMIN, "/global/activity/model?" + range));
    assertThat(perModel.get(0).get("model").asText()).isEqualTo("llama");
    assertThat(perModel.get(0).get("sum_api_requests").asLong()).isEqualTo(5);
  }

  @Test
  void dailyActivityPerKeyTeamAndModel() {
    JsonNode r = ok(h.get(ADMIN, "/user/daily/activity?start_date=2026-03-01&end_date=2026-03-04"));
    JsonNode meta = r.get("metadata");
    assertThat(meta.get("total_api_requests").asLong()).isEqualTo(7);
    assertThat(meta.get("total_failed_requests").asLong()).isEqualTo(2);
    assertThat(meta.get("total_successful_requests").asLong()).isEqualTo(5);
    assertThat(meta.get("total_spend").asDouble()).isEqualTo(5.375);
    assertThat(meta.get("total_prompt_tokens").asLong()).isEqualTo(70);
    assertThat(meta.get("total_completion_tokens").asLong()).isEqualTo(35);
    JsonNode day2 = r.get("results").get(1);
    assertThat(day2.get("date").asText()).isEqualTo("2026-03-02");
    assertThat(day2.get("metrics").get("api_requests").asLong()).isEqualTo(3);
    assertThat(day2.get("metrics").get("failed_requests").asLong()).isEqualTo(1);
    JsonNode b = day2.get("breakdown");
    assertThat(b.get("models").get("qwen").get("metrics").get("failed_requests").asLong()).isEqualTo(1);
    JsonNode teamKey = b.get("api_keys").get(hash(keyAliceTeam));
    assertThat(teamKey.get("metrics").get("spend").asDouble()).isEqualTo(0.25);
    assertThat(teamKey.get("metadata").get("key_alias").asText()).isEqualTo("alice-team");
    assertThat(b.get("teams").get("team-x").get("metadata").get("team_alias").asText()).isEqualTo("Team X");
    assertThat(b.get("entities").get("bob").get("metrics").get("api_requests").asLong()).isEqualTo(2);
    JsonNode team = ok(h.get(ADMIN, "/team/daily/activity?start_date=2026-03-01&end_date=2026-03-04"
        + "&team_ids=team-x"));
    assertThat(team.get("metadata").get("total_api_requests").asLong()).isEqualTo(1);
    assertThat(team.get("results").get(0).get("breakdown").get("entities").has("team-x")).isTrue();
    JsonNode model = ok(h.get(ADMIN, "/user/daily/activity?start_date=2026-03-01&end_date=2026-03-04&model=qwen"));
    assertThat(model.get("metadata").get("total_api_requests").asLong()).isEqualTo(2);
    JsonNode key = ok(h.get(ADMIN, "/user/daily/activity?start_date=2026-03-01&end_date=2026-03-04&api_key="
        + keyAlice));
    assertThat(key.get("metadata").get("total_api_requests").asLong()).isEqualTo(3);
  }

  @Test
  void anInternalUserSeesOnlyItsOwnKeysSpendAndViewersSeeAll() {
    Principal alice = h.principal(keyAlice);
    String range = "start_date=2026-03-01&end_date=2026-03-04";
    JsonNode byKey = ok(h.get(alice, "/global/spend/report?group_by=api_key&" + range));
    assertThat(byKey.findValuesAsText("api_key")).containsExactlyInAnyOrder(hash(keyAlice), hash(keyAliceTeam));
    assertThat(ok(h.get(alice, "/global/spend/report?" + range + "&api_key=" + keyBob)).size())
        .as("another's key: nothing").isZero();
    assertThat(ok(h.get(alice, "/user/daily/activity?" + range)).get("metadata").get("total_api_requests")
        .asLong()).isEqualTo(4);
    assertThat(ok(h.get(alice, "/global/spend/keys?" + range)).findValuesAsText("api_key"))
        .doesNotContain(hash(keyBob));
    assertThat(ok(h.get(alice, "/spend/keys")).findValuesAsText("token"))
        .containsExactlyInAnyOrder(hash(keyAlice), hash(keyAliceTeam));
    assertThat(ok(h.get(alice, "/spend/users")).findValuesAsText("user_id")).containsExactly("alice");
    assertThat(h.get(alice, "/spend/users?user_id=bob").status()).isEqualTo(403);
    Principal viewer = h.principal(keyViewer);
    assertThat(ok(h.get(viewer, "/global/activity?" + range)).get("sum_api_requests").asLong()).isEqualTo(7);
    assertThat(ok(h.get(viewer, "/spend/users")).findValuesAsText("user_id")).contains("alice", "bob", "vic");
    JsonNode users = ok(h.get(ADMIN, "/spend/users"));
    assertThat(users.get(0).get("user_id").asText()).as("highest spend first").isEqualTo("bob");
  }

  @Test
  void badInputIs400InLiteLLMsShape() {
    for (String[] c : new String[][] {
        {"/global/spend/report?end_date=2026-03-01", "start_date"},
        {"/global/spend/report?start_date=2026-03-01", "end_date"},
        {"/global/spend/report?start_date=2026-03-01&end_date=2026-03-xx", "end_date"},
        {"/global/spend/report?start_date=2026-03-05&end_date=2026-03-01", "start_date"},
        {"/global/spend/report?start_date=2020-01-01&end_date=2026-03-01", "end_date"},
        {"/global/spend/report?start_date=2026-03-01&end_date=2026-03-02&group_by=model", "group_by"},
        {"/global/spend/keys?limit=0", "limit"},
        {"/user/daily/activity?start_date=2026-03-01", "end_date"},
        {"/global/activity?start_date=x&end_date=2026-03-01", "start_date"}}) {
      Reply r = h.get(ADMIN, c[0]);
      assertThat(r.status()).as(c[0]).isEqualTo(400);
      JsonNode err = r.json().get("error");
      assertThat(err.get("param").asText()).as(c[0]).isEqualTo(c[1]);
      assertThat(err.get("type").asText()).isEqualTo("bad_request_error");
      assertThat(err.get("code").asText()).isEqualTo("400");
      assertThat(err.get("message").asText()).isNotBlank();
    }
    assertThat(h.call(ADMIN, "POST", "/global/spend/report", "{}").status()).isEqualTo(405);
  }
}
