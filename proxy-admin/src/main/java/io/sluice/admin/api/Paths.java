package io.sluice.admin.api;

/** Paths as logs and messages may show them: a key in the path ({@code /key/sk-…/regenerate}) redacted. */
final class Paths {
  private Paths() {}

  static String redacted(String path) {
    return path == null || !path.contains("sk-") ? path : path.replaceAll("(^|/)sk-[^/]*", "$1sk-***");
  }
}
