package io.sluice.admin.api;

/**
 * A management call's failure as LiteLLM reports it: {@code {"error":{"message","type","param","code"}}} with
 * {@code code} the status as a string. Messages name what was wrong and how to fix it, never a secret.
 */
public final class ApiException extends RuntimeException {
  private final int status;
  private final String type;
  private final String param;

  public ApiException(int status, String type, String param, String message) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.param = param;
  }

  public int status() {
    return status;
  }

  public String type() {
    return type;
  }

  /** The offending field, or null ({@code "None"} on the wire, as LiteLLM). */
  public String param() {
    return param;
  }

  public static ApiException badRequest(String param, String message) {
    return new ApiException(400, "bad_request_error", param, message);
  }

  public static ApiException notFound(String param, String message) {
    return new ApiException(404, "not_found_error", param, message);
  }

  public static ApiException forbidden(String message) {
    return new ApiException(403, "auth_error", null, message);
  }

  public static ApiException methodNotAllowed(String path, String method) {
    return new ApiException(405, "bad_request_error", null, "Method not allowed on " + path + ": use " + method
        + ".");
  }
}
