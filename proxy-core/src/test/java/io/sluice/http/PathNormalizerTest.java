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
}
