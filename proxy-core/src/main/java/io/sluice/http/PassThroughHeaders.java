package io.sluice.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import io.sluice.auth.Authenticator;
import io.sluice.config.PassThroughEndpoint;
import io.sluice.config.Secret;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Headers of a configured pass-through request. With {@code forward_headers}, the client's headers go on except
 * hop-by-hop ones, {@code Host}, {@code Content-Length} and the header that carried the Sluice credential (LiteLLM
 * forwards that one: issue #32202); without it, only {@code Content-Type} and {@code Accept}. Either way a client
 * header {@code x-pass-<name>} is sent as {@code <name>} — never for a credential header — and the endpoint's
 * configured {@code headers} are set last, so they win.
 */
final class PassThroughHeaders {
  private static final String X_PASS = "x-pass-";
  /** Names an {@code x-pass-} header may never set: credentials, and what the relay owns. */
  private static final Set<String> NEVER = Set.of("authorization", "proxy-authorization", "x-api-key", "api-key",
      "x-litellm-api-key", "x-goog-api-key", "cookie", "host", "content-length", "transfer-encoding", "connection",
      "keep-alive", "te", "trailer", "upgrade", "expect", "x-request-id");
  private static final Set<String> MINIMAL = Set.of("content-type", "accept", "x-request-id");

  private PassThroughHeaders() {}

  static void toUpstream(PassThroughEndpoint e, HttpHeaders h, AsciiString credentialHeader, String requestId) {
    List<Map.Entry<String, String>> passed = new ArrayList<>(2);
    for (Map.Entry<String, String> hdr : h) {
      String name = hdr.getKey().toLowerCase(Locale.ROOT);
      if (name.startsWith(X_PASS) && name.length() > X_PASS.length()) {
        String target = name.substring(X_PASS.length());
        if (!NEVER.contains(target) && (credentialHeader == null || !credentialHeader.contentEqualsIgnoreCase(target))
            && (e.keyHeader() == null || !e.keyHeader().equals(target))) {
          passed.add(Map.entry(target, hdr.getValue()));
        }
      }
    }
    HeaderRules.removeHopByHop(h);
    if (credentialHeader != null) {
      h.remove(credentialHeader);
    }
    if (e.keyHeader() != null) {
      h.remove(e.keyHeader());
    }
    h.remove(Authenticator.X_LITELLM_API_KEY);
    if (!e.forwardHeaders()) {
      List<String> drop = new ArrayList<>();
      for (String name : h.names()) {
        if (!MINIMAL.contains(name.toLowerCase(Locale.ROOT))) {
          drop.add(name);
        }
      }
      drop.forEach(h::remove);
    } else {
      List<String> drop = new ArrayList<>();
      for (String name : h.names()) {
        if (name.regionMatches(true, 0, X_PASS, 0, X_PASS.length())) {
          drop.add(name);
        }
      }
      drop.forEach(h::remove);
    }
    h.remove(HttpHeaderNames.HOST);
    h.remove(HttpHeaderNames.CONTENT_LENGTH);
    h.remove(HttpHeaderNames.EXPECT);
    h.remove(HttpHeaderNames.TRANSFER_ENCODING);
    for (Map.Entry<String, String> p : passed) {
      h.set(p.getKey(), p.getValue());
    }
    h.set(Exchange.X_REQUEST_ID, requestId);
  }

  /** The endpoint's configured headers (secrets: revealed only into the outgoing request). */
  static void apply(PassThroughEndpoint e, HttpHeaders h) {
    for (Map.Entry<String, Secret> c : e.headers().entrySet()) {
      h.set(c.getKey(), c.getValue().reveal());
    }
  }
}
