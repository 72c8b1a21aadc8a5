package io.sluice.bench.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.sluice.bench.fake.FakeVllm;
import io.sluice.bench.fake.RecordedRequest;
import io.sluice.config.AffinitySettings;
import io.sluice.config.DeploymentConfig;
import io.sluice.config.GeneralSettings;
import io.sluice.config.LitellmSettings;
import io.sluice.config.Provider;
import io.sluice.config.RouterSettings;
import io.sluice.config.Secret;
import io.sluice.config.ServerSettings;
import io.sluice.config.SluiceConfig;
import io.sluice.server.SluiceServer;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 20 §1 end to end: two Sluice nodes with the same config and {@code routing_strategy: prefix-affinity} in
 * front of four fake vLLM replicas, real sockets on ephemeral ports. Requests are sent one at a time, so no replica
 * is ever above the load bound and the choice is the rendezvous one.
 */
class PrefixAffinityE2ETest {
  static final String MASTER = "sk-master-SECRET-affinity";
  static final String SYSTEM = "You are a helpful assistant for the Sluice gateway. Keep answers short and exact. ";
  final List<FakeVllm> replicas = new ArrayList<>();

  @BeforeEach
  void start() throws InterruptedException {
    for (int i = 0; i < 4; i++) {
      replicas.add(FakeVllm.builder().servedModel("m").tokens(2).start());
    }
  }

  @AfterEach
  void stop() {
    replicas.forEach(FakeVllm::close);
  }

  private SluiceServer sluice(AffinitySettings affinity) throws InterruptedException {
    List<DeploymentConfig> models = new ArrayList<>();
    for (int i = 0; i < replicas.size(); i++) {
      models.add(new DeploymentConfig("chat", Provider.HOSTED_VLLM, "m",
          URI.create("http://127.0.0.1:" + replicas.get(i).port() + "/v1"), null, null, null, null, null,
          "replica-" + i));
    }
    RouterSettings router = new RouterSettings("prefix-affinity", null, 2, 3, Duration.ofSeconds(5), Map.of(), null,
        affinity);
    return SluiceServer.start(new SluiceConfig(null, models, GeneralSettings.defaults(), router,
        LitellmSettings.defaults(), ServerSettings.defaults()), new SluiceServer.Options("127.0.0.1", 0, 1,
        Secret.of(MASTER), false, io.sluice.auth.KeyStore.NONE, true));
  }

  /** The conversation's history up to {@code turns} user turns, each answered, ending on a user message. */
  private static String conversation(int id, int turns) {
    StringBuilder b = new StringBuilder("{\"model\":\"chat\",\"stream\":").append(id % 2 == 0)
        .append(",\"messages\":[{\"role\":\"system\",\"content\":\"").append(SYSTEM).append("\"}");
    for (int t = 0; t < turns; t++) {
      if (t > 0) {
        b.append(",{\"role\":\"assistant\",\"content\":\"Answer ").append(t).append(" to conversation ").append(id)
            .append(": the gateway relays the bytes as they are.\"}");
      }
      b.append(",{\"role\":\"user\",\"content\":\"conversation ").append(id).append(" turn ").append(t)
          .append(": tell me more about routing\"}");
    }
    return b.append("]}").toString();
  }

  /** Which replica received the last request whose body contains {@code marker}. */
  private int replicaOf(String marker) {
    int found = -1;
    long at = Long.MIN_VALUE;
    for (int i = 0; i < replicas.size(); i++) {
      for (RecordedRequest r : replicas.get(i).requests()) {
        if (r.body() != null && r.body().contains(marker) && r.receivedNanos() > at) {
          found = i;
          at = r.receivedNanos();
        }
      }
    }
    return found;
  }

  @Test
  void everyTurnOfAConversationLandsOnOneReplicaWhicheverOfTwoNodesItGoesThrough() throws Exception {
    try (SluiceServer s1 = sluice(AffinitySettings.defaults()); SluiceServer s2 = sluice(AffinitySettings.defaults());
        RawHttp c1 = new RawHttp(s1.port()); RawHttp c2 = new RawHttp(s2.port())) {
      Map<Integer, Integer> home = new HashMap<>();
      int conversations = 24;
      for (int turn = 1; turn <= 4; turn++) {
        for (int id = 0; id < conversations; id++) {
          RawHttp c = (id + turn) % 2 == 0 ? c1 : c2; // each turn through the other node
          RawHttp.Response r = c.exchange("POST", "/v1/chat/completions", conversation(id, turn),
              "Authorization: Bearer " + MASTER);
          assertThat(r.status()).as(r.bodyText()).isEqualTo(200);
          int replica = replicaOf("conversation " + id + " turn " + (turn - 1) + ":");
          assertThat(replica).isNotNegative();
          Integer was = home.putIfAbsent(id, replica);
          assertThat(replica).as("conversation %s turn %s: same replica as its first turn, through node %s", id,
              turn, c == c1 ? 1 : 2).isEqualTo(was == null ? replica : was);
        }
      }
      Set<Integer> used = new HashSet<>(home.values());
      assertThat(used).as("24 conversations spread over the 4 replicas").hasSizeGreaterThanOrEqualTo(3);
    }
  }

  @Test
  void aSessionHeaderPinsRequestsWhoseBodiesShareNothing() throws Exception {
    AffinitySettings sessions = new AffinitySettings(0.25, null, null, "x-session-id", false, false);
    try (SluiceServer s1 = sluice(sessions); SluiceServer s2 = sluice(sessions);
        RawHttp c1 = new RawHttp(s1.port()); RawHttp c2 = new RawHttp(s2.port())) {
      Set<Integer> homes = new HashSet<>();
      for (int session = 0; session < 8; session++) {
        Integer home = null;
        for (int i = 0; i < 6; i++) {
          String marker = "s" + session + "-q" + i + "-" + Integer.toHexString(i * 7919 + session);
          String body = "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"" + marker + "\"}]}";
          RawHttp c = i % 2 == 0 ? c1 : c2;
          assertThat(c.exchange("POST", "/v1/chat/completions", body, "Authorization: Bearer " + MASTER,
              "x-session-id: session-" + session).status()).isEqualTo(200);
          int replica = replicaOf(marker);
          if (home == null) {
            home = replica;
          }
          assertThat(replica).as("session %s request %s", session, i).isEqualTo(home);
        }
        homes.add(home);
      }
      assertThat(homes).as("sessions spread").hasSizeGreaterThanOrEqualTo(2);
    }
  }

  @Test
  void withUseUserTheBodysUserPinsAndAHeaderlessBodyWithoutUserFallsBackToItsPrompt() throws Exception {
    AffinitySettings users = new AffinitySettings(0.25, null, null, null, true, false);
    try (SluiceServer s1 = sluice(users); SluiceServer s2 = sluice(users);
        RawHttp c1 = new RawHttp(s1.port()); RawHttp c2 = new RawHttp(s2.port())) {
      Set<Integer> homes = new HashSet<>();
      for (int user = 0; user < 8; user++) {
        Integer home = null;
        for (int i = 0; i < 4; i++) {
          String marker = "u" + user + "-q" + i + "-" + Integer.toHexString(i * 104729 + user);
          String body = "{\"model\":\"chat\",\"user\":\"end-user-" + user + "\",\"messages\":[{\"role\":\"user\","
              + "\"content\":\"" + marker + "\"}]}";
          assertThat((i % 2 == 0 ? c1 : c2).exchange("POST", "/v1/chat/completions", body,
              "Authorization: Bearer " + MASTER).status()).isEqualTo(200);
          int replica = replicaOf(marker);
          if (home == null) {
            home = replica;
          }
          assertThat(replica).as("user %s request %s", user, i).isEqualTo(home);
        }
        homes.add(home);
      }
      assertThat(homes).as("end users spread").hasSizeGreaterThanOrEqualTo(2);
      String prompt = "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"no user here\"}]}";
      assertThat(c1.exchange("POST", "/v1/chat/completions", prompt, "Authorization: Bearer " + MASTER).status())
          .isEqualTo(200);
      int first = replicaOf("no user here");
      assertThat(c2.exchange("POST", "/v1/chat/completions", prompt, "Authorization: Bearer " + MASTER).status())
          .isEqualTo(200);
      assertThat(replicaOf("no user here")).as("no user: the prompt's key, alike on both nodes").isEqualTo(first);
    }
  }
}
