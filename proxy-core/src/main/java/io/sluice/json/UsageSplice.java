package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * An edit of a streaming request body that makes vLLM send its usage chunk: bytes [start, end) of the body are
 * replaced by {@link #bytes()}. Three forms, chosen by {@link RequestScanner#usageSplice()}:
 * <ul>
 *   <li>no {@code stream_options}: {@code ,"stream_options":{"include_usage":true}} inserted before the root's
 *       closing brace (the body has at least a {@code model} member, so the comma is right);</li>
 *   <li>{@code "stream_options":null}: the {@code null} becomes {@code {"include_usage":true}};</li>
 *   <li>{@code "include_usage":false} (or null): the literal becomes {@code true}.</li>
 * </ul>
 */
public record UsageSplice(long start, long end, Kind kind) {
  public enum Kind {
    APPEND_FIELD(",\"stream_options\":{\"include_usage\":true}"),
    REPLACE_NULL("{\"include_usage\":true}"),
    REPLACE_VALUE("true");

    private final ByteBuf bytes;

    Kind(String text) {
      // JDK-owned direct memory (never released, never tracked): a spliced body stays all-direct for writev.
      java.nio.ByteBuffer direct = java.nio.ByteBuffer.allocateDirect(text.length())
          .put(text.getBytes(StandardCharsets.US_ASCII));
      direct.flip();
      this.bytes = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(direct).asReadOnly());
    }
  }

  /** The replacement: a shared, unreleasable, read-only buffer; duplicate it before use. */
  public ByteBuf bytes() {
    return kind.bytes.duplicate();
  }

  /** Body length change. */
  public int delta() {
    return kind.bytes.readableBytes() - (int) (end - start);
  }
}
