"""Shared harness for keybridge integration tests: real SoftHSM2 tokens, the
real keybridged binary on a free loopback port, real HTTP(S) clients."""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(SRC, "tests", "fixtures")
DAEMON = os.environ.get("KEYBRIDGED", os.path.join(SRC, "build", "daemon", "keybridged"))
SOFTHSM = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so",
                            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so") if os.path.exists(p)), None)
OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
ORIGIN = "https://portal.example.cn"


# The signals a daemon dies of by itself (a sanitizer aborts).
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TokenDir:
    """A directory with one SoftHSM2 config holding the given demo tokens."""

    def __init__(self, labels=("kb-a",), ec_signing=False, rsa_encryption=False):
        """ec_signing, rsa_encryption: make-token.sh's extra key pairs (ids 04, 05)."""
        self.path = tempfile.mkdtemp(prefix="kb-tokens-")
        self.labels = labels
        env = dict(os.environ, KB_TOKEN_EC_SIGNING=str(int(ec_signing)),
                   KB_TOKEN_RSA_ENCRYPTION=str(int(rsa_encryption)))
        for label in labels:
            subprocess.run([os.path.join(FIXTURES, "make-token.sh"), self.path, label],
                           check=True, capture_output=True, text=True, env=env)
        self.conf = os.path.join(self.path, "softhsm2.conf")

    def cert_pem(self, label, key_id):
        with open(os.path.join(self.path, f"{label}-certs", f"{key_id}.pem")) as f:
            return f.read()

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Daemon:
    """keybridged in the foreground on a free port with its own state."""

    def __init__(self, tokens=None, tls=True, modules=None, extra=(), env=None, port=None):
        self.dir = tempfile.mkdtemp(prefix="kb-daemon-")
        self.state = os.path.join(self.dir, "state")
        self.runtime = os.path.join(self.dir, "run")
        self.port = port or free_port()
        self.tls = tls
        self.env = dict(os.environ, KEYBRIDGE_SYSTEM_CONFIG=os.path.join(self.dir, "none.conf"),
                        XDG_CONFIG_HOME=os.path.join(self.dir, "config"))
        if tokens:
            self.env["SOFTHSM2_CONF"] = tokens.conf
        self.env.update(env or {})
        if modules is None:
            modules = [SOFTHSM]
        self.args = [DAEMON, "--foreground", "--listen", f"127.0.0.1:{self.port}",
                     "--state-dir", self.state, "--runtime-dir", self.runtime,
                     "--allow-origin", ORIGIN, "--poll-interval-ms", "300"]
        for m in modules:
            self.args += ["--module", m]
        if not tls:
            self.args.append("--no-tls")
        self.args += list(extra)
        self.proc = None

    def start(self, wait=True):
        if getattr(self, "log", None) is not None:
            self.log.close()  # a restart after a kill that did not go through stop()
        self.log = open(os.path.join(self.dir, "daemon.log"), "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        """Ready when an HTTP request gets any answer (the port is bound before
        the TLS material exists, so a bare connect is not enough)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keybridged exited with {self.proc.returncode}:\n{self.log_text()}")
            if self.probe():
                return
            time.sleep(0.02)
        raise RuntimeError("keybridged did not start serving:\n" + self.log_text())

    def probe(self):
        try:
            if self.tls:
                if not os.path.exists(self.root_pem_path):
                    return False
                conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=1,
                                                   context=ssl._create_unverified_context())
            else:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            conn.request("GET", "/v1/info", headers={"Host": f"127.0.0.1:{self.port}"})
            conn.getresponse().read()
            conn.close()
            return True
        except (OSError, http.client.HTTPException):
            return False

    def log_text(self):
        with open(os.path.join(self.dir, "daemon.log"), "rb") as f:
            return f.read().decode(errors="replace")

    @property
    def api_token(self):
        with open(os.path.join(self.runtime, "api-token")) as f:
            return f.read().strip()

    @property
    def root_pem_path(self):
        return os.path.join(self.state, "tls", "root.pem")

    def connection(self, timeout=10):
        if not self.tls:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        ctx = ssl.create_default_context(cafile=self.root_pem_path)
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=timeout)

    def request(self, method, path, body=None, headers=None, origin=ORIGIN, host=None):
        """Returns (status, headers dict lower-cased, parsed JSON or raw bytes)."""
        h = {}
        if origin is not None:
            h["Origin"] = origin
        h["Host"] = host or f"127.0.0.1:{self.port}"
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn = self.connection()
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            raw = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        data = raw
        if hdrs.get("content-type", "").startswith("application/json") and raw:
            data = json.loads(raw)
        return resp.status, hdrs, data

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "log"):
            self.log.close()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        """Stop and remove; a daemon that did not exit 0 on SIGTERM (e.g. a
        sanitizer report), or that died of a crash before (a later request
        then only sees the connection refused), fails the test that owned it.
        A daemon a test killed itself (SIGKILL) is no failure."""
        was_running = self.proc is not None and self.proc.poll() is None
        rc = self.stop()
        log = self.log_text() if self.proc else ""
        shutil.rmtree(self.dir, ignore_errors=True)
        if was_running and rc != 0:
            raise AssertionError(f"keybridged exited with {rc} on SIGTERM:\n{log[-4000:]}")
        if not was_running and rc is not None and -rc in CRASH_SIGNALS:
            raise AssertionError(f"keybridged died of signal {-rc} during the test:\n{log[-4000:]}")


def run(module_name):
    """unittest main with verbose output; exit status for meson."""
    unittest.main(module=module_name, verbosity=2)
