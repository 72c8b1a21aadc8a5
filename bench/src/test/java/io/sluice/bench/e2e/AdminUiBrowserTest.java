package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.sluice.admin.db.TestDatabases;
import io.sluice.auth.KeyCache;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.AdminPlane;
import io.sluice.server.SluiceServer;
import java.io.File;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.By;
import org.openqa.selenium.Cookie;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The admin UI in a real browser: Debian's chromium, headless, driven by Selenium through chromium-driver, against
 * Sluice with its admin plane on a real PostgreSQL and a fake vLLM. An admin signs in, generates a key and uses it,
 * sees its spend on the Usage page, blocks it (the next request fails), adds a model and signs out; a viewer gets
 * read-only pages and its writes are refused; a forged cross-site POST is refused. Screenshots of every page go to
 * {@code target/ui-screenshots/}. Without chromium and chromium-driver the test fails and says how to install them.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdminUiBrowserTest {
  static final String MASTER = "sk-master-UI-SECRET";
  static final String SERVED = "meta-llama/Llama-3-8B-Instruct";
  static final ObjectMapper JSON = new ObjectMapper();
  static final String CHAT = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  static final Path SHOTS = Path.of("target", "ui-screenshots");
  static final String CHROMIUM = "/usr/bin/chromium";
  static final String DRIVER = "/usr/bin/chromedriver";

  static TestDatabases.TestDatabase db;
  static FakeVllm fake;
  static SluiceServer sluice;
  static WebDriver browser;
  static Path profile;
  static Path downloads;
  static String base;
  static String viewerKey;
  static String browserKey;

  @BeforeAll
  static void start() throws Exception {
    if (!new File(CHROMIUM).canExecute() || !new File(DRIVER).canExecute()) {
      fail("The admin UI's browser tests need Debian's chromium and chromium-driver (" + CHROMIUM + ", " + DRIVER
          + "). Install them: apt-get update && apt-get install -y chromium chromium-driver  (.ci/run does this).");
    }
    db = TestDatabases.create();
    fake = FakeVllm.builder().host("127.0.0.1").port(0).servedModel(SERVED).tokens(4).ttft(Duration.ZERO)
        .interTokenDelay(Duration.ZERO).start();
    List<DeploymentConfig> models = List.of(new DeploymentConfig("llama", Provider.HOSTED_VLLM, SERVED,
        URI.create("http://127.0.0.1:" + fake.port() + "/v1"), Secret.of("replica-key"), null, null, null, null,
        "fake-a", null, 0.001, 0.002));
    SluiceConfig cfg = new SluiceConfig(null, models, GeneralSettings.defaults(), RouterSettings.defaults(),
        LitellmSettings.defaults(), ServerSettings.defaults());
    AdminPlane plane = AdminPlane.start(cfg, AdminPlane.Settings.from(cfg, Map.of("DATABASE_URL", db.litellmUrl()),
        Secret.of(MASTER)), Map.of(), KeyCache.NONE);
    sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withAdminPlane(plane));
    base = "http://127.0.0.1:" + sluice.port();
    HttpResponse<String> viewer = send("POST", "/user/new", MASTER,
        "{\"user_id\":\"vera\",\"user_role\":\"proxy_admin_viewer\"}");
    assertThat(viewer.statusCode()).as(viewer.body()).isEqualTo(200);
    viewerKey = JSON.readTree(viewer.body()).get("key").asText();

    Files.createDirectories(SHOTS);
    Files.deleteIfExists(SHOTS.resolve("failure.png"));
    profile = Files.createTempDirectory("sluice-ui-chromium");
    ChromeOptions o = new ChromeOptions();
    o.setBinary(CHROMIUM);
    downloads = Files.createTempDirectory("sluice-ui-downloads");
    o.setExperimentalOption("prefs", Map.of("download.default_directory", downloads.toString(),
        "download.prompt_for_download", false));
    o.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--window-size=1280,800");
    ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(new File(DRIVER))
        .usingAnyFreePort().build();
    browser = new ChromeDriver(service, o);
    browser.manage().timeouts().scriptTimeout(Duration.ofSeconds(20));
  }

  @AfterAll
  static void stop() throws Exception {
    if (browser != null) {
      browser.quit();
    }
    if (sluice != null) {
      sluice.close();
    }
    if (fake != null) {
      fake.close();
    }
    if (db != null) {
      db.close();
    }
    for (Path dir : new Path[] {profile, downloads}) {
      if (dir != null) {
        try (var files = Files.walk(dir)) {
          files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
      }
    }
  }

  static HttpResponse<String> send(String method, String path, String key, String body, String... headers)
      throws Exception {
    return VirtualKeyE2ETestSupport.send(sluice.port(), method, path, key, body, headers);
  }

  // ---- browser helpers -----------------------------------------------------------------------------------------

  static WebElement await(By by) {
    return await(() -> {
      List<WebElement> found = browser.findElements(by);
      return found.isEmpty() || !found.get(0).isDisplayed() ? null : found.get(0);
    }, "element " + by);
  }

  static <T> T await(Supplier<T> probe, String what) {
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    RuntimeException last = null;
    while (System.nanoTime() < deadline) {
      try {
        T v = probe.get();
        if (v != null && !Boolean.FALSE.equals(v)) {
          return v;
        }
      } catch (RuntimeException e) {
        last = e;
      }
      try {
        Thread.sleep(100); // polling the page: there is no event to wait on from outside the browser
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
    shot("failure");
    throw new AssertionError("waited 15 s for " + what + "; page text: " + browser.findElement(By.tagName("body"))
        .getText(), last);
  }

  static void shot(String name) {
    try {
      Files.write(SHOTS.resolve(name + ".png"), ((org.openqa.selenium.TakesScreenshot) browser)
          .getScreenshotAs(OutputType.BYTES));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  static Object js(String script, Object... args) {
    return ((JavascriptExecutor) browser).executeScript(script, args);
  }

  static void go(String page) {
    browser.get(base + "/ui/#/" + page);
    await(By.cssSelector("main section"));
  }

  static void signIn(String key) {
    browser.get(base + "/ui/");
    WebElement input = await(By.id("signin-key"));
    // Keyboard only: the key field has focus on load; Enter submits.
    assertThat(browser.switchTo().activeElement()).isEqualTo(input);
    input.sendKeys(key, Keys.ENTER);
    await(By.id("keys-title"));
  }

  static void signOut() {
    await(By.id("signout")).click();
    await(By.id("signin-key"));
  }

  /** What a same-origin script of the page gets from fetch (status), with or without the session's CSRF token. */
  static long pageFetch(String method, String path, String body, boolean withCsrf) {
    Object r = ((JavascriptExecutor) browser).executeAsyncScript(
        "const done = arguments[arguments.length - 1];"
        + "(async () => { const s = await (await fetch('/ui/session')).json();"
        + " const h = {'content-type': 'application/json'}; if (arguments[3]) h['x-sluice-csrf'] = s.csrf_token;"
        + " const r = await fetch(arguments[1], {method: arguments[0], headers: h, body: arguments[2]});"
        + " done(r.status); })().catch(e => done(String(e)));", method, path, body, withCsrf);
    return ((Number) r).longValue();
  }

  // ---- the tests -----------------------------------------------------------------------------------------------

  @Test
  @Order(1)
  void anAdminSignsInIssuesAKeySeesItsSpendBlocksItAddsAModelAndSignsOut() throws Exception {
    browser.get(base + "/ui/");
    await(By.id("signin-key"));
    shot("signin");
    WebElement key = browser.findElement(By.id("signin-key"));
    key.sendKeys("sk-not-a-key", Keys.ENTER);
    assertThat(await(By.cssSelector("#signin-form .error")).getText()).contains("Invalid proxy server token");
    key.clear();
    String logs = VirtualKeyE2ETestSupport.captureLogs(() -> {
      browser.findElement(By.id("signin-key")).sendKeys(MASTER, Keys.ENTER);
      await(By.id("keys-title"));
    });
    assertThat(logs).as("the master key is never logged").doesNotContain(MASTER);

    // The session: an HttpOnly, SameSite=Strict cookie; nothing in the URL or the page's storage.
    Cookie c = browser.manage().getCookieNamed("sluice_session");
    assertThat(c).isNotNull();
    assertThat(c.isHttpOnly()).isTrue();
    assertThat(c.getSameSite()).isEqualTo("Strict");
    assertThat(c.isSecure()).as("plain http: not Secure (it would be under TLS)").isFalse();
    assertThat(js("return document.cookie")).asString().doesNotContain("sluice_session");
    assertThat(js("return localStorage.length + sessionStorage.length")).isEqualTo(0L);
    assertThat(browser.getCurrentUrl()).doesNotContain(MASTER).doesNotContain(c.getValue());
    assertThat(logs).as("the session id is never logged").doesNotContain(c.getValue());

    // Generate a key: shown once, with a copy button.
    browser.findElement(By.id("f-key_alias")).sendKeys("browser-key");
    browser.findElement(By.id("f-models")).sendKeys("llama");
    browser.findElement(By.id("f-max_budget")).sendKeys("5");
    browser.findElement(By.id("generate-submit")).click();
    WebElement secret = await(By.id("new-key"));
    browserKey = secret.getAttribute("value");
    assertThat(browserKey).startsWith("sk-");
    assertThat(browser.findElement(By.id("copy-key")).isDisplayed()).isTrue();
    shot("keys-new-key");
    browser.findElement(By.id("close-key")).click();
    await(() -> browser.findElements(By.id("new-key")).isEmpty(), "the key dialog to close");
    await(() -> browser.findElement(By.id("keys-list")).getText().contains("browser-key"), "the key in the list");
    assertThat(browser.getPageSource()).as("the key is not left in the page").doesNotContain(browserKey);
    shot("keys");

    // Use it against the fake vLLM; its spend shows on the Usage page.
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> r = send("POST", "/v1/chat/completions", browserKey, CHAT);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }
    go("usage");
    await(() -> {
      browser.navigate().refresh();
      await(By.id("kpi-requests"));
      return browser.findElement(By.id("kpi-requests")).getText().equals("3") ? true : null;
    }, "3 requests on the Usage page (the spend writer flushes in batches)");
    assertThat(browser.findElement(By.id("kpi-spend")).getText()).startsWith("$").isNotEqualTo("$0.0000");
    assertThat(browser.findElements(By.cssSelector(".chart svg rect"))).isNotEmpty();
    assertThat(browser.findElement(By.id("usage-out")).getText()).as("top spenders").contains("browser-key");
    browser.findElement(By.cssSelector("#usage-group option[value='api_keys']")).click();
    assertThat(browser.findElement(By.cssSelector(".chart h2")).getText()).isEqualTo("Spend per day, per key");
    assertThat(browser.findElement(By.cssSelector(".legend")).getText()).contains("browser-key");
    shot("usage");
    // CSV export of the daily series.
    browser.findElement(By.id("usage-csv")).click();
    Path csv = await(() -> {
      try (var files = Files.list(downloads)) {
        return files.filter(f -> f.toString().endsWith(".csv")).findFirst().orElse(null);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }, "the CSV download");
    String text = Files.readString(csv);
    assertThat(text).startsWith("date,group,name,api_requests,successful_requests,failed_requests,prompt_tokens,"
        + "completion_tokens,total_tokens,spend\n").contains(",model,llama,3,3,0,3,12,15,");
    // A date range without traffic.
    js("document.getElementById('usage-from').value = '2020-01-01';"
        + "document.getElementById('usage-to').value = '2020-01-31';");
    browser.findElement(By.id("usage-apply")).click();
    await(() -> browser.findElement(By.id("kpi-requests")).getText().equals("0"), "an empty range");

    // Search, then block it: the next request fails.
    go("keys");
    await(By.id("key-search")).sendKeys("browser");
    await(() -> !browser.findElement(By.id("keys-list")).getText().contains("vera"), "the search to filter");
    assertThat(browser.findElement(By.id("keys-list")).getText()).contains("browser-key");
    await(By.cssSelector("button[data-action='block'][data-key='browser-key']")).click();
    await(By.cssSelector("button[data-action='unblock'][data-key='browser-key']"));
    HttpResponse<String> blocked = send("POST", "/v1/chat/completions", browserKey, CHAT);
    assertThat(blocked.statusCode()).isEqualTo(401);
    assertThat(blocked.body()).contains("Key is blocked");

    // Add a model through /model/new; it routes.
    go("models");
    assertThat(await(By.id("models-list")).getText()).contains("fake-a").contains("healthy");
    browser.findElement(By.id("f-model_name")).sendKeys("qwen");
    browser.findElement(By.id("f-model")).sendKeys("hosted_vllm/" + SERVED);
    browser.findElement(By.id("f-api_base")).sendKeys("http://127.0.0.1:" + fake.port() + "/v1");
    browser.findElement(By.id("f-id")).sendKeys("fake-qwen");
    browser.findElement(By.id("model-submit")).click();
    await(() -> browser.findElement(By.id("models-list")).getText().contains("fake-qwen"), "the new model listed");
    shot("models");
    HttpResponse<String> qwen = send("POST", "/v1/chat/completions", MASTER,
        "{\"model\":\"qwen\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertThat(qwen.statusCode()).as(qwen.body()).isEqualTo(200);

    // Regenerate, then delete, a second key; both ask first.
    go("keys");
    browser.findElement(By.id("f-key_alias")).sendKeys("temp-key");
    browser.findElement(By.id("generate-submit")).click();
    String temp = await(By.id("new-key")).getAttribute("value");
    browser.findElement(By.id("close-key")).click();
    await(By.cssSelector("button[data-action='regenerate'][data-key='temp-key']")).click();
    await(By.cssSelector("dialog[open] button.danger")).click();
    String regenerated = await(By.id("new-key")).getAttribute("value");
    assertThat(regenerated).startsWith("sk-").isNotEqualTo(temp);
    browser.findElement(By.id("close-key")).click();
    assertThat(send("GET", "/v1/models", temp, null).statusCode()).as("the old key stops").isEqualTo(401);
    assertThat(send("GET", "/v1/models", regenerated, null).statusCode()).isEqualTo(200);
    await(By.cssSelector("button[data-action='delete'][data-key='temp-key']")).click();
    WebElement cancel = await(By.cssSelector("dialog[open] button.secondary"));
    cancel.click();
    assertThat(send("GET", "/v1/models", regenerated, null).statusCode()).as("cancelled: still there").isEqualTo(200);
    await(By.cssSelector("button[data-action='delete'][data-key='temp-key']")).click();
    await(By.cssSelector("dialog[open] button.danger")).click();
    await(() -> !browser.findElement(By.id("keys-list")).getText().contains("temp-key"), "the key to go");
    assertThat(send("GET", "/v1/models", regenerated, null).statusCode()).isEqualTo(401);

    // Teams: create one from the form, reached with the keyboard.
    WebElement teamsLink = browser.findElement(By.cssSelector("header nav a[href='#/teams']"));
    teamsLink.sendKeys(Keys.ENTER);
    await(By.id("team-form"));
    browser.findElement(By.id("f-team_id")).sendKeys("ml");
    browser.findElement(By.id("f-team_alias")).sendKeys("Machine learning", Keys.ENTER);
    await(() -> browser.findElement(By.tagName("main")).getText().contains("Machine learning (ml)"), "the team");
    await(By.cssSelector("button[data-edit='ml']")).click();
    await(By.id("edit-rpm_limit")).sendKeys("120");
    browser.findElement(By.id("edit-max_budget")).sendKeys("50");
    browser.findElement(By.id("limits-save")).click();
    await(() -> browser.findElement(By.tagName("main")).getText().contains("120 rpm"), "the team's new limit");
    assertThat(JSON.readTree(send("GET", "/team/info?team_id=ml", MASTER, null).body()).get("team_info")
        .get("max_budget").asDouble()).isEqualTo(50.0);
    shot("teams");
    go("users");
    assertThat(browser.findElement(By.tagName("main")).getText()).contains("vera");
    await(By.cssSelector("button[data-edit='vera']")).click();
    await(By.id("edit-max_budget")).sendKeys("10");
    browser.findElement(By.id("limits-save")).click();
    await(() -> browser.findElement(By.tagName("main")).getText().contains("$0.0000 / $10.00"), "vera's budget");
    assertThat(browser.findElement(By.tagName("main")).getText()).as("her role kept").contains("proxy_admin_viewer");
    shot("users");
    go("logs");
    await(() -> browser.findElement(By.id("logs-list")).getText().contains("browser-key"), "spend rows in Logs");
    shot("logs");

    // Phone width: nothing wider than the screen but the tables' own scroll boxes.
    browser.manage().window().setSize(new Dimension(390, 844));
    go("usage");
    await(By.id("kpi-requests"));
    assertThat((Long) js("return document.documentElement.scrollWidth")).isLessThanOrEqualTo(
        (Long) js("return window.innerWidth"));
    shot("usage-phone");
    browser.manage().window().setSize(new Dimension(1280, 800));

    signOut();
    HttpResponse<String> after = send("GET", "/key/list", null, null, "Cookie", "sluice_session=" + c.getValue());
    assertThat(after.statusCode()).as("the session is gone server-side").isEqualTo(401);
  }

  @Test
  @Order(2)
  void aViewerGetsReadOnlyPagesAndItsWritesAreRefused() throws Exception {
    signIn(viewerKey);
    assertThat(browser.findElement(By.id("who")).getText()).contains("proxy_admin_viewer").contains("read-only");
    await(By.id("keys-list"));
    assertThat(browser.findElements(By.id("generate-form"))).as("no generate form").isEmpty();
    assertThat(browser.findElements(By.cssSelector("button[data-action]"))).as("no key actions").isEmpty();
    shot("keys-viewer");
    go("models");
    assertThat(browser.findElements(By.id("model-form"))).isEmpty();
    // Even with the session's CSRF token, the admin API refuses a viewer's write.
    assertThat(pageFetch("POST", "/key/generate", "{}", true)).isEqualTo(403);
    assertThat(pageFetch("POST", "/model/delete", "{\"id\":\"fake-a\"}", true)).isEqualTo(403);
    signOut();
  }

  @Test
  @Order(3)
  void aForgedCrossSitePostIsRefused() throws Exception {
    signIn(MASTER);
    int before = JSON.readTree(send("GET", "/key/list", MASTER, null).body()).get("total_count").asInt();
    // Another site (localhost is not 127.0.0.1) posts a form to Sluice's /key/generate in the signed-in browser.
    HttpServer evil = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    byte[] page = ("<!doctype html><form id=f method=POST enctype=text/plain action='" + base + "/key/generate'>"
        + "<input name='{\"key_alias\":\"forged\",\"x\":\"' value='\"}'></form><script>f.submit()</script>")
        .getBytes(StandardCharsets.UTF_8);
    evil.createContext("/", ex -> {
      ex.getResponseHeaders().set("Content-Type", "text/html");
      ex.sendResponseHeaders(200, page.length);
      ex.getResponseBody().write(page);
      ex.close();
    });
    evil.start();
    try {
      browser.get("http://localhost:" + evil.getAddress().getPort() + "/");
      await(() -> browser.getCurrentUrl().startsWith(base + "/key/generate"), "the forged form to post");
      assertThat(browser.findElement(By.tagName("body")).getText()).contains("\"code\":\"401\"");
    } finally {
      evil.stop(0);
    }
    JsonNode after = JSON.readTree(send("GET", "/key/list?return_full_object=true", MASTER, null).body());
    assertThat(after.get("total_count").asInt()).as("no key was created").isEqualTo(before);

    // The cookie alone never suffices for a write: without the CSRF token, or from another origin, 403.
    go("keys");
    String session = browser.manage().getCookieNamed("sluice_session").getValue();
    HttpResponse<String> noToken = send("POST", "/key/generate", null, "{}", "Cookie", "sluice_session=" + session);
    assertThat(noToken.statusCode()).isEqualTo(403);
    assertThat(noToken.body()).contains("CSRF check failed");
    String csrf = JSON.readTree(send("GET", "/ui/session", null, null, "Cookie", "sluice_session=" + session)
        .body()).get("csrf_token").asText();
    HttpResponse<String> otherOrigin = send("POST", "/key/generate", null, "{}", "Cookie", "sluice_session=" + session,
        "x-sluice-csrf", csrf, "Origin", "http://evil.example");
    assertThat(otherOrigin.statusCode()).isEqualTo(403);
    assertThat(otherOrigin.body()).contains("Cross-site request refused");
    assertThat(pageFetch("POST", "/key/generate", "{\"key_alias\":\"from-page\"}", false)).isEqualTo(403);
    assertThat(pageFetch("POST", "/key/generate", "{\"key_alias\":\"from-page\"}", true)).isEqualTo(200);
    signOut();
  }

  @Test
  @Order(4)
  void theFirstLoadIsUnder300KbAndServedWithSecurityHeaders() throws Exception {
    browser.get(base + "/ui/");
    await(By.id("signin-key"));
    long bytes = (Long) js("const n = performance.getEntriesByType('navigation')[0];"
        + "return Math.round(n.encodedBodySize + performance.getEntriesByType('resource')"
        + ".reduce((s, r) => s + r.encodedBodySize, 0));");
    Files.writeString(SHOTS.resolve("first-load-bytes.txt"), bytes + "\n");
    assertThat(bytes).isPositive().isLessThan(300 * 1024);
    HttpResponse<String> index = send("GET", "/ui/", null, null);
    assertThat(index.headers().firstValue("content-security-policy")).get().asString().contains("script-src 'self'");
    assertThat(index.headers().firstValue("x-frame-options")).contains("DENY");
    assertThat(send("GET", "/ui/nope.js", null, null).statusCode()).isEqualTo(404);
    assertThat(send("GET", "/ui/../key/list", null, null).statusCode()).isNotEqualTo(200);
    assertThat(send("POST", "/ui/login", null, "{\"key\":\"" + MASTER + "\"}", "Origin", "http://evil.example")
        .statusCode()).as("login from another origin").isEqualTo(403);
    HttpResponse<String> internal = send("POST", "/ui/login", null, "{\"key\":\"" + browserKey + "\"}");
    assertThat(internal.statusCode()).as("a non-admin key (blocked, too) cannot sign in").isIn(401, 403);
  }

  @Test
  @Order(5)
  void thirtyDaysOfUsageReadAsChartsPerModelKeyAndTeam() throws Exception {
    // History written the way Sluice writes it (the spend writer, which keeps the daily rollup), for the charts.
    String[][] keys = {{"search-api", "ml"}, {"batch-jobs", "ml"}, {"chat-frontend", null}};
    String[] hashes = new String[keys.length];
    for (int i = 0; i < keys.length; i++) {
      String body = "{\"key_alias\":\"" + keys[i][0] + "\"" + (keys[i][1] == null ? "" : ",\"team_id\":\"" + keys[i][1]
          + "\"") + "}";
      HttpResponse<String> r = send("POST", "/key/generate", MASTER, body);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      hashes[i] = JSON.readTree(r.body()).get("token").asText();
    }
    java.time.Instant today = java.time.LocalDate.now(java.time.ZoneOffset.UTC).atStartOfDay()
        .toInstant(java.time.ZoneOffset.UTC);
    java.util.Random rnd = new java.util.Random(16);
    long written = 0;
    try (io.sluice.admin.spend.SpendWriter w = io.sluice.admin.spend.SpendWriter.start(db.db().dsl(),
        io.sluice.admin.spend.SpendWriter.Settings.defaults(Files.createTempDirectory("sluice-ui-spend")))) {
      for (int day = 29; day >= 1; day--) {
        for (int k = 0; k < keys.length; k++) {
          int n = 5 + rnd.nextInt(10) + (k == 0 ? day % 7 : 0) + (k == 2 ? (30 - day) / 3 : 0);
          for (int j = 0; j < n; j++) {
            java.time.Instant t = today.minus(Duration.ofDays(day)).plusSeconds(3600 + j * 60L);
            String model = (j % 3 == 0) ? "qwen" : "llama";
            long in = 200 + rnd.nextInt(800);
            long out = 50 + rnd.nextInt(400);
            boolean failed = rnd.nextInt(40) == 0;
            w.offer(new io.sluice.usage.UsageEvent("hist-" + day + "-" + k + "-" + j, hashes[k], keys[k][0], null,
                keys[k][1], "/v1/chat/completions", model, "fake-a", in, out, false, in * 0.000002 + out * 0.000006,
                t, t.plusMillis(800), failed ? 502 : 200, failed ? io.sluice.usage.UsageEvent.Outcome.UPSTREAM_ERROR
                    : io.sluice.usage.UsageEvent.Outcome.COMPLETED, true));
            written++;
          }
        }
      }
      assertThat(w.flush(Duration.ofSeconds(20))).isTrue();
    }
    signIn(MASTER);
    browser.manage().window().setSize(new Dimension(1280, 1060)); // tall enough for chart and legend in one shot
    go("usage");
    long shown = await(() -> {
      String t = browser.findElement(By.id("kpi-requests")).getText().replace(",", "");
      return t.isEmpty() ? null : Long.parseLong(t);
    }, "the KPIs");
    assertThat(shown).as("history + the first test's requests").isGreaterThanOrEqualTo(written);
    assertThat(browser.findElements(By.cssSelector(".chart svg rect")).size()).isGreaterThanOrEqualTo(29);
    shot("usage-30-days-per-model");
    browser.findElement(By.cssSelector("#usage-group option[value='api_keys']")).click();
    assertThat(browser.findElement(By.cssSelector(".legend")).getText()).contains("search-api", "batch-jobs",
        "chat-frontend");
    shot("usage-30-days-per-key");
    browser.findElement(By.cssSelector("#usage-group option[value='teams']")).click();
    browser.findElement(By.cssSelector("#usage-metric option[value='total_tokens']")).click();
    assertThat(browser.findElement(By.cssSelector(".chart h2")).getText()).isEqualTo("Tokens per day, per team");
    shot("usage-30-days-tokens-per-team");
    browser.manage().window().setSize(new Dimension(1280, 800));
    go("logs");
    shot("logs");
    signOut();
  }
}
