#!/usr/bin/env python3
"""Per-stage cost of one request, from async-profiler's collapsed stacks (scripts/profile writes them).

  stages.py CPU.collapsed ALLOC.collapsed --cpu-us-per-req X --alloc-per-req Y [--top N]

Each sample is given to a stage by walking its stack from the leaf up: the first frame that belongs to a stage
wins (so a socket write under the relay counts as the relay's, a header map built by the decoder as the decoder's).
CPU: every thread of the process (the JIT and GC threads too: on one pinned core they are the gateway's cost);
allocation: the event loop thread only. The shares are turned into ns and bytes per request with the measured
CPU µs/req and alloc B/req of the same run."""
import argparse, collections

STAGES = [  # (stage, frame prefixes); checked in this order for each frame
    ("metering", ("io/sluice/http/Metering", "io/sluice/admin/spend", "io/sluice/http/AccessLog",
                  "io/sluice/http/RequestMetrics", "io/sluice/metrics", "io/sluice/usage")),
    ("usage tap", ("io/sluice/json/UsageScanner", "io/sluice/json/SseUsageFilter", "io/sluice/http/TokenCount")),
    ("auth", ("io/sluice/http/AuthHandler", "io/sluice/auth/", "io/sluice/http/Credentials",
              "io/sluice/config/Secret", "com/github/benmanes/caffeine")),
    ("body scan", ("io/sluice/http/BodyInspector", "io/sluice/json/RequestScanner", "io/sluice/json/Utf8Validator",
                   "com/fasterxml/jackson")),
    ("routing + upstream write", ("io/sluice/http/UpstreamRelay", "io/sluice/routing/", "io/sluice/upstream/",
                                  "io/sluice/limits/", "io/sluice/http/HeaderRules")),
    ("model restamp", ("io/sluice/http/ModelRestamp",)),
    ("response relay", ("io/sluice/http/UpstreamHandler",)),
    ("guard", ("io/sluice/http/RequestGuard", "io/sluice/http/PathNormalizer", "io/sluice/http/Route",
               "io/sluice/http/Exchange", "io/sluice/http/LastResort", "io/sluice/http/ManagementHandler",
               "io/sluice/http/LocalEndpoints", "io/sluice/http/UiHandler", "io/sluice/http/RequestIds")),
    ("request decode", ("io/sluice/http/wire/", "io/netty/handler/codec/http/HttpServerCodec$HttpServerRequestDecoder",
                        "io/netty/handler/codec/http/HttpRequestDecoder")),
    ("response decode (upstream)", ("io/netty/handler/codec/http/HttpClientCodec$Decoder",
                                    "io/netty/handler/codec/http/HttpResponseDecoder",
                                    "io/netty/handler/codec/http/HttpObjectDecoder")),
    ("http encode", ("io/netty/handler/codec/http/HttpObjectEncoder", "io/netty/handler/codec/MessageToMessageEncoder",
                     "io/netty/handler/codec/http/HttpServerCodec$HttpServerResponseEncoder",
                     "io/netty/handler/codec/http/HttpClientCodec$Encoder")),
    ("keep-alive / idle", ("io/netty/handler/codec/http/HttpServerKeepAliveHandler", "io/netty/handler/timeout/")),
]


def stage_of(frames):
    for f in reversed(frames):
        for name, prefixes in STAGES:
            if f.startswith(prefixes):
                return name
    joined = ";".join(frames)
    if "CompileBroker" in joined or "C2Compiler" in joined or "Compiler::" in joined:
        return "JIT compiler"
    if any(g in frames[0] for g in ("GC", "VM Thread", "G1", "Parallel")) or "CollectedHeap" in joined:
        return "GC / VM"
    if "epoll_wait" in joined or "epollWait" in joined:
        return "waiting (epoll_wait)"
    if "io/netty" in joined:
        return "socket I/O + pipeline (Netty)"
    return "other"


def read(path, event_loop_only):
    out = collections.Counter()
    total = 0
    for line in open(path):
        stack, _, n = line.rstrip().rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        if event_loop_only:
            if "EventLoop" not in frames[0] and "multiThreadIoEventLoopGroup" not in frames[0]:
                continue
            frames = frames[1:-1]  # thread name first, allocated class last
        n = int(n)
        out[stage_of(frames)] += n
        total += n
    return out, total


def main():
    a = argparse.ArgumentParser()
    a.add_argument("cpu")
    a.add_argument("alloc")
    a.add_argument("--cpu-us-per-req", type=float, required=True)
    a.add_argument("--alloc-per-req", type=float, required=True)
    o = a.parse_args()
    cpu, ct = read(o.cpu, False)
    alloc, at = read(o.alloc, True)
    names = [s for s, _ in STAGES] + ["socket I/O + pipeline (Netty)", "JIT compiler", "GC / VM",
                                      "waiting (epoll_wait)", "other"]
    print("| stage | CPU share | CPU ns/req | alloc share (event loop) | bytes/req |")
    print("|---|---:|---:|---:|---:|")
    for s in names:
        c = cpu.get(s, 0) / ct if ct else 0
        m = alloc.get(s, 0) / at if at else 0
        if c < 0.0005 and m < 0.0005:
            continue
        print(f"| {s} | {100 * c:.1f}% | {c * o.cpu_us_per_req * 1000:.0f} | {100 * m:.1f}% | "
              f"{m * o.alloc_per_req:.0f} |")
    print(f"| **total** | 100% | {o.cpu_us_per_req * 1000:.0f} | 100% | {o.alloc_per_req:.0f} |")


if __name__ == "__main__":
    main()
