package io.sluice.bench.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A deliberately dumb HTTP/1.1 client over a plain socket, for tests that must see the wire: exact headers,
 * chunked framing, the time each SSE event arrived. One request per call; keep-alive by reusing the instance.
 */
final class RawHttp implements AutoCloseable {
  final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  RawHttp(int port) throws IOException {
    socket = new Socket();
    socket.connect(new InetSocketAddress("127.0.0.1", port), 2000);
    socket.setSoTimeout(10_000);
    socket.setTcpNoDelay(true);
    in = new java.io.BufferedInputStream(socket.getInputStream(), 65536);
    out = socket.getOutputStream();
  }

  /** A response as it arrived: status, headers (lower-case names), the de-chunked body, and per-chunk arrival. */
  record Response(int status, Map<String, String> headers, byte[] body, List<Long> chunkNanos, List<String> chunks,
      boolean chunked) {
    String bodyText() {
      return new String(body, StandardCharsets.UTF_8);
    }

    /** SSE events ({@code data: …}) in order. */
    List<String> events() {
      List<String> ev = new ArrayList<>();
      for (String part : bodyText().split("\n\n")) {
        if (!part.isEmpty()) {
          ev.add(part);
        }
      }
      return ev;
    }
  }

  void send(String method, String path, String body, String... headers) throws IOException {
    StringBuilder sb = new StringBuilder();
    sb.append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (String h : headers) {
      sb.append(h).append("\r\n");
    }
    byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    if (body != null) {
      sb.append("Content-Type: application/json\r\nContent-Length: ").append(b.length).append("\r\n");
    }
    sb.append("\r\n");
    out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
    out.write(b);
    out.flush();
  }

  Response exchange(String method, String path, String body, String... headers) throws IOException {
    send(method, path, body, headers);
    return read();
  }

  /** Reads the status line and headers only. */
  Map<String, String> readHead(int[] status) throws IOException {
    String line = line();
    status[0] = Integer.parseInt(line.split(" ")[1]);
    Map<String, String> h = new LinkedHashMap<>();
    for (String l = line(); !l.isEmpty(); l = line()) {
      int c = l.indexOf(':');
      h.merge(l.substring(0, c).trim().toLowerCase(Locale.ROOT), l.substring(c + 1).trim(), (a, b) -> a + "," + b);
    }
    return h;
  }

  Response read() throws IOException {
    int[] status = new int[1];
    Map<String, String> h = readHead(status);
    if (status[0] == 100) {
      return read();
    }
    return readBody(status[0], h);
  }

  /** Reads the body of a response whose head {@link #readHead} already consumed. */
  Response readBody(int status, Map<String, String> h) throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    List<Long> times = new ArrayList<>();
    List<String> chunks = new ArrayList<>();
    boolean chunked = "chunked".equalsIgnoreCase(h.get("transfer-encoding"));
    if (chunked) {
      while (true) {
        String size = line();
        int n = Integer.parseInt(size.split(";")[0].trim(), 16);
        if (n == 0) {
          line();
          break;
        }
        byte[] c = in.readNBytes(n);
        times.add(System.nanoTime());
        chunks.add(new String(c, StandardCharsets.UTF_8));
        body.write(c);
        line();
      }
    } else if (h.containsKey("content-length")) {
      body.write(in.readNBytes(Integer.parseInt(h.get("content-length"))));
    }
    return new Response(status, h, body.toByteArray(), times, chunks, chunked);
  }

  String line() throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) != -1) {
      if (c == '\n') {
        break;
      }
      if (c != '\r') {
        b.write(c);
      }
    }
    if (c == -1 && b.size() == 0) {
      throw new IOException("connection closed");
    }
    return b.toString(StandardCharsets.ISO_8859_1);
  }

  InputStream in() {
    return in;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
