package io.sluice.bench.e2e;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of Prometheus' text exposition format (0.0.4), for the metrics tests: every line must be a
 * {@code # HELP}, a {@code # TYPE} or a sample; a family has at most one HELP and one TYPE, before its samples, and
 * its samples are contiguous; counter samples end in {@code _total}; histogram buckets are cumulative and end with
 * {@code +Inf} equal to {@code _count}; label values are validly escaped; no series appears twice. Throws
 * {@link AssertionError} naming the line otherwise.
 */
final class PromText {
  private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern LABEL = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");

  record Sample(String name, Map<String, String> labels, double value) {}

  final Map<String, String> types = new HashMap<>();
  final Map<String, String> help = new HashMap<>();
  final List<Sample> samples = new ArrayList<>();

  static PromText parse(String text) {
    PromText p = new PromText();
    Set<String> closed = new java.util.HashSet<>();
    Set<String> seen = new java.util.HashSet<>();
    String current = null;
    int n = 0;
    for (String line : text.split("\n", -1)) {
      n++;
      if (line.isEmpty()) {
        continue;
      }
      String where = "line " + n + ": " + line;
      if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
        String[] parts = line.substring(7).split(" ", 2);
        String fam = parts[0];
        check(NAME.matcher(fam).matches(), where);
        Map<String, String> into = line.startsWith("# HELP ") ? p.help : p.types;
        check(into.put(fam, parts.length > 1 ? parts[1] : "") == null, "second HELP/TYPE, " + where);
        check(!closed.contains(fam), "metadata after the family's samples ended, " + where);
        if (line.startsWith("# TYPE ")) {
          check(Set.of("counter", "gauge", "histogram", "summary", "untyped").contains(parts[1]), where);
        }
        if (current != null && !current.equals(fam)) {
          closed.add(current);
        }
        current = fam;
        continue;
      }
      check(!line.startsWith("#"), "unknown comment, " + where);
      Sample s = sample(line, where);
      String fam = family(p, s.name);
      check(fam != null, "sample without TYPE, " + where);
      check(!closed.contains(fam), "samples of a family are not contiguous, " + where);
      if (current != null && !current.equals(fam)) {
        closed.add(current);
      }
      current = fam;
      check(seen.add(s.name + new TreeMap<>(s.labels)), "series twice, " + where);
      if (p.types.get(fam).equals("counter")) {
        check(s.name.endsWith("_total") || s.name.endsWith("_created"), "counter sample without _total, " + where);
        check(s.value >= 0, "negative counter, " + where);
      }
      p.samples.add(s);
    }
    p.checkHistograms();
    return p;
  }

  private static String family(PromText p, String sample) {
    if (p.types.containsKey(sample)) {
      return sample;
    }
    for (String suffix : List.of("_total", "_created", "_bucket", "_count", "_sum")) {
      if (sample.endsWith(suffix)) {
        String f = sample.substring(0, sample.length() - suffix.length());
        if (p.types.containsKey(f)) {
          return f;
        }
      }
    }
    return null;
  }

  private void checkHistograms() {
    for (Map.Entry<String, String> t : types.entrySet()) {
      if (!t.getValue().equals("histogram")) {
        continue;
      }
      String f = t.getKey();
      Map<Map<String, String>, List<Sample>> buckets = new LinkedHashMap<>();
      for (Sample s : samples) {
        if (s.name.equals(f + "_bucket")) {
          Map<String, String> series = new TreeMap<>(s.labels);
          check(series.remove("le") != null, "bucket without le: " + s);
          buckets.computeIfAbsent(series, k -> new ArrayList<>()).add(s);
        }
      }
      for (Map.Entry<Map<String, String>, List<Sample>> e : buckets.entrySet()) {
        double last = -1;
        double prevLe = Double.NEGATIVE_INFINITY;
        for (Sample b : e.getValue()) {
          double le = Double.parseDouble(b.labels.get("le").replace("+Inf", "Infinity"));
          check(le > prevLe, "buckets not ascending: " + b);
          check(b.value >= last, "buckets not cumulative: " + b);
          prevLe = le;
          last = b.value;
        }
        check(prevLe == Double.POSITIVE_INFINITY, "no +Inf bucket for " + f + e.getKey());
        Double count = value(f + "_count", e.getKey());
        check(count != null && count == last, f + "_count " + count + " != +Inf bucket " + last);
        check(value(f + "_sum", e.getKey()) != null, "no _sum for " + f + e.getKey());
      }
    }
  }

  private static Sample sample(String line, String where) {
    int i = 0;
    while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') {
      i++;
    }
    String name = line.substring(0, i);
    check(NAME.matcher(name).matches(), "bad name, " + where);
    Map<String, String> labels = new LinkedHashMap<>();
    if (i < line.length() && line.charAt(i) == '{') {
      i++;
      while (line.charAt(i) != '}') {
        int eq = line.indexOf('=', i);
        check(eq > 0, where);
        String l = line.substring(i, eq);
        check(LABEL.matcher(l).matches(), "bad label name, " + where);
        check(line.charAt(eq + 1) == '"', where);
        StringBuilder v = new StringBuilder();
        int j = eq + 2;
        for (;; j++) {
          char c = line.charAt(j);
          if (c == '\\') {
            char e = line.charAt(++j);
            check(e == '\\' || e == '"' || e == 'n', "bad escape, " + where);
            v.append(e == 'n' ? '\n' : e);
          } else if (c == '"') {
            break;
          } else {
            v.append(c);
          }
        }
        check(labels.put(l, v.toString()) == null, "label twice, " + where);
        i = j + 1;
        if (line.charAt(i) == ',') {
          i++;
        }
      }
      i++;
    }
    check(i < line.length() && line.charAt(i) == ' ', where);
    String[] rest = line.substring(i + 1).split(" ");
    check(rest.length <= 2, where);
    double v;
    try {
      v = Double.parseDouble(rest[0].replace("+Inf", "Infinity").replace("-Inf", "-Infinity"));
    } catch (NumberFormatException e) {
      throw new AssertionError("bad value, " + where);
    }
    return new Sample(name, labels, v);
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new AssertionError("not Prometheus text format: " + what);
    }
  }

  /** The value of the series with exactly these labels, or null. */
  Double value(String name, Map<String, String> labels) {
    for (Sample s : samples) {
      if (s.name.equals(name) && s.labels.equals(labels)) {
        return s.value;
      }
    }
    return null;
  }

  /** The sum over the series of {@code name} whose labels include {@code match}. */
  double sum(String name, Map<String, String> match) {
    double sum = 0;
    for (Sample s : samples) {
      if (s.name.equals(name) && s.labels.entrySet().containsAll(match.entrySet())) {
        sum += s.value;
      }
    }
    return sum;
  }

  /** Whether any series of {@code name} has labels including {@code match}. */
  boolean has(String name, Map<String, String> match) {
    for (Sample s : samples) {
      if (s.name.equals(name) && s.labels.entrySet().containsAll(match.entrySet())) {
        return true;
      }
    }
    return false;
  }
}
