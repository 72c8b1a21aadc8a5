package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PathNormalizerTest {
  @ParameterizedTest(name = "{0} → {1}")
  @CsvSource(nullValues = "REFUSED", value = {
      "/v1/chat/completions, /v1/chat/completions",
      "/v1//chat///completions, /v1/chat/completions",
      "/v1/./chat/completions, /v1/chat/completions",
      "/v1/x/../chat/completions, /v1/chat/completions",
      "/v1/%63hat/completions, /v1/chat/completions",
      "/v1/%2e%2e/health/liveliness, /health/liveliness",
      "/.., REFUSED",
      "/v1/../../etc/passwd, REFUSED",
      "/%2e%2e/%2e%2e/x, REFUSED",
      "/v1/chat%2fcompletions, REFUSED",
      "/v1/a%5cb, REFUSED",
      "/v1/a%00, REFUSED",
      "/v1/a%zz, REFUSED",
      "/v1/a%2, REFUSED",
      "v1/no-slash, REFUSED",
      "/, /",
      "/v1/, /v1/",
  })
  void normalisesOrRefuses(String raw, String expected) {
    assertThat(PathNormalizer.normalize(raw)).isEqualTo(expected);
  }

  /** Only where Sluice answers itself: a model id with an escaped slash ({@code GET /v1/models/{id}}). */
  @ParameterizedTest(name = "{0} → {1}")
  @CsvSource(nullValues = "REFUSED", value = {
      "/v1/models/hosted_vllm%2Fllama, /v1/models/hosted_vllm/llama",
      "/v1/models/a%2f..%2f..%2fkey, /v1/key",      // decoded, then dot segments: no longer a model path
      "/v1/models/a%5cb, REFUSED",
      "/v1/models/a%00, REFUSED",
  })
  void anEscapedSlashDecodesOnlyWhenAsked(String raw, String expected) {
    assertThat(PathNormalizer.normalize(raw, true)).isEqualTo(expected);
    assertThat(PathNormalizer.normalize(raw)).isNull();
    String path = PathNormalizer.normalize(raw, true);
    if (path != null && !path.startsWith("/v1/models/")) {
      assertThat(Route.forPath(path)).isNotEqualTo(Route.MODEL); // so the guard refuses it (400)
    }
  }
}
