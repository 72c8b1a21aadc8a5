package io.sluice.management;

import io.netty.handler.codec.http.QueryStringDecoder;
import io.sluice.auth.Principal;
import java.util.List;
import java.util.Map;

/**
 * One management call as the data plane read it.
 *
 * @param method    the HTTP method, e.g. {@code POST}
 * @param path      the normalised path without query, e.g. {@code /key/generate}
 * @param rawQuery  the query without {@code ?}, or empty
 * @param body      the request body (empty for none)
 * @param caller    the authenticated caller
 * @param requestId the request's {@code x-request-id}
 * @param changedBy LiteLLM's {@code litellm-changed-by} header (audit), or null
 */
public record ManagementRequest(String method, String path, String rawQuery, byte[] body, Principal caller,
    String requestId, String changedBy) {

  /** The decoded query parameters. */
  public Map<String, List<String>> query() {
    return new QueryStringDecoder(rawQuery, false).parameters();
  }

  /** The first value of query parameter {@code name}, or null. */
  public String queryParam(String name) {
    List<String> v = query().get(name);
    return v == null || v.isEmpty() ? null : v.get(0);
  }
}
