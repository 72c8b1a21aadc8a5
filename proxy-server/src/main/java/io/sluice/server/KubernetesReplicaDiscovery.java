package io.sluice.server;

import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.sluice.config.DeploymentConfig;
import io.sluice.routing.ReplicaDiscovery;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link ReplicaDiscovery} on Kubernetes: one EndpointSlice informer (list, then watch, reconnecting on its own) per
 * {@code k8s://SERVICE.NAMESPACE:PORT/path} template, on the slices labelled
 * {@code kubernetes.io/service-name=SERVICE} in NAMESPACE. A replica is an endpoint whose {@code conditions.ready}
 * is true (or unset: Kubernetes says to read that as ready) — so a pod joins when its readiness probe passes, and
 * leaves when it fails one or starts terminating — at {@code http://ADDRESS:PORT/path}, PORT being the port vLLM
 * listens on in the pod (the slice must list it). Every event recomputes the whole set from the informer's store and
 * hands it on when it changed, on the informer's own thread (never an event loop).
 *
 * <p>Needs {@code get, list, watch} on {@code endpointslices} ({@code discovery.k8s.io}) in NAMESPACE:
 * {@code deploy/kubernetes/rbac.yaml}.
 */
public final class KubernetesReplicaDiscovery implements ReplicaDiscovery {
  private static final Logger log = LoggerFactory.getLogger(KubernetesReplicaDiscovery.class);
  static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";

  private final KubernetesClient client;
  private final boolean ownsClient;
  private final List<SharedIndexInformer<EndpointSlice>> informers = new CopyOnWriteArrayList<>();

  /** With {@code client} (closed with this when {@code ownsClient}). */
  public KubernetesReplicaDiscovery(KubernetesClient client, boolean ownsClient) {
    this.client = client;
    this.ownsClient = ownsClient;
  }

  /** In a pod: its service account; elsewhere: {@code KUBECONFIG} / {@code ~/.kube/config}. */
  static KubernetesReplicaDiscovery fromEnvironment() {
    return new KubernetesReplicaDiscovery(new KubernetesClientBuilder().build(), true);
  }

  /** The service and namespace of a {@code k8s://SERVICE.NAMESPACE:PORT/path} template. */
  record Target(String service, String namespace, int port, String path) {
    static Target of(DeploymentConfig template) {
      URI u = template.apiBase();
      String host = u.getHost();
      int dot = host.indexOf('.');
      String path = u.getRawPath() == null ? "" : u.getRawPath();
      return new Target(host.substring(0, dot), host.substring(dot + 1), u.getPort(), path);
    }

    @Override
    public String toString() {
      return "k8s://" + service + "." + namespace + ":" + port + path;
    }
  }

  @Override
  public void watch(DeploymentConfig template, Consumer<List<URI>> onChange) {
    Target t = Target.of(template);
    SharedIndexInformer<EndpointSlice> informer = client.discovery().v1().endpointSlices().inNamespace(t.namespace())
        .withLabel(SERVICE_NAME_LABEL, t.service()).runnableInformer(0);
    Publisher publisher = new Publisher(t, template.id(), informer, onChange);
    informer.addEventHandler(publisher);
    informer.exceptionHandler((started, e) -> {
      log.warn("{} (model_info.id {}): EndpointSlice watch in namespace {} failed, retrying: {}{}", t, template.id(),
          t.namespace(), e.toString(), e.toString().contains("403") ? " — the pod's service account needs get, "
              + "list and watch on endpointslices (discovery.k8s.io) in " + t.namespace() + ": deploy/kubernetes/rbac.yaml"
              : "");
      return true;
    });
    informers.add(informer);
    informer.start().whenComplete((v, e) -> {
      if (e == null) {
        log.info("{} (model_info.id {}): watching the EndpointSlices of service {} in namespace {}", t,
            template.id(), t.service(), t.namespace());
        publisher.publish();
      }
    });
  }

  /** Recomputes the ready replicas from the informer's store on each event; informer thread only. */
  private static final class Publisher implements ResourceEventHandler<EndpointSlice> {
    private final Target target;
    private final String id;
    private final SharedIndexInformer<EndpointSlice> informer;
    private final Consumer<List<URI>> onChange;
    private List<URI> last;
    private boolean warnedPort;

    Publisher(Target target, String id, SharedIndexInformer<EndpointSlice> informer, Consumer<List<URI>> onChange) {
      this.target = target;
      this.id = id;
      this.informer = informer;
      this.onChange = onChange;
    }

    @Override
    public void onAdd(EndpointSlice s) {
      publish();
    }

    @Override
    public void onUpdate(EndpointSlice before, EndpointSlice after) {
      publish();
    }

    @Override
    public void onDelete(EndpointSlice s, boolean finalStateUnknown) {
      publish();
    }

    synchronized void publish() {
      TreeSet<String> hosts = new TreeSet<>();
      for (EndpointSlice s : informer.getStore().list()) {
        if (!"IPv4".equals(s.getAddressType()) && !"IPv6".equals(s.getAddressType())) {
          continue; // FQDN slices name hosts, not pods
        }
        if (!servesPort(s)) {
          if (!warnedPort) {
            warnedPort = true;
            log.warn("{} (model_info.id {}): EndpointSlice {} lists no port {} (it lists {}); set the port vLLM "
                + "listens on in the pod", target, id, s.getMetadata().getName(), target.port(),
                s.getPorts() == null ? "none" : s.getPorts().stream().map(EndpointPort::getPort).toList());
          }
          continue;
        }
        for (Endpoint e : s.getEndpoints() == null ? List.<Endpoint>of() : s.getEndpoints()) {
          boolean ready = e.getConditions() == null || e.getConditions().getReady() == null
              || e.getConditions().getReady();
          if (ready && e.getAddresses() != null && !e.getAddresses().isEmpty()) {
            String a = e.getAddresses().get(0);
            hosts.add(a.indexOf(':') >= 0 ? "[" + a + "]" : a);
          }
        }
      }
      List<URI> bases = new ArrayList<>();
      for (String h : hosts) {
        bases.add(URI.create("http://" + h + ":" + target.port() + target.path()));
      }
      if (bases.equals(last)) {
        return;
      }
      last = bases;
      log.info("{} (model_info.id {}): {} ready replica(s){}", target, id, bases.size(), bases.isEmpty() ? ""
          : " " + hosts);
      try {
        onChange.accept(List.copyOf(bases));
      } catch (RuntimeException ex) {
        log.warn("{}: applying the replica set failed: {}", target, ex.toString());
      }
    }

    private boolean servesPort(EndpointSlice s) {
      if (s.getPorts() == null) {
        return false;
      }
      for (EndpointPort p : s.getPorts()) {
        if (p.getPort() != null && p.getPort() == target.port()) {
          return true;
        }
      }
      return false;
    }
  }

  @Override
  public void close() {
    for (SharedIndexInformer<EndpointSlice> i : informers) {
      i.stop();
    }
    if (ownsClient) {
      client.close();
    }
  }
}
