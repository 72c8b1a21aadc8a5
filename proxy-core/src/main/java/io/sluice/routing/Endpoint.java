package io.sluice.routing;

import java.util.Objects;

/**
 * Where a replica listens: the key of its upstream connection pools. Replicas that share host, port and scheme
 * share connections.
 */
public record Endpoint(String host, int port, boolean tls) {
  public Endpoint {
    Objects.requireNonNull(host, "host");
    if (port <= 0 || port > 65535) {
      throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
    }
  }

  /** The {@code Host} header value (RFC 9110 §7.2): the port only when it is not the scheme's default. */
  public String hostHeader() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return (tls && port == 443) || (!tls && port == 80) ? h : h + ":" + port;
  }

  @Override
  public String toString() {
    return (tls ? "https://" : "http://") + hostHeader();
  }
}
