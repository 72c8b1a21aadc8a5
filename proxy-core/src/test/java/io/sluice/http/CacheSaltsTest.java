package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyRecord;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings.CacheIsolation;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Issue 20 §4: one cache_salt per tenant, the same on every node, unguessable without the master key. */
class CacheSaltsTest {
  static KeyRecord key(String plaintext, String team) {
    return new KeyRecord(KeyHash.of(plaintext), "sk-...", null, "u", team, io.sluice.auth.Role.INTERNAL_USER,
        java.util.Set.of(), java.util.Set.of(), java.util.List.of(), false, false, null,
        io.sluice.auth.KeyLimits.NONE);
  }

  @Test
  void teamModeGivesATeamOneSaltAndEveryOtherTenantItsOwn() {
    CacheSalts s = new CacheSalts(CacheIsolation.TEAM, Secret.of("sk-master-1"));
    String a1 = CacheSalts.saltOf(s.field(key("sk-a1", "team-a")));
    String a2 = CacheSalts.saltOf(s.field(key("sk-a2", "team-a")));
    String b = CacheSalts.saltOf(s.field(key("sk-b", "team-b")));
    String loneKey = CacheSalts.saltOf(s.field(key("sk-lone", null)));
    String master = CacheSalts.saltOf(s.field(null));
    assertThat(a1).isEqualTo(a2).matches("[A-Za-z0-9_-]{43}");
    assertThat(java.util.Set.of(a1, b, loneKey, master)).hasSize(4);
    assertThat(new String(s.field(null), StandardCharsets.US_ASCII)).isEqualTo(",\"cache_salt\":\"" + master + "\"");
  }

  @Test
  void keyModeGivesEveryKeyItsOwn() {
    CacheSalts s = new CacheSalts(CacheIsolation.KEY, Secret.of("sk-master-1"));
    assertThat(CacheSalts.saltOf(s.field(key("sk-a1", "team-a"))))
        .isNotEqualTo(CacheSalts.saltOf(s.field(key("sk-a2", "team-a"))));
  }

  @Test
  void theSaltIsAFunctionOfTheMasterKeyAndTheTenantOnly() {
    KeyRecord k = key("sk-a1", "team-a");
    String node1 = CacheSalts.saltOf(new CacheSalts(CacheIsolation.TEAM, Secret.of("sk-master-1")).field(k));
    String node2 = CacheSalts.saltOf(new CacheSalts(CacheIsolation.TEAM, Secret.of("sk-master-1")).field(k));
    String rotated = CacheSalts.saltOf(new CacheSalts(CacheIsolation.TEAM, Secret.of("sk-master-2")).field(k));
    assertThat(node1).as("two nodes of one deployment agree").isEqualTo(node2);
    assertThat(rotated).as("another master key, other salts").isNotEqualTo(node1);
    assertThat(node1).doesNotContain("team-a").doesNotContain("master");
  }

  @Test
  void theFieldIsKeptPerTenantAndOffIsNoSalts() {
    CacheSalts s = new CacheSalts(CacheIsolation.TEAM, Secret.of("sk-master-1"));
    assertThat(s.field(key("sk-a1", "team-a"))).isSameAs(s.field(key("sk-a2", "team-a")));
    assertThat(s.applies(Route.CHAT_COMPLETIONS)).isTrue();
    assertThat(s.applies(Route.RESPONSES)).isTrue();
    assertThat(s.applies(Route.MESSAGES)).as("vLLM's Anthropic route has no cache_salt").isFalse();
    assertThat(s.applies(Route.EMBEDDINGS)).isFalse();
    assertThatThrownBy(() -> new CacheSalts(CacheIsolation.OFF, Secret.of("x")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(CacheIsolation.parse("Team")).isEqualTo(CacheIsolation.TEAM);
    assertThat(CacheIsolation.parse("tenant")).isNull();
  }
}
