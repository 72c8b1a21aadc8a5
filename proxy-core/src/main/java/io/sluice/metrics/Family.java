package io.sluice.metrics;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One metric family as Prometheus shows it: its name (a counter's without the {@code _total} the exposition adds),
 * help text, type and label names. Every series of the family has a value for each label, in this order.
 *
 * @param name   e.g. {@code litellm_proxy_total_requests_metric}
 * @param help   one line for {@code # HELP}
 * @param type   counter, gauge or histogram (seconds)
 * @param labels label names, e.g. {@code requested_model}, {@code route}
 */
public record Family(String name, String help, Type type, List<String> labels) {
  private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  /** Suffixes the exposition formats add themselves (Prometheus' naming rules). */
  private static final List<String> RESERVED = List.of("_total", "_bucket", "_count", "_sum", "_created", "_info",
      "_gcount", "_gsum");
  private static final Pattern LABEL = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");

  /** The Prometheus type of a family. */
  public enum Type { COUNTER, GAUGE, HISTOGRAM }

  public Family {
    Objects.requireNonNull(help);
    Objects.requireNonNull(type);
    if (name == null || !NAME.matcher(name).matches() || RESERVED.stream().anyMatch(name::endsWith)) {
      throw new IllegalArgumentException("metric name: " + name);
    }
    labels = List.copyOf(labels);
    for (String l : labels) {
      if (!LABEL.matcher(l).matches() || l.startsWith("__") || l.equals("le") || l.equals("quantile")) {
        throw new IllegalArgumentException(name + ": label name: " + l);
      }
    }
  }

  public static Family counter(String name, String help, String... labels) {
    return new Family(name, help, Type.COUNTER, List.of(labels));
  }

  public static Family gauge(String name, String help, String... labels) {
    return new Family(name, help, Type.GAUGE, List.of(labels));
  }

  public static Family histogram(String name, String help, String... labels) {
    return new Family(name, help, Type.HISTOGRAM, List.of(labels));
  }

  /** The same family with {@code extra} label names appended (e.g. the optional key labels). */
  public Family withLabels(List<String> extra) {
    if (extra.isEmpty()) {
      return this;
    }
    java.util.ArrayList<String> all = new java.util.ArrayList<>(labels);
    all.addAll(extra);
    return new Family(name, help, type, all);
  }

  /** The series name a value set gets in the Dropwizard registry: {@code name{label="value",...}}. */
  String seriesName(String[] values) {
    if (values.length != labels.size()) {
      throw new IllegalArgumentException(name + ": " + values.length + " label value(s) for " + labels);
    }
    if (values.length == 0) {
      return name;
    }
    StringBuilder b = new StringBuilder(name.length() + 16 * values.length).append(name).append('{');
    for (int i = 0; i < values.length; i++) {
      if (i > 0) {
        b.append(',');
      }
      b.append(labels.get(i)).append("=\"");
      String v = values[i] == null ? "" : values[i];
      for (int j = 0; j < v.length(); j++) {
        char c = v.charAt(j);
        switch (c) {
          case '\\' -> b.append("\\\\");
          case '"' -> b.append("\\\"");
          case '\n' -> b.append("\\n");
          default -> b.append(c);
        }
      }
      b.append('"');
    }
    return b.append('}').toString();
  }
}
