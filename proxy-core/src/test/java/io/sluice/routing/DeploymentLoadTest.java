package io.sluice.routing;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** vLLM's queue estimated between scrapes from this node's own requests since the last scrape. */
class DeploymentLoadTest {

  static void start(DeploymentLoad l, int n) {
    for (int i = 0; i < n; i++) {
      l.started();
    }
  }

  static void end(DeploymentLoad l, int n) {
    for (int i = 0; i < n; i++) {
      l.ended();
    }
  }

  @Test
  void beforeAnyQueueIsSeenTheEstimateIsTheScrapedQueueAndTheRoomUnknown() {
    DeploymentLoad l = new DeploymentLoad();
    assertThat(l.estimatedWaiting()).isZero();
    l.scraped(0, 2, 0.1);
    start(l, 50);
    assertThat(l.estimatedWaiting()).as("batch size unknown: a burst is not guessed at").isZero();
    assertThat(l.queueRoom(0)).isEqualTo(Long.MAX_VALUE);
    l.scraped(3, 4, 0.2);
    assertThat(l.queueRoom(2)).as("scraped queue above the bound").isZero();
  }

  @Test
  void onceABatchIsSeenFullABurstSinceTheScrapeCountsAsQueued() {
    DeploymentLoad l = new DeploymentLoad();
    start(l, 6);
    l.scraped(2, 4, 0.5); // a queue: the batch of 4 is full
    assertThat(l.estimatedWaiting()).isEqualTo(2);
    assertThat(l.queueRoom(0)).isZero();
    assertThat(l.queueRoom(5)).isEqualTo(3);
    start(l, 3);
    assertThat(l.estimatedWaiting()).as("3 sent since the scrape join the queue").isEqualTo(5);
    end(l, 4);
    assertThat(l.estimatedWaiting()).as("4 finished: 4 of the queue moved into the batch").isEqualTo(1);
    end(l, 3);
    assertThat(l.estimatedWaiting()).as("never below zero").isZero();
    assertThat(l.queueRoom(0)).as("2 of the 4 batch slots free").isEqualTo(2);
    assertThat(l.waiting()).as("the scraped figure itself is kept for metrics").isEqualTo(2);
  }

  @Test
  void aLaterScrapeResetsTheBaseAndALargerBatchRaisesTheSize() {
    DeploymentLoad l = new DeploymentLoad();
    start(l, 5);
    l.scraped(1, 4, 0.5);
    start(l, 2);
    assertThat(l.estimatedWaiting()).isEqualTo(3);
    l.scraped(0, 4, 0.5);
    assertThat(l.estimatedWaiting()).as("the new scrape is the base").isZero();
    start(l, 1);
    assertThat(l.estimatedWaiting()).as("the batch of 4 is full: one more waits").isEqualTo(1);
    l.scraped(0, 6, 0.5); // the engine ran 6 at once without a queue: its batch is larger than seen
    start(l, 2);
    assertThat(l.estimatedWaiting()).isEqualTo(2);
    l.scraped(0, 7, 0.5);
    assertThat(l.queueRoom(0)).isZero();
    end(l, 1);
    assertThat(l.queueRoom(0)).isEqualTo(1);
  }
}
