package io.sluice.server.redis;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * How to reach the Redis that holds the shared (L2) key cache, as resolved from the environment by
 * {@link #fromEnv}. The password is a secret: {@link #toString()}, {@link #describe()} and every exception message
 * built here show {@code ***} or nothing in its place.
 *
 * @param host     host name or IP literal (IPv6 without brackets)
 * @param port     TCP port, 1..65535
 * @param username ACL user name, or null for the default user
 * @param password password, or null for none
 * @param ssl      TLS ({@code rediss://} or {@code REDIS_SSL=true})
 * @param database logical database index, &gt;= 0
 */
public record RedisSettings(String host, int port, String username, String password, boolean ssl, int database) {
  public static final int DEFAULT_PORT = 6379;

  public RedisSettings {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("redis: host must not be empty");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("redis: port must be 1-65535, got " + port);
    }
    if (database < 0) {
      throw new IllegalArgumentException("redis: database must be >= 0, got " + database);
    }
    if (username != null && username.isEmpty()) {
      username = null;
    }
    if (password != null && password.isEmpty()) {
      password = null;
    }
  }

  /** Plain connection to {@code host:port}, database 0, no credentials. */
  public static RedisSettings of(String host, int port) {
    return new RedisSettings(host, port, null, null, false, 0);
  }

  /**
   * Resolves the settings: {@code REDIS_URL} ({@code redis://} or {@code rediss://}, optional
   * {@code user:password@}, optional {@code /db}) wins; else {@code REDIS_HOST} with {@code REDIS_PORT} (default
   * 6379), {@code REDIS_USERNAME}, {@code REDIS_PASSWORD} and {@code REDIS_SSL} ({@code true}/{@code false}); else
   * empty, meaning no shared cache. A {@code REDIS_URL} without a password takes {@code REDIS_PASSWORD} if set (a
   * password kept in a secret, the address in plain config). Blank values count as unset.
   *
   * @throws IllegalArgumentException naming the variable at fault (never echoing a password)
   */
  public static Optional<RedisSettings> fromEnv(Map<String, String> env) {
    String url = blankToNull(env.get("REDIS_URL"));
    String envPassword = blankToNull(env.get("REDIS_PASSWORD"));
    if (url != null) {
      RedisSettings s = parseUrl(url, "REDIS_URL");
      if (s.password() == null && envPassword != null) {
        s = new RedisSettings(s.host(), s.port(), s.username(), envPassword, s.ssl(), s.database());
      }
      return Optional.of(s);
    }
    String host = blankToNull(env.get("REDIS_HOST"));
    if (host == null) {
      return Optional.empty();
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port = parsePort(blankToNull(env.get("REDIS_PORT")), "REDIS_PORT");
    boolean ssl = parseBoolean(blankToNull(env.get("REDIS_SSL")), "REDIS_SSL");
    return Optional.of(new RedisSettings(host, port, blankToNull(env.get("REDIS_USERNAME")), envPassword, ssl, 0));
  }

  /**
   * Parses {@code redis://[[user]:password@]host[:port][/db]} or the same with {@code rediss://} (TLS). User and
   * password may be percent-encoded. A query string is ignored.
   *
   * @param what names the source in error messages (e.g. {@code REDIS_URL})
   */
  public static RedisSettings parseUrl(String url, String what) {
    String usage = what + ": expected redis://[user:password@]host[:port][/db] or rediss://...";
    int sep = url.indexOf("://");
    if (sep <= 0) {
      throw new IllegalArgumentException(usage);
    }
    String scheme = url.substring(0, sep).toLowerCase(Locale.ROOT);
    boolean ssl;
    if (scheme.equals("redis")) {
      ssl = false;
    } else if (scheme.equals("rediss")) {
      ssl = true;
    } else {
      throw new IllegalArgumentException(usage + (scheme.matches("[a-z][a-z0-9+.-]{0,15}")
          ? " (scheme '" + scheme + "' is not supported)" : ""));
    }
    String rest = url.substring(sep + 3);
    int fragment = rest.indexOf('#');
    if (fragment >= 0) {
      rest = rest.substring(0, fragment);
    }
    int query = rest.indexOf('?');
    if (query >= 0) {
      rest = rest.substring(0, query);
    }
    // The user info may itself contain '/' (an unencoded password), so the authority ends at the first '/' after
    // the last '@'.
    int at = rest.lastIndexOf('@');
    int slash = rest.indexOf('/', Math.max(at, 0));
    String authority = slash >= 0 ? rest.substring(0, slash) : rest;
    String path = slash >= 0 ? rest.substring(slash + 1) : "";

    String username = null;
    String password = null;
    String hostPort = authority;
    if (at >= 0) {
      String userInfo = authority.substring(0, at);
      hostPort = authority.substring(at + 1);
      int colon = userInfo.indexOf(':');
      if (colon >= 0) {
        username = decode(userInfo.substring(0, colon), what + ": bad percent-encoding in the user name");
        password = decode(userInfo.substring(colon + 1), what + ": bad percent-encoding in the password");
      } else if (!userInfo.isEmpty()) {
        // redis://secret@host: Redis' own convention (and Lettuce's) reads a lone user-info as the password.
        password = decode(userInfo, what + ": bad percent-encoding in the password");
      }
    }

    String host;
    String portText = null;
    if (hostPort.startsWith("[")) {
      int close = hostPort.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException(what + ": unterminated IPv6 address");
      }
      host = hostPort.substring(1, close);
      String after = hostPort.substring(close + 1);
      if (!after.isEmpty()) {
        if (!after.startsWith(":")) {
          throw new IllegalArgumentException(usage);
        }
        portText = after.substring(1);
      }
    } else {
      int colon = hostPort.lastIndexOf(':');
      if (colon >= 0) {
        host = hostPort.substring(0, colon);
        portText = hostPort.substring(colon + 1);
      } else {
        host = hostPort;
      }
    }
    if (host.isEmpty()) {
      throw new IllegalArgumentException(what + ": no host");
    }
    if (!host.matches("[A-Za-z0-9._:%-]+")) {
      throw new IllegalArgumentException(what + ": bad host name");
    }
    int port = parsePort(portText == null || portText.isEmpty() ? null : portText, what + " port");

    int database = 0;
    if (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    if (!path.isEmpty()) {
      try {
        database = Integer.parseInt(path);
      } catch (NumberFormatException e) {
        database = -1;
      }
      if (database < 0) {
        throw new IllegalArgumentException(what + ": database must be a non-negative number, got '"
            + (path.length() > 20 ? path.substring(0, 20) + "…" : path) + "'");
      }
    }
    return new RedisSettings(host, port, username, password, ssl, database);
  }

  /** {@code host:port/db} for logs and error messages; never credentials. */
  public String describe() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return h + ":" + port + "/" + database;
  }

  @Override
  public String toString() {
    String userInfo = username == null && password == null ? ""
        : (username == null ? "" : username) + (password == null ? "" : ":***") + "@";
    return "RedisSettings[" + (ssl ? "rediss://" : "redis://") + userInfo + describe() + "]";
  }

  private static int parsePort(String text, String what) {
    if (text == null) {
      return DEFAULT_PORT;
    }
    int port;
    try {
      port = Integer.parseInt(text.trim());
    } catch (NumberFormatException e) {
      port = -1;
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException(what + ": expected a port number 1-65535, got '"
          + (text.length() > 20 ? text.substring(0, 20) + "…" : text) + "'");
    }
    return port;
  }

  private static boolean parseBoolean(String text, String what) {
    if (text == null) {
      return false;
    }
    switch (text.trim().toLowerCase(Locale.ROOT)) {
      case "true":
      case "1":
      case "yes":
        return true;
      case "false":
      case "0":
      case "no":
        return false;
      default:
        throw new IllegalArgumentException(what + ": expected true or false");
    }
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s.trim();
  }

  /** RFC 3986 percent-decoding ('+' stays '+'); the error message is given, never the input. */
  private static String decode(String s, String error) {
    if (s.indexOf('%') < 0) {
      return s;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '%') {
        if (i + 2 >= s.length()) {
          throw new IllegalArgumentException(error);
        }
        int hi = Character.digit(s.charAt(i + 1), 16);
        int lo = Character.digit(s.charAt(i + 2), 16);
        if (hi < 0 || lo < 0) {
          throw new IllegalArgumentException(error);
        }
        out.write(hi << 4 | lo);
        i += 2;
      } else {
        byte[] b = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
        if (Character.isHighSurrogate(c) && i + 1 < s.length()) {
          b = s.substring(i, i + 2).getBytes(StandardCharsets.UTF_8);
          i++;
        }
        out.write(b, 0, b.length);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }
}
