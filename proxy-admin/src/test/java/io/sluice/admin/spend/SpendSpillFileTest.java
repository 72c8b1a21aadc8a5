package io.sluice.admin.spend;

import io.sluice.testing.TcpProxy;

import static io.sluice.admin.spend.SpendFixture.await;
import static io.sluice.admin.spend.SpendFixture.event;
import static io.sluice.admin.spend.SpendFixture.hash;
import static io.sluice.admin.spend.SpendFixture.requestIds;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.sluice.admin.db.TestDatabases;
import io.sluice.usage.UsageEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The spill file's format and its replay, including lines a crash or a disk left broken. */
class SpendSpillFileTest {
  @TempDir
  Path dir;

  @Test
  void anEventSurvivesTheFileUnchanged() throws IOException {
    UsageEvent e = new UsageEvent("id-\"quoted\"\nnewline", hash("k"), "alias", "u", "t", "/v1/embeddings", null,
        null, 7, 0, true, 0.125, SpendFixture.T0, SpendFixture.T0.plusNanos(123_456_789), 0,
        UsageEvent.Outcome.TIMEOUT, false);
    Path p = dir.resolve("s.jsonl");
    try (SpillFile f = new SpillFile(p)) {
      f.append(List.of(e, event("second", null, null, null, 1)));
      assertThat(Files.readAllLines(p)).as("one line per event, whatever its text").hasSize(2);
      assertThat(f.rows()).isEqualTo(2);
      SpillFile.Batch b = f.read(10);
      assertThat(b.events()).containsExactly(e, event("second", null, null, null, 1));
      f.commit(b);
      assertThat(f.rows()).isZero();
      assertThat(Files.exists(p)).as("deleted once replayed").isFalse();
    }
  }

  @Test
  void badLinesAreSkippedWithTheirRequestIdOnlyAndTheRestIsReplayed() throws IOException {
    Path p = dir.resolve(SpendWriter.Settings.SPILL_FILE_NAME);
    StringBuilder text = new StringBuilder();
    text.append(new String(SpillCodec.encode(event("good-1", null, null, null, 1)), StandardCharsets.UTF_8))
        .append('\n');
    text.append("{\"request_id\":\"bad-1\",\"key_alias\":\"SECRET-ish\",\"spend\":\"lots\"}\n"); // wrong types
    text.append("not json at all SECRET-ish\n");
    text.append('\n'); // an empty line: not a row
    text.append(new String(SpillCodec.encode(event("good-2", null, null, null, 1)), StandardCharsets.UTF_8))
        .append('\n');
    text.append("{\"request_id\":\"torn-1\",\"api_key\":\"SECRET-ish"); // a crash mid-append: no line feed
    Files.writeString(p, text.toString());

    Logger logger = (Logger) LoggerFactory.getLogger(SpillFile.class);
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    logs.start();
    logger.addAppender(logs);
    try (TestDatabases.TestDatabase tdb = TestDatabases.create();
        SpendWriter w = SpendWriter.start(tdb.db.dsl(), SpendWriter.Settings.defaults(dir))) {
      assertThat(w.spilled()).isEqualTo(5);
      await("the spill file replayed", Duration.ofSeconds(30), () -> w.spilled() == 0);
      assertThat(Files.exists(p)).isFalse();
      assertThat(requestIds(tdb.db.dsl())).containsExactlyInAnyOrder("good-1", "good-2");
    } finally {
      logger.detachAppender(logs);
    }
    List<String> lines = logs.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    assertThat(lines).hasSize(3);
    assertThat(String.join("\n", lines)).contains("request_id=bad-1", "request_id=unreadable", "request_id=torn-1")
        .doesNotContain("SECRET");
  }

  @Test
  void appendingAfterATornLineStartsANewLine() throws IOException {
    Path p = dir.resolve("s.jsonl");
    Files.writeString(p, "{\"request_id\":\"torn\"", StandardOpenOption.CREATE);
    try (SpillFile f = new SpillFile(p)) {
      f.append(List.of(event("after", null, null, null, 1)));
      SpillFile.Batch b = f.read(10);
      assertThat(b.events()).extracting(UsageEvent::requestId).containsExactly("after");
      assertThat(b.badLines()).hasSize(1);
      assertThat(b.lines()).isEqualTo(2);
    }
  }

  @Test
  void aLeftoverFileWaitsUntilTheDatabaseAnswers() throws IOException {
    Path p = dir.resolve(SpendWriter.Settings.SPILL_FILE_NAME);
    try (SpillFile f = new SpillFile(p)) {
      f.append(List.of(event("left-1", null, null, null, 1), event("left-2", null, null, null, 1)));
    }
    try (TestDatabases.TestDatabase tdb = TestDatabases.create(); TcpProxy proxy = SpendFixture.proxyFor(tdb.url)) {
      var proxied = SpendFixture.openThrough(tdb.url, proxy);
      proxy.refuse(true);
      try (SpendWriter w = SpendWriter.start(proxied.dsl(), SpendWriter.Settings.defaults(dir))) {
        await("a failed replay", Duration.ofSeconds(30), () -> w.lastError() != null);
        assertThat(w.spilled()).isEqualTo(2);
        assertThat(Files.exists(p)).isTrue();
        w.offer(event("new-1", null, null, null, 1));
        proxy.refuse(false);
        assertThat(w.flush(Duration.ofSeconds(30))).isTrue();
        await("the leftover file replayed", Duration.ofSeconds(30), () -> w.spilled() == 0);
      } finally {
        proxied.close();
      }
      assertThat(requestIds(tdb.db.dsl())).containsExactlyInAnyOrder("left-1", "left-2", "new-1");
      assertThat(Files.exists(p)).isFalse();
    }
  }
}
