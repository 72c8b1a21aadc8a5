package io.sluice.http;

import io.sluice.auth.KeyLimits;
import io.sluice.auth.KeyRecord;
import io.sluice.json.UsageScanner;
import io.sluice.limits.LimitScope;
import io.sluice.limits.RateLimiter;
import io.sluice.routing.Deployment;
import io.sluice.usage.UsageEvent;
import io.sluice.usage.UsageEvent.Outcome;
import io.sluice.usage.UsageSink;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Token accounting and limits for relayed requests: which limits a key's request counts against, and — once per
 * request, when it ends however it ends — its tokens (the replica's {@code usage} read from the passing bytes, else
 * an estimate marked as such), its spend, one {@link UsageEvent} to the {@link UsageSink}, the limiter's release and
 * the replica's tokens-per-minute for usage-based routing. Thread-safe (stateless apart from its parts).
 */
public final class Metering {
  private static final Logger log = LoggerFactory.getLogger(Metering.class);

  /** Nothing recorded, nothing limited. */
  public static final Metering NONE = new Metering(UsageSink.NONE, null);

  private final UsageSink sink;
  private final RateLimiter limiter;
  private final io.sluice.auth.EndUserStore endUsers;

  /** Without end users (the body's {@code user} is recorded, never looked up). */
  public Metering(UsageSink sink, RateLimiter limiter) {
    this(sink, limiter, io.sluice.auth.EndUserStore.NONE);
  }

  /**
   * @param sink     where usage events go ({@link UsageSink#NONE}: nowhere)
   * @param limiter  the limiter, or null for no limits (no database, so no keys with limits)
   * @param endUsers where the body's {@code user} is looked up before admission ({@link
   *                 io.sluice.auth.EndUserStore#NONE}: not at all)
   */
  public Metering(UsageSink sink, RateLimiter limiter, io.sluice.auth.EndUserStore endUsers) {
    this.sink = sink;
    this.limiter = limiter;
    this.endUsers = endUsers == null ? io.sluice.auth.EndUserStore.NONE : endUsers;
  }

  /**
   * The sink's {@link UsageSink#rehearse}: its real write path run on {@code events}, nothing kept (the start-up
   * warm-up's). Blocking.
   */
  public int rehearse(java.util.Collection<UsageEvent> events) {
    return sink.rehearse(events);
  }

  RateLimiter limiter() {
    return limiter;
  }

  io.sluice.auth.EndUserStore endUsers() {
    return endUsers;
  }

  /** Whether usage events are recorded. */
  boolean records() {
    return sink != UsageSink.NONE;
  }

  /** The scopes a key's request counts against, in order key, user, team; empty when none has a limit. */
  static List<LimitScope> scopes(KeyRecord key) {
    return scopes(key, null);
  }

  /**
   * The scopes a request counts against, in order key, user, team, team member, end user; empty when none has a
   * limit.
   * {@code key} null: the master key (no key limits); {@code endUser} null: none, or not a stored end user.
   */
  static List<LimitScope> scopes(KeyRecord key, io.sluice.auth.EndUser endUser) {
    List<LimitScope> out = new ArrayList<>(4);
    if (key != null) {
      add(out, LimitScope.Kind.KEY, key.hash().hex(), key.limits());
      if (key.userId() != null) {
        add(out, LimitScope.Kind.USER, key.userId(), key.userLimits());
      }
      if (key.teamId() != null) {
        add(out, LimitScope.Kind.TEAM, key.teamId(), key.teamLimits());
      }
      if (key.teamId() != null && key.userId() != null) {
        // One member of one team: both ids, so the same user in two teams has two budgets.
        add(out, LimitScope.Kind.TEAM_MEMBER, memberId(key.teamId(), key.userId()), key.memberLimits());
      }
    }
    if (endUser != null) {
      add(out, LimitScope.Kind.END_USER, endUser.id(), endUser.limits());
    }
    return out;
  }

  /**
   * What a request holds against {@code scopes} from admission to its end (issue 20 §3): nothing unless some scope
   * has a budget or a tpm limit. Its worst case: prompt tokens estimated as body bytes / 4 (0 for multipart audio),
   * plus its output cap — the body's {@code max_tokens}/{@code max_completion_tokens}/{@code max_output_tokens},
   * else {@code defaultOutputCap} on a generating route (chat, completions, responses, messages), else 0 — priced
   * at the group's most expensive deployment (routing has not chosen one yet).
   */
  static io.sluice.limits.Reservation reservation(Exchange ex, List<LimitScope> scopes, int defaultOutputCap) {
    boolean any = false;
    for (int i = 0, n = scopes.size(); i < n; i++) {
      any |= scopes.get(i).countsUsage();
    }
    if (!any) {
      return io.sluice.limits.Reservation.NONE;
    }
    long prompt = ex.route.multipart() || ex.body == null ? 0 : ex.body.readableBytes() / 4;
    long output = ex.outputTokenCap >= 0 ? ex.outputTokenCap : generates(ex.route) ? defaultOutputCap : 0;
    io.sluice.routing.ModelGroup g = ex.group;
    double spend = g == null ? 0 : prompt * g.maxInputCostPerToken() + output * g.maxOutputCostPerToken();
    return io.sluice.limits.Reservation.of(prompt + output, spend);
  }

  private static boolean generates(Route r) {
    return r == Route.CHAT_COMPLETIONS || r == Route.COMPLETIONS || r == Route.RESPONSES || r == Route.MESSAGES;
  }

  /** The limiter's id of a team member: team id and user id, length-prefixed so no two pairs share one. */
  static String memberId(String teamId, String userId) {
    return teamId.length() + ":" + teamId + ":" + userId;
  }

  private static void add(List<LimitScope> out, LimitScope.Kind kind, String id, KeyLimits l) {
    if (!l.limited()) {
      return;
    }
    long reset = l.budgetResetAt() == null ? 0 : l.budgetResetAt().getEpochSecond();
    out.add(new LimitScope(kind, id, l.rpmLimit(), l.tpmLimit(), l.maxParallelRequests(), l.maxBudget(), l.spend(),
        reset == 0 ? "-" : Long.toString(reset), reset));
  }

  /**
   * The exchange ended (response complete, failed, or the client left): count it. Called once per metered exchange,
   * on its event loop; never throws.
   */
  void ended(Exchange ex, boolean clientGone) {
    try {
      record(ex, clientGone);
    } catch (RuntimeException e) {
      log.warn("[{}] usage accounting failed: {}", ex.requestId, e.toString());
    }
  }

  private void record(Exchange ex, boolean clientGone) {
    Deployment d = ex.deployment;
    UsageScanner u = ex.usage;
    long prompt = 0;
    long completion = 0;
    boolean estimated = false;
    // An Anthropic stream reports input tokens in its first event (message_start, with output_tokens 0 or 1) and the
    // final output tokens only in message_delta: one cut short has usage, but not the whole of it.
    boolean anthropicCut = u != null && ex.stream && ex.route == Route.MESSAGES && (clientGone || ex.failure != null);
    if (u != null && u.reported() && !anthropicCut) {
      prompt = u.promptTokens();
      completion = u.completionTokens();
    } else if (u != null && ex.upstreamStatus >= 200 && ex.upstreamStatus < 300) {
      // The replica generated but reported no usage: a stream cut short, or a usage chunk that never came.
      // One token per content event (the chat stream's first event carries only the role; an Anthropic stream's
      // message_start and content_block_start carry none), the prompt from its bytes unless the replica said it.
      estimated = true;
      int overhead = ex.route == Route.CHAT_COMPLETIONS ? 1 : ex.route == Route.MESSAGES ? 2 : 0;
      completion = Math.max(Math.max(0, u.completionTokens()), u.events() - overhead);
      // An audio body's bytes are no text: nothing is estimated from them (the replica's usage counts, or nothing).
      prompt = u.promptTokens() >= 0 ? u.promptTokens() : ex.route.multipart() ? 0 : ex.requestBodyBytes / 4;
    }
    double spend = d == null ? 0 : prompt * d.inputCostPerToken() + completion * d.outputCostPerToken();
    ex.promptTokens = prompt;
    ex.completionTokens = completion;
    ex.spend = spend;
    ex.outcome = outcome(ex, clientGone);
    if (d != null && prompt + completion > 0) {
      d.load().addTokens(prompt + completion, System.nanoTime());
    }
    if (ex.limits != null) {
      // The one settlement: frees the slots and replaces the reservation with what was actually used.
      List<LimitScope> scopes = ex.limits;
      io.sluice.limits.Reservation held = ex.reservation;
      ex.limits = null;
      ex.reservation = io.sluice.limits.Reservation.NONE;
      limiter.release(scopes, held, prompt + completion, spend, System.currentTimeMillis());
    }
    if (sink == UsageSink.NONE) {
      return;
    }
    KeyRecord key = ex.principal == null ? null : ex.principal.key();
    Outcome outcome = ex.outcome;
    UsageEvent e = new UsageEvent(ex.requestId, key == null ? null : key.hash().hex(), key == null ? null : key.alias(),
        key == null ? null : key.userId(), key == null ? null : key.teamId(), ex.path,
        ex.group == null ? ex.model : ex.group.name(), d == null ? null : d.id(), prompt, completion, estimated, spend,
        ex.startMillis * 1000, endMicros(ex), clientGone && !ex.responseStarted() ? 0 : ex.status,
        outcome, ex.stream, ex.endUser);
    sink.offer(e); // a full queue drops; the sink counts and logs it
  }

  /**
   * When the exchange ended, in microseconds since the epoch: its wall-clock start plus the time it took on the
   * monotonic clock (no {@code Instant} per request, and an end never before its start).
   */
  private static long endMicros(Exchange ex) {
    return ex.startMillis * 1000 + (System.nanoTime() - ex.startNanos) / 1000;
  }

  static Outcome outcome(Exchange ex, boolean clientGone) {
    if (clientGone) {
      return Outcome.CLIENT_GONE;
    }
    ProxyError f = ex.failure;
    if (f == null) {
      return ex.status >= 500 ? Outcome.UPSTREAM_ERROR : Outcome.COMPLETED;
    }
    return switch (f) {
      case UPSTREAM_TIMEOUT -> Outcome.TIMEOUT;
      case UPSTREAM_BROKEN, UPSTREAM_UNREACHABLE, UPSTREAM_POOL_EXHAUSTED -> Outcome.UPSTREAM_ERROR;
      default -> Outcome.REJECTED;
    };
  }
}
