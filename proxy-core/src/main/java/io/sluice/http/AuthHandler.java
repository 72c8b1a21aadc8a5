package io.sluice.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.sluice.auth.Authenticator;
import io.sluice.auth.Authenticator.Outcome;
import io.sluice.auth.KeyRecord;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Authenticates each exchange whose route needs a key (after {@link RequestGuard}). The master key is answered in
 * the same loop turn; a virtual key's lookup completes off the loop, so reads are paused, body chunks that already
 * arrived are held (retained, bounded by the body limit), and the exchange resumes on this channel's event loop —
 * or, if the client left meanwhile, the held chunks are released. Rejections → 401 in LiteLLM's shape. Once
 * accepted, a client that sent {@code Expect: 100-continue} is told to send its body (RFC 9110 §10.1.1) — only
 * then, so a refused client never uploads.
 *
 * <p>Pipeline position ({@link GatewayInitializer}): auth — after the guard, before the UI. Owns the caller's
 * credential: the principal, the credential header to strip, the held body chunks while a key lookup is in flight.
 */
final class AuthHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(AuthHandler.class);

  private final ClientConnection conn;
  private final Authenticator authenticator;
  /** The UI's sessions, or null (no UI: a session cookie means nothing). */
  private final io.sluice.auth.UiSessions sessions;
  private final ArrayDeque<HttpContent> held = new ArrayDeque<>(4);
  private Exchange pending;

  AuthHandler(ClientConnection conn, Authenticator authenticator) {
    this(conn, authenticator, null);
  }

  AuthHandler(ClientConnection conn, Authenticator authenticator, io.sluice.auth.UiSessions sessions) {
    this.conn = conn;
    this.authenticator = authenticator;
    this.sessions = sessions;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      releaseHeld();
      pending = null;
      if (!ex.requiresKey()) {
        ex.credentials = Credentials.none(authenticator);
        checkOtherKeys(ctx, ex);
        return;
      }
      CompletableFuture<Outcome> f = sessionOutcome(ex);
      if (f == null) {
        return; // refused
      }
      if (f == NO_SESSION_F) {
        f = authenticator.authenticate(ex.request.headers(),
            ex.passThrough == null ? null : ex.passThrough.keyHeader(), ex.family() == Route.Family.ANTHROPIC)
            .toCompletableFuture();
      }
      if (f.isDone() && !f.isCompletedExceptionally()) {
        decide(ctx, ex, f.getNow(null));
        return;
      }
      await(ctx, ex, f, outcome -> decide(ctx, ex, outcome), "key lookup");
    } else if (pending != null && msg instanceof HttpContent c) {
      held.add(c);
    } else {
      ctx.fireChannelRead(msg);
    }
  }

  private static final Outcome NO_SESSION = new Outcome(null, null, "no session", false);
  private static final CompletableFuture<Outcome> NO_SESSION_F = CompletableFuture.completedFuture(NO_SESSION);

  /**
   * The UI's session cookie as the credential: only on the routes the UI calls (management and {@code /ui/api}),
   * only when no key header is present (a key always wins), and for writes only with the session's CSRF token from
   * this origin. Returns {@link #NO_SESSION_F} when the cookie does not apply, null when the exchange was refused
   * here, else the outcome (a virtual key's session re-checks the key: a blocked or deleted key ends its sessions).
   */
  private CompletableFuture<Outcome> sessionOutcome(Exchange ex) {
    if (sessions == null || (ex.route != Route.MANAGEMENT && ex.route != Route.UI_API)
        || UiSecurity.hasKeyHeader(ex.request.headers())) {
      return NO_SESSION_F;
    }
    String id = UiSecurity.sessionId(ex.request.headers());
    if (id == null) {
      return NO_SESSION_F;
    }
    java.util.Optional<io.sluice.auth.UiSessions.Session> s = sessions.find(id);
    if (s.isEmpty()) {
      ex.fail(ProxyError.AUTH, "Authentication Error, the UI session has expired or was signed out: sign in again "
          + "at /ui.");
      return null;
    }
    String denial = UiSecurity.csrfDenial(ex.request, s.get());
    if (denial != null) {
      log.debug("[{}] UI session write refused: {}", ex.requestId, denial);
      ex.fail(ProxyError.FORBIDDEN, denial);
      return null;
    }
    if (s.get().master()) {
      return CompletableFuture.completedFuture(new Outcome(io.sluice.auth.Principal.MASTER, null, null, false));
    }
    io.sluice.auth.KeyHash hash = s.get().keyHash();
    return authenticator.authenticateHash(hash).toCompletableFuture().thenApply(o -> {
      if (!o.accepted()) {
        sessions.removeKey(hash);
      }
      return o;
    });
  }

  /**
   * Pauses reads until {@code f} completes, then runs {@code then} on the channel's event loop — unless the channel
   * closed or the exchange was answered meanwhile (held chunks released). A failed lookup fails the exchange with
   * 500; a throw from {@code then} goes to the pipeline's last-resort handler.
   */
  private <T> void await(ChannelHandlerContext ctx, Exchange ex, CompletableFuture<T> f,
      java.util.function.Consumer<T> then, String what) {
    pending = ex;
    conn.pauseReads(ClientConnection.PAUSE_AUTH);
    io.opentelemetry.api.trace.Span lookup = Tracing.childOf(ex, what); // a cache miss
    f.whenCompleteAsync((value, err) -> {
      if (lookup != null) {
        Tracing.endChild(lookup, err);
      }
      if (pending != ex) {
        return; // the channel closed meanwhile; held chunks are already released
      }
      pending = null;
      conn.resumeReads(ClientConnection.PAUSE_AUTH);
      if (!ctx.channel().isActive() || ex.responseStarted()) {
        releaseHeld(); // the client left, or the exchange was answered meanwhile (e.g. 408)
        return;
      }
      if (err != null) {
        log.warn("[{}] {} failed: {}", ex.requestId, what, err.toString());
        releaseHeld();
        ex.fail(ProxyError.INTERNAL, "Key lookup failed; try again. The operator can see the cause in Sluice's log.");
        return;
      }
      try {
        then.accept(value);
      } catch (RuntimeException e) {
        releaseHeld();
        ctx.fireExceptionCaught(e);
      }
    }, ctx.executor());
  }

  private void decide(ChannelHandlerContext ctx, Exchange ex, Outcome outcome) {
    ex.credentialHeader = outcome.credentialHeader();
    if (!outcome.accepted()) {
      releaseHeld();
      ex.fail(outcome.expired() ? ProxyError.EXPIRED_KEY : ProxyError.AUTH, outcome.rejection());
      return;
    }
    ex.principal = outcome.principal();
    KeyRecord key = ex.principal.key();
    if (key != null && !RoutePolicy.allows(key.allowedRoutes(), ex.route, ex.path)) {
      releaseHeld();
      ex.fail(ProxyError.FORBIDDEN, "Virtual key is not allowed to call this route. Only allowed to call routes: "
          + key.allowedRoutes() + ". Tried to call route: " + PathNormalizer.redacted(ex.path));
      return;
    }
    ex.credentials = Credentials.of(ex.request.headers(), outcome.credentialHeader(), authenticator);
    checkOtherKeys(ctx, ex);
  }

  /**
   * A request going upstream may carry Sluice keys besides the one that authenticated (an SDK's
   * {@code Authorization} next to {@code x-litellm-api-key}, a key in {@code x-api-key}): those found valid join
   * the exchange's {@link Credentials}, so no header carries them upstream. Usually there are none to look up.
   */
  private void checkOtherKeys(ChannelHandlerContext ctx, Exchange ex) {
    Route.RouteClass rc = ex.route.routeClass;
    if (rc == Route.RouteClass.LLM || rc == Route.RouteClass.PASSTHROUGH) {
      List<String> unknown = ex.credentials.unknownCandidates(ex.request.headers(),
          ex.passThrough == null ? null : ex.passThrough.keyHeader(), authenticator);
      if (!unknown.isEmpty()) {
        CompletableFuture<List<String>> f = authenticator.validKeys(unknown);
        if (f.isDone() && !f.isCompletedExceptionally()) {
          f.getNow(List.of()).forEach(ex.credentials::add);
        } else {
          await(ctx, ex, f, valid -> {
            valid.forEach(ex.credentials::add);
            proceed(ctx, ex);
          }, "key lookup of a second credential");
          return;
        }
      }
    }
    proceed(ctx, ex);
  }

  private void proceed(ChannelHandlerContext ctx, Exchange ex) {
    if (ex.expectContinue && !ex.requestComplete && held.isEmpty()) {
      ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE),
          ctx.voidPromise());
    }
    ctx.fireChannelRead(ex);
    HttpContent c;
    while ((c = held.poll()) != null) {
      if (ex.responseStarted()) {
        c.release();
      } else {
        ctx.fireChannelRead(c);
      }
    }
  }

  private void releaseHeld() {
    HttpContent c;
    while ((c = held.poll()) != null) {
      ReferenceCountUtil.release(c);
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    pending = null;
    releaseHeld();
    ctx.fireChannelInactive();
  }
}
