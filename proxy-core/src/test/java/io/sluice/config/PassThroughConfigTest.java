package io.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** general_settings.pass_through_endpoints, use_in_pass_through, BYOK and VLLM_API_BASE. */
class PassThroughConfigTest {
  @TempDir
  Path dir;

  private SluiceConfig load(String yaml, Map<String, String> env) throws IOException {
    Path f = dir.resolve("config.yaml");
    Files.writeString(f, yaml);
    return ConfigLoader.load(f, env);
  }

  private String error(String yaml, Map<String, String> env) {
    Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> load(yaml, env));
    assertThat(t).isInstanceOf(ConfigException.class);
    return t.getMessage();
  }

  private static String endpoints(String entries) {
    return "general_settings:\n  pass_through_endpoints:\n" + entries;
  }

  @Test
  void aFullEntry() throws Exception {
    SluiceConfig c = load(endpoints("""
            - path: /nvidia/
              target: https://integrate.api.nvidia.com/v1/
              include_subpath: true
              headers:
                Authorization: "Bearer os.environ/NVDEV_API_KEY"
                litellm_user_api_key: X-My-Key
              forward_headers: true
              auth: true
              methods: [post, get]
              default_query_params: {api-version: 2024, flag: true}
              cost_per_request: 0.1
        """), Map.of("NVDEV_API_KEY", "SECRET-HDR-123"));
    PassThroughEndpoint e = c.passThrough().endpoints().get(0);
    assertThat(e.path()).isEqualTo("/nvidia");
    assertThat(e.target().toString()).isEqualTo("https://integrate.api.nvidia.com/v1");
    assertThat(e.includeSubpath()).isTrue();
    assertThat(e.headers().get("Authorization").reveal()).isEqualTo("Bearer SECRET-HDR-123");
    assertThat(e.headers()).doesNotContainKey("litellm_user_api_key");
    assertThat(e.keyHeader()).isEqualTo("x-my-key");
    assertThat(e.forwardHeaders()).isTrue();
    assertThat(e.auth()).isTrue();
    assertThat(e.methods()).containsExactly("POST", "GET");
    assertThat(e.defaultQueryParams()).containsEntry("api-version", "2024").containsEntry("flag", "true");
    assertThat(e.matches("/nvidia")).isTrue();
    assertThat(e.matches("/nvidia/chat/completions")).isTrue();
    assertThat(e.matches("/nvidia-bar")).isFalse();
    assertThat(c.passThrough().toString()).doesNotContain("SECRET-HDR-123");
  }

  @Test
  void defaultsAreOffAndWithoutSubpathOnlyTheExactPathMatches() throws Exception {
    PassThroughEndpoint e = load(endpoints("    - {path: /x, target: 'http://h:1'}\n"), Map.of())
        .passThrough().endpoints().get(0);
    assertThat(e.auth()).isFalse();
    assertThat(e.forwardHeaders()).isFalse();
    assertThat(e.methods()).isEmpty();
    assertThat(e.matches("/x")).isTrue();
    assertThat(e.matches("/x/y")).isFalse();
  }

  @Test
  void errorsNameTheEntryAndNeverTheSecret() {
    Map<String, String> env = Map.of("K", "SECRET-HDR-123");
    assertThat(error(endpoints("    - {path: /x}\n"), env)).contains("general_settings.pass_through_endpoints[0]"
        + ".target").contains("missing");
    assertThat(error(endpoints("    - {path: /x, target: 'ftp://h'}\n"), env))
        .contains("pass_through_endpoints[0].target");
    assertThat(error(endpoints("    - {target: 'http://h'}\n"), env)).contains("pass_through_endpoints[0].path");
    assertThat(error(endpoints("    - {path: x, target: 'http://h'}\n"), env)).contains("not a plain path");
    assertThat(error(endpoints("    - {path: /a/../b, target: 'http://h'}\n"), env)).contains("not a plain path");
    assertThat(error(endpoints("    - {path: /, target: 'http://h'}\n"), env)).contains("every route");
    assertThat(error(endpoints("    - {path: /v1, target: 'http://h'}\n"), env)).contains("shadow")
        .contains("/v1/models");
    assertThat(error(endpoints("    - {path: /health, target: 'http://h'}\n"), env)).contains("shadow");
    assertThat(error(endpoints("    - {path: /global, target: 'http://h'}\n"), env)).contains("/global/spend/*");
    assertThat(error(endpoints("    - {path: /a, target: 'http://h'}\n    - {path: /a/, target: 'http://g'}\n"), env))
        .contains("pass_through_endpoints[1].path").contains("pass_through_endpoints[0]");
    assertThat(error(endpoints("    - {path: /a, target: 'http://h', methods: [FETCH]}\n"), env))
        .contains("methods[0]");
    assertThat(error(endpoints("    - {path: /a, target: 'http://h', auth: yes-please}\n"), env))
        .contains("pass_through_endpoints[0].auth");
    String bad = error(endpoints("    - {path: /a, target: 'http://h', headers: {'bad header': 'Bearer os.environ/K'}}\n"),
        env);
    assertThat(bad).contains("headers.bad header").doesNotContain("SECRET-HDR-123");
    assertThat(error(endpoints("    - {path: /a, target: 'http://h', headers: {X: 'Bearer os.environ/MISSING'}}\n"),
        env)).contains("MISSING").contains("headers.X");
    assertThat(error("general_settings:\n  pass_through_endpoints: {path: /a}\n", env)).contains("expected a list");
  }

  @Test
  void useInPassThroughPicksTheFirstMarkedEntry() throws Exception {
    SluiceConfig c = load("""
        model_list:
          - model_name: a
            litellm_params: {model: hosted_vllm/m, api_base: 'http://a:1/v1'}
          - model_name: b
            litellm_params: {model: hosted_vllm/m, api_base: 'http://b:1/v1', use_in_pass_through: true}
            model_info: {id: b-1}
          - model_name: c
            litellm_params: {model: hosted_vllm/m, api_base: 'http://c:1/v1', use_in_pass_through: true}
        """, Map.of());
    assertThat(c.passThrough().vllmDefaultDeployment()).isEqualTo("b-1");
    assertThat(error("model_list:\n  - model_name: a\n    litellm_params: {model: hosted_vllm/m, api_base: "
        + "'http://a:1/v1', use_in_pass_through: maybe}\n", Map.of()))
        .contains("model_list[0].litellm_params.use_in_pass_through");
  }

  @Test
  void byokInEitherSectionAndVllmApiBaseFromTheEnvironment() throws Exception {
    assertThat(load("general_settings: {forward_llm_provider_auth_headers: true}\n", Map.of()).passThrough()
        .forwardProviderAuth()).isTrue();
    assertThat(load("litellm_settings: {forward_llm_provider_auth_headers: true}\n", Map.of()).passThrough()
        .forwardProviderAuth()).isTrue();
    assertThat(load("model_list: []\n", Map.of()).passThrough().forwardProviderAuth()).isFalse();
    PassThroughSettings p = load("model_list: []\n", Map.of("VLLM_API_BASE", "http://vllm:8000/",
        "VLLM_API_KEY", "vk-SECRET")).passThrough();
    assertThat(p.vllmApiBase().toString()).isEqualTo("http://vllm:8000");
    assertThat(p.vllmApiKey().reveal()).isEqualTo("vk-SECRET");
    assertThat(error("model_list: []\n", Map.of("VLLM_API_BASE", "http://u:SECRETPW@")))
        .contains("VLLM_API_BASE").doesNotContain("SECRETPW");
  }

  /**
   * Issue 14, finding 2: LiteLLM issue #23915's own entry sits under /v1 but shadows nothing — it loads. Only a path
   * that would take Sluice's routes over is refused; one that equals a Sluice route is skipped with a warning, since
   * Sluice's route answers it, as LiteLLM's own does (its pass-through routes are appended after its own).
   */
  @Test
  void aPathUnderV1ThatShadowsNothingLoadsAndAnExactCollisionIsSkippedWithAWarning() throws Exception {
    Path f = dir.resolve("seed.yaml");
    Files.writeString(f, endpoints("""
            - path: "/v1/ocr/company/community/nemoretriever-ocr-v1"
              target: "https://ai.api.nvidia.com/v1/cv/nvidia/nemoretriever-ocr-v1"
              headers: {Authorization: "Bearer os.environ/NVIDIA_API_KEY"}
            - path: "/v1/rerank"
              target: "https://api.cohere.com/v1/rerank"
            - path: "/key/custom"
              target: "https://vendor.example"
        """));
    ConfigLoader.LoadResult r = ConfigLoader.loadWithReport(f, Map.of("NVIDIA_API_KEY", "nv-SECRET"));
    assertThat(r.config().passThrough().endpoints()).extracting(PassThroughEndpoint::path)
        .containsExactly("/v1/ocr/company/community/nemoretriever-ocr-v1");
    assertThat(r.warnings()).hasSize(2);
    assertThat(r.warnings().get(0)).contains("pass_through_endpoints[1].path").contains("/v1/rerank")
        .contains("Sluice's own route answers it").contains("skipped");
    assertThat(r.warnings().get(1)).contains("pass_through_endpoints[2].path");
    assertThat(String.join("", r.warnings())).doesNotContain("nv-SECRET");
  }
}
