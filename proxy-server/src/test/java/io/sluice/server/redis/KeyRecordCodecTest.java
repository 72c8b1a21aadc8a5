package io.sluice.server.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyLimits;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.Role;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class KeyRecordCodecTest {
  static final KeyHash H = KeyHash.of("sk-codec-test");

  static KeyRecord full(KeyHash h) {
    return new KeyRecord(h, "sk-...test", "ci key", "user-1", "team-1", Role.PROXY_ADMIN_VIEWER,
        Set.of("gpt-4o", "llama-3-70b"), Set.of("llama-3-70b"), List.of("/v1/chat/completions", "/v1/models"),
        true, false, Instant.ofEpochMilli(1_767_225_600_123L),
        new KeyLimits(100_000L, 60L, 4, 12.5, 0.1 + 0.2));
  }

  static KeyRecord sparse(KeyHash h) {
    return new KeyRecord(h, null, null, null, null, Role.INTERNAL_USER, Set.of(), Set.of(), List.of(), false, true,
        null, KeyLimits.NONE);
  }

  @Test
  void roundTripsEveryField() throws Exception {
    assertThat(KeyRecordCodec.decode(KeyRecordCodec.encode(full(H)), H)).isEqualTo(full(H));
    assertThat(KeyRecordCodec.decode(KeyRecordCodec.encode(sparse(H)), H)).isEqualTo(sparse(H));
    for (Role r : Role.values()) {
      KeyRecord rec = KeyRecord.simple(H, null, r, Set.of(), false, null);
      assertThat(KeyRecordCodec.decode(KeyRecordCodec.encode(rec), H).role()).isEqualTo(r);
    }
  }

  /** The user's own model list (issue 14 #3) survives the shared cache; records cached without it read as none. */
  @Test
  void roundTripsTheUsersModelList() throws Exception {
    KeyRecord base = full(H);
    KeyRecord withUser = new KeyRecord(base.hash(), base.keyName(), base.alias(), base.userId(), null, base.role(),
        base.models(), Set.of(), base.allowedRoutes(), false, false, null, base.limits(), KeyLimits.NONE,
        KeyLimits.NONE, Set.of("llama-3-70b", "hosted_vllm/*"));
    String json = KeyRecordCodec.encode(withUser);
    assertThat(json).contains("\"user_models\":[\"hosted_vllm/*\",\"llama-3-70b\"]");
    assertThat(KeyRecordCodec.decode(json, H)).isEqualTo(withUser);
    assertThat(KeyRecordCodec.decode(KeyRecordCodec.encode(base), H).userModels()).isEmpty();
    KeyRecord aliased = new KeyRecord(base.hash(), null, null, null, null, base.role(), Set.of(), Set.of(), List.of(),
        false, false, null, KeyLimits.NONE, KeyLimits.NONE, KeyLimits.NONE, Set.of(),
        java.util.Map.of("gpt-4", "llama-3-70b"));
    assertThat(KeyRecordCodec.encode(aliased)).contains("\"aliases\":{\"gpt-4\":\"llama-3-70b\"}");
    assertThat(KeyRecordCodec.decode(KeyRecordCodec.encode(aliased), H)).isEqualTo(aliased);
  }

  /** A team member's budget travels too: a node reading the shared cache enforces max_budget_in_team as well. */
  @Test
  void roundTripsTheTeamMembersBudget() throws Exception {
    KeyRecord base = full(H);
    KeyLimits member = new KeyLimits(null, null, null, 2.5, 0.75, java.time.Instant.ofEpochMilli(1_767_225_600_000L));
    KeyRecord withMember = new KeyRecord(base.hash(), base.keyName(), base.alias(), base.userId(), base.teamId(),
        base.role(), base.models(), base.teamModels(), base.allowedRoutes(), false, false, null, base.limits(),
        base.userLimits(), base.teamLimits(), base.userModels(), base.aliases(), member);
    String json = KeyRecordCodec.encode(withMember);
    assertThat(json).contains("\"member_limits\":{");
    KeyRecord back = KeyRecordCodec.decode(json, H);
    assertThat(back).isEqualTo(withMember);
    assertThat(back.memberLimits().maxBudget()).isEqualTo(2.5);
    assertThat(KeyRecordCodec.encode(base)).as("absent when there is none").doesNotContain("member_limits");
    assertThat(KeyRecordCodec.decode(KeyRecordCodec.encode(base), H).memberLimits()).isEqualTo(KeyLimits.NONE);
  }

  @Test
  void wireNamesAreExplicitAndStable() throws Exception {
    String json = KeyRecordCodec.encode(full(H));
    assertThat(json).isEqualTo("{\"hash\":\"" + H.hex() + "\",\"key_name\":\"sk-...test\",\"key_alias\":\"ci key\","
        + "\"user_id\":\"user-1\",\"team_id\":\"team-1\",\"role\":\"proxy_admin_viewer\","
        + "\"models\":[\"gpt-4o\",\"llama-3-70b\"],\"team_models\":[\"llama-3-70b\"],"
        + "\"allowed_routes\":[\"/v1/chat/completions\",\"/v1/models\"],\"blocked\":true,\"team_blocked\":false,"
        + "\"expires\":1767225600123,\"limits\":{\"tpm_limit\":100000,\"rpm_limit\":60,"
        + "\"max_parallel_requests\":4,\"max_budget\":12.5,\"spend\":0.30000000000000004}}");
    assertThat(KeyRecordCodec.encode(sparse(H))).contains("\"key_name\":null", "\"expires\":null",
        "\"tpm_limit\":null", "\"max_budget\":null", "\"spend\":0.0", "\"role\":\"internal_user\"");
  }

  @Test
  void unknownFieldsAreIgnoredAndAbsentOptionalFieldsAreEmpty() throws Exception {
    ObjectNode o = (ObjectNode) new ObjectMapper().readTree(KeyRecordCodec.encode(full(H)));
    o.put("added_in_a_later_version", 42);
    assertThat(KeyRecordCodec.decode(o.toString(), H)).isEqualTo(full(H));
    String minimal = "{\"hash\":\"" + H.hex() + "\",\"role\":\"internal_user\"}";
    assertThat(KeyRecordCodec.decode(minimal, H))
        .isEqualTo(new KeyRecord(H, null, null, null, null, Role.INTERNAL_USER, Set.of(), Set.of(), List.of(),
            false, false, null, KeyLimits.NONE));
  }

  @Test
  void malformedValuesAreRejected() throws Exception {
    ObjectMapper m = new ObjectMapper();
    String good = KeyRecordCodec.encode(full(H));
    assertMalformed("{not json", H);
    assertMalformed("", H);
    assertMalformed("null", H);
    assertMalformed("[1,2]", H);
    assertMalformed("\"~\"", H);
    assertMalformed(good, KeyHash.of("sk-someone-else")); // foreign value
    assertMalformed(((ObjectNode) m.readTree(good)).put("role", "superuser").toString(), H);
    assertMalformed(((ObjectNode) m.readTree(good)).remove(List.of("role")).toString(), H);
    assertMalformed(((ObjectNode) m.readTree(good)).put("blocked", "yes").toString(), H);
    assertMalformed(((ObjectNode) m.readTree(good)).put("expires", "2026-01-01").toString(), H);
    assertMalformed(((ObjectNode) m.readTree(good)).put("models", "gpt-4o").toString(), H);
    ObjectNode limits = (ObjectNode) m.readTree(good);
    ((ObjectNode) limits.get("limits")).put("rpm_limit", 1.5);
    assertMalformed(limits.toString(), H);
    ((ObjectNode) limits.get("limits")).put("rpm_limit", 1).put("max_parallel_requests", 1L << 40);
    assertMalformed(limits.toString(), H);
  }

  @Test
  void nonFiniteNumbersAreNotEncoded() {
    KeyRecord r = new KeyRecord(H, null, null, null, null, null, Set.of(), Set.of(), List.of(), false, false, null,
        new KeyLimits(null, null, null, Double.POSITIVE_INFINITY, 0));
    assertThatThrownBy(() -> KeyRecordCodec.encode(r)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(H.prefix()).hasMessageNotContaining(H.hex());
  }

  private static void assertMalformed(String json, KeyHash h) {
    assertThatThrownBy(() -> KeyRecordCodec.decode(json, h)).as(json)
        .isInstanceOf(KeyRecordCodec.MalformedException.class);
  }
}
