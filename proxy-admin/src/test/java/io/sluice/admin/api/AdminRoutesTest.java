package io.sluice.admin.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.admin.api.AdminHarness.Reply;
import io.sluice.auth.Principal;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Issue 14 §2: the admin plane's route table ({@code GET /routes} lists it) is exactly what it answers. */
class AdminRoutesTest {
  static AdminHarness h;

  @BeforeAll
  static void up() {
    h = new AdminHarness();
  }

  @AfterAll
  static void down() {
    h.close();
  }

  @Test
  void everyListedRouteAndMethodIsAnsweredAndNoOtherMethod() {
    Map<String, List<String>> routes = h.api.routes();
    assertThat(routes).containsKeys("/organization/new", "/organization/member_delete", "/key/generate",
        "/customer/block", "/end_user/block", "/global/activity/model");
    assertThat(routes.get("/organization/update")).containsExactly("PATCH", "POST");
    for (Map.Entry<String, List<String>> r : routes.entrySet()) {
      String path = r.getKey().replace("{key}", "sk-nope");
      for (String m : List.of("GET", "POST", "PATCH", "DELETE")) {
        Reply reply = h.call(Principal.MASTER, m, path, m.equals("GET") ? null : "{}");
        boolean routed = !(reply.status() == 404 && reply.message().startsWith("Route "));
        assertThat(routed).as(m + " " + path + " is a route: " + reply.json()).isTrue();
        assertThat(reply.status() == 405).as(m + " " + path + " → " + reply.json())
            .isEqualTo(!r.getValue().contains(m));
      }
    }
  }
}
