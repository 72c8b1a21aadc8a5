package io.sluice.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.List;

/**
 * Which headers cross the gateway. Hop-by-hop headers (RFC 9110 §7.6.1) and any header a {@code Connection}
 * header names are connection-specific and never forwarded; nor is any credential meant for Sluice or a
 * client's own provider key. Everything else — {@code traceparent}, other {@code x-*} — passes. Edits headers in
 * place: no copy of the header map per request.
 */
final class HeaderRules {
  static final AsciiString KEEP_ALIVE = AsciiString.cached("keep-alive");
  static final AsciiString PROXY_CONNECTION = AsciiString.cached("proxy-connection");
  static final AsciiString X_API_KEY = io.sluice.auth.Authenticator.X_API_KEY;
  static final AsciiString API_KEY = AsciiString.cached("api-key");

  private HeaderRules() {}

  /** Whether every Connection field is just {@code keep-alive} or {@code close} (so it names no field to remove). */
  private static boolean namesNoField(HttpHeaders h) {
    java.util.Iterator<String> it = h.valueStringIterator(HttpHeaderNames.CONNECTION);
    while (it.hasNext()) {
      String v = it.next().trim();
      if (!HttpHeaderValues.KEEP_ALIVE.contentEqualsIgnoreCase(v) && !HttpHeaderValues.CLOSE.contentEqualsIgnoreCase(v)) {
        return false;
      }
    }
    return true;
  }

  /** Removes what RFC 9110 §7.6.1 says a proxy must not forward, except {@code Transfer-Encoding}. */
  static void removeHopByHop(HttpHeaders h) {
    // The common Connection: keep-alive (or close) names no field: removed without splitting anything.
    if (h.contains(HttpHeaderNames.CONNECTION) && !namesNoField(h)) {
      List<String> named = h.getAll(HttpHeaderNames.CONNECTION);
      List<String> names = new ArrayList<>(2);
      for (String v : named) {
        for (String token : v.split(",")) {
          String t = token.trim();
          if (!t.isEmpty()) {
            names.add(t);
          }
        }
      }
      for (String n : names) {
        // "Connection: transfer-encoding" must not remove the framing of the message itself.
        if (!HttpHeaderNames.TRANSFER_ENCODING.contentEqualsIgnoreCase(n)
            && !HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(n)) {
          h.remove(n);
        }
      }
    }
    for (AsciiString n : HOP_BY_HOP) {
      h.remove(n);
    }
  }

  /**
   * What a proxy never forwards whatever {@code Connection} names (RFC 9110 §7.6.1, and the proxy credentials);
   * {@code Transfer-Encoding} is the message's own framing and is not among them.
   */
  private static final AsciiString[] HOP_BY_HOP = {HttpHeaderNames.CONNECTION, KEEP_ALIVE, PROXY_CONNECTION,
      HttpHeaderNames.TE, HttpHeaderNames.TRAILER, HttpHeaderNames.UPGRADE, HttpHeaderNames.PROXY_AUTHORIZATION,
      HttpHeaderNames.PROXY_AUTHENTICATE};
  private static final byte[][] HOP_BY_HOP_LOWER = new byte[HOP_BY_HOP.length][];

  static {
    for (int i = 0; i < HOP_BY_HOP.length; i++) {
      HOP_BY_HOP_LOWER[i] = HOP_BY_HOP[i].toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }
  }

  /** {@link #removeHopByHop}'s fixed list for a head kept as bytes: whether field {@code i} of {@code head} is on it. */
  static boolean hopByHop(io.sluice.http.wire.WireResponseDecoder.Head head, int i) {
    for (byte[] name : HOP_BY_HOP_LOWER) {
      if (head.nameIs(i, name)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Prepares a client request's headers to go to a replica: hop-by-hop removed, the proxy credential removed (the
   * header auth recorded, and {@code Authorization} and {@code x-litellm-api-key} in any case), client provider
   * keys removed, {@code Expect} removed (the body was already read), and the request id set. {@code Host},
   * {@code Authorization} (the replica's own key) and {@code Content-Length} are set per attempt by the relay.
   */
  static void toUpstream(HttpHeaders h, AsciiString credentialHeader, String requestId) {
    removeHopByHop(h);
    if (credentialHeader != null) {
      h.remove(credentialHeader);
    }
    h.remove(HttpHeaderNames.AUTHORIZATION);
    h.remove(io.sluice.auth.Authenticator.X_LITELLM_API_KEY);
    h.remove(X_API_KEY);
    h.remove(API_KEY);
    h.remove(HttpHeaderNames.EXPECT);
    h.remove(HttpHeaderNames.TRANSFER_ENCODING);
    h.set(Exchange.X_REQUEST_ID, requestId);
  }

  /**
   * BYOK ({@code forward_llm_provider_auth_headers}): the client's provider key from {@code x-api-key}, else
   * {@code api-key} (header names are case-insensitive), as {@code Bearer <key>} — unless that header carried the
   * caller's Sluice credential, or carries any Sluice credential: those are never provider keys. Null when there is
   * none. The header that authenticated is the one the auth step recorded ({@code credentialHeader}), whichever it
   * was (LiteLLM PR #22964, review findings 2 and 4: decided from what auth accepted, not from which headers are
   * present, and no fallback branch that turns BYOK off for a header not foreseen); when it is unknown (null: no
   * credential was read, e.g. {@code --allow-unauthenticated}) nothing is forwarded (finding 3).
   */
  static AsciiString providerAuthorization(HttpHeaders h, AsciiString credentialHeader, Credentials credentials,
      io.sluice.auth.Authenticator auth) {
    if (credentialHeader == null) {
      return null;
    }
    for (AsciiString name : new AsciiString[] {X_API_KEY, API_KEY}) {
      if (credentialHeader.contentEqualsIgnoreCase(name)) {
        continue;
      }
      String v = h.get(name);
      if (v != null && !v.isBlank()) {
        String key = v.trim();
        if (key.regionMatches(true, 0, "Bearer ", 0, 7)) {
          key = key.substring(7).trim();
        }
        if (credentials.carried(key, auth)) {
          continue; // a Sluice key (the caller's, in a second header, or any this node knows) is no provider key
        }
        return AsciiString.of("Bearer " + key);
      }
    }
    return null;
  }
}
