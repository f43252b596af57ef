#!/usr/bin/env python3
"""TLS against plain, this build against a baseline, side by side in one run.

For each daemon binary (KEYBRIDGED, and KB_BASELINE_KEYBRIDGED when set: the
build before a change), in plain and TLS mode, rounds alternating between
the binaries:

  - one sequential WebSocket client, JSON-RPC "info" (ws-rtt ws): calls/s,
    p50, p99;
  - the first request on a new connection, handshake included (ws-rtt first):
    p50;
  - GET /v1/tokens with wrk, 2 threads, 2 keep-alive connections: req/s;
  - RSA-2048 sign, 1 client, 1 item, and ECDSA P-256 sign, 1 client, 64 items
    per request, against raw-sign's C_Sign loop on the same SoftHSM2 key;
  - 1,000 idle WebSocket connections: daemon RSS per connection.

Usage: bench_tls.py [seconds per run] [rounds]
  env: KEYBRIDGED, KB_BASELINE_KEYBRIDGED, KB_WS_RTT, KB_RAW_SIGN"""
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)
import bench_sign as bs  # noqa: E402
import kbtest  # noqa: E402
from bench_ws import status  # noqa: E402
from wsclient import WS  # noqa: E402

SECONDS, ROUNDS = bs.SECONDS, bs.ROUNDS
WS_RTT = os.environ.get("KB_WS_RTT", os.path.join(kbtest.SRC, "build", "tests", "bench", "ws-rtt"))
BINARIES = [("this build", kbtest.DAEMON)]
if os.environ.get("KB_BASELINE_KEYBRIDGED"):
    BINARIES.append(("baseline", os.environ["KB_BASELINE_KEYBRIDGED"]))
WS_CALLS = 20000
FIRST_CONNS = 300
IDLE = 1000
BATCH = 64


def start(binary, tls, tokens, tmp):
    sysconf = os.path.join(tmp, "keybridge.conf")
    with open(sysconf, "w") as f:
        f.write(f"page-pin-origin = {bs.PAGE_PIN}\nallow-origin = {bs.PAGE_PIN}\n")
    d = kbtest.Daemon(tokens, tls=tls, env={"KEYBRIDGE_SYSTEM_CONFIG": sysconf},
                      extra=["--pin-idle-timeout", "3600", "--poll-interval-ms", "2000",
                             "--max-connections", "4096", "--ws-ping-interval", "3600"])
    d.args[0] = binary
    return d.start()


def ws_rtt(d, mode, count):
    args = [WS_RTT, mode, str(d.port), bs.PAGE_PIN, str(count)] + (["tls"] if d.tls else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    kv = dict(x.split("=") for x in out.split())
    return {"ops": int(kv["calls"]) / float(kv["seconds"]), "p50": float(kv["p50_us"]), "p99": float(kv["p99_us"])}


def idle_kib(d):
    time.sleep(0.5)
    before = status(d.proc.pid, "VmRSS")
    conns = [WS(d, origin=bs.PAGE_PIN, timeout=30) for _ in range(IDLE)]
    time.sleep(1)
    after = status(d.proc.pid, "VmRSS")
    alive = sum(1 for w in conns[:: IDLE // 10] if "result" in w.call("info"))
    for w in conns:
        w.sock.close()
    assert alive == 10, alive
    return (after - before) / IDLE


def sign_setup(d, tokens, tmp):
    """Log in with the page PIN, check a signature of each key, write wrk scripts."""
    st, _, body = d.get("/v1/tokens", origin=bs.PAGE_PIN)
    token = body["tokens"][0]
    certs = {c["subjectFields"]["CN"]: c["id"] for c in token["certificates"]}
    path = f"/v1/tokens/{token['id']}/sign"
    data = base64.b64encode(bs.DOC).decode()
    scripts = {}
    for name, key_id, kind, alg, cn, _ in bs.CASES:
        n = 1 if kind == "rsa" else BATCH
        req = {"certificate": certs[cn], "algorithm": alg, "items": [{"data": data}] * n, "format": "raw"}
        st, _, res = d.request("POST", path, body=dict(req, pin=bs.PIN), origin=bs.PAGE_PIN)
        assert st == 200 and len(res["signatures"]) == n, (st, res)
        assert bs.verify(tokens, key_id, res["signatures"][0], tmp), f"{name}: the signature does not verify"
        scripts[kind] = (bs.lua_script(os.path.join(tmp, f"{kind}-{d.port}.lua"), req, bs.PAGE_PIN), n)
    return path, scripts


def measure(d, tokens, tmp):
    scheme = "https" if d.tls else "http"
    base = f"{scheme}://127.0.0.1:{d.port}"
    r = {}
    r["ws"] = ws_rtt(d, "ws", WS_CALLS)
    r["first"] = ws_rtt(d, "first", FIRST_CONNS)
    get = bs.lua_script(os.path.join(tmp, f"get-{d.port}.lua"), None, bs.PAGE_PIN)
    r["tokens"] = bs.measured(bs.Load(d.proc.pid), bs.wrk, base + "/v1/tokens", get, 2)
    path, scripts = sign_setup(d, tokens, tmp)
    for kind, (script, n) in scripts.items():
        w = bs.wrk(base + path, script, 1)
        w["items"] = w["ops"] * n
        r[kind] = w
    return r


def run_raw(tokens):
    return {kind: bs.raw_sign(tokens, key_id, kind, 1) for _, key_id, kind, *_ in bs.CASES}


def med(rows, *keys):
    vals = []
    for row in rows:
        v = row
        for k in keys:
            v = v[k]
        vals.append(v)
    return statistics.median(vals)


def main():
    tmp = tempfile.mkdtemp(prefix="kb-bench-tls-")
    tokens = kbtest.TokenDir((bs.LABEL,), ec_signing=True)
    results = {(b, tls): [] for b, _ in BINARIES for tls in (False, True)}
    raws, idle = [], {}
    try:
        for rnd in range(ROUNDS):
            raws.append(run_raw(tokens))
            for label, binary in BINARIES:
                for tls in (False, True):
                    d = start(binary, tls, tokens, tmp)
                    try:
                        results[(label, tls)].append(measure(d, tokens, tmp))
                        if rnd == 0:
                            idle[(label, tls)] = idle_kib(d)
                    finally:
                        d.cleanup()
    finally:
        tokens.cleanup()
    report(results, raws, idle)


def report(results, raws, idle):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {cpu}; {ROUNDS} rounds alternating the binaries, medians; "
          f"wrk runs {SECONDS} s; client and daemon share the cores\n")
    raw_rsa, raw_ec = med(raws, "rsa", "ops"), med(raws, "ec", "ops")
    print(f"raw-sign, 1 thread: RSA-2048 {raw_rsa:,.0f} ops/s, ECDSA P-256 {raw_ec:,.0f} ops/s\n")
    print("| daemon | mode | WS calls/s | WS p50 / p99 µs | first request p50 µs | GET /v1/tokens req/s "
          "| GET daemon / wrk CPU µs per request | RSA sign req/s (× raw) | ECDSA 64-item items/s (× raw) "
          "| idle connection KiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (label, tls), rows in results.items():
        print(f"| {label} | {'TLS' if tls else 'plain'} | {med(rows, 'ws', 'ops'):,.0f} | "
              f"{med(rows, 'ws', 'p50'):.0f} / {med(rows, 'ws', 'p99'):.0f} | {med(rows, 'first', 'p50'):.0f} | "
              f"{med(rows, 'tokens', 'ops'):,.0f} | {med(rows, 'tokens', 'cpu'):.0f} / "
              f"{med(rows, 'tokens', 'client_cpu'):.0f} | {med(rows, 'rsa', 'ops'):,.0f} "
              f"({med(rows, 'rsa', 'ops') / raw_rsa:.2f}) | {med(rows, 'ec', 'items'):,.0f} "
              f"({med(rows, 'ec', 'items') / raw_ec:.2f}) | {idle[(label, tls)]:.1f} |")
    print("\nper round (raw RSA, raw ECDSA | then per daemon and mode: WS calls/s, GET req/s, RSA req/s, "
          "ECDSA items/s):")
    print("  raw: " + "; ".join(f"{r['rsa']['ops']:,.0f}, {r['ec']['ops']:,.0f}" for r in raws))
    for (label, tls), rows in results.items():
        print(f"  {label} {'TLS' if tls else 'plain'}: " + "; ".join(
            f"{r['ws']['ops']:,.0f}, {r['tokens']['ops']:,.0f}, {r['rsa']['ops']:,.0f}, {r['ec']['items']:,.0f}"
            for r in rows))
    print()
    for label, _ in BINARIES:
        plain, tls = results[(label, False)], results[(label, True)]
        ws_ratio = med(tls, "ws", "ops") / med(plain, "ws", "ops")
        added = med(tls, "ws", "p50") - med(plain, "ws", "p50")
        get_ratio = med(tls, "tokens", "ops") / med(plain, "tokens", "ops")
        checks = [
            ("WSS ≥ 0.5× WS calls/s", ws_ratio >= 0.5, f"{ws_ratio:.2f}×"),
            ("WSS adds ≤ 100 µs at p50", added <= 100, f"{added:+.0f} µs"),
            ("idle WSS ≤ 16 KiB", idle[(label, True)] <= 16, f"{idle[(label, True)]:.1f} KiB"),
            ("HTTPS GET /v1/tokens ≥ 0.8× HTTP", get_ratio >= 0.8, f"{get_ratio:.2f}×"),
            ("RSA-2048 over HTTPS ≥ 0.9× raw", med(tls, "rsa", "ops") / raw_rsa >= 0.9,
             f"{med(tls, 'rsa', 'ops') / raw_rsa:.2f}×"),
            ("ECDSA 64 items over HTTP ≥ 0.8× raw", med(plain, "ec", "items") / raw_ec >= 0.8,
             f"{med(plain, 'ec', 'items') / raw_ec:.2f}×"),
            ("ECDSA 64 items over HTTPS ≥ 0.8× raw", med(tls, "ec", "items") / raw_ec >= 0.8,
             f"{med(tls, 'ec', 'items') / raw_ec:.2f}×"),
            ("first TLS request ≤ 5 ms at p50", med(tls, "first", "p50") <= 5000,
             f"{med(tls, 'first', 'p50') / 1000:.2f} ms"),
        ]
        print(f"{label}: " + "; ".join(f"{name}: {value} {'met' if ok else 'NOT met'}" for name, ok, value in checks))
    if len(BINARIES) == 2:
        new, old = results[("this build", False)], results[("baseline", False)]
        print("plain path, this build / baseline: "
              f"WS calls/s {med(new, 'ws', 'ops') / med(old, 'ws', 'ops'):.2f}×, "
              f"GET /v1/tokens {med(new, 'tokens', 'ops') / med(old, 'tokens', 'ops'):.2f}×, "
              f"RSA {med(new, 'rsa', 'ops') / med(old, 'rsa', 'ops'):.2f}×, "
              f"ECDSA batch {med(new, 'ec', 'items') / med(old, 'ec', 'items'):.2f}×")


if __name__ == "__main__":
    main()
