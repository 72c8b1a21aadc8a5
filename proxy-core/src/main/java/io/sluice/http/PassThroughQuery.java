package io.sluice.http;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** A pass-through endpoint's {@code default_query_params} merged into the client's query (the client's win). */
final class PassThroughQuery {
  private PassThroughQuery() {}

  /** {@code query} is empty or starts with {@code ?}; so does the result. */
  static String merge(String query, Map<String, String> defaults) {
    if (defaults.isEmpty()) {
      return query;
    }
    java.util.Set<String> present = new java.util.HashSet<>();
    if (query.length() > 1) {
      for (String p : query.substring(1).split("&")) {
        int eq = p.indexOf('=');
        present.add(java.net.URLDecoder.decode(eq < 0 ? p : p.substring(0, eq), StandardCharsets.UTF_8));
      }
    }
    StringBuilder sb = new StringBuilder(query);
    for (Map.Entry<String, String> e : new java.util.TreeMap<>(defaults).entrySet()) {
      if (!present.contains(e.getKey())) {
        sb.append(sb.length() == 0 ? '?' : '&').append(URLEncoder.encode(e.getKey(), StandardCharsets.UTF_8))
            .append('=').append(URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8));
      }
    }
    return sb.toString();
  }
}
