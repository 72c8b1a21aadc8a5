package io.sluice.json;

import io.netty.buffer.ByteBuf;

/**
 * Hashes a request's prompt prefix in fixed blocks as {@link RequestScanner} passes over it, for
 * {@code routing_strategy: prefix-affinity}. The hashed text is the raw JSON bytes of the values that make the prompt,
 * in document order, each followed by a separator: for chat, each message's {@code role} and {@code content} (no
 * tokenizer, no unescaping: a client that resends its history resends the same bytes); for completions,
 * {@code prompt}. One running 64-bit hash covers all of it, so the hash kept at the end of block {@code k} is the
 * hash of the whole chain of blocks {@code 0..k} — two prompts share block hash {@code k} exactly when (up to hash
 * collisions) they share their first {@code (k + 1) × }{@value #BLOCK_BYTES} bytes, the way vLLM's prefix cache chains
 * its block hashes.
 *
 * <p>Bounded: at most {@value #MAX_BLOCKS} blocks ({@value #MAX_BYTES} bytes) are hashed, the rest of the body is
 * not looked at, and the block hashes live in one {@code long[]} reused for every request of the connection.
 *
 * <p>The <em>anchor</em> is the hash of everything up to the end of the first {@code user} message: the part of a
 * conversation that every later turn resends unchanged, so the key a conversation is routed by stays the same from
 * its first turn on (see {@link #key()}).
 *
 * <p>Not thread-safe: one per {@link RequestScanner}, on its event loop, {@link #reset()} between requests.
 */
public final class PromptHasher {
  /** Bytes per block (vLLM's default block is 16 tokens, about 64 bytes of English text). */
  public static final int BLOCK_BYTES = 64;
  /** Blocks hashed at most; the prefix beyond them does not change the choice. */
  public static final int MAX_BLOCKS = 128;
  public static final int MAX_BYTES = BLOCK_BYTES * MAX_BLOCKS;
  /** Without an anchor (completions, or no user message in the hashed prefix): the key is the chain at this block. */
  public static final int KEY_BLOCKS = 16;

  private static final long SEED = 0x9E3779B97F4A7C15L;
  private static final long M = 0xC6A4A7935BD1E995L;

  private final long[] blocks = new long[MAX_BLOCKS];
  private int count;
  private long h;
  /** Bytes hashed so far (at most {@link #MAX_BYTES}). */
  private int hashed;
  /** Bytes of the current word not yet mixed in, little-endian, and how many. */
  private long word;
  private int wordBytes;
  private long anchor;
  private boolean anchored;

  public PromptHasher() {
    reset();
  }

  public void reset() {
    count = 0;
    h = SEED;
    hashed = 0;
    word = 0;
    wordBytes = 0;
    anchored = false;
    anchor = 0;
  }

  /** Hashes {@code buf[from, to)} (absolute indexes, unchanged). Borrows {@code buf}. */
  public void update(ByteBuf buf, int from, int to) {
    int i = from;
    while (i < to && hashed < MAX_BYTES) {
      int room = BLOCK_BYTES - (hashed & (BLOCK_BYTES - 1));
      if (wordBytes == 0 && room >= 8 && to - i >= 8) {
        mix(buf.getLongLE(i));
        i += 8;
        advance(8);
      } else {
        word |= (buf.getByte(i) & 0xFFL) << (wordBytes << 3);
        i++;
        if (++wordBytes == 8) {
          mix(word);
          word = 0;
          wordBytes = 0;
        }
        advance(1);
      }
    }
  }

  /** One byte between two values (their kind is already in their raw bytes; this keeps "ab","c" from "a","bc"). */
  public void separator() {
    if (hashed >= MAX_BYTES) {
      return;
    }
    word |= 0x1EL << (wordBytes << 3);
    if (++wordBytes == 8) {
      mix(word);
      word = 0;
      wordBytes = 0;
    }
    advance(1);
  }

  private void mix(long k) {
    k *= M;
    k ^= k >>> 47;
    k *= M;
    h ^= k;
    h *= M;
  }

  private void advance(int n) {
    hashed += n;
    if ((hashed & (BLOCK_BYTES - 1)) == 0) {
      blocks[count++] = current(); // the word is empty here: blocks are whole words
    }
  }

  /** The hash of everything hashed so far, the partial word included. */
  private long current() {
    long x = h;
    if (wordBytes > 0) {
      x ^= (word * M ^ wordBytes) * M;
    }
    x ^= hashed;
    return fmix(x);
  }

  /** Marks the end of the first user message (only the first call counts; ignored past {@link #MAX_BYTES}). */
  public void anchor() {
    if (!anchored && hashed < MAX_BYTES) {
      anchor = current();
      anchored = true;
    }
  }

  /** Whether anything was hashed. */
  public boolean any() {
    return hashed > 0;
  }

  /** Whole blocks hashed. */
  public int blockCount() {
    return count;
  }

  /** The chain hash at the end of block {@code k} ({@code k < }{@link #blockCount()}). */
  public long block(int k) {
    if (k >= count) {
      throw new IndexOutOfBoundsException(k + " (blocks: " + count + ")");
    }
    return blocks[k];
  }

  /**
   * The routing key: the anchor (everything through the first user message) when it falls within the hashed prefix;
   * else the chain at block {@value #KEY_BLOCKS} when there are that many; else the hash of all that was hashed.
   * Valid once the body ended; meaningful only when {@link #any()}.
   */
  public long key() {
    if (anchored) {
      return anchor;
    }
    if (count >= KEY_BLOCKS) {
      return blocks[KEY_BLOCKS - 1];
    }
    return current();
  }

  /** The finaliser of MurmurHash3 (a public-domain avalanche step): every input bit flips about half the output's. */
  public static long fmix(long k) {
    k ^= k >>> 33;
    k *= 0xFF51AFD7ED558CCDL;
    k ^= k >>> 33;
    k *= 0xC4CEB9FE1A85EC53L;
    k ^= k >>> 33;
    return k;
  }
}
