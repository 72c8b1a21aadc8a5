package io.sluice.bench.e2e;

import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.resource.v1.Resource;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * An OTLP/HTTP trace receiver for the tests (OTLP specification, "OTLP/HTTP": {@code POST /v1/traces}, a binary
 * protobuf {@code ExportTraceServiceRequest}, answered 200 with an {@code ExportTraceServiceResponse}). Decodes with
 * the {@code opentelemetry-proto} classes and keeps every span with its resource.
 */
final class OtlpReceiver implements AutoCloseable {
  /** A received span and the resource it came with. */
  record Received(Resource resource, Span span) {
    String traceId() {
      return HexFormat.of().formatHex(span.getTraceId().toByteArray());
    }

    String spanId() {
      return HexFormat.of().formatHex(span.getSpanId().toByteArray());
    }

    String parentSpanId() {
      return HexFormat.of().formatHex(span.getParentSpanId().toByteArray());
    }

    /** The span's attributes, each value as text (strings as they are, numbers in decimal). */
    Map<String, String> attributes() {
      Map<String, String> m = new java.util.LinkedHashMap<>();
      for (KeyValue kv : span.getAttributesList()) {
        m.put(kv.getKey(), text(kv.getValue()));
      }
      return m;
    }
  }

  static String text(AnyValue v) {
    return switch (v.getValueCase()) {
      case STRING_VALUE -> v.getStringValue();
      case INT_VALUE -> Long.toString(v.getIntValue());
      case DOUBLE_VALUE -> Double.toString(v.getDoubleValue());
      case BOOL_VALUE -> Boolean.toString(v.getBoolValue());
      default -> v.toString();
    };
  }

  private final HttpServer server;
  private final List<Received> spans = new CopyOnWriteArrayList<>();
  /** Every attribute value received (resources, spans, events), for the no-secret check. */
  private final List<String> values = new CopyOnWriteArrayList<>();

  OtlpReceiver() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/v1/traces", x -> {
      try (InputStream in = x.getRequestBody()) {
        ExportTraceServiceRequest req = ExportTraceServiceRequest.parseFrom(in.readAllBytes());
        for (ResourceSpans rs : req.getResourceSpansList()) {
          rs.getResource().getAttributesList().forEach(kv -> values.add(kv.getKey() + "=" + text(kv.getValue())));
          for (ScopeSpans ss : rs.getScopeSpansList()) {
            for (Span s : ss.getSpansList()) {
              spans.add(new Received(rs.getResource(), s));
              values.add(s.getName());
              s.getAttributesList().forEach(kv -> values.add(kv.getKey() + "=" + text(kv.getValue())));
              s.getEventsList().forEach(e -> e.getAttributesList()
                  .forEach(kv -> values.add(kv.getKey() + "=" + text(kv.getValue()))));
              values.add(s.getStatus().getMessage());
            }
          }
        }
        byte[] body = ExportTraceServiceResponse.getDefaultInstance().toByteArray();
        x.getResponseHeaders().set("Content-Type", "application/x-protobuf");
        x.sendResponseHeaders(200, body.length == 0 ? -1 : body.length);
        x.getResponseBody().write(body);
      } catch (IOException | RuntimeException e) {
        x.sendResponseHeaders(400, -1);
      } finally {
        x.close();
      }
    });
    server.start();
  }

  String tracesEndpoint() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1/traces";
  }

  List<Received> spans() {
    return new ArrayList<>(spans);
  }

  List<String> values() {
    return new ArrayList<>(values);
  }

  /** The first span matching {@code p}, waiting up to {@code timeout} for the exporter's next batch. */
  Received await(Predicate<Received> p, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      for (Received r : spans) {
        if (p.test(r)) {
          return r;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no such span within " + timeout + "; received: "
            + spans.stream().map(r -> r.span().getName()).toList());
      }
      Thread.sleep(20);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
