package io.sluice.routing;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.config.DeploymentConfig;
import io.sluice.config.Provider;
import java.net.URI;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Issue 15 §2: response ids that name their replica, the same on every node, parsed strictly. */
class ResponseIdsTest {
  @Test
  void theTagIsAFunctionOfTheDeploymentIdOnly() {
    // A fixed value: every node, every version, maps an id to this tag (a change here strands stored responses).
    assertThat(ResponseIds.tag("fake-a")).isEqualTo(ResponseIds.tag("fake-a")).hasSize(ResponseIds.TAG_LENGTH)
        .matches("[0-9a-f]{12}");
    assertThat(ResponseIds.tag("fake-a")).isNotEqualTo(ResponseIds.tag("fake-b"));
    // SHA-256("fake-a") starts with these six bytes.
    assertThat(ResponseIds.tag("fake-a")).isEqualTo(sha256Prefix("fake-a"));
  }

  @Test
  void newIdsCarryTheTagAndAreUnique() {
    String tag = ResponseIds.tag("d1");
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 10_000; i++) {
      String id = ResponseIds.newId(tag);
      assertThat(id).matches("resp_[0-9a-f]{12}_[0-9a-f]{32}").startsWith("resp_" + tag + "_");
      assertThat(ResponseIds.tagOf(id)).isEqualTo(tag);
      assertThat(seen.add(id)).isTrue();
    }
  }

  @Test
  void idsNotMadeBySluiceHaveNoTag() {
    String tag = ResponseIds.tag("d1");
    for (String id : List.of("", "resp_", "resp_0123456789ab", "resp_0123456789ab-x", "resp_0123456789AB_x",
        "resp_0123456789ag_x", "resp_6f1b2c3d4e5f60718293a4b5c6d7e8f9", "chatcmpl-1", "xresp_" + tag + "_1")) {
      assertThat(ResponseIds.tagOf(id)).as(id).isNull();
    }
    assertThat(ResponseIds.tagOf(null)).isNull();
    assertThat(ResponseIds.tagOf("resp_" + tag + "_a")).isEqualTo(tag);
  }

  @Test
  void theRegistryFindsTheDeploymentOfATagAndNoneForARemovedOne() {
    DeploymentConfig a = new DeploymentConfig("m", Provider.HOSTED_VLLM, "m", URI.create("http://a:8000/v1"), null,
        null, null, null, null, "rep-a");
    DeploymentConfig b = new DeploymentConfig("m", Provider.HOSTED_VLLM, "m", URI.create("http://b:8000/v1"), null,
        null, null, null, null, "rep-b");
    DeploymentRegistry both = DeploymentRegistry.of(List.of(a, b));
    // Two registries built from the same config (two nodes) agree.
    DeploymentRegistry other = DeploymentRegistry.of(List.of(a, b));
    for (String id : List.of("rep-a", "rep-b")) {
      String tag = ResponseIds.tag(id);
      assertThat(both.byResponseTag(tag).id()).isEqualTo(id);
      assertThat(other.byResponseTag(tag).id()).isEqualTo(id);
    }
    DeploymentRegistry onlyA = DeploymentRegistry.of(List.of(a));
    assertThat(onlyA.byResponseTag(ResponseIds.tag("rep-b"))).isNull();
  }

  private static String sha256Prefix(String s) {
    try {
      byte[] h = java.security.MessageDigest.getInstance("SHA-256")
          .digest(s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      return java.util.HexFormat.of().formatHex(h, 0, 6);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }
}
