package io.sluice.server;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import com.codahale.metrics.jvm.GarbageCollectorMetricSet;
import com.codahale.metrics.jvm.MemoryUsageGaugeSet;
import com.codahale.metrics.jvm.ThreadStatesGaugeSet;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.SingleThreadEventExecutor;
import io.sluice.admin.spend.SpendWriter;
import io.sluice.metrics.Families;
import io.sluice.metrics.GatewayMetrics;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.ToLongFunction;
import org.slf4j.LoggerFactory;

/**
 * The process's metrics: event-loop queues, buffer leaks Netty reported, the spend writer's queue, and the JVM's
 * memory, garbage collection and threads (Dropwizard's {@code metrics-jvm}, shown as {@code jvm_*}).
 */
final class ServerMetrics {
  private ServerMetrics() {}

  /** Counts the leak reports of Netty's detector (logged at ERROR by {@code io.netty.util.ResourceLeakDetector}). */
  static final class LeakCounter extends AppenderBase<ILoggingEvent> {
    private final LongAdder leaks = new LongAdder();

    @Override
    protected void append(ILoggingEvent e) {
      if (e.getLevel().isGreaterOrEqual(Level.ERROR) && e.getFormattedMessage().contains("LEAK")) {
        leaks.increment();
      }
    }

    long count() {
      return leaks.sum();
    }
  }

  private static LeakCounter leakCounter;

  /** @param plane the admin plane (spend writer), or null without a database */
  static void install(GatewayMetrics m, EventLoopGroup group, AdminPlane plane) {
    int i = 0;
    for (EventExecutor e : group) {
      if (e instanceof SingleThreadEventExecutor loop) {
        m.gauge(Families.EVENT_LOOP_PENDING, loop::pendingTasks, Integer.toString(i));
        allocatedBytes(m, loop, Integer.toString(i));
      }
      i++;
    }
    LeakCounter leaks = leakCounter();
    if (leaks != null) {
      m.readCounter(Families.BUFFER_LEAKS, leaks::count);
    }
    if (plane != null) {
      m.gauge(Families.SPEND_QUEUE_DEPTH, () -> spend(plane, SpendWriter::queueDepth));
      m.gauge(Families.SPEND_PENDING, () -> spend(plane, SpendWriter::pending));
      m.gauge(Families.SPEND_SPILLED, () -> spend(plane, SpendWriter::spilled));
      m.readCounter(Families.SPEND_DROPPED, () -> spend(plane, SpendWriter::dropped));
      m.readCounter(Families.SPEND_WRITTEN, () -> spend(plane, SpendWriter::written));
    }
    registerJvm(m);
  }

  /**
   * The loop thread's heap allocation, from the JVM's per-thread counter (HotSpot's
   * {@code com.sun.management.ThreadMXBean}); not registered where the JVM lacks it. The thread id is learnt on the
   * loop itself, once.
   */
  private static void allocatedBytes(GatewayMetrics m, SingleThreadEventExecutor loop, String label) {
    if (!(java.lang.management.ManagementFactory.getThreadMXBean()
        instanceof com.sun.management.ThreadMXBean threads) || !threads.isThreadAllocatedMemorySupported()) {
      return;
    }
    long id;
    try {
      id = loop.submit(() -> Thread.currentThread().getId()).get(5, java.util.concurrent.TimeUnit.SECONDS);
    } catch (Exception e) {
      return; // a loop that does not answer at start-up has bigger problems than this counter
    }
    if (!threads.isThreadAllocatedMemoryEnabled()) {
      threads.setThreadAllocatedMemoryEnabled(true);
    }
    m.readCounter(Families.EVENT_LOOP_ALLOCATED, () -> Math.max(0, threads.getThreadAllocatedBytes(id)), label);
  }

  private static long spend(AdminPlane plane, ToLongFunction<SpendWriter> f) {
    SpendWriter w = plane.spend();
    return w == null ? 0 : f.applyAsLong(w);
  }

  private static void registerJvm(GatewayMetrics m) {
    var r = m.registry();
    r.register("jvm.memory", new MemoryUsageGaugeSet());
    r.register("jvm.gc", new GarbageCollectorMetricSet());
    r.register("jvm.threads", new ThreadStatesGaugeSet());
  }

  /** One counter per process, attached to Netty's leak logger when logback is the logging backend. */
  private static synchronized LeakCounter leakCounter() {
    if (leakCounter == null && LoggerFactory.getLogger("io.netty.util.ResourceLeakDetector")
        instanceof ch.qos.logback.classic.Logger logger) {
      LeakCounter c = new LeakCounter();
      c.setContext(logger.getLoggerContext());
      c.setName("sluice-leak-counter");
      c.start();
      logger.addAppender(c);
      leakCounter = c;
    }
    return leakCounter;
  }
}
