#!/usr/bin/env python3
"""Sign benchmark (results go to docs/performance.md; not a test).

In one run, against the same SoftHSM2 keys (RSA-2048 key 01, EC P-256 key 04):
  - raw: tests/bench/raw-sign, a C_SignInit + C_Sign loop that hashes on the
    host like the daemon does (CKM_RSA_PKCS over a SHA-256 DigestInfo, or
    CKM_ECDSA over a SHA-256 hash), 1 and 2 threads, each its own session;
  - daemon: POST /v1/tokens/{id}/sign over HTTPS keep-alive driven by wrk (a
    Lua script sets the POST body and headers; one wrk thread per
    connection), 1 and 2 connections, a 100-byte document per request,
    "format": "raw". The origin is a page_pin origin: one request with "pin"
    logs in, the measured ones reuse that authorization (pin-idle-timeout
    3600 s), so no PIN work is measured.
Raw and daemon runs alternate, ROUNDS times, and the medians are reported:
the machine may be shared, so every run also records the CPU that other
processes used meanwhile ("other load").

Then the pieces, one at a time: raw-sign with the per-request work the daemon
adds on the token side (key lookup, certificate parse, a thread per
operation, one shared session), and the daemon alone: GET /v1/info (the
HTTPS round trip on the event loop) and a sign request that never reaches the
token (unknown certificate: HTTPS, gate, JSON, a job thread).

Usage: bench_sign.py [seconds per run] [rounds]   (env: KEYBRIDGED, KB_RAW_SIGN)"""
import base64
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import kbtest  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
RAW = os.environ.get("KB_RAW_SIGN", os.path.join(kbtest.SRC, "build", "tests", "bench", "raw-sign"))
LABEL = "bench-sign"
PIN = "123456"
PAGE_PIN = "https://pagepin.example.cn"
DOC = ("投标文件 bid document, benchmark payload " * 4).encode()[:100]
TICK = os.sysconf("SC_CLK_TCK")

# name, key id, raw-sign key type, API algorithm, certificate CN, target ratio
CASES = (
    ("RSA-2048", "01", "rsa", "RSA-PKCS1-SHA256", "张三", 0.90),
    ("ECDSA P-256", "04", "ec", "ECDSA-SHA256", "赵六", 0.50),
)
CLIENTS = (1, 2)


class Load:
    """CPU seconds used by us (children, the daemon, this script) and by every
    other process on the machine while a measurement runs."""

    def __init__(self, daemon_pid):
        self.pid = daemon_pid

    @staticmethod
    def busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) / TICK  # all but idle and iowait

    @staticmethod
    def children():
        c = resource.getrusage(resource.RUSAGE_CHILDREN)  # raw-sign, wrk (once they exited)
        return c.ru_utime + c.ru_stime

    def ours(self):
        s = resource.getrusage(resource.RUSAGE_SELF)
        return self.children() + s.ru_utime + s.ru_stime + self.daemon()

    def daemon(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def __enter__(self):
        self.b0, self.o0, self.d0, self.c0 = self.busy(), self.ours(), self.daemon(), self.children()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.daemon_cpu = self.daemon() - self.d0
        self.child_cpu = self.children() - self.c0
        wall = time.monotonic() - self.t0
        self.other = max(0.0, (self.busy() - self.b0) - (self.ours() - self.o0)) / wall


def raw_sign(tokens, key_id, kind, threads, *flags, seconds=SECONDS):
    p = subprocess.run([RAW, *flags, kbtest.SOFTHSM, LABEL, PIN, key_id, kind, str(seconds), str(threads)],
                       env=dict(os.environ, SOFTHSM2_CONF=tokens.conf), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"raw-sign failed ({p.returncode}): {p.stderr}")
    r = json.loads(p.stdout)
    return {"ops": r["ops_per_s"], "p50": r["p50_us"], "p99": r["p99_us"], "cpu": r["cpu_us_per_op"]}


def to_us(value, unit):
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def wrk(url, script, connections, seconds=SECONDS):
    out = subprocess.run(["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", script, url], capture_output=True, text=True, check=True).stdout
    lat = {pct: to_us(*re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()) for pct in ("50", "99")}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"ops": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50": lat["50"], "p99": lat["99"],
            "bad": (int(bad.group(1)) if bad else 0) + (sum(map(int, errs.groups())) if errs else 0)}


def measured(load, fn, *args, **kw):
    with load as m:
        r = fn(*args, **kw)
    r["other"] = m.other
    if "requests" in r:  # wrk: the daemon's and the client's CPU per request
        r["cpu"] = m.daemon_cpu * 1e6 / max(r["requests"], 1)
        r["client_cpu"] = m.child_cpu * 1e6 / max(r["requests"], 1)
    return r


def lua_script(path, body, origin):
    """A wrk script: POST body (JSON) with Origin, or a GET with Origin."""
    def lua(s):
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    with open(path, "w") as f:
        if body is not None:
            f.write("wrk.method = 'POST'\n"
                    f"wrk.body = {lua(json.dumps(body))}\n"
                    "wrk.headers['Content-Type'] = 'application/json'\n")
        f.write(f"wrk.headers['Origin'] = {lua(origin)}\n")
    return path


def verify(tokens, key_id, sig_b64, tmp):
    pub = subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=tokens.cert_pem(LABEL, key_id).encode(),
                         capture_output=True, check=True).stdout
    paths = {n: os.path.join(tmp, n) for n in ("pub", "sig", "data")}
    for n, b in (("pub", pub), ("sig", base64.b64decode(sig_b64)), ("data", DOC)):
        with open(paths[n], "wb") as f:
            f.write(b)
    return subprocess.run(["openssl", "dgst", "-sha256", "-verify", paths["pub"], "-signature", paths["sig"],
                           paths["data"]], capture_output=True).returncode == 0


def start_daemon(tokens, tmp):
    sysconf = os.path.join(tmp, "keybridge.conf")
    with open(sysconf, "w") as f:
        f.write(f"page-pin-origin = {PAGE_PIN}\nallow-origin = {PAGE_PIN}\n")
    return kbtest.Daemon(tokens, tls=True, env={"KEYBRIDGE_SYSTEM_CONFIG": sysconf},
                         extra=["--pin-idle-timeout", "3600", "--poll-interval-ms", "2000"]).start()


def median(runs, key):
    return statistics.median(r[key] for r in runs)


# The pieces (1 thread or client unless said): label, raw-sign flags, threads.
PARTS = (
    ("raw C_SignInit + C_Sign loop", (), 1),
    ("+ key lookup per op (C_FindObjects; C_GetAttributeValue of CKA_KEY_TYPE, and CKA_MODULUS for RSA)",
     ("--lookup",), 1),
    ("+ certificate parse and public-key copy per op (d2i_X509, EVP_PKEY_dup)", ("--parse-cert",), 1),
    ("+ a new thread per op", ("--thread-per-op",), 1),
    ("all three: the daemon's token-side work per request", ("--lookup", "--parse-cert", "--thread-per-op"), 1),
    ("2 threads, own sessions", (), 2),
    ("2 threads sharing one session behind a mutex (the daemon's login session and op_lock)",
     ("--shared-session",), 2),
)


def main():
    tmp = tempfile.mkdtemp(prefix="kb-bench-sign-")
    tokens = kbtest.TokenDir((LABEL,), ec_signing=True)
    d = None
    rows, parts = [], []
    try:
        d = start_daemon(tokens, tmp)
        load = Load(d.proc.pid)
        st, _, body = d.get("/v1/tokens", origin=PAGE_PIN)
        token = body["tokens"][0]
        certs = {c["subjectFields"]["CN"]: c["id"] for c in token["certificates"]}
        path = f"/v1/tokens/{token['id']}/sign"
        url = f"https://127.0.0.1:{d.port}{path}"
        data = base64.b64encode(DOC).decode()
        for name, key_id, kind, alg, cn, target in CASES:
            req = {"certificate": certs[cn], "algorithm": alg, "items": [{"data": data}], "format": "raw"}
            # The first request logs in with the page PIN; its signature must verify.
            st, _, res = d.request("POST", path, body=dict(req, pin=PIN), origin=PAGE_PIN)
            assert st == 200, (st, res)
            assert verify(tokens, key_id, res["signatures"][0], tmp), f"{name}: the signature does not verify"
            script = lua_script(os.path.join(tmp, f"{kind}.lua"), req, PAGE_PIN)
            wrk(url, script, 1, seconds=1)  # warm-up
            for n in CLIENTS:
                raws, dms = [], []
                for _ in range(ROUNDS):
                    raws.append(measured(load, raw_sign, tokens, key_id, kind, n))
                    dms.append(measured(load, wrk, url, script, n))
                rows.append((name, n, raws, dms, target))
            for what, flags, n in PARTS:
                parts.append((name, what, measured(load, raw_sign, tokens, key_id, kind, n, *flags)))
        miss = lua_script(os.path.join(tmp, "miss.lua"),
                          {"certificate": "0" * 64, "algorithm": "RSA-PKCS1-SHA256", "items": [{"data": data}],
                           "format": "raw"}, PAGE_PIN)
        info = lua_script(os.path.join(tmp, "info.lua"), None, PAGE_PIN)
        for n in CLIENTS:
            parts.append(("—", f"daemon: GET /v1/info (answered on the event loop; the HTTPS round-trip floor), "
                          f"{n} client(s)", measured(load, wrk, f"https://127.0.0.1:{d.port}/v1/info", info, n)))
            parts.append(("—", f"daemon: sign request for an unknown certificate (404 from the job thread; "
                          f"no token call), {n} client(s)", measured(load, wrk, url, miss, n)))
    finally:
        if d:
            d.cleanup()
        tokens.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {cpu}; {SECONDS} s per run, {ROUNDS} alternating raw/daemon rounds, "
          "medians; wrk, the daemon and SoftHSM2 share the cores (raw-sign has no client); "
          "other load = CPU cores used by other processes during the runs (max)\n")
    print("| algorithm | clients | raw ops/s | daemon req/s | ratio | raw p50 / p99 µs | daemon p50 / p99 µs "
          "| added p50 µs | raw CPU µs/op | daemon CPU µs/req | wrk CPU µs/req | non-2xx | other load | target "
          "| result |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, raws, dms, target in rows:
        ratio = statistics.median(dm["ops"] / raw["ops"] for raw, dm in zip(raws, dms))
        bad = sum(dm["bad"] for dm in dms)
        other = max(r["other"] for r in raws + dms)
        ok = ratio >= target and bad == 0
        print(f"| {name} | {n} | {median(raws, 'ops'):,.0f} | {median(dms, 'ops'):,.0f} | {ratio:.0%} | "
              f"{median(raws, 'p50'):.0f} / {median(raws, 'p99'):.0f} | "
              f"{median(dms, 'p50'):.0f} / {median(dms, 'p99'):.0f} | "
              f"{median(dms, 'p50') - median(raws, 'p50'):+.0f} | {median(raws, 'cpu'):.0f} | "
              f"{median(dms, 'cpu'):.0f} | {median(dms, 'client_cpu'):.0f} | {bad} | {other:.2f} | "
              f"≥ {target:.0%} | {'pass' if ok else '**fail**'} |")
    print("\nwhere the time goes (one run each):\n")
    print("| algorithm | measurement | ops/s | p50 / p99 µs | CPU µs/op (raw-sign or daemon) | wrk CPU µs/req "
          "| other load |")
    print("|---|---|---|---|---|---|---|")
    for name, what, m in parts:
        client = f"{m['client_cpu']:.0f}" if "client_cpu" in m else "—"
        print(f"| {name} | {what} | {m['ops']:,.0f} | {m['p50']:.0f} / {m['p99']:.0f} | {m['cpu']:.0f} "
              f"| {client} | {m['other']:.2f} |")


if __name__ == "__main__":
    main()
