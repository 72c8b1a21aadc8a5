package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.List;

/**
 * Header names as the clients of an LLM gateway send them (curl, the OpenAI and Anthropic SDKs, browsers) and as
 * replicas answer them (uvicorn, which sends them lower-case), each one {@link AsciiString} shared by every message: a
 * name that matches one byte for byte is not copied. Exact match only, so a name keeps the case it was sent in (a
 * name not in the table, or in another case, is copied as it is). Likewise {@link #value} for the few field values
 * replicas repeat on every response. Event loop and any thread: immutable.
 */
final class KnownNames {
  private static final int MAX = 40;
  private static final AsciiString[][] BY_LENGTH = new AsciiString[MAX + 1][];

  static {
    String[] names = {"host", "content-type", "content-length", "authorization", "accept", "user-agent",
        "connection", "accept-encoding", "accept-language", "x-request-id", "transfer-encoding", "x-api-key",
        "x-litellm-api-key", "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access",
        "x-stainless-lang", "x-stainless-package-version", "x-stainless-os", "x-stainless-arch",
        "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-retry-count", "x-stainless-timeout",
        "x-stainless-helper-method", "x-stainless-async", "openai-organization", "openai-project", "origin",
        "referer", "cookie", "expect", "te", "traceparent", "tracestate", "keep-alive", "x-forwarded-for",
        "x-forwarded-proto", "x-real-ip", "cache-control", "pragma", "priority", "sec-fetch-mode", "x-fake-tokens",
        "x-fake-stream", "x-fake-itl-ms", "x-litellm-timeout",
        // responses
        "date", "server", "content-encoding", "vary", "retry-after", "location", "www-authenticate", "set-cookie",
        "upgrade", "etag", "last-modified", "access-control-allow-origin", "access-control-allow-credentials",
        "access-control-expose-headers", "x-content-type-options", "strict-transport-security", "trailer"};
    List<List<AsciiString>> lists = new ArrayList<>();
    for (int i = 0; i <= MAX; i++) {
      lists.add(new ArrayList<>());
    }
    for (String n : names) {
      for (String form : new String[] {n, canonical(n)}) {
        if (form.length() <= MAX && !lists.get(form.length()).contains(AsciiString.of(form))) {
          lists.get(form.length()).add(AsciiString.cached(form));
        }
      }
    }
    for (int i = 0; i <= MAX; i++) {
      BY_LENGTH[i] = lists.get(i).toArray(new AsciiString[0]);
    }
  }

  private static final String[][] VALUES_BY_LENGTH = new String[MAX + 1][];

  static {
    String[] values = {"application/json", "text/event-stream; charset=utf-8", "text/event-stream", "uvicorn",
        "chunked", "keep-alive", "close", "text/plain; charset=utf-8", "application/json; charset=utf-8", "0",
        "text/plain", "nosniff", "*", "Accept-Encoding"};
    List<List<String>> lists = new ArrayList<>();
    for (int i = 0; i <= MAX; i++) {
      lists.add(new ArrayList<>());
    }
    for (String v : values) {
      lists.get(v.length()).add(v);
    }
    for (int i = 0; i <= MAX; i++) {
      VALUES_BY_LENGTH[i] = lists.get(i).toArray(new String[0]);
    }
  }

  private KnownNames() {}

  /** The field value at {@code in[at, at + len)}: a shared string when it is one of the table's, else a new one. */
  static String value(ByteBuf in, int at, int len) {
    if (len <= MAX) {
      for (String k : VALUES_BY_LENGTH[len]) {
        if (same(in, at, k, len)) {
          return k;
        }
      }
    }
    return in.toString(at, len, java.nio.charset.StandardCharsets.ISO_8859_1);
  }

  private static boolean same(ByteBuf in, int at, String k, int len) {
    for (int i = 0; i < len; i++) {
      if (in.getByte(at + i) != (byte) k.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** {@code Content-Type} for {@code content-type}: each word capitalised, as curl and most SDKs send them. */
  private static String canonical(String n) {
    StringBuilder b = new StringBuilder(n.length());
    boolean up = true;
    for (int i = 0; i < n.length(); i++) {
      char c = n.charAt(i);
      b.append(up ? Character.toUpperCase(c) : c);
      up = c == '-';
    }
    return b.toString();
  }

  /** The name at {@code in[at, at + len)}: the shared instance when it is one of the table's, else a copy. */
  static AsciiString of(ByteBuf in, int at, int len) {
    if (len <= MAX) {
      for (AsciiString k : BY_LENGTH[len]) {
        if (same(in, at, k, len)) {
          return k;
        }
      }
    }
    byte[] b = new byte[len];
    in.getBytes(at, b);
    return new AsciiString(b, false);
  }

  /** As {@link #of(ByteBuf, int, int)}, for a name in {@code in[at, at + len)}. */
  static AsciiString of(byte[] in, int at, int len) {
    if (len <= MAX) {
      for (AsciiString k : BY_LENGTH[len]) {
        if (java.util.Arrays.equals(in, at, at + len, k.array(), k.arrayOffset(), k.arrayOffset() + len)) {
          return k;
        }
      }
    }
    return new AsciiString(in, at, len, true);
  }

  private static boolean same(ByteBuf in, int at, AsciiString k, int len) {
    byte[] a = k.array();
    int off = k.arrayOffset();
    for (int i = 0; i < len; i++) {
      if (in.getByte(at + i) != a[off + i]) {
        return false;
      }
    }
    return true;
  }
}
