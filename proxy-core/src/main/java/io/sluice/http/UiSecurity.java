package io.sluice.http;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.cookie.Cookie;
import io.netty.handler.codec.http.cookie.ServerCookieDecoder;
import io.netty.util.AsciiString;
import io.sluice.auth.Authenticator;
import io.sluice.auth.UiSessions;
import java.util.Locale;

/**
 * The admin UI's browser rules in one place: reading the session cookie, the CSRF check of a write made with it,
 * and the security headers of every UI response.
 *
 * <p>CSRF (OWASP's CSRF prevention cheat sheet): the cookie is {@code SameSite=Strict}, so a browser does not send it
 * on a request another site starts; and every write carried by the cookie must also carry the session's token in
 * {@code x-sluice-csrf} (a custom header a cross-site form cannot set, a cross-site script cannot read), and must not
 * come from another origin ({@code Origin}, {@code Sec-Fetch-Site}, when the browser sends them).
 */
final class UiSecurity {
  static final AsciiString CSRF_HEADER = AsciiString.cached("x-sluice-csrf");
  static final AsciiString SEC_FETCH_SITE = AsciiString.cached("sec-fetch-site");
  /** Scripts, styles and data only from Sluice itself; never framed (clickjacking), no inline script. */
  static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      + "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

  private UiSecurity() {}

  /** The session cookie's value, or null. */
  static String sessionId(HttpHeaders headers) {
    for (String h : headers.getAll(HttpHeaderNames.COOKIE)) {
      try {
        for (Cookie c : ServerCookieDecoder.LAX.decode(h)) {
          if (UiSessions.COOKIE.equals(c.name())) {
            return c.value();
          }
        }
      } catch (IllegalArgumentException e) {
        // a malformed Cookie header: no session
      }
    }
    return null;
  }

  /** Whether the request carries a key in a header (then the key decides, not a cookie). */
  static boolean hasKeyHeader(HttpHeaders headers) {
    return headers.contains(HttpHeaderNames.AUTHORIZATION) || headers.contains(Authenticator.X_LITELLM_API_KEY);
  }

  static boolean safeMethod(HttpMethod m) {
    return m.equals(HttpMethod.GET) || m.equals(HttpMethod.HEAD) || m.equals(HttpMethod.OPTIONS);
  }

  /** Why a request must not be trusted as coming from Sluice's own pages (another origin), or null. */
  static String crossOrigin(HttpRequest req) {
    HttpHeaders h = req.headers();
    String site = h.get(SEC_FETCH_SITE);
    if (site != null && !site.equalsIgnoreCase("same-origin") && !site.equalsIgnoreCase("none")) {
      return "the browser says it came from another site (Sec-Fetch-Site: " + shorten(site) + ")";
    }
    String origin = h.get(HttpHeaderNames.ORIGIN);
    if (origin != null) {
      String host = h.get(HttpHeaderNames.HOST);
      int s = origin.indexOf("://");
      String authority = s < 0 ? null : origin.substring(s + 3).toLowerCase(Locale.ROOT);
      if (host == null || authority == null || !authority.equals(host.toLowerCase(Locale.ROOT))) {
        return "its Origin (" + shorten(origin) + ") is not this server (" + (host == null ? "no Host" : shorten(host))
            + ")";
      }
    }
    return null;
  }

  /** Why a write carried by the session cookie is refused (CSRF), or null when it may go on. */
  static String csrfDenial(HttpRequest req, UiSessions.Session s) {
    if (safeMethod(req.method())) {
      return null;
    }
    String cross = crossOrigin(req);
    if (cross != null) {
      return "Cross-site request refused: " + cross + ".";
    }
    if (!UiSessions.csrfMatches(s, req.headers().get(CSRF_HEADER))) {
      return "CSRF check failed: a write made with the UI's session cookie must carry the session's token in the "
          + "x-sluice-csrf header (the UI does this; other clients should send a key instead).";
    }
    return null;
  }

  /** The headers of every UI response. */
  static HttpHeaders headers(boolean cacheable) {
    HttpHeaders h = new DefaultHttpHeaders();
    h.set("content-security-policy", CSP);
    h.set("x-content-type-options", "nosniff");
    h.set("x-frame-options", "DENY");
    h.set("referrer-policy", "no-referrer");
    h.set(HttpHeaderNames.CACHE_CONTROL, cacheable ? "no-cache" : "no-store");
    return h;
  }

  private static String shorten(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "…" : s;
  }
}
