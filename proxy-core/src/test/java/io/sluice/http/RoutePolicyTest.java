package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class RoutePolicyTest {
  @Test
  void emptyAllowsEverything() {
    assertThat(RoutePolicy.allows(List.of(), Route.MANAGEMENT, "/key/generate")).isTrue();
  }

  @Test
  void exactPathsWithOrWithoutV1AndPrefixes() {
    List<String> a = List.of("/chat/completions", "/key/*");
    assertThat(RoutePolicy.allows(a, Route.CHAT_COMPLETIONS, "/v1/chat/completions")).isTrue();
    assertThat(RoutePolicy.allows(a, Route.CHAT_COMPLETIONS, "/chat/completions")).isTrue();
    assertThat(RoutePolicy.allows(a, Route.EMBEDDINGS, "/v1/embeddings")).isFalse();
    assertThat(RoutePolicy.allows(a, Route.MANAGEMENT, "/key/info")).isTrue();
    assertThat(RoutePolicy.allows(a, Route.MANAGEMENT, "/user/info")).isFalse();
  }

  @Test
  void routeGroups() {
    assertThat(RoutePolicy.allows(List.of("llm_api_routes"), Route.EMBEDDINGS, "/v1/embeddings")).isTrue();
    assertThat(RoutePolicy.allows(List.of("llm_api_routes"), Route.MODELS, "/v1/models")).isTrue();
    assertThat(RoutePolicy.allows(List.of("llm_api_routes"), Route.MANAGEMENT, "/key/generate")).isFalse();
    assertThat(RoutePolicy.allows(List.of("management_routes"), Route.MANAGEMENT, "/key/generate")).isTrue();
    assertThat(RoutePolicy.allows(List.of("management_routes"), Route.CHAT_COMPLETIONS, "/v1/chat/completions"))
        .isFalse();
    assertThat(RoutePolicy.allows(List.of("info_routes"), Route.MANAGEMENT, "/key/info")).isTrue();
    assertThat(RoutePolicy.allows(List.of("info_routes"), Route.MANAGEMENT, "/key/generate")).isFalse();
    assertThat(RoutePolicy.allows(List.of("llm_api_routes"), Route.MESSAGES, "/v1/messages")).isTrue();
    assertThat(RoutePolicy.allows(List.of("anthropic_routes"), Route.MESSAGES, "/v1/messages")).isTrue();
    assertThat(RoutePolicy.allows(List.of("anthropic_routes"), Route.CHAT_COMPLETIONS, "/v1/chat/completions"))
        .isFalse();
    assertThat(RoutePolicy.allows(List.of("openai_routes"), Route.MESSAGES_COUNT_TOKENS,
        "/v1/messages/count_tokens")).as("LiteLLM keeps anthropic_routes apart from openai_routes").isFalse();
  }

  /** Issue 14 §4: the budget and end-user (customer) routes go to the admin plane. */
  @Test
  void budgetAndEndUserRoutesAreManagementRoutes() {
    for (String p : List.of("/budget/new", "/budget/list", "/customer/new", "/customer/block", "/end_user/info",
        "/team/member_update", "/team/model/add")) {
      assertThat(Route.forPath(p)).as(p).isEqualTo(Route.MANAGEMENT);
    }
    assertThat(Route.forPath("/customers")).isNull();
    assertThat(RoutePolicy.allows(List.of("management_routes"), Route.MANAGEMENT, "/customer/new")).isTrue();
  }

  /** Issue 15 §2: a stored response's paths, and nothing that merely looks like one. */
  @Test
  void storedResponsePathsAreTheirOwnRoute() {
    assertThat(Route.forPath("/v1/responses")).isEqualTo(Route.RESPONSES);
    assertThat(Route.forPath("/responses")).isEqualTo(Route.RESPONSES);
    for (String p : List.of("/v1/responses/resp_1", "/responses/resp_1", "/v1/responses/resp_1/cancel",
        "/v1/responses/resp_1/input_items")) {
      assertThat(Route.forPath(p)).as(p).isEqualTo(Route.RESPONSE_BY_ID);
      assertThat(Route.responseId(p)).as(p).isEqualTo("resp_1");
    }
    assertThat(Route.responseAction("/v1/responses/resp_1/cancel")).isEqualTo("/cancel");
    assertThat(Route.responseAction("/responses/resp_1")).isEmpty();
    assertThat(Route.forPath("/v1/responses/")).isNull();
    assertThat(Route.forPath("/v1/responsesX/1")).isNull();
    assertThat(Route.RESPONSE_BY_ID.countsUsage()).as("a retrieval generates nothing").isFalse();
    assertThat(RoutePolicy.allows(List.of("llm_api_routes"), Route.RESPONSE_BY_ID, "/v1/responses/r")).isTrue();
  }

  @Test
  void redactsKeysInPaths() {
    assertThat(PathNormalizer.redacted("/key/sk-abc123/regenerate")).isEqualTo("/key/sk-***/regenerate");
    assertThat(PathNormalizer.redacted("/v1/models")).isEqualTo("/v1/models");
  }

  /** The config loader's list of Sluice's own paths (which a pass-through entry may not take) is the route table. */
  @Test
  void theConfigLoadersServedPathsAreTheRouteTable() {
    assertThat(io.sluice.config.ConfigLoader.SERVED_PATHS).containsAll(Route.exactPaths());
    for (String p : io.sluice.config.ConfigLoader.SERVED_PATHS) {
      assertThat(Route.forPath(p)).as(p).isNotNull();
    }
    for (String family : io.sluice.config.ConfigLoader.SERVED_FAMILIES) {
      assertThat(Route.forPath(family + "/anything")).as(family).isNotNull();
    }
  }
}
