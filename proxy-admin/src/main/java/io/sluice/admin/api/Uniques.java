package io.sluice.admin.api;

import java.sql.SQLException;
import org.jooq.exception.DataAccessException;

/** Turns a unique-constraint violation that slipped past a pre-check (a concurrent write) into LiteLLM's 400. */
final class Uniques {
  private Uniques() {}

  interface Write {
    int run();
  }

  static int insert(Write w, String field, String value) {
    try {
      return w.run();
    } catch (DataAccessException e) {
      if (isUniqueViolation(e)) {
        throw ApiException.badRequest(field, field + (value == null ? "" : " '" + value + "'")
            + " already exists. It must be unique: choose another.");
      }
      throw e;
    }
  }

  static boolean isUniqueViolation(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLException s && "23505".equals(s.getSQLState())) {
        return true;
      }
    }
    return false;
  }
}
