package io.sluice.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/** Request ids: 32 lowercase hex digits, unique, from every thread at once (each has its own scratch). */
class RequestIdsTest {

  @Test
  void generatedIdsAre32LowercaseHexDigitsAndUnique() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 20_000; i++) {
      String id = RequestIds.generate();
      assertThat(id).matches("[0-9a-f]{32}");
      assertThat(seen.add(id)).as("unique: " + id).isTrue();
    }
  }

  @Test
  void threadsGeneratingAtOnceNeverSeeEachOthersDigits() throws Exception {
    Set<String> all = ConcurrentHashMap.newKeySet();
    List<Thread> threads = new ArrayList<>();
    List<String> bad = java.util.Collections.synchronizedList(new ArrayList<>());
    for (int t = 0; t < 4; t++) {
      Thread th = new Thread(() -> {
        for (int i = 0; i < 5_000; i++) {
          String id = RequestIds.generate();
          if (!id.matches("[0-9a-f]{32}") || !all.add(id)) {
            bad.add(id);
          }
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) {
      th.join();
    }
    assertThat(bad).isEmpty();
    assertThat(all).hasSize(20_000);
  }

  @Test
  void aClientsPrintableIdIsKeptAndAnythingElseReplaced() {
    assertThat(RequestIds.acceptOrGenerate("req-42")).isEqualTo("req-42");
    assertThat(RequestIds.acceptOrGenerate("has space")).matches("[0-9a-f]{32}");
    assertThat(RequestIds.acceptOrGenerate("x".repeat(129))).matches("[0-9a-f]{32}");
    assertThat(RequestIds.acceptOrGenerate("")).matches("[0-9a-f]{32}");
    assertThat(RequestIds.acceptOrGenerate(null)).matches("[0-9a-f]{32}");
  }
}
