package io.sluice.admin.api;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * LiteLLM's duration strings ({@code litellm/litellm_core_utils/duration_parser.py}): a whole number and a unit —
 * {@code s}, {@code m}, {@code h}, {@code d}, {@code w}, {@code mo} (calendar months), {@code y} (years) — e.g.
 * {@code "30s"}, {@code "15m"}, {@code "24h"}, {@code "30d"}.
 */
public final class Durations {
  /** LiteLLM matches units by prefix ("1hr" = 1h, "2days" = 2d); the spelled-out forms are accepted too. */
  private static final Pattern FORMAT = Pattern.compile(
      "(\\d{1,9})\\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|wk|wks|"
          + "week|weeks|mo|mos|month|months|y|yr|yrs|year|years)");

  private Durations() {}

  /** Validates {@code value} for {@code field}; 400 naming the field when it is not a duration. */
  public static String check(String field, String value) {
    if (value != null && !FORMAT.matcher(value.trim()).matches()) {
      throw ApiException.badRequest(field, field + ": \"" + shown(value) + "\" is not a duration. Use a whole "
          + "number and a unit: s, m, h, d, w, mo or y, e.g. \"30s\", \"15m\", \"24h\", \"30d\"; null = never.");
    }
    return value == null ? null : value.trim();
  }

  /** The instant {@code value} after {@code from}. */
  public static OffsetDateTime after(OffsetDateTime from, String value) {
    Matcher m = FORMAT.matcher(value.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("not a duration");
    }
    long n = Long.parseLong(m.group(1));
    OffsetDateTime t = from.withOffsetSameInstant(ZoneOffset.UTC);
    String u = m.group(2);
    if (u.startsWith("mo")) {
      return t.plusMonths(n);
    }
    return switch (u.charAt(0)) {
      case 's' -> t.plus(Duration.ofSeconds(n));
      case 'm' -> t.plus(Duration.ofMinutes(n));
      case 'h' -> t.plus(Duration.ofHours(n));
      case 'd' -> t.plusDays(n);
      case 'w' -> t.plusWeeks(n);
      default -> t.plusYears(n);
    };
  }

  private static String shown(String v) {
    return v.length() > 40 ? v.substring(0, 40) + "…" : v;
  }
}
