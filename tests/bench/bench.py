#!/usr/bin/env python3
"""Foundation benchmarks (results go to docs/performance.md; not a test):
  - GET /v1/tokens for 2 tokens and 6 certificates from cache, keep-alive,
    2 client threads (wrk), over HTTP and HTTPS: requests/s and latency;
  - idle daemon RSS;
  - process start to first served request.
Usage: bench.py [seconds]"""
import os
import re
import subprocess
import sys
import time
import http.client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import kbtest  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def pss_and_private_dirty_kib(pid):
    """PSS charges shared library pages by share; private dirty is what the
    daemon alone costs (heap, stacks, relocations)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        text = f.read()
    return (int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1)),
            int(re.search(r"^Private_Dirty:\s+(\d+)", text, re.M).group(1)))


def wrk(d, connections):
    scheme = "https" if d.tls else "http"
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--latency",
                          "-H", f"Origin: {kbtest.ORIGIN}", f"{scheme}://127.0.0.1:{d.port}/v1/tokens"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        v = float(m.group(1))
        lat[pct] = v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, lat, int(errors.group(1)) if errors else 0


def start_latency(tokens, tls, runs=10):
    """ms from exec to the first 200 on /v1/tokens (the first request waits for
    the first token scan)."""
    samples = []
    for _ in range(runs):
        d = kbtest.Daemon(tokens, tls=tls)
        if tls:  # material made once: measure start, not key generation
            d.start()
            d.stop()
        t0 = time.monotonic()
        d.start(wait=False)
        while True:
            try:
                conn = d.connection(timeout=1) if not tls or os.path.exists(d.root_pem_path) else None
                if conn:
                    conn.request("GET", "/v1/tokens", headers={"Origin": kbtest.ORIGIN})
                    if conn.getresponse().status == 200:
                        break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.001)
        samples.append((time.monotonic() - t0) * 1000)
        d.cleanup()
    samples.sort()
    return samples[len(samples) // 2], samples[-1]


def main():
    tokens = kbtest.TokenDir(("bench-a", "bench-b"))
    rows = []
    try:
        for tls in (False, True):
            d = kbtest.Daemon(tokens, tls=tls, extra=["--poll-interval-ms", "2000"]).start()
            st, _, body = d.get("/v1/tokens")
            ncerts = sum(len(t["certificates"]) for t in body["tokens"])
            assert (len(body["tokens"]), ncerts) == (2, 6), body
            time.sleep(1)
            idle = rss_kib(d.proc.pid)
            pss, dirty = pss_and_private_dirty_kib(d.proc.pid)
            rps, lat, errors = wrk(d, 2)
            rps8, lat8, errors8 = wrk(d, 8)
            after = rss_kib(d.proc.pid)
            d.cleanup()
            med, worst = start_latency(tokens, tls)
            rows.append(("HTTPS" if tls else "HTTP", rps, lat, errors, rps8, lat8, errors8,
                         f"{idle} / {pss} / {dirty}", after, med, worst))
    finally:
        tokens.cleanup()
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {cpu}; {SECONDS} s per wrk run; 2 tokens, 6 certificates\n")
    print("| mode | req/s (2 thr, 2 conn) | p50 / p90 / p99 ms | req/s (2 thr, 8 conn) | p50 ms | non-2xx "
          "| idle RSS / PSS / private dirty KiB | RSS after load KiB | start→first /v1/tokens ms (median / max of 10) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m, rps, lat, err, rps8, lat8, err8, idle, after, med, worst in rows:
        print(f"| {m} | {rps:,.0f} | {lat['50']:.3f} / {lat['90']:.3f} / {lat['99']:.3f} | {rps8:,.0f} | "
              f"{lat8['50']:.3f} | {err + err8} | {idle} | {after} | {med:.1f} / {worst:.1f} |")


if __name__ == "__main__":
    main()
