#!/usr/bin/env python3
"""Runs one browser test (a node:test file driving headless Chromium) against
the real daemon: a SoftHSM2 token behind the fault-injecting module (so a test
can pull the token), the scripted pinentry, and the demo portal served by
tests/demo_portal.py from its own origin (allowed) and from a second one (not
allowed). The test's TAP output goes to stdout for meson.

    run.py TEST.mjs [--tls] [--blank] [--encryption]

With --tls the daemon serves HTTPS/WSS (its default) and its local root is
installed with `keybridged trust install` into the NSS database of a home
directory made for the test (KB_BROWSER_HOME), the one the browser is started
with; the page then finds the daemon by port alone (KB_DAEMON_PORT).

With --blank (the remote download's test) the daemon also has blank tokens
to enroll: a SoftHSM2 token with its user PIN set and no objects (kb-blank),
and, on the software SKF library (KB_SKFSOFT_SO), a device whose application
has PINs and no container, beside one with no application at all
(tests/skfsoft/make-demo-token.py); the portal issues SM2 certificates from
that script's SM2 CA. The test gets their listings (KB_BLANK_JSON) and the
CAs' certificates (KB_CA_PEM, KB_SM2_CA_PEM). PINs: 123456 everywhere.

With --encryption (the bid opening's and the legacy page's tests) the test's
token also holds an RSA encryption certificate (make-token.sh with
KB_TOKEN_RSA_ENCRYPTION=1: id 05, CN 钱七, beside the EC one, id 02), and the
daemon also has the SM2 demo token of the software SKF library ("keybridge
SM2 demo", CN "Demo SM2 User": signature and encryption certificates) and its
blank sibling (tests/skfsoft/make-demo-token.py).

Environment: KEYBRIDGED, KB_P11FAULT_SO (as for the integration tests),
KB_SKFSOFT_SO and KB_SKFSOFT_PRELOAD (--blank), KB_ARTIFACTS (where
screenshots go), NODE (the node binary)."""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import kbtest  # noqa: E402
from p11fault import FaultControl, module_path  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402

PORTAL = os.path.join(os.path.dirname(HERE), "demo_portal.py")
MAKE_SKF = os.path.join(os.path.dirname(HERE), "skfsoft", "make-demo-token.py")
LABEL = "kb-web"
BLANK_LABEL = "kb-blank"
SKF_BLANK_SERIAL = "GM2026DEMO0002"     # make-demo-token.py's demo-sm2-blank


def start_portal(port, ca_dir, log_dir, extra=()):
    log = open(os.path.join(log_dir, f"portal-{port}.log"), "ab")
    proc = subprocess.Popen([sys.executable, PORTAL, "--port", str(port), "--ca", ca_dir, *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo portal on {port} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"{url}/demo/", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the demo portal on {port} did not start")


def node_modules_ready():
    top = os.path.join(kbtest.SRC, "web-api", "node_modules")
    return all(os.path.isdir(os.path.join(top, p)) for p in ("playwright-core", "ws"))


def trust_root(daemon, home):
    """Installs the daemon's local root into home/.pki/nssdb, as a user would."""
    env = dict(daemon.env, HOME=home)
    env.pop("KEYBRIDGE_NSSDB", None)
    r = subprocess.run([kbtest.DAEMON, "trust", "install", "--state-dir", daemon.state],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"keybridged trust install failed: {r.stderr}")


def make_blank_tokens(tokens, tmp):
    """The blank SoftHSM2 token beside the test's, and the software SKF
    devices (blank, unformatted) with their SM2 CA. Returns (daemon
    arguments, daemon environment, portal arguments, SM2 CA directory)."""
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", BLANK_LABEL, "--so-pin", "12345678",
                    "--pin", "123456"], env=dict(os.environ, SOFTHSM2_CONF=tokens.conf), check=True,
                   capture_output=True)
    return make_skf_tokens(tmp, "--only-blank", "--unformatted", "kb-unformatted")


def make_skf_tokens(tmp, *options):
    """Software SKF devices made by make-demo-token.py with these options,
    and their SM2 CA. Returns (daemon arguments, daemon environment,
    portal arguments, SM2 CA directory)."""
    library = os.environ.get("KB_SKFSOFT_SO")
    if not library:
        raise RuntimeError("KB_SKFSOFT_SO is not set (the software SKF library): run through meson test")
    skf = os.path.join(tmp, "skf")
    r = subprocess.run([sys.executable, MAKE_SKF, *options, library, skf], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"make-demo-token.py failed: {r.stdout}{r.stderr}")
    ca = os.path.join(skf, "ca")
    return (["--skf-library", library], {"KB_SKFSOFT_DIR": os.path.join(skf, "devices")},
            ["--sm2-ca", ca], ca)


def wait_blank_tokens(daemon, timeout=30):
    """The daemon's listings of the two blank tokens, once both show."""
    deadline, tokens = time.time() + timeout, []
    while time.time() < deadline:
        tokens = daemon.get("/v1/tokens")[2]["tokens"]
        p11 = [t for t in tokens if t["backend"] == "pkcs11" and t["label"] == BLANK_LABEL]
        skf = [t for t in tokens if t["backend"] == "skf" and t["serial"] == SKF_BLANK_SERIAL]
        if p11 and skf:
            return {"pkcs11": p11[0], "skf": skf[0]}
        time.sleep(0.2)
    raise RuntimeError(f"the blank tokens did not show: {[(t['backend'], t['label']) for t in tokens]}")


def run(test_file, tls=False, blank=False, encryption=False):
    if not node_modules_ready():
        print("Bail out! web-api/node_modules is missing: run tests/node-deps.sh (tests/run-all.sh does)")
        return 1
    tmp = tempfile.mkdtemp(prefix="kb-browser-")
    tokens = kbtest.TokenDir((LABEL,), rsa_encryption=encryption)
    pin = Pinentry(tmp)
    ctl = FaultControl(os.path.join(tmp, "control"))
    page_port, other_port = kbtest.free_port(), kbtest.free_port()
    page = f"http://127.0.0.1:{page_port}"
    env = dict(pin.env, **ctl.environ(module=kbtest.SOFTHSM))
    daemon_extra, portal_extra, blank_env, sm2_ca = [], [], {}, None
    if blank or encryption:
        try:
            made = make_blank_tokens(tokens, tmp) if blank else make_skf_tokens(tmp)
        except BaseException:
            tokens.cleanup()
            raise
        daemon_extra, skf_env, portal_extra, sm2_ca = made
        env.update(skf_env)
    daemon = kbtest.Daemon(tokens, tls=tls, modules=[module_path()], env=env,
                           extra=["--pinentry", PINENTRY, "--allow-origin", page, "--pin-cooldown", "0",
                                  "--dialogs-per-minute", "1000", *daemon_extra])
    portals = []
    try:
        daemon.start(wait=False)
        daemon.wait_ready(timeout=60)
        scheme = "https" if tls else "http"
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        if tls:
            trust_root(daemon, home)
        token = next(t for t in daemon.get("/v1/tokens")[2]["tokens"] if t["label"] == LABEL)
        features = daemon.get("/v1/info")[2]["features"]
        ca_dir = os.path.join(tokens.path, "ca")
        if blank:
            blank_env = {"KB_BLANK_JSON": json.dumps(wait_blank_tokens(daemon)),
                         "KB_CA_PEM": os.path.join(ca_dir, "ca.pem"),
                         "KB_SM2_CA_PEM": os.path.join(sm2_ca, "ca.pem")}
        portals = [start_portal(page_port, ca_dir, tmp, portal_extra), start_portal(other_port, ca_dir, tmp)]
        node_env = dict(os.environ, KB_DAEMON_URL=f"{scheme}://127.0.0.1:{daemon.port}",
                        KB_DAEMON_PORT=str(daemon.port), KB_BROWSER_HOME=home, KB_PAGE_URL=page,
                        KB_OTHER_URL=portals[1][1], KB_TOKEN_JSON=json.dumps(token), KB_FEATURES=json.dumps(features),
                        KB_P11FAULT_CONTROL=ctl.path, KB_ARTIFACTS=os.environ.get("KB_ARTIFACTS", os.path.join(tmp, "artifacts")),
                        **pin.env, **blank_env)
        node = os.environ.get("NODE", "node")
        rc = subprocess.run([node, "--test-reporter=tap", test_file], env=node_env).returncode
    finally:
        for proc, _ in portals:
            proc.terminate()
            proc.wait()
        try:
            daemon.cleanup()
        finally:
            tokens.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(run(os.path.abspath(sys.argv[1]), tls="--tls" in sys.argv[2:], blank="--blank" in sys.argv[2:],
                 encryption="--encryption" in sys.argv[2:]))
