package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import io.sluice.config.ConfigLoader;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --transport}: each transport relays the warm-up's JSON requests and SSE streams through the real pipeline
 * (listener, client connections and replica connections all on it); a native one that cannot load here stops the
 * start with the reason; an unknown name is refused with the list of names.
 */
class TransportTest {
  private static final String MASTER = "sk-transport-test-master";

  @TempDir
  Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"auto", "epoll", "io_uring", "nio"})
  void everyTransportRelaysThroughThePipelineOrSaysWhyItCannotLoad(String name) throws Exception {
    Files.writeString(dir.resolve("config.yaml"), "model_list: []\n");
    SluiceConfig c = ConfigLoader.load(dir.resolve("config.yaml"), Map.of());
    SluiceServer.Options o = new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withTransport(name);
    Throwable missing = "epoll".equals(name) ? Epoll.unavailabilityCause()
        : "io_uring".equals(name) ? IoUring.unavailabilityCause() : null;
    if (missing != null) {
      assertThatThrownBy(() -> SluiceServer.start(c, o)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("transport " + name + " is not available here")
          .hasMessageContaining(String.valueOf(missing.getMessage()));
      return;
    }
    try (SluiceServer s = SluiceServer.start(c, o)) {
      assertThat(s.transportName()).isEqualTo("auto".equals(name) ? (Epoll.isAvailable() ? "epoll" : "nio") : name);
      Warmup.Report r = s.warmupForTest(Duration.ofSeconds(2));
      assertThat(r.requests()).as("requests relayed over " + name).isGreaterThan(50);
      assertThat(r.errors()).as("every synthetic request (JSON and SSE) answered in full").isZero();
    }
  }

  @org.junit.jupiter.api.Test
  void anUnknownTransportIsRefusedWithTheNamesThatExist() {
    assertThatThrownBy(() -> new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withTransport("kqueue"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("transport: unknown transport 'kqueue' (expected one of auto, epoll, io_uring, nio)");
  }

  @org.junit.jupiter.api.Test
  void theCommandLineSaysSoAndStartsNothing() throws Exception {
    Files.writeString(dir.resolve("config.yaml"), "model_list: []\n");
    StringWriter err = new StringWriter();
    SluiceMain main = new SluiceMain(Map.of("SLUICE_MASTER_KEY", MASTER), new PrintWriter(err, true));
    int code = new picocli.CommandLine(main).execute("--config", dir.resolve("config.yaml").toString(),
        "--port", "0", "--no-db", "--transport", "uring");
    assertThat(code).isNotZero();
    assertThat(err.toString()).contains("sluice: configuration error: transport: unknown transport 'uring' "
        + "(expected one of auto, epoll, io_uring, nio)").doesNotContain(MASTER);
  }
}
