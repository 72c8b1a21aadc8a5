package io.sluice.http.wire;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.nio.charset.StandardCharsets;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * A request's header fields kept as the bytes they arrived in: {@link WireRequestDecoder} copies the field lines of a
 * parsed head into one array and records each field's name and value offsets, so no entry, name or value object is
 * made per field. Reads ({@link #get}, {@link #contains}, {@link #containsValue}) compare bytes; a value becomes a
 * {@code String} only when someone asks for it (then kept). Edits are recorded, not applied to the bytes: a removed
 * field is marked, a set or added one appended. {@link WireClientCodec}'s encoder writes the result with
 * {@link #writeFields}: runs of surviving original lines copied as they came, then the added ones — the upstream head
 * is the client's bytes with the relay's edits, not a re-encoded header map (issue 18).
 *
 * <p>Semantics are {@link io.netty.handler.codec.http.DefaultHttpHeaders}' (names case-insensitive, insertion order,
 * {@code set} = remove all then add, values as ISO-8859-1): {@code WireHeadersTest} checks every operation against it
 * on generated heads and edit sequences. The few operations nothing on the relay path uses ({@link #names},
 * {@link #entries}, date and short accessors, {@code add}/{@code set} of an {@code Iterable}) first turn this into an
 * ordinary {@code DefaultHttpHeaders} ({@link #inflated}), which then holds every field and edit; the encoder writes
 * an inflated map the ordinary way. Not thread-safe, as Netty's maps: owned by the exchange that holds the request.
 */
public final class WireHeaders extends HttpHeaders {
  private static final byte[] CRLF = {'\r', '\n'};
  private static final byte[] COLON_SP = {':', ' '};

  /** The field lines as received (from the first field's name to the last field's value). */
  private final byte[] bytes;
  /** Per original field: name start, name length (negative, {@code ~length}, once removed), value start, length. */
  private final int[] fields;
  private final int count;
  private int removed;
  /** Decoded values of original fields, made on first read; null until a value is asked for. */
  private String[] values;

  private CharSequence[] addedNames;
  private CharSequence[] addedValues;
  private int added;

  /** Once an operation without a byte-level form was used: every field and edit, in order; else null. */
  private HttpHeaders map;
  /** The Content-Length the decoder framed the body by, -1 = none (valid while no field was edited). */
  private final long framedLength;

  private WireHeaders(byte[] bytes, int[] fields, int count, long framedLength) {
    this.bytes = bytes;
    this.fields = fields;
    this.count = count;
    this.framedLength = framedLength;
  }

  /**
   * The request's Content-Length as a number, -1 when it has none: while no field was edited, the value the decoder
   * already parsed and framed the body by (no {@code String} made); after an edit, read from the fields as
   * {@link io.netty.handler.codec.http.HttpUtil#getContentLength(io.netty.handler.codec.http.HttpMessage, long)}
   * would.
   *
   * @throws NumberFormatException an edited Content-Length that is not a number
   */
  public long contentLength() {
    if (removed == 0 && added == 0 && map == null) {
      return framedLength;
    }
    String v = get(io.netty.handler.codec.http.HttpHeaderNames.CONTENT_LENGTH);
    return v == null ? -1 : Long.parseLong(v);
  }

  /** The fields of {@code h}, parsed at {@code base} of {@code in}: their lines copied, their offsets kept. */
  static WireHeaders of(ByteBuf in, int base, MessageHead h) {
    int n = h.headerCount;
    if (n == 0) {
      return new WireHeaders(new byte[0], new int[0], 0, h.contentLength);
    }
    int from = h.nameStart(0);
    int to = h.valueStart(n - 1) + h.valueLength(n - 1);
    byte[] b = new byte[to - from];
    in.getBytes(base + from, b);
    int[] f = new int[4 * n];
    for (int i = 0; i < n; i++) {
      f[4 * i] = h.nameStart(i) - from;
      f[4 * i + 1] = h.nameLength(i);
      f[4 * i + 2] = h.valueStart(i) - from;
      f[4 * i + 3] = h.valueLength(i);
    }
    return new WireHeaders(b, f, n, h.contentLength);
  }

  /** Whether an operation without a byte-level form turned this into an ordinary map (tests; the encoder). */
  public boolean inflated() {
    return map != null;
  }

  // ---- fields by index: originals 0 .. count-1, then the added ones ----

  private boolean live(int i) {
    return fields[4 * i + 1] >= 0;
  }

  private boolean nameIs(int i, CharSequence name) {
    int len = fields[4 * i + 1];
    if (len != name.length()) {
      return false;
    }
    int at = fields[4 * i];
    if (name instanceof AsciiString a) {
      byte[] arr = a.array();
      int off = a.arrayOffset();
      for (int k = 0; k < len; k++) {
        if (lower(bytes[at + k]) != lower(arr[off + k])) {
          return false;
        }
      }
      return true;
    }
    for (int k = 0; k < len; k++) {
      char c = name.charAt(k);
      if (c > 0x7f || lower(bytes[at + k]) != lower((byte) c)) {
        return false;
      }
    }
    return true;
  }

  private static byte lower(byte b) {
    return b >= 'A' && b <= 'Z' ? (byte) (b + 32) : b;
  }

  private String value(int i) {
    if (values == null) {
      values = new String[count];
    }
    String v = values[i];
    if (v == null) {
      v = recent(bytes, fields[4 * i + 2], fields[4 * i + 3]);
      values[i] = v;
    }
    return v;
  }

  /** Values no longer than this are remembered by {@link #recent}. */
  private static final int RECENT_MAX = 512;

  /** The values this thread read as strings lately, one slot per length modulo 4 (see {@link #recent}). */
  private static final io.netty.util.concurrent.FastThreadLocal<String[]> RECENT =
      new io.netty.util.concurrent.FastThreadLocal<>() {
        @Override
        protected String[] initialValue() {
          return new String[4];
        }
      };

  /**
   * {@code b[off, off + len)} as an ISO-8859-1 string: the one this thread made for the same bytes lately, if so. The
   * fields read as strings (the credential: {@code Authorization}, {@code x-api-key}) repeat from one request of a
   * connection to the next; this hands the same string on (which also lets the key's memoised parsing, hashing and
   * lookup hit) instead of a new one per request. The bytes are compared in constant time: the previous value may be
   * another client's key, and how long a compare takes must not tell how much of it a request's bytes share.
   */
  static String recent(byte[] b, int off, int len) {
    if (len > RECENT_MAX) {
      return new String(b, off, len, StandardCharsets.ISO_8859_1);
    }
    String[] slots = RECENT.get();
    int at = len & 3;
    String s = slots[at];
    if (s != null && s.length() == len) {
      int diff = 0;
      for (int k = 0; k < len; k++) {
        diff |= s.charAt(k) ^ (b[off + k] & 0xFF);
      }
      if (diff == 0) {
        return s;
      }
    }
    s = new String(b, off, len, StandardCharsets.ISO_8859_1);
    slots[at] = s;
    return s;
  }

  private AsciiString name(int i) {
    return KnownNames.of(bytes, fields[4 * i], fields[4 * i + 1]);
  }

  private void removeOriginal(int i) {
    fields[4 * i + 1] = ~fields[4 * i + 1];
    removed++;
  }

  private void removeAdded(int j) {
    System.arraycopy(addedNames, j + 1, addedNames, j, added - j - 1);
    System.arraycopy(addedValues, j + 1, addedValues, j, added - j - 1);
    added--;
    addedNames[added] = null;
    addedValues[added] = null;
  }

  private void append(CharSequence name, CharSequence value) {
    if (addedNames == null) {
      addedNames = new CharSequence[4];
      addedValues = new CharSequence[4];
    } else if (added == addedNames.length) {
      addedNames = Arrays.copyOf(addedNames, added * 2);
      addedValues = Arrays.copyOf(addedValues, added * 2);
    }
    addedNames[added] = name;
    addedValues[added] = value;
    added++;
  }

  private static CharSequence text(Object value) {
    if (value == null) {
      throw new NullPointerException("value");
    }
    return value instanceof CharSequence cs ? cs : value.toString();
  }

  private static boolean sameName(CharSequence a, CharSequence b) {
    return AsciiString.contentEqualsIgnoreCase(a, b);
  }

  /** Turns this into an ordinary map holding every surviving field and edit, in order; later calls use it. */
  private HttpHeaders inflate() {
    if (map == null) {
      HttpHeaders m = DefaultHttpHeadersFactory.headersFactory().withValidation(false).newHeaders();
      for (int i = 0; i < count; i++) {
        if (live(i)) {
          m.add(name(i), value(i));
        }
      }
      for (int j = 0; j < added; j++) {
        m.add(addedNames[j], addedValues[j]);
      }
      map = m;
      addedNames = addedValues = null;
      added = 0;
    }
    return map;
  }

  // ---- the encoder's side ----

  /**
   * Writes every field line (each ending with CRLF, without the empty line that ends a head) to {@code out}: the
   * surviving original lines as they arrived, adjacent ones in one copy, then the added fields. Returns false, writing
   * nothing, when this was inflated (the caller then encodes this as an ordinary map, which delegates to it).
   */
  boolean writeFields(ByteBuf out) {
    if (map != null) {
      return false;
    }
    int i = 0;
    while (i < count) {
      if (!live(i)) {
        i++;
        continue;
      }
      int start = fields[4 * i];
      int end = fields[4 * i + 2] + fields[4 * i + 3];
      int j = i + 1;
      // Adjacent lines: the next field's name starts two bytes after this value, which can only be its CRLF (the
      // parser refuses a bare LF, and whitespace after a value would make the gap longer): one copy for the run.
      while (j < count && live(j) && fields[4 * j] == end + 2) {
        end = fields[4 * j + 2] + fields[4 * j + 3];
        j++;
      }
      out.writeBytes(bytes, start, end - start);
      out.writeBytes(CRLF);
      i = j;
    }
    for (int k = 0; k < added; k++) {
      CharSequence n = addedNames[k];
      if (n instanceof AsciiString a) {
        out.writeBytes(a.array(), a.arrayOffset(), a.length());
      } else {
        out.writeCharSequence(n, StandardCharsets.US_ASCII);
      }
      out.writeBytes(COLON_SP);
      CharSequence v = addedValues[k];
      if (v instanceof AsciiString a) {
        out.writeBytes(a.array(), a.arrayOffset(), a.length());
      } else {
        out.writeCharSequence(v, StandardCharsets.US_ASCII);
      }
      out.writeBytes(CRLF);
    }
    return true;
  }

  // ---- byte-level forms for the relay's own scans ----

  /**
   * Fields so far, originals and added, removed ones included: the index range of {@link #valueAt}; -1 once inflated.
   * A removal through {@link #remove} closes up the added slots, so a caller that removes while scanning goes from
   * the last slot down and clamps its index to this afterwards.
   */
  public int fieldSlots() {
    return map != null ? -1 : count + added;
  }

  /** Whether slot {@code i} holds a field (not removed). */
  public boolean present(int i) {
    return i >= count || live(i);
  }

  /** Slot {@code i}'s value into {@code view}, which then reads it without a copy; returns {@code view}. */
  public Latin1View valueAt(int i, Latin1View view) {
    if (i < count) {
      return view.reset(bytes, fields[4 * i + 2], fields[4 * i + 3], null);
    }
    return view.reset(null, 0, 0, addedValues[i - count]);
  }

  /** The name of the field in slot {@code i}. */
  public CharSequence nameAt(int i) {
    return i < count ? name(i) : addedNames[i - count];
  }

  /**
   * A value seen in place: ISO-8859-1 bytes of a field without a copy, or an added value. Reused by one caller
   * across fields; {@link #toString} makes a string.
   */
  public static final class Latin1View implements CharSequence {
    private byte[] b;
    private int off;
    private int len;
    private CharSequence other;

    Latin1View reset(byte[] b, int off, int len, CharSequence other) {
      this.b = b;
      this.off = off;
      this.len = other == null ? len : other.length();
      this.other = other;
      return this;
    }

    /** Lets go of the value it showed (so a view kept for reuse holds no request's bytes): empty until reused. */
    public Latin1View clear() {
      return reset(null, 0, 0, "");
    }

    @Override
    public int length() {
      return len;
    }

    @Override
    public char charAt(int index) {
      if (other != null) {
        return other.charAt(index);
      }
      if (index < 0 || index >= len) {
        throw new IndexOutOfBoundsException(index);
      }
      return (char) (b[off + index] & 0xff);
    }

    @Override
    public CharSequence subSequence(int start, int end) {
      return toString().substring(start, end);
    }

    @Override
    public String toString() {
      return other != null ? other.toString() : new String(b, off, len, StandardCharsets.ISO_8859_1);
    }
  }

  // ---- HttpHeaders ----

  @Override
  public String get(String name) {
    return get((CharSequence) name);
  }

  @Override
  public String get(CharSequence name) {
    if (map != null) {
      return map.get(name);
    }
    for (int i = 0; i < count; i++) {
      if (live(i) && nameIs(i, name)) {
        return value(i);
      }
    }
    for (int j = 0; j < added; j++) {
      if (sameName(addedNames[j], name)) {
        return addedValues[j].toString();
      }
    }
    return null;
  }

  @Override
  public String get(CharSequence name, String defaultValue) {
    String v = get(name);
    return v == null ? defaultValue : v;
  }

  @Override
  public Integer getInt(CharSequence name) {
    String v = get(name);
    if (v == null) {
      return null;
    }
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  @Override
  public int getInt(CharSequence name, int defaultValue) {
    Integer v = getInt(name);
    return v == null ? defaultValue : v;
  }

  @Override
  public Short getShort(CharSequence name) {
    return inflate().getShort(name);
  }

  @Override
  public short getShort(CharSequence name, short defaultValue) {
    return inflate().getShort(name, defaultValue);
  }

  @Override
  public Long getTimeMillis(CharSequence name) {
    return inflate().getTimeMillis(name);
  }

  @Override
  public long getTimeMillis(CharSequence name, long defaultValue) {
    return inflate().getTimeMillis(name, defaultValue);
  }

  @Override
  public List<String> getAll(String name) {
    return getAll((CharSequence) name);
  }

  @Override
  public List<String> getAll(CharSequence name) {
    if (map != null) {
      return map.getAll(name);
    }
    List<String> out = null;
    for (int i = 0; i < count; i++) {
      if (live(i) && nameIs(i, name)) {
        if (out == null) {
          out = new ArrayList<>(2);
        }
        out.add(value(i));
      }
    }
    for (int j = 0; j < added; j++) {
      if (sameName(addedNames[j], name)) {
        if (out == null) {
          out = new ArrayList<>(2);
        }
        out.add(addedValues[j].toString());
      }
    }
    return out == null ? Collections.emptyList() : out;
  }

  @Override
  public Iterator<String> valueStringIterator(CharSequence name) {
    if (map != null) {
      return map.valueStringIterator(name);
    }
    return new Iterator<>() { // one object, the values found as it goes (no list)
      private int next = find(0);

      private int find(int from) {
        for (int i = from; i < count + added; i++) {
          if (i < count ? live(i) && nameIs(i, name) : sameName(addedNames[i - count], name)) {
            return i;
          }
        }
        return -1;
      }

      @Override
      public boolean hasNext() {
        return next >= 0;
      }

      @Override
      public String next() {
        if (next < 0) {
          throw new NoSuchElementException();
        }
        int i = next;
        next = find(i + 1);
        return i < count ? value(i) : addedValues[i - count].toString();
      }
    };
  }

  /**
   * Whether a {@code name} field's value, split at commas and trimmed, has {@code value} as one of its elements
   * (Netty's rule): original values compared in their bytes, no string made.
   */
  @Override
  public boolean containsValue(CharSequence name, CharSequence value, boolean ignoreCase) {
    if (map != null) {
      return map.containsValue(name, value, ignoreCase);
    }
    for (int i = 0; i < count; i++) {
      if (live(i) && nameIs(i, name) && hasElement(bytes, fields[4 * i + 2], fields[4 * i + 3], null, value,
          ignoreCase)) {
        return true;
      }
    }
    for (int j = 0; j < added; j++) {
      if (sameName(addedNames[j], name) && hasElement(null, 0, addedValues[j].length(), addedValues[j], value,
          ignoreCase)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Netty's {@code containsCommaSeparatedTrimmed} on {@code b[off, off + len)} (or on {@code cs}): an element between
   * commas, trimmed of characters up to SP, equals {@code v}; an empty element after a last comma is not one.
   */
  private static boolean hasElement(byte[] b, int off, int len, CharSequence cs, CharSequence v, boolean ic) {
    int begin = 0;
    boolean comma = false;
    for (int i = 0; i < len; i++) {
      if (at(b, off, cs, i) == ',') {
        if (element(b, off, cs, begin, i, v, ic)) {
          return true;
        }
        begin = i + 1;
        comma = true;
      }
    }
    return (!comma || begin < len) && element(b, off, cs, begin, len, v, ic);
  }

  private static boolean element(byte[] b, int off, CharSequence cs, int s, int e, CharSequence v, boolean ic) {
    while (s < e && at(b, off, cs, s) <= ' ') {
      s++;
    }
    while (e > s && at(b, off, cs, e - 1) <= ' ') {
      e--;
    }
    if (e - s != v.length()) {
      return false;
    }
    for (int k = 0; k < e - s; k++) {
      char c = at(b, off, cs, s + k);
      char d = v.charAt(k);
      if (c != d && !(ic && lowerAscii(c) == lowerAscii(d))) {
        return false;
      }
    }
    return true;
  }

  private static char lowerAscii(char c) {
    return c >= 'A' && c <= 'Z' ? (char) (c + 32) : c;
  }

  private static char at(byte[] b, int off, CharSequence cs, int i) {
    return cs != null ? cs.charAt(i) : (char) (b[off + i] & 0xff);
  }


  @Override
  public Iterator<? extends CharSequence> valueCharSequenceIterator(CharSequence name) {
    return valueStringIterator(name);
  }

  @Override
  public List<Map.Entry<String, String>> entries() {
    return inflate().entries();
  }

  @Override
  public boolean contains(String name) {
    return contains((CharSequence) name);
  }

  @Override
  public boolean contains(CharSequence name) {
    if (map != null) {
      return map.contains(name);
    }
    for (int i = 0; i < count; i++) {
      if (live(i) && nameIs(i, name)) {
        return true;
      }
    }
    for (int j = 0; j < added; j++) {
      if (sameName(addedNames[j], name)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public boolean contains(String name, String value, boolean ignoreCase) {
    return contains((CharSequence) name, value, ignoreCase);
  }

  @Override
  public boolean contains(CharSequence name, CharSequence value, boolean ignoreCase) {
    if (map != null) {
      return map.contains(name, value, ignoreCase);
    }
    for (int i = 0; i < count; i++) {
      if (live(i) && nameIs(i, name) && equal(value(i), value, ignoreCase)) {
        return true;
      }
    }
    for (int j = 0; j < added; j++) {
      if (sameName(addedNames[j], name) && equal(addedValues[j], value, ignoreCase)) {
        return true;
      }
    }
    return false;
  }

  private static boolean equal(CharSequence a, CharSequence b, boolean ignoreCase) {
    return ignoreCase ? AsciiString.contentEqualsIgnoreCase(a, b) : AsciiString.contentEquals(a, b);
  }

  @Override
  public Iterator<Map.Entry<String, String>> iterator() {
    if (map != null) {
      return map.iterator();
    }
    List<Map.Entry<String, String>> out = new ArrayList<>(count - removed + added);
    for (int i = 0; i < count; i++) {
      if (live(i)) {
        out.add(new AbstractMap.SimpleImmutableEntry<>(name(i).toString(), value(i)));
      }
    }
    for (int j = 0; j < added; j++) {
      out.add(new AbstractMap.SimpleImmutableEntry<>(addedNames[j].toString(), addedValues[j].toString()));
    }
    return Collections.unmodifiableList(out).iterator();
  }

  @Override
  public Iterator<Map.Entry<CharSequence, CharSequence>> iteratorCharSequence() {
    if (map != null) {
      return map.iteratorCharSequence();
    }
    return new Iterator<>() {
      private int next = advance(0);

      private int advance(int from) {
        int i = from;
        while (i < count && !live(i)) {
          i++;
        }
        return i;
      }

      @Override
      public boolean hasNext() {
        return next < count + added;
      }

      @Override
      public Map.Entry<CharSequence, CharSequence> next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        int i = next;
        next = advance(i + 1);
        return i < count ? new AbstractMap.SimpleImmutableEntry<>(name(i), value(i))
            : new AbstractMap.SimpleImmutableEntry<>(addedNames[i - count], addedValues[i - count]);
      }
    };
  }

  @Override
  public boolean isEmpty() {
    return size() == 0;
  }

  @Override
  public int size() {
    return map != null ? map.size() : count - removed + added;
  }

  @Override
  public Set<String> names() {
    if (map != null) {
      return map.names();
    }
    Set<String> out = new LinkedHashSet<>();
    for (Map.Entry<String, String> e : this) {
      out.add(e.getKey());
    }
    return out;
  }

  @Override
  public HttpHeaders add(String name, Object value) {
    return add((CharSequence) name, value);
  }

  @Override
  public HttpHeaders add(CharSequence name, Object value) {
    if (map != null) {
      map.add(name, value);
    } else {
      append(name, text(value));
    }
    return this;
  }

  @Override
  public HttpHeaders add(String name, Iterable<?> values) {
    inflate().add(name, values);
    return this;
  }

  @Override
  public HttpHeaders add(CharSequence name, Iterable<?> values) {
    inflate().add(name, values);
    return this;
  }

  @Override
  public HttpHeaders addInt(CharSequence name, int value) {
    return add(name, Integer.toString(value));
  }

  @Override
  public HttpHeaders addShort(CharSequence name, short value) {
    return add(name, Short.toString(value));
  }

  @Override
  public HttpHeaders set(String name, Object value) {
    return set((CharSequence) name, value);
  }

  @Override
  public HttpHeaders set(CharSequence name, Object value) {
    if (map != null) {
      map.set(name, value);
      return this;
    }
    CharSequence v = text(value);
    remove(name);
    append(name, v);
    return this;
  }

  @Override
  public HttpHeaders set(String name, Iterable<?> values) {
    inflate().set(name, values);
    return this;
  }

  @Override
  public HttpHeaders set(CharSequence name, Iterable<?> values) {
    inflate().set(name, values);
    return this;
  }

  @Override
  public HttpHeaders setInt(CharSequence name, int value) {
    return set(name, Integer.toString(value));
  }

  @Override
  public HttpHeaders setShort(CharSequence name, short value) {
    return set(name, Short.toString(value));
  }

  @Override
  public HttpHeaders remove(String name) {
    return remove((CharSequence) name);
  }

  @Override
  public HttpHeaders remove(CharSequence name) {
    if (map != null) {
      map.remove(name);
      return this;
    }
    for (int i = 0; i < count; i++) {
      if (live(i) && nameIs(i, name)) {
        removeOriginal(i);
      }
    }
    for (int j = added - 1; j >= 0; j--) {
      if (sameName(addedNames[j], name)) {
        removeAdded(j);
      }
    }
    return this;
  }

  @Override
  public HttpHeaders clear() {
    if (map != null) {
      map.clear();
      return this;
    }
    for (int i = 0; i < count; i++) {
      if (live(i)) {
        removeOriginal(i);
      }
    }
    if (addedNames != null) {
      Arrays.fill(addedNames, null);
      Arrays.fill(addedValues, null);
    }
    added = 0;
    return this;
  }

  @Override
  public HttpHeaders copy() {
    HttpHeaders m = DefaultHttpHeadersFactory.headersFactory().withValidation(false).newHeaders();
    for (Iterator<Map.Entry<CharSequence, CharSequence>> it = iteratorCharSequence(); it.hasNext(); ) {
      Map.Entry<CharSequence, CharSequence> e = it.next();
      m.add(e.getKey(), e.getValue());
    }
    return m;
  }
}
