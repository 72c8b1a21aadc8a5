package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.auth.Principal;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Issue 14 §4: /budget/* and /end_user/* (/customer/*), LiteLLM's shapes, over PostgreSQL. */
class BudgetsEndUsersTest {
  static AdminHarness h;
  static final Principal ADMIN = Principal.MASTER;
  static Principal viewer;
  static Principal user;

  @BeforeAll
  static void up() {
    h = new AdminHarness();
    viewer = h.principal(h.post(ADMIN, "/user/new", "{\"user_id\":\"vic\",\"user_role\":\"proxy_admin_viewer\"}")
        .json().get("key").asText());
    user = h.principal(h.post(ADMIN, "/user/new", "{\"user_id\":\"ivy\"}").json().get("key").asText());
  }

  @AfterAll
  static void down() {
    h.close();
  }

  @Test
  void budgetLifecycle() {
    Reply n = h.post(ADMIN, "/budget/new", "{\"budget_id\":\"free_tier\",\"max_budget\":1.5,\"soft_budget\":1,"
        + "\"tpm_limit\":1000,\"rpm_limit\":10,\"max_parallel_requests\":2,\"budget_duration\":\"30d\","
        + "\"model_max_budget\":{\"llama\":{\"max_budget\":1,\"budget_duration\":\"1d\"}}}");
    assertThat(n.status()).as(n.json().toString()).isEqualTo(200);
    assertThat(n.json().get("budget_id").asText()).isEqualTo("free_tier");
    assertThat(n.json().get("max_budget").asDouble()).isEqualTo(1.5);
    assertThat(n.json().get("budget_reset_at").asText()).as("first period starts now").isNotEmpty();
    assertThat(n.json().get("model_max_budget").get("llama").get("max_budget").asInt()).isEqualTo(1);
    assertThat(n.json().get("created_by").asText()).isEqualTo("default_user_id");
    Reply gen = h.post(ADMIN, "/budget/new", "{\"max_budget\":9}");
    assertThat(gen.json().get("budget_id").asText()).as("generated id").hasSize(36);
    Reply dup = h.post(ADMIN, "/budget/new", "{\"budget_id\":\"free_tier\"}");
    assertThat(dup.status()).isEqualTo(400);
    assertThat(dup.message()).contains("already exists");
    Reply neg = h.post(ADMIN, "/budget/new", "{\"budget_id\":\"neg\",\"max_budget\":-1}");
    assertThat(neg.status()).isEqualTo(400);
    assertThat(neg.json().get("error").get("param").asText()).isEqualTo("max_budget");
    assertThat(h.post(ADMIN, "/budget/new", "{\"budget_id\":\"bd\",\"budget_duration\":\"soon\"}").json()
        .get("error").get("param").asText()).isEqualTo("budget_duration");
    Reply mmb = h.post(ADMIN, "/budget/new", "{\"budget_id\":\"mmb\",\"model_max_budget\":{\"llama\":5}}");
    assertThat(mmb.status()).isEqualTo(400);
    assertThat(mmb.message()).contains("model_max_budget.llama");
    assertThat(h.post(ADMIN, "/budget/info", "{\"budgets\":[\"neg\",\"bd\",\"mmb\"]}").json().size())
        .as("nothing half-written").isZero();

    Reply up = h.post(ADMIN, "/budget/update", "{\"budget_id\":\"free_tier\",\"max_budget\":2}");
    assertThat(up.json().get("max_budget").asDouble()).isEqualTo(2.0);
    assertThat(up.json().get("tpm_limit").asLong()).as("fields not sent stay").isEqualTo(1000);
    assertThat(h.post(ADMIN, "/budget/update", "{\"max_budget\":2}").json().get("error").get("param").asText())
        .isEqualTo("budget_id");
    assertThat(h.post(ADMIN, "/budget/update", "{\"budget_id\":\"nope\",\"max_budget\":2}").status()).isEqualTo(404);

    Reply info = h.post(ADMIN, "/budget/info", "{\"budgets\":[\"free_tier\"]}");
    assertThat(info.json().isArray()).isTrue();
    assertThat(info.json().get(0).get("max_budget").asDouble()).isEqualTo(2.0);
    assertThat(h.post(ADMIN, "/budget/info", "{\"budgets\":[]}").status()).isEqualTo(400);
    assertThat(h.get(ADMIN, "/budget/info").status()).isEqualTo(405);
    assertThat(h.get(ADMIN, "/budget/list").json().toString()).contains("\"free_tier\"")
        .contains(gen.json().get("budget_id").asText());

    Reply settings = h.get(ADMIN, "/budget/settings?budget_id=free_tier");
    assertThat(settings.status()).isEqualTo(200);
    JsonNode first = settings.json().get(0);
    assertThat(first.get("field_name").asText()).isEqualTo("max_budget");
    assertThat(first.get("field_type").asText()).isEqualTo("Float");
    assertThat(first.get("field_value").asDouble()).isEqualTo(2.0);
    assertThat(settings.json().toString()).contains("\"field_name\":\"budget_duration\"");
    assertThat(h.get(ADMIN, "/budget/settings?budget_id=nope").status()).isEqualTo(404);
    assertThat(h.get(ADMIN, "/budget/settings").status()).isEqualTo(400);

    Reply del = h.post(ADMIN, "/budget/delete", "{\"id\":\"" + gen.json().get("budget_id").asText() + "\"}");
    assertThat(del.status()).isEqualTo(200);
    assertThat(del.json().get("max_budget").asDouble()).isEqualTo(9.0);
    assertThat(h.post(ADMIN, "/budget/delete", "{\"id\":\"nope\"}").status()).isEqualTo(404);
    assertThat(h.post(ADMIN, "/budget/delete", "{}").status()).isEqualTo(400);
  }

  @Test
  void budgetsAreForProxyAdminsViewersRead() {
    assertThat(h.post(ADMIN, "/budget/new", "{\"budget_id\":\"roles\"}").status()).isEqualTo(200);
    for (Principal p : new Principal[] {viewer, user}) {
      Reply r = h.post(p, "/budget/new", "{\"budget_id\":\"x\"}");
      assertThat(r.status()).isEqualTo(403);
      assertThat(r.message()).contains("needs proxy_admin");
      assertThat(h.post(p, "/budget/update", "{\"budget_id\":\"roles\",\"max_budget\":1}").status()).isEqualTo(403);
      assertThat(h.post(p, "/budget/delete", "{\"id\":\"roles\"}").status()).isEqualTo(403);
    }
    assertThat(h.get(viewer, "/budget/list").status()).isEqualTo(200);
    assertThat(h.post(viewer, "/budget/info", "{\"budgets\":[\"roles\"]}").status()).isEqualTo(200);
    assertThat(h.get(viewer, "/budget/settings?budget_id=roles").status()).isEqualTo(200);
    assertThat(h.get(user, "/budget/list").status()).isEqualTo(403);
    assertThat(h.post(user, "/budget/info", "{\"budgets\":[\"roles\"]}").status()).isEqualTo(403);
  }

  @Test
  void endUserLifecycleUnderBothNames() {
    Reply n = h.post(ADMIN, "/customer/new", "{\"user_id\":\"cust-1\",\"alias\":\"Acme\",\"max_budget\":0.5,"
        + "\"allowed_model_region\":\"eu\",\"default_model\":\"llama\"}");
    assertThat(n.status()).as(n.json().toString()).isEqualTo(200);
    assertThat(n.json().get("user_id").asText()).isEqualTo("cust-1");
    assertThat(n.json().get("alias").asText()).isEqualTo("Acme");
    assertThat(n.json().get("blocked").asBoolean()).isFalse();
    assertThat(n.json().get("spend").asDouble()).isEqualTo(0.0);
    assertThat(n.json().get("allowed_model_region").asText()).isEqualTo("eu");
    assertThat(n.json().get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(0.5);
    String ownBudget = n.json().get("budget_id").asText();
    Reply dup = h.post(ADMIN, "/end_user/new", "{\"user_id\":\"cust-1\"}");
    assertThat(dup.status()).isEqualTo(400);
    assertThat(dup.message()).startsWith("Customer already exists, passed user_id=cust-1.");
    assertThat(dup.json().get("error").get("param").asText()).isEqualTo("user_id");

    Reply info = h.get(ADMIN, "/end_user/info?end_user_id=cust-1");
    assertThat(info.json().get("budget_id").asText()).isEqualTo(ownBudget);
    assertThat(h.get(ADMIN, "/customer/info?end_user_id=cust-1").json()).isEqualTo(info.json());
    Reply missing = h.get(ADMIN, "/customer/info?end_user_id=nobody");
    assertThat(missing.status()).isEqualTo(404);
    assertThat(missing.message()).contains("End User Id=nobody does not exist in db");
    assertThat(h.get(ADMIN, "/customer/info").status()).isEqualTo(400);

    Reply up = h.post(ADMIN, "/customer/update", "{\"user_id\":\"cust-1\",\"max_budget\":0.75,\"alias\":\"Acme 2\"}");
    assertThat(up.status()).as(up.json().toString()).isEqualTo(200);
    assertThat(up.json().get("budget_id").asText()).as("its own budget changes in place").isEqualTo(ownBudget);
    assertThat(up.json().get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(0.75);
    assertThat(up.json().get("alias").asText()).isEqualTo("Acme 2");
    assertThat(up.json().get("allowed_model_region").asText()).as("not sent, kept").isEqualTo("eu");
    assertThat(h.post(ADMIN, "/end_user/update", "{\"user_id\":\"nobody\",\"alias\":\"x\"}").status()).isEqualTo(404);
    assertThat(h.get(ADMIN, "/customer/list").json().size()).isGreaterThanOrEqualTo(1);
    assertThat(h.get(ADMIN, "/end_user/list").json().toString()).contains("cust-1");

    Reply del = h.post(ADMIN, "/customer/delete", "{\"user_ids\":[\"cust-1\",\"ghost\"]}");
    assertThat(del.status()).isEqualTo(404);
    assertThat(del.message()).contains("ghost");
    assertThat(h.get(ADMIN, "/customer/info?end_user_id=cust-1").status()).as("nothing deleted").isEqualTo(200);
    Reply ok = h.post(ADMIN, "/end_user/delete", "{\"user_ids\":[\"cust-1\"]}");
    assertThat(ok.json().get("deleted_customers").asInt()).isEqualTo(1);
    assertThat(ok.json().get("message").asText()).contains("cust-1");
    assertThat(h.get(ADMIN, "/customer/info?end_user_id=cust-1").status()).isEqualTo(404);
  }

  @Test
  void endUsersOnANamedTierAndItsSharing() {
    assertThat(h.post(ADMIN, "/budget/new", "{\"budget_id\":\"tier\",\"max_budget\":10}").status()).isEqualTo(200);
    Reply a = h.post(ADMIN, "/customer/new", "{\"user_id\":\"ta\",\"budget_id\":\"tier\"}");
    assertThat(a.json().get("litellm_budget_table").get("budget_id").asText()).isEqualTo("tier");
    assertThat(h.post(ADMIN, "/customer/new", "{\"user_id\":\"tb\",\"budget_id\":\"tier\"}").status()).isEqualTo(200);
    Reply unknown = h.post(ADMIN, "/customer/new", "{\"user_id\":\"tc\",\"budget_id\":\"no-such-tier\"}");
    assertThat(unknown.status()).isEqualTo(404);
    assertThat(unknown.json().get("error").get("param").asText()).isEqualTo("budget_id");
    assertThat(h.post(ADMIN, "/customer/new", "{\"user_id\":\"tc\",\"budget_id\":\"tier\",\"max_budget\":1}").status())
        .as("budget_id and inline fields together").isEqualTo(400);
    assertThat(h.get(ADMIN, "/customer/info?end_user_id=tc").status()).as("nothing half-written").isEqualTo(404);
    // Changing one end user's budget fields copies a shared tier rather than moving every customer on it.
    Reply up = h.post(ADMIN, "/customer/update", "{\"user_id\":\"ta\",\"max_budget\":20}");
    assertThat(up.json().get("budget_id").asText()).isNotEqualTo("tier");
    assertThat(up.json().get("litellm_budget_table").get("max_budget").asDouble()).isEqualTo(20.0);
    assertThat(h.post(ADMIN, "/budget/info", "{\"budgets\":[\"tier\"]}").json().get(0).get("max_budget").asDouble())
        .isEqualTo(10.0);
    // Linking a tier by id.
    assertThat(h.post(ADMIN, "/customer/update", "{\"user_id\":\"ta\",\"budget_id\":\"tier\"}").json()
        .get("budget_id").asText()).isEqualTo("tier");
    // An explicit null budget_id unlinks; linking again is by id.
    Reply unlinked = h.post(ADMIN, "/customer/update", "{\"user_id\":\"tb\",\"budget_id\":null}");
    assertThat(unlinked.json().get("budget_id").isNull()).isTrue();
    assertThat(unlinked.json().get("litellm_budget_table").isNull()).isTrue();
    h.post(ADMIN, "/customer/update", "{\"user_id\":\"tb\",\"budget_id\":\"tier\"}");
    // A tier in use is not deleted (it would lift its customers' limits).
    Reply inUse = h.post(ADMIN, "/budget/delete", "{\"id\":\"tier\"}");
    assertThat(inUse.status()).isEqualTo(400);
    assertThat(inUse.message()).contains("in use by 2 end user(s)");
  }

  @Test
  void endUserBadInput() {
    Reply region = h.post(ADMIN, "/customer/new", "{\"user_id\":\"r1\",\"allowed_model_region\":\"mars\"}");
    assertThat(region.status()).isEqualTo(400);
    assertThat(region.json().get("error").get("param").asText()).isEqualTo("allowed_model_region");
    Reply model = h.post(ADMIN, "/customer/new", "{\"user_id\":\"r2\",\"default_model\":\"gpt-9\"}");
    assertThat(model.status()).as("LiteLLM answers 422").isEqualTo(422);
    assertThat(model.message()).contains("Default Model not on proxy").contains("llama");
    assertThat(h.post(ADMIN, "/customer/new", "{\"alias\":\"x\"}").json().get("error").get("param").asText())
        .isEqualTo("user_id");
    assertThat(h.post(ADMIN, "/customer/new", "{\"user_id\":\"r3\",\"max_budget\":\"lots\"}").status())
        .isEqualTo(400);
    assertThat(h.post(ADMIN, "/customer/delete", "{}").status()).isEqualTo(400);
    assertThat(h.post(ADMIN, "/customer/block", "{\"user_ids\":\"r1\"}").status()).isEqualTo(400);
    assertThat(h.get(ADMIN, "/customer/list").json().toString()).doesNotContain("\"r1\"").doesNotContain("\"r2\"")
        .doesNotContain("\"r3\"");
  }

  @Test
  void blockUpsertsAndUnblockClears() {
    assertThat(h.post(ADMIN, "/customer/new", "{\"user_id\":\"bk\"}").status()).isEqualTo(200);
    Reply b = h.post(ADMIN, "/customer/block", "{\"user_ids\":[\"bk\",\"bk-new\"]}");
    assertThat(b.status()).as(b.json().toString()).isEqualTo(200);
    assertThat(b.json().get("blocked_users").size()).isEqualTo(2);
    assertThat(b.json().get("blocked_users").get(1).get("blocked").asBoolean()).isTrue();
    assertThat(h.get(ADMIN, "/end_user/info?end_user_id=bk-new").json().get("blocked").asBoolean())
        .as("LiteLLM's block upserts").isTrue();
    Reply u = h.post(ADMIN, "/end_user/unblock", "{\"user_ids\":[\"bk\"]}");
    assertThat(u.json().get("unblocked_users").get(0).get("blocked").asBoolean()).isFalse();
    assertThat(h.post(ADMIN, "/customer/unblock", "{\"user_ids\":[\"bk-new\",\"never\"]}").status()).isEqualTo(404);
    assertThat(h.get(ADMIN, "/end_user/info?end_user_id=bk-new").json().get("blocked").asBoolean())
        .as("nothing unblocked").isTrue();
  }

  @Test
  void endUsersAreForProxyAdminsViewersRead() {
    assertThat(h.post(ADMIN, "/customer/new", "{\"user_id\":\"er\"}").status()).isEqualTo(200);
    for (Principal p : new Principal[] {viewer, user}) {
      assertThat(h.post(p, "/customer/new", "{\"user_id\":\"x\"}").status()).isEqualTo(403);
      assertThat(h.post(p, "/end_user/update", "{\"user_id\":\"er\",\"alias\":\"x\"}").status()).isEqualTo(403);
      assertThat(h.post(p, "/customer/delete", "{\"user_ids\":[\"er\"]}").status()).isEqualTo(403);
      assertThat(h.post(p, "/customer/block", "{\"user_ids\":[\"er\"]}").status()).isEqualTo(403);
      assertThat(h.post(p, "/customer/unblock", "{\"user_ids\":[\"er\"]}").status()).isEqualTo(403);
    }
    assertThat(h.get(viewer, "/customer/info?end_user_id=er").status()).isEqualTo(200);
    assertThat(h.get(viewer, "/customer/list").status()).isEqualTo(200);
    assertThat(h.get(user, "/customer/info?end_user_id=er").status()).isEqualTo(403);
    assertThat(h.get(user, "/end_user/list").status()).isEqualTo(403);
  }
}
