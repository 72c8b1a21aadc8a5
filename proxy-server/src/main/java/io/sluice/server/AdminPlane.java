package io.sluice.server;

import io.netty.util.concurrent.DefaultThreadFactory;
import io.sluice.admin.api.AdminApi;
import io.sluice.admin.db.Database;
import io.sluice.admin.db.DatabaseUrl;
import io.sluice.admin.store.Deployments;
import io.sluice.admin.store.PgKeyStore;
import io.sluice.admin.store.SecretBox;
import io.sluice.admin.spend.BudgetResets;
import io.sluice.admin.spend.SpendWriter;
import io.sluice.http.Metering;
import io.sluice.limits.LocalRateLimiter;
import io.sluice.limits.RateLimiter;
import io.sluice.auth.KeyCache;
import io.sluice.auth.LayeredKeyStore;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import io.sluice.http.Readiness;
import io.sluice.management.ManagementApi;
import io.sluice.routing.DeploymentRegistry;
import io.sluice.routing.RegistryHolder;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin plane wired for one node: PostgreSQL (a server, or the embedded one under {@code ./data/pg}), the data
 * plane's layered key store (L1 Caffeine → L2 shared cache → PostgreSQL), the management API, the deployment
 * registry (config ∪ stored, re-read every {@code reloadInterval} to pick up other nodes' changes) and a readiness
 * probe of the database. All database work runs on its own threads, never on an event loop.
 */
public final class AdminPlane implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdminPlane.class);

  /**
   * @param url            the database, or null for the embedded PostgreSQL
   * @param embeddedDir    the embedded PostgreSQL's data directory
   * @param poolSize       database connections
   * @param reloadInterval how often stored deployments are re-read
   * @param cache          the L1 key cache
   * @param storeModelInDb whether {@code /model/*} may write
   * @param saltKey        encrypts stored replica keys ({@code LITELLM_SALT_KEY}, else the master key), or null
   * @param spendLogs      whether the spend writer inserts per-request rows into {@code sluice_spend_logs} (false
   *                       for {@code general_settings.disable_spend_logs: true})
   */
  public record Settings(DatabaseUrl url, Path embeddedDir, int poolSize, Duration reloadInterval,
      LayeredKeyStore.Settings cache, boolean storeModelInDb, Secret saltKey, Path spendSpillFile,
      boolean limitsFailClosed, boolean spendLogs) {

    public Settings(DatabaseUrl url, Path embeddedDir, int poolSize, Duration reloadInterval,
        LayeredKeyStore.Settings cache, boolean storeModelInDb, Secret saltKey, Path spendSpillFile,
        boolean limitsFailClosed) {
      this(url, embeddedDir, poolSize, reloadInterval, cache, storeModelInDb, saltKey, spendSpillFile,
          limitsFailClosed, true);
    }

    public Settings(DatabaseUrl url, Path embeddedDir, int poolSize, Duration reloadInterval,
        LayeredKeyStore.Settings cache, boolean storeModelInDb, Secret saltKey) {
      this(url, embeddedDir, poolSize, reloadInterval, cache, storeModelInDb, saltKey,
          spillBeside(embeddedDir), false);
    }

    /** {@code <data dir>/spend-spill.jsonl}: beside the embedded database's directory. */
    static Path spillBeside(Path embeddedDir) {
      Path parent = embeddedDir.toAbsolutePath().getParent();
      return (parent == null ? embeddedDir : parent).resolve("spend-spill.jsonl");
    }

    /** From the configuration and the environment: config value → environment → default. */
    public static Settings from(SluiceConfig cfg, Map<String, String> env, Secret masterKey) {
      String raw = cfg.general().databaseUrl() != null ? cfg.general().databaseUrl().reveal() : env.get("DATABASE_URL");
      if ((raw == null || raw.isBlank()) && env.get("DATABASE_HOST") != null) {
        // LiteLLM builds the URL from these when DATABASE_URL is absent.
        String user = env.getOrDefault("DATABASE_USERNAME", "postgres");
        String pw = env.get("DATABASE_PASSWORD");
        raw = "postgresql://" + enc(user) + (pw == null ? "" : ":" + enc(pw)) + "@" + env.get("DATABASE_HOST")
            + "/" + env.getOrDefault("DATABASE_NAME", "postgres");
      }
      DatabaseUrl url;
      try {
        url = raw == null || raw.isBlank() ? null : DatabaseUrl.parse(raw);
      } catch (IllegalArgumentException e) {
        throw new io.sluice.config.ConfigException((cfg.general().databaseUrl() != null
            ? "general_settings.database_url" : "DATABASE_URL") + ": " + e.getMessage());
      }
      Boolean store = cfg.general().storeModelInDb();
      if (store == null && env.get("STORE_MODEL_IN_DB") != null) {
        store = Boolean.parseBoolean(env.get("STORE_MODEL_IN_DB").trim());
      }
      String salt = env.get("LITELLM_SALT_KEY");
      Secret saltKey = salt != null && !salt.isEmpty() ? Secret.of(salt) : masterKey;
      int pool = cfg.general().databasePoolSize() != null ? cfg.general().databasePoolSize() : 10;
      return new Settings(url, Database.Options.DEFAULT_EMBEDDED_DIR, pool, Duration.ofSeconds(10),
          LayeredKeyStore.Settings.DEFAULTS, store == null || store, saltKey,
          spillBeside(Database.Options.DEFAULT_EMBEDDED_DIR), cfg.server().limitsFailClosed(),
          !cfg.general().disableSpendLogs());
    }

    /** The embedded database's directory; the spend spill file moves beside it. */
    public Settings withEmbeddedDir(Path dir) {
      return new Settings(url, dir, poolSize, reloadInterval, cache, storeModelInDb, saltKey, spillBeside(dir),
          limitsFailClosed, spendLogs);
    }

    public Settings withReloadInterval(Duration d) {
      return new Settings(url, embeddedDir, poolSize, d, cache, storeModelInDb, saltKey, spendSpillFile,
          limitsFailClosed, spendLogs);
    }

    public Settings withSpendSpillFile(Path f) {
      return new Settings(url, embeddedDir, poolSize, reloadInterval, cache, storeModelInDb, saltKey, f,
          limitsFailClosed, spendLogs);
    }

    private static String enc(String s) {
      return java.net.URLEncoder.encode(s, java.nio.charset.StandardCharsets.UTF_8).replace("+", "%20");
    }
  }

  private final Database db;
  private final ExecutorService keyLookups;
  private final ExecutorService adminCalls;
  private final ScheduledExecutorService scheduler;
  private final LayeredKeyStore keys;
  private final io.sluice.auth.LayeredEndUserStore endUsers;
  private final AdminApi api;
  private final RegistryHolder registry;
  private final Deployments deployments;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private volatile boolean dbUp = true;
  private SpendWriter spend;
  private RateLimiter limiter;
  /** Tells other nodes which keys changed (Redis pub/sub); nothing without Redis. */
  private volatile java.util.function.Function<java.util.Collection<io.sluice.auth.KeyHash>,
      java.util.concurrent.CompletionStage<Void>> publishKeys = x -> CompletableFuture.completedFuture(null);

  /** Tells other nodes end users changed (Redis pub/sub); nothing without Redis. */
  private volatile java.util.function.Supplier<java.util.concurrent.CompletionStage<Void>> publishEndUsers =
      () -> CompletableFuture.completedFuture(null);

  private AdminPlane(Database db, ExecutorService keyLookups, ExecutorService adminCalls,
      ScheduledExecutorService scheduler, LayeredKeyStore keys, io.sluice.auth.LayeredEndUserStore endUsers,
      AdminApi api, RegistryHolder registry, Deployments deployments) {
    this.db = db;
    this.keyLookups = keyLookups;
    this.adminCalls = adminCalls;
    this.scheduler = scheduler;
    this.keys = keys;
    this.endUsers = endUsers;
    this.api = api;
    this.registry = registry;
    this.deployments = deployments;
  }

  /**
   * Opens the database (migrating it), loads the stored deployments and starts the background work. Blocking;
   * call before the server starts. {@code shared} is the L2 key cache ({@link KeyCache#NONE} without Redis).
   */
  public static AdminPlane start(SluiceConfig cfg, Settings s, Map<String, String> env, KeyCache shared) {
    return start(cfg, s, env, shared, null);
  }

  /**
   * As {@link #start(SluiceConfig, Settings, Map, KeyCache)}, with a shared limiter ({@code null}: per-node limits).
   */
  public static AdminPlane start(SluiceConfig cfg, Settings s, Map<String, String> env, KeyCache shared,
      RateLimiter sharedLimiter) {
    Database db = Database.open(new Database.Options(s.url(), s.embeddedDir(), s.poolSize(),
        List.of("classpath:db/migration")));
    int lookupThreads = Math.max(2, s.poolSize() / 2);
    ExecutorService keyLookups = Executors.newFixedThreadPool(lookupThreads,
        new DefaultThreadFactory("sluice-key-lookup", true));
    ExecutorService adminCalls = Executors.newFixedThreadPool(Math.max(2, s.poolSize() / 4),
        new DefaultThreadFactory("sluice-admin", true));
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(
        new DefaultThreadFactory("sluice-admin-bg", true));
    try {
      RegistryHolder registry = new RegistryHolder(cfg.modelList(), cfg.router());
      SecretBox box = s.saltKey() == null ? null : new SecretBox(s.saltKey().reveal());
      Deployments deployments = new Deployments(db.dsl(), box, cfg.modelList(), cfg.router(), registry, env);
      List<?> stored = deployments.reload();
      LayeredKeyStore keys = new LayeredKeyStore(new PgKeyStore(db.dsl(), keyLookups), shared, keyLookups,
          s.cache());
      io.sluice.auth.LayeredEndUserStore endUsers = new io.sluice.auth.LayeredEndUserStore(
          new io.sluice.admin.store.PgEndUserStore(db.dsl(), keyLookups), s.cache());
      AdminPlane[] self = new AdminPlane[1];
      io.sluice.admin.api.KeyInvalidator invalidator = new io.sluice.admin.api.KeyInvalidator() {
        // L1 and L2 first, then the other nodes: a node told before L2 dropped the entry could re-read it from L2.
        @Override
        public java.util.concurrent.CompletionStage<Void> invalidate(
            java.util.Collection<io.sluice.auth.KeyHash> hashes) {
          return CompletableFuture.allOf(hashes.stream().map(h -> keys.invalidate(h).toCompletableFuture())
              .toArray(CompletableFuture[]::new)).thenCompose(v -> self[0].publishKeys.apply(hashes));
        }

        @Override
        public java.util.concurrent.CompletionStage<Void> endUsersChanged() {
          endUsers.invalidateAll();
          return self[0].publishEndUsers.get();
        }
      };
      AdminApi api = new AdminApi(db.dsl(), adminCalls, invalidator,
          deployments, box, registry, env, s.storeModelInDb(), Clock.systemUTC());
      AdminPlane plane = new AdminPlane(db, keyLookups, adminCalls, scheduler, keys, endUsers, api, registry,
          deployments);
      self[0] = plane;
      plane.spend = SpendWriter.start(db.dsl(), SpendWriter.Settings.DEFAULTS.withSpillFile(s.spendSpillFile())
          .withSpendLogs(s.spendLogs()));
      plane.limiter = sharedLimiter != null ? sharedLimiter : new LocalRateLimiter();
      long reload = s.reloadInterval().toMillis();
      scheduler.scheduleWithFixedDelay(plane::reloadQuietly, reload, reload, TimeUnit.MILLISECONDS);
      scheduler.scheduleWithFixedDelay(plane::ping, 5, 5, TimeUnit.SECONDS);
      scheduler.scheduleWithFixedDelay(plane::resetBudgets, 1, 60, TimeUnit.SECONDS);
      log.info("admin plane: {} deployment(s) from the database, key cache {} keys / {} (negative {}), limits {}",
          stored.size(), s.cache().maxKeys(), s.cache().positiveTtl(), s.cache().negativeTtl(),
          plane.limiter.describe());
      return plane;
    } catch (RuntimeException e) {
      scheduler.shutdownNow();
      adminCalls.shutdownNow();
      keyLookups.shutdownNow();
      db.close();
      throw e;
    }
  }

  /**
   * The admin plane of one node of several sharing {@code redis}: the shared L2 key cache, {@code limiter} (shared
   * counters), and the change bus that makes key and deployment changes effective on every node within a second.
   * {@code redis} is closed with the plane.
   */
  public static AdminPlane start(SluiceConfig cfg, Settings s, Map<String, String> env,
      io.sluice.server.redis.RedisConnection redis, RateLimiter limiter, String nodeId) {
    AdminPlane plane = start(cfg, s, env, new io.sluice.server.redis.RedisKeyCache(redis), limiter);
    try {
      io.sluice.server.redis.RedisChangeBus bus = io.sluice.server.redis.RedisChangeBus.start(redis, nodeId,
          new io.sluice.server.redis.RedisChangeBus.Listener() {
            @Override
            public void keysChanged(java.util.Collection<io.sluice.auth.KeyHash> hashes) {
              hashes.forEach(plane.keys::invalidateLocal);
            }

            @Override
            public void allKeysChanged() {
              plane.keys.invalidateAllLocal();
            }

            @Override
            public void endUsersChanged() {
              plane.endUsers.invalidateAll();
            }

            @Override
            public void deploymentsChanged() {
              plane.scheduler.execute(plane::reloadQuietly); // JDBC: off the Redis thread
            }
          }, Duration.ofSeconds(1));
      plane.publishKeysWith(bus::publishKeys);
      plane.publishEndUsers = bus::publishEndUsers;
      plane.deployments.onWrite(bus::publishDeployments);
      plane.closeWith(bus);
      plane.closeWith(redis);
      log.info("key and deployment changes shared with other nodes through Redis at {} (node {})", redis.describe(),
          nodeId);
      return plane;
    } catch (RuntimeException e) {
      plane.close();
      throw e;
    }
  }

  /** Token accounting for the data plane: spend rows to this plane's writer, limits to its limiter. */
  public Metering metering() {
    return new Metering(spend, limiter, endUsers);
  }

  public SpendWriter spend() {
    return spend;
  }

  public Deployments deployments() {
    return deployments;
  }

  /** Where changed keys are announced to other nodes (set once, before serving). */
  void publishKeysWith(java.util.function.Function<java.util.Collection<io.sluice.auth.KeyHash>,
      java.util.concurrent.CompletionStage<Void>> publisher) {
    this.publishKeys = publisher;
  }

  private void resetBudgets() {
    try {
      java.time.Instant now = java.time.Instant.now();
      BudgetResets resets = new BudgetResets(db.dsl());
      List<io.sluice.auth.KeyHash> reset = new ArrayList<>(resets.resetBudgets(now));
      BudgetResets.RowsReset rows = resets.resetBudgetRows(now);
      reset.addAll(rows.memberKeys());
      if (rows.endUsersChanged()) {
        endUsers.invalidateAll();
        publishEndUsers.get();
      }
      if (!reset.isEmpty()) {
        log.info("budgets reset for {} key(s)", reset.size());
        CompletableFuture.allOf(reset.stream().map(h -> keys.invalidate(h).toCompletableFuture())
            .toArray(CompletableFuture[]::new)).thenCompose(v -> publishKeys.apply(reset));
      }
    } catch (RuntimeException e) {
      log.warn("budget reset failed: {}", e.getMessage());
    }
  }

  private void reloadQuietly() {
    try {
      deployments.reload();
    } catch (RuntimeException e) {
      log.warn("re-reading stored deployments failed: {}", e.getMessage());
    }
  }

  private void ping() {
    boolean up = db.ping();
    if (up != dbUp) {
      if (up) {
        log.info("database {} reachable again", db.description());
      } else {
        log.error("database {} does not answer; readiness now 503", db.description());
      }
    }
    dbUp = up;
  }

  public LayeredKeyStore keys() {
    return keys;
  }

  public ManagementApi api() {
    return api;
  }

  public RegistryHolder registry() {
    return registry;
  }

  public Database database() {
    return db;
  }

  public Readiness readiness() {
    return new Readiness() {
      @Override
      public String database() {
        return dbUp ? "connected" : "disconnected";
      }

      @Override
      public boolean databaseDown() {
        return !dbUp;
      }
    };
  }

  /** Closed with this plane (after the database work stops), e.g. the Redis connection. */
  public void closeWith(AutoCloseable c) {
    closeables.add(c);
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
    if (spend != null) {
      spend.close(); // flushes the spend rows of the last requests (or keeps them in the spill file)
    }
    adminCalls.shutdown();
    keyLookups.shutdown();
    try {
      adminCalls.awaitTermination(5, TimeUnit.SECONDS);
      keyLookups.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    db.close();
    for (AutoCloseable c : closeables) {
      try {
        c.close();
      } catch (Exception e) {
        log.warn("closing {} failed: {}", c, e.toString());
      }
    }
  }
}
