package io.sluice.admin.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Collection;
import org.jooq.JSONB;

/** Building management responses: JSON nodes with LiteLLM's field conventions. */
final class Out {
  static final JsonNodeFactory F = JsonNodeFactory.instance;
  /** For plain values (maps, lists, numbers) that become JSON trees. */
  static final com.fasterxml.jackson.databind.ObjectMapper MAPPER = new com.fasterxml.jackson.databind.ObjectMapper();
  private static final DateTimeFormatter ISO = DateTimeFormatter.ISO_OFFSET_DATE_TIME;

  private Out() {}

  static ObjectNode obj() {
    return F.objectNode();
  }

  static ArrayNode arr(Collection<String> values) {
    ArrayNode a = F.arrayNode();
    if (values != null) {
      values.forEach(a::add);
    }
    return a;
  }

  static ArrayNode arr(String[] values) {
    ArrayNode a = F.arrayNode();
    if (values != null) {
      for (String v : values) {
        a.add(v);
      }
    }
    return a;
  }

  /** ISO-8601 in UTC, or JSON null. */
  static JsonNode time(OffsetDateTime t) {
    return t == null ? F.nullNode() : F.textNode(t.withOffsetSameInstant(ZoneOffset.UTC).format(ISO));
  }

  static JsonNode json(JSONB j) {
    if (j == null) {
      return F.objectNode();
    }
    try {
      return Body.JSON.readTree(j.data());
    } catch (JsonProcessingException e) {
      return F.objectNode();
    }
  }

  static JSONB jsonb(JsonNode n) {
    return JSONB.valueOf(n == null ? "{}" : n.toString());
  }

  static byte[] bytes(JsonNode n) {
    try {
      return Body.JSON.writeValueAsBytes(n);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  static ObjectNode error(ApiException e) {
    ObjectNode err = obj();
    err.put("message", e.getMessage());
    err.put("type", e.type());
    err.put("param", e.param() == null ? "None" : e.param());
    err.put("code", String.valueOf(e.status()));
    ObjectNode root = obj();
    root.set("error", err);
    return root;
  }
}
