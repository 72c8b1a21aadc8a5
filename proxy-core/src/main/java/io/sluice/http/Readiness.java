package io.sluice.http;

/**
 * What {@code /health/readiness} reports about the database: a cached answer (a background check keeps it fresh),
 * never a query on the event loop.
 */
public interface Readiness {
  /** LiteLLM's {@code db} field: {@code "connected"}, or {@code "Not connected"} when there is no database. */
  String database();

  /** True when a configured database does not answer: readiness is then 503. */
  boolean databaseDown();

  /** True while the gateway warms up at start-up (synthetic traffic until the JIT has compiled the relay): 503. */
  default boolean warmingUp() {
    return false;
  }

  Readiness NO_DATABASE = new Readiness() {
    @Override
    public String database() {
      return "Not connected";
    }

    @Override
    public boolean databaseDown() {
      return false;
    }
  };
}
