package io.sluice.admin.db;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Where the database is, from what operators give:
 * <ul>
 *   <li>{@code jdbc:postgresql://host:port/db?user=…&password=…&sslmode=…} (any pgjdbc URL);</li>
 *   <li>LiteLLM's (Prisma's) {@code postgresql://user:password@host:port/db?sslmode=require&schema=…};</li>
 *   <li>{@code postgres://…}, the same.</li>
 * </ul>
 * User and password are percent-decoded and kept out of {@link #jdbcUrl()}. Other query parameters pass through as
 * JDBC properties: {@code schema} (Prisma) becomes {@code currentSchema}, libpq/Prisma spellings that pgjdbc names
 * differently are renamed, Prisma's pool settings are dropped. The password is a secret: it is never in
 * {@link #toString()}, {@link #describe()} or in any exception message.
 *
 * @param jdbcUrl  a {@code jdbc:postgresql:} URL without credentials
 * @param user     the user, or null
 * @param password the password, or null
 */
public record DatabaseUrl(String jdbcUrl, String user, String password) {
  private static final String JDBC = "jdbc:postgresql:";
  private static final String ENCODE_HINT = "percent-encode special characters (@ : / ? # % and spaces) in the user "
      + "and password";

  public DatabaseUrl {
    Objects.requireNonNull(jdbcUrl, "jdbcUrl");
    if (!jdbcUrl.startsWith(JDBC)) {
      throw new IllegalArgumentException("a JDBC URL must start with " + JDBC);
    }
  }

  /**
   * Parses any of the accepted forms.
   *
   * @throws IllegalArgumentException naming what is wrong (never quoting the password)
   */
  public static DatabaseUrl parse(String raw) {
    if (raw == null || raw.isBlank()) {
      throw new IllegalArgumentException("database URL is empty");
    }
    String s = raw.strip();
    if (s.startsWith(JDBC)) {
      return parseJdbc(s);
    }
    if (!s.startsWith("postgresql://") && !s.startsWith("postgres://")) {
      throw new IllegalArgumentException("database URL must start with postgresql://, postgres:// or "
          + "jdbc:postgresql:// (got " + scheme(s) + ")");
    }
    URI u;
    try {
      u = new URI(s);
    } catch (URISyntaxException e) {
      // getReason() and the index only: getMessage() would quote the input, password included.
      throw new IllegalArgumentException("database URL is not a valid URL (" + e.getReason() + " at index "
          + e.getIndex() + "); " + ENCODE_HINT);
    }
    if (u.getRawFragment() != null) {
      throw new IllegalArgumentException("database URL has a '#' fragment; " + ENCODE_HINT);
    }
    String host = u.getHost();
    if (host == null || host.isEmpty()) {
      String authority = u.getRawAuthority();
      throw new IllegalArgumentException("database URL has no valid host[:port]"
          + (authority != null && authority.contains(",") ? " (for several hosts use the jdbc:postgresql:// form)"
          : "") + "; " + ENCODE_HINT);
    }
    if (u.getPort() == 0 || u.getPort() > 65535) {
      throw new IllegalArgumentException("database URL has an invalid port (must be 1-65535)");
    }
    String user = null;
    String password = null;
    String info = u.getRawUserInfo();
    if (info != null) {
      int colon = info.indexOf(':');
      user = decode(colon < 0 ? info : info.substring(0, colon), "user");
      password = colon < 0 ? null : decode(info.substring(colon + 1), "password");
      if (user.isEmpty()) {
        user = null;
      }
    }
    String path = u.getRawPath();
    String db = path == null || path.length() <= 1 ? "postgres" : decode(path.substring(1), "database name");
    if (db.contains("/")) {
      throw new IllegalArgumentException("database URL path must be a single database name");
    }
    StringBuilder jdbc = new StringBuilder("jdbc:postgresql://").append(host);
    if (u.getPort() > 0) {
      jdbc.append(':').append(u.getPort());
    }
    jdbc.append('/').append(encode(db));
    Map<String, String> params = new LinkedHashMap<>();
    if (u.getRawQuery() != null) {
      for (String p : u.getRawQuery().split("&")) {
        if (p.isEmpty()) {
          continue;
        }
        int eq = p.indexOf('=');
        String k = decode(eq < 0 ? p : p.substring(0, eq), "query parameter name");
        String v = eq < 0 ? "" : decode(p.substring(eq + 1), "value of query parameter '" + k + "'");
        switch (k) {
          case "user" -> user = v;
          case "password" -> password = v;
          case "schema" -> params.put("currentSchema", v); // Prisma
          case "connect_timeout" -> params.put("connectTimeout", v); // libpq/Prisma seconds = pgjdbc seconds
          case "socket_timeout" -> params.put("socketTimeout", v);
          case "application_name" -> params.put("ApplicationName", v);
          case "pgbouncer" -> {
            if (Boolean.parseBoolean(v)) {
              params.put("prepareThreshold", "0"); // transaction pooling: no server-side prepared statements
            }
          }
          case "connection_limit", "pool_timeout", "statement_cache_size" -> { } // Prisma's own pool settings
          default -> params.put(k, v);
        }
      }
    }
    appendQuery(jdbc, params);
    return new DatabaseUrl(jdbc.toString(), user, password);
  }

  /** A {@code jdbc:postgresql:} URL: {@code user} and {@code password} parameters move into the components. */
  private static DatabaseUrl parseJdbc(String s) {
    int q = s.indexOf('?');
    String base = q < 0 ? s : s.substring(0, q);
    if (base.startsWith(JDBC + "//")) {
      String rest = base.substring(JDBC.length() + 2);
      int slash = rest.indexOf('/');
      String authority = slash < 0 ? rest : rest.substring(0, slash);
      if (authority.contains("@")) {
        throw new IllegalArgumentException("jdbc:postgresql:// URLs take the user and password as ?user=…&password=… "
            + "parameters, not user:password@host (or use postgresql://user:password@host/db)");
      }
    }
    String user = null;
    String password = null;
    Map<String, String> params = new LinkedHashMap<>();
    if (q >= 0) {
      for (String p : s.substring(q + 1).split("&")) {
        if (p.isEmpty()) {
          continue;
        }
        int eq = p.indexOf('=');
        String rawKey = eq < 0 ? p : p.substring(0, eq);
        String rawValue = eq < 0 ? "" : p.substring(eq + 1);
        switch (rawKey) {
          case "user" -> user = decodeForm(rawValue, "user");
          case "password" -> password = decodeForm(rawValue, "password");
          default -> params.put(rawKey, rawValue); // kept verbatim: pgjdbc decodes them itself
        }
      }
    }
    StringBuilder jdbc = new StringBuilder(base);
    String sep = "?";
    for (Map.Entry<String, String> e : params.entrySet()) {
      jdbc.append(sep).append(e.getKey()).append('=').append(e.getValue());
      sep = "&";
    }
    return new DatabaseUrl(jdbc.toString(), user, password);
  }

  /** {@code host:port/db} (no credentials, no parameters), for logs and messages. */
  public String describe() {
    String s = jdbcUrl.substring(JDBC.length());
    if (s.startsWith("//")) {
      s = s.substring(2);
    }
    int q = s.indexOf('?');
    return q < 0 ? s : s.substring(0, q);
  }

  /** The {@code currentSchema} parameter's first schema, or null (then the server's search_path decides). */
  public String schema() {
    int q = jdbcUrl.indexOf('?');
    if (q < 0) {
      return null;
    }
    for (String p : jdbcUrl.substring(q + 1).split("&")) {
      if (p.startsWith("currentSchema=")) {
        String v = URLDecoder.decode(p.substring("currentSchema=".length()), StandardCharsets.UTF_8);
        String first = v.split(",")[0].strip();
        return first.isEmpty() ? null : first;
      }
    }
    return null;
  }

  /** The same server, user and parameters, another database. */
  public DatabaseUrl withDatabase(String name) {
    if (!jdbcUrl.startsWith(JDBC + "//")) {
      throw new IllegalArgumentException("only jdbc:postgresql://host/db URLs can name another database");
    }
    int q = jdbcUrl.indexOf('?');
    String base = q < 0 ? jdbcUrl : jdbcUrl.substring(0, q);
    String query = q < 0 ? "" : jdbcUrl.substring(q);
    int slash = base.indexOf('/', JDBC.length() + 2);
    String server = slash < 0 ? base : base.substring(0, slash);
    return new DatabaseUrl(server + "/" + encode(name) + query, user, password);
  }

  @Override
  public String toString() {
    return "DatabaseUrl[" + describe() + ", user=" + user + ", password=" + (password == null ? "none" : "***") + "]";
  }

  private static void appendQuery(StringBuilder jdbc, Map<String, String> params) {
    String sep = "?";
    for (Map.Entry<String, String> e : params.entrySet()) {
      jdbc.append(sep).append(encode(e.getKey())).append('=').append(encode(e.getValue()));
      sep = "&";
    }
  }

  private static String scheme(String s) {
    int i = s.indexOf("://");
    if (i < 0) {
      return "no scheme";
    }
    String scheme = s.substring(0, i);
    return scheme.length() > 20 || !scheme.matches("[A-Za-z][A-Za-z0-9+.-]*") ? "an invalid scheme"
        : "'" + scheme + "://'";
  }

  /** Percent-decoding as in URIs: '+' stays '+'. */
  private static String decode(String s, String what) {
    return decodeForm(s.replace("+", "%2B"), what);
  }

  private static String decodeForm(String s, String what) {
    try {
      return URLDecoder.decode(s, StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      // URLDecoder's message quotes the input.
      throw new IllegalArgumentException("database URL: the " + what + " has a malformed %-escape; " + ENCODE_HINT);
    }
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
