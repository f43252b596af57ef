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
    POST /demo-api/bid/seal       {certificate, data, rsaPadding?}
                                  -> {cms, format, scheme, sha256, size, recipient, fingerprintSha256}:
                                  a bid file sealed to the bidder's encryption certificate for the
                                  bid opening (开标解密), see seal_bid

  the demo RA's remote download (远程下载) of a first certificate onto a blank token:
    POST /demo-api/ra/codes       {subject, keyType}       -> a new download authorization code
                                  (证书下载授权码) bound to the subject (and key type, or "auto")
    POST /demo-api/ra/list        {}                       -> {codes: [...]} for the RA staff page
    POST /demo-api/ra/lookup      {code}                   -> {code, subject, subjectText, keyType,
                                                               validityDays, state}
    POST /demo-api/ra/issue       {code, csr}              -> {certificate, chain, validityDays,
                                  encryption?: {certificate, envelopedKey}}: the CSR must name
                                  exactly the code's subject and verify; SM2 gets a double
                                  certificate (the encryption key enveloped to the CSR's key)

    GET  /keybridge.classic.js    the classic-script build of ROOT/keybridge.js, made on each
                                  request with node and web-api/build-classic.mjs (it is
                                  not kept in git, and a copy left in ROOT may be stale)

The CA is the one tests/fixtures/make-token.sh made for the demo token
(DIR/ca/ca.pem and ca.key). An issued certificate keeps the CSR's subject.
SM2 requests (the SKF token's) are checked with the GM/T ID, their GM/T 0010
proofs with docs/examples/verify-gmt-signed-data.py. With --sm2-ca, SM2
certificates of the remote download come from that SM2 CA (signed
SM2-with-SM3 with the GM/T ID), else from the RSA CA; a download code is
single-use (the same CSR may ask again and gets the same certificates, in
case the first answer was lost), codes live as long as the server runs.
Errors are {"error": {"code", "message"}} like the daemon's.

    demo_portal.py --port 27183 --root web-api --ca build/demo/tokens/ca \
        --sm2-ca build/demo/skf/ca --demo-code-file build/demo/download-code
"""
import argparse
import base64
import datetime
import hashlib
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
GMT_ENVELOPE = os.path.join(SRC, "docs", "examples", "make-gmt-enveloped-data.py")
SKF_HELPERS = os.path.join(SRC, "tests", "skfsoft", "skf.py")   # enveloped_key(): the KMC's ENVELOPEDKEYBLOB
GMT_ID_OPTS = ["-vfyopt", "distid:1234567812345678"]   # how openssl checks an SM2 signature with the GM/T ID
MAX_BODY = 1 << 20
CHALLENGE_TTL = 120
HASHES = {"SHA256": "-sha256", "SHA384": "-sha384", "SHA512": "-sha512", "SM3": "-sm3"}
VALIDITY_DAYS = 1822            # what the RA's manual shows for a downloaded certificate (5 years)
# The subject members of enrollment.request, in the order the RA shows them,
# with their attribute OIDs and X.520 upper bounds.
SUBJECT_FIELDS = [("C", "2.5.4.6", 2), ("ST", "2.5.4.8", 128), ("L", "2.5.4.7", 128), ("O", "2.5.4.10", 64),
                  ("OU", "2.5.4.11", 64), ("CN", "2.5.4.3", 64), ("serialNumber", "2.5.4.5", 64),
                  ("emailAddress", "1.2.840.113549.1.9.1", 255)]
FIELD_OF_OID = {oid: name for name, oid, _ in SUBJECT_FIELDS}
KEY_TYPES = ("RSA-2048", "RSA-3072", "EC-P256", "EC-P384", "SM2")
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"   # no 0/O, 1/I: read aloud over the phone
DEMO_SUBJECT = {"C": "CN", "ST": "山东省", "L": "济南市", "O": "阳光采购测试有限公司", "OU": "投标部", "CN": "孙七"}
BID_MAX = 512 * 1024            # what the portal takes as one bid file
# the key transport of an RSA recipient: PKCS#1 v1.5 (openssl's default) or OAEP (SHA-1, MGF1-SHA-1)
RSA_PADDINGS = {"pkcs1": ("RSA-PKCS1", []), "oaep": ("RSA-OAEP", ["-keyopt", "rsa_padding_mode:oaep"])}
ENCRYPTION_USAGES = ("Key Encipherment", "Data Encipherment", "Key Agreement")
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

    def __init__(self, ca_dir, so_pin, initial_pin, origins, trust=(), sm2_ca=None):
        self.ca_cert = os.path.join(ca_dir, "ca.pem")
        self.ca_key = os.path.join(ca_dir, "ca.key")
        self.sm2_ca = (os.path.join(sm2_ca, "ca.pem"), os.path.join(sm2_ca, "ca.key")) if sm2_ca else None
        self.codes = {}     # download authorization code -> DownloadCode
        # the CAs whose users may log in: the demo CA and any other (the SM2 token's)
        self.trusted = os.path.join(ca_dir, "trusted.pem")
        with open(self.trusted, "w") as out:
            for path in (self.ca_cert, *trust, *([self.sm2_ca[0]] if self.sm2_ca else [])):
                with open(path) as f:
                    out.write(f.read())
        self.so_pin, self.initial_pin = so_pin, initial_pin
        self.origins = origins
        self.challenges = {}
        self.lock = threading.Lock()
        self.verifier = load_example(VERIFIER)
        self.gmt = load_example(GMT_VERIFIER)
        self.skf = load_example(SKF_HELPERS)
        self.gmt_envelope = load_example(GMT_ENVELOPE)

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

    # ---- the RA: remote download (远程下载) of a first certificate ----

    def new_code(self, body, origin):
        """RA staff: a download authorization code for the subject (and key type)."""
        subject = clean_subject(body.get("subject"))
        key_type = body.get("keyType") or "auto"
        if key_type != "auto" and key_type not in KEY_TYPES:
            raise bad("keyType must be auto or one of " + ", ".join(KEY_TYPES))
        with self.lock:
            while True:
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
                if code not in self.codes:
                    break
            self.codes[code] = DownloadCode(code, subject, key_type)
            return self.codes[code].view()

    def list_codes(self, body, origin):
        with self.lock:
            return {"codes": [c.view() for c in sorted(self.codes.values(), key=lambda c: -c.created)]}

    def lookup(self, body, origin):
        """The user's page: what the code authorizes (证书主题, 有效期)."""
        with self.lock:
            entry = self._code(body)
            if entry.state == "used":
                raise DemoError(409, "CODE_USED", "this download code was used already")
            return entry.view()

    def _code(self, body):
        code = normal_code(text_field(body, "code"))
        entry = self.codes.get(code)
        if not entry:
            raise DemoError(404, "CODE_UNKNOWN", "no such download code")
        return entry

    def download(self, body, origin):
        """Issues the certificate (and for SM2 the encryption certificate and
        its key in an envelope) for a CSR that names exactly the code's
        subject. The code is used up by the first issue; the same CSR asking
        again gets the same answer."""
        csr = text_field(body, "csr")
        with Workdir() as w:
            csr_path = w.file("req.csr", csr)
            text = openssl("req", "-in", csr_path, "-noout", "-text").stdout.decode(errors="replace")
            der = openssl("req", "-in", csr_path, "-outform", "DER").stdout
            if not der or not text:
                raise DemoError(400, "CSR_INVALID", "csr is not a PEM certificate request")
            vfy = GMT_ID_OPTS if "SM2-with-SM3" in text else []
            checked = openssl("req", "-in", csr_path, "-verify", "-noout", *vfy)
            if checked.returncode or b"verify OK" not in checked.stdout + checked.stderr:
                raise DemoError(400, "CSR_INVALID", "the CSR's signature does not verify")
            key_type = csr_key_type(text)
            pub_der = openssl("req", "-in", csr_path, "-noout", "-pubkey").stdout
            pub_id = hashlib.sha256(pub_der).hexdigest()
            with self.lock:
                entry = self._code(body)
                if entry.state == "used":
                    if entry.issued_to == pub_id:
                        return entry.answer
                    raise DemoError(409, "CODE_USED", "this download code was used already")
                if entry.state == "issuing":
                    raise DemoError(409, "CODE_BUSY", "this download code is being used right now")
                want = subject_pairs(entry.subject)
                got = csr_subject_pairs(self.gmt, der)
                if sorted(want) != sorted(got):
                    raise DemoError(400, "SUBJECT_MISMATCH",
                                    f"the CSR names {pairs_text(got)}, the code {pairs_text(want)}")
                if key_type is None or (entry.key_type != "auto" and key_type != entry.key_type):
                    raise DemoError(400, "KEY_TYPE_MISMATCH",
                                    f"the CSR's key is {key_type or 'of no supported type'}, the code's {entry.key_type}")
                entry.state = "issuing"
            try:
                answer = self._issue_download(w, csr_path, vfy, key_type)
            except BaseException:
                with self.lock:
                    entry.state = "unused"
                raise
            with self.lock:
                entry.state, entry.issued_to, entry.answer = "used", pub_id, answer
                entry.serial = answer.pop("_serial")
                entry.used = time.time()
            return answer

    def _issue_download(self, w, csr_path, vfy, key_type):
        sm2 = key_type == "SM2"
        ca_cert, ca_key = self.sm2_ca if sm2 and self.sm2_ca else (self.ca_cert, self.ca_key)
        sig = ["-sm3", "-sigopt", "distid:1234567812345678"] if sm2 and self.sm2_ca else ["-sha256"]

        def issue(name, usage, extra=()):
            ext = w.file(name + ".cnf", "basicConstraints = critical, CA:false\n"
                         f"keyUsage = critical, {usage}\n"
                         "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n")
            serial = secrets.token_hex(16)
            out = w.file(name + ".pem")
            r = openssl("x509", "-req", "-in", csr_path, *vfy, *extra, "-CA", ca_cert, "-CAkey", ca_key,
                        "-set_serial", "0x" + serial, "-days", str(VALIDITY_DAYS), *sig, "-extfile", ext,
                        "-out", out)
            if r.returncode:
                raise DemoError(500, "CA_FAILED", r.stderr.decode().strip())
            with open(out) as f:
                return f.read(), serial

        cert, serial = issue("sign", "digitalSignature, nonRepudiation")
        with open(ca_cert) as f:
            answer = {"certificate": cert, "chain": [f.read()], "validityDays": VALIDITY_DAYS, "_serial": serial}
        if sm2:
            # the KMC's part: a fresh encryption pair, its certificate, and the
            # private key in an ENVELOPEDKEYBLOB to the CSR's (the new container's) key
            enc_key = openssl("genpkey", "-algorithm", "SM2").stdout
            enc_pub = openssl("pkey", "-pubout", input=enc_key).stdout
            if not enc_key or not enc_pub:
                raise DemoError(500, "CA_FAILED", "cannot make the encryption key pair")
            enc_cert, _ = issue("enc", "keyEncipherment, dataEncipherment",
                                ["-force_pubkey", w.file("enc-pub.pem", enc_pub)])
            sign_pub = openssl("req", "-in", csr_path, "-noout", "-pubkey").stdout
            blob, _ = self.skf.enveloped_key(sign_pub, enc_key)
            answer["encryption"] = {"certificate": enc_cert,
                                    "envelopedKey": base64.b64encode(bytes(blob)).decode()}
        return answer

    # ---- bid opening (开标解密): a bid sealed to the bidder's encryption certificate ----

    def seal_bid(self, body, origin):
        """Seals a bid file to the bidder's encryption certificate, as a
        tendering portal's server does at submission: CMS EnvelopedData
        (openssl cms -encrypt, AES-256-CBC) for RSA (key transport, PKCS#1
        v1.5 or OAEP) and EC (ECDH key agreement), GM/T 0010 EnvelopedData
        for SM2 (docs/examples/make-gmt-enveloped-data.py). Only the token
        holding the certificate's key opens it at the bid opening; the
        SHA-256 of the bid is what the opened plaintext is checked against."""
        plain = b64decode(body.get("data", ""), "data")
        if not plain or len(plain) > BID_MAX:
            raise bad(f"data must hold 1 to {BID_MAX} bytes")
        with Workdir() as w:
            cert_path = w.file("recipient.pem", text_field(body, "certificate"))
            der = openssl("x509", "-in", cert_path, "-outform", "DER").stdout
            if not der:
                raise bad("certificate is not a PEM certificate")
            key_type = self._encryption_key_type(cert_path)
            if key_type == "SM2":
                cms, fmt, scheme = self.gmt_envelope.envelope(der, plain), "gmt0010", "SM2"
            else:
                cms, scheme = self._cms_envelope(w, cert_path, plain, key_type, body.get("rsaPadding"))
                fmt = "cms"
            subject = openssl("x509", "-in", cert_path, "-noout", "-subject", "-nameopt", "utf8").stdout
        return {"cms": base64.b64encode(cms).decode(), "format": fmt, "scheme": scheme,
                "sha256": hashlib.sha256(plain).hexdigest(), "size": len(plain),
                "recipient": subject.decode().strip().removeprefix("subject="),
                "fingerprintSha256": hashlib.sha256(der).hexdigest()}

    def _encryption_key_type(self, cert_path):
        """RSA, EC or SM2, for a certificate whose key usage allows
        encryption (or that has none); else the bid is refused."""
        text = openssl("x509", "-in", cert_path, "-noout", "-text").stdout.decode(errors="replace")
        usage = openssl("x509", "-in", cert_path, "-noout", "-ext", "keyUsage").stdout.decode()
        if usage.strip() and not any(u in usage for u in ENCRYPTION_USAGES):
            raise DemoError(400, "NOT_ENCRYPTION_CERTIFICATE", "the certificate's key usage does not allow encryption")
        if "rsaEncryption" in text:
            return "RSA"
        if "ASN1 OID: SM2" in text:
            return "SM2"
        if "id-ecPublicKey" in text:
            return "EC"
        raise DemoError(400, "UNSUPPORTED_ALGORITHM", "the certificate's key is not RSA, EC or SM2")

    def _cms_envelope(self, w, cert_path, plain, key_type, padding):
        """DER CMS EnvelopedData to the certificate; (envelope, scheme)."""
        scheme, keyopt = "ECDH", []
        if key_type == "RSA":
            if (padding or "pkcs1") not in RSA_PADDINGS:
                raise bad("rsaPadding must be pkcs1 or oaep")
            scheme, keyopt = RSA_PADDINGS[padding or "pkcs1"]
        out = w.file("bid.cms")
        r = openssl("cms", "-encrypt", "-binary", "-aes-256-cbc", "-in", w.file("bid", plain),
                    "-recip", cert_path, *keyopt, "-outform", "DER", "-out", out)
        if r.returncode:
            raise DemoError(500, "SEAL_FAILED", r.stderr.decode(errors="replace").strip())
        with open(out, "rb") as f:
            return f.read(), scheme

    # ---- PIN reset: the server releases the SO PIN after checking the user ----

    def unblock_code(self, body, origin):
        text_field(body, "token")
        return {"unblockCode": self.so_pin, "newPin": self.initial_pin}


class DownloadCode:
    """A download authorization code (证书下载授权码) and what it allows."""

    def __init__(self, code, subject, key_type):
        self.code, self.subject, self.key_type = code, subject, key_type
        self.created, self.used = time.time(), None
        self.state = "unused"            # issuing, used
        self.issued_to = self.answer = self.serial = None

    def view(self):
        return {"code": grouped(self.code), "subject": self.subject, "subjectText": subject_text(self.subject),
                "keyType": self.key_type, "validityDays": VALIDITY_DAYS, "state": self.state,
                "created": iso(self.created), "used": iso(self.used) if self.used else None,
                "certificateSerial": self.serial}


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def grouped(code):
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normal_code(text):
    """What the user typed, without spaces and dashes, in capitals."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def clean_subject(subject):
    """The subject members the RA accepts, as enrollment.request takes them:
    known names, non-empty UTF-8 strings within X.520's bounds (OU may be a
    list), CN required, C two capital letters."""
    if not isinstance(subject, dict):
        raise bad("subject must be an object")
    known = {name: bound for name, _, bound in SUBJECT_FIELDS}
    out = {}
    for name, value in subject.items():
        if name not in known:
            raise bad(f"subject.{name} is not a subject field the RA knows")
        values = value if name == "OU" and isinstance(value, list) else [value]
        kept = []
        for v in values:
            if not isinstance(v, str):
                raise bad(f"subject.{name} must be a string")
            v = v.strip()
            if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in v) or len(v) > known[name]:
                raise bad(f"subject.{name} is too long or holds control characters")
            if v:
                kept.append(v)
        if kept:
            out[name] = kept if name == "OU" and len(kept) > 1 else kept[0]
    if "CN" not in out:
        raise bad("subject.CN is required")
    if "C" in out and not (len(out["C"]) == 2 and out["C"].isascii() and out["C"].isupper()):
        raise bad("subject.C must be two capital letters (CN)")
    return {name: out[name] for name, _, _ in SUBJECT_FIELDS if name in out}


def subject_pairs(subject):
    return [(name, v) for name, _, _ in SUBJECT_FIELDS if name in subject
            for v in (subject[name] if isinstance(subject[name], list) else [subject[name]])]


def pairs_text(pairs):
    return ", ".join(f"{n}={v}" for n, v in reversed(pairs)) or "(empty)"


def subject_text(subject):
    """One line, most specific first (CN=…, OU=…, O=…, …, C=CN)."""
    return pairs_text(subject_pairs(subject))


STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be",
               0x1C: "utf-32-be"}


def csr_subject_pairs(gmt, der):
    """The subject of a DER CSR as (name, text) pairs, in its order; an
    attribute the RA does not know comes as its OID, so it never matches."""
    _, s, e = gmt.der_tlv(der)
    info = gmt.der_children(der, s, e)[0]
    name = gmt.der_children(der, info[2], info[3])[1]
    pairs = []
    for _, _, rs, re_ in gmt.der_children(der, name[2], name[3]):            # RDN: SET
        for _, _, avs, ave in gmt.der_children(der, rs, re_):              # AttributeTypeAndValue
            (_, _, os_, oe), (tag, _, vs, ve) = gmt.der_children(der, avs, ave)
            oid = gmt.oid_text(der[os_:oe])
            try:
                text = der[vs:ve].decode(STRING_TAGS[tag])
            except (KeyError, UnicodeDecodeError):
                text = der[vs:ve].hex()
            pairs.append((FIELD_OF_OID.get(oid, oid), text))
    return pairs


def csr_key_type(text):
    """The enrollment key type of the CSR's key, from `openssl req -text`."""
    if "rsaEncryption" in text:
        bits = {"Public-Key: (2048 bit)": "RSA-2048", "Public-Key: (3072 bit)": "RSA-3072"}
        return next((t for k, t in bits.items() if k in text), None)
    curves = {"ASN1 OID: prime256v1": "EC-P256", "ASN1 OID: secp384r1": "EC-P384", "ASN1 OID: SM2": "SM2"}
    return next((t for k, t in curves.items() if k in text), None)


ROUTES = {
    "/demo-api/challenge": Portal.challenge,
    "/demo-api/login": Portal.login,
    "/demo-api/verify": Portal.verify,
    "/demo-api/ca/issue": Portal.issue,
    "/demo-api/unblock-code": Portal.unblock_code,
    "/demo-api/bid/seal": Portal.seal_bid,
    "/demo-api/ra/codes": Portal.new_code,
    "/demo-api/ra/list": Portal.list_codes,
    "/demo-api/ra/lookup": Portal.lookup,
    "/demo-api/ra/issue": Portal.download,
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
    ap.add_argument("--sm2-ca", help="an SM2 CA directory (ca.pem, ca.key) for SM2 remote downloads")
    ap.add_argument("--demo-code-file", help="make one download code for a demo subject at start and write it here")
    a = ap.parse_args()
    origins = {f"http://{a.bind}:{a.port}", f"http://localhost:{a.port}"}
    Handler.portal = Portal(a.ca, a.so_pin, a.initial_pin, origins, a.trust, a.sm2_ca)
    if a.demo_code_file:
        made = Handler.portal.new_code({"subject": DEMO_SUBJECT}, None)
        with open(a.demo_code_file + ".tmp", "w") as f:
            f.write(f"{made['code']}\n{made['subjectText']}\n")
        os.replace(a.demo_code_file + ".tmp", a.demo_code_file)
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
