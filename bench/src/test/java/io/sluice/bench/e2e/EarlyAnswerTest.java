package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.server.SluiceServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A replica that answers before it has read the whole request (vLLM refusing a body early, say): the answer is
 * relayed, and the connection — with the rest of the request still unsent in it — is closed, never pooled. Were it
 * reused, the next request would queue behind megabytes the replica never reads (or be read as the old body's
 * continuation). Sluice writes requests without a promise per request, so "written in full" is read from the
 * connection's outbound buffer when the response ends; this test is what fails if that check answers wrongly.
 */
class EarlyAnswerTest {
  private static final String MASTER = "sk-early-answer-master";
  private static final String ANSWER = "{\"error\":{\"message\":\"too long\",\"type\":\"BadRequestError\","
      + "\"param\":null,\"code\":400}}";

  private ServerSocket replica;
  private final AtomicInteger connections = new AtomicInteger();
  private final List<Socket> held = new ArrayList<>();
  private SluiceServer sluice;

  @BeforeEach
  void start() throws Exception {
    replica = new ServerSocket();
    // A small window: most of a 5 MB body stays on Sluice's side (a socket's send buffer holds at most 4 MB here).
    replica.setReceiveBufferSize(16 * 1024);
    replica.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    Thread t = new Thread(this::serve, "early-answer-replica");
    t.setDaemon(true);
    t.start();
    sluice = Gateway.builder(MASTER)
        .model(Gateway.vllm("early", "served-model", replica.getLocalPort(), "replica-key", null, "raw-a"))
        .start();
  }

  @AfterEach
  void stop() throws Exception {
    sluice.close();
    replica.close();
    synchronized (held) {
      for (Socket s : held) {
        s.close();
      }
    }
  }

  /**
   * Each connection on a thread of its own: read a request head and answer 400 at once; a body over 1 MB is then
   * never read (the socket stays open), a small one is read and the next request awaited.
   */
  private void serve() {
    while (!replica.isClosed()) {
      try {
        Socket s = replica.accept();
        connections.incrementAndGet();
        synchronized (held) {
          held.add(s);
        }
        Thread t = new Thread(() -> connection(s), "early-answer-connection");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private static void connection(Socket s) {
    try {
      InputStream in = new java.io.BufferedInputStream(s.getInputStream());
      OutputStream out = s.getOutputStream();
      while (true) {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != -1) {
          head.write(c);
          if (head.size() >= 4 && head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            break;
          }
        }
        if (c == -1) {
          return;
        }
        long length = 0;
        for (String line : head.toString(StandardCharsets.ISO_8859_1).split("\r\n")) {
          if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
            length = Long.parseLong(line.substring(15).trim());
          }
        }
        byte[] body = ANSWER.getBytes(StandardCharsets.UTF_8);
        out.write(("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: " + body.length
            + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(body);
        out.flush();
        if (length > 1 << 20) {
          return; // answered early; the rest of this request is never read
        }
        in.readNBytes((int) length);
      }
    } catch (IOException e) {
      // the connection closed
    }
  }

  @Test
  void anAnswerBeforeTheWholeRequestWasWrittenIsRelayedAndItsConnectionIsNotReused() throws Exception {
    String big = "{\"model\":\"early\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "x".repeat(5 << 20)
        + "\"}]}";
    try (RawHttp via = new RawHttp(sluice.port())) {
      RawHttp.Response r = via.exchange("POST", "/v1/chat/completions", big, "Authorization: Bearer " + MASTER,
          "Content-Type: application/json");
      assertThat(r.status()).isEqualTo(400);
      assertThat(r.bodyText()).contains("too long");
    }
    assertThat(connections.get()).isEqualTo(1);
    String small = "{\"model\":\"early\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    try (RawHttp via = new RawHttp(sluice.port())) {
      RawHttp.Response r = via.exchange("POST", "/v1/chat/completions", small, "Authorization: Bearer " + MASTER,
          "Content-Type: application/json");
      assertThat(r.status()).as("the next request is answered").isEqualTo(400);
    }
    assertThat(connections.get()).as("on a new connection: the one with the unsent rest was closed").isEqualTo(2);
    try (RawHttp via = new RawHttp(sluice.port())) {
      assertThat(via.exchange("POST", "/v1/chat/completions", small, "Authorization: Bearer " + MASTER,
          "Content-Type: application/json").status()).isEqualTo(400);
    }
    assertThat(connections.get()).as("a connection whose request went out in full is pooled and reused")
        .isEqualTo(2);
  }
}
