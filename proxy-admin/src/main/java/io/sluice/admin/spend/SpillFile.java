package io.sluice.admin.spend;

import io.sluice.usage.UsageEvent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The spend writer's overflow on disk: an append-only file of JSON lines, one {@link UsageEvent} each
 * ({@link SpillCodec}), fsync'd per append. It is replayed from the front in batches ({@link #read} then, once the
 * batch is in the database, {@link #commit}); when the last line is committed the file is deleted. Replay is
 * at-least-once — a crash between a batch's commit in the database and {@link #commit} replays it again — which the
 * idempotent insert makes harmless.
 *
 * <p>Not thread-safe: the spend writer's thread only.
 */
final class SpillFile implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SpillFile.class);
  /** A longer line is corruption (an event is a few hundred bytes): skipped without being held in memory. */
  static final int MAX_LINE = 1 << 20;

  private final Path path;
  private FileChannel out;
  /** Bytes at the front already replayed. */
  private long readPos;
  /** Lines (non-empty) after {@link #readPos}. */
  private long rows;

  /** Opens {@code path}, counting the lines a previous run left there (they are replayed first). */
  SpillFile(Path path) throws IOException {
    this.path = path;
    if (Files.exists(path)) {
      try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
        Bytes in = new Bytes(ch);
        boolean inLine = false;
        for (int b = in.read(); b >= 0; b = in.read()) {
          if (b == '\n') {
            rows += inLine ? 1 : 0;
            inLine = false;
          } else {
            inLine = true;
          }
        }
        rows += inLine ? 1 : 0;
      }
      if (rows == 0) {
        Files.delete(path);
      }
    }
  }

  Path path() {
    return path;
  }

  /** Rows in the file not yet replayed. */
  long rows() {
    return rows;
  }

  /** Appends {@code events} and fsyncs: when this returns, they survive a crash. */
  void append(Collection<UsageEvent> events) throws IOException {
    if (events.isEmpty()) {
      return;
    }
    if (out == null) {
      Path dir = path.toAbsolutePath().getParent();
      if (dir != null) {
        Files.createDirectories(dir);
      }
      // A crash mid-append leaves a line without its line feed: end it, or the next line would be glued to it.
      boolean torn = Files.exists(path) && Files.size(path) > 0 && !endsWithNewline(path);
      out = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
      if (torn) {
        writeFully(out, ByteBuffer.wrap(new byte[] {'\n'}));
      }
    }
    // Not closed: closing it would close the channel, which stays open for the next append.
    java.io.OutputStream lines = new java.io.BufferedOutputStream(Channels.newOutputStream(out), 1 << 16);
    SpillCodec.encode(events, lines);
    lines.flush();
    out.force(false);
    rows += events.size();
  }

  /** Up to {@code max} events from the front of what is not yet replayed, and where they end. */
  record Batch(List<UsageEvent> events, long end, int lines, List<String> badLines) {}

  /** Reads the next events; lines that are not events are skipped (reported by {@link #commit}). */
  Batch read(int max) throws IOException {
    List<UsageEvent> events = new ArrayList<>();
    List<String> bad = new ArrayList<>();
    int lines = 0;
    long pos = readPos;
    if (rows == 0) {
      return new Batch(events, pos, 0, bad);
    }
    if (!Files.exists(path)) {
      log.error("spend spill file {} disappeared with {} row(s) not yet replayed (removed by hand?); those rows "
          + "are lost", path, rows);
      closeOut();
      rows = 0;
      readPos = 0;
      return new Batch(events, 0, 0, bad);
    }
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      ch.position(readPos);
      Bytes in = new Bytes(ch);
      byte[] line = new byte[1024];
      while (lines < max) {
        int len = 0;
        boolean tooLong = false;
        int b;
        long start = pos;
        while ((b = in.read()) >= 0 && b != '\n') {
          pos++;
          if (len == line.length && len < MAX_LINE) {
            line = Arrays.copyOf(line, Math.min(MAX_LINE, len * 2));
          }
          if (len < line.length) {
            line[len++] = (byte) b;
          } else {
            tooLong = true;
          }
        }
        if (b < 0 && pos == start) {
          break; // end of file
        }
        if (b == '\n') {
          pos++;
        }
        if (len == 0 && !tooLong) {
          continue; // the line feed that ended a torn line
        }
        lines++;
        try {
          if (tooLong) {
            throw new IOException("line too long");
          }
          events.add(SpillCodec.decode(line, len));
        } catch (IOException e) {
          String id = tooLong ? null : SpillCodec.requestIdOf(line, len);
          bad.add("line at byte " + start + " (request_id=" + (id == null ? "unreadable" : id) + ")");
        }
        if (b < 0) {
          break;
        }
      }
    }
    return new Batch(events, pos, lines, bad);
  }

  /**
   * The file's bytes one at a time, read 64 KB at a time: {@code BufferedInputStream.read()} takes a lock per byte,
   * and that lock was most of a replay's CPU (profiled: 72 % of {@link #read}, more than decoding the lines).
   */
  private static final class Bytes {
    private final FileChannel ch;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16);

    Bytes(FileChannel ch) {
      this.ch = ch;
      buf.flip(); // empty
    }

    /** The next byte (0–255), or -1 at the end of the file. */
    int read() throws IOException {
      if (!buf.hasRemaining()) {
        buf.clear();
        int n;
        do {
          n = ch.read(buf);
        } while (n == 0);
        buf.flip();
        if (n < 0) {
          return -1;
        }
      }
      return buf.get() & 0xff;
    }
  }

  /** {@code b} is in the database: forget its lines, and delete the file once nothing is left. */
  void commit(Batch b) throws IOException {
    for (String bad : b.badLines()) {
      log.warn("spend spill file {}: {} is not a valid usage event; skipped", path, bad);
    }
    readPos = b.end();
    rows = Math.max(0, rows - b.lines());
    if (rows == 0 && (!Files.exists(path) || readPos >= Files.size(path))) {
      closeOut();
      Files.deleteIfExists(path);
      readPos = 0;
    }
  }

  @Override
  public void close() throws IOException {
    closeOut();
  }

  private void closeOut() throws IOException {
    if (out != null) {
      FileChannel c = out;
      out = null;
      c.close();
    }
  }

  private static boolean endsWithNewline(Path p) throws IOException {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
      ByteBuffer last = ByteBuffer.allocate(1);
      ch.read(last, ch.size() - 1);
      return last.get(0) == '\n';
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) {
      ch.write(buf);
    }
  }
}
