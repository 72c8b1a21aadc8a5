package io.sluice.bytes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.util.IllegalReferenceCountException;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Every kind of buffer the relay scans reads the same through a window as through {@code getByte}/{@code getLong}. */
class ByteWindowTest {
  private static final byte[] DATA = new byte[300];

  static {
    new SplittableRandom(3).nextBytes(DATA);
  }

  /** A buffer holding {@link #DATA} at indexes [10, 310), of each kind. */
  private static List<Function<ByteBufAllocator, ByteBuf>> kinds() {
    return List.of(
        a -> Unpooled.buffer(400).writerIndex(10).writeBytes(DATA),
        a -> a.directBuffer(400).writerIndex(10).writeBytes(DATA),
        a -> PooledByteBufAllocator.DEFAULT.directBuffer(400).writerIndex(10).writeBytes(DATA),
        a -> PooledByteBufAllocator.DEFAULT.heapBuffer(400).writerIndex(10).writeBytes(DATA),
        a -> { // a slice, as the codec hands body pieces on
          ByteBuf parent = a.directBuffer(600).writerIndex(50);
          parent.writeBytes(new byte[10]).writeBytes(DATA);
          ByteBuf slice = parent.retainedSlice(50, 310).writerIndex(310);
          parent.release(); // the slice holds the only reference
          return slice;
        },
        a -> { // a composite: neither array nor address, read through getByte
          CompositeByteBuf c = Unpooled.compositeBuffer();
          c.addComponent(true, Unpooled.wrappedBuffer(new byte[10]));
          c.addComponent(true, Unpooled.directBuffer(150).writeBytes(DATA, 0, 150));
          c.addComponent(true, Unpooled.wrappedBuffer(DATA, 150, 150));
          return c;
        });
  }

  @Test
  void readsTheSameBytesAsTheBufferOfEveryKind() {
    ByteWindow w = new ByteWindow();
    for (Function<ByteBufAllocator, ByteBuf> kind : kinds()) {
      ByteBuf buf = kind.apply(ByteBufAllocator.DEFAULT);
      try {
        w.open(buf, 10, 310);
        for (int i = 10; i < 310; i++) {
          assertThat(w.get(i)).as("%s at %s", buf, i).isEqualTo(buf.getByte(i));
          if (i <= 302) {
            assertThat(w.getLong(i)).as("%s long at %s", buf, i).isEqualTo(buf.getLong(i));
          }
        }
        assertThat(w.equalsAt(20, DATA, 10, 50)).isTrue();
        assertThat(w.equalsAt(20, DATA, 11, 50)).isFalse();
        w.close();
      } finally {
        buf.release();
      }
    }
  }

  @Test
  void nothingOutsideTheWindowIsRead() {
    ByteBuf buf = ByteBufAllocator.DEFAULT.directBuffer(64).writeZero(64);
    try {
      ByteWindow w = new ByteWindow().open(buf, 8, 40);
      assertThatThrownBy(() -> w.get(7)).isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> w.get(40)).isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> w.getLong(33)).isInstanceOf(IndexOutOfBoundsException.class);
      assertThat(w.getLong(32)).isZero();
      assertThatThrownBy(() -> w.equalsAt(36, new byte[8], 0, 8)).isInstanceOf(IndexOutOfBoundsException.class);
      w.close();
      assertThatThrownBy(() -> w.get(8)).as("closed").isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> new ByteWindow().open(buf, 0, 65)).as("past the capacity")
          .isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> new ByteWindow().open(buf, -1, 8)).isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> new ByteWindow().open(buf, 9, 8)).isInstanceOf(IndexOutOfBoundsException.class);
    } finally {
      buf.release();
    }
  }

  @Test
  void aReleasedBufferCannotBeOpened() {
    ByteBuf buf = ByteBufAllocator.DEFAULT.directBuffer(16).writeZero(16);
    ByteBuf slice = buf.slice(0, 8);
    buf.release();
    assertThatThrownBy(() -> new ByteWindow().open(buf)).isInstanceOf(IllegalReferenceCountException.class);
    assertThatThrownBy(() -> new ByteWindow().open(slice)).isInstanceOf(IllegalReferenceCountException.class);
  }
}
