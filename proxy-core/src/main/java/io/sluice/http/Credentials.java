package io.sluice.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import io.sluice.auth.Authenticator;
import io.sluice.config.Secret;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The credentials of one exchange that must never leave Sluice, on any route class (issue 13, finding 1): the token
 * that authenticated the caller, the master key, and every other Sluice key the request presented (found valid by
 * {@link AuthHandler} before anything is relayed). {@link #scrub} is the one place that enforces it: after the
 * route's own header rules ran, every header whose value equals one of them, carries one as
 * {@code <scheme> <token>}, or contains one, is dropped — whatever its name. So "forward the client's headers" can
 * never mean "forward the caller's key because it also came in another header". Plaintext lives only here, for the
 * exchange's lifetime; never logged. Event loop only.
 */
final class Credentials {
  /** Headers whose value Sluice may read as a credential, or that carry API keys by convention. */
  static final AsciiString[] KEY_HEADERS = {Authenticator.X_LITELLM_API_KEY, HttpHeaderNames.AUTHORIZATION,
      HeaderRules.X_API_KEY, HeaderRules.API_KEY};

  /** Below this length a secret is only matched whole: a short one could occur inside unrelated values. */
  private static final int MIN_CONTAINED = 8;

  private final String accepted;
  private final Secret master;
  private List<String> others;

  private Credentials(String accepted, Secret master) {
    this.accepted = accepted;
    this.master = master;
  }

  /** No credential was presented (a public route, or {@code auth: false}): only the master key is known. */
  static Credentials none(Authenticator a) {
    return new Credentials(null, a.masterKey());
  }

  /** The credential read from {@code header} (the one that authenticated), plus the master key. */
  static Credentials of(HttpHeaders h, AsciiString header, Authenticator a) {
    String token = header == null ? null : token(h.get(header));
    return new Credentials(token, a.masterKey());
  }

  /** Another Sluice key the request presented (found valid): never forwarded either. */
  void add(String token) {
    if (others == null) {
      others = new ArrayList<>(2);
    }
    others.add(token);
  }

  /**
   * The {@code sk-} tokens of {@code h}'s key headers (and {@code extra}, a route's own key header) that are not
   * the accepted credential, the master key or a key this node already knows: what must be looked up before the
   * request may be relayed with those headers. Empty (and allocation-free) in the common case.
   */
  List<String> unknownCandidates(HttpHeaders h, String extra, Authenticator a) {
    List<String> out = List.of();
    for (int i = 0; i <= KEY_HEADERS.length; i++) {
      CharSequence name = i < KEY_HEADERS.length ? KEY_HEADERS[i] : extra;
      if (name == null) {
        continue;
      }
      if (!h.contains(name)) {
        continue; // the common case: no list allocated for a header that is not there
      }
      for (java.util.Iterator<? extends CharSequence> it = h.valueCharSequenceIterator(name); it.hasNext(); ) {
        CharSequence cs = it.next();
        if (accepted != null && carries(cs, accepted)) {
          continue; // carries the accepted credential (every request): scrubbed anyway, no token string cut out
        }
        String t = token(cs.toString());
        if (t != null && t.startsWith("sk-") && !t.equals(accepted) && !a.isKnownCredential(t)
            && !out.contains(t)) {
          if (out.isEmpty()) {
            out = new ArrayList<>(2);
          }
          out.add(t);
        }
      }
    }
    return out;
  }

  /**
   * Whether {@code value} carries a credential of this exchange or one Sluice knows: equal to it, {@code <scheme>
   * <it>}, or containing it.
   */
  boolean carried(CharSequence value, Authenticator a) {
    if (value == null) {
      return false;
    }
    if (accepted != null && carries(value, accepted)) {
      return true;
    }
    if (master != null && carries(value, master.reveal())) {
      return true;
    }
    if (others != null) {
      for (String o : others) {
        if (carries(value, o)) {
          return true;
        }
      }
    }
    if (indexOf(value, "sk-", 0) < 0) {
      return false; // no virtual key can be in it: no token to look at (the common case, without allocating)
    }
    String t = token(value.toString());
    return t != null && t.startsWith("sk-") && a.isKnownCredential(t);
  }

  /** The scrub's view of a value, one per thread (an event loop scrubs one head at a time, start to end). */
  private static final io.netty.util.concurrent.FastThreadLocal<io.sluice.http.wire.WireHeaders.Latin1View> VIEW =
      new io.netty.util.concurrent.FastThreadLocal<>() {
        @Override
        protected io.sluice.http.wire.WireHeaders.Latin1View initialValue() {
          return new io.sluice.http.wire.WireHeaders.Latin1View();
        }
      };

  /** Removes every header of {@code h} whose value {@link #carried} a credential. */
  void scrub(HttpHeaders h, Authenticator a) {
    if (h instanceof io.sluice.http.wire.WireHeaders w && w.fieldSlots() >= 0) {
      // A request head kept as bytes: each value read in place, no entry or string per field.
      io.sluice.http.wire.WireHeaders.Latin1View view = VIEW.get();
      try {
        for (int i = w.fieldSlots() - 1; i >= 0; i--) {
          if (w.present(i) && carried(w.valueAt(i, view), a)) {
            w.remove(w.nameAt(i)); // every field of that name, as below
            i = Math.min(i, w.fieldSlots());
          }
        }
      } finally {
        view.clear();
      }
      return;
    }
    List<CharSequence> drop = null;
    for (Iterator<Map.Entry<CharSequence, CharSequence>> it = h.iteratorCharSequence(); it.hasNext(); ) {
      Map.Entry<CharSequence, CharSequence> e = it.next();
      if (carried(e.getValue(), a)) {
        if (drop == null) {
          drop = new ArrayList<>(2);
        }
        drop.add(e.getKey());
      }
    }
    if (drop != null) {
      for (CharSequence n : drop) {
        h.remove(n);
      }
    }
  }

  /**
   * Whether {@code v} is {@code secret}, {@code <scheme> <secret>} (spaces around allowed), or — for a secret long
   * enough not to occur by chance — contains it. Allocation-free: this runs for every header of every request.
   */
  private static boolean carries(CharSequence v, String secret) {
    int n = secret.length();
    int len = v.length();
    if (len < n) {
      return false;
    }
    if (n >= MIN_CONTAINED) {
      return indexOf(v, secret, 0) >= 0;
    }
    int start = 0;
    int end = len;
    while (start < end && v.charAt(start) == ' ') {
      start++;
    }
    while (end > start && v.charAt(end - 1) == ' ') {
      end--;
    }
    if (end - start < n || !regionEquals(v, end - n, secret)) {
      return false;
    }
    int before = end - n;
    if (before == start) {
      return true;
    }
    int schemeEnd = before;
    while (schemeEnd > start && v.charAt(schemeEnd - 1) == ' ') {
      schemeEnd--;
    }
    if (schemeEnd == before || schemeEnd == start) {
      return false; // no space before the secret, or nothing but spaces
    }
    for (int i = start; i < schemeEnd; i++) {
      char c = v.charAt(i);
      if (!(Character.isLetterOrDigit(c) || c == '-' || c == '_')) {
        return false;
      }
    }
    return true;
  }

  private static int indexOf(CharSequence v, String s, int from) {
    char first = s.charAt(0);
    for (int i = from; i <= v.length() - s.length(); i++) {
      if (v.charAt(i) == first && regionEquals(v, i, s)) {
        return i;
      }
    }
    return -1;
  }

  private static boolean regionEquals(CharSequence v, int at, String s) {
    for (int j = 0; j < s.length(); j++) {
      if (v.charAt(at + j) != s.charAt(j)) {
        return false;
      }
    }
    return true;
  }

  /** A header value as a token: trimmed, with an auth scheme ({@code Bearer }, {@code Basic }, …) removed. */
  static String token(String v) {
    if (v == null) {
      return null;
    }
    if (io.sluice.auth.Authenticator.startsWithBearer(v) && v.trim() == v) {
      // The usual Authorization value: the key auth cut out of this very String (no second substring).
      String k = io.sluice.auth.Authenticator.bearerKey(v);
      return k.isEmpty() ? null : k;
    }
    String t = v.trim();
    int sp = t.indexOf(' ');
    if (sp > 0 && sp < t.length() - 1 && isScheme(t, sp)) {
      t = t.substring(sp + 1).trim();
    }
    return t.isEmpty() ? null : t;
  }

  private static boolean isScheme(String t, int end) {
    for (int i = 0; i < end; i++) {
      char c = t.charAt(i);
      if (!(Character.isLetterOrDigit(c) || c == '-' || c == '_')) {
        return false;
      }
    }
    return true;
  }
}
