package io.sluice.config;

import java.util.ArrayList;
import java.util.List;

/**
 * LiteLLM's wildcard model names ({@code model_name: "hosted_vllm/*"}, {@code "*"}, {@code "meta-llama/*"}):
 * {@code *} matches any run of characters, {@code /} included; nothing else is special. The parts a request's model
 * matched replace the {@code *}s of the deployment's upstream model in order, so {@code hosted_vllm/*} →
 * {@code hosted_vllm/*} sends {@code hosted_vllm/Qwen/Qwen2-7B} upstream as {@code Qwen/Qwen2-7B}
 * (litellm/router_utils/pattern_match_deployments.py). Stateless.
 */
public final class Wildcards {
  private Wildcards() {}

  public static boolean isPattern(String s) {
    return s.indexOf('*') >= 0;
  }

  /** The parts of {@code s} that {@code pattern}'s {@code *}s matched, or null when it does not match. */
  public static List<String> match(String pattern, String s) {
    List<String> out = new ArrayList<>(1);
    return match(pattern, 0, s, 0, out) ? out : null;
  }

  private static boolean match(String p, int pi, String s, int si, List<String> out) {
    int star = p.indexOf('*', pi);
    if (star < 0) {
      return p.length() - pi == s.length() - si && p.regionMatches(pi, s, si, p.length() - pi);
    }
    int lit = star - pi;
    if (s.length() - si < lit || !p.regionMatches(pi, s, si, lit)) {
      return false;
    }
    int from = si + lit;
    // Shortest match first for all but the last *, which takes the rest (LiteLLM's regex is greedy per group,
    // patterns with one * — all of LiteLLM's documented ones — are unambiguous either way).
    for (int end = p.indexOf('*', star + 1) < 0 && p.length() == star + 1 ? s.length() : from; end <= s.length();
        end++) {
      out.add(s.substring(from, end));
      if (match(p, star + 1, s, end, out)) {
        return true;
      }
      out.remove(out.size() - 1);
    }
    return false;
  }

  /** {@code template} with its {@code *}s replaced by {@code parts} in order (missing parts: empty). */
  public static String fill(String template, List<String> parts) {
    StringBuilder sb = new StringBuilder(template.length() + 16);
    int k = 0;
    for (int i = 0; i < template.length(); i++) {
      char c = template.charAt(i);
      if (c == '*') {
        sb.append(k < parts.size() ? parts.get(k++) : "");
      } else {
        sb.append(c);
      }
    }
    return sb.toString();
  }

  /** How specific a pattern is: its literal characters. The most specific matching pattern routes a request. */
  public static int specificity(String pattern) {
    int n = 0;
    for (int i = 0; i < pattern.length(); i++) {
      if (pattern.charAt(i) != '*') {
        n++;
      }
    }
    return n;
  }
}
