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

    def encryption_pair(self, cn, sign_pem, key_alg=("RSA", "rsa_keygen_bits:2048"),
                        key_usage="critical, keyEncipherment, dataEncipherment", **issue):
        """The other half of a double certificate, as a CA's key management
        centre makes it: a new key pair, its certificate, and the private key
        wrapped to the signing certificate's key (envelope()). Returns (PEM,
        envelopedKey, path of the private key for the test to check with)."""
        n = len(os.listdir(self.tmp))
        key = os.path.join(self.tmp, f"{n}.enc.key")
        run("openssl", "genpkey", "-algorithm", key_alg[0], "-pkeyopt", key_alg[1], "-out", key)
        csr = run("openssl", "req", "-new", "-utf8", "-key", key, "-subj", f"/CN={cn}").stdout.decode()
        pem = self.issue(csr, key_usage=key_usage, **issue)
        return pem, envelope(sign_pem, key), key

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


def envelope(to_pem, key_path, aes_bits=256):
    """The private key at key_path wrapped to the certificate to_pem's RSA key
    the way PKCS#11 CKM_RSA_AES_KEY_WRAP does, with the openssl CLI: RSA-OAEP
    (SHA-1) of a fresh AES key, then that key's RFC 5649 key wrap of the
    private key's PKCS#8. Base64."""
    aes = os.urandom(aes_bits // 8)
    pub = pubkey_of(to_pem)
    with tempfile.TemporaryDirectory() as d:
        pub_path, aes_path = os.path.join(d, "to.pub"), os.path.join(d, "aes")
        with open(pub_path, "wb") as f:
            f.write(pub)
        with open(aes_path, "wb") as f:
            f.write(aes)
        rsa_part = run("openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pub_path, "-in", aes_path,
                       "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1",
                       "-pkeyopt", "rsa_mgf1_md:sha1").stdout
        pkcs8 = run("openssl", "pkcs8", "-topk8", "-nocrypt", "-in", key_path, "-outform", "DER").stdout
        aes_part = run("openssl", "enc", f"-id-aes{aes_bits}-wrap-pad", "-K", aes.hex(), "-iv", "A65959A6",
                       input=pkcs8).stdout
    return base64.b64encode(rsa_part + aes_part).decode()


def decrypts_on_token(tokens, label, key_id, cert_pem, pin="123456"):
    """Does the token's key key_id decrypt what was encrypted to cert_pem
    (RSA PKCS#1 v1.5, with pkcs11-tool straight through SoftHSM2)?"""
    secret = os.urandom(24)
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("pub", "in", "out")}
        with open(paths["pub"], "wb") as f:
            f.write(pubkey_of(cert_pem))
        with open(paths["in"], "wb") as f:
            f.write(run("openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", paths["pub"], input=secret).stdout)
        env = dict(os.environ, SOFTHSM2_CONF=tokens.conf)
        r = subprocess.run(["pkcs11-tool", "--module", kbtest.SOFTHSM, "--token-label", label, "-l", "--pin", pin,
                            "--decrypt", "-m", "RSA-PKCS", "--id", key_id, "-i", paths["in"], "-o", paths["out"]],
                           env=env, capture_output=True)
        if r.returncode != 0:
            return False
        with open(paths["out"], "rb") as f:
            return f.read() == secret


def key_attributes(tokens, label, key_id, pin="123456"):
    """pkcs11-tool's Usage and Access lines of the private key key_id."""
    env = dict(os.environ, SOFTHSM2_CONF=tokens.conf)
    listing = subprocess.run(["pkcs11-tool", "--module", kbtest.SOFTHSM, "--token-label", label, "-l",
                              "--pin", pin, "-O", "--type", "privkey"], env=env,
                             capture_output=True, text=True, check=True).stdout
    blocks, attrs = [], {}
    for line in listing.splitlines():
        if not line.startswith(" "):        # -O lists every key, --id or not
            attrs = {}
            blocks.append(attrs)
            continue
        key, _, value = line.strip().partition(":")
        attrs[key] = {v.strip() for v in value.split(",")} if key in ("Usage", "Access") else value.strip()
    return next(b for b in blocks if b.get("ID") == key_id)
