package io.sluice.json;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Issue 20 §1: the prompt prefix hashed in blocks as {@link RequestScanner} passes over the body. */
class PromptHasherTest {
  private static final String SYSTEM = "You are a careful assistant. Answer in full sentences and cite sources. ";

  private static PromptHasher scan(RequestScanner s, String body, int chunk) {
    s.hashPrompt(true);
    s.reset();
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < bytes.length; i += chunk) {
      ByteBuf b = Unpooled.wrappedBuffer(bytes, i, Math.min(chunk, bytes.length - i));
      assertThat(s.feed(b)).as(s.error()).isTrue();
      b.release();
    }
    assertThat(s.end()).as(s.error()).isTrue();
    return s.prompt();
  }

  private static PromptHasher scan(String body, int chunk) {
    return scan(new RequestScanner(), body, chunk);
  }

  private static String chat(String... roleContent) {
    StringBuilder b = new StringBuilder("{\"model\":\"m\",\"messages\":[");
    for (int i = 0; i < roleContent.length; i += 2) {
      b.append(i == 0 ? "" : ",").append("{\"role\":\"").append(roleContent[i]).append("\",\"content\":\"")
          .append(roleContent[i + 1]).append("\"}");
    }
    return b.append("],\"stream\":true}").toString();
  }

  private static String words(int n, String seed) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(seed).append(i).append(' ');
    }
    return b.toString();
  }

  @Test
  void theHashesDoNotDependOnHowTheBodyIsCutIntoChunks() {
    String body = chat("system", SYSTEM, "user", words(80, "q"), "assistant", words(40, "a"), "user", "more");
    PromptHasher whole = scan(body, body.length());
    long key = whole.key();
    int blocks = whole.blockCount();
    long[] chain = new long[blocks];
    for (int k = 0; k < blocks; k++) {
      chain[k] = whole.block(k);
    }
    assertThat(blocks).as("role + content bytes, in 64-byte blocks").isGreaterThan(8);
    for (int chunk : new int[] {1, 3, 7, 64, 333}) {
      PromptHasher p = scan(body, chunk);
      assertThat(p.key()).as("chunk %s", chunk).isEqualTo(key);
      assertThat(p.blockCount()).isEqualTo(blocks);
      for (int k = 0; k < blocks; k++) {
        assertThat(p.block(k)).as("block %s, chunk %s", k, chunk).isEqualTo(chain[k]);
      }
    }
  }

  @Test
  void aLaterTurnSharesEveryBlockOfTheEarlierTurnAndItsKey() {
    String q1 = words(30, "question");
    String turn1 = chat("system", SYSTEM, "user", q1);
    String turn2 = chat("system", SYSTEM, "user", q1, "assistant", words(50, "answer"), "user", "and then?");
    PromptHasher p1 = scan(turn1, 100);
    int n1 = p1.blockCount();
    long[] c1 = new long[n1];
    for (int k = 0; k < n1; k++) {
      c1[k] = p1.block(k);
    }
    long key1 = p1.key();
    PromptHasher p2 = scan(turn2, 100);
    assertThat(p2.blockCount()).isGreaterThan(n1);
    for (int k = 0; k < n1; k++) {
      assertThat(p2.block(k)).as("block %s: the resent history hashes alike", k).isEqualTo(c1[k]);
    }
    assertThat(p2.key()).as("the key is the prefix through the first user message: the same every turn")
        .isEqualTo(key1);
  }

  @Test
  void conversationsSharingOnlyTheSystemPromptGetDifferentKeysButShareItsBlocks() {
    PromptHasher a = scan(chat("system", SYSTEM, "user", "What is the capital of France?"), 50);
    long ka = a.key();
    long a0 = a.block(0);
    PromptHasher b = scan(chat("system", SYSTEM, "user", "How do I boil an egg?"), 50);
    assertThat(b.key()).isNotEqualTo(ka);
    assertThat(b.block(0)).as("the system prompt's first block is the same chain").isEqualTo(a0);
  }

  @Test
  void onlyRoleAndContentCountAndOtherFieldsDoNotChangeTheHash() {
    String plain = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" + words(20, "x") + "\"}]}";
    String extra = "{\"temperature\":0.2,\"messages\":[{\"name\":\"bob\",\"role\":\"user\",\"content\":\""
        + words(20, "x") + "\"}],\"model\":\"other\",\"user\":\"u-1\"}";
    assertThat(scan(extra, 9).key()).isEqualTo(scan(plain, 9).key());
    String other = plain.replace("x3 ", "y3 ");
    assertThat(scan(other, 9).key()).isNotEqualTo(scan(plain, 9).key());
    String otherRole = plain.replace("\"user\"", "\"system\"");
    assertThat(scan(otherRole, 9).key()).isNotEqualTo(scan(plain, 9).key());
  }

  @Test
  void structuredContentAndCompletionsPromptsAreHashedRaw() {
    String parts = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}";
    PromptHasher p = scan(parts, 4);
    assertThat(p.any()).isTrue();
    long k = p.key();
    assertThat(scan(parts.replace("hi", "ho"), 4).key()).isNotEqualTo(k);
    String prompt = "{\"model\":\"m\",\"prompt\":\"" + words(400, "p") + "\",\"max_tokens\":5}";
    PromptHasher c = scan(prompt, 31);
    assertThat(c.blockCount()).isGreaterThanOrEqualTo(PromptHasher.KEY_BLOCKS);
    long ck = c.key();
    assertThat(ck).as("completions: the chain at block %s", PromptHasher.KEY_BLOCKS)
        .isEqualTo(c.block(PromptHasher.KEY_BLOCKS - 1));
    String longer = prompt.replace("\",\"max_tokens\"", " and a different tail\",\"max_tokens\"");
    assertThat(scan(longer, 31).key()).as("a prompt extended past the key's blocks keeps its key").isEqualTo(ck);
  }

  @Test
  void hashingIsBoundedAndTheScannerIsReusedWithoutCarryingState() {
    RequestScanner s = new RequestScanner();
    String huge = chat("user", words(5000, "w"));
    PromptHasher p = scan(s, huge, 4096);
    assertThat(p.blockCount()).as("at most MAX_BLOCKS, whatever the body's size").isEqualTo(PromptHasher.MAX_BLOCKS);
    String small = chat("user", "hi");
    long fresh = scan(small, 5).key();
    assertThat(scan(s, small, 5).key()).as("reset between requests").isEqualTo(fresh);
    s.hashPrompt(false);
    s.reset();
    ByteBuf b = Unpooled.copiedBuffer(small, StandardCharsets.UTF_8);
    s.feed(b);
    b.release();
    assertThat(s.end()).isTrue();
    assertThat(s.prompt()).as("off: nothing hashed").isNull();
  }
}
