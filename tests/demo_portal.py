#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The demo portal's server: the static pages of web-api/ plus the few
server-side steps a CA portal has, done the way a portal's server would do
them (Python standard library and the openssl CLI only):

    POST /demo-api/challenge      {}                       -> {id, challenge}
    POST /demo-api/login          {id, response}           -> {subject}   (keybridge-auth-1,
                                  verified with docs/examples/verify-keybridge-auth.py)
    POST /demo-api/verify         {certificate, data, signature, algorithm, format}
                                                           -> {signatureValid, certificateValid, subject, detail}
    POST /demo-api/ca/issue       {csr, proof, certificate} -> {certificate, chain, proofVerified}
    POST /demo-api/unblock-code   {token}                  -> {unblockCode, newPin}

    GET  /keybridge.classic.js    the classic-script build of ROOT/keybridge.js, made on each
                                  request with node and web-api/build-classic.mjs (it is
                                  not kept in git, and a copy left in ROOT may be stale)

The CA is the one tests/fixtures/make-token.sh made for the demo token
(DIR/ca/ca.pem and ca.key). An issued certificate keeps the CSR's subject.
SM2 requests (the SKF token's) are checked with the GM/T ID, their GM/T 0010
proofs with docs/examples/verify-gmt-signed-data.py.
Errors are {"error": {"code", "message"}} like the daemon's.

    demo_portal.py --port 27183 --root web-api --ca build/demo/tokens/ca
"""
import argparse
import base64
import http.server
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_CLASSIC = os.path.join(SRC, "web-api", "build-classic.mjs")
VERIFIER = os.path.join(SRC, "docs", "examples", "verify-keybridge-auth.py")
GMT_VERIFIER = os.path.join(SRC, "docs", "examples", "verify-gmt-signed-data.py")
GMT_ID_OPTS = ["-vfyopt", "distid:1234567812345678"]   # how openssl checks an SM2 signature with the GM/T ID
MAX_BODY = 1 << 20
CHALLENGE_TTL = 120
HASHES = {"SHA256": "-sha256", "SHA384": "-sha384", "SHA512": "-sha512", "SM3": "-sm3"}
KEY_USAGE_NAMES = {
    "Digital Signature": "digitalSignature", "Non Repudiation": "nonRepudiation",
    "Key Encipherment": "keyEncipherment", "Data Encipherment": "dataEncipherment",
    "Key Agreement": "keyAgreement",
}


def load_example(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3].replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class DemoError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


def bad(message):
    return DemoError(400, "BAD_REQUEST", message)


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True)


def b64decode(value, field):
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError):
        raise bad(f"{field} is not base64")


def text_field(body, name):
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise bad(f"{name} is required")
    return value


class Workdir:
    """A temporary directory whose files are written from bytes or text."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kb-demo-")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._tmp.cleanup()

    def file(self, name, data=b""):
        path = os.path.join(self._tmp.name, name)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return path


class Portal:
    """The portal's server-side logic, independent of HTTP."""

    def __init__(self, ca_dir, so_pin, initial_pin, origins, trust=()):
        self.ca_cert = os.path.join(ca_dir, "ca.pem")
        self.ca_key = os.path.join(ca_dir, "ca.key")
        # the CAs whose users may log in: the demo CA and any other (the SM2 token's)
        self.trusted = os.path.join(ca_dir, "trusted.pem")
        with open(self.trusted, "w") as out:
            for path in (self.ca_cert, *trust):
                with open(path) as f:
                    out.write(f.read())
        self.so_pin, self.initial_pin = so_pin, initial_pin
        self.origins = origins
        self.challenges = {}
        self.lock = threading.Lock()
        self.verifier = load_example(VERIFIER)
        self.gmt = load_example(GMT_VERIFIER)

    # ---- login (keybridge-auth-1) ----

    def challenge(self, body, origin):
        cid, value = secrets.token_hex(16), secrets.token_bytes(32)
        with self.lock:
            now = time.time()
            self.challenges = {k: v for k, v in self.challenges.items() if v[2] > now}
            self.challenges[cid] = (value, origin, now + CHALLENGE_TTL)
        return {"id": cid, "challenge": base64.b64encode(value).decode()}

    def login(self, body, origin):
        with self.lock:  # single use, whatever the outcome
            entry = self.challenges.pop(text_field(body, "id"), None)
        if not entry or entry[2] < time.time():
            raise DemoError(401, "CHALLENGE_UNKNOWN", "unknown or expired challenge")
        response = body.get("response")
        if not isinstance(response, dict):
            raise bad("response is required")
        try:
            subject = self.verifier.verify(response, entry[1], entry[0], self.trusted)
        except (ValueError, KeyError, TypeError) as e:
            raise DemoError(401, "LOGIN_REFUSED", str(e))
        return {"subject": subject}

    # ---- signature verification ----

    def verify(self, body, origin):
        cert = text_field(body, "certificate")
        data = b64decode(body.get("data", ""), "data")
        signature = b64decode(text_field(body, "signature"), "signature")
        fmt = body.get("format") or "raw"
        with Workdir() as w:
            cert_path = w.file("cert.pem", cert)
            if fmt == "raw":
                ok, detail = self._verify_raw(w, cert_path, text_field(body, "algorithm"), data, signature)
            elif fmt in ("cms", "cms-detached"):
                ok, detail = self._verify_cms(w, cert_path, data if fmt == "cms-detached" else None, signature)
            else:
                raise bad("format must be raw, cms or cms-detached")
            chain = openssl("verify", "-CAfile", self.trusted, cert_path)
            if chain.returncode:    # an SM2 CA signs with the GM/T ID
                chain = openssl("verify", "-vfyopt", "distid:1234567812345678", "-CAfile", self.trusted, cert_path)
            subject = openssl("x509", "-in", cert_path, "-noout", "-subject", "-nameopt", "utf8")
        return {"signatureValid": ok, "certificateValid": chain.returncode == 0,
                "subject": subject.stdout.decode().strip(),
                "detail": detail if not ok else (chain.stdout + chain.stderr).decode().strip()}

    def _verify_raw(self, w, cert_path, algorithm, data, signature):
        hash_name = algorithm.rsplit("-", 1)[-1]
        if hash_name not in HASHES or not algorithm.startswith(("RSA-PKCS1-", "RSA-PSS-", "ECDSA-", "SM2-")):
            raise bad("unknown algorithm")
        pub = openssl("x509", "-in", cert_path, "-noout", "-pubkey")
        if pub.returncode:
            raise bad("certificate is not a PEM certificate")
        args = ["dgst", HASHES[hash_name], "-verify", w.file("pub.pem", pub.stdout),
                "-signature", w.file("sig", signature)]
        if algorithm.startswith("RSA-PSS-"):
            args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
        if algorithm == "SM2-SM3":
            args += ["-sigopt", "distid:1234567812345678"]   # the daemon's default; the page sends no sm2Id
        r = openssl(*args, w.file("data", data))
        return r.returncode == 0, (r.stdout + r.stderr).decode().strip()

    def _verify_cms(self, w, cert_path, detached_data, signature):
        args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", w.file("sig.der", signature),
                "-noverify", "-certfile", cert_path, "-out", w.file("content")]
        if detached_data is not None:
            args += ["-content", w.file("data", detached_data)]
        r = openssl(*args)
        return r.returncode == 0, (r.stdout + r.stderr).decode().strip()

    # ---- the demo CA ----

    def issue(self, body, origin):
        csr = text_field(body, "csr")
        old = body.get("certificate")
        with Workdir() as w:
            csr_path = w.file("req.csr", csr)
            # an SM2 request (an SKF token's) is signed with the GM/T ID, which
            # openssl must be told (and must not be told for any other key)
            text = openssl("req", "-in", csr_path, "-noout", "-text").stdout.decode(errors="replace")
            vfy = GMT_ID_OPTS if "SM2-with-SM3" in text else []
            checked = openssl("req", "-in", csr_path, "-verify", "-noout", *vfy)
            # openssl 3.0 may exit 0 after "verify failure": the words decide
            if checked.returncode or b"verify OK" not in checked.stdout + checked.stderr:
                raise DemoError(400, "CSR_INVALID", "the CSR's signature does not verify")
            if isinstance(old, str):
                self._check_subject(w, csr_path, old)
            proof_ok = self._check_proof(w, csr_path, body.get("proof"), old, sm2=bool(vfy))
            ext = w.file("ext.cnf", "basicConstraints = critical, CA:false\n"
                         f"keyUsage = critical, {self._key_usage(w, old)}\n"
                         "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n")
            out = w.file("new.pem")
            r = openssl("x509", "-req", "-in", csr_path, *vfy, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                        "-set_serial", "0x" + secrets.token_hex(16), "-days", "365", "-sha256",
                        "-extfile", ext, "-out", out)
            if r.returncode:
                raise DemoError(500, "CA_FAILED", r.stderr.decode().strip())
            with open(out) as f:
                cert = f.read()
        with open(self.ca_cert) as f:
            return {"certificate": cert, "chain": [f.read()], "proofVerified": proof_ok}

    def _check_subject(self, w, csr_path, old):
        """A renewal keeps the subject: a proof by the current key over a CSR
        naming someone else (which any signing call can make) gets nothing."""
        want = openssl("x509", "-in", w.file("old-subject.pem", old), "-noout", "-subject", "-nameopt", "RFC2253")
        got = openssl("req", "-in", csr_path, "-noout", "-subject", "-nameopt", "RFC2253")
        if want.returncode or got.returncode or want.stdout.split(b"=", 1)[1:] != got.stdout.split(b"=", 1)[1:]:
            raise DemoError(400, "SUBJECT_MISMATCH", "the CSR does not name the current certificate's subject")

    def _check_proof(self, w, csr_path, proof, old, sm2):
        """The proof is CMS SignedData over the CSR's DER by the current key
        (GM/T 0010 for an SM2 request). None when there is no current
        certificate to check it with; missing or failing, it is refused."""
        if not isinstance(old, str):
            return None
        if not proof:
            raise DemoError(400, "PROOF_INVALID", "a renewal needs the proof by the current certificate")
        csr_der = openssl("req", "-in", csr_path, "-outform", "DER").stdout
        proof_der = b64decode(proof, "proof")
        if sm2 or self.gmt.is_gmt_signed_data(proof_der):
            return self._check_gmt_proof(w, proof_der, csr_der, old)
        # -nointern: the signer must be the current certificate, not one the proof carries
        r = openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", w.file("proof.der", proof_der),
                    "-content", w.file("csr.der", csr_der), "-CAfile", self.ca_cert, "-purpose", "any",
                    "-nointern", "-certfile", w.file("old.pem", old), "-out", w.file("proof.out"))
        if r.returncode:
            raise DemoError(400, "PROOF_INVALID", "the proof is not a signature over the CSR by the current certificate")
        return True

    def _check_gmt_proof(self, w, proof_der, csr_der, old):
        """An SM2 token's proof is GM/T 0010 SignedData, which openssl's cms
        cannot read: the portal checks it with the example verifier, and the
        current certificate's chain to a CA it trusts."""
        old_der = openssl("x509", "-in", w.file("old-proof.pem", old), "-outform", "DER").stdout
        if self.gmt.problems(proof_der, csr_der, old_der) or \
                not self.verifier.chains(self.trusted, w.file("old-chain.pem", old)):
            raise DemoError(400, "PROOF_INVALID", "the proof is not a signature over the CSR by the current certificate")
        return True

    def _key_usage(self, w, old):
        """The old certificate's key usage, else signing."""
        if isinstance(old, str):
            r = openssl("x509", "-in", w.file("old-ku.pem", old), "-noout", "-ext", "keyUsage")
            lines = r.stdout.decode().strip().splitlines() if r.returncode == 0 else []
            usages = lines[-1].split(",") if len(lines) > 1 else []
            names = [KEY_USAGE_NAMES[u.strip()] for u in usages if u.strip() in KEY_USAGE_NAMES]
            if names:
                return ", ".join(names)
        return "digitalSignature, nonRepudiation"

    # ---- PIN reset: the server releases the SO PIN after checking the user ----

    def unblock_code(self, body, origin):
        text_field(body, "token")
        return {"unblockCode": self.so_pin, "newPin": self.initial_pin}


ROUTES = {
    "/demo-api/challenge": Portal.challenge,
    "/demo-api/login": Portal.login,
    "/demo-api/verify": Portal.verify,
    "/demo-api/ca/issue": Portal.issue,
    "/demo-api/unblock-code": Portal.unblock_code,
}


class Handler(http.server.SimpleHTTPRequestHandler):
    portal = None

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/keybridge.classic.js":
            self.classic_script()
        else:
            super().do_GET()

    def classic_script(self):
        """Builds keybridge.classic.js from the keybridge.js served, so the
        page never gets an old build (the file is generated, not in git)."""
        with Workdir() as w:
            out = w.file("keybridge.classic.js")
            try:
                r = subprocess.run([os.environ.get("NODE", "node"), BUILD_CLASSIC,
                                    os.path.join(self.directory, "keybridge.js"), out], capture_output=True)
            except OSError as e:
                r = subprocess.CompletedProcess([], 1, b"", str(e).encode())
            if r.returncode:
                self.send_error(500, "cannot build keybridge.classic.js (is node installed?)",
                                r.stderr.decode(errors="replace").strip())
                return
            with open(out, "rb") as f:
                data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        route = ROUTES.get(self.path)
        try:
            if not route:
                raise DemoError(404, "NOT_FOUND", "no such endpoint")
            origin = self.headers.get("Origin")
            if origin not in self.portal.origins:  # same-origin pages only
                raise DemoError(403, "ORIGIN_NOT_ALLOWED", "not this portal's page")
            self.reply(200, route(self.portal, self.read_json(), origin))
        except DemoError as e:
            self.reply(e.status, {"error": {"code": e.code, "message": str(e)}})

    def read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise DemoError(413, "PAYLOAD_TOO_LARGE", "body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise bad("the body is not JSON")
        if not isinstance(body, dict):
            raise bad("the body is not a JSON object")
        return body

    def reply(self, status, obj):
        data = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", default=os.path.join(SRC, "web-api"), help="the directory served")
    ap.add_argument("--ca", required=True, help="the demo CA directory (ca.pem, ca.key)")
    ap.add_argument("--so-pin", default="12345678", help="the unblock code released for PIN reset")
    ap.add_argument("--initial-pin", default="123456", help="the CA's initial PIN set by a PIN reset")
    ap.add_argument("--trust", action="append", default=[], help="another CA certificate whose users may log in")
    a = ap.parse_args()
    origins = {f"http://{a.bind}:{a.port}", f"http://localhost:{a.port}"}
    Handler.portal = Portal(a.ca, a.so_pin, a.initial_pin, origins, a.trust)
    handler = lambda *args, **kw: Handler(*args, directory=a.root, **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer((a.bind, a.port), handler)
    server.daemon_threads = True
    print(f"demo portal on http://{a.bind}:{a.port}/demo/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
