package io.sluice.bench.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A replica that misbehaves on purpose: reads one request (head, then a Content-Length body), writes the bytes it
 * was told to — a truncated body, a cut-short event — and closes the socket (FIN). For the framing faults no real
 * vLLM can be made to produce on demand. One request per connection.
 */
final class ScriptedUpstream implements AutoCloseable {
  private final ServerSocket server;
  private final Thread acceptor;
  private volatile byte[] script = new byte[0];
  final AtomicInteger requests = new AtomicInteger();

  ScriptedUpstream() throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    acceptor = new Thread(this::accept, "scripted-upstream");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  int port() {
    return server.getLocalPort();
  }

  /** What the next connections get, verbatim, before the socket closes. */
  void script(String raw) {
    script = raw.getBytes(StandardCharsets.UTF_8);
  }

  /** A chunk of chunked transfer coding. */
  static String chunk(String data) {
    return Integer.toHexString(data.getBytes(StandardCharsets.UTF_8).length) + "\r\n" + data + "\r\n";
  }

  private void accept() {
    while (!server.isClosed()) {
      try (Socket s = server.accept()) {
        s.setSoTimeout(5000);
        readRequest(s.getInputStream());
        requests.incrementAndGet();
        OutputStream out = s.getOutputStream();
        out.write(script);
        out.flush();
      } catch (IOException e) {
        // closed, or the client went away: next connection
      }
    }
  }

  private static void readRequest(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int c;
    int state = 0;
    while (state < 4 && (c = in.read()) != -1) {
      head.write(c);
      state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
    }
    int length = 0;
    for (String line : head.toString(StandardCharsets.ISO_8859_1).split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
        length = Integer.parseInt(line.substring(15).trim());
      }
    }
    in.readNBytes(length);
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
