package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.auth.Principal;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Issue 14 §4: /team/member_update (role, budget within the team) and /team/model/add, /team/model/delete. */
class TeamMemberUpdateTest {
  static AdminHarness h;
  static final Principal ADMIN = Principal.MASTER;
  static Principal lead;
  static Principal plain;

  @BeforeAll
  static void up() {
    h = new AdminHarness();
    lead = h.principal(h.post(ADMIN, "/user/new", "{\"user_id\":\"lead\"}").json().get("key").asText());
    plain = h.principal(h.post(ADMIN, "/user/new", "{\"user_id\":\"plain\",\"user_email\":\"plain@x.io\"}").json()
        .get("key").asText());
    Reply t = h.post(ADMIN, "/team/new", "{\"team_id\":\"t\",\"models\":[\"llama\"],\"members_with_roles\":["
        + "{\"role\":\"admin\",\"user_id\":\"lead\"},{\"role\":\"user\",\"user_id\":\"plain\"}]}");
    assertThat(t.status()).as(t.json().toString()).isEqualTo(200);
  }

  @AfterAll
  static void down() {
    h.close();
  }

  static JsonNode membership(String teamId, String userId) {
    for (JsonNode m : h.get(ADMIN, "/team/info?team_id=" + teamId).json().get("team_memberships")) {
      if (m.get("user_id").asText().equals(userId)) {
        return m;
      }
    }
    throw new AssertionError(userId + " is not a member of " + teamId);
  }

  @Test
  void memberUpdateSetsRoleAndBudgetAsAMergePatch() {
    Reply r = h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"plain\","
        + "\"max_budget_in_team\":5.5,\"tpm_limit\":1000}");
    assertThat(r.status()).as(r.json().toString()).isEqualTo(200);
    assertThat(r.json().get("team_id").asText()).isEqualTo("t");
    assertThat(r.json().get("user_id").asText()).isEqualTo("plain");
    assertThat(r.json().get("user_email").asText()).isEqualTo("plain@x.io");
    assertThat(r.json().get("max_budget_in_team").asDouble()).isEqualTo(5.5);
    assertThat(r.json().get("tpm_limit").asLong()).isEqualTo(1000);
    assertThat(r.json().get("rpm_limit").isNull()).isTrue();
    JsonNode m = membership("t", "plain");
    assertThat(m.get("budget_id").asText()).isEqualTo(r.json().get("budget_id").asText());
    assertThat(m.get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(5.5);
    assertThat(m.get("spend").asDouble()).isEqualTo(0.0);
    // A role change alone keeps the budget (LiteLLM's older handler dropped it; its current one merges).
    Reply role = h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"plain\",\"role\":\"admin\"}");
    assertThat(role.json().get("role").asText()).isEqualTo("admin");
    assertThat(role.json().get("max_budget_in_team").asDouble()).isEqualTo(5.5);
    assertThat(h.get(ADMIN, "/team/info?team_id=t").json().get("team_info").get("admins").toString())
        .contains("plain");
    // By email; an explicit null clears one field, the rest stays.
    Reply byEmail = h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_email\":\"plain@x.io\","
        + "\"role\":\"user\",\"max_budget_in_team\":null}");
    assertThat(byEmail.status()).as(byEmail.json().toString()).isEqualTo(200);
    assertThat(byEmail.json().get("max_budget_in_team").isNull()).isTrue();
    assertThat(byEmail.json().get("tpm_limit").asLong()).isEqualTo(1000);
    // Clearing the last limit unlinks the budget.
    Reply cleared = h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"plain\",\"tpm_limit\":null}");
    assertThat(cleared.json().get("budget_id").isNull()).isTrue();
    assertThat(membership("t", "plain").get("litellm_budget_table").isNull()).isTrue();
  }

  @Test
  void memberUpdateRefusesBadInputWithoutChangingAnything() {
    Reply noMember = h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"stranger\","
        + "\"max_budget_in_team\":1}");
    assertThat(noMember.status()).isEqualTo(400);
    assertThat(noMember.message()).contains("not a member");
    assertThat(h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\"}").message())
        .contains("user_id or user_email");
    assertThat(h.post(ADMIN, "/team/member_update", "{\"team_id\":\"nope\",\"user_id\":\"plain\"}").status())
        .isEqualTo(404);
    Reply badRole = h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"plain\",\"role\":\"boss\"}");
    assertThat(badRole.status()).isEqualTo(400);
    assertThat(badRole.json().get("error").get("param").asText()).isEqualTo("role");
    Reply negative = h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"lead\","
        + "\"role\":\"user\",\"max_budget_in_team\":-1}");
    assertThat(negative.status()).isEqualTo(400);
    assertThat(negative.json().get("error").get("param").asText()).isEqualTo("max_budget_in_team");
    assertThat(membership("t", "lead").get("role").asText()).as("nothing half-written").isEqualTo("admin");
    assertThat(h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t\",\"user_email\":\"ghost@x.io\"}").status())
        .isEqualTo(400);
  }

  @Test
  void onlyProxyAdminsAndTeamAdminsUpdateMembers() {
    Reply byPlain = h.post(plain, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"plain\","
        + "\"max_budget_in_team\":1000}");
    assertThat(byPlain.status()).isEqualTo(403);
    assertThat(byPlain.message()).contains("/team/member_update");
    Reply byLead = h.post(lead, "/team/member_update", "{\"team_id\":\"t\",\"user_id\":\"lead\",\"rpm_limit\":7}");
    assertThat(byLead.status()).as(byLead.json().toString()).isEqualTo(200);
  }

  @Test
  void memberAddTakesMaxBudgetInTeam() {
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"t-add\"}").status()).isEqualTo(200);
    Reply add = h.post(ADMIN, "/team/member_add", "{\"team_id\":\"t-add\",\"member\":[{\"role\":\"user\","
        + "\"user_id\":\"a1\"},{\"role\":\"user\",\"user_id\":\"a2\"}],\"max_budget_in_team\":3}");
    assertThat(add.status()).as(add.json().toString()).isEqualTo(200);
    JsonNode a1 = membership("t-add", "a1");
    JsonNode a2 = membership("t-add", "a2");
    assertThat(a1.get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(3.0);
    assertThat(a1.get("budget_id").asText()).as("one budget per member").isNotEqualTo(a2.get("budget_id").asText());
    // One member already there: the whole call changes nothing (no new member, no budget row left behind).
    int budgets = h.get(ADMIN, "/budget/list").json().size();
    Reply again = h.post(ADMIN, "/team/member_add", "{\"team_id\":\"t-add\",\"member\":[{\"role\":\"user\","
        + "\"user_id\":\"a3\"},{\"role\":\"user\",\"user_id\":\"a1\"}],\"max_budget_in_team\":3}");
    assertThat(again.status()).isEqualTo(400);
    assertThat(h.get(ADMIN, "/team/info?team_id=t-add").json().get("team_memberships").size()).isEqualTo(2);
    assertThat(h.get(ADMIN, "/budget/list").json().size()).isEqualTo(budgets);
    // Changing one member's budget leaves the other's.
    h.post(ADMIN, "/team/member_update", "{\"team_id\":\"t-add\",\"user_id\":\"a1\",\"max_budget_in_team\":9}");
    assertThat(membership("t-add", "a2").get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(3.0);
  }

  /** LiteLLM's TeamMemberDeleteRequest takes user_id or user_email; a non-member stays a 400. */
  @Test
  void memberDeleteByEmail() {
    assertThat(h.post(ADMIN, "/user/new", "{\"user_id\":\"leaver\",\"user_email\":\"leaver@x.io\","
        + "\"auto_create_key\":false}").status()).isEqualTo(200);
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"t-del\",\"members_with_roles\":[{\"role\":\"user\","
        + "\"user_id\":\"leaver\"}]}").status()).isEqualTo(200);
    assertThat(h.post(ADMIN, "/team/member_delete", "{\"team_id\":\"t-del\",\"user_email\":\"nobody@x.io\"}")
        .status()).isEqualTo(400);
    assertThat(h.post(ADMIN, "/team/member_delete", "{\"team_id\":\"t-del\"}").message())
        .contains("user_id or user_email");
    Reply del = h.post(ADMIN, "/team/member_delete", "{\"team_id\":\"t-del\",\"user_email\":\"leaver@x.io\"}");
    assertThat(del.status()).as(del.json().toString()).isEqualTo(200);
    assertThat(del.json().get("members").size()).isZero();
    assertThat(h.post(ADMIN, "/team/member_delete", "{\"team_id\":\"t-del\",\"user_id\":\"leaver\"}").status())
        .as("no longer a member").isEqualTo(400);
  }

  @Test
  void teamModelAddAndDelete() {
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"tm\",\"models\":[\"llama\"],\"members_with_roles\":["
        + "{\"role\":\"admin\",\"user_id\":\"lead\"},{\"role\":\"user\",\"user_id\":\"plain\"}]}").status())
        .isEqualTo(200);
    String key = h.post(ADMIN, "/key/generate", "{\"team_id\":\"tm\"}").json().get("key").asText();
    h.invalidated.clear();
    Reply add = h.post(lead, "/team/model/add", "{\"team_id\":\"tm\",\"models\":[\"qwen\",\"llama\"]}");
    assertThat(add.status()).as(add.json().toString()).isEqualTo(200);
    assertThat(add.json().get("models").toString()).isEqualTo("[\"llama\",\"qwen\"]");
    assertThat(h.principal(key).key().teamModels()).containsExactlyInAnyOrder("llama", "qwen");
    assertThat(h.invalidated).as("the team's keys leave the caches").isNotEmpty();
    Reply del = h.post(ADMIN, "/team/model/delete", "{\"team_id\":\"tm\",\"models\":[\"llama\",\"absent\"]}");
    assertThat(del.json().get("models").toString()).isEqualTo("[\"qwen\"]");
    Reply denied = h.post(plain, "/team/model/add", "{\"team_id\":\"tm\",\"models\":[\"gpt\"]}");
    assertThat(denied.status()).isEqualTo(403);
    assertThat(denied.message()).contains("can modify team models");
    assertThat(h.post(plain, "/team/model/delete", "{\"team_id\":\"tm\",\"models\":[\"qwen\"]}").status())
        .isEqualTo(403);
    assertThat(h.post(lead, "/team/model/add", "{\"team_id\":\"t-none\",\"models\":[\"x\"]}").status())
        .isEqualTo(404);
    Reply empty = h.post(ADMIN, "/team/model/add", "{\"team_id\":\"tm\",\"models\":[]}");
    assertThat(empty.status()).isEqualTo(400);
    assertThat(empty.json().get("error").get("param").asText()).isEqualTo("models");
    assertThat(h.post(ADMIN, "/team/model/add", "{\"team_id\":\"tm\",\"models\":\"qwen\"}").status()).isEqualTo(400);
    // An empty list means every model: adding to it keeps that (LiteLLM's all-proxy-models).
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"t-all\"}").status()).isEqualTo(200);
    Reply all = h.post(ADMIN, "/team/model/add", "{\"team_id\":\"t-all\",\"models\":[\"qwen\"]}");
    assertThat(all.json().get("models").toString()).isEqualTo("[\"all-proxy-models\",\"qwen\"]");
  }
}
