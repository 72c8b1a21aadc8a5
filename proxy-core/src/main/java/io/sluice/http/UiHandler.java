package io.sluice.http;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslHandler;
import io.sluice.auth.Authenticator;
import io.sluice.auth.Principal;
import io.sluice.auth.Role;
import io.sluice.auth.UiSessions;
import io.sluice.routing.Deployment;
import io.sluice.routing.DeploymentLoad;
import io.sluice.routing.ModelGroup;
import io.sluice.routing.RegistryHolder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the admin UI (after {@link AuthHandler}): its static files from the classpath ({@code sluice-ui/}, inside
 * the jar), sign-in ({@code POST /ui/login} with {@code {"key": …}} in the body: the master key or the key of a
 * {@code proxy_admin} / {@code proxy_admin_viewer} user), sign-out ({@code POST /ui/logout}), the session
 * ({@code GET /ui/session}: role and CSRF token for the page's script, which keeps them in memory only), and the
 * live deployment state ({@code GET /ui/api/deployments}). Everything else the UI shows comes from the admin API,
 * called with the session cookie ({@link AuthHandler}). The key is read from the body only, never a URL, and never
 * logged. Bodies here are tiny: more than {@value #MAX_BODY} bytes is a 413. Event loop only.
 *
 * <p>Pipeline position ({@link GatewayInitializer}): ui — after auth, before local endpoints. Owns the UI routes and
 * their sessions.
 */
final class UiHandler extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(UiHandler.class);
  static final int MAX_BODY = 8192;
  private static final JsonFactory JSON = new JsonFactory();
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final Pattern ASSET = Pattern.compile("[a-z0-9][a-z0-9-]*\\.(js|css|svg|html)");
  /** Classpath assets, read once (they cannot change inside a jar); a missing one is remembered as empty. */
  private static final Map<String, byte[]> ASSETS = new ConcurrentHashMap<>();
  private static final byte[] MISSING = new byte[0];

  private final ClientConnection conn;
  private final UiSessions sessions;
  private final Authenticator authenticator;
  private final RegistryHolder registry;
  private Exchange current;
  private CompositeByteBuf body;

  UiHandler(ClientConnection conn, UiSessions sessions, Authenticator authenticator, RegistryHolder registry) {
    this.conn = conn;
    this.sessions = sessions;
    this.authenticator = authenticator;
    this.registry = registry;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Exchange ex) {
      reset();
      if (ex.route != Route.UI && ex.route != Route.UI_API) {
        ctx.fireChannelRead(ex);
        return;
      }
      current = ex;
      body = ctx.alloc().compositeBuffer(16);
      return;
    }
    if (current != null && msg instanceof HttpContent c) {
      Exchange ex = current;
      if (ex.responseStarted()) {
        c.release();
        if (c instanceof LastHttpContent) {
          reset();
        }
        return;
      }
      if (body.readableBytes() + c.content().readableBytes() > MAX_BODY) {
        c.release();
        reset();
        ex.fail(ProxyError.PAYLOAD_TOO_LARGE, "The UI's requests are small: more than " + MAX_BODY + " bytes.");
        return;
      }
      body.addComponent(true, c.content());
      if (c instanceof LastHttpContent) {
        String text = body.toString(StandardCharsets.UTF_8);
        reset();
        if (sessions == null) {
          ex.fail(ProxyError.NOT_FOUND, "The admin UI is not enabled on this gateway.");
        } else {
          handle(ctx, ex, text);
        }
      }
      return;
    }
    ctx.fireChannelRead(msg);
  }

  private void handle(ChannelHandlerContext ctx, Exchange ex, String text) {
    String path = ex.path;
    HttpMethod m = ex.request.method();
    if (ex.route == Route.UI_API) {
      if (path.equals("/ui/api/deployments")) {
        deployments(ctx, ex);
      } else {
        ex.fail(ProxyError.NOT_FOUND, "Route " + PathNormalizer.redacted(path) + " not found. UI data: "
            + "/ui/api/deployments.");
      }
      return;
    }
    switch (path) {
      case "/ui/login" -> {
        if (requirePost(ex, m)) {
          login(ctx, ex, text);
        }
      }
      case "/ui/logout" -> {
        if (requirePost(ex, m)) {
          logout(ctx, ex);
        }
      }
      case "/ui/session" -> session(ex);
      case "/ui", "/ui/" -> asset(ex, "index.html");
      default -> asset(ex, path.substring("/ui/".length()));
    }
  }

  private static boolean requirePost(Exchange ex, HttpMethod m) {
    if (!m.equals(HttpMethod.POST)) {
      ex.fail(ProxyError.METHOD_NOT_ALLOWED, "Method " + m + " not allowed on " + ex.path + ": use POST.");
      return false;
    }
    return true;
  }

  private void asset(Exchange ex, String name) {
    if (!ex.request.method().equals(HttpMethod.GET)) {
      ex.fail(ProxyError.METHOD_NOT_ALLOWED, "Method " + ex.request.method() + " not allowed on " + ex.path
          + ": use GET.");
      return;
    }
    byte[] bytes = ASSET.matcher(name).matches() ? ASSETS.computeIfAbsent(name, UiHandler::load) : MISSING;
    if (bytes == MISSING) {
      ex.fail(ProxyError.NOT_FOUND, "No such page or file in the admin UI: " + PathNormalizer.redacted(ex.path)
          + ". Open /ui.");
      return;
    }
    ex.reply(HttpResponseStatus.OK, Unpooled.wrappedBuffer(bytes), false, 0, contentType(name),
        UiSecurity.headers(true));
  }

  private static byte[] load(String name) {
    try (InputStream in = UiHandler.class.getClassLoader().getResourceAsStream("sluice-ui/" + name)) {
      return in == null ? MISSING : in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String contentType(String name) {
    if (name.endsWith(".js")) {
      return "text/javascript; charset=utf-8";
    }
    if (name.endsWith(".css")) {
      return "text/css; charset=utf-8";
    }
    if (name.endsWith(".svg")) {
      return "image/svg+xml";
    }
    return "text/html; charset=utf-8";
  }

  /** Whether this connection is TLS, or a TLS-terminating proxy in front says so: the cookie is then Secure. */
  private static boolean secure(ChannelHandlerContext ctx, Exchange ex) {
    return ctx.pipeline().get(SslHandler.class) != null
        || "https".equalsIgnoreCase(ex.request.headers().get("x-forwarded-proto"));
  }

  private void login(ChannelHandlerContext ctx, Exchange ex, String text) {
    String cross = UiSecurity.crossOrigin(ex.request);
    if (cross != null) {
      ex.fail(ProxyError.FORBIDDEN, "Cross-site sign-in refused: " + cross + ".");
      return;
    }
    String key;
    try {
      JsonNode n = text.isBlank() ? null : MAPPER.readTree(text);
      key = n == null || !n.path("key").isTextual() ? null : n.get("key").asText();
    } catch (IOException e) {
      key = null;
    }
    if (key == null || key.isBlank()) {
      ex.fail(ProxyError.BAD_REQUEST, "Send {\"key\": \"<master key or an admin user's key>\"} as the JSON body.");
      return;
    }
    boolean tls = secure(ctx, ex);
    authenticator.authenticateKey(key).whenCompleteAsync((o, err) -> {
      if (err != null) {
        log.warn("[{}] UI sign-in: key lookup failed: {}", ex.requestId, err.toString());
        ex.fail(ProxyError.INTERNAL, "Key lookup failed; try again. The operator can see the cause in Sluice's log.");
        return;
      }
      if (!o.accepted()) {
        log.debug("[{}] UI sign-in refused: {}", ex.requestId, o.rejection());
        ex.fail(o.expired() ? ProxyError.EXPIRED_KEY : ProxyError.AUTH, o.rejection());
        return;
      }
      Principal p = o.principal();
      if (p.role() != Role.PROXY_ADMIN && p.role() != Role.PROXY_ADMIN_VIEWER) {
        ex.fail(ProxyError.FORBIDDEN, "Only the master key or the key of a proxy_admin or proxy_admin_viewer user "
            + "may sign in to the UI (this key's role: " + p.role().wireName() + ").");
        return;
      }
      UiSessions.Created c = sessions.create(p);
      log.info("[{}] UI sign-in: role {} key {}", ex.requestId, p.role().wireName(), p.keyHashPrefix());
      HttpHeaders h = UiSecurity.headers(false);
      h.add(HttpHeaderNames.SET_COOKIE, UiSessions.COOKIE + "=" + c.id() + "; Path=/; HttpOnly; SameSite=Strict; Max-Age="
          + sessions.maxAge().toSeconds() + (tls ? "; Secure" : ""));
      ex.reply(HttpResponseStatus.OK, sessionJson(c.session()), false, 0, HttpHeaderValues.APPLICATION_JSON, h);
    }, ctx.executor());
  }

  private void logout(ChannelHandlerContext ctx, Exchange ex) {
    String id = UiSecurity.sessionId(ex.request.headers());
    UiSessions.Session s = id == null ? null : sessions.find(id).orElse(null);
    if (s != null) {
      String denial = UiSecurity.csrfDenial(ex.request, s);
      if (denial != null) {
        ex.fail(ProxyError.FORBIDDEN, denial);
        return;
      }
      sessions.remove(id);
    }
    HttpHeaders h = UiSecurity.headers(false);
    h.add(HttpHeaderNames.SET_COOKIE, UiSessions.COOKIE + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        + (secure(ctx, ex) ? "; Secure" : ""));
    ex.reply(HttpResponseStatus.OK, Unpooled.wrappedBuffer("{\"signed_out\":true}".getBytes(StandardCharsets.UTF_8)),
        false, 0, HttpHeaderValues.APPLICATION_JSON, h);
  }

  private void session(Exchange ex) {
    String id = UiSecurity.sessionId(ex.request.headers());
    UiSessions.Session s = id == null ? null : sessions.find(id).orElse(null);
    if (s == null) {
      ex.fail(ProxyError.AUTH, "Not signed in: sign in at /ui with the master key or an admin user's key.");
      return;
    }
    ex.reply(HttpResponseStatus.OK, sessionJson(s), false, 0, HttpHeaderValues.APPLICATION_JSON,
        UiSecurity.headers(false));
  }

  private static ByteBuf sessionJson(UiSessions.Session s) {
    try {
      byte[] b = MAPPER.writeValueAsBytes(Map.of("role", s.role().wireName(), "user_id",
          s.userId() == null ? "" : s.userId(), "csrf_token", s.csrf(), "read_only", s.readOnly(),
          "master_key", s.master()));
      return Unpooled.wrappedBuffer(b);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Every deployment's live state on this node: cooling down or healthy (with the seconds left), requests in
   * flight, and the vLLM load last read from the replica's {@code /metrics} (running, waiting, KV-cache use), when
   * Sluice reads it (routing strategy {@code vllm-load}). Admins and admin viewers; never a key.
   */
  private void deployments(ChannelHandlerContext ctx, Exchange ex) {
    Principal p = ex.principal;
    if (p == null || (p.role() != Role.PROXY_ADMIN && p.role() != Role.PROXY_ADMIN_VIEWER)) {
      ex.fail(ProxyError.FORBIDDEN, "Only proxy_admin and proxy_admin_viewer may read the deployments' live state.");
      return;
    }
    long now = registry.nanoTime();
    ByteBuf buf = ctx.alloc().buffer(512);
    try (JsonGenerator g = JSON.createGenerator((java.io.OutputStream) new ByteBufOutputStream(buf))) {
      g.writeStartObject();
      g.writeArrayFieldStart("data");
      for (ModelGroup group : registry.get().groups()) {
        for (Deployment d : group.deployments()) {
          DeploymentLoad load = d.load();
          boolean cooling = d.health().coolingAt(now);
          g.writeStartObject();
          g.writeStringField("model_name", d.modelGroup());
          g.writeStringField("model_id", d.id());
          g.writeStringField("model", d.config().provider().prefix() + d.upstreamModel());
          g.writeStringField("api_base", d.config().apiBase().toString());
          g.writeStringField("state", cooling ? "cooling_down" : "healthy");
          g.writeNumberField("cooldown_remaining_s", cooling ? Math.max(1, d.health().remainingNanos(now) / 1_000_000_000L)
              : 0);
          g.writeNumberField("in_flight", load.inFlight());
          g.writeNumberField("streams", load.streams());
          if (load.hasScrape()) {
            g.writeObjectFieldStart("vllm");
            g.writeNumberField("running", load.running());
            g.writeNumberField("waiting", load.waiting());
            g.writeNumberField("kv_cache_usage", load.kvCache());
            g.writeEndObject();
          } else {
            g.writeNullField("vllm");
          }
          g.writeEndObject();
        }
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      buf.release();
      throw new UncheckedIOException(e);
    }
    ex.reply(HttpResponseStatus.OK, buf, false, 0, HttpHeaderValues.APPLICATION_JSON, UiSecurity.headers(false));
  }

  private void reset() {
    current = null;
    if (body != null) {
      body.release();
      body = null;
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    reset();
    ctx.fireChannelInactive();
  }
}
