package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import io.sluice.config.ConfigException;
import io.sluice.config.ConfigLoader;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS on the listener (PEM files, reload on change, TLS 1.3/1.2 with forward-secret AEAD suites, ALPN http/1.1)
 * and verified {@code https} upstreams with a CA bundle. Every certificate comes from a CA made here.
 */
class TlsListenerTest {
  static final String MASTER = "sk-master-SECRET-tls";
  static X509Bundle ca;
  static X509Bundle otherCa;

  @TempDir
  Path dir;
  private SluiceServer sluice;
  private HttpServer upstream;

  @BeforeAll
  static void makeCas() throws Exception {
    ca = new CertificateBuilder().subject("CN=Sluice Test CA").setIsCertificateAuthority(true).ecp256()
        .buildSelfSigned();
    otherCa = new CertificateBuilder().subject("CN=Someone Else's CA").setIsCertificateAuthority(true).ecp256()
        .buildSelfSigned();
  }

  static X509Bundle leaf(X509Bundle issuer, String cn, String dnsName) throws Exception {
    return new CertificateBuilder().subject("CN=" + cn).addSanDnsName(dnsName).addSanIpAddress("127.0.0.1")
        .addExtendedKeyUsageServerAuth().ecp256().buildIssuedBy(issuer);
  }

  @AfterEach
  void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (upstream != null) {
      upstream.stop(0);
    }
  }

  private Path write(String name, String text) throws IOException {
    Path f = dir.resolve(name);
    Path tmp = dir.resolve(name + ".tmp");
    Files.writeString(tmp, text);
    Files.move(tmp, f, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    return f;
  }

  private static HttpServer plainUpstream() throws IOException {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    s.createContext("/v1/chat/completions", TlsListenerTest::chat);
    s.start();
    return s;
  }

  private static void chat(com.sun.net.httpserver.HttpExchange ex) throws IOException {
    ex.getRequestBody().readAllBytes();
    byte[] body = "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"over tls\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}"
        .getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(200, body.length);
    ex.getResponseBody().write(body);
    ex.close();
  }

  private SluiceServer startSluice(String apiBase, String sluiceSettings) throws Exception {
    Path cfg = write("config.yaml", "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, "
        + "api_base: '" + apiBase + "'}\nsluice_settings:\n" + sluiceSettings);
    SluiceConfig c = ConfigLoader.load(cfg, Map.of());
    return SluiceServer.start(c, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true));
  }

  /** Starts Sluice on TLS with a leaf of {@link #ca}; the upstream is plain HTTP. */
  private void startTlsSluice(X509Bundle serverCert, String reload) throws Exception {
    write("cert.pem", serverCert.getCertificatePathPEM());
    write("key.pem", serverCert.getPrivateKeyPEM());
    upstream = plainUpstream();
    sluice = startSluice("http://127.0.0.1:" + upstream.getAddress().getPort() + "/v1",
        "  tls_cert_file: cert.pem\n  tls_key_file: key.pem\n  tls_reload_interval: " + reload + "\n");
  }

  private SSLSocket connect(String[] protocols, String[] ciphers, String... alpn) throws Exception {
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, ca.toTrustManagerFactory().getTrustManagers(), null);
    SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", sluice.port());
    s.setSoTimeout(10_000);
    SSLParameters p = s.getSSLParameters();
    p.setEndpointIdentificationAlgorithm("HTTPS");
    if (protocols != null) {
      p.setProtocols(protocols);
    }
    if (ciphers != null) {
      p.setCipherSuites(ciphers);
    }
    if (alpn.length > 0) {
      p.setApplicationProtocols(alpn);
    }
    s.setSSLParameters(p);
    s.startHandshake();
    return s;
  }

  /** One keep-alive request on {@code s}; returns status line + body. */
  private static String exchange(SSLSocket s, String method, String path, String body) throws IOException {
    OutputStream out = s.getOutputStream();
    byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    out.write((method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + MASTER
        + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    out.write(b);
    out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
    String status = in.readLine();
    int length = -1;
    boolean chunked = false;
    for (String h = in.readLine(); h != null && !h.isEmpty(); h = in.readLine()) {
      String lower = h.toLowerCase(java.util.Locale.ROOT);
      if (lower.startsWith("content-length:")) {
        length = Integer.parseInt(h.substring(15).trim());
      } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
        chunked = true;
      }
    }
    if (chunked) {
      // A restamped answer (the client's model name) is chunked: its length changed. Sizes count bytes; these
      // bodies are ASCII, so chars are bytes.
      StringBuilder text = new StringBuilder();
      for (int size = Integer.parseInt(in.readLine().trim(), 16); size > 0;
          size = Integer.parseInt(in.readLine().trim(), 16)) {
        char[] c = new char[size];
        int got = 0;
        while (got < size) {
          got += in.read(c, got, size - got);
        }
        text.append(c);
        in.readLine();
      }
      in.readLine();
      return status + "\n" + text;
    }
    char[] buf = new char[Math.max(length, 0)];
    int n = 0;
    while (n < buf.length) {
      int r = in.read(buf, n, buf.length - n);
      if (r < 0) {
        break;
      }
      n += r;
    }
    return status + "\n" + new String(buf, 0, n);
  }

  private static X509Certificate peer(SSLSocket s) throws Exception {
    return (X509Certificate) s.getSession().getPeerCertificates()[0];
  }

  @Test
  void httpsListenerRelaysAChatOverTls13AndAlpnSettlesOnHttp11() throws Exception {
    startTlsSluice(leaf(ca, "sluice-a", "localhost"), "10");
    try (SSLSocket s = connect(null, null, "h2", "http/1.1")) {
      assertThat(s.getSession().getProtocol()).isEqualTo("TLSv1.3");
      assertThat(s.getApplicationProtocol()).as("h2 is not offered back; HTTP/1.1 it is").isEqualTo("http/1.1");
      assertThat(exchange(s, "GET", "/health/liveliness", null)).startsWith("HTTP/1.1 200");
      String chat = exchange(s, "POST", "/v1/chat/completions",
          "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
      assertThat(chat).startsWith("HTTP/1.1 200").contains("over tls");
    }
  }

  @Test
  void onlyTls12And13WithForwardSecretAeadSuitesAreAccepted() throws Exception {
    startTlsSluice(leaf(ca, "sluice-a", "localhost"), "10");
    try (SSLSocket s = connect(new String[] {"TLSv1.2"}, new String[] {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"})) {
      assertThat(s.getSession().getCipherSuite()).isEqualTo("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
    }
    assertThatThrownBy(() -> connect(new String[] {"TLSv1.1"}, null).close())
        .as("TLS 1.1 is refused").isInstanceOf(javax.net.ssl.SSLException.class);
    assertThatThrownBy(() -> connect(new String[] {"TLSv1.2"},
        new String[] {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"}).close())
        .as("CBC suites are refused").isInstanceOf(SSLHandshakeException.class);
  }

  @Test
  void renewedCertificateServesNewConnectionsWhileOpenOnesKeepWorking() throws Exception {
    X509Bundle first = leaf(ca, "sluice-first", "localhost");
    startTlsSluice(first, "0.2");
    try (SSLSocket old = connect(null, null)) {
      assertThat(exchange(old, "GET", "/health/liveliness", null)).startsWith("HTTP/1.1 200");
      assertThat(peer(old).getSubjectX500Principal().getName()).isEqualTo("CN=sluice-first");

      X509Bundle second = leaf(ca, "sluice-second", "localhost");
      // Key first, then certificate: in between the pair does not match, which must keep the first one serving.
      write("key.pem", second.getPrivateKeyPEM());
      write("cert.pem", second.getCertificatePathPEM());
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      String served = "";
      while (!served.equals("CN=sluice-second") && System.nanoTime() < deadline) {
        try (SSLSocket fresh = connect(null, null)) {
          served = peer(fresh).getSubjectX500Principal().getName();
          assertThat(exchange(fresh, "GET", "/health/liveliness", null)).startsWith("HTTP/1.1 200");
        }
        Thread.sleep(50);
      }
      assertThat(served).as("a new connection gets the renewed certificate").isEqualTo("CN=sluice-second");
      assertThat(exchange(old, "GET", "/health/liveliness", null))
          .as("the connection opened before the reload still serves requests").startsWith("HTTP/1.1 200");
      assertThat(peer(old).getSubjectX500Principal().getName()).isEqualTo("CN=sluice-first");
    }
  }

  @Test
  void aMismatchedPairIsRefusedAtStartAndKeptOutOfServiceOnReload() throws Exception {
    X509Bundle a = leaf(ca, "sluice-a", "localhost");
    X509Bundle b = leaf(ca, "sluice-b", "localhost");
    Path cert = write("a-cert.pem", a.getCertificatePathPEM());
    Path wrongKey = write("b-key.pem", b.getPrivateKeyPEM());
    assertThatThrownBy(() -> ListenerTls.start(cert, wrongKey, null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(wrongKey + " is not the private key of the certificate in " + cert)
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("PRIVATE KEY", b.getPrivateKeyPEM().substring(40, 80)));

    Path key = write("a-key.pem", a.getPrivateKeyPEM());
    try (ListenerTls tls = ListenerTls.start(cert, key, null)) {
      write("a-key.pem", b.getPrivateKeyPEM());
      assertThat(tls.reloadIfChanged()).as("mismatched pair not installed").isFalse();
      assertThat(tls.certificate().getSubjectX500Principal().getName()).isEqualTo("CN=sluice-a");
      write("a-cert.pem", b.getCertificatePathPEM());
      assertThat(tls.reloadIfChanged()).isTrue();
      assertThat(tls.certificate().getSubjectX500Principal().getName()).isEqualTo("CN=sluice-b");
    }
  }

  @Test
  void pkcs1KeysAndMissingFilesGetMessagesThatSayWhatToDo() throws Exception {
    X509Bundle a = leaf(ca, "sluice-a", "localhost");
    Path cert = write("cert.pem", a.getCertificatePathPEM());
    Path pkcs1 = write("rsa.pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n");
    assertThatThrownBy(() -> ListenerTls.start(cert, pkcs1, null)).hasMessageContaining("openssl pkcs8 -topk8 -nocrypt");
    Path cfg = write("bad.yaml", "model_list: []\nsluice_settings:\n  tls_cert_file: nope.pem\n  tls_key_file: key.pem\n");
    assertThatThrownBy(() -> ConfigLoader.load(cfg, Map.of())).isInstanceOf(ConfigException.class)
        .hasMessageContaining("bad.yaml: sluice_settings.tls_cert_file: \"nope.pem\" is not a readable file");
    Path half = write("half.yaml", "model_list: []\nsluice_settings:\n  tls_cert_file: cert.pem\n");
    assertThatThrownBy(() -> ConfigLoader.load(half, Map.of())).hasMessageContaining("tls_key_file");
  }

  private static HttpsServer httpsUpstream(X509Bundle cert) throws Exception {
    HttpsServer s = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(cert.toKeyManagerFactory().getKeyManagers(), null, null);
    s.setHttpsConfigurator(new HttpsConfigurator(ctx));
    s.createContext("/v1/chat/completions", TlsListenerTest::chat);
    s.start();
    return s;
  }

  private String chatThroughPlainSluice() throws Exception {
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + sluice.port()
        + "/v1/chat/completions")).header("Authorization", "Bearer " + MASTER)
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString(
            "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode() + "";
  }

  @Test
  void httpsUpstreamsAreVerifiedAgainstTheCaBundle() throws Exception {
    HttpsServer good = httpsUpstream(leaf(ca, "vllm-a", "localhost"));
    HttpsServer wrongName = httpsUpstream(leaf(ca, "vllm-b", "vllm-b.internal"));
    HttpsServer untrusted = httpsUpstream(leaf(otherCa, "vllm-c", "localhost"));
    Path bundle = write("ca.pem", ca.getRootCertificatePEM());
    try {
      sluice = startSluice("https://localhost:" + good.getAddress().getPort() + "/v1", "  upstream_ca_bundle: ca.pem\n");
      assertThat(chatThroughPlainSluice()).as("a replica certificate from the bundle's CA").isEqualTo("200");
      sluice.close();
      sluice = startSluice("https://localhost:" + wrongName.getAddress().getPort() + "/v1",
          "  upstream_ca_bundle: " + bundle + "\n");
      assertThat(chatThroughPlainSluice()).as("host name not in the certificate").isEqualTo("502");
      sluice.close();
      sluice = startSluice("https://localhost:" + untrusted.getAddress().getPort() + "/v1",
          "  upstream_ca_bundle: ca.pem\n");
      assertThat(chatThroughPlainSluice()).as("a CA outside the bundle").isEqualTo("502");
      sluice.close();
      sluice = startSluice("https://localhost:" + good.getAddress().getPort() + "/v1", "  max_uri_length: 8192\n");
      assertThat(chatThroughPlainSluice()).as("without the bundle the JDK's trust store does not know the CA")
          .isEqualTo("502");
    } finally {
      good.stop(0);
      wrongName.stop(0);
      untrusted.stop(0);
    }
    Path notPem = write("junk.pem", "not a certificate\n");
    assertThatThrownBy(() -> startSluice("https://localhost:1/v1", "  upstream_ca_bundle: " + notPem + "\n"))
        .hasMessageContaining("sluice_settings.upstream_ca_bundle: " + notPem);
  }
}
