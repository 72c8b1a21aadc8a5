package io.sluice.json;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ByteProcessor;
import io.sluice.bytes.ByteWindow;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Finds the top-level {@code model}, {@code stream}, {@code stream_options}, {@code fallbacks}, {@code user} (the
 * end user, OpenAI's and LiteLLM's customer id) and the output-token cap ({@link #maxTokens()}) of a JSON request
 * body as its chunks arrive, with a byte-level state machine over the chunks themselves: no tree, no copy, no parser
 * object per request. It also validates that the body is one well-formed JSON object (RFC 8259, strictly: no comments,
 * trailing commas, single quotes, leading zeros, NaN; control characters in strings refused; escapes checked; at most
 * {@value #MAX_DEPTH} levels deep; nothing but whitespace after the root) in well-formed UTF-8 ({@link Utf8Validator}),
 * and records where literals sit (byte offsets from the body's start) so they can be spliced.
 *
 * <p>Only the strings it needs are decoded: top-level names (matched in place, without a String), the {@code model}
 * and {@code user} values and the {@code fallbacks} entries. Everything else is skipped a word at a time. On the success path the only
 * allocations are the {@code model} String and, when the body has them, the fallbacks list and its names.
 *
 * <p>A duplicate top-level {@code model} is refused: Python's {@code json} keeps the last one, so routing by the
 * first would let a caller reach a model its key may not use.
 *
 * <p>Where it differs from the Jackson parser it replaced: numbers, strings and names have no length limit of their
 * own (Jackson refused numbers over 1000 digits, names over 50 000 bytes, strings over 20 M chars; the guard's body
 * limit bounds them all here, and nothing skipped is ever decoded); a UTF-8 byte order mark at the very start is
 * accepted as Jackson did, but the body after it is now UTF-8-validated and offsets count the mark's three bytes.
 *
 * <p>Not thread-safe: one per channel, on its event loop, {@link #reset()} between requests.
 */
public final class RequestScanner {
  /** The deepest nesting accepted, the root object being level 1 (Jackson's limit as it was configured here). */
  public static final int MAX_DEPTH = 512;

  // Where the scanner is in the grammar.
  /** Before the root: whitespace, then '{'. */
  private static final int ROOT = 0;
  /** Just after '{': a name or '}'. */
  private static final int FIRST_KEY = 2;
  /** After ',' in an object: a name. */
  private static final int KEY = 3;
  /** After a name: ':'. */
  private static final int COLON = 4;
  /** After ':', or after ',' in an array: a value. */
  private static final int VALUE = 5;
  /** Just after '[': a value or ']'. */
  private static final int FIRST_VALUE = 6;
  /** After a value: ',' or the close of its container. */
  private static final int AFTER_VALUE = 7;
  /** After the root's closing brace: whitespace only. */
  private static final int DONE = 8;
  /** Inside a string, a name or a value. */
  private static final int STRING = 9;
  /** After a backslash in a string. */
  private static final int ESCAPE = 10;
  /** In the four hex digits of a {@code \\u} escape. */
  private static final int UNICODE = 11;
  private static final int NUMBER = 12;
  /** Inside {@code true}, {@code false} or {@code null}. */
  private static final int LITERAL = 13;

  // Where a number is (RFC 8259 §6).
  private static final int N_MINUS = 0;
  private static final int N_ZERO = 1;
  private static final int N_INT = 2;
  private static final int N_DOT = 3;
  private static final int N_FRAC = 4;
  private static final int N_EXP = 5;
  private static final int N_EXP_SIGN = 6;
  private static final int N_EXP_DIGITS = 7;

  // What a finished scalar value is.
  private static final int T_STRING = 0;
  private static final int T_NUMBER = 1;
  private static final int T_TRUE = 2;
  private static final int T_FALSE = 3;
  private static final int T_NULL = 4;

  // What to keep of the current string.
  private static final int SKIP = 0;
  /** A name to match against the few this scanner looks for: ASCII bytes, up to the longest of them. */
  private static final int NAME = 1;
  /** A value to decode to a String. */
  private static final int TEXT = 2;
  /** A message's {@code role} value, matched against {@code "user"} like a name (prompt hashing only). */
  private static final int ROLE = 3;

  // Which value the name just read announces.
  private static final int NONE = 0;
  private static final int MODEL = 1;
  private static final int STREAM = 2;
  private static final int STREAM_OPTIONS = 3;
  private static final int INCLUDE_USAGE = 4;
  private static final int CONTINUOUS_USAGE = 5;
  private static final int FALLBACKS = 6;
  private static final int USER = 7;
  private static final int MESSAGES = 8;
  private static final int PROMPT = 9;
  // Which field of a message (depth 3 inside messages) the name just read announces (prompt hashing only).
  private static final int M_ROLE = 1;
  private static final int M_CONTENT = 2;
  private static final int PREVIOUS_RESPONSE_ID = 10;
  private static final int CW_FALLBACKS = 11;
  /** {@code max_tokens}, {@code max_completion_tokens} or {@code max_output_tokens}: an integer read in place. */
  private static final int MAX_TOKENS = 12;

  private static final byte[] N_MODEL = ascii("model");
  private static final byte[] N_STREAM = ascii("stream");
  private static final byte[] N_STREAM_OPTIONS = ascii("stream_options");
  private static final byte[] N_FALLBACKS = ascii("fallbacks");
  private static final byte[] N_USER = ascii("user");
  private static final byte[] N_PREVIOUS_RESPONSE_ID = ascii("previous_response_id");
  private static final byte[] N_MESSAGES = ascii("messages");
  private static final byte[] N_PROMPT = ascii("prompt");
  private static final byte[] N_ROLE = ascii("role");
  private static final byte[] N_CONTENT = ascii("content");
  private static final byte[] N_CW_FALLBACKS = ascii("context_window_fallbacks");
  private static final byte[] N_MAX_TOKENS = ascii("max_tokens");
  private static final byte[] N_MAX_COMPLETION_TOKENS = ascii("max_completion_tokens");
  private static final byte[] N_MAX_OUTPUT_TOKENS = ascii("max_output_tokens");
  private static final byte[] N_INCLUDE_USAGE = ascii("include_usage");
  private static final byte[] N_CONTINUOUS_USAGE = ascii("continuous_usage_stats");
  private static final byte[] L_TRUE = ascii("true");
  private static final byte[] L_FALSE = ascii("false");
  private static final byte[] L_NULL = ascii("null");

  private static final long ONES = 0x0101010101010101L;
  private static final long HIGHS = 0x8080808080808080L;
  private static final long QUOTES = 0x2222222222222222L;
  private static final long BACKSLASHES = 0x5C5C5C5C5C5C5C5CL;
  private static final long SPACES = 0x2020202020202020L;

  private static final ByteProcessor FIND_NON_WS = b -> b == ' ' || b == '\t' || b == '\r' || b == '\n';
  private static final String FALLBACKS_SHAPE =
      "\"fallbacks\" must be a list of model group names, e.g. [\"llama-backup\"].";
  private static final String CW_FALLBACKS_SHAPE =
      "\"context_window_fallbacks\" must be a list of model group names, e.g. [\"llama-long\"].";
  private static final int TEXT_KEPT = 4096;
  /** The largest output-token cap read; more saturates here (no overflow). */
  static final long MAX_TOKENS_READ = 1L << 40;
  private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
  private static final ByteBuf BOM_BUF = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(BOM).asReadOnly());

  // Kept across requests.
  private final Utf8Validator utf8 = new Utf8Validator();
  /** The chunk being scanned, read without a reference-count check per byte (see {@link ByteWindow}). */
  private final ByteWindow window = new ByteWindow();
  /** One bit per open container below the root and including it: set for an object, clear for an array. */
  private final long[] objects = new long[MAX_DEPTH / 64];
  /** Long enough for the longest name looked for (a longer one is none of them). */
  private final byte[] name = new byte[Math.max(N_CONTINUOUS_USAGE.length, N_CW_FALLBACKS.length)];
  private char[] text = new char[64];
  /** The model of an earlier request on this channel ({@link #sameText}); kept across requests. */
  private String lastModel;
  /** Null unless {@link #hashPrompt} asked for it: then allocated once, for every request of the channel. */
  private PromptHasher hasher;
  private boolean hashing;

  // The grammar.
  private int state;
  private int depth;
  /** Bytes scanned so far: the body offset of the next chunk's first byte. */
  private long pos;
  private long valueStart;
  private int numState;
  private byte[] literal;
  private int literalAt;
  private int literalType;
  private boolean stringIsName;
  private int capture;
  /** Name bytes kept; -1 once the name can match none of ours. */
  private int nameLength;
  private int textLength;
  /** Continuation bytes still expected, and the code point so far, of a UTF-8 sequence being decoded. */
  private int utfNeed;
  private int utfCodePoint;
  private int hexDigits;
  private int hexValue;
  /** 0: not known yet whether the body is a JSON object; 1: it is, validate its UTF-8; 2: it is not. */
  private int checkUtf8;
  /** Bytes of a leading byte order mark read, 0 to 3. */
  private int bomAt;

  // What was found.
  private int pendingField;
  /** The top-level output-token cap (the largest of the three names), -1 = none or not a non-negative integer. */
  private long maxTokens;
  /** The digits of a {@link #MAX_TOKENS} number so far; -1 once it is no plain integer. */
  private long digits;
  private String model;
  private long modelStart;
  private long modelEnd;
  private boolean stream;
  private boolean streamSeen;
  private String error;
  private boolean duplicateModel;
  /** The top-level {@code user} string (the last one, as Python's json keeps it), or null. */
  private String user;
  /** The top-level {@code previous_response_id} string (Responses API; the last one), or null. */
  private String previousResponseId;
  /** LiteLLM's per-request {@code fallbacks}: model group names, or null when the body has none. */
  private List<String> fallbacks;
  /** LiteLLM's per-request {@code context_window_fallbacks}, as model group names; or null. */
  private List<String> contextWindowFallbacks;
  /** Inside one of the two lists: {@link #collecting} is the one being filled. */
  private boolean inFallbacks;
  private List<String> collecting;
  private String collectingShape;
  /**
   * Where the {@code context_window_fallbacks} list starts and ends (body offsets, brackets included) when it holds
   * LiteLLM's router form, objects ({@code [{"group": ["other"]}]}): then the caller reads that range; else -1.
   */
  private long cwStart;
  private long cwEnd;
  private boolean cwObjects;
  /** Where the root object's closing brace sits, or -1. */
  private long rootEnd;
  private boolean streamOptionsSeen;
  /** {@code stream_options} is JSON null: [start, end) of the literal. */
  private long streamOptionsNullStart;
  /** Depth 2, inside the top-level {@code stream_options} object. */
  private boolean inStreamOptions;
  private boolean streamOptionsObject;
  /** {@code stream_options.include_usage}: null = absent; [start, end) of its literal. */
  private Boolean includeUsage;
  private long includeUsageStart;
  private long includeUsageEnd;
  private boolean continuousUsage;

  // Prompt hashing (only while {@link #hashing}).
  /** The chunk being scanned and the body offset of its index 0, for the spans below; null between chunks. */
  private ByteBuf chunk;
  private long chunkBase;
  /** Body offset where the hashed value being read started (or where its current chunk starts), or -1. */
  private long spanFrom;
  /** The depth at which that value sits: it ends when a scalar ends, or a container closes, back at this depth. */
  private int spanDepth;
  /** Depth 2 and below, inside the top-level {@code messages} array. */
  private boolean inMessages;
  private int messageField;
  /** The message being read has role {@code user}. */
  private boolean userMessage;

  public RequestScanner() {
    reset();
  }

  /**
   * Whether to hash the prompt prefix of the next bodies ({@link #prompt()}), from the next {@link #reset()} on. Off,
   * the scanner does exactly what it did without it; on, it costs one {@link PromptHasher} per scanner (not per
   * request) and a bounded pass over the prompt's first {@value PromptHasher#MAX_BYTES} bytes.
   */
  public void hashPrompt(boolean on) {
    if (on && hasher == null) {
      hasher = new PromptHasher();
    }
    hashing = on;
  }

  /** Makes this scanner ready for the next body; what it found for the last one is forgotten. */
  public void reset() {
    utf8.reset();
    if (text.length > TEXT_KEPT) {
      text = new char[64]; // a huge model name once does not pin its buffer to the channel
    }
    state = ROOT;
    depth = 0;
    pos = 0;
    valueStart = -1;
    numState = 0;
    literal = null;
    literalAt = 0;
    literalType = 0;
    stringIsName = false;
    capture = SKIP;
    nameLength = 0;
    textLength = 0;
    utfNeed = 0;
    utfCodePoint = 0;
    hexDigits = 0;
    hexValue = 0;
    checkUtf8 = 0;
    bomAt = 0;
    pendingField = NONE;
    maxTokens = -1;
    digits = -1;
    model = null;
    modelStart = -1;
    modelEnd = -1;
    stream = false;
    streamSeen = false;
    error = null;
    duplicateModel = false;
    user = null;
    previousResponseId = null;
    fallbacks = null;
    contextWindowFallbacks = null;
    inFallbacks = false;
    collecting = null;
    collectingShape = null;
    cwStart = -1;
    cwEnd = -1;
    cwObjects = false;
    rootEnd = -1;
    streamOptionsSeen = false;
    streamOptionsNullStart = -1;
    inStreamOptions = false;
    streamOptionsObject = false;
    includeUsage = null;
    includeUsageStart = -1;
    includeUsageEnd = -1;
    continuousUsage = false;
    if (hasher != null) {
      hasher.reset();
    }
    chunk = null;
    spanFrom = -1;
    spanDepth = 0;
    inMessages = false;
    messageField = 0;
    userMessage = false;
  }

  /**
   * Scans the readable bytes of {@code chunk} (indexes unchanged). Borrows {@code chunk}: nothing of it is kept once
   * this returns.
   *
   * @return false once the body is known to be invalid (see {@link #error()})
   */
  public boolean feed(ByteBuf chunk) {
    if (error != null || !chunk.isReadable()) {
      return error == null;
    }
    if (bomAt < 3 && pos == bomAt && (bomAt > 0 || chunk.getByte(chunk.readerIndex()) == BOM[0])) {
      chunk = skipByteOrderMark(chunk);
      if (chunk == null) {
        return error == null;
      }
    }
    if (checkUtf8 == 0) {
      int at = chunk.forEachByte(FIND_NON_WS);
      if (at >= 0) {
        // Not a JSON object: refused below, with no UTF-8 verdict (/vllm/* relays such bodies as they are).
        checkUtf8 = chunk.getByte(at) == '{' ? 1 : 2;
      }
    }
    if (checkUtf8 != 2 && !utf8.feed(chunk)) {
      error = utf8.error(); // checked first: Jackson let overlong forms and surrogates through (issue 13, finding 9)
      return false;
    }
    int start = chunk.readerIndex();
    int end = chunk.writerIndex();
    if (hashing) {
      this.chunk = chunk;
      chunkBase = pos - start;
    }
    scan(chunk, start, end, pos - start);
    if (hashing) {
      if (spanFrom >= 0) {
        hasher.update(chunk, (int) (spanFrom - chunkBase), end); // the value goes on in the next chunk
        spanFrom = pos + end - start;
      }
      this.chunk = null;
    }
    pos += end - start;
    return error == null;
  }

  /**
   * A UTF-8 byte order mark at the very start, which RFC 8259 §8.1 lets a parser ignore and Jackson did: offsets still
   * count it, and what follows is validated as usual. Returns the rest of {@code chunk} (a slice: bodies with a mark
   * only), or null when nothing is left of it or the mark is broken (then {@link #error} says so).
   */
  private ByteBuf skipByteOrderMark(ByteBuf chunk) {
    int i = chunk.readerIndex();
    int end = chunk.writerIndex();
    while (i < end && bomAt < 3) {
      int b = chunk.getByte(i) & 0xFF;
      if (b != (BOM[bomAt] & 0xFF)) {
        fail("a byte order mark cut short", b, pos + i - chunk.readerIndex());
        return null;
      }
      bomAt++;
      i++;
    }
    pos += i - chunk.readerIndex();
    if (bomAt == 3 && pos == 3) {
      utf8.feed(BOM_BUF); // U+FEFF, well-formed: keeps the validator's offsets the body's
    }
    return i == end ? null : chunk.slice(i, end - i);
  }

  /** Signals the end of the body. @return true when the body is a complete JSON object and no error was found */
  public boolean end() {
    if (error != null) {
      return false;
    }
    if (checkUtf8 != 2 && !utf8.end()) {
      error = utf8.error();
      return false;
    }
    if (state == DONE) {
      return true;
    }
    if (pos == 0) {
      error = "Request body is empty: send a JSON object with a \"model\" field.";
    } else if (state == ROOT) {
      error = "Malformed JSON in request body: unexpected end of input (no JSON object).";
    } else {
      error = "Malformed JSON in request body: unexpected end of input at byte " + pos + " (the JSON is truncated).";
    }
    return false;
  }

  /** The state machine over {@code buf[i, end)}; {@code base + i} is a byte's offset in the body. */
  private void scan(ByteBuf chunk, int i, int end, long base) {
    ByteWindow buf = window.open(chunk, i, end);
    try {
      scan(buf, i, end, base);
    } finally {
      buf.close();
    }
  }

  private void scan(ByteWindow buf, int i, int end, long base) {
    while (i < end && error == null) {
      switch (state) {
        case STRING -> i = capture == SKIP ? skipString(buf, i, end, base) : readString(buf, i, end, base);
        case NUMBER -> i = number(buf, i, end, base);
        default -> {
          int b = buf.get(i) & 0xFF;
          if (state <= DONE && (b == ' ' || b == '\n' || b == '\r' || b == '\t')) {
            i++;
          } else {
            structural(b, base + i);
            i++;
          }
        }
      }
    }
  }

  /** One byte outside strings and numbers (whitespace already skipped where it may be). */
  private void structural(int b, long at) {
    switch (state) {
      case ROOT -> {
        if (b == '{') {
          open(true, at);
        } else {
          error = "Request body must be a JSON object.";
        }
      }
      case FIRST_KEY, KEY -> {
        if (b == '"') {
          startString(true, at);
        } else if (b == '}' && state == FIRST_KEY) {
          close(at);
        } else {
          fail(b == '}' ? "a trailing comma before '}'" : "expected a field name in double quotes", b, at);
        }
      }
      case COLON -> {
        if (b == ':') {
          state = VALUE;
        } else {
          fail("expected ':' after a field name", b, at);
        }
      }
      case VALUE, FIRST_VALUE -> {
        if (b == ']' && state == FIRST_VALUE) {
          close(at);
        } else {
          startValue(b, at);
        }
      }
      case AFTER_VALUE -> {
        boolean inObject = (objects[(depth - 1) >> 6] & (1L << (depth - 1))) != 0;
        if (b == ',') {
          state = inObject ? KEY : VALUE;
        } else if (b == (inObject ? '}' : ']')) {
          close(at);
        } else {
          fail(inObject ? "expected ',' or '}' after a value" : "expected ',' or ']' after a value", b, at);
        }
      }
      case ESCAPE -> escape(b, at);
      case UNICODE -> {
        int d = hex(b);
        if (d < 0) {
          fail("a \\u escape needs four hex digits", b, at);
          return;
        }
        hexValue = hexValue << 4 | d;
        if (++hexDigits == 4) {
          state = STRING;
          decoded(hexValue); // a lone surrogate is kept as the char it names, as Jackson did
        }
      }
      case LITERAL -> {
        if (b != literal[literalAt]) {
          fail("expected true, false or null", b, at);
        } else if (++literalAt == literal.length) {
          state = AFTER_VALUE;
          scalar(literalType, at + 1);
        }
      }
      case DONE -> error = "Malformed JSON in request body: unexpected content after the top-level object at byte "
          + at + ".";
      default -> throw new IllegalStateException("state " + state);
    }
  }

  private void startValue(int b, long at) {
    valueStart = at;
    if (hashing && (depth == 1 && pendingField == PROMPT || depth == 3 && inMessages && messageField != 0)) {
      spanFrom = at;
      spanDepth = depth;
    }
    switch (b) {
      case '{' -> open(true, at);
      case '[' -> open(false, at);
      case '"' -> startString(false, at);
      case 't' -> startLiteral(L_TRUE, T_TRUE);
      case 'f' -> startLiteral(L_FALSE, T_FALSE);
      case 'n' -> startLiteral(L_NULL, T_NULL);
      case '-' -> startNumber(N_MINUS);
      case '0' -> startNumber(N_ZERO);
      default -> {
        if (b >= '1' && b <= '9') {
          startNumber(N_INT);
          digit(b);
        } else {
          fail(b == ']' || b == '}' ? "a trailing comma, or a missing value" : "expected a value", b, at);
        }
      }
    }
  }

  private void startLiteral(byte[] l, int type) {
    literal = l;
    literalAt = 1;
    literalType = type;
    state = LITERAL;
  }

  private void startNumber(int s) {
    numState = s;
    state = NUMBER;
    digits = depth == 1 && pendingField == MAX_TOKENS && s != N_MINUS ? 0 : -1;
  }

  /** One more integer digit of a {@link #MAX_TOKENS} value (saturating: the cap is a reservation, not exact). */
  private void digit(int b) {
    if (digits >= 0) {
      digits = digits >= MAX_TOKENS_READ ? MAX_TOKENS_READ : Math.min(MAX_TOKENS_READ, digits * 10 + (b - '0'));
    }
  }

  private void open(boolean object, long at) {
    if (depth == MAX_DEPTH) {
      error = "Malformed JSON in request body: nested deeper than " + MAX_DEPTH + " levels at byte " + at + ".";
      return;
    }
    onContainerStart(object, at);
    if (error != null) {
      return;
    }
    long bit = 1L << depth;
    if (object) {
      objects[depth >> 6] |= bit;
      state = FIRST_KEY;
    } else {
      objects[depth >> 6] &= ~bit;
      state = FIRST_VALUE;
    }
    depth++;
  }

  private void close(long at) {
    depth--;
    if (hashing) {
      closeHashed(at);
    }
    if (depth == 0) {
      rootEnd = at;
      state = DONE;
      return;
    }
    if (depth == 1) {
      if (inFallbacks && collectingShape == CW_FALLBACKS_SHAPE) {
        cwEnd = at + 1;
      }
      inStreamOptions = false;
      inFallbacks = false;
    }
    state = AFTER_VALUE;
  }

  private void startString(boolean isName, long at) {
    stringIsName = isName;
    if (isName) {
      capture = depth == 1 || depth == 2 && inStreamOptions || hashing && depth == 3 && inMessages ? NAME : SKIP;
      nameLength = 0;
    } else {
      valueStart = at;
      capture = depth == 1 && (pendingField == MODEL || pendingField == USER || pendingField == PREVIOUS_RESPONSE_ID)
          || depth == 2 && inFallbacks ? TEXT
          : hashing && depth == 3 && inMessages && messageField == M_ROLE ? ROLE : SKIP;
      nameLength = 0;
      textLength = 0;
      utfNeed = 0;
    }
    state = STRING;
  }

  /** A string nobody reads: eight bytes at a time while none is a quote, a backslash or a control character. */
  private int skipString(ByteWindow buf, int i, int end, long base) {
    while (true) {
      while (i + 8 <= end && !special(buf.getLong(i))) {
        i += 8;
      }
      if (i >= end) {
        return i;
      }
      int b = buf.get(i) & 0xFF;
      if (b == '"') {
        endString(base + i);
        return i + 1;
      }
      if (b == '\\') {
        state = ESCAPE;
        return i + 1;
      }
      if (b < 0x20) {
        controlCharacter(b, base + i);
        return i;
      }
      i++;
    }
  }

  /** Whether any byte of {@code w} is '"', '\\' or below 0x20 (SWAR; a borrow only adds hits above a true one). */
  private static boolean special(long w) {
    long q = w ^ QUOTES;
    long s = w ^ BACKSLASHES;
    return (((q - ONES) & ~q | (s - ONES) & ~s | (w - SPACES) & ~w) & HIGHS) != 0;
  }

  /** A string to keep: a name to match or a value to decode. */
  private int readString(ByteWindow buf, int i, int end, long base) {
    while (i < end) {
      int b = buf.get(i) & 0xFF;
      if (b == '"') {
        endString(base + i);
        return i + 1;
      }
      if (b == '\\') {
        state = ESCAPE;
        return i + 1;
      }
      if (b < 0x20) {
        controlCharacter(b, base + i);
        return i;
      }
      if (capture == NAME || capture == ROLE) {
        nameByte(b);
      } else if (utfNeed > 0) {
        // Well-formed: Utf8Validator has seen these bytes already.
        utfCodePoint = utfCodePoint << 6 | b & 0x3F;
        if (--utfNeed == 0) {
          append(utfCodePoint);
        }
      } else if (b < 0x80) {
        append(b);
      } else if (b >= 0xF0) {
        utfCodePoint = b & 0x07;
        utfNeed = 3;
      } else if (b >= 0xE0) {
        utfCodePoint = b & 0x0F;
        utfNeed = 2;
      } else {
        utfCodePoint = b & 0x1F;
        utfNeed = 1;
      }
      i++;
    }
    return i;
  }

  private void controlCharacter(int b, long at) {
    error = "Malformed JSON in request body: unescaped control character " + hexByte(b) + " in a string at byte " + at
        + " (write it as an escape, e.g. \\n).";
  }

  private void escape(int b, long at) {
    int c;
    switch (b) {
      case '"', '\\', '/' -> c = b;
      case 'b' -> c = '\b';
      case 'f' -> c = '\f';
      case 'n' -> c = '\n';
      case 'r' -> c = '\r';
      case 't' -> c = '\t';
      case 'u' -> {
        state = UNICODE;
        hexDigits = 0;
        hexValue = 0;
        return;
      }
      default -> {
        fail("an unknown escape (RFC 8259 §7 allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", b, at);
        return;
      }
    }
    state = STRING;
    decoded(c);
  }

  /** A char an escape stands for. */
  private void decoded(int c) {
    if (capture == NAME || capture == ROLE) {
      if (c < 0x80) {
        nameByte(c);
      } else {
        nameLength = -1;
      }
    } else if (capture == TEXT) {
      appendChar((char) c);
    }
  }

  private void nameByte(int b) {
    if (nameLength >= 0) {
      if (b >= 0x80 || nameLength == name.length) {
        nameLength = -1; // none of ours
      } else {
        name[nameLength++] = (byte) b;
      }
    }
  }

  private void append(int codePoint) {
    if (codePoint < 0x10000) {
      appendChar((char) codePoint);
    } else {
      appendChar(Character.highSurrogate(codePoint));
      appendChar(Character.lowSurrogate(codePoint));
    }
  }

  private void appendChar(char c) {
    if (textLength == text.length) {
      text = Arrays.copyOf(text, text.length * 2);
    }
    text[textLength++] = c;
  }

  private void endString(long at) {
    if (stringIsName) {
      state = COLON;
      if (capture == NAME) {
        onName();
      }
    } else {
      state = AFTER_VALUE;
      if (capture == ROLE && nameIs(N_USER)) {
        userMessage = true;
      }
      scalar(T_STRING, at + 1);
    }
  }

  /** A number, to its first byte that is not part of it (scanned again as what follows the value). */
  private int number(ByteWindow buf, int i, int end, long base) {
    while (i < end) {
      int b = buf.get(i) & 0xFF;
      boolean digit = b >= '0' && b <= '9';
      switch (numState) {
        case N_MINUS -> {
          if (!digit) {
            fail("'-' must be followed by a digit", b, base + i);
            return i;
          }
          numState = b == '0' ? N_ZERO : N_INT;
        }
        case N_ZERO, N_INT, N_FRAC -> {
          if (digit) {
            if (numState == N_ZERO) {
              fail("a number with a leading zero", b, base + i);
              return i;
            }
            if (numState == N_INT) {
              digit(b);
            }
          } else if (b == '.' && numState != N_FRAC) {
            numState = N_DOT;
            digits = -1;
          } else if (b == 'e' || b == 'E') {
            numState = N_EXP;
            digits = -1;
          } else {
            return endNumber(i, base);
          }
        }
        case N_DOT -> {
          if (!digit) {
            fail("a decimal point must be followed by a digit", b, base + i);
            return i;
          }
          numState = N_FRAC;
        }
        case N_EXP -> {
          if (b == '+' || b == '-') {
            numState = N_EXP_SIGN;
          } else if (digit) {
            numState = N_EXP_DIGITS;
          } else {
            fail("an exponent must have digits", b, base + i);
            return i;
          }
        }
        case N_EXP_SIGN -> {
          if (!digit) {
            fail("an exponent must have digits", b, base + i);
            return i;
          }
          numState = N_EXP_DIGITS;
        }
        default -> {
          if (!digit) {
            return endNumber(i, base);
          }
        }
      }
      i++;
    }
    return i;
  }

  private int endNumber(int i, long base) {
    state = AFTER_VALUE;
    scalar(T_NUMBER, base + i);
    return i;
  }

  // What the values mean: the same decisions, in the same order, as the Jackson-token version made.

  private void onContainerStart(boolean object, long at) {
    if (depth == 1) {
      if (pendingField == MESSAGES || pendingField == PROMPT) {
        inMessages = pendingField == MESSAGES && !object; // a repeated key: both are hashed, in order
        pendingField = NONE;
      } else if ((pendingField == FALLBACKS || pendingField == CW_FALLBACKS) && !object) {
        collecting = new ArrayList<>(2); // a repeated key: the last wins, as Python's json
        if (pendingField == FALLBACKS) {
          fallbacks = collecting;
          collectingShape = FALLBACKS_SHAPE;
        } else {
          contextWindowFallbacks = collecting;
          collectingShape = CW_FALLBACKS_SHAPE;
          cwStart = at;
          cwEnd = -1;
          cwObjects = false;
        }
        inFallbacks = true;
        pendingField = NONE;
      } else if (pendingField == FALLBACKS || pendingField == CW_FALLBACKS) {
        error = pendingField == FALLBACKS ? FALLBACKS_SHAPE : CW_FALLBACKS_SHAPE;
      } else if (pendingField == STREAM_OPTIONS && object) {
        if (streamOptionsSeen) {
          error = "Request body has more than one top-level \"stream_options\" field.";
          return;
        }
        streamOptionsSeen = true;
        streamOptionsObject = true;
        inStreamOptions = true;
        pendingField = NONE;
      } else {
        if (pendingField == STREAM_OPTIONS) {
          streamOptionsSeen = true; // an array: vLLM refuses it; never add a second stream_options
        }
        notAScalar();
      }
    } else if (depth == 2 && inStreamOptions) {
      pendingField = NONE; // a structured value inside stream_options: not one of ours
    } else if (depth == 2 && inFallbacks && object && collectingShape == CW_FALLBACKS_SHAPE) {
      cwObjects = true; // LiteLLM's router form: read from the range by the caller
    } else if (depth == 2 && inFallbacks) {
      error = collectingShape;
    }
  }

  private void notAScalar() {
    if (pendingField == MODEL) {
      error = "\"model\" must be a string.";
    } else if (pendingField == STREAM) {
      error = "\"stream\" must be a boolean.";
    }
    pendingField = NONE;
  }

  private void onName() {
    if (depth == 2 && inStreamOptions) {
      pendingField = nameIs(N_INCLUDE_USAGE) ? INCLUDE_USAGE : nameIs(N_CONTINUOUS_USAGE) ? CONTINUOUS_USAGE : NONE;
    } else if (depth == 1) {
      if (nameIs(N_MODEL)) {
        if (modelStart >= 0 || pendingField == MODEL) {
          error = "Request body has more than one top-level \"model\" field.";
          duplicateModel = true;
          return;
        }
        pendingField = MODEL;
      } else if (nameIs(N_STREAM)) {
        pendingField = STREAM;
      } else if (nameIs(N_STREAM_OPTIONS)) {
        pendingField = STREAM_OPTIONS;
      } else if (nameIs(N_FALLBACKS)) {
        pendingField = FALLBACKS;
      } else if (nameIs(N_USER)) {
        pendingField = USER;
      } else if (nameIs(N_PREVIOUS_RESPONSE_ID)) {
        pendingField = PREVIOUS_RESPONSE_ID;
      } else if (hashing && nameIs(N_MESSAGES)) {
        pendingField = MESSAGES;
      } else if (hashing && nameIs(N_PROMPT)) {
        pendingField = PROMPT;
      } else if (nameIs(N_CW_FALLBACKS)) {
        pendingField = CW_FALLBACKS;
      } else if (nameIs(N_MAX_TOKENS) || nameIs(N_MAX_COMPLETION_TOKENS) || nameIs(N_MAX_OUTPUT_TOKENS)) {
        pendingField = MAX_TOKENS;
      }
    } else if (depth == 3 && inMessages) {
      messageField = nameIs(N_ROLE) ? M_ROLE : nameIs(N_CONTENT) ? M_CONTENT : 0;
    }
  }

  private boolean nameIs(byte[] n) {
    if (nameLength != n.length) {
      return false;
    }
    for (int k = 0; k < n.length; k++) {
      if (name[k] != n[k]) {
        return false;
      }
    }
    return true;
  }

  /** A string, number or literal ended just before {@code end}; it started at {@link #valueStart}. */
  private void scalar(int type, long end) {
    if (hashing && spanFrom >= 0 && depth == spanDepth) {
      endSpan(end);
    }
    if (depth == 2 && inFallbacks) {
      if (type != T_STRING) {
        error = collectingShape;
        return;
      }
      collecting.add(new String(text, 0, textLength));
    } else if (depth == 1 && (pendingField == FALLBACKS || pendingField == CW_FALLBACKS)) {
      if (type != T_NULL) {
        error = pendingField == FALLBACKS ? FALLBACKS_SHAPE : CW_FALLBACKS_SHAPE;
        return;
      }
      pendingField = NONE;
    } else if (depth == 1 && pendingField != NONE) {
      onTopLevelValue(type, end);
    } else if (depth == 2 && inStreamOptions && pendingField != NONE) {
      onStreamOptionsValue(type, end);
    }
  }

  private void onStreamOptionsValue(int type, long end) {
    if (pendingField == INCLUDE_USAGE) {
      if (type == T_TRUE || type == T_FALSE || type == T_NULL) {
        includeUsage = type == T_TRUE ? Boolean.TRUE : type == T_NULL ? null : Boolean.FALSE;
        includeUsageStart = valueStart;
        includeUsageEnd = end;
      } else {
        includeUsage = Boolean.TRUE; // not a boolean: vLLM refuses it; leave the request as it is
        includeUsageStart = -1;
      }
    } else if (pendingField == CONTINUOUS_USAGE) {
      continuousUsage = type == T_TRUE;
    }
    pendingField = NONE;
  }

  private void onTopLevelValue(int type, long end) {
    if (pendingField == PROMPT || pendingField == MESSAGES) {
      pendingField = NONE; // hashed already (a prompt string), or not an array (messages): nothing to record
      return;
    }
    if (pendingField == STREAM_OPTIONS) {
      if (streamOptionsSeen) {
        error = "Request body has more than one top-level \"stream_options\" field.";
        return;
      }
      streamOptionsSeen = true;
      if (type == T_NULL) {
        streamOptionsNullStart = valueStart;
      }
      pendingField = NONE;
      return;
    }
    if (pendingField == MAX_TOKENS) {
      // Not a non-negative integer (null, a float, a string): no cap from it; vLLM's validation answers a wrong type.
      if (type == T_NUMBER && digits >= 0) {
        maxTokens = Math.max(maxTokens, digits);
      }
      digits = -1;
      pendingField = NONE;
      return;
    }
    if (pendingField == PREVIOUS_RESPONSE_ID) {
      // Not a string (null): none. vLLM's own validation answers another type, as without Sluice.
      previousResponseId = type == T_STRING ? new String(text, 0, textLength) : null;
      pendingField = NONE;
      return;
    }
    if (pendingField == USER) {
      // Not a string (null, a number): no end user. vLLM's own validation answers a wrong type, as without Sluice.
      user = type == T_STRING ? new String(text, 0, textLength) : null;
      pendingField = NONE;
      return;
    }
    if (pendingField == MODEL) {
      if (type != T_STRING) {
        error = "\"model\" must be a string.";
      } else {
        model = sameText(lastModel) ? lastModel : (lastModel = new String(text, 0, textLength));
        modelStart = valueStart;
        modelEnd = end;
      }
    } else {
      switch (type) {
        case T_TRUE -> stream = true;
        case T_FALSE, T_NULL -> stream = false;
        default -> error = "\"stream\" must be a boolean.";
      }
      streamSeen = true;
    }
    pendingField = NONE;
  }

  /**
   * Whether the string just decoded ({@code text[0, textLength)}) is {@code s}: a connection's requests mostly name
   * the same model, and the scanner (one per channel) then hands the same string on instead of a new one each time.
   */
  private boolean sameText(String s) {
    if (s == null || s.length() != textLength) {
      return false;
    }
    for (int i = 0; i < textLength; i++) {
      if (s.charAt(i) != text[i]) {
        return false;
      }
    }
    return true;
  }

  /** A hashed value ended just before body offset {@code end}: its last bytes in this chunk, then a separator. */
  private void endSpan(long end) {
    hasher.update(chunk, (int) (spanFrom - chunkBase), (int) (end - chunkBase));
    hasher.separator();
    spanFrom = -1;
    if (depth == 1) {
      // a prompt: never a message field
      return;
    }
    messageField = 0;
  }

  /** A container closed at {@code at}; {@link #depth} is already the depth it sat at. */
  private void closeHashed(long at) {
    if (spanFrom >= 0 && depth == spanDepth) {
      endSpan(at + 1);
    }
    if (depth == 2 && inMessages) {
      if (userMessage) {
        hasher.anchor(); // the end of the first user message: what every later turn resends as it is
      }
      userMessage = false;
      messageField = 0;
    } else if (depth == 1) {
      inMessages = false;
    }
  }

  private void fail(String what, int b, long at) {
    error = "Malformed JSON in request body: " + what + ", found " + shown(b) + " at byte " + at + ".";
  }

  private static String shown(int b) {
    return b > 0x20 && b < 0x7F ? "'" + (char) b + "'" : hexByte(b);
  }

  private static String hexByte(int b) {
    return String.format("0x%02X", b);
  }

  private static int hex(int b) {
    if (b >= '0' && b <= '9') {
      return b - '0';
    }
    if (b >= 'a' && b <= 'f') {
      return b - 'a' + 10;
    }
    if (b >= 'A' && b <= 'F') {
      return b - 'A' + 10;
    }
    return -1;
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  /**
   * The prompt prefix's block hashes, when {@link #hashPrompt} is on (null when off); valid after {@link #end()}
   * until {@link #reset()}. Borrowed: the same object for every request of this scanner.
   */
  public PromptHasher prompt() {
    return hashing ? hasher : null;
  }

  /** The top-level {@code model} string, or null if absent. */
  public String model() {
    return model;
  }

  /** Offset of the {@code model} literal's opening quote, or -1. */
  public long modelStart() {
    return modelStart;
  }

  /** Offset just past the {@code model} literal's closing quote, or -1. */
  public long modelEnd() {
    return modelEnd;
  }

  /** The top-level {@code stream}; false when absent. */
  public boolean stream() {
    return stream;
  }

  public boolean streamSeen() {
    return streamSeen;
  }

  /**
   * How to make the replica send its usage chunk for a stream whose client did not ask for it (vLLM sends it only when
   * {@code stream_options} is present and its {@code include_usage} is not false): the byte range to replace and with
   * what. Null when the client asked already, or when the body's {@code stream_options} is something this scanner
   * leaves alone (e.g. {@code continuous_usage_stats} without {@code include_usage}, a non-object value). Valid after
   * a successful {@link #end()}.
   */
  public UsageSplice usageSplice() {
    if (!streamOptionsSeen) {
      return rootEnd < 0 ? null : new UsageSplice(rootEnd, rootEnd, UsageSplice.Kind.APPEND_FIELD);
    }
    if (streamOptionsNullStart >= 0) {
      return new UsageSplice(streamOptionsNullStart, streamOptionsNullStart + 4, UsageSplice.Kind.REPLACE_NULL);
    }
    if (streamOptionsObject && !continuousUsage && includeUsageStart >= 0 && !Boolean.TRUE.equals(includeUsage)) {
      return new UsageSplice(includeUsageStart, includeUsageEnd, UsageSplice.Kind.REPLACE_VALUE);
    }
    return null; // asked for (include_usage true or defaulted), or left as the client wrote it
  }

  /** Whether the client's {@code stream_options} asks vLLM for the usage chunk (present, include_usage not false). */
  public boolean clientAskedUsage() {
    return streamOptionsObject && (includeUsageStart < 0 || Boolean.TRUE.equals(includeUsage));
  }

  /**
   * The top-level {@code user} string — the end user (customer) the request is for, whose budget and limits
   * LiteLLM applies — or null when absent or not a string. A repeated {@code user}: the last one, as Python's json.
   */
  public String user() {
    return user;
  }

  /**
   * The request's own cap on generated tokens: the top-level {@code max_tokens} (OpenAI, Anthropic),
   * {@code max_completion_tokens} (OpenAI) or {@code max_output_tokens} (Responses) — the largest when several are
   * sent, saturating at {@link #MAX_TOKENS_READ} — or -1 when none is a non-negative integer. Read without allocating.
   */
  public long maxTokens() {
    return maxTokens;
  }

  /**
   * The top-level {@code previous_response_id} string of a Responses API request, or null when absent or null. A
   * repeated one: the last, as Python's json keeps it (and so vLLM).
   */
  public String previousResponseId() {
    return previousResponseId;
  }

  /** Where the root object's closing brace sits (a body offset), or -1 before a successful {@link #end()}. */
  public long rootEnd() {
    return rootEnd;
  }

  /** The body's per-request {@code fallbacks} (LiteLLM's router parameter), or null when it sends none. */
  public List<String> fallbacks() {
    return fallbacks;
  }

  /**
   * The body's per-request {@code context_window_fallbacks} (model group names, tried in order when a replica answers
   * that the request exceeds its context window), or null when it sends none.
   */
  public List<String> contextWindowFallbacks() {
    return contextWindowFallbacks;
  }

  /**
   * When the body's {@code context_window_fallbacks} holds objects (LiteLLM's router form, {@code [{"group":
   * ["other"]}]}), its range in the body as {@code {start, end}} (brackets included), for the caller to read; else
   * null ({@link #contextWindowFallbacks} has the names).
   */
  public long[] contextWindowFallbacksRange() {
    return cwObjects && cwStart >= 0 && cwEnd > cwStart ? new long[] {cwStart, cwEnd} : null;
  }

  /** Whether the body was refused for ill-formed UTF-8 (then {@link #error()} says so). */
  public boolean invalidUtf8() {
    return utf8.errorOffset() >= 0;
  }

  /** Whether the body names {@code model} more than once at the top level (then {@link #error()} says so). */
  public boolean duplicateModel() {
    return duplicateModel;
  }

  /** Why the body was refused, or null. Quotes at most one byte of the body, with its offset. */
  public String error() {
    return error;
  }

  /**
   * Nothing to release: the scanner holds no parser, pooled buffer or native memory. What it found stays readable
   * until {@link #reset()}. Kept for callers written for the parser-backed scanner.
   */
  public void close() {
    // no resources
  }
}
