package io.sluice.admin.db;

/**
 * The database schema could not be brought up to date (a migration failed, or applied migrations no longer match
 * this build's); Sluice does not start. The message names the migration and the database's error.
 */
public final class MigrationFailedException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final String version;
  private final String script;

  public MigrationFailedException(String message, String version, String script, Throwable cause) {
    super(message, cause);
    this.version = version;
    this.script = script;
  }

  /** The failed migration's version (e.g. {@code 99}), or null if no single migration failed. */
  public String version() {
    return version;
  }

  /** The failed migration's script (e.g. {@code V99__broken.sql}), or null. */
  public String script() {
    return script;
  }
}
