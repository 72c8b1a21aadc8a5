package io.sluice.http;

import java.util.List;
import java.util.Set;

/**
 * A key's {@code allowed_routes} (litellm/proxy/auth/route_checks.py, is_virtual_key_allowed_to_call_route): an
 * empty list allows every route the caller's role may call; otherwise the path must match one entry — an exact
 * path, a prefix ending in {@code *} ({@code /key/*}), or the name of one of LiteLLM's route groups:
 * {@code openai_routes} (the OpenAI routes and {@code /v1/models}), {@code anthropic_routes} ({@code /v1/messages},
 * {@code /v1/messages/count_tokens}), {@code llm_api_routes} (both, and the pass-through routes),
 * {@code info_routes} (the read-only info endpoints), {@code management_routes} (every {@code /key|user|team|model}
 * endpoint). A key's {@code key_type} maps onto these groups when the key is issued.
 */
final class RoutePolicy {
  static final Set<String> GROUPS = Set.of("openai_routes", "anthropic_routes", "llm_api_routes", "info_routes",
      "management_routes");

  private static final Set<String> INFO = Set.of("/key/info", "/key/list", "/user/info", "/user/list", "/team/info",
      "/team/list", "/model/info", "/v1/model/info", "/v2/model/info", "/model_group/info", "/v1/models", "/models", "/health");

  private RoutePolicy() {}

  static boolean allows(List<String> allowedRoutes, Route route, String path) {
    if (allowedRoutes.isEmpty()) {
      return true;
    }
    for (String a : allowedRoutes) {
      if (matches(a, route, path)) {
        return true;
      }
    }
    return false;
  }

  private static boolean matches(String allowed, Route route, String path) {
    if (allowed.startsWith("/")) {
      if (allowed.endsWith("*")) {
        return path.startsWith(allowed.substring(0, allowed.length() - 1));
      }
      return allowed.equals(path) || ("/v1" + allowed).equals(path) || allowed.equals("/v1" + path);
    }
    return switch (allowed) {
      case "openai_routes" -> (route.routeClass == Route.RouteClass.LLM && route.family == Route.Family.OPENAI)
          || route == Route.MODELS || route == Route.MODEL;
      // LiteLLM's anthropic_routes: /v1/messages and its count_tokens.
      case "anthropic_routes" -> route.routeClass == Route.RouteClass.LLM && route.family == Route.Family.ANTHROPIC;
      // LiteLLM's llm_api_routes also admit the pass-through routes (/vllm/*, configured endpoints).
      case "llm_api_routes" -> route.routeClass == Route.RouteClass.LLM || route == Route.MODELS
          || route == Route.MODEL
          || route.routeClass == Route.RouteClass.PASSTHROUGH;
      case "info_routes" -> INFO.contains(path);
      case "management_routes" -> route.routeClass == Route.RouteClass.MANAGEMENT;
      default -> false;
    };
  }
}
