package io.sluice.admin.db;

/**
 * The database could not be reached (or the embedded PostgreSQL could not start). The message names the server,
 * never the password, and says how to fix it.
 */
public final class DatabaseUnavailableException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public DatabaseUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
