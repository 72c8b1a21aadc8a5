package io.sluice.http;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.sluice.auth.KeyRecord;
import io.sluice.usage.UsageEvent.Outcome;
import java.io.IOException;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Instant;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One JSON line per request on the {@code sluice.access} logger, written off the event loops: the loop copies a
 * handful of fields into an {@link Entry} and queues it (bounded; never blocks — a full queue drops, counts and
 * warns once a minute); a daemon thread formats the JSON and logs it. Fields: {@code time}, {@code request_id},
 * {@code method}, {@code route} (the path, with anything key-like redacted), {@code model_group},
 * {@code deployment_id}, {@code status}, {@code ttfb_ms}, {@code duration_ms}, {@code prompt_tokens},
 * {@code completion_tokens}, {@code bytes_in}, {@code bytes_out}, {@code key_alias}, {@code user}, {@code team},
 * {@code client}, {@code outcome} ({@code completed}, {@code client_gone}, {@code upstream_error}, {@code timeout},
 * {@code rejected}). Never a key, a replica key or a client provider key: none of them is in an entry.
 */
public final class AccessLog implements AutoCloseable {
  private static final Logger warn = LoggerFactory.getLogger(AccessLog.class);
  private static final JsonFactory JSON = new JsonFactory();

  /** No access log. */
  public static final AccessLog NONE = new AccessLog(null, 0);

  /**
   * What the event loop hands over: plain values, no reference to the exchange or its buffers. The path is redacted
   * and the client address formatted on the writer thread, not on the loop.
   */
  record Entry(long endMillis, String requestId, String method, String path, String modelGroup,
      String deploymentId, int status, long ttfbMicros, long durationMicros, long promptTokens,
      long completionTokens, long bytesIn, long bytesOut, String keyAlias, String user, String team,
      SocketAddress client, String outcome) {}

  private final Logger out;
  private final ArrayBlockingQueue<Entry> queue;
  private final Thread thread;
  private final AtomicLong dropped = new AtomicLong();
  private volatile long lastWarn;
  private volatile boolean closed;

  /** Writes to the {@code sluice.access} logger (see the README for its configuration). */
  public static AccessLog start() {
    return new AccessLog(LoggerFactory.getLogger("sluice.access"), 65_536);
  }

  AccessLog(Logger out, int capacity) {
    this.out = out;
    this.queue = out == null ? null : new ArrayBlockingQueue<>(capacity);
    if (out != null) {
      thread = new Thread(this::run, "sluice-access-log");
      thread.setDaemon(true);
      thread.start();
    } else {
      thread = null;
    }
  }

  boolean enabled() {
    return out != null && out.isInfoEnabled();
  }

  /** On the exchange's event loop, once, when it ended (completed, failed or abandoned). */
  void record(Exchange ex, boolean clientGone) {
    if (!enabled() || closed) {
      return;
    }
    KeyRecord key = ex.principal == null ? null : ex.principal.key();
    long now = System.nanoTime();
    Outcome o = ex.outcome != null ? ex.outcome : Metering.outcome(ex, clientGone);
    Entry e = new Entry(System.currentTimeMillis(), ex.requestId, ex.request.method().name(), ex.path,
        ex.group != null ? ex.group.name() : ex.model,
        ex.deployment == null ? null : ex.deployment.id(), clientGone && !ex.responseStarted() ? 0 : ex.status,
        ex.firstByteNanos == 0 ? -1 : (ex.firstByteNanos - ex.startNanos) / 1000, (now - ex.startNanos) / 1000,
        ex.promptTokens, ex.completionTokens, ex.requestBodyBytes, ex.bytesOut,
        key == null ? null : key.alias(), key == null ? null : key.userId(), key == null ? null : key.teamId(),
        ex.client().remoteAddress(), o.label());
    if (!queue.offer(e)) {
      long n = dropped.incrementAndGet();
      long t = System.nanoTime();
      if (t - lastWarn > TimeUnit.MINUTES.toNanos(1)) {
        lastWarn = t;
        warn.warn("access log: queue full, {} line(s) dropped so far", n);
      }
    }
  }

  private static String client(SocketAddress a) {
    if (a instanceof InetSocketAddress i) {
      return (i.getAddress() != null ? i.getAddress().getHostAddress() : i.getHostString()) + ":" + i.getPort();
    }
    return a == null ? null : a.toString();
  }

  private void run() {
    while (!closed || !queue.isEmpty()) {
      try {
        Entry e = queue.poll(200, TimeUnit.MILLISECONDS);
        if (e != null) {
          out.info(format(e));
        }
      } catch (InterruptedException ie) {
        if (closed) {
          break;
        }
      } catch (RuntimeException ex) {
        warn.warn("access log: {}", ex.toString());
      }
    }
  }

  static String format(Entry e) {
    StringWriter w = new StringWriter(320);
    try (JsonGenerator g = JSON.createGenerator(w)) {
      g.writeStartObject();
      g.writeStringField("time", Instant.ofEpochMilli(e.endMillis()).toString());
      g.writeStringField("request_id", e.requestId());
      g.writeStringField("method", e.method());
      g.writeStringField("route", PathNormalizer.redacted(e.path()));
      g.writeStringField("model_group", e.modelGroup());
      g.writeStringField("deployment_id", e.deploymentId());
      g.writeNumberField("status", e.status());
      if (e.ttfbMicros() >= 0) {
        g.writeNumberField("ttfb_ms", e.ttfbMicros() / 1000.0);
      } else {
        g.writeNullField("ttfb_ms");
      }
      g.writeNumberField("duration_ms", e.durationMicros() / 1000.0);
      g.writeNumberField("prompt_tokens", e.promptTokens());
      g.writeNumberField("completion_tokens", e.completionTokens());
      g.writeNumberField("bytes_in", e.bytesIn());
      g.writeNumberField("bytes_out", e.bytesOut());
      g.writeStringField("key_alias", e.keyAlias());
      g.writeStringField("user", e.user());
      g.writeStringField("team", e.team());
      g.writeStringField("client", client(e.client()));
      g.writeStringField("outcome", e.outcome());
      g.writeEndObject();
    } catch (IOException impossible) {
      throw new IllegalStateException(impossible);
    }
    return w.toString();
  }

  /** Lines dropped because the queue was full. */
  public long dropped() {
    return dropped.get();
  }

  /** Writes what is queued (at most a second), then stops. */
  @Override
  public void close() {
    if (out == null || closed) {
      return;
    }
    closed = true;
    try {
      thread.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
