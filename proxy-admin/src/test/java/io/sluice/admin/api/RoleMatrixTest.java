package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.auth.Principal;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Who may call what: proxy_admin, proxy_admin_viewer, internal_user, internal_user_viewer and team admins. */
class RoleMatrixTest {
  static AdminHarness h;
  static final Principal ADMIN = Principal.MASTER;
  static Principal viewer;
  static Principal alice;
  static Principal bob;
  static Principal carolViewer;
  static Principal teamLead;

  static Principal user(String id, String role) {
    Reply r = h.post(ADMIN, "/user/new", "{\"user_id\":\"" + id + "\",\"user_role\":\"" + role + "\"}");
    assertThat(r.status()).as(r.json().toString()).isEqualTo(200);
    return h.principal(r.json().get("key").asText());
  }

  @BeforeAll
  static void up() {
    h = new AdminHarness();
    viewer = user("vic", "proxy_admin_viewer");
    alice = user("alice", "internal_user");
    bob = user("bob", "internal_user");
    carolViewer = user("carol", "internal_user_viewer");
    teamLead = user("lead", "internal_user");
    assertThat(h.post(ADMIN, "/team/new", "{\"team_id\":\"t1\",\"members_with_roles\":[{\"role\":\"admin\","
        + "\"user_id\":\"lead\"},{\"role\":\"user\",\"user_id\":\"bob\"}]}").status()).isEqualTo(200);
  }

  @AfterAll
  static void down() {
    h.close();
  }

  @Test
  void internalUsersManageTheirOwnKeysOnly() {
    Reply own = h.post(alice, "/key/generate", "{}");
    assertThat(own.status()).isEqualTo(200);
    assertThat(own.json().get("user_id").asText()).isEqualTo("alice");
    String aliceKey = own.json().get("key").asText();
    Reply other = h.post(alice, "/key/generate", "{\"user_id\":\"bob\"}");
    assertThat(other.status()).isEqualTo(403);
    assertThat(other.message()).contains("internal_user").contains("user_id=alice");
    assertThat(h.get(alice, "/key/info?key=" + aliceKey).status()).isEqualTo(200);
    assertThat(h.get(alice, "/key/info").json().get("info").get("user_id").asText()).isEqualTo("alice");
    String bobKey = h.post(bob, "/key/generate", "{}").json().get("key").asText();
    assertThat(h.get(alice, "/key/info?key=" + bobKey).status()).isEqualTo(403);
    assertThat(h.post(alice, "/key/delete", "{\"keys\":[\"" + bobKey + "\"]}").status()).isEqualTo(403);
    assertThat(h.post(alice, "/key/update", "{\"key\":\"" + bobKey + "\",\"models\":[]}").status()).isEqualTo(403);
    assertThat(h.post(alice, "/key/block", "{\"key\":\"" + aliceKey + "\"}").status()).isEqualTo(403);
    Reply list = h.get(alice, "/key/list?return_full_object=true&size=100");
    assertThat(list.json().get("total_count").asInt()).isGreaterThanOrEqualTo(2); // auto key + this one
    list.json().get("keys").forEach(k -> assertThat(k.get("user_id").asText()).isEqualTo("alice"));
    assertThat(h.post(alice, "/key/delete", "{\"keys\":[\"" + aliceKey + "\"]}").status()).isEqualTo(200);
  }

  @Test
  void onlyProxyAdminsManageUsersTeamsAndModels() {
    for (Principal p : new Principal[] {viewer, alice, carolViewer}) {
      Reply r = h.post(p, "/user/new", "{\"user_id\":\"x-" + p.keyHashPrefix() + "\"}");
      assertThat(r.status()).isEqualTo(403);
      assertThat(r.json().get("error").get("type").asText()).isEqualTo("auth_error");
      assertThat(r.message()).contains("needs proxy_admin");
      assertThat(h.post(p, "/team/new", "{}").status()).isEqualTo(403);
      assertThat(h.post(p, "/user/delete", "{\"user_ids\":[\"bob\"]}").status()).isEqualTo(403);
      assertThat(h.post(p, "/model/new", "{\"model_name\":\"m\",\"litellm_params\":{}}").status()).isEqualTo(403);
    }
  }

  @Test
  void viewersReadEverythingAndWriteNothing() {
    assertThat(h.get(viewer, "/user/list").status()).isEqualTo(200);
    assertThat(h.get(viewer, "/user/info?user_id=bob").status()).isEqualTo(200);
    assertThat(h.get(viewer, "/team/info?team_id=t1").status()).isEqualTo(200);
    assertThat(h.get(viewer, "/key/list").json().get("total_count").asInt()).isGreaterThan(3);
    assertThat(h.post(viewer, "/key/generate", "{}").status()).isEqualTo(403);
    assertThat(h.post(viewer, "/team/member_add", "{\"team_id\":\"t1\",\"member\":{\"user_id\":\"v\"}}").status())
        .isEqualTo(403);
  }

  @Test
  void internalUserViewersReadOwnInfoButCreateNoKeys() {
    assertThat(h.post(carolViewer, "/key/generate", "{}").status()).isEqualTo(403);
    assertThat(h.get(carolViewer, "/user/info").json().get("user_id").asText()).isEqualTo("carol");
    assertThat(h.get(carolViewer, "/user/info?user_id=bob").status()).isEqualTo(403);
    assertThat(h.get(carolViewer, "/user/list").status()).isEqualTo(403);
    assertThat(h.get(carolViewer, "/model/info").status()).isEqualTo(200);
  }

  @Test
  void teamAdminsManageTheirTeamsMembersAndKeys() {
    assertThat(h.post(teamLead, "/team/member_add", "{\"team_id\":\"t1\",\"member\":{\"role\":\"user\","
        + "\"user_id\":\"newbie\"}}").status()).isEqualTo(200);
    assertThat(h.post(bob, "/team/member_add", "{\"team_id\":\"t1\",\"member\":{\"user_id\":\"x\"}}").status())
        .as("a plain member may not add members").isEqualTo(403);
    Reply k = h.post(teamLead, "/key/generate", "{\"team_id\":\"t1\",\"user_id\":\"bob\"}");
    assertThat(k.status()).as(k.json().toString()).isEqualTo(200);
    String teamKey = k.json().get("key").asText();
    assertThat(h.post(teamLead, "/key/block", "{\"key\":\"" + teamKey + "\"}").status()).isEqualTo(200);
    assertThat(h.post(alice, "/key/generate", "{\"team_id\":\"t1\"}").status())
        .as("not a member of t1").isEqualTo(403);
    assertThat(h.post(bob, "/key/generate", "{\"team_id\":\"t1\"}").status()).isEqualTo(200);
    assertThat(h.get(bob, "/team/info?team_id=t1").status()).isEqualTo(200);
    assertThat(h.get(alice, "/team/info?team_id=t1").status()).isEqualTo(403);
    assertThat(h.post(teamLead, "/team/member_delete", "{\"team_id\":\"t1\",\"user_id\":\"newbie\"}").status())
        .isEqualTo(200);
    assertThat(h.post(teamLead, "/team/update", "{\"team_id\":\"t1\",\"max_budget\":1}").status()).isEqualTo(403);
  }

  @Test
  void ownersCannotRaiseTheirOwnLimitsOrModels() {
    Reply u = h.post(ADMIN, "/user/new", "{\"user_id\":\"dana\",\"models\":[\"llama\"]}");
    Principal dana = h.principal(u.json().get("key").asText());
    Reply own = h.post(dana, "/key/generate", "{}");
    assertThat(own.json().get("models").get(0).asText()).as("defaults to the user's models").isEqualTo("llama");
    assertThat(h.post(dana, "/key/generate", "{\"models\":[]}").status()).isEqualTo(403);
    Reply wider = h.post(dana, "/key/generate", "{\"models\":[\"llama\",\"gpt\"]}");
    assertThat(wider.status()).isEqualTo(403);
    assertThat(wider.message()).contains("models=[llama]");
    String limited = h.post(ADMIN, "/key/generate", "{\"user_id\":\"dana\",\"tpm_limit\":10}").json().get("key")
        .asText();
    Reply raise = h.post(dana, "/key/update", "{\"key\":\"" + limited + "\",\"tpm_limit\":1000000}");
    assertThat(raise.status()).isEqualTo(403);
    assertThat(raise.message()).contains("tpm_limit");
    assertThat(h.post(dana, "/key/update", "{\"key\":\"" + limited + "\",\"key_alias\":\"mine\"}").status())
        .isEqualTo(200);
  }

  @Test
  void aBlockedOrDeletedCallerIs401EvenIfTheDataPlaneStillHadItCached() {
    Reply r = h.post(ADMIN, "/key/generate", "{\"user_id\":\"alice\"}");
    Principal cached = h.principal(r.json().get("key").asText());
    h.post(ADMIN, "/key/block", "{\"key\":\"" + r.json().get("key").asText() + "\"}");
    assertThat(h.get(cached, "/key/info").status()).isEqualTo(401);
  }
}
