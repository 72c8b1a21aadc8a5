package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MultipartScannerTest {
  static final String B = "----sluiceBoundary7MA4YWxk";

  /** A body with the given parts, in order: {name, value} or {name, filename, bytes-as-ISO-8859-1}. */
  static byte[] body(String boundary, String preamble, String[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(preamble.getBytes(StandardCharsets.ISO_8859_1));
    for (String[] p : parts) {
      out.writeBytes(("--" + boundary + "\r\n").getBytes(StandardCharsets.US_ASCII));
      if (p.length == 2) {
        out.writeBytes(("Content-Disposition: form-data; name=\"" + p[0] + "\"\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(p[1].getBytes(StandardCharsets.UTF_8));
      } else {
        out.writeBytes(("Content-Disposition: form-data; name=\"" + p[0] + "\"; filename=\"" + p[1] + "\"\r\n"
            + "Content-Type: audio/wav\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(p[2].getBytes(StandardCharsets.ISO_8859_1));
      }
      out.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
    }
    out.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
    return out.toByteArray();
  }

  /** Feeds {@code body} in pieces of {@code step} bytes; returns the scanner after end() (or the failed feed). */
  static MultipartScanner scan(byte[] body, int step) {
    MultipartScanner s = new MultipartScanner(B.getBytes(StandardCharsets.US_ASCII));
    for (int i = 0; i < body.length; i += step) {
      ByteBuf chunk = Unpooled.wrappedBuffer(body, i, Math.min(step, body.length - i));
      boolean ok = s.feed(chunk);
      assertThat(chunk.readerIndex()).as("not consumed").isZero();
      if (!ok) {
        return s;
      }
    }
    s.end();
    return s;
  }

  static String at(byte[] body, MultipartScanner s) {
    return new String(body, (int) s.modelStart(), (int) (s.modelEnd() - s.modelStart()), StandardCharsets.UTF_8);
  }

  @Test
  void findsTheModelBeforeOrAfterTheFileAtEverySplit() {
    String audio = "RIFF\u0000\u0001\r\n--" + B.substring(0, 10) + "\r\n-\r\r\n--\u00ff\u00fe data";
    byte[][] bodies = {
        body(B, "", new String[] {"model", "whisper-large"}, new String[] {"file", "a.wav", audio}),
        body(B, "", new String[] {"file", "a.wav", audio}, new String[] {"stream", "true"},
            new String[] {"model", "whisper-large"}),
        body(B, "preamble text\r\n", new String[] {"model", "whisper-large"}, new String[] {"file", "a.wav", audio}),
    };
    for (byte[] body : bodies) {
      for (int step = 1; step <= body.length; step++) {
        MultipartScanner s = scan(body, step);
        assertThat(s.error()).as("step %d", step).isNull();
        assertThat(s.model()).isEqualTo("whisper-large");
        assertThat(at(body, s)).isEqualTo("whisper-large");
      }
    }
    assertThat(scan(bodies[1], 7).stream()).isTrue();
    assertThat(scan(bodies[0], 7).stream()).isFalse();
  }

  @Test
  void aLargeBinaryFileIsSkippedAndTheOffsetsAreAbsolute() {
    byte[] noise = new byte[300_000];
    new Random(7).nextBytes(noise);
    String audio = new String(noise, StandardCharsets.ISO_8859_1);
    byte[] body = body(B, "", new String[] {"file", "x.wav", audio}, new String[] {"model", "m/ü"});
    MultipartScanner s = scan(body, 8192);
    assertThat(s.error()).isNull();
    assertThat(s.model()).isEqualTo("m/ü");
    assertThat(at(body, s)).isEqualTo("m/ü");
    assertThat(s.modelStart()).isGreaterThan(300_000);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "two model fields|two \"model\" fields",
      "no close delimiter|no close delimiter",
      "no delimiter|no delimiter line",
      "a part without a name|without a Content-Disposition name",
      "a model field over 1 KiB|longer than 1024 bytes",
      "garbage after the boundary|something after the boundary",
  })
  void malformedBodiesAreRefusedSayingWhy(String which, String message) {
    byte[] body = switch (which) {
      case "two model fields" -> body(B, "", new String[] {"model", "a"}, new String[] {"model", "b"});
      case "no close delimiter" -> ("--" + B + "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm\r\n")
          .getBytes(StandardCharsets.US_ASCII);
      case "no delimiter" -> "just some bytes".getBytes(StandardCharsets.US_ASCII);
      case "a part without a name" -> ("--" + B + "\r\nContent-Type: text/plain\r\n\r\nm\r\n--" + B + "--")
          .getBytes(StandardCharsets.US_ASCII);
      case "a model field over 1 KiB" -> body(B, "", new String[] {"model", "m".repeat(1025)});
      default -> ("--" + B + "x\r\n").getBytes(StandardCharsets.US_ASCII);
    };
    for (int step : new int[] {1, 3, body.length}) {
      MultipartScanner s = scan(body, step);
      assertThat(s.error()).as("step %d", step).isNotNull().contains(message)
          .startsWith("The multipart/form-data body is malformed");
    }
  }

  @Test
  void theBoundaryComesFromTheContentType() {
    assertThat(MultipartScanner.boundary("multipart/form-data; boundary=" + B)).isEqualTo(B.getBytes());
    assertThat(MultipartScanner.boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b'c\""))
        .isEqualTo("a b'c".getBytes());
    assertThat(MultipartScanner.boundary("application/json")).isNull();
    assertThat(MultipartScanner.boundary("multipart/form-data")).isNull();
    assertThat(MultipartScanner.boundary("multipart/form-data; boundary=")).isNull();
    assertThat(MultipartScanner.boundary("multipart/form-data; boundary=" + "x".repeat(71))).isNull();
    assertThat(MultipartScanner.boundary("multipart/form-data; boundary=a\u0000b")).isNull();
    assertThat(MultipartScanner.boundary(null)).isNull();
  }
}
