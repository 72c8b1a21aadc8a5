package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.auth.KeyHash;
import io.sluice.auth.Principal;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Issue 14 §1: /organization/*, LiteLLM's shapes and rules, and what an organization bounds, over PostgreSQL. */
class OrganizationsTest {
  static AdminHarness h;
  static final Principal ADMIN = Principal.MASTER;
  static Principal viewer;
  static Principal ann;
  static Principal bob;

  @BeforeAll
  static void up() {
    h = new AdminHarness();
    viewer = h.principal(h.post(ADMIN, "/user/new", "{\"user_id\":\"vic\",\"user_role\":\"proxy_admin_viewer\"}")
        .json().get("key").asText());
    ann = h.principal(h.post(ADMIN, "/user/new", "{\"user_id\":\"ann\"}").json().get("key").asText());
    bob = h.principal(h.post(ADMIN, "/user/new", "{\"user_id\":\"bob\"}").json().get("key").asText());
  }

  @AfterAll
  static void down() {
    h.close();
  }

  @Test
  void organizationLifecycleInLiteLlmShapes() {
    Reply n = h.post(ADMIN, "/organization/new", "{\"organization_id\":\"acme\",\"organization_alias\":\"Acme\","
        + "\"models\":[\"llama\"],\"max_budget\":100,\"tpm_limit\":1000,\"rpm_limit\":10,\"budget_duration\":\"30d\","
        + "\"metadata\":{\"dept\":\"r&d\"}}");
    assertThat(n.status()).as(n.json().toString()).isEqualTo(200);
    JsonNode org = n.json();
    assertThat(org.get("organization_id").asText()).isEqualTo("acme");
    assertThat(org.get("organization_alias").asText()).isEqualTo("Acme");
    assertThat(org.get("models").toString()).isEqualTo("[\"llama\"]");
    assertThat(org.get("spend").asDouble()).isZero();
    assertThat(org.get("created_by").asText()).isEqualTo("default_user_id");
    assertThat(org.get("metadata").get("dept").asText()).isEqualTo("r&d");
    String budgetId = org.get("budget_id").asText();
    assertThat(budgetId).as("LiteLLM: every organization gets a budget row").hasSize(36);
    JsonNode budget = h.post(ADMIN, "/budget/info", "{\"budgets\":[\"" + budgetId + "\"]}").json().get(0);
    assertThat(budget.get("max_budget").asDouble()).isEqualTo(100.0);
    assertThat(budget.get("tpm_limit").asLong()).isEqualTo(1000);
    assertThat(budget.get("budget_reset_at").isNull()).as("30d starts a period").isFalse();

    Reply info = h.get(ADMIN, "/organization/info?organization_id=acme");
    assertThat(info.status()).isEqualTo(200);
    assertThat(info.json().get("litellm_budget_table").get("rpm_limit").asLong()).isEqualTo(10);
    assertThat(info.json().get("members").isArray()).isTrue();
    assertThat(info.json().get("teams").isArray()).isTrue();
    Reply many = h.post(ADMIN, "/organization/info", "{\"organizations\":[\"acme\"]}");
    assertThat(many.json().isArray()).as("the deprecated POST answers a list").isTrue();
    assertThat(many.json().get(0).get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(100.0);
    assertThat(h.post(ADMIN, "/organization/info", "{\"organizations\":[]}").status()).isEqualTo(400);
    assertThat(h.get(ADMIN, "/organization/info?organization_id=nope").status()).isEqualTo(404);
    assertThat(h.get(ADMIN, "/organization/info").json().get("error").get("param").asText())
        .isEqualTo("organization_id");

    Reply up = h.call(ADMIN, "PATCH", "/organization/update", "{\"organization_id\":\"acme\","
        + "\"organization_alias\":\"Acme Corp\",\"max_budget\":200}");
    assertThat(up.status()).as(up.json().toString()).isEqualTo(200);
    assertThat(up.json().get("organization_alias").asText()).isEqualTo("Acme Corp");
    assertThat(up.json().get("models").toString()).as("fields not sent stay").isEqualTo("[\"llama\"]");
    assertThat(up.json().get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(200.0);
    assertThat(up.json().get("litellm_budget_table").get("tpm_limit").asLong()).isEqualTo(1000);
    assertThat(up.json().get("budget_id").asText()).as("its own budget changes in place").isEqualTo(budgetId);
    assertThat(h.post(ADMIN, "/organization/update", "{\"organization_id\":\"acme\",\"metadata\":{}}").status())
        .as("POST is answered too").isEqualTo(200);
    assertThat(h.call(ADMIN, "PATCH", "/organization/update", "{\"organization_id\":\"nope\"}").status())
        .isEqualTo(404);
    assertThat(h.get(ADMIN, "/organization/update").status()).isEqualTo(405);

    assertThat(h.get(ADMIN, "/organization/list").json().toString()).contains("\"acme\"");
    assertThat(h.get(viewer, "/organization/list").json().toString()).contains("\"acme\"");
    assertThat(h.get(ann, "/organization/list").json().size()).as("not a member: sees none").isZero();
  }

  @Test
  void badInputIsRefusedAndNothingIsWritten() {
    Reply noAlias = h.post(ADMIN, "/organization/new", "{\"organization_id\":\"bad1\"}");
    assertThat(noAlias.status()).isEqualTo(400);
    assertThat(noAlias.json().get("error").get("param").asText()).isEqualTo("organization_alias");
    Reply neg = h.post(ADMIN, "/organization/new", "{\"organization_id\":\"bad2\",\"organization_alias\":\"x\","
        + "\"max_budget\":-1}");
    assertThat(neg.status()).isEqualTo(400);
    assertThat(neg.json().get("error").get("param").asText()).isEqualTo("max_budget");
    Reply both = h.post(ADMIN, "/organization/new", "{\"organization_id\":\"bad3\",\"organization_alias\":\"x\","
        + "\"budget_id\":\"b\",\"max_budget\":1}");
    assertThat(both.status()).isEqualTo(400);
    Reply noBudget = h.post(ADMIN, "/organization/new", "{\"organization_id\":\"bad4\",\"organization_alias\":\"x\","
        + "\"budget_id\":\"no-such-budget\"}");
    assertThat(noBudget.status()).isEqualTo(404);
    assertThat(h.post(ADMIN, "/organization/info", "{\"organizations\":[\"bad1\",\"bad2\",\"bad3\",\"bad4\"]}")
        .json().size()).as("nothing half-written").isZero();
    h.post(ADMIN, "/organization/new", "{\"organization_id\":\"dup\",\"organization_alias\":\"x\"}");
    Reply dup = h.post(ADMIN, "/organization/new", "{\"organization_id\":\"dup\",\"organization_alias\":\"x\"}");
    assertThat(dup.status()).isEqualTo(400);
    assertThat(dup.message()).contains("already exists");
    assertThat(h.call(ADMIN, "DELETE", "/organization/delete", "{}").status()).isEqualTo(400);
    Reply missing = h.call(ADMIN, "DELETE", "/organization/delete", "{\"organization_ids\":[\"dup\",\"nope\"]}");
    assertThat(missing.status()).isEqualTo(404);
    assertThat(h.get(ADMIN, "/organization/info?organization_id=dup").status())
        .as("one missing id: nothing deleted").isEqualTo(200);
  }

  @Test
  void onlyProxyAdminsCreateAndDeleteOrganizations() {
    Reply denied = h.post(ann, "/organization/new", "{\"organization_alias\":\"mine\"}");
    assertThat(denied.status()).isEqualTo(403);
    assertThat(denied.message()).contains("proxy_admin");
    h.post(ADMIN, "/organization/new", "{\"organization_id\":\"perm\",\"organization_alias\":\"P\"}");
    assertThat(h.call(viewer, "DELETE", "/organization/delete", "{\"organization_ids\":[\"perm\"]}").status())
        .isEqualTo(403);
    assertThat(h.get(bob, "/organization/info?organization_id=perm").status())
        .as("a non-member may not read an organization").isEqualTo(403);
    assertThat(h.call(bob, "PATCH", "/organization/update", "{\"organization_id\":\"perm\","
        + "\"organization_alias\":\"mine\"}").status()).isEqualTo(403);
  }

  @Test
  void membersAreAddedUpdatedAndDeletedByAdminsAndOrgAdmins() {
    h.post(ADMIN, "/organization/new", "{\"organization_id\":\"mem\",\"organization_alias\":\"M\"}");
    Reply add = h.post(ADMIN, "/organization/member_add", "{\"organization_id\":\"mem\",\"member\":"
        + "{\"role\":\"org_admin\",\"user_id\":\"ann\"},\"max_budget_in_organization\":5}");
    assertThat(add.status()).as(add.json().toString()).isEqualTo(200);
    assertThat(add.json().get("organization_id").asText()).isEqualTo("mem");
    assertThat(add.json().get("updated_users").get(0).get("user_id").asText()).isEqualTo("ann");
    JsonNode ms = add.json().get("updated_organization_memberships").get(0);
    assertThat(ms.get("user_role").asText()).isEqualTo("org_admin");
    assertThat(ms.get("budget_id").isNull()).as("max_budget_in_organization: a budget of its own").isFalse();

    // ann, org_admin of mem, adds a new user by email (created as an internal user, as LiteLLM) and renames the org.
    Reply byEmail = h.post(ann, "/organization/member_add", "{\"organization_id\":\"mem\",\"member\":"
        + "[{\"role\":\"internal_user\",\"user_email\":\"new@example.com\"}]}");
    assertThat(byEmail.status()).as(byEmail.json().toString()).isEqualTo(200);
    String newId = byEmail.json().get("updated_users").get(0).get("user_id").asText();
    assertThat(byEmail.json().get("updated_users").get(0).get("user_role").asText()).isEqualTo("internal_user");
    assertThat(h.call(ann, "PATCH", "/organization/update", "{\"organization_id\":\"mem\","
        + "\"organization_alias\":\"M2\"}").status()).isEqualTo(200);
    assertThat(h.call(ann, "PATCH", "/organization/update", "{\"organization_id\":\"mem\",\"max_budget\":1e9}")
        .status()).as("an org_admin may not raise its own budget").isEqualTo(403);
    assertThat(h.post(bob, "/organization/member_add", "{\"organization_id\":\"mem\",\"member\":"
        + "{\"role\":\"org_admin\",\"user_id\":\"bob\"}}").status()).as("a non-member may not add itself")
        .isEqualTo(403);

    Reply badRole = h.post(ADMIN, "/organization/member_add", "{\"organization_id\":\"mem\",\"member\":"
        + "{\"role\":\"owner\",\"user_id\":\"bob\"}}");
    assertThat(badRole.status()).isEqualTo(400);
    assertThat(badRole.message()).contains("org_admin, internal_user, internal_user_viewer");
    Reply again = h.post(ADMIN, "/organization/member_add", "{\"organization_id\":\"mem\",\"member\":["
        + "{\"role\":\"internal_user\",\"user_id\":\"bob\"},{\"role\":\"internal_user\",\"user_id\":\"ann\"}]}");
    assertThat(again.status()).isEqualTo(400);
    assertThat(h.get(ADMIN, "/organization/info?organization_id=mem").json().get("members").toString())
        .as("the batch failed whole: bob was not added").doesNotContain("\"bob\"");
    assertThat(h.post(ADMIN, "/organization/member_add", "{\"organization_id\":\"nope\",\"member\":"
        + "{\"role\":\"internal_user\",\"user_id\":\"bob\"}}").status()).isEqualTo(404);

    Reply mu = h.call(ADMIN, "PATCH", "/organization/member_update", "{\"organization_id\":\"mem\","
        + "\"user_id\":\"" + newId + "\",\"role\":\"internal_user_viewer\",\"max_budget_in_organization\":7}");
    assertThat(mu.status()).as(mu.json().toString()).isEqualTo(200);
    assertThat(mu.json().get("user_role").asText()).isEqualTo("internal_user_viewer");
    assertThat(mu.json().get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(7.0);
    assertThat(h.call(ADMIN, "PATCH", "/organization/member_update", "{\"organization_id\":\"mem\","
        + "\"user_id\":\"bob\",\"role\":\"org_admin\"}").status()).as("not a member").isEqualTo(404);
    assertThat(h.call(ADMIN, "PATCH", "/organization/member_update", "{\"organization_id\":\"nope\","
        + "\"user_id\":\"bob\"}").status()).as("LiteLLM: 400 for an unknown organization here").isEqualTo(400);

    assertThat(h.get(ann, "/organization/info?organization_id=mem").status()).as("members read it").isEqualTo(200);
    assertThat(h.get(ann, "/organization/list").json().toString()).contains("\"mem\"");

    Reply md = h.call(ann, "DELETE", "/organization/member_delete", "{\"organization_id\":\"mem\","
        + "\"user_email\":\"new@example.com\"}");
    assertThat(md.status()).as(md.json().toString()).isEqualTo(200);
    assertThat(md.json().get("user_id").asText()).isEqualTo(newId);
    assertThat(h.call(ann, "DELETE", "/organization/member_delete", "{\"organization_id\":\"mem\","
        + "\"user_id\":\"" + newId + "\"}").status()).isEqualTo(404);
  }

  @Test
  void organizationBoundsItsTeamsAndKeysAndDeletesThemWithIt() {
    h.post(ADMIN, "/organization/new", "{\"organization_id\":\"lab\",\"organization_alias\":\"Lab\","
        + "\"models\":[\"llama\",\"qwen\"],\"max_budget\":50,\"tpm_limit\":100,\"rpm_limit\":5}");
    Reply outside = h.post(ADMIN, "/team/new", "{\"team_id\":\"t-out\",\"organization_id\":\"lab\","
        + "\"models\":[\"gpt-4\"]}");
    assertThat(outside.status()).isEqualTo(400);
    assertThat(outside.message()).contains("not in organization's allowed models");
    Reply all = h.post(ADMIN, "/team/new", "{\"team_id\":\"t-all\",\"organization_id\":\"lab\"}");
    assertThat(all.status()).as("a team may not allow every model of a model-bounded org").isEqualTo(400);
    Reply rich = h.post(ADMIN, "/team/new", "{\"team_id\":\"t-rich\",\"organization_id\":\"lab\","
        + "\"models\":[\"llama\"],\"max_budget\":51}");
    assertThat(rich.status()).isEqualTo(400);
    assertThat(rich.json().get("error").get("param").asText()).isEqualTo("max_budget");
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"t-fast\",\"organization_id\":\"lab\","
        + "\"models\":[\"llama\"],\"rpm_limit\":6}").status()).isEqualTo(400);
    Reply allOrg = h.post(ADMIN, "/team/new", "{\"team_id\":\"t-ao\",\"organization_id\":\"lab\","
        + "\"models\":[\"all-org-models\"]}");
    assertThat(allOrg.status()).as("not expanded by the data plane: refused, not stored dead").isEqualTo(400);
    assertThat(allOrg.message()).contains("all-org-models");
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"t-none\",\"organization_id\":\"nope\"}").status())
        .isEqualTo(400);
    assertThat(h.get(ADMIN, "/team/info?team_id=t-out").status()).as("nothing written").isEqualTo(404);

    Reply team = h.post(ADMIN, "/team/new", "{\"team_id\":\"t-lab\",\"organization_id\":\"lab\","
        + "\"models\":[\"llama\"],\"max_budget\":10}");
    assertThat(team.status()).as(team.json().toString()).isEqualTo(200);
    assertThat(team.json().get("organization_id").asText()).isEqualTo("lab");
    assertThat(h.post(ADMIN, "/team/update", "{\"team_id\":\"t-lab\",\"models\":[\"mistral\"]}").status())
        .as("an update is bounded too").isEqualTo(400);

    Reply teamKey = h.post(ADMIN, "/key/generate", "{\"team_id\":\"t-lab\"}");
    assertThat(teamKey.json().get("organization_id").asText()).as("a team key is in the team's organization")
        .isEqualTo("lab");
    assertThat(h.post(ADMIN, "/key/generate", "{\"team_id\":\"t-lab\",\"organization_id\":\"dup-other\"}")
        .status()).isEqualTo(400);
    Reply orgKey = h.post(ADMIN, "/key/generate", "{\"organization_id\":\"lab\",\"models\":[\"qwen\"]}");
    assertThat(orgKey.status()).as(orgKey.json().toString()).isEqualTo(200);
    assertThat(h.post(ADMIN, "/key/generate", "{\"organization_id\":\"lab\",\"models\":[\"gpt-4\"]}").status())
        .isEqualTo(400);
    assertThat(h.post(bob, "/key/generate", "{\"organization_id\":\"lab\"}").status())
        .as("only members put keys into an organization").isEqualTo(403);
    assertThat(h.get(ADMIN, "/key/list?organization_id=lab").json().get("keys").size()).isEqualTo(2);

    h.invalidated.clear();
    Reply del = h.call(ADMIN, "DELETE", "/organization/delete", "{\"organization_ids\":[\"lab\"]}");
    assertThat(del.status()).as(del.json().toString()).isEqualTo(200);
    assertThat(del.json().isArray()).isTrue();
    assertThat(del.json().get(0).get("organization_id").asText()).isEqualTo("lab");
    assertThat(del.json().get(0).get("teams").get(0).get("team_id").asText()).isEqualTo("t-lab");
    assertThat(h.get(ADMIN, "/team/info?team_id=t-lab").status()).as("its teams go with it").isEqualTo(404);
    assertThat(h.invalidated).as("its keys are deleted and dropped from the caches").contains(
        new KeyHash(teamKey.json().get("token").asText()), new KeyHash(orgKey.json().get("token").asText()));
    assertThat(h.get(ADMIN, "/key/info?key=" + orgKey.json().get("token").asText()).status()).isEqualTo(404);
  }
}
