package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.auth.KeyHash;
import io.sluice.auth.Principal;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KeyEndpointsTest {
  static AdminHarness h;
  static final Principal ADMIN = Principal.MASTER;

  @BeforeAll
  static void up() {
    h = new AdminHarness();
  }

  @AfterAll
  static void down() {
    h.close();
  }

  static String dump() {
    return dumpOf(h);
  }

  /** Every row of every Sluice table as JSON text: what a database dump would hold. */
  static String dumpOf(AdminHarness h) {
    StringBuilder sb = new StringBuilder();
    for (String t : List.of("sluice_users", "sluice_teams", "sluice_team_members", "sluice_keys",
        "sluice_deployments")) {
      h.tdb.db.dsl().fetch("SELECT row_to_json(t)::text FROM " + t + " t").forEach(r -> sb.append(r.get(0)));
    }
    return sb.toString();
  }

  @Test
  void generateReturnsThePlaintextOnceAndStoresOnlyTheHash() {
    Reply r = h.post(ADMIN, "/key/generate", "{\"key_alias\":\"gen-1\",\"models\":[\"llama\"],\"max_budget\":5,"
        + "\"metadata\":{\"team\":\"x\"},\"tpm_limit\":100,\"rpm_limit\":10,\"max_parallel_requests\":2}");
    assertThat(r.status()).isEqualTo(200);
    String key = r.json().get("key").asText();
    assertThat(key).startsWith("sk-").hasSize(25);
    String hash = KeyHash.of(key).hex();
    assertThat(r.json().get("token").asText()).isEqualTo(hash);
    assertThat(r.json().get("key_name").asText()).isEqualTo("sk-..." + key.substring(21));
    assertThat(r.json().get("models").get(0).asText()).isEqualTo("llama");
    assertThat(r.json().get("tpm_limit").asLong()).isEqualTo(100);
    assertThat(r.json().get("metadata").get("team").asText()).isEqualTo("x");
    assertThat(r.json().get("expires").isNull()).isTrue();
    assertThat(dump()).contains(hash).doesNotContain(key).doesNotContain(key.substring(3));
    Reply info = h.get(ADMIN, "/key/info?key=" + key);
    assertThat(info.status()).isEqualTo(200);
    assertThat(info.json().toString()).doesNotContain(key);
    assertThat(info.json().get("info").get("key_alias").asText()).isEqualTo("gen-1");
    assertThat(h.get(ADMIN, "/key/info?key=" + hash).json().get("info").get("token").asText()).isEqualTo(hash);
  }

  @Test
  void durationsSetExpiryAndBadOnesAre400NamingTheField() {
    Instant before = Instant.now();
    Reply r = h.post(ADMIN, "/key/generate", "{\"duration\":\"30s\"}");
    Instant expires = Instant.parse(r.json().get("expires").asText());
    assertThat(expires).isBetween(before.plusSeconds(29), Instant.now().plusSeconds(31));
    assertThat(Instant.parse(h.post(ADMIN, "/key/generate", "{\"duration\":\"30d\"}").json().get("expires")
        .asText())).isAfter(before.plus(Duration.ofDays(29)));
    assertThat(Instant.parse(h.post(ADMIN, "/key/generate", "{\"duration\":\"1hr\"}").json().get("expires")
        .asText())).isBetween(before.plusSeconds(3599), Instant.now().plusSeconds(3601));
    Reply bad = h.post(ADMIN, "/key/generate", "{\"duration\":\"30 fortnights\"}");
    assertThat(bad.status()).isEqualTo(400);
    assertThat(bad.json().get("error").get("param").asText()).isEqualTo("duration");
    assertThat(bad.message()).contains("duration").contains("\"30s\"");
  }

  @Test
  void wrongTypesAre400NamingTheField() {
    assertThat(h.post(ADMIN, "/key/generate", "{\"max_budget\":\"lots\"}").message())
        .isEqualTo("max_budget: expected a number, got a string.");
    assertThat(h.post(ADMIN, "/key/generate", "{\"models\":\"llama\"}").message()).startsWith("models: expected a list");
    assertThat(h.post(ADMIN, "/key/generate", "{\"models\":[1]}").message()).startsWith("models[0]: expected a string");
    assertThat(h.post(ADMIN, "/key/generate", "{\"tpm_limit\":-1}").status()).isEqualTo(400);
    assertThat(h.post(ADMIN, "/key/generate", "{\"key_type\":\"admin\"}").message()).contains("key_type");
    assertThat(h.post(ADMIN, "/key/generate", "{\"allowed_routes\":[\"chat\"]}").message()).contains("allowed_routes[0]");
    assertThat(h.post(ADMIN, "/key/generate", "[1,2]").message()).contains("must be a JSON object");
    assertThat(h.post(ADMIN, "/key/generate", "{\"key_alias\":").message()).contains("not valid JSON");
  }

  @Test
  void duplicatesAre400AndChosenKeysMustStartWithSk() {
    assertThat(h.post(ADMIN, "/key/generate", "{\"key_alias\":\"dup-alias\"}").status()).isEqualTo(200);
    Reply dup = h.post(ADMIN, "/key/generate", "{\"key_alias\":\"dup-alias\"}");
    assertThat(dup.status()).isEqualTo(400);
    assertThat(dup.message()).contains("key_alias 'dup-alias' is already used");
    assertThat(h.post(ADMIN, "/key/generate", "{\"key\":\"sk-chosen-SECRET-1\"}").status()).isEqualTo(200);
    Reply again = h.post(ADMIN, "/key/generate", "{\"key\":\"sk-chosen-SECRET-1\"}");
    assertThat(again.status()).isEqualTo(400);
    assertThat(again.message()).contains("already exists").doesNotContain("sk-chosen-SECRET-1");
    Reply noSk = h.post(ADMIN, "/key/generate", "{\"key\":\"chosen-SECRET-2\"}");
    assertThat(noSk.status()).isEqualTo(400);
    assertThat(noSk.message()).contains("must start with 'sk-'").doesNotContain("chosen-SECRET-2");
  }

  @Test
  void updateBlockUnblockAndInvalidation() {
    String key = h.post(ADMIN, "/key/generate", "{\"models\":[\"a\"]}").json().get("key").asText();
    KeyHash hash = KeyHash.of(key);
    h.invalidated.clear();
    Reply u = h.post(ADMIN, "/key/update", "{\"key\":\"" + key + "\",\"models\":[\"b\",\"c\"],\"key_alias\":\"upd\"}");
    assertThat(u.status()).isEqualTo(200);
    assertThat(u.json().get("models").size()).isEqualTo(2);
    assertThat(u.json().get("key").asText()).isEqualTo(hash.hex());
    assertThat(h.invalidated).containsExactly(hash);
    assertThat(h.post(ADMIN, "/key/block", "{\"key\":\"" + hash.hex() + "\"}").json().get("blocked").asBoolean())
        .isTrue();
    assertThat(h.principal(key).key().blocked()).isTrue();
    assertThat(h.post(ADMIN, "/key/unblock", "{\"key\":\"" + key + "\"}").json().get("blocked").asBoolean()).isFalse();
    assertThat(h.post(ADMIN, "/key/update", "{\"key\":\"sk-nope\"}").status()).isEqualTo(404);
    assertThat(h.post(ADMIN, "/key/update", "{}").status()).isEqualTo(400);
    assertThat(h.post(ADMIN, "/key/block", "{\"key\":\"not-a-key\"}").message()).contains("64-character");
  }

  @Test
  void deleteIsAllOrNothing() {
    String k1 = h.post(ADMIN, "/key/generate", "{\"key_alias\":\"del-1\"}").json().get("key").asText();
    String k2 = h.post(ADMIN, "/key/generate", "{\"key_alias\":\"del-2\"}").json().get("key").asText();
    Reply bad = h.post(ADMIN, "/key/delete", "{\"keys\":[\"" + k1 + "\",\"sk-missing\"]}");
    assertThat(bad.status()).isEqualTo(404);
    assertThat(bad.message()).contains("keys[1]").contains("Nothing was deleted");
    assertThat(h.get(ADMIN, "/key/info?key=" + k1).status()).isEqualTo(200);
    Reply ok = h.post(ADMIN, "/key/delete", "{\"keys\":[\"" + k1 + "\"]}");
    assertThat(ok.json().get("deleted_keys").get(0).asText()).isEqualTo(KeyHash.of(k1).hex());
    assertThat(h.get(ADMIN, "/key/info?key=" + k1).status()).isEqualTo(404);
    assertThat(h.post(ADMIN, "/key/delete", "{\"key_aliases\":[\"del-2\"]}").json().get("deleted_keys").get(0)
        .asText()).isEqualTo("del-2");
    assertThat(h.get(ADMIN, "/key/info?key=" + k2).status()).isEqualTo(404);
    assertThat(h.post(ADMIN, "/key/delete", "{}").status()).isEqualTo(400);
  }

  @Test
  void regenerateReplacesTheKey() {
    String old = h.post(ADMIN, "/key/generate", "{\"key_alias\":\"regen\"}").json().get("key").asText();
    Reply r = h.post(ADMIN, "/key/regenerate", "{\"key\":\"" + old + "\"}");
    assertThat(r.status()).isEqualTo(200);
    String fresh = r.json().get("key").asText();
    assertThat(fresh).startsWith("sk-").isNotEqualTo(old);
    assertThat(r.json().get("key_alias").asText()).isEqualTo("regen");
    assertThat(h.get(ADMIN, "/key/info?key=" + old).status()).isEqualTo(404);
    assertThat(h.invalidated).contains(KeyHash.of(old));
    Reply p = h.post(ADMIN, "/key/" + fresh + "/regenerate", "{\"new_key\":\"sk-picked-SECRET\"}");
    assertThat(p.json().get("key").asText()).isEqualTo("sk-picked-SECRET");
    assertThat(h.get(ADMIN, "/key/info?key=sk-picked-SECRET").status()).isEqualTo(200);
    assertThat(h.post(ADMIN, "/key/regenerate", "{\"key\":\"" + fresh + "\"}").status()).isEqualTo(404);
  }

  @Test
  void listPagesAndFiltersAndReturnsHashesUnlessAskedForObjects() {
    h.post(ADMIN, "/user/new", "{\"user_id\":\"lister\",\"auto_create_key\":false}");
    for (int i = 0; i < 3; i++) {
      h.post(ADMIN, "/key/generate", "{\"user_id\":\"lister\"}");
    }
    Reply r = h.get(ADMIN, "/key/list?user_id=lister&size=2");
    assertThat(r.json().get("total_count").asInt()).isEqualTo(3);
    assertThat(r.json().get("total_pages").asInt()).isEqualTo(2);
    assertThat(r.json().get("keys").size()).isEqualTo(2);
    assertThat(r.json().get("keys").get(0).asText()).hasSize(64);
    Reply p2 = h.get(ADMIN, "/key/list?user_id=lister&size=2&page=2&return_full_object=true");
    assertThat(p2.json().get("keys").size()).isEqualTo(1);
    assertThat(p2.json().get("keys").get(0).get("user_id").asText()).isEqualTo("lister");
    assertThat(h.get(ADMIN, "/key/list?size=500").message()).contains("size");
  }

  @Test
  void routingErrors() {
    assertThat(h.get(ADMIN, "/key/generate").status()).isEqualTo(405);
    assertThat(h.post(ADMIN, "/key/info", "{}").status()).isEqualTo(405);
    Reply nf = h.get(ADMIN, "/key/sk-secret-123/nothing");
    assertThat(nf.status()).isEqualTo(404);
    assertThat(nf.message()).doesNotContain("sk-secret-123");
  }
}
