package io.sluice.server;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The listener's TLS context, from a PEM certificate chain and a PEM PKCS#8 private key, re-read every
 * {@code interval} on a daemon thread of its own (never an event loop). A changed, valid pair replaces the context
 * for new connections; open connections keep the engine they started with, so nothing is dropped. A changed pair
 * that does not load (half-written file, key that does not match the certificate) is logged once and the previous
 * context stays in service.
 *
 * <p>TLS 1.3 and 1.2 only; AEAD cipher suites with forward secrecy only (ECDHE, AES-GCM, ChaCha20-Poly1305); ALPN
 * offers {@code http/1.1} alone, so an HTTP/2-preferring client settles on HTTP/1.1 in the handshake. Error messages
 * name the file and never contain key material.
 */
final class ListenerTls implements Supplier<SslContext>, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ListenerTls.class);

  /** Mozilla's "intermediate" list less everything without forward secrecy; the JDK's names. */
  static final List<String> CIPHERS = List.of(
      "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
  static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

  private static final Pattern PEM = Pattern.compile(
      "-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]+?)\\s*-----END \\1-----");

  private final Path certFile;
  private final Path keyFile;
  private final ScheduledExecutorService timer;
  private volatile SslContext current;
  private volatile X509Certificate leaf;
  /** The bytes of the pair in service, and of the last pair that failed (logged once); reload thread only. */
  private byte[] loadedCert;
  private byte[] loadedKey;
  private byte[] failedCert;
  private byte[] failedKey;

  private ListenerTls(Path certFile, Path keyFile, Duration interval) {
    this.certFile = certFile;
    this.keyFile = keyFile;
    this.timer = interval == null ? null : Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sluice-tls-reload");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Loads the pair (IllegalArgumentException naming the file and what is wrong when it cannot) and, with an
   * {@code interval}, starts re-reading it; null interval: no reloads (tests call {@link #reloadIfChanged()}).
   */
  static ListenerTls start(Path certFile, Path keyFile, Duration interval) {
    ListenerTls t = new ListenerTls(certFile, keyFile, interval);
    byte[] cert = read(certFile, "TLS certificate");
    byte[] key = read(keyFile, "TLS private key");
    t.install(cert, key);
    log.info("TLS on the listener ({}; ALPN http/1.1): certificate {} from {}, valid until {}",
        String.join(", ", PROTOCOLS), t.leaf.getSubjectX500Principal().getName(), certFile, t.leaf.getNotAfter()
            .toInstant());
    if (t.timer != null) {
      long ms = interval.toMillis();
      t.timer.scheduleWithFixedDelay(t::reloadQuietly, ms, ms, TimeUnit.MILLISECONDS);
    }
    return t;
  }

  @Override
  public SslContext get() {
    return current;
  }

  /** The certificate new connections are served. */
  X509Certificate certificate() {
    return leaf;
  }

  /**
   * Re-reads both files; when either changed and the pair loads, new connections get it. Returns true when the
   * context was replaced. Reload thread (or a test) only.
   */
  synchronized boolean reloadIfChanged() {
    byte[] cert;
    byte[] key;
    try {
      cert = read(certFile, "TLS certificate");
      key = read(keyFile, "TLS private key");
    } catch (IllegalArgumentException e) {
      log.warn("TLS reload skipped, the certificate in service stays: {}", e.getMessage());
      return false;
    }
    if (Arrays.equals(cert, loadedCert) && Arrays.equals(key, loadedKey)) {
      return false;
    }
    boolean seenFailing = Arrays.equals(cert, failedCert) && Arrays.equals(key, failedKey);
    try {
      install(cert, key);
    } catch (IllegalArgumentException e) {
      if (!seenFailing) {
        log.warn("TLS reload failed, the certificate in service stays (retried every interval): {}", e.getMessage());
        failedCert = cert;
        failedKey = key;
      }
      return false;
    }
    failedCert = failedKey = null;
    log.info("TLS certificate reloaded from {}: {} valid until {} (open connections keep theirs)", certFile,
        leaf.getSubjectX500Principal().getName(), leaf.getNotAfter().toInstant());
    return true;
  }

  private void reloadQuietly() {
    try {
      reloadIfChanged();
    } catch (RuntimeException e) {
      log.warn("TLS reload failed: {}", e.toString());
    }
  }

  private void install(byte[] cert, byte[] key) {
    X509Certificate[] chain = certificates(cert);
    PrivateKey pk = privateKey(key);
    checkPair(chain[0], pk);
    SslContext ctx;
    try {
      ctx = SslContextBuilder.forServer(pk, chain)
          .sslProvider(SslProvider.JDK)
          .protocols(PROTOCOLS)
          .ciphers(CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
          .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
              ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
              ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ApplicationProtocolNames.HTTP_1_1))
          .build();
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(certFile + " / " + keyFile + ": cannot build a TLS context ("
          + e.getClass().getSimpleName() + ")", e);
    }
    current = ctx;
    leaf = chain[0];
    loadedCert = cert;
    loadedKey = key;
  }

  private X509Certificate[] certificates(byte[] pem) {
    List<byte[]> ders = blocks(pem, "CERTIFICATE");
    if (ders.isEmpty()) {
      throw new IllegalArgumentException(certFile + ": no PEM certificate (expected -----BEGIN CERTIFICATE----- "
          + "blocks, the server's certificate first, then its intermediates)");
    }
    try {
      CertificateFactory cf = CertificateFactory.getInstance("X.509");
      X509Certificate[] chain = new X509Certificate[ders.size()];
      for (int i = 0; i < chain.length; i++) {
        chain[i] = (X509Certificate) cf.generateCertificate(new ByteArrayInputStream(ders.get(i)));
      }
      return chain;
    } catch (CertificateException e) {
      throw new IllegalArgumentException(certFile + ": not a valid X.509 certificate (" + e.getMessage() + ")");
    }
  }

  private PrivateKey privateKey(byte[] pem) {
    String text = new String(pem, StandardCharsets.US_ASCII);
    if (text.contains("-----BEGIN RSA PRIVATE KEY-----") || text.contains("-----BEGIN EC PRIVATE KEY-----")) {
      throw new IllegalArgumentException(keyFile + ": the key is PKCS#1/SEC1; Sluice reads PKCS#8: convert it with "
          + "`openssl pkcs8 -topk8 -nocrypt -in " + keyFile.getFileName() + " -out key.pem`");
    }
    if (text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
      throw new IllegalArgumentException(keyFile + ": the key is encrypted; give Sluice an unencrypted PKCS#8 key "
          + "(`openssl pkcs8 -topk8 -nocrypt`) and protect the file instead (mode 600, a Kubernetes Secret)");
    }
    List<byte[]> ders = blocks(pem, "PRIVATE KEY");
    if (ders.size() != 1) {
      throw new IllegalArgumentException(keyFile + ": expected exactly one -----BEGIN PRIVATE KEY----- block "
          + "(PKCS#8), found " + ders.size());
    }
    for (String alg : new String[] {"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS"}) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(ders.get(0)));
      } catch (GeneralSecurityException e) {
        // try the next algorithm
      }
    }
    throw new IllegalArgumentException(keyFile + ": not an RSA, EC or EdDSA PKCS#8 private key");
  }

  /** Signs a probe with the key and verifies it with the certificate: a mismatched pair fails here, not per handshake. */
  private void checkPair(X509Certificate cert, PrivateKey key) {
    String alg = switch (key.getAlgorithm()) {
      case "RSA" -> "SHA256withRSA";
      case "EC" -> "SHA256withECDSA";
      default -> key.getAlgorithm();
    };
    try {
      byte[] probe = "sluice tls key check".getBytes(StandardCharsets.US_ASCII);
      Signature s = Signature.getInstance(alg);
      s.initSign(key);
      s.update(probe);
      byte[] sig = s.sign();
      Signature v = Signature.getInstance(alg);
      v.initVerify(cert.getPublicKey());
      v.update(probe);
      if (v.verify(sig)) {
        return;
      }
    } catch (GeneralSecurityException e) {
      // falls through: a key of another type than the certificate's does not match either
    }
    throw new IllegalArgumentException(keyFile + " is not the private key of the certificate in " + certFile
        + " (" + cert.getSubjectX500Principal().getName() + "): give the key that was issued with it");
  }

  private static List<byte[]> blocks(byte[] pem, String type) {
    Matcher m = PEM.matcher(new String(pem, StandardCharsets.US_ASCII));
    List<byte[]> out = new java.util.ArrayList<>();
    while (m.find()) {
      if (m.group(1).equals(type)) {
        out.add(Base64.getMimeDecoder().decode(m.group(2)));
      }
    }
    return out;
  }

  private static byte[] read(Path f, String what) {
    try {
      return Files.readAllBytes(f);
    } catch (IOException e) {
      throw new IllegalArgumentException(what + " " + f + " cannot be read (" + e.getClass().getSimpleName()
          + "): check --tls-cert/--tls-key or sluice_settings.tls_cert_file/tls_key_file");
    }
  }

  @Override
  public void close() {
    if (timer != null) {
      timer.shutdownNow();
    }
  }
}
