package io.sluice.admin.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * A management request's JSON body with typed reads: a wrong type is a 400 that names the field and the expected
 * type. Fields LiteLLM accepts that Sluice does not use are ignored (LiteLLM's pydantic models ignore unknown
 * fields too); {@link #unknown(Set)} lists them for the debug log.
 */
public final class Body {
  static final ObjectMapper JSON = new ObjectMapper();
  private final ObjectNode node;

  private Body(ObjectNode node) {
    this.node = node;
  }

  public static Body parse(byte[] bytes) {
    if (bytes.length == 0) {
      return new Body(JSON.createObjectNode());
    }
    JsonNode n;
    try {
      n = JSON.readTree(bytes);
    } catch (JsonProcessingException e) {
      throw ApiException.badRequest(null, "Request body is not valid JSON (line " + e.getLocation().getLineNr()
          + ", column " + e.getLocation().getColumnNr() + "): " + e.getOriginalMessage());
    } catch (java.io.IOException e) {
      throw ApiException.badRequest(null, "Request body could not be read: " + e.getMessage());
    }
    if (n == null || n.isMissingNode()) {
      return new Body(JSON.createObjectNode());
    }
    if (!n.isObject()) {
      throw ApiException.badRequest(null, "Request body must be a JSON object, got " + kind(n) + ".");
    }
    return new Body((ObjectNode) n);
  }

  public static Body of(ObjectNode node) {
    return new Body(node);
  }

  /** The field is present (possibly null). */
  public boolean has(String f) {
    return node.has(f);
  }

  /** The field is present and not null. */
  public boolean present(String f) {
    JsonNode n = node.get(f);
    return n != null && !n.isNull();
  }

  public String string(String f) {
    JsonNode n = node.get(f);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isTextual()) {
      throw type(f, "a string", n);
    }
    return n.asText();
  }

  public String requiredString(String f) {
    String s = string(f);
    if (s == null || s.isBlank()) {
      throw ApiException.badRequest(f, f + " is required.");
    }
    return s;
  }

  public List<String> strings(String f) {
    JsonNode n = node.get(f);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isArray()) {
      throw type(f, "a list of strings", n);
    }
    List<String> out = new ArrayList<>(n.size());
    for (int i = 0; i < n.size(); i++) {
      JsonNode e = n.get(i);
      if (!e.isTextual()) {
        throw type(f + "[" + i + "]", "a string", e);
      }
      out.add(e.asText());
    }
    return out;
  }

  public Long nonNegativeLong(String f) {
    JsonNode n = node.get(f);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isIntegralNumber() && !(n.isNumber() && n.asDouble() == Math.rint(n.asDouble()))) {
      throw type(f, "a whole number", n);
    }
    if (!n.canConvertToLong() || n.asLong() < 0) {
      throw ApiException.badRequest(f, f + ": " + n + " is out of range (expected a whole number >= 0).");
    }
    return n.asLong();
  }

  public Integer nonNegativeInt(String f) {
    Long l = nonNegativeLong(f);
    if (l != null && l > Integer.MAX_VALUE) {
      throw ApiException.badRequest(f, f + ": " + l + " is out of range (expected at most " + Integer.MAX_VALUE
          + ").");
    }
    return l == null ? null : l.intValue();
  }

  public Double nonNegativeNumber(String f) {
    JsonNode n = node.get(f);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isNumber()) {
      throw type(f, "a number", n);
    }
    double d = n.asDouble();
    if (d < 0 || Double.isNaN(d) || Double.isInfinite(d)) {
      throw ApiException.badRequest(f, f + ": " + n + " is out of range (expected a number >= 0).");
    }
    return d;
  }

  public Boolean bool(String f) {
    JsonNode n = node.get(f);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isBoolean()) {
      throw type(f, "true or false", n);
    }
    return n.asBoolean();
  }

  /** A JSON object field as JSON text, or null. */
  public ObjectNode object(String f) {
    JsonNode n = node.get(f);
    if (n == null || n.isNull()) {
      return null;
    }
    if (!n.isObject()) {
      throw type(f, "a JSON object", n);
    }
    return (ObjectNode) n;
  }

  /**
   * {@code f} as LiteLLM's alias map ({@code {"gpt-4": "llama-3-70b"}}: names a client may send → model groups):
   * every value a non-empty string. Null when absent.
   */
  public ObjectNode aliases(String f) {
    ObjectNode o = object(f);
    if (o == null) {
      return null;
    }
    for (java.util.Iterator<java.util.Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
      java.util.Map.Entry<String, JsonNode> e = it.next();
      if (e.getKey().isBlank() || !e.getValue().isTextual() || e.getValue().asText().isBlank()) {
        throw ApiException.badRequest(f, f + " must map model names to model group names, e.g. "
            + "{\"gpt-4\": \"llama-3-70b\"}; " + f + "." + e.getKey() + " is not a non-empty string.");
      }
    }
    return o;
  }

  public JsonNode raw(String f) {
    return node.get(f);
  }

  /** Field names present in the body that are not in {@code known}. */
  public List<String> unknown(Set<String> known) {
    List<String> out = new ArrayList<>();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!known.contains(f)) {
        out.add(f);
      }
    }
    return out;
  }

  private static ApiException type(String f, String expected, JsonNode got) {
    return ApiException.badRequest(f, f + ": expected " + expected + ", got " + kind(got) + ".");
  }

  static String kind(JsonNode n) {
    if (n.isTextual()) {
      return "a string";
    }
    if (n.isNumber()) {
      return "a number";
    }
    if (n.isBoolean()) {
      return "a boolean";
    }
    if (n.isArray()) {
      return "a list";
    }
    if (n.isObject()) {
      return "an object";
    }
    return "null";
  }
}
