#!/usr/bin/env python3
"""Decrypt benchmark (results go to docs/performance.md; not a test).

How long a bid opening (开标解密) takes, against what the token itself costs,
in one run on the same SoftHSM2 token:
  - raw: tests/bench/raw-sign with the RSA-2048 key, 1 thread: the token's
    private-key operation on its own (a signature costs the same modular
    exponentiation as the C_Decrypt of an envelope's key, and raw-sign is the
    existing baseline of the sign benchmark);
  - daemon: POST /v1/tokens/{id}/decrypt over one keep-alive HTTP connection,
    envelopes made by `openssl cms -encrypt` (AES-256-CBC, a 10 KiB bid):
    one envelope per request, and 64 per request (a tender's opening); RSA
    PKCS#1 v1.5 key transport and EC P-256 key agreement. A page-PIN origin
    logs in once, so no PIN work is measured.
Raw and daemon runs alternate, ROUNDS times; medians are reported.

Usage: bench_decrypt.py [seconds per run] [rounds]   (env: KEYBRIDGED, KB_RAW_SIGN)"""
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import kbtest  # noqa: E402

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 5
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
RAW = os.environ.get("KB_RAW_SIGN", os.path.join(kbtest.SRC, "build", "tests", "bench", "raw-sign"))
LABEL, PIN, ORIGIN = "kb-bench-dec", "123456", "https://pagepin.example.cn"
BID = os.urandom(10 * 1024)


def seal(tokens, key_id, n):
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(tokens.cert_pem(LABEL, key_id))
        f.flush()
        one = lambda: subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256",  # noqa: E731
                                      "-recip", f.name], input=BID, capture_output=True, check=True).stdout
        return [base64.b64encode(one()).decode() for _ in range(n)]


class Client:
    def __init__(self, d, token, cert):
        self.d, self.path, self.cert = d, f"/v1/tokens/{token}/decrypt", cert
        self.conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)

    def decrypt(self, envs, pin=False):
        body = {"certificate": self.cert, "items": [{"cms": e} for e in envs]}
        if pin:
            body["pin"] = PIN
        self.conn.request("POST", self.path, body=json.dumps(body),
                          headers={"Origin": ORIGIN, "Host": f"127.0.0.1:{self.d.port}",
                                   "Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit(f"decrypt failed: {r.status} {data[:200]!r}")
        return json.loads(data)


def timed(client, envs, seconds):
    """Requests of envs until seconds pass: (requests, envelopes/s, p50 ms per request)."""
    times, start = [], time.monotonic()
    while time.monotonic() - start < seconds:
        t = time.monotonic()
        client.decrypt(envs)
        times.append(time.monotonic() - t)
    total = sum(times)
    return len(times), len(times) * len(envs) / total, statistics.median(times) * 1000


def raw(tokens, seconds):
    env = dict(os.environ, SOFTHSM2_CONF=tokens.conf)
    out = subprocess.run([RAW, kbtest.SOFTHSM, LABEL, PIN, "01", "rsa", str(seconds), "1"], env=env,
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    return r["ops_per_s"], r["p50_us"] / 1000


def main():
    tokens = kbtest.TokenDir((LABEL,), rsa_encryption=True)
    tmp = tempfile.mkdtemp(prefix="kb-bench-dec-")
    conf = os.path.join(tmp, "keybridge.conf")
    with open(conf, "w") as f:
        f.write(f"page-pin-origin = {ORIGIN}\nallow-origin = {ORIGIN}\n")
    d = kbtest.Daemon(tokens, tls=False, env={"KEYBRIDGE_SYSTEM_CONFIG": conf},
                      extra=["--pin-idle-timeout", "3600", "--max-body-bytes", str(8 * 1024 * 1024)]).start()
    try:
        st, _, body = d.get("/v1/tokens")
        token = body["tokens"][0]
        certs = {c["subjectFields"]["CN"]: c["id"] for c in token["certificates"]}
        cases = {}
        for name, cn, key_id in (("RSA-2048", "钱七", "05"), ("EC P-256", "李四", "02")):
            client = Client(d, token["id"], certs[cn])
            envs = seal(tokens, key_id, 64)
            client.decrypt(envs[:1], pin=True)
            cases[name] = (client, envs)
        results = {k: [] for k in ("raw", "RSA-2048 x1", "RSA-2048 x64", "EC P-256 x1", "EC P-256 x64")}
        for _ in range(ROUNDS):
            results["raw"].append(raw(tokens, SECONDS))
            for name, (client, envs) in cases.items():
                results[f"{name} x1"].append(timed(client, envs[:1], SECONDS)[1:])
                results[f"{name} x64"].append(timed(client, envs, SECONDS)[1:])
        report(results)
    finally:
        d.cleanup()
        tokens.cleanup()


def report(results):
    med = {k: (statistics.median(v[0] for v in vs), statistics.median(v[1] for v in vs)) for k, vs in results.items()}
    raw_ops, raw_ms = med["raw"]
    print(f"{'case':<16} {'envelopes/s':>12} {'ms/request':>11} {'vs raw RSA op':>14}")
    print(f"{'raw C_Sign RSA':<16} {raw_ops:>12.0f} {raw_ms:>11.2f} {'1.00x':>14}")
    for k in ("RSA-2048 x1", "RSA-2048 x64", "EC P-256 x1", "EC P-256 x64"):
        ops, ms = med[k]
        print(f"{k:<16} {ops:>12.0f} {ms:>11.2f} {ops / raw_ops:>13.2f}x")
    print(json.dumps({k: {"envelopes_per_s": round(v[0], 1), "ms_per_request": round(v[1], 2)}
                      for k, v in med.items()}))


if __name__ == "__main__":
    main()
