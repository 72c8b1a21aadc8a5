package io.sluice.server;

import io.sluice.config.ConfigException;
import io.sluice.config.ConfigLoader;
import io.sluice.config.MasterKeys;
import io.sluice.config.SluiceConfig;
import io.sluice.auth.KeyCache;
import io.sluice.auth.KeyStore;
import io.sluice.server.redis.RedisConnection;
import io.sluice.server.redis.RedisKeyCache;
import io.sluice.server.redis.RedisSettings;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.time.Duration;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;

/**
 * {@code sluice --config FILE [--host H] [--port P]}: loads and validates the configuration, resolves the master key
 * (config → {@code LITELLM_MASTER_KEY} → {@code SLUICE_MASTER_KEY}; the source is logged, never the value), and runs
 * the gateway until SIGTERM/SIGINT. Exit codes: 0 after a clean stop, 2 for a configuration error.
 */
@Command(name = "sluice", mixinStandardHelpOptions = true, versionProvider = SluiceMain.VersionProvider.class,
    description = "A streaming gateway for vLLM clusters that reads LiteLLM's config.yaml.")
public final class SluiceMain implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(SluiceMain.class);

  @Option(names = "--config", paramLabel = "FILE", description = "LiteLLM-style config.yaml (required).")
  Path config;

  @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
  String host;

  @Option(names = "--port", defaultValue = "4000", description = "Port to listen on (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--threads", defaultValue = "0",
      description = "Event loop threads; 0 = one per processor (default: ${DEFAULT-VALUE}).")
  int threads;

  @Option(names = "--drain-timeout", defaultValue = "30s", converter = DurationConverter.class,
      description = "On SIGTERM/SIGINT: how long in-flight requests and streams may take to finish, e.g. 30s, 2m "
          + "(default: ${DEFAULT-VALUE}).")
  Duration drainTimeout;

  @Option(names = "--allow-unauthenticated",
      description = "With no master key configured, admit every caller (LiteLLM's default; never do this on a "
          + "network you do not control).")
  boolean allowUnauthenticated;

  @Option(names = "--no-db",
      description = "Run without a database: the master key is the only credential and the management API answers "
          + "no_db_connection (a stateless relay node).")
  boolean noDb;

  @Option(names = "--warmup-seconds", defaultValue = "${env:SLUICE_WARMUP_SECONDS:-30}", paramLabel = "S",
      description = "At start-up, drive synthetic traffic through the relay (in-process, loopback) until the JIT has "
          + "compiled it, for at most S seconds, with readiness 503 meanwhile; 0 = off "
          + "(default: ${DEFAULT-VALUE}; env SLUICE_WARMUP_SECONDS).")
  int warmupSeconds;

  @Option(names = "--transport", defaultValue = "${env:SLUICE_TRANSPORT:-auto}", paramLabel = "T",
      description = "Socket transport: auto (epoll where it loads, else NIO), epoll, io_uring or nio; a native one "
          + "named here that cannot load stops the start with the reason (default: ${DEFAULT-VALUE}; env "
          + "SLUICE_TRANSPORT).")
  String transport;

  @Option(names = "--data-dir", defaultValue = "data", paramLabel = "DIR",
      description = "Where the embedded PostgreSQL keeps its data (DIR/pg) when no DATABASE_URL is set "
          + "(default: ${DEFAULT-VALUE}).")
  Path dataDir;

  @Option(names = "--tls-cert", paramLabel = "FILE",
      description = "PEM certificate chain (server certificate first): serve HTTPS; with --tls-key. Overrides "
          + "sluice_settings.tls_cert_file. Re-read on change.")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "FILE",
      description = "PEM PKCS#8 private key of --tls-cert. Overrides sluice_settings.tls_key_file.")
  Path tlsKey;

  private final Map<String, String> env;
  private final PrintWriter err;

  SluiceMain(Map<String, String> env, PrintWriter err) {
    this.env = env;
    this.err = err;
  }

  public static void main(String[] args) {
    PrintWriter err = new PrintWriter(System.err, true);
    CommandLine cl = new CommandLine(new SluiceMain(System.getenv(), err));
    cl.setErr(err);
    System.exit(cl.execute(args));
  }

  /**
   * {@code sluice check --config FILE}: validates without starting anything and prints the effective configuration,
   * every secret redacted, each value with its source (file, env, default). Exit 0 when valid, 2 with the error
   * (file and path) when not.
   */
  @Command(name = "check", mixinStandardHelpOptions = true,
      description = "Validate a config file and print the effective configuration (secrets redacted) with each "
          + "value's source, without starting the gateway.")
  int check(@Option(names = "--config", required = true, paramLabel = "FILE",
      description = "LiteLLM-style config.yaml.") Path file) {
    PrintWriter out = new PrintWriter(System.out, true);
    return check(file, out);
  }

  int check(Path file, PrintWriter out) {
    SluiceConfig cfg;
    MasterKeys.Resolved master;
    java.util.List<String> warnings;
    try {
      ConfigLoader.LoadResult loaded = ConfigLoader.loadWithReport(file, env);
      cfg = loaded.config();
      warnings = loaded.warnings();
      master = MasterKeys.resolve(cfg, env);
    } catch (ConfigException e) {
      err.println("sluice check: configuration error: " + e.getMessage());
      return 2;
    }
    try {
      if (cfg.modelList().isEmpty() && !Boolean.TRUE.equals(cfg.general().storeModelInDb())) {
        // A gateway with no deployment refuses every model; usually a typo (modle_list:) or a forgotten section.
        for (String w : warnings) {
          err.println("sluice check: WARNING: " + w);
        }
        err.println("sluice check: " + file + ": no deployments: model_list is empty or missing, so every model "
            + "request would be refused. Add model_list entries (model_name, litellm_params.model and api_base), or "
            + "set general_settings.store_model_in_db: true if every model is added with /model/new.");
        return 2;
      }
      ConfigReport.print(file, cfg, master, env, warnings, out);
    } catch (java.io.IOException e) {
      err.println("sluice check: cannot read " + file + ": " + e.getMessage());
      return 2;
    }
    out.flush();
    return 0;
  }

  @Override
  public Integer call() throws Exception {
    if (config == null) {
      err.println("sluice: --config FILE is required (or: sluice check --config FILE). See sluice --help.");
      return 2;
    }
    SluiceServer server = boot();
    if (server == null) {
      return 2;
    }
    // SIGTERM/SIGINT drain instead of dying: readiness 503, in-flight streams finish, then exit 0.
    for (String name : new String[] {"TERM", "INT"}) {
      Signal.handle(new Signal(name), sig -> new Thread(() -> {
        try {
          log.info("SIG{} received", name);
          server.drainAndClose(drainTimeout);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          server.close();
        }
      }, "sluice-drain").start());
    }
    server.awaitClose();
    return 0;
  }

  /**
   * Loads the configuration, resolves the master key and starts the gateway. Returns null after printing the reason
   * when the configuration cannot be used.
   */
  SluiceServer boot() throws InterruptedException {
    SluiceConfig cfg;
    MasterKeys.Resolved master;
    try {
      cfg = ConfigLoader.load(config, env);
      master = MasterKeys.resolve(cfg, env);
      cfg = withTlsFlags(cfg);
    } catch (ConfigException e) {
      err.println("sluice: configuration error: " + e.getMessage());
      return null;
    }
    if (master.key() == null && !allowUnauthenticated) {
      err.println("sluice: no master key. Set general_settings.master_key in " + config
          + ", or the environment variable LITELLM_MASTER_KEY or SLUICE_MASTER_KEY; or start with "
          + "--allow-unauthenticated to admit every caller.");
      return null;
    }
    if (master.key() == null) {
      log.warn("No master key: every caller is admitted (--allow-unauthenticated)");
    } else {
      log.info("Master key from {}", master.source().describe());
    }
    // Bind first: a port in use is one line and exit 2, before an embedded PostgreSQL or Redis is set up for nothing.
    String busy = listenProblem(host, port);
    if (busy != null) {
      err.println(busy);
      return null;
    }
    SluiceServer.Options options;
    try {
      options = new SluiceServer.Options(host, port, threads, master.key(), allowUnauthenticated, KeyStore.NONE,
          true).withTransport(transport);
    } catch (IllegalArgumentException e) { // --transport names no transport
      err.println("sluice: configuration error: " + e.getMessage());
      return null;
    }
    if (noDb) {
      log.info("No database (--no-db): virtual keys and the management API are off");
      try {
        return SluiceServer.start(cfg, options, java.time.Duration.ofSeconds(Math.max(0, warmupSeconds)));
      } catch (IllegalArgumentException e) {
        err.println("sluice: configuration error: " + e.getMessage());
        return null;
      } catch (Exception e) { // Netty rethrows the BindException of bind().sync() unchecked
        if (isBindFailure(e)) {
          err.println(bindMessage(host, port));
          return null;
        }
        throw e;
      }
    }
    AdminPlane plane;
    RedisConnection redis = null;
    try {
      AdminPlane.Settings settings = AdminPlane.Settings.from(cfg, env, master.key())
          .withEmbeddedDir(dataDir.resolve("pg"));
      java.util.Optional<RedisSettings> rs = RedisSettings.fromEnv(env);
      if (rs.isPresent()) {
        Duration limitsTimeout = limitsTimeout();
        redis = RedisConnection.connect(rs.get());
        io.sluice.server.redis.RedisRateLimiter limiter = new io.sluice.server.redis.RedisRateLimiter(redis,
            cfg.server().limitsFailClosed() ? io.sluice.server.redis.RedisRateLimiter.FailureMode.CLOSED
                : io.sluice.server.redis.RedisRateLimiter.FailureMode.OPEN, limitsTimeout);
        log.info("Redis at {}: shared key cache, limits shared by every node (on Redis failure: {}), key and "
            + "deployment changes pushed to every node", redis.describe(),
            cfg.server().limitsFailClosed() ? "refuse with 503" : "per-node limits");
        plane = AdminPlane.start(cfg, settings, env, redis, limiter, nodeId());
      } else {
        log.info("No REDIS_URL / REDIS_HOST: key cache and limits are per node; other nodes see key changes "
            + "within their key cache TTL");
        plane = AdminPlane.start(cfg, settings, env, KeyCache.NONE);
      }
    } catch (ConfigException | IllegalArgumentException e) {
      closeQuietly(redis);
      err.println("sluice: configuration error: " + e.getMessage());
      return null;
    } catch (RuntimeException e) {
      closeQuietly(redis);
      err.println("sluice: cannot start the admin plane: " + e.getMessage());
      log.debug("admin plane start failed", e);
      return null;
    }
    try {
      return SluiceServer.start(cfg, options.withAdminPlane(plane),
          java.time.Duration.ofSeconds(Math.max(0, warmupSeconds)));
    } catch (IllegalArgumentException e) {
      plane.close();
      err.println("sluice: configuration error: " + e.getMessage());
      return null;
    } catch (Exception e) { // Netty rethrows the BindException of bind().sync() unchecked
      plane.close();
      if (isBindFailure(e)) { // taken between the check above and now
        err.println(bindMessage(host, port));
        return null;
      }
      throw e;
    }
  }

  /** Null when {@code host:port} can be listened on now, else the one line to print. */
  static String listenProblem(String host, int port) {
    if (port == 0) {
      return null;
    }
    try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
      probe.setReuseAddress(true); // as the server's own socket: a TIME_WAIT leftover is no conflict
      probe.bind(new java.net.InetSocketAddress(host, port));
      return null;
    } catch (java.net.BindException e) {
      return bindMessage(host, port);
    } catch (java.io.IOException | IllegalArgumentException e) {
      return "sluice: cannot listen on " + host + ":" + port + ": " + e.getMessage()
          + ". Check --host and --port.";
    }
  }

  private static String bindMessage(String host, int port) {
    return "sluice: cannot listen on " + host + ":" + port + ": address already in use (another Sluice, or another "
        + "program, holds it). Stop it, or choose another port with --port.";
  }

  private static boolean isBindFailure(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.net.BindException) {
        return true;
      }
    }
    return false;
  }

  /** {@code --tls-cert}/{@code --tls-key} replace {@code sluice_settings.tls_cert_file}/{@code tls_key_file}. */
  private SluiceConfig withTlsFlags(SluiceConfig cfg) {
    if (tlsCert == null && tlsKey == null) {
      return cfg;
    }
    if (tlsCert == null || tlsKey == null) {
      throw new ConfigException((tlsCert == null ? "--tls-key" : "--tls-cert") + " given without "
          + (tlsCert == null ? "--tls-cert" : "--tls-key") + ": pass both (PEM certificate chain and its PKCS#8 key)");
    }
    for (Path f : new Path[] {tlsCert, tlsKey}) {
      if (!java.nio.file.Files.isRegularFile(f) || !java.nio.file.Files.isReadable(f)) {
        throw new ConfigException((f == tlsCert ? "--tls-cert " : "--tls-key ") + f + " is not a readable file");
      }
    }
    return new SluiceConfig(cfg.source(), cfg.modelList(), cfg.general(), cfg.router(), cfg.litellm(),
        cfg.server().withTls(tlsCert.toAbsolutePath(), tlsKey.toAbsolutePath()), cfg.passThrough());
  }

  /** This process on this host, for change-bus messages and logs. */
  private static String nodeId() {
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      host = "node";
    }
    return host.replace(' ', '_') + "-" + ProcessHandle.current().pid();
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c != null) {
      try {
        c.close();
      } catch (Exception ignored) {
        // already failing
      }
    }
  }

  /** {@code 30s}, {@code 2m}, {@code 500ms}, or a plain number of seconds. */
  /**
   * {@code SLUICE_LIMITS_REDIS_TIMEOUT} (e.g. {@code 150ms}, {@code 1s}): how long a request's limit check waits for
   * Redis before this node counts on its own (or refuses, with {@code limits_on_redis_failure: closed});
   * default {@link io.sluice.server.redis.RedisRateLimiter#DEFAULT_TIMEOUT}.
   *
   * @throws IllegalArgumentException not a duration of at least 1 ms (a configuration error)
   */
  Duration limitsTimeout() {
    String v = env.get("SLUICE_LIMITS_REDIS_TIMEOUT");
    if (v == null || v.isBlank()) {
      return io.sluice.server.redis.RedisRateLimiter.DEFAULT_TIMEOUT;
    }
    Duration d;
    try {
      d = new DurationConverter().convert(v);
    } catch (RuntimeException e) {
      d = null;
    }
    if (d == null || d.toMillis() < 1) {
      throw new IllegalArgumentException("SLUICE_LIMITS_REDIS_TIMEOUT: \"" + v.strip() + "\" is not a duration of "
          + "at least 1 ms (e.g. 150ms or 1s)");
    }
    return d;
  }

  static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String v) {
      String s = v.trim().toLowerCase(java.util.Locale.ROOT);
      try {
        if (s.endsWith("ms")) {
          return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2)));
        }
        if (s.endsWith("s")) {
          return Duration.ofSeconds(Long.parseLong(s.substring(0, s.length() - 1)));
        }
        if (s.endsWith("m")) {
          return Duration.ofMinutes(Long.parseLong(s.substring(0, s.length() - 1)));
        }
        return Duration.ofSeconds(Long.parseLong(s));
      } catch (NumberFormatException e) {
        throw new CommandLine.TypeConversionException("'" + v + "' is not a duration (expected e.g. 30s, 2m, 500ms)");
      }
    }
  }

  static final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"sluice " + Version.get()};
    }
  }
}
