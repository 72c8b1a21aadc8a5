package io.sluice.config;

import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One {@code general_settings.pass_through_endpoints[]} entry (LiteLLM's generic pass-through).
 *
 * @param path               the route Sluice serves, normalised: starts with {@code /}, no trailing slash (except
 *                           {@code "/"} itself, which is refused), no {@code ..}/{@code //}
 * @param target             absolute http(s) URL the requests go to (no trailing slash)
 * @param includeSubpath     {@code include_subpath}: also serve {@code path/…}, appending the rest to the target
 * @param headers            {@code headers} to send upstream, {@code os.environ/NAME} resolved anywhere in a value;
 *                           never contains {@code litellm_user_api_key} (see {@code keyHeader})
 * @param keyHeader          {@code headers.litellm_user_api_key}: the client header that carries the Sluice key for
 *                           this route (lower-case), or null for the usual ones
 * @param forwardHeaders     {@code forward_headers}: copy the client's headers (except hop-by-hop, host,
 *                           content-length and the proxy credential)
 * @param auth               {@code auth}: a valid Sluice key of any role is required; false = no key needed
 * @param methods            {@code methods} upper-case, or empty = every method
 * @param defaultQueryParams {@code default_query_params}: added when the client's query does not set them
 */
public record PassThroughEndpoint(
    String path,
    URI target,
    boolean includeSubpath,
    Map<String, Secret> headers,
    String keyHeader,
    boolean forwardHeaders,
    boolean auth,
    List<String> methods,
    Map<String, String> defaultQueryParams) {

  public PassThroughEndpoint {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(target, "target");
    headers = Map.copyOf(headers);
    methods = List.copyOf(methods);
    defaultQueryParams = Map.copyOf(defaultQueryParams);
  }

  /** Whether this endpoint serves {@code requestPath} (a normalised path without query). */
  public boolean matches(String requestPath) {
    return requestPath.equals(path) || (includeSubpath && requestPath.startsWith(path)
        && requestPath.charAt(path.length()) == '/');
  }
}
