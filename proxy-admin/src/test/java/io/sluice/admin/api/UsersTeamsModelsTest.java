package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.auth.Principal;
import io.sluice.routing.Deployment;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class UsersTeamsModelsTest {
  static AdminHarness h;
  static final Principal ADMIN = Principal.MASTER;

  @BeforeAll
  static void up() {
    h = new AdminHarness(Map.of("REPLICA_KEY_ENV", "replica-ENV-secret"));
  }

  @AfterAll
  static void down() {
    h.close();
  }

  @Test
  void usersLifecycle() {
    Reply n = h.post(ADMIN, "/user/new", "{\"user_id\":\"u1\",\"user_email\":\"u1@example.com\","
        + "\"user_role\":\"internal_user\",\"models\":[\"llama\"],\"key_alias\":\"u1-first\"}");
    assertThat(n.status()).isEqualTo(200);
    assertThat(n.json().get("key").asText()).startsWith("sk-");
    assertThat(n.json().get("user_id").asText()).isEqualTo("u1");
    assertThat(n.json().get("key_alias").asText()).isEqualTo("u1-first");
    assertThat(h.post(ADMIN, "/user/new", "{\"user_id\":\"u1\"}").message()).contains("already exists");
    assertThat(h.post(ADMIN, "/user/new", "{\"user_role\":\"god\"}").message()).contains("user_role");
    Reply bad = h.post(ADMIN, "/user/new", "{\"user_id\":\"u-half\",\"duration\":\"soon\"}");
    assertThat(bad.status()).isEqualTo(400);
    assertThat(h.get(ADMIN, "/user/info?user_id=u-half").status()).as("nothing half-written").isEqualTo(404);
    Reply info = h.get(ADMIN, "/user/info?user_id=u1");
    assertThat(info.json().get("user_info").get("user_email").asText()).isEqualTo("u1@example.com");
    assertThat(info.json().get("keys").size()).isEqualTo(1);
    Reply up = h.post(ADMIN, "/user/update", "{\"user_id\":\"u1\",\"user_role\":\"proxy_admin_viewer\"}");
    assertThat(up.json().get("user_role").asText()).isEqualTo("proxy_admin_viewer");
    assertThat(h.invalidated).isNotEmpty();
    // LiteLLM's /user/update upserts (issue 14 #4): a missing user_id is created with what was sent.
    Reply made = h.post(ADMIN, "/user/update", "{\"user_id\":\"nobody\",\"max_budget\":4,\"user_email\":\"n@x.io\"}");
    assertThat(made.status()).isEqualTo(200);
    assertThat(made.json().get("user_id").asText()).isEqualTo("nobody");
    assertThat(made.json().get("max_budget").asDouble()).isEqualTo(4.0);
    assertThat(made.json().get("user_role").asText()).isEqualTo("internal_user");
    assertThat(h.get(ADMIN, "/user/info?user_id=nobody").status()).isEqualTo(200);
    assertThat(h.post(ADMIN, "/user/update", "{\"user_email\":\"nobody@nowhere\"}").status())
        .as("by email alone there is no id to create it with").isEqualTo(404);
    Reply list = h.get(ADMIN, "/user/list?user_ids=u1");
    assertThat(list.json().get("total").asInt()).isEqualTo(1);
    assertThat(list.json().get("users").get(0).get("key_count").asInt()).isEqualTo(1);
    Reply del = h.post(ADMIN, "/user/delete", "{\"user_ids\":[\"u1\"]}");
    assertThat(del.json().get("deleted_keys").asInt()).isEqualTo(1);
    assertThat(h.get(ADMIN, "/user/info?user_id=u1").status()).isEqualTo(404);
    assertThat(h.post(ADMIN, "/user/delete", "{\"user_ids\":[\"u1\"]}").status()).isEqualTo(404);
  }

  @Test
  void teamsLifecycle() {
    Reply t = h.post(ADMIN, "/team/new", "{\"team_id\":\"tA\",\"team_alias\":\"A\",\"models\":[\"llama\"],"
        + "\"members_with_roles\":[{\"role\":\"admin\",\"user_id\":\"ta-admin\"}]}");
    assertThat(t.status()).isEqualTo(200);
    assertThat(t.json().get("members_with_roles").get(0).get("user_id").asText()).isEqualTo("ta-admin");
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"tA\"}").message()).contains("already exists");
    assertThat(h.post(ADMIN, "/team/new", "{\"members_with_roles\":[{\"role\":\"boss\",\"user_id\":\"x\"}]}")
        .message()).contains("members_with_roles[0].role");
    assertThat(h.post(ADMIN, "/team/member_add", "{\"team_id\":\"tA\",\"member\":[{\"role\":\"user\","
        + "\"user_id\":\"m1\"}]}").status()).isEqualTo(200);
    assertThat(h.post(ADMIN, "/team/member_add", "{\"team_id\":\"tA\",\"member\":{\"user_id\":\"m1\"}}").message())
        .contains("already a member");
    assertThat(h.post(ADMIN, "/team/member_add", "{\"team_id\":\"nope\",\"member\":{\"user_id\":\"m1\"}}").status())
        .isEqualTo(404);
    String key = h.post(ADMIN, "/key/generate", "{\"team_id\":\"tA\"}").json().get("key").asText();
    assertThat(h.principal(key).key().teamModels()).containsExactly("llama");
    Reply info = h.get(ADMIN, "/team/info?team_id=tA");
    assertThat(info.json().get("keys").size()).isEqualTo(1);
    assertThat(info.json().get("team_memberships").size()).isEqualTo(2);
    assertThat(h.get(ADMIN, "/team/list").json().isArray()).isTrue();
    assertThat(h.post(ADMIN, "/team/block", "{\"team_id\":\"tA\"}").status()).isEqualTo(200);
    assertThat(h.principal(key).key().teamBlocked()).isTrue();
    assertThat(h.post(ADMIN, "/team/member_delete", "{\"team_id\":\"tA\",\"user_id\":\"zzz\"}").status())
        .as("deleting a non-member is 400, as LiteLLM (issue 14 #4)").isEqualTo(400);
    assertThat(h.post(ADMIN, "/key/generate", "{\"team_id\":\"missing\"}").status()).isEqualTo(404);
    Reply del = h.post(ADMIN, "/team/delete", "{\"team_ids\":[\"tA\"]}");
    assertThat(del.json().get("deleted_keys").asInt()).isEqualTo(1);
    assertThat(h.get(ADMIN, "/team/info?team_id=tA").status()).isEqualTo(404);
  }

  @Test
  void modelsJoinRoutingAtOnceAndTheirKeysAreNeverStoredOrShown() {
    Reply n = h.post(ADMIN, "/model/new", "{\"model_name\":\"qwen\",\"litellm_params\":{\"model\":"
        + "\"hosted_vllm/Qwen/Qwen2.5\",\"api_base\":\"http://10.0.0.7:8000/v1\",\"api_key\":\"replica-DB-secret\"},"
        + "\"model_info\":{\"id\":\"qwen-a\",\"mode\":\"chat\"}}");
    assertThat(n.status()).as(n.json().toString()).isEqualTo(200);
    assertThat(n.json().toString()).doesNotContain("replica-DB-secret").doesNotContain("api_key");
    assertThat(n.json().get("model_info").get("db_model").asBoolean()).isTrue();
    Deployment d = h.registry.get().group("qwen").deployments().get(0);
    assertThat(d.id()).isEqualTo("qwen-a");
    assertThat(d.authorization().toString()).isEqualTo("Bearer replica-DB-secret");
    assertThat(KeyEndpointsTest.dumpOf(h)).doesNotContain("replica-DB-secret").contains("enc:v1:");
    assertThat(h.post(ADMIN, "/model/new", "{\"model_name\":\"qwen\",\"litellm_params\":{\"model\":"
        + "\"hosted_vllm/q\",\"api_base\":\"http://x:1/v1\"},\"model_info\":{\"id\":\"qwen-a\"}}").message())
        .contains("already exists");
    Reply badBase = h.post(ADMIN, "/model/new", "{\"model_name\":\"q2\",\"litellm_params\":{\"model\":"
        + "\"hosted_vllm/q\",\"api_base\":\"ftp://x\",\"api_key\":\"replica-BAD-secret\"}}");
    assertThat(badBase.status()).isEqualTo(400);
    assertThat(badBase.json().get("error").get("param").asText()).isEqualTo("litellm_params.api_base");
    assertThat(badBase.message()).doesNotContain("replica-BAD-secret");
    Reply env = h.post(ADMIN, "/model/new", "{\"model_name\":\"qwen\",\"litellm_params\":{\"model\":"
        + "\"hosted_vllm/Qwen/Qwen2.5\",\"api_base\":\"http://10.0.0.8:8000/v1\","
        + "\"api_key\":\"os.environ/REPLICA_KEY_ENV\"},\"model_info\":{\"id\":\"qwen-b\"}}");
    assertThat(env.status()).isEqualTo(200);
    assertThat(h.registry.get().group("qwen").deployments()).hasSize(2);
    Reply info = h.get(ADMIN, "/v1/model/info");
    assertThat(info.json().get("data").size()).isEqualTo(3);
    assertThat(info.json().toString()).doesNotContain("secret").doesNotContain("api_key");
    String limited = h.post(ADMIN, "/key/generate", "{\"models\":[\"qwen\"]}").json().get("key").asText();
    Reply mine = h.get(h.principal(limited), "/model/info");
    assertThat(mine.json().get("data").size()).isEqualTo(2);
    assertThat(h.get(ADMIN, "/model/info?litellm_model_id=qwen-b").json().get("data").size()).isEqualTo(1);
    Reply up = h.post(ADMIN, "/model/update", "{\"model_info\":{\"id\":\"qwen-a\"},\"litellm_params\":{\"rpm\":60}}");
    assertThat(up.status()).as(up.json().toString()).isEqualTo(200);
    assertThat(h.registry.get().group("qwen").deployments().get(0).config().rpm()).isEqualTo(60);
    assertThat(h.registry.get().group("qwen").deployments().get(0).authorization().toString())
        .isEqualTo("Bearer replica-DB-secret");
    assertThat(h.post(ADMIN, "/model/update", "{\"model_info\":{\"id\":\"config-llama\"}}").message())
        .contains("config.yaml");
    assertThat(h.post(ADMIN, "/model/delete", "{\"id\":\"config-llama\"}").status()).isEqualTo(400);
    assertThat(h.post(ADMIN, "/model/delete", "{\"id\":\"nope\"}").status()).isEqualTo(404);
    assertThat(h.post(ADMIN, "/model/delete", "{\"id\":\"qwen-a\"}").status()).isEqualTo(200);
    assertThat(h.registry.get().group("qwen").deployments()).extracting(Deployment::id).containsExactly("qwen-b");
  }

  /** Issue 14 #4: a member given by user_email alone is that user, or a new one with a generated id (LiteLLM). */
  @Test
  void teamMembersMayBeGivenByEmailAlone() {
    assertThat(h.post(ADMIN, "/user/new", "{\"user_id\":\"known\",\"user_email\":\"known@x.io\","
        + "\"auto_create_key\":false}").status()).isEqualTo(200);
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"byEmail\"}").status()).isEqualTo(200);
    Reply add = h.post(ADMIN, "/team/member_add", "{\"team_id\":\"byEmail\",\"member\":[{\"role\":\"user\","
        + "\"user_email\":\"known@x.io\"},{\"role\":\"admin\",\"user_email\":\"new@x.io\"}]}");
    assertThat(add.status()).as(add.json().toString()).isEqualTo(200);
    String members = h.get(ADMIN, "/team/info?team_id=byEmail").json().toString();
    assertThat(members).contains("\"known\"");
    Reply created = h.get(ADMIN, "/user/list");
    assertThat(created.json().toString()).contains("new@x.io");
    assertThat(h.post(ADMIN, "/team/member_add", "{\"team_id\":\"byEmail\",\"member\":{\"role\":\"user\","
        + "\"user_email\":\"known@x.io\"}}").status()).as("already a member").isEqualTo(400);
    assertThat(h.post(ADMIN, "/team/member_add", "{\"team_id\":\"byEmail\",\"member\":{\"role\":\"user\"}}")
        .status()).as("neither user_id nor user_email").isEqualTo(400);
  }
}
