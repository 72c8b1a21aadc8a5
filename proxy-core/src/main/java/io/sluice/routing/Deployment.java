package io.sluice.routing;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.AsciiString;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.Wildcards;
import java.net.URI;
import java.time.Duration;

/**
 * A replica in routable form, derived once from its {@link DeploymentConfig}: the pieces the hot path writes are
 * precomputed (Host header, upstream auth header value, the upstream model name as JSON bytes). Immutable.
 */
public final class Deployment {
  private final DeploymentConfig config;
  private final Endpoint endpoint;
  private final String basePath;
  private final AsciiString hostHeader;
  private final AsciiString authorization;
  private final ByteBuf upstreamModelJson;
  private final double weight;
  /** {@link ResponseIds#tag} of this deployment's id: the replica part of the response ids it is given. */
  private final String responseTag;
  /** A hash of the deployment's id, its identity in rendezvous hashing: the same on every node for one config. */
  private final long affinityHash;

  private final DeploymentHealth health;
  private final DeploymentLoad load = new DeploymentLoad();

  public Deployment(DeploymentConfig config) {
    this(config, new DeploymentHealth(io.sluice.config.RouterSettings.DEFAULT_ALLOWED_FAILS,
        io.sluice.config.RouterSettings.DEFAULT_COOLDOWN));
  }

  public Deployment(DeploymentConfig config, DeploymentHealth health) {
    this.config = config;
    this.health = health;
    URI base = config.apiBase();
    boolean tls = "https".equalsIgnoreCase(base.getScheme());
    int port = base.getPort() > 0 ? base.getPort() : tls ? 443 : 80;
    String host = base.getHost();
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    this.endpoint = new Endpoint(host, port, tls);
    String path = base.getRawPath() == null ? "" : base.getRawPath();
    this.basePath = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    this.hostHeader = AsciiString.of(endpoint.hostHeader());
    this.authorization = config.apiKey() == null ? null : AsciiString.of("Bearer " + config.apiKey().reveal());
    byte[] quoted = JsonStringEncoder.getInstance().quoteAsUTF8(config.upstreamModel());
    byte[] literal = new byte[quoted.length + 2];
    literal[0] = '"';
    System.arraycopy(quoted, 0, literal, 1, quoted.length);
    literal[literal.length - 1] = '"';
    // Direct, so a spliced body is all-direct and goes out with writev (a heap component would make the native
    // transport copy the whole body). JDK-owned memory, freed by the GC with this deployment: registries are
    // swapped without an explicit release.
    java.nio.ByteBuffer direct = java.nio.ByteBuffer.allocateDirect(literal.length).put(literal);
    direct.flip();
    this.upstreamModelJson = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(direct).asReadOnly());
    this.weight = config.weight() != null ? config.weight() : 0;
    this.affinityHash = Rendezvous.hash(config.id());
    this.responseTag = ResponseIds.tag(config.id());
  }

  /**
   * How a response of this replica gets the client's model name: {@code find} = {@code "model":"<this replica's
   * name>"}, {@code replace} = {@code "model":"<clientModel>"} (JSON bytes; shared, read-only); null = the same.
   */
  public record Restamp(String clientModel, byte[] find, byte[] replace) {
  }

  /** The last {@link #restamp}: one entry, the common case (one name per group). */
  private volatile Restamp restamp;

  /**
   * The {@link Restamp} for {@code clientModel}, or null when this replica's name for it is {@code clientModel}
   * itself; kept for the last {@code clientModel} asked (no allocation on the common path).
   */
  public Restamp restamp(String clientModel) {
    Restamp r = restamp;
    if (r == null || !r.clientModel().equals(clientModel)) {
      String served = wildcard() ? upstreamModelFor(clientModel) : upstreamModel();
      r = new Restamp(clientModel, served.equals(clientModel) ? null : member(served), member(clientModel));
      restamp = r;
    }
    return r.find() == null ? null : r;
  }

  private static byte[] member(String model) {
    byte[] q = JsonStringEncoder.getInstance().quoteAsUTF8(model);
    byte[] head = "\"model\":\"".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    byte[] m = new byte[head.length + q.length + 1];
    System.arraycopy(head, 0, m, 0, head.length);
    System.arraycopy(q, 0, m, head.length, q.length);
    m[m.length - 1] = '"';
    return m;
  }

  /** The replica tag of the Responses API ids this deployment's responses get ({@link ResponseIds}). */
  public String responseTag() {
    return responseTag;
  }

  public DeploymentConfig config() {
    return config;
  }

  /** The hash of {@link #id()} that rendezvous hashing combines with a request's key ({@link ModelGroup}). */
  public long affinityHash() {
    return affinityHash;
  }

  /** Whether it sets {@code litellm_params.rpm} or {@code tpm} (limits, where they are enforced). */
  public boolean hasRateLimits() {
    return config.rpm() != null || config.tpm() != null;
  }

  /**
   * Whether it is at its {@code rpm} (attempts sent) or {@code tpm} (tokens of responses ended) in the current
   * minute, as this node counted them: fixed one-minute windows, as LiteLLM's deployment counters
   * ({@code {id}:{model}:rpm:{HH-MM}}). False when it sets neither.
   */
  public boolean overLimit(long nowNanos) {
    Integer rpm = config.rpm();
    Integer tpm = config.tpm();
    return rpm != null && load.requestsThisMinute(nowNanos) >= rpm
        || tpm != null && load.tokensThisMinute(nowNanos) >= tpm;
  }

  public String id() {
    return config.id();
  }

  public String modelGroup() {
    return config.modelName();
  }

  /** USD per prompt token; 0 when unset. */
  public double inputCostPerToken() {
    return config.inputCostPerToken() == null ? 0 : config.inputCostPerToken();
  }

  /** USD per completion token; 0 when unset. */
  public double outputCostPerToken() {
    return config.outputCostPerToken() == null ? 0 : config.outputCostPerToken();
  }

  /** Whether the upstream model is a wildcard template ({@code hosted_vllm/*}): filled from each request's model. */
  public boolean wildcard() {
    return Wildcards.isPattern(config.upstreamModel());
  }

  /**
   * The model name to send upstream for a request that asked for {@code requested}: the upstream model, or — for a
   * wildcard deployment — its template filled with what {@code requested} matched of the group's pattern (the
   * requested name itself when the group's name is not a pattern or does not match it).
   */
  public String upstreamModelFor(String requested) {
    if (!wildcard()) {
      return config.upstreamModel();
    }
    java.util.List<String> parts = Wildcards.match(config.modelName(), requested);
    return parts == null ? requested : Wildcards.fill(config.upstreamModel(), parts);
  }

  public String upstreamModel() {
    return config.upstreamModel();
  }

  public Endpoint endpoint() {
    return endpoint;
  }

  /** The path of {@code api_base} without a trailing slash, e.g. {@code /v1}; upstream paths are appended. */
  public String basePath() {
    return basePath;
  }

  public AsciiString hostHeader() {
    return hostHeader;
  }

  /** {@code Bearer <api_key>} for the upstream {@code Authorization} header, or null when the replica has no key. */
  public AsciiString authorization() {
    return authorization;
  }

  /** Length in bytes of {@link #upstreamModelJson()}. */
  /**
   * The replica server's root path: {@link #basePath()} without a trailing {@code /v1} — what {@code /vllm/<path>}
   * is relative to (LiteLLM: "replace the vLLM base URL with {@code <proxy>/vllm}").
   */
  public String rootPath() {
    return basePath.endsWith("/v1") ? basePath.substring(0, basePath.length() - 3) : basePath;
  }

  /**
   * The request target for a route without a query: {@code rootPath()} (when {@code atRoot}) or {@code basePath()},
   * then {@code suffix}; made once per slot (the caller's fixed number for that route, below {@link #TARGET_SLOTS})
   * and then shared, so the relay builds no string per request for it.
   */
  public String target(int slot, boolean atRoot, String suffix) {
    String t = targets.get(slot);
    if (t == null) {
      t = (atRoot ? rootPath() : basePath) + suffix;
      targets.set(slot, t); // racing loops compute the same string
    }
    return t;
  }

  /** How many slots {@link #target} has. */
  public static final int TARGET_SLOTS = 64;
  private final java.util.concurrent.atomic.AtomicReferenceArray<String> targets =
      new java.util.concurrent.atomic.AtomicReferenceArray<>(TARGET_SLOTS);

  public int upstreamModelJsonLength() {
    return upstreamModelJson.readableBytes();
  }

  /**
   * The upstream model name as a JSON string literal (quotes included), spliced into request bodies. Shared,
   * read-only and unreleasable: callers take a {@code duplicate()} and need not release it.
   */
  public ByteBuf upstreamModelJson() {
    return upstreamModelJson.duplicate();
  }

  /** Time to the first response byte before a 504, or null for the router/litellm default. */
  public Duration timeout() {
    return config.timeout();
  }

  double weight() {
    return weight;
  }

  /** In-flight requests and the last scraped vLLM load, shared by all event loops. */
  public DeploymentLoad load() {
    return load;
  }

  /** Passive health: failures and cooldown, shared by all event loops. */
  public DeploymentHealth health() {
    return health;
  }

  @Override
  public String toString() {
    return "Deployment[" + config.id() + " " + config.modelName() + " → " + endpoint + "]";
  }
}
