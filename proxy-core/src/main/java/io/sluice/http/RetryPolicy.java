package io.sluice.http;

import io.sluice.routing.Deployment;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.Strategy;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Where one exchange's next attempt goes — the relay's retry and fallback policy, as a plain object: no channel, no
 * clock of its own (every call takes {@code now}), no I/O. {@link UpstreamRelay} holds one per client connection
 * (exchanges run one at a time there), {@link #start starts} it per exchange, asks {@link #next} for each attempt,
 * and reports each failed one with {@link #failed}; {@code RetryPolicyTest} drives it without a socket.
 *
 * <p>The rules (LiteLLM's router): a group's attempts stay within {@code 1 + num_retries}, each on a replica that is
 * not cooling down and was not tried for this exchange; then the fallback groups, in order, each with its own
 * {@code 1 + num_retries}; with none left, the last attempt's error — or, when no attempt could be made because every
 * replica is cooling down, 429 with {@code Retry-After} until the first one recovers.
 *
 * <p>Not thread-safe; event loop only.
 */
final class RetryPolicy {
  /** What to tell the client when no attempt is left. */
  record GiveUp(ProxyError error, String message, long retryAfterSeconds) {
  }

  private final List<Deployment> tried = new ArrayList<>(4);
  private Strategy strategy;
  private io.sluice.config.AffinitySettings affinity = io.sluice.config.AffinitySettings.defaults();
  private boolean keyed;
  private long key;
  private int numRetries;
  private ModelGroup group;
  private List<String> fallbacks;
  private Function<String, ModelGroup> groups;
  private int groupAttempts;
  private int fallbackIndex;
  private ProxyError lastError;
  private String lastMessage;
  /** The context window fallbacks replaced the fallbacks (a replica said the request is too long for it). */
  private boolean contextWindow;

  /**
   * Starts the policy for a new exchange.
   *
   * @param group      the group the request names (or its pass-through target)
   * @param fallbacks  the groups to fall back to, in order (empty: none)
   * @param groups     resolves a fallback's name to its group (null when it no longer exists)
   */
  void start(ModelGroup group, List<String> fallbacks, Function<String, ModelGroup> groups, Strategy strategy,
      int numRetries) {
    start(group, fallbacks, groups, strategy, numRetries, affinity, false, 0);
  }

  /**
   * As above, for a request with an affinity key ({@code keyed}): {@code key} and {@code affinity} go to every
   * choice, so a retry takes the next replica in the key's rendezvous order.
   */
  void start(ModelGroup group, List<String> fallbacks, Function<String, ModelGroup> groups, Strategy strategy,
      int numRetries, io.sluice.config.AffinitySettings affinity, boolean keyed, long key) {
    this.affinity = affinity;
    this.keyed = keyed;
    this.key = key;
    this.group = group;
    this.fallbacks = fallbacks;
    this.groups = groups;
    this.strategy = strategy;
    this.numRetries = numRetries;
    tried.clear();
    groupAttempts = 0;
    fallbackIndex = 0;
    lastError = null;
    lastMessage = null;
    contextWindow = false;
  }

  /**
   * The deployment of the next attempt, counted as made; null when none is left ({@link #giveUp} says what then).
   * May move on to a fallback group: {@link #group()} is the group serving the request afterwards.
   */
  Deployment next(long now) {
    while (true) {
      Deployment d = groupAttempts <= numRetries ? group.choose(strategy, affinity, keyed, key, tried, now) : null;
      if (d != null) {
        tried.add(d);
        groupAttempts++;
        return d;
      }
      if (fallbackIndex >= fallbacks.size()) {
        return null;
      }
      ModelGroup fallback = groups.apply(fallbacks.get(fallbackIndex++));
      if (fallback != null) {
        group = fallback;
        groupAttempts = 0;
      }
    }
  }

  /**
   * Counts {@code d} as tried again without choosing: an attempt re-sent to the same replica (count_tokens answered
   * from its {@code /tokenize}) uses up an attempt like any other.
   */
  void resend(Deployment d) {
    tried.add(d);
    groupAttempts++;
  }

  /**
   * Whether a context window fallback is left: {@code cw} (the exchange's context window fallbacks) before the first
   * context window error, the rest of them after it.
   */
  boolean contextWindowLeft(List<String> cw) {
    return contextWindow ? fallbackIndex < fallbacks.size() : !cw.isEmpty();
  }

  /**
   * The last attempt's replica said the request exceeds its context window (LiteLLM's ContextWindowExceededError):
   * no retry in this group — its replicas serve the same model — and from now on only {@code cw}, in order, each
   * with its own {@code 1 + num_retries} (LiteLLM's router: context_window_fallbacks, not fallbacks, for this error).
   * Returns whether one is left; {@code message} is the answer when none can take it.
   */
  boolean contextWindowExceeded(List<String> cw, String message) {
    if (!contextWindow) {
      contextWindow = true;
      fallbacks = cw;
      fallbackIndex = 0;
    }
    groupAttempts = numRetries + 1;
    lastError = ProxyError.BAD_REQUEST;
    lastMessage = message;
    return fallbackIndex < fallbacks.size();
  }

  /** No fallback group from here on (the request became one only this group's replicas can answer). */
  void dropFallbacks() {
    fallbacks = List.of();
    fallbackIndex = 0;
  }

  /** The last attempt failed before any response byte reached the client; {@code message} says how. */
  void failed(ProxyError error, String message) {
    lastError = error;
    lastMessage = message;
  }

  /** Whether {@link #next} would find another attempt, without changing anything. */
  boolean hasAlternative(long now) {
    if (groupAttempts <= numRetries && group.choose(strategy, affinity, keyed, key, tried, now) != null) {
      return true;
    }
    for (int i = fallbackIndex; i < fallbacks.size(); i++) {
      ModelGroup g = groups.apply(fallbacks.get(i));
      if (g != null && g.choose(strategy, affinity, keyed, key, tried, now) != null) {
        return true;
      }
    }
    return false;
  }

  /**
   * The answer once {@link #next} returned null: the last attempt's error, else (no attempt was possible) 429 naming
   * the requested model and when its first replica leaves cooldown.
   *
   * @param requested the group the client asked for (its cooldown decides {@code Retry-After}); may be null
   * @param name      the model name the client used
   */
  GiveUp giveUp(ModelGroup requested, String name, long now) {
    if (lastError != null) {
      return new GiveUp(lastError, lastMessage, 0);
    }
    if (requested != null && requested.limitedOnly(now)) {
      // LiteLLM's usage-based routing (and its enforce_model_rate_limits check) answer 429 when every deployment is
      // over its rpm/tpm; its words: RouterErrors.no_deployments_available, user_defined_ratelimit_error.
      long s = io.sluice.routing.DeploymentLoad.secondsToNextMinute(now);
      return new GiveUp(ProxyError.RATE_LIMITED, "No deployments available for selected model, passed model=" + name
          + ". Deployment over user-defined ratelimit: every deployment of it is at its rpm/tpm limit for this minute "
          + "(litellm_params.rpm, tpm). Try again in " + s + " s.", s);
    }
    long wait = requested == null ? 0 : requested.nanosUntilAvailable(now);
    long seconds = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(wait + 999_999_999L));
    return new GiveUp(ProxyError.NO_HEALTHY_DEPLOYMENT, "No healthy deployment available for model " + name
        + ": every replica is cooling down after failures. Try again in " + seconds + " s.", seconds);
  }

  /** The group serving the request now: the requested one, or the fallback {@link #next} moved to. */
  ModelGroup group() {
    return group;
  }

  /** Attempts made so far in the current group. */
  int groupAttempts() {
    return groupAttempts;
  }
}
