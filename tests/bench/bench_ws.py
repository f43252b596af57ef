#!/usr/bin/env python3
"""WebSocket scale: 1,000 idle connections plus 100 active ones issuing
tokens.list, over TLS and plain; the daemon's memory per idle connection and
its thread count; the latency from a token's removal to token.removed at a
subscriber while every idle connection is subscribed too.

    python3 tests/bench/bench_ws.py [IDLE] [ACTIVE] [CALLS_PER_ACTIVE]
"""
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import kbtest  # noqa: E402
import p11fault  # noqa: E402
from wsclient import WS  # noqa: E402

IDLE = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ACTIVE = int(sys.argv[2]) if len(sys.argv) > 2 else 100
CALLS = int(sys.argv[3]) if len(sys.argv) > 3 else 50


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def open_many(d, n, subscribe=False):
    conns = []
    for _ in range(n):
        w = WS(d, timeout=30)
        if subscribe:
            w.call("events.subscribe")
        conns.append(w)
    return conns


def active_load(d, n, calls):
    """n connections, each `calls` sequential tokens.list; returns latencies, errors."""
    lat, errors, lock = [], [0], threading.Lock()
    conns = open_many(d, n)

    def worker(w):
        mine, bad = [], 0
        for _ in range(calls):
            t0 = time.perf_counter()
            try:
                r = w.call("tokens.list")
                if "result" not in r or not r["result"]["tokens"]:
                    bad += 1
            except Exception:
                bad += 1
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(w,)) for w in conns]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for w in conns:
        w.close()
    return lat, errors[0], wall


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def scale(tls):
    tokens = kbtest.TokenDir(("kb-bench",))
    # The idle clients here read nothing, so they cannot answer pings (a
    # browser does): the interval is raised past the run.
    d = kbtest.Daemon(tokens, tls=tls, extra=["--max-connections", str(2 * (IDLE + ACTIVE) + 64),
                                              "--ws-ping-interval", "3600"]).start()
    try:
        pid = d.proc.pid
        warm = open_many(d, 10)
        for w in warm:
            w.call("tokens.list")
            w.close()
        time.sleep(0.5)
        rss0, threads0 = status(pid, "VmRSS"), status(pid, "Threads")
        t0 = time.perf_counter()
        idle = open_many(d, IDLE)
        opened = time.perf_counter() - t0
        time.sleep(1)
        rss1, threads1 = status(pid, "VmRSS"), status(pid, "Threads")
        lat, errors, wall = active_load(d, ACTIVE, CALLS)
        alive = sum(1 for w in idle if w.call("info").get("result"))
        mode = "TLS" if tls else "plain"
        print(f"[{mode}] {IDLE} idle connections opened in {opened:.1f} s; daemon RSS {rss0} → {rss1} KiB: "
              f"{(rss1 - rss0) * 1024 / IDLE / 1024:.1f} KiB per idle connection; threads {threads0} → {threads1}")
        print(f"[{mode}] {ACTIVE} active × {CALLS} tokens.list beside them: {len(lat)} calls, {errors} errors, "
              f"{len(lat) / wall:.0f} calls/s, latency p50 {pct(lat, 0.5) * 1000:.1f} ms, "
              f"p99 {pct(lat, 0.99) * 1000:.1f} ms; idle ones still answering: {alive}/{IDLE}")
        for w in idle:
            w.sock.close()
        return errors == 0 and alive == IDLE
    finally:
        d.cleanup()
        tokens.cleanup()


def removal_latency(rounds=5):
    tmp = tempfile.mkdtemp(prefix="kb-bench-events-")
    tokens = kbtest.TokenDir(("kb-bench",))
    ctl = p11fault.FaultControl(os.path.join(tmp, "control"))
    d = kbtest.Daemon(tokens, tls=True, modules=[p11fault.module_path()], env=ctl.environ(),
                      extra=["--max-connections", str(2 * IDLE + 64), "--poll-interval-ms", "10000",
                             "--ws-ping-interval", "3600"]).start()
    try:
        crowd = open_many(d, IDLE, subscribe=True)
        w = crowd[-1]
        out = []
        for _ in range(rounds):
            for flag, event in ((True, "token.removed"), (False, "token.inserted")):
                t0 = time.perf_counter()
                ctl.removed(flag)
                while w.recv_json().get("method") != event:
                    pass
                if flag:
                    out.append(time.perf_counter() - t0)
        print(f"[events] removal → token.removed at the last of {IDLE} subscribed connections (TLS, fault module, "
              f"C_WaitForSlotEvent): median {statistics.median(out) * 1000:.0f} ms, max {max(out) * 1000:.0f} ms "
              f"over {rounds} removals")
        for c in crowd:
            c.sock.close()
    finally:
        ctl.clear()
        d.cleanup()
        tokens.cleanup()


if __name__ == "__main__":
    ok = scale(False) & scale(True)
    removal_latency()
    sys.exit(0 if ok else 1)
