"""Shared parts of the renewal tests: a test CA that issues certificates from
the daemon's CSRs with the openssl CLI, the way a CA would, and a look at
the token's objects straight through SoftHSM2."""
import base64
import os
import subprocess
import tempfile
import time

import kbtest


def run(*args, input=None):
    return subprocess.run(list(args), input=input, capture_output=True, check=True)


class TestCA:
    """The CA make-token.sh made for the token directory (ca/ca.pem, ca.key)."""

    def __init__(self, tokens):
        self.dir = os.path.join(tokens.path, "ca")
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca.key")
        self.tmp = tempfile.mkdtemp(prefix="kb-ca-")

    def pem(self):
        with open(self.cert) as f:
            return f.read()

    def issue(self, csr_pem, days="365", start=None, end=None,
              key_usage="critical, digitalSignature, nonRepudiation"):
        """A certificate for the CSR's subject and key; the CSR's signature is
        checked first, as a CA does."""
        n = len(os.listdir(self.tmp))
        csr, ext, out = (os.path.join(self.tmp, f"{n}.{suffix}") for suffix in ("csr", "ext", "pem"))
        with open(csr, "w") as f:
            f.write(csr_pem)
        with open(ext, "w") as f:
            f.write(f"basicConstraints = critical, CA:false\nkeyUsage = {key_usage}\n"
                    "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n")
        run("openssl", "req", "-in", csr, "-verify", "-noout")
        # openssl ca, as make-token.sh does: any validity window, past included
        run("openssl", "ca", "-config", os.path.join(self.dir, "openssl.cnf"), "-batch", "-utf8", "-preserveDN",
            "-notext", "-in", csr, "-out", out, "-extfile", ext, "-startdate", start or utc(-3600),
            "-enddate", end or utc(int(days) * 86400))
        with open(out) as f:
            return f.read()

    def verify_proof(self, csr_pem, proof_b64, signer_pem):
        """The proof is CMS SignedData over the CSR's DER by the current key."""
        csr_der = _openssl_on(csr_pem, "req", "-outform", "DER")
        paths = {n: os.path.join(self.tmp, n) for n in ("proof.der", "csr.der", "signer.pem")}
        for name, data in (("proof.der", base64.b64decode(proof_b64)), ("csr.der", csr_der),
                           ("signer.pem", signer_pem.encode())):
            with open(paths[name], "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", paths["proof.der"], "-binary",
                            "-content", paths["csr.der"], "-CAfile", self.cert, "-purpose", "any",
                            "-certfile", paths["signer.pem"], "-out", "/dev/null"], capture_output=True)
        return r.returncode == 0


def utc(offset_s):
    """An openssl ca date offset_s seconds from now."""
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + offset_s))


def subject_of_csr(csr_pem):
    return _openssl_on(csr_pem, "req", "-noout", "-subject", "-nameopt", "RFC2253,utf8,-esc_msb").decode().strip()


def _openssl_on(pem, *args):
    """openssl with the PEM in a file (OpenSSL 3.0's x509 cannot always read "-")."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
        f.write(pem)
        f.flush()
        return run("openssl", args[0], "-in", f.name, *args[1:]).stdout


def pubkey_of(pem, kind="x509"):
    return _openssl_on(pem, kind, "-noout", "-pubkey")


def token_objects(tokens, label, pin="123456"):
    """What is on the token, as pkcs11-tool lists it straight from SoftHSM2
    (logged in, so private keys show): ({certificate serial: CKA_ID}, [private
    key CKA_IDs]). Serials are upper-case hex as openssl prints them."""
    env = dict(os.environ, SOFTHSM2_CONF=tokens.conf)
    listing = subprocess.run(["pkcs11-tool", "--module", kbtest.SOFTHSM, "--token-label", label, "-l",
                              "--pin", pin, "-O"], env=env, capture_output=True, text=True, check=True).stdout
    certs, keys, kind, serial = {}, [], None, None
    for line in listing.splitlines():
        if not line.startswith(" "):
            kind, serial = line.split(" Object")[0].strip(), None
            continue
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if kind == "Certificate" and key == "serial":
            serial = value.upper().lstrip("0")
        elif key == "ID" and kind == "Private Key":
            keys.append(value)
        elif key == "ID" and kind == "Certificate":
            certs.setdefault(serial, []).append(value)
    return certs, keys


def serial_of(pem):
    out = _openssl_on(pem, "x509", "-noout", "-serial").decode()
    return out.strip().split("=", 1)[1].upper().lstrip("0")


def pem_to_der(pem):
    return _openssl_on(pem, "x509", "-outform", "DER")
