package io.sluice.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesList;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.sluice.config.ConfigLoader;
import io.sluice.config.MasterKeys;
import io.sluice.config.SluiceConfig;
import io.sluice.server.redis.RedisSettings;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Every manifest under {@code deploy/kubernetes} loaded into fabric8's Kubernetes model (no field may land in
 * {@code additionalProperties}: that is a typo the API server would reject or ignore) and cross-checked with Sluice
 * itself: the container's args parsed by Sluice's own CLI, the ConfigMap's config.yaml loaded by Sluice's loader
 * with the Secret's values as the environment, probes and the ServiceMonitor's path requested from a running
 * Sluice.
 */
class KubernetesManifestsTest {
  static final Path DIR = Path.of("../deploy/kubernetes");
  static final List<HasMetadata> all = new ArrayList<>();

  @TempDir
  Path tmp;

  @BeforeAll
  static void load() throws Exception {
    KubernetesSerialization k8s = new KubernetesSerialization();
    try (Stream<Path> files = Files.list(DIR)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yaml") && !p.endsWith("kustomization.yaml"))
          .sorted().toList()) {
        try (InputStream in = Files.newInputStream(f)) {
          Object o = k8s.unmarshal(in);
          List<?> docs = o instanceof KubernetesList l ? l.getItems() : o instanceof List<?> l ? l : List.of(o);
          for (Object d : docs) {
            assertThat(d).as("%s: every document is a Kubernetes object", f).isInstanceOf(HasMetadata.class);
            noUnknownFields(d, f.getFileName() + ":" + ((HasMetadata) d).getKind());
            all.add((HasMetadata) d);
          }
        }
      }
    }
  }

  /** fabric8 keeps fields it does not know in additionalProperties: none may be there (typos, wrong nesting). */
  private static void noUnknownFields(Object o, String path) throws Exception {
    if (o == null || o instanceof GenericKubernetesResource || !o.getClass().getName().startsWith("io.fabric8.")) {
      return;
    }
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() != 0 || !m.getName().startsWith("get") || m.getDeclaringClass() == Object.class) {
        continue;
      }
      Object v = m.invoke(o);
      if (m.getName().equals("getAdditionalProperties")) {
        assertThat((Map<?, ?>) v).as("%s: fields the Kubernetes model does not know", path).isNullOrEmpty();
      } else if (v instanceof Collection<?> c) {
        for (Object e : c) {
          noUnknownFields(e, path + "." + m.getName().substring(3));
        }
      } else if (v instanceof Map<?, ?> mp) {
        for (Object e : mp.values()) {
          noUnknownFields(e, path + "." + m.getName().substring(3));
        }
      } else {
        noUnknownFields(v, path + "." + m.getName().substring(3));
      }
    }
  }

  @SuppressWarnings("unchecked")
  static <T extends HasMetadata> T one(Class<T> type) {
    List<HasMetadata> found = all.stream().filter(type::isInstance).toList();
    assertThat(found).as("one %s", type.getSimpleName()).hasSize(1);
    return (T) found.get(0);
  }

  static GenericKubernetesResource custom(String kind) {
    return all.stream().filter(r -> r instanceof GenericKubernetesResource && r.getKind().equals(kind))
        .map(GenericKubernetesResource.class::cast).findFirst().orElseThrow(() -> new AssertionError("no " + kind));
  }

  /** The ConfigMap the Deployment mounts (the other one is the Grafana dashboard). */
  static ConfigMap sluiceConfig() {
    return all.stream().filter(r -> r instanceof ConfigMap && r.getMetadata().getName().equals("sluice-config"))
        .map(ConfigMap.class::cast).findFirst().orElseThrow(() -> new AssertionError("no ConfigMap sluice-config"));
  }

  static Container sluice() {
    return one(Deployment.class).getSpec().getTemplate().getSpec().getContainers().get(0);
  }

  /** The container's args as Sluice's own CLI parses them. */
  static SluiceMain parsedArgs() {
    SluiceMain main = new SluiceMain(Map.of(), new java.io.PrintWriter(System.err));
    new CommandLine(main).parseArgs(sluice().getArgs().toArray(String[]::new));
    return main;
  }

  /** The container's environment: values and secretKeyRefs resolved against the Secret in these files. */
  static Map<String, String> containerEnv() {
    Secret secret = one(Secret.class);
    Map<String, String> env = new HashMap<>();
    for (EnvVar e : sluice().getEnv()) {
      if (e.getValueFrom() != null) {
        var ref = e.getValueFrom().getSecretKeyRef();
        assertThat(ref.getName()).isEqualTo(secret.getMetadata().getName());
        assertThat(secret.getStringData()).as("Secret key %s", ref.getKey()).containsKey(ref.getKey());
        env.put(e.getName(), secret.getStringData().get(ref.getKey()));
      } else {
        env.put(e.getName(), e.getValue());
      }
    }
    return env;
  }

  @Test
  void kustomizationListsEveryManifestAndEachOneLoads() throws Exception {
    JsonNode k = new ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
        .readTree(DIR.resolve("kustomization.yaml").toFile());
    List<String> listed = new ArrayList<>();
    k.get("resources").forEach(n -> listed.add(n.asText()));
    try (Stream<Path> files = Files.list(DIR)) {
      assertThat(listed).containsExactlyInAnyOrderElementsOf(files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml")).toList());
    }
    assertThat(all.stream().map(HasMetadata::getKind).collect(Collectors.toSet())).contains("Namespace",
        "ServiceAccount", "Role", "RoleBinding", "Secret", "ConfigMap", "Deployment", "Service",
        "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor");
    assertThat(k.get("images").get(0).get("name").asText()).isEqualTo(sluice().getImage().split(":")[0]);
    String ns = one(Namespace.class).getMetadata().getName();
    all.stream().filter(r -> !(r instanceof Namespace) && !(r instanceof Role) && !(r instanceof RoleBinding))
        .forEach(r -> assertThat(r.getMetadata().getNamespace()).as(r.getKind()).isEqualTo(ns));
  }

  @Test
  void portsProbesAndConfigPathAgreeWithSluicesFlags() {
    SluiceMain args = parsedArgs();
    Container c = sluice();
    ContainerPort http = c.getPorts().get(0);
    assertThat(http.getContainerPort()).as("containerPort = --port").isEqualTo(args.port);
    assertThat(args.host).isEqualTo("0.0.0.0");
    assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/health/readiness");
    assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/health/liveliness");
    assertThat(c.getStartupProbe().getHttpGet().getPath()).isEqualTo("/health/liveliness");
    for (var probe : List.of(c.getReadinessProbe(), c.getLivenessProbe(), c.getStartupProbe())) {
      assertThat(probe.getHttpGet().getPort().getStrVal()).isEqualTo(http.getName());
    }
    // --config lives in the ConfigMap volume, under the ConfigMap's key.
    var mount = c.getVolumeMounts().stream().filter(m -> args.config.startsWith(m.getMountPath())).findFirst()
        .orElseThrow(() -> new AssertionError("no volume mounted at " + args.config.getParent()));
    var volume = one(Deployment.class).getSpec().getTemplate().getSpec().getVolumes().stream()
        .filter(v -> v.getName().equals(mount.getName())).findFirst().orElseThrow();
    assertThat(volume.getConfigMap().getName()).isEqualTo(sluiceConfig().getMetadata().getName());
    assertThat(sluiceConfig().getData()).containsKey(args.config.getFileName().toString());
    // --data-dir is writable (read-only root file system), and so is /tmp.
    assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
    assertThat(c.getVolumeMounts().stream().map(m -> m.getMountPath()))
        .contains(args.dataDir.toString(), "/tmp");
    assertThat(one(Deployment.class).getSpec().getTemplate().getSpec().getSecurityContext().getRunAsNonRoot()).isTrue();
  }

  @Test
  void gracePeriodCoversPreStopPlusDrainTimeout() {
    Duration drain = parsedArgs().drainTimeout;
    var pod = one(Deployment.class).getSpec().getTemplate().getSpec();
    List<String> preStop = sluice().getLifecycle().getPreStop().getExec().getCommand();
    assertThat(preStop.get(0)).isEqualTo("sleep");
    long sleep = Long.parseLong(preStop.get(1));
    assertThat(pod.getTerminationGracePeriodSeconds())
        .as("grace = preStop %ss + --drain-timeout %s + ≥5 s to flush spend rows", sleep, drain)
        .isGreaterThanOrEqualTo(sleep + drain.toSeconds() + 5);
  }

  @Test
  void serviceSelectorsAndTargetsReachTheDeploymentsPods() {
    Deployment d = one(Deployment.class);
    Map<String, String> podLabels = d.getSpec().getTemplate().getMetadata().getLabels();
    assertThat(podLabels).containsAllEntriesOf(d.getSpec().getSelector().getMatchLabels());
    Service svc = one(Service.class);
    assertThat(podLabels).containsAllEntriesOf(svc.getSpec().getSelector());
    ServicePort sp = svc.getSpec().getPorts().get(0);
    assertThat(sp.getTargetPort().getStrVal()).isEqualTo(sluice().getPorts().get(0).getName());
    assertThat(podLabels).containsAllEntriesOf(one(PodDisruptionBudget.class).getSpec().getSelector().getMatchLabels());
    HorizontalPodAutoscaler hpa = one(HorizontalPodAutoscaler.class);
    assertThat(hpa.getSpec().getScaleTargetRef().getKind()).isEqualTo("Deployment");
    assertThat(hpa.getSpec().getScaleTargetRef().getName()).isEqualTo(d.getMetadata().getName());
    assertThat(hpa.getSpec().getMinReplicas())
        .as("the PDB's maxUnavailable leaves nodes serving").isGreaterThan(
            one(PodDisruptionBudget.class).getSpec().getMaxUnavailable().getIntVal());
    assertThat(sluice().getResources().getRequests()).as("HPA on CPU needs a CPU request").containsKey("cpu");

    GenericKubernetesResource sm = custom("ServiceMonitor");
    Map<String, Object> spec = sm.get("spec");
    @SuppressWarnings("unchecked")
    Map<String, String> smSelector = (Map<String, String>) ((Map<String, Object>) spec.get("selector")).get("matchLabels");
    assertThat(svc.getMetadata().getLabels()).containsAllEntriesOf(smSelector);
    assertThat(svc.getSpec().getPorts().stream().map(ServicePort::getName)).contains((String) sm.get("spec", "endpoints", 0, "port"));
    assertThat((String) sm.get("spec", "endpoints", 0, "authorization", "credentials", "name"))
        .isEqualTo(one(Secret.class).getMetadata().getName());
    assertThat(one(Secret.class).getStringData()).containsKey(sm.get("spec", "endpoints", 0, "authorization",
        "credentials", "key"));
  }

  @Test
  void rbacLetsThePodsServiceAccountWatchEndpointSlicesAndNothingElse() {
    ServiceAccount sa = one(ServiceAccount.class);
    assertThat(one(Deployment.class).getSpec().getTemplate().getSpec().getServiceAccountName())
        .isEqualTo(sa.getMetadata().getName());
    Role role = one(Role.class);
    assertThat(role.getRules()).hasSize(1);
    PolicyRule rule = role.getRules().get(0);
    assertThat(rule.getApiGroups()).containsExactly("discovery.k8s.io");
    assertThat(rule.getResources()).containsExactly("endpointslices");
    assertThat(rule.getVerbs()).containsExactlyInAnyOrder("get", "list", "watch");
    RoleBinding rb = one(RoleBinding.class);
    assertThat(rb.getMetadata().getNamespace()).isEqualTo(role.getMetadata().getNamespace());
    assertThat(rb.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
    assertThat(rb.getSubjects().get(0).getName()).isEqualTo(sa.getMetadata().getName());
    assertThat(rb.getSubjects().get(0).getNamespace()).isEqualTo(sa.getMetadata().getNamespace());
  }

  @Test
  void grafanaDashboardConfigMapIsTheExampleDashboard() throws Exception {
    ConfigMap dash = all.stream().filter(r -> r instanceof ConfigMap && r.getMetadata().getName().contains("grafana"))
        .map(ConfigMap.class::cast).findFirst().orElseThrow();
    assertThat(dash.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1");
    ObjectMapper json = new ObjectMapper();
    assertThat(json.readTree(dash.getData().get("sluice-dashboard.json")))
        .isEqualTo(json.readTree(Path.of("../examples/grafana/sluice-dashboard.json").toFile()));
  }

  @Test
  void configMapLoadsWithTheSecretsAsEnvironmentAndEveryEnvNameIsOneSluiceReads() throws Exception {
    Map<String, String> env = containerEnv();
    Path cfgFile = tmp.resolve("config.yaml");
    Files.writeString(cfgFile, sluiceConfig().getData().get("config.yaml"));
    SluiceConfig cfg = ConfigLoader.load(cfgFile, env);
    MasterKeys.Resolved master = MasterKeys.resolve(cfg, env);
    assertThat(master.key().reveal()).isEqualTo(env.get("LITELLM_MASTER_KEY"));
    AdminPlane.Settings admin = AdminPlane.Settings.from(cfg, env, master.key());
    assertThat(admin.url()).as("DATABASE_URL is the one Sluice reads").isNotNull();
    assertThat(admin.saltKey().reveal()).as("LITELLM_SALT_KEY is the one Sluice reads")
        .isEqualTo(env.get("LITELLM_SALT_KEY"));
    assertThat(RedisSettings.fromEnv(env)).as("REDIS_URL is the one Sluice reads").isPresent();
    assertThat(env.keySet()).as("no env name Sluice would not read")
        .containsExactlyInAnyOrder("JAVA_OPTS", "LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "DATABASE_URL", "REDIS_URL");
    assertThat(env.get("JAVA_OPTS")).as("the launcher leaves its fixed heap out for this").contains("RAMPercentage");
  }

  @Test
  void probePathsAndTheScrapePathAnswerOnARunningSluice() throws Exception {
    Map<String, String> env = containerEnv();
    Path cfgFile = tmp.resolve("config.yaml");
    Files.writeString(cfgFile, sluiceConfig().getData().get("config.yaml"));
    SluiceConfig cfg = ConfigLoader.load(cfgFile, env);
    io.sluice.config.Secret master = MasterKeys.resolve(cfg, env).key();
    try (SluiceServer s = SluiceServer.start(cfg, new SluiceServer.Options("127.0.0.1", 0, 1, master, false,
        io.sluice.auth.KeyStore.NONE, true))) {
      HttpClient http = HttpClient.newHttpClient();
      URI base = URI.create("http://127.0.0.1:" + s.port());
      Container c = sluice();
      for (String path : List.of(c.getReadinessProbe().getHttpGet().getPath(), c.getLivenessProbe().getHttpGet().getPath())) {
        assertThat(http.send(HttpRequest.newBuilder(base.resolve(path)).build(), HttpResponse.BodyHandlers.discarding())
            .statusCode()).as(path).isEqualTo(200);
      }
      GenericKubernetesResource sm = custom("ServiceMonitor");
      String scrape = sm.get("spec", "endpoints", 0, "path");
      String key = one(Secret.class).getStringData().get((String) sm.get("spec", "endpoints", 0, "authorization",
          "credentials", "key"));
      HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(base.resolve(scrape))
          .header("Authorization", sm.get("spec", "endpoints", 0, "authorization", "type") + " " + key).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(metrics.statusCode()).isEqualTo(200);
      assertThat(metrics.body()).contains("# TYPE");
      assertThat(http.send(HttpRequest.newBuilder(base.resolve(scrape)).build(), HttpResponse.BodyHandlers.discarding())
          .statusCode()).as("without the ServiceMonitor's credentials").isEqualTo(401);
    }
  }
}
