package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.sluice.bench.fake.FakeVllm;
import io.sluice.config.ConfigLoader;
import io.sluice.config.Secret;
import io.sluice.config.SluiceConfig;
import io.sluice.routing.Deployment;
import io.sluice.server.KubernetesReplicaDiscovery;
import io.sluice.server.SluiceServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code api_base: k8s://vllm.models:PORT/v1} against fabric8's mock Kubernetes API (CRUD mode: real list and
 * watch): three fake vLLM "pods" on 127.0.0.1, .2 and .3 with the same port, one EndpointSlice that the test edits
 * as a scaling Deployment's controller would, and a closed-loop load of JSON and SSE chats throughout.
 */
class KubernetesDiscoveryTest {
  static final String MASTER = "sk-master-SECRET-k8s";
  static final String NS = "models";
  static final String SERVICE = "vllm";

  @TempDir
  Path dir;
  private KubernetesMockServer k8s;
  private KubernetesClient client;
  private final List<FakeVllm> pods = new ArrayList<>();
  private SluiceServer sluice;
  private long upMillis;
  private long downMillis;

  @BeforeEach
  void startApi() {
    k8s = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(),
        false);
    k8s.init();
    client = k8s.createClient();
  }

  @AfterEach
  void stop() {
    if (sluice != null) {
      sluice.close();
    }
    pods.forEach(FakeVllm::close);
    client.close();
    k8s.destroy();
  }

  private static Endpoint endpoint(String ip, boolean ready) {
    return new EndpointBuilder().withAddresses(ip).withNewConditions().withReady(ready).withServing(ready)
        .withTerminating(!ready).endConditions().withNewTargetRef().withKind("Pod").withName("vllm-" + ip)
        .withNamespace(NS).endTargetRef().build();
  }

  private static EndpointSlice slice(int port, List<Endpoint> endpoints) {
    return new EndpointSliceBuilder().withNewMetadata().withName(SERVICE + "-x7k2p").withNamespace(NS)
        .addToLabels("kubernetes.io/service-name", SERVICE).endMetadata().withAddressType("IPv4")
        .addNewPort().withName("http").withPort(port).withProtocol("TCP").endPort().withEndpoints(endpoints).build();
  }

  private List<String> replicaHosts() {
    var g = sluice.registry().get().group("llama");
    return g == null ? List.of() : g.deployments().stream().map(d -> d.endpoint().host()).sorted().toList();
  }

  private static void await(String what, Duration timeout, BooleanSupplier done) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      assertThat(System.nanoTime() < deadline).as("within %s: %s", timeout, what).isTrue();
      Thread.sleep(5);
    }
  }

  @Test
  void scalingOneToThreeToOneUnderLoadFailsNoRequestAndNewPodsTakeTrafficAfterOneWatchEvent() throws Exception {
    FakeVllm a = FakeVllm.builder().host("127.0.0.1").servedModel("m").tokens(20)
        .interTokenDelay(Duration.ofMillis(5)).start();
    pods.add(a);
    int port = a.port();
    FakeVllm b = FakeVllm.builder().host("127.0.0.2").port(port).servedModel("m").tokens(20)
        .interTokenDelay(Duration.ofMillis(5)).start();
    pods.add(b);
    FakeVllm c = FakeVllm.builder().host("127.0.0.3").port(port).servedModel("m").tokens(20)
        .interTokenDelay(Duration.ofMillis(5)).start();
    pods.add(c);
    var slices = client.discovery().v1().endpointSlices().inNamespace(NS);
    slices.resource(slice(port, List.of(endpoint("127.0.0.1", true)))).create();

    Path cfgFile = dir.resolve("config.yaml");
    Files.writeString(cfgFile, "model_list:\n  - model_name: llama\n    litellm_params:\n      model: hosted_vllm/m\n"
        + "      api_base: k8s://" + SERVICE + "." + NS + ":" + port + "/v1\n    model_info:\n      id: vllm\n");
    SluiceConfig cfg = ConfigLoader.load(cfgFile, Map.of());
    sluice = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 2, Secret.of(MASTER), false,
        io.sluice.auth.KeyStore.NONE, true).withDiscovery(new KubernetesReplicaDiscovery(client, false)));
    await("the first pod is found", Duration.ofSeconds(10), () -> replicaHosts().equals(List.of("127.0.0.1")));
    assertThat(sluice.registry().get().group("llama").deployments().get(0).id()).isEqualTo("vllm@127.0.0.1:" + port);

    // Closed-loop load: 6 clients, JSON and SSE alternating, keep-alive; every outcome that is not a whole
    // response is a failure.
    AtomicBoolean running = new AtomicBoolean(true);
    AtomicInteger done = new AtomicInteger();
    ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    ExecutorService load = Executors.newFixedThreadPool(6);
    for (int w = 0; w < 6; w++) {
      boolean stream = w % 2 == 0;
      load.submit(() -> {
        String body = "{\"model\":\"llama\"," + (stream ? "\"stream\":true," : "")
            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        while (running.get()) {
          try (RawHttp h = new RawHttp(sluice.port())) {
            for (int i = 0; i < 20 && running.get(); i++) {
              RawHttp.Response r = h.exchange("POST", "/v1/chat/completions", body, "Authorization: Bearer " + MASTER);
              List<String> ev = stream ? r.events() : List.of();
              if (r.status() != 200) {
                failures.add(r.status() + " " + r.bodyText());
              } else if (stream && (ev.size() != 22 || !ev.get(ev.size() - 1).equals("data: [DONE]")
                  || r.bodyText().contains("\"error\""))) {
                failures.add("incomplete stream: " + r.bodyText());
              } else if (!stream && !r.bodyText().contains("\"choices\"")) {
                failures.add("bad body: " + r.bodyText());
              }
              done.incrementAndGet();
            }
          } catch (Exception e) {
            failures.add(e.toString());
          }
        }
      });
    }
    try {
      await("load runs", Duration.ofSeconds(10), () -> done.get() >= 50);

      // Scale 1 → 3: one update of the slice is one watch event.
      long up = System.nanoTime();
      slices.resource(slice(port, List.of(endpoint("127.0.0.1", true), endpoint("127.0.0.2", true),
          endpoint("127.0.0.3", true)))).update();
      await("three replicas after one watch event", Duration.ofSeconds(5),
          () -> replicaHosts().equals(List.of("127.0.0.1", "127.0.0.2", "127.0.0.3")));
      upMillis = (System.nanoTime() - up) / 1_000_000;
      int bBefore = b.requests().size();
      int cBefore = c.requests().size();
      assertThat(bBefore + cBefore).as("no traffic to a pod before it was ready").isZero();
      await("both new pods take traffic", Duration.ofSeconds(5),
          () -> b.requests().size() > 0 && c.requests().size() > 0);
      Deployment kept = sluice.registry().get().deployment("vllm@127.0.0.1:" + port);
      int atThree = done.get();
      await("load on three replicas", Duration.ofSeconds(10), () -> done.get() >= atThree + 100);

      // Scale 3 → 1: .2 starts terminating (ready: false), .3 is gone from the slice.
      long down = System.nanoTime();
      slices.resource(slice(port, List.of(endpoint("127.0.0.1", true), endpoint("127.0.0.2", false)))).update();
      await("back to one replica", Duration.ofSeconds(5), () -> replicaHosts().equals(List.of("127.0.0.1")));
      downMillis = (System.nanoTime() - down) / 1_000_000;
      assertThat(sluice.registry().get().deployment("vllm@127.0.0.1:" + port))
          .as("the surviving replica keeps its deployment (health, load, in-flight requests)").isSameAs(kept);
      // Requests routed just before the swap may still arrive; after that, none.
      Thread.sleep(300);
      int bAfter = b.requests().size();
      int cAfter = c.requests().size();
      int atOne = done.get();
      await("load on one replica", Duration.ofSeconds(10), () -> done.get() >= atOne + 100);
      assertThat(b.requests().size()).as("no new request to a terminating pod").isEqualTo(bAfter);
      assertThat(c.requests().size()).as("no new request to a removed pod").isEqualTo(cAfter);
    } finally {
      running.set(false);
      load.shutdown();
      assertThat(load.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(failures).as("no failed request while scaling (%s requests)", done.get()).isEmpty();
    assertThat(b.streamsAborted() + c.streamsAborted()).as("streams on the removed pods ran to their end").isZero();
    Map<String, Integer> served = Map.of("a", a.requests().size(), "b", b.requests().size(), "c", c.requests().size());
    System.out.println("k8s discovery: slice update to registry change " + upMillis + " ms (1→3), " + downMillis
        + " ms (3→1); " + done.get() + " requests, per pod " + served.entrySet().stream()
        .sorted(Map.Entry.comparingByKey()).map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" ")));
  }

  @Test
  void aServiceWithNoReadyPodAnswersNoHealthyDeploymentUntilOneIsReady() throws Exception {
    FakeVllm a = FakeVllm.builder().host("127.0.0.1").servedModel("m").tokens(3).start();
    pods.add(a);
    Path cfgFile = dir.resolve("config.yaml");
    Files.writeString(cfgFile, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, "
        + "api_base: 'k8s://" + SERVICE + "." + NS + ":" + a.port() + "/v1'}\n");
    sluice = SluiceServer.start(ConfigLoader.load(cfgFile, Map.of()), new SluiceServer.Options("127.0.0.1", 0, 1,
        Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true)
        .withDiscovery(new KubernetesReplicaDiscovery(client, false)));
    String body = "{\"model\":\"llama\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    try (RawHttp h = new RawHttp(sluice.port())) {
      RawHttp.Response none = h.exchange("POST", "/v1/chat/completions", body, "Authorization: Bearer " + MASTER);
      assertThat(none.status()).as("the model group exists, with no replica yet").isEqualTo(429);
      assertThat(none.bodyText()).contains("No healthy deployment available for model llama");
      RawHttp.Response models = h.exchange("GET", "/v1/models", null, "Authorization: Bearer " + MASTER);
      assertThat(models.bodyText()).contains("\"llama\"");
    }
    client.discovery().v1().endpointSlices().inNamespace(NS)
        .resource(slice(a.port(), List.of(endpoint("127.0.0.1", false)))).create();
    Thread.sleep(300);
    assertThat(replicaHosts()).as("a pod that is not ready is no replica").isEmpty();
    client.discovery().v1().endpointSlices().inNamespace(NS)
        .resource(slice(a.port(), List.of(endpoint("127.0.0.1", true)))).update();
    await("the pod is ready", Duration.ofSeconds(5), () -> replicaHosts().equals(List.of("127.0.0.1")));
    try (RawHttp h = new RawHttp(sluice.port())) {
      assertThat(h.exchange("POST", "/v1/chat/completions", body, "Authorization: Bearer " + MASTER).status())
          .isEqualTo(200);
    }
    client.discovery().v1().endpointSlices().inNamespace(NS).withName(SERVICE + "-x7k2p").delete();
    await("the slice's deletion empties the group", Duration.ofSeconds(5), () -> replicaHosts().isEmpty());
  }

  @Test
  void aPodThatLeavesAndDiesMidStreamGivesItsClientTheUsualErrorEvent() throws Exception {
    FakeVllm a = FakeVllm.builder().host("127.0.0.1").servedModel("m").tokens(200)
        .interTokenDelay(Duration.ofMillis(20)).start();
    pods.add(a);
    var slices = client.discovery().v1().endpointSlices().inNamespace(NS);
    slices.resource(slice(a.port(), List.of(endpoint("127.0.0.1", true)))).create();
    Path cfgFile = dir.resolve("config.yaml");
    Files.writeString(cfgFile, "model_list:\n  - model_name: llama\n    litellm_params: {model: hosted_vllm/m, "
        + "api_base: 'k8s://" + SERVICE + "." + NS + ":" + a.port() + "/v1'}\n    model_info: {id: vllm}\n");
    sluice = SluiceServer.start(ConfigLoader.load(cfgFile, Map.of()), new SluiceServer.Options("127.0.0.1", 0, 1,
        Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true)
        .withDiscovery(new KubernetesReplicaDiscovery(client, false)));
    await("the pod is found", Duration.ofSeconds(10), () -> replicaHosts().equals(List.of("127.0.0.1")));
    ExecutorService one = Executors.newSingleThreadExecutor();
    try {
      var stream = one.submit(() -> {
        try (RawHttp h = new RawHttp(sluice.port())) {
          h.socket.setSoTimeout(30_000);
          return h.exchange("POST", "/v1/chat/completions", "{\"model\":\"llama\",\"stream\":true,"
              + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "Authorization: Bearer " + MASTER);
        }
      });
      await("the stream runs", Duration.ofSeconds(10), () -> a.tokensWritten() >= 10);
      slices.resource(slice(a.port(), List.of())).update();
      await("the pod left the group", Duration.ofSeconds(5), () -> replicaHosts().isEmpty());
      assertThat(stream.isDone()).as("leaving the group does not cut what the pod is serving").isFalse();
      a.close(); // the pod dies mid-stream
      RawHttp.Response r = stream.get(30, TimeUnit.SECONDS);
      List<String> ev = r.events();
      assertThat(r.status()).isEqualTo(200);
      assertThat(ev.get(ev.size() - 1)).isEqualTo("data: [DONE]");
      assertThat(ev.get(ev.size() - 2)).startsWith("data: {\"error\":{\"message\":\"Replica vllm@127.0.0.1:" + a.port());
    } finally {
      one.shutdownNow();
    }
  }
}
