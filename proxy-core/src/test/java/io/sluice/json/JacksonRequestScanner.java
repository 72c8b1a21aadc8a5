package io.sluice.json;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.async.ByteBufferFeeder;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Test-only reference: the Jackson-based {@link RequestScanner} as it was before the byte-level state machine replaced
 * it (issue 18), kept verbatim but for its name so {@code RequestScannerDifferentialTest} compares the new scanner with
 * what production ran. Finds the top-level {@code model} and {@code stream} of a JSON request body as its chunks
 * arrive, with Jackson's non-blocking streaming parser, validates that the body is one well-formed JSON object, and
 * records where the {@code model} string literal sits. Not thread-safe; one per request.
 */
final class JacksonRequestScanner {
  private static final JsonFactory FACTORY = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(512).build())
      .build();

  private static final int NONE = 0;
  private static final int MODEL = 1;
  private static final int STREAM = 2;
  private static final int STREAM_OPTIONS = 3;
  private static final int INCLUDE_USAGE = 4;
  private static final int CONTINUOUS_USAGE = 5;
  private static final int FALLBACKS = 6;

  private final JsonParser parser;
  private final ByteBufferFeeder feeder;
  private int depth;
  private int pendingField = NONE;
  private boolean rootClosed;
  private String model;
  private long modelStart = -1;
  private long modelEnd = -1;
  private boolean stream;
  private boolean streamSeen;
  private String error;
  private boolean duplicateModel;
  /** LiteLLM's per-request {@code fallbacks}: model group names, or null when the body has none. */
  private java.util.List<String> fallbacks;
  private boolean inFallbacks;
  private final Utf8Validator utf8 = new Utf8Validator();
  /** 0: not known yet whether the body is a JSON object; 1: it is, validate its UTF-8; 2: it is not. */
  private int checkUtf8;
  private long fed;
  /** Where the root object's closing brace sits, or -1. */
  private long rootEnd = -1;
  private boolean streamOptionsSeen;
  /** {@code stream_options} is JSON null: [start, end) of the literal. */
  private long streamOptionsNullStart = -1;
  /** Depth 2, inside the top-level {@code stream_options} object. */
  private boolean inStreamOptions;
  private boolean streamOptionsObject;
  /** {@code stream_options.include_usage}: null = absent; [start, end) of its literal. */
  private Boolean includeUsage;
  private long includeUsageStart = -1;
  private long includeUsageEnd = -1;
  private boolean continuousUsage;

  JacksonRequestScanner() {
    try {
      this.parser = FACTORY.createNonBlockingByteBufferParser();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    this.feeder = (ByteBufferFeeder) parser.getNonBlockingInputFeeder();
  }

  /**
   * Scans the readable bytes of {@code chunk}. Borrows {@code chunk}: the caller keeps ownership and must keep it
   * alive until the next call (the parser may still point into it).
   *
   * @return false once the body is known to be invalid (see {@link #error()})
   */
  public boolean feed(ByteBuf chunk) {
    if (error != null || !chunk.isReadable()) {
      return error == null;
    }
    if (checkUtf8 == 0) {
      int at = chunk.forEachByte(b -> b == ' ' || b == '\t' || b == '\r' || b == '\n');
      if (at >= 0) {
        checkUtf8 = chunk.getByte(at) == '{' ? 1 : 2; // not a JSON object: Jackson refuses it, no UTF-8 verdict
      }
    }
    if (checkUtf8 != 2 && !utf8.feed(chunk)) {
      error = utf8.error(); // Jackson lets overlong forms and surrogates through (issue 13, finding 9)
      return false;
    }
    fed += chunk.readableBytes();
    if (chunk.nioBufferCount() == 1) {
      return feed(chunk.nioBuffer());
    }
    for (ByteBuffer b : chunk.nioBuffers()) {
      if (!feed(b)) {
        return false;
      }
    }
    return true;
  }

  private boolean feed(ByteBuffer b) {
    try {
      feeder.feedInput(b);
      drain();
    } catch (JsonProcessingException e) {
      error = "Malformed JSON in request body: " + shorten(e.getOriginalMessage());
    } catch (IOException e) {
      error = "Malformed JSON in request body: " + shorten(e.getMessage());
    }
    return error == null;
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
    try {
      feeder.endOfInput();
      drain();
    } catch (JsonProcessingException e) {
      error = "Malformed JSON in request body: " + shorten(e.getOriginalMessage());
      return false;
    } catch (IOException e) {
      error = "Malformed JSON in request body: " + shorten(e.getMessage());
      return false;
    }
    if (fed == 0) {
      error = "Request body is empty: send a JSON object with a \"model\" field.";
    } else if (!rootClosed) {
      error = "Malformed JSON in request body: unexpected end of input.";
    }
    return error == null;
  }

  private void drain() throws IOException {
    JsonToken t;
    while (error == null && (t = parser.nextToken()) != null && t != JsonToken.NOT_AVAILABLE) {
      onToken(t);
    }
  }

  private void onToken(JsonToken t) throws IOException {
    if (rootClosed) {
      error = "Malformed JSON in request body: unexpected content after the top-level object.";
      return;
    }
    if (depth == 0 && t != JsonToken.START_OBJECT) {
      error = "Request body must be a JSON object.";
      return;
    }
    switch (t) {
      case START_OBJECT, START_ARRAY -> {
        if (depth == 1) {
          if (pendingField == FALLBACKS && t == JsonToken.START_ARRAY) {
            fallbacks = new java.util.ArrayList<>(2); // a repeated key: the last wins, as Python's json
            inFallbacks = true;
            pendingField = NONE;
          } else if (pendingField == FALLBACKS) {
            error = "\"fallbacks\" must be a list of model group names, e.g. [\"llama-backup\"].";
            return;
          } else if (pendingField == STREAM_OPTIONS && t == JsonToken.START_OBJECT) {
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
            checkScalarExpected();
          }
        } else if (depth == 2 && inStreamOptions) {
          pendingField = NONE; // a structured value inside stream_options: not one of ours
        } else if (depth == 2 && inFallbacks) {
          error = "\"fallbacks\" must be a list of model group names, e.g. [\"llama-backup\"].";
          return;
        }
        depth++;
      }
      case END_OBJECT, END_ARRAY -> {
        depth--;
        if (depth == 0) {
          rootClosed = true;
          rootEnd = parser.currentTokenLocation().getByteOffset();
        } else if (depth == 1) {
          inStreamOptions = false;
          inFallbacks = false;
        }
      }
      case FIELD_NAME -> {
        if (depth == 2 && inStreamOptions) {
          String name = parser.currentName();
          pendingField = "include_usage".equals(name) ? INCLUDE_USAGE
              : "continuous_usage_stats".equals(name) ? CONTINUOUS_USAGE : NONE;
        } else if (depth == 1) {
          String name = parser.currentName();
          if ("model".equals(name)) {
            if (modelStart >= 0 || pendingField == MODEL) {
              error = "Request body has more than one top-level \"model\" field.";
              duplicateModel = true;
              return;
            }
            pendingField = MODEL;
          } else if ("stream".equals(name)) {
            pendingField = STREAM;
          } else if ("stream_options".equals(name)) {
            pendingField = STREAM_OPTIONS;
          } else if ("fallbacks".equals(name)) {
            pendingField = FALLBACKS;
          }
        }
      }
      default -> {
        if (depth == 2 && inFallbacks) {
          if (t != JsonToken.VALUE_STRING) {
            error = "\"fallbacks\" must be a list of model group names, e.g. [\"llama-backup\"].";
            return;
          }
          fallbacks.add(parser.getText());
        } else if (depth == 1 && pendingField == FALLBACKS) {
          if (t != JsonToken.VALUE_NULL) {
            error = "\"fallbacks\" must be a list of model group names, e.g. [\"llama-backup\"].";
            return;
          }
          pendingField = NONE;
        } else if (depth == 1 && pendingField != NONE) {
          onTopLevelValue(t);
        } else if (depth == 2 && inStreamOptions && pendingField != NONE) {
          onStreamOptionsValue(t);
        }
      }
    }
  }

  private void checkScalarExpected() {
    if (pendingField == MODEL) {
      error = "\"model\" must be a string.";
    } else if (pendingField == STREAM) {
      error = "\"stream\" must be a boolean.";
    }
    pendingField = NONE;
  }

  private void onStreamOptionsValue(JsonToken t) {
    boolean bool = t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE;
    if (pendingField == INCLUDE_USAGE) {
      includeUsage = t == JsonToken.VALUE_TRUE ? Boolean.TRUE : t == JsonToken.VALUE_NULL ? null : Boolean.FALSE;
      if (bool || t == JsonToken.VALUE_NULL) {
        // The non-blocking parser's token-start offset is not reliable for literals; its end offset is.
        includeUsageEnd = parser.currentLocation().getByteOffset();
        includeUsageStart = includeUsageEnd - (t == JsonToken.VALUE_FALSE ? 5 : 4);
      } else {
        includeUsage = Boolean.TRUE; // not a boolean: vLLM refuses it; leave the request as it is
        includeUsageStart = -1;
      }
    } else if (pendingField == CONTINUOUS_USAGE) {
      continuousUsage = t == JsonToken.VALUE_TRUE;
    }
    pendingField = NONE;
  }

  private void onTopLevelValue(JsonToken t) throws IOException {
    if (pendingField == STREAM_OPTIONS) {
      if (streamOptionsSeen) {
        error = "Request body has more than one top-level \"stream_options\" field.";
        return;
      }
      streamOptionsSeen = true;
      if (t == JsonToken.VALUE_NULL) {
        streamOptionsNullStart = parser.currentLocation().getByteOffset() - 4;
      }
      pendingField = NONE;
      return;
    }
    if (pendingField == MODEL) {
      if (t != JsonToken.VALUE_STRING) {
        error = "\"model\" must be a string.";
      } else {
        model = parser.getText();
        // The non-blocking parser marks a string token's start just past its opening quote.
        modelStart = parser.currentTokenLocation().getByteOffset() - 1;
        modelEnd = parser.currentLocation().getByteOffset();
      }
    } else {
      switch (t) {
        case VALUE_TRUE -> stream = true;
        case VALUE_FALSE, VALUE_NULL -> stream = false;
        default -> error = "\"stream\" must be a boolean.";
      }
      streamSeen = true;
    }
    pendingField = NONE;
  }

  /** Jackson's complaint, first line only, without its location noise; never the input itself beyond a token. */
  private static String shorten(String s) {
    if (s == null) {
      return "unreadable input.";
    }
    if (s.contains("end-of-input")) {
      return "unexpected end of input (the JSON is truncated).";
    }
    int cut = s.length();
    for (String marker : new String[] {"\n", " (start marker", " at [Source", " [Source"}) {
      int i = s.indexOf(marker);
      if (i >= 0 && i < cut) {
        cut = i;
      }
    }
    String line = s.substring(0, cut);
    return line.length() > 200 ? line.substring(0, 200) + "…" : line;
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

  /** Why the body was refused, or null. Never contains more than a short excerpt of the parser's complaint. */
  /** The body's per-request {@code fallbacks} (LiteLLM's router parameter), or null when it sends none. */
  public java.util.List<String> fallbacks() {
    return fallbacks;
  }

  /** Whether the body was refused for ill-formed UTF-8 (then {@link #error()} says so). */
  public boolean invalidUtf8() {
    return utf8.errorOffset() >= 0;
  }

  /** Whether the body names {@code model} more than once at the top level (then {@link #error()} says so). */
  public boolean duplicateModel() {
    return duplicateModel;
  }

  public String error() {
    return error;
  }

  /** Releases the parser's internal buffers. */
  public void close() {
    try {
      parser.close();
    } catch (IOException ignored) {
      // nothing held but Jackson's recycled buffers
    }
  }
}
