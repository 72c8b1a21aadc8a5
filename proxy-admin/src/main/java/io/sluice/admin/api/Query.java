package io.sluice.admin.api;

import java.util.List;
import java.util.Map;

/** Typed reads of query parameters; a bad value is a 400 naming the parameter. */
final class Query {
  private Query() {}

  static String string(Map<String, List<String>> q, String name) {
    List<String> v = q.get(name);
    return v == null || v.isEmpty() || v.get(0).isEmpty() ? null : v.get(0);
  }

  static int positiveInt(Map<String, List<String>> q, String name, int dflt, int max) {
    String s = string(q, name);
    if (s == null) {
      return dflt;
    }
    try {
      int v = Integer.parseInt(s);
      if (v >= 1 && v <= max) {
        return v;
      }
    } catch (NumberFormatException e) {
      // fall through
    }
    throw ApiException.badRequest(name, name + ": expected a whole number from 1 to " + max + ", got \""
        + (s.length() > 20 ? s.substring(0, 20) + "…" : s) + "\".");
  }

  /** A whole number from 0 to {@code max}, or {@code dflt} when absent. */
  static long nonNegativeLong(Map<String, List<String>> q, String name, long dflt, long max) {
    String s = string(q, name);
    if (s == null) {
      return dflt;
    }
    try {
      long v = Long.parseLong(s);
      if (v >= 0 && v <= max) {
        return v;
      }
    } catch (NumberFormatException e) {
      // fall through
    }
    throw ApiException.badRequest(name, name + ": expected a whole number from 0 to " + max + ", got \""
        + (s.length() > 20 ? s.substring(0, 20) + "…" : s) + "\".");
  }

  static boolean bool(Map<String, List<String>> q, String name, boolean dflt) {
    String s = string(q, name);
    if (s == null) {
      return dflt;
    }
    if (s.equalsIgnoreCase("true")) {
      return true;
    }
    if (s.equalsIgnoreCase("false")) {
      return false;
    }
    throw ApiException.badRequest(name, name + ": expected true or false.");
  }
}
