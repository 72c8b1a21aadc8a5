package io.sluice.server.redis;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sluice.auth.KeyHash;
import io.sluice.auth.KeyLimits;
import io.sluice.auth.KeyRecord;
import io.sluice.auth.Role;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The wire form of a {@link KeyRecord} in the shared cache (key prefix {@code sluice:key:v1:}): a JSON object with
 * explicit snake_case names, independent of the Java field names, so a rename in Java cannot silently change what
 * other nodes read. Every node of a rolling deploy reads what every other node writes, hence:
 *
 * <ul>
 *   <li>unknown fields are ignored (a newer node may add some);</li>
 *   <li>absent optional fields read as their empty value (null, empty list, no limits);</li>
 *   <li>{@code hash} and {@code role} are required, and a field of the wrong type, an unknown role or a hash that is
 *       not the looked-up one makes the whole value malformed: the caller treats it as a miss.</li>
 * </ul>
 *
 * <pre>{@code
 * {"hash":"<64 hex>","key_name":"sk-...abcd","key_alias":null,"user_id":"u1","team_id":null,
 *  "role":"internal_user","models":["a"],"team_models":[],"allowed_routes":[],"blocked":false,
 *  "team_blocked":false,"expires":1767225600000,
 *  "limits":{"tpm_limit":null,"rpm_limit":60,"max_parallel_requests":null,"max_budget":10.5,"spend":0.25}}
 * }</pre>
 *
 * {@code expires} is epoch milliseconds (sub-millisecond precision is dropped). Sets are written sorted, so equal
 * records encode to equal strings. Never contains a plaintext key: the record holds only its hash and masked name.
 */
public final class KeyRecordCodec {
  /** A value that could not be read as a record of the expected key. */
  public static final class MalformedException extends Exception {
    MalformedException(String message) {
      super(message, null, false, false);
    }
  }

  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final JsonFactory FACTORY = MAPPER.getFactory();
  private static final Map<String, Role> ROLES = new HashMap<>();

  static {
    for (Role r : Role.values()) {
      ROLES.put(r.wireName(), r);
    }
  }

  private KeyRecordCodec() {}

  /**
   * Encodes {@code r}.
   *
   * @throws IllegalArgumentException if a number cannot be represented (a non-finite budget or spend)
   */
  public static String encode(KeyRecord r) {
    KeyLimits l = r.limits();
    for (KeyLimits x : new KeyLimits[] {l, r.userLimits(), r.teamLimits(), r.memberLimits()}) {
      if (!Double.isFinite(x.spend()) || (x.maxBudget() != null && !Double.isFinite(x.maxBudget()))) {
        throw new IllegalArgumentException("key record " + r.hash().prefix() + ": spend and budget must be finite");
      }
    }
    StringWriter out = new StringWriter(256);
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("hash", r.hash().hex());
      writeNullable(g, "key_name", r.keyName());
      writeNullable(g, "key_alias", r.alias());
      writeNullable(g, "user_id", r.userId());
      writeNullable(g, "team_id", r.teamId());
      g.writeStringField("role", r.role().wireName());
      writeStrings(g, "models", new TreeSet<>(r.models()));
      writeStrings(g, "team_models", new TreeSet<>(r.teamModels()));
      if (!r.userModels().isEmpty()) {
        writeStrings(g, "user_models", new TreeSet<>(r.userModels())); // absent = none (older entries read back so)
      }
      if (!r.aliases().isEmpty()) {
        g.writeObjectFieldStart("aliases");
        for (java.util.Map.Entry<String, String> e : new java.util.TreeMap<>(r.aliases()).entrySet()) {
          g.writeStringField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
      }
      writeStrings(g, "allowed_routes", r.allowedRoutes());
      g.writeBooleanField("blocked", r.blocked());
      g.writeBooleanField("team_blocked", r.teamBlocked());
      if (r.expires() == null) {
        g.writeNullField("expires");
      } else {
        g.writeNumberField("expires", r.expires().toEpochMilli());
      }
      writeLimits(g, "limits", l, true);
      writeLimits(g, "user_limits", r.userLimits(), false);
      writeLimits(g, "team_limits", r.teamLimits(), false);
      writeLimits(g, "member_limits", r.memberLimits(), false);
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a StringWriter does not fail
    }
    return out.toString();
  }

  /**
   * Decodes a value read for {@code expected}.
   *
   * @throws MalformedException if it is not JSON of this shape or belongs to another key; the message names the
   *                            offending field, never its value
   */
  public static KeyRecord decode(String json, KeyHash expected) throws MalformedException {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (IOException | RuntimeException e) {
      throw new MalformedException("not JSON");
    }
    if (root == null || !root.isObject()) {
      throw new MalformedException("not a JSON object");
    }
    String hash = requiredText(root, "hash");
    if (!hash.equals(expected.hex())) {
      throw new MalformedException("hash is not the looked-up key's");
    }
    String roleName = requiredText(root, "role");
    Role role = ROLES.get(roleName);
    if (role == null) {
      throw new MalformedException("unknown role");
    }
    KeyLimits limits = readLimits(root, "limits");
    KeyLimits userLimits = readLimits(root, "user_limits");
    KeyLimits teamLimits = readLimits(root, "team_limits");
    Long expires = optionalLong(root, "expires");
    return new KeyRecord(
        new KeyHash(hash),
        optionalText(root, "key_name"),
        optionalText(root, "key_alias"),
        optionalText(root, "user_id"),
        optionalText(root, "team_id"),
        role,
        new LinkedHashSet<>(strings(root, "models")),
        new LinkedHashSet<>(strings(root, "team_models")),
        strings(root, "allowed_routes"),
        optionalBoolean(root, "blocked"),
        optionalBoolean(root, "team_blocked"),
        expires == null ? null : Instant.ofEpochMilli(expires),
        limits, userLimits, teamLimits, new LinkedHashSet<>(strings(root, "user_models")), aliases(root),
        readLimits(root, "member_limits"));
  }

  private static java.util.Map<String, String> aliases(JsonNode root) throws MalformedException {
    JsonNode a = root.get("aliases");
    if (a == null || a.isNull()) {
      return java.util.Map.of();
    }
    if (!a.isObject()) {
      throw new MalformedException("aliases: not an object");
    }
    java.util.Map<String, String> out = new java.util.HashMap<>();
    for (java.util.Iterator<java.util.Map.Entry<String, JsonNode>> it = a.fields(); it.hasNext(); ) {
      java.util.Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual()) {
        throw new MalformedException("aliases: not a string");
      }
      out.put(e.getKey(), e.getValue().asText());
    }
    return out;
  }

  private static void writeLimits(JsonGenerator g, String name, KeyLimits l, boolean always) throws IOException {
    if (!always && l.equals(KeyLimits.NONE)) {
      return; // absent = none (also how records cached before user/team limits existed read back)
    }
    g.writeObjectFieldStart(name);
    writeNullable(g, "tpm_limit", l.tpmLimit());
    writeNullable(g, "rpm_limit", l.rpmLimit());
    if (l.maxParallelRequests() == null) {
      g.writeNullField("max_parallel_requests");
    } else {
      g.writeNumberField("max_parallel_requests", l.maxParallelRequests());
    }
    if (l.maxBudget() == null) {
      g.writeNullField("max_budget");
    } else {
      g.writeNumberField("max_budget", l.maxBudget());
    }
    g.writeNumberField("spend", l.spend());
    if (l.budgetResetAt() != null) {
      g.writeNumberField("budget_reset_at", l.budgetResetAt().toEpochMilli());
    }
    g.writeEndObject();
  }

  private static KeyLimits readLimits(JsonNode root, String name) throws MalformedException {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) {
      return KeyLimits.NONE;
    }
    if (!n.isObject()) {
      throw new MalformedException(name + ": not an object");
    }
    Long tpm = optionalLong(n, "tpm_limit");
    Long rpm = optionalLong(n, "rpm_limit");
    Long parallel = optionalLong(n, "max_parallel_requests");
    if (parallel != null && (parallel < Integer.MIN_VALUE || parallel > Integer.MAX_VALUE)) {
      throw new MalformedException(name + ".max_parallel_requests: out of range");
    }
    Double budget = optionalDouble(n, "max_budget");
    Double spend = optionalDouble(n, "spend");
    Long reset = optionalLong(n, "budget_reset_at");
    return new KeyLimits(tpm, rpm, parallel == null ? null : parallel.intValue(), budget, spend == null ? 0 : spend,
        reset == null ? null : Instant.ofEpochMilli(reset));
  }

  private static void writeNullable(JsonGenerator g, String name, String value) throws IOException {
    if (value == null) {
      g.writeNullField(name);
    } else {
      g.writeStringField(name, value);
    }
  }

  private static void writeNullable(JsonGenerator g, String name, Long value) throws IOException {
    if (value == null) {
      g.writeNullField(name);
    } else {
      g.writeNumberField(name, value);
    }
  }

  private static void writeStrings(JsonGenerator g, String name, Collection<String> values) throws IOException {
    g.writeArrayFieldStart(name);
    for (String v : values) {
      g.writeString(v);
    }
    g.writeEndArray();
  }

  private static String requiredText(JsonNode o, String name) throws MalformedException {
    String v = optionalText(o, name);
    if (v == null) {
      throw new MalformedException(name + ": missing");
    }
    return v;
  }

  private static String optionalText(JsonNode o, String name) throws MalformedException {
    JsonNode n = o.get(name);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isTextual()) {
      throw new MalformedException(name + ": not a string");
    }
    return n.textValue();
  }

  private static boolean optionalBoolean(JsonNode o, String name) throws MalformedException {
    JsonNode n = o.get(name);
    if (n == null || n.isNull()) {
      return false;
    }
    if (!n.isBoolean()) {
      throw new MalformedException(name + ": not a boolean");
    }
    return n.booleanValue();
  }

  private static Long optionalLong(JsonNode o, String name) throws MalformedException {
    JsonNode n = o.get(name);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isIntegralNumber() || !n.canConvertToLong()) {
      throw new MalformedException(name + ": not an integer");
    }
    return n.longValue();
  }

  private static Double optionalDouble(JsonNode o, String name) throws MalformedException {
    JsonNode n = o.get(name);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isNumber()) {
      throw new MalformedException(name + ": not a number");
    }
    double d = n.doubleValue();
    if (!Double.isFinite(d)) {
      throw new MalformedException(name + ": not finite");
    }
    return d;
  }

  private static List<String> strings(JsonNode o, String name) throws MalformedException {
    JsonNode n = o.get(name);
    if (n == null || n.isNull()) {
      return List.of();
    }
    if (!n.isArray()) {
      throw new MalformedException(name + ": not an array");
    }
    List<String> out = new ArrayList<>(n.size());
    for (JsonNode e : n) {
      if (!e.isTextual()) {
        throw new MalformedException(name + ": not an array of strings");
      }
      out.add(e.textValue());
    }
    return out;
  }
}
