package io.sluice.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ModelAccessTest {
  private static KeyRecord key(Set<String> models, String team, Set<String> teamModels) {
    return new KeyRecord(KeyHash.of("sk-m"), "sk-...m", null, "u", team, Role.INTERNAL_USER, models, teamModels,
        List.of(), false, false, null, null);
  }

  @Test
  void emptyStarAndAllProxyModelsAllowEverything() {
    assertThat(ModelAccess.denial(key(Set.of(), null, Set.of()), "llama")).isNull();
    assertThat(ModelAccess.denial(key(Set.of("*"), null, Set.of()), "llama")).isNull();
    assertThat(ModelAccess.denial(key(Set.of("all-proxy-models"), null, Set.of()), "llama")).isNull();
  }

  @Test
  void aKeyListDeniesOtherModelsInLiteLlmsWords() {
    ModelAccess.Denial d = ModelAccess.denial(key(Set.of("b", "a"), null, Set.of()), "llama");
    assertThat(d.team()).isFalse();
    assertThat(d.message()).isEqualTo(
        "key not allowed to access model. This key can only access models=['a', 'b']. Tried to access llama");
  }

  @Test
  void theTeamListAppliesToo() {
    assertThat(ModelAccess.denial(key(Set.of(), "t1", Set.of("a")), "a")).isNull();
    ModelAccess.Denial d = ModelAccess.denial(key(Set.of(), "t1", Set.of("a")), "llama");
    assertThat(d.team()).isTrue();
    assertThat(d.message()).startsWith("team not allowed to access model. This team can only access models=['a']");
    assertThat(ModelAccess.denial(key(Set.of("all-team-models"), "t1", Set.of("a")), "a")).isNull();
    assertThat(ModelAccess.denial(key(Set.of("llama"), "t1", Set.of("a")), "llama").team()).isTrue();
  }
}
