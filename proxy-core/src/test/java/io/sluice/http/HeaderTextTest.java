package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The memoised header values are the text they replace: Double.toString, seconds, decimal counts. */
class HeaderTextTest {
  @Test
  void countsAreDecimalSharedWhenSmall() {
    assertThat(HeaderText.count(0).toString()).isEqualTo("0");
    assertThat(HeaderText.count(63).toString()).isEqualTo("63");
    assertThat(HeaderText.count(3)).isSameAs(HeaderText.count(3));
    assertThat(HeaderText.count(64).toString()).isEqualTo("64");
    assertThat(HeaderText.count(1_000_000_007L).toString()).isEqualTo("1000000007");
    assertThat(HeaderText.count(-1).toString()).isEqualTo("-1");
  }

  @Test
  void decimalsAreWrittenAsLongToStringWritesThem() {
    io.netty.buffer.ByteBuf out = io.netty.buffer.Unpooled.buffer(4); // grows as needed
    try {
      for (long n : new long[] {0, 7, 9, 10, 99, 100, 520, 65_535, 1_000_000_007L, 999_999_999_999_999_999L,
          1_000_000_000_000_000_000L, Long.MAX_VALUE}) {
        out.clear().writeByte('>');
        HeaderText.writeDecimal(out, n);
        assertThat(out.toString(java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo(">" + n);
      }
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> HeaderText.writeDecimal(out, -1))
          .isInstanceOf(IllegalArgumentException.class);
    } finally {
      out.release();
    }
  }

  @Test
  void theSpendMemoFollowsEveryChange() {
    for (double v : new double[] {0.0, 0.000123, 0.000123, 12.5, -0.0, 0.0, 1e-9, 12.5}) {
      assertThat(HeaderText.spend(v)).isEqualTo(Double.toString(v));
    }
    assertThat(HeaderText.spend(0.25)).isSameAs(HeaderText.spend(0.25));
  }

  @Test
  void timeoutsAreSecondsWithTheirFraction() {
    assertThat(HeaderText.timeout(Duration.ofSeconds(600))).isEqualTo("600");
    assertThat(HeaderText.timeout(Duration.ofMillis(2500))).isEqualTo("2.5");
    assertThat(HeaderText.timeout(Duration.ofMillis(2500))).isEqualTo("2.5");
    assertThat(HeaderText.timeout(Duration.ofSeconds(30))).isEqualTo("30");
  }
}
