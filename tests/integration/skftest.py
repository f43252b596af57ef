"""What the SKF integration tests share: an openssl SM2 CA that signs with
the GM/T ID, a token provisioned the way a CA's issuing software does it,
and checks of SM2 signatures with the openssl CLI."""
import ctypes
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
from skf import HANDLE, SGD_SM2_1, ULONG, USER, PubBlob, enveloped_key, pub_pem  # noqa: E402

GMT = ["-sm3", "-sigopt", "distid:1234567812345678"]
GMT_ID = "1234567812345678"


class SM2CA:
    """An openssl SM2 CA that signs with the GM/T ID."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.key = os.path.join(tmp, "ca.key")
        self.cert = os.path.join(tmp, "ca.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", self.key], check=True)
        subprocess.run(["openssl", "req", "-new", "-x509", "-key", self.key, *GMT, "-subj", "/CN=GM Test CA",
                        "-days", "30", "-out", self.cert], check=True, capture_output=True)

    def issue(self, pub, cn, usage, days=365):
        """A certificate for the PEM public key pub; cn may be Chinese."""
        pub_path, ext, out = (os.path.join(self.tmp, n) for n in ("pub.pem", "ext", "cert.der"))
        with open(pub_path, "wb") as f:
            f.write(pub)
        with open(ext, "w") as f:
            f.write(f"keyUsage=critical,{usage}\n")
        subprocess.run(["openssl", "x509", "-new", "-subj", f"/O=keybridge test/CN={cn}", "-force_pubkey",
                        pub_path, "-CA", self.cert, "-CAkey", self.key, *GMT, "-days", str(days),
                        "-extfile", ext, "-outform", "DER", "-out", out], check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def buf(b):
    return (ctypes.c_uint8 * len(b)).from_buffer_copy(b)


def provision(skf, ca, device, pin=b"11223344", container=b"sign-2026", sign_cert_pub=None, initial=b"123456",
              cn="GM User"):
    """An application GMCA (admin PIN 12345678, user PIN changed from the
    CA's initial PIN to pin), a container with a signature key pair and
    its certificate, and an encryption key pair delivered in an
    ENVELOPEDKEYBLOB with its certificate. sign_cert_pub: certify this
    public key instead of the container's (a certificate that does not
    match the key). Returns (signature cert DER, encryption cert DER)."""
    dev = skf.connect(device)
    skf.dev_auth(dev)
    app, c, pub = HANDLE(), HANDLE(), PubBlob()
    skf.CreateApplication(dev, b"GMCA", b"12345678", 10, initial, 6, 0x10, ctypes.byref(app))
    skf.VerifyPIN(app, USER, initial, ctypes.byref(ULONG()))
    if pin != initial:
        skf.ChangePIN(app, USER, initial, pin, ctypes.byref(ULONG()))
    skf.CreateContainer(app, container, ctypes.byref(c))
    skf.GenECCKeyPair(c, SGD_SM2_1, ctypes.byref(pub))
    sign_der = ca.issue(sign_cert_pub or pub_pem(pub), cn, "digitalSignature,nonRepudiation")
    skf.ImportCertificate(c, True, buf(sign_der), len(sign_der))
    enc_key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True, check=True).stdout
    blob, _ = enveloped_key(pub, enc_key)
    skf.ImportECCKeyPair(c, ctypes.byref(blob))
    enc_pub = subprocess.run(["openssl", "pkey", "-pubout"], input=enc_key, capture_output=True,
                             check=True).stdout
    enc_der = ca.issue(enc_pub, cn, "keyEncipherment,dataEncipherment")
    skf.ImportCertificate(c, False, buf(enc_der), len(enc_der))
    skf.CloseContainer(c)
    skf.CloseApplication(app)
    skf.DisConnectDev(dev)
    return sign_der, enc_der


def cert_pubkey_pem(der):
    return subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"], input=der,
                          capture_output=True, check=True).stdout


def sm2_verifies(cert_der, message, sig_der, ident=GMT_ID):
    """openssl's word on an SM2-SM3 signature of message with the ID."""
    with tempfile.TemporaryDirectory() as t:
        paths = {n: os.path.join(t, n) for n in ("pub.pem", "msg", "sig")}
        for name, data in (("pub.pem", cert_pubkey_pem(cert_der)), ("msg", message), ("sig", sig_der)):
            with open(paths[name], "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["pub.pem"], "-rawin",
                            "-digest", "sm3", "-pkeyopt", "distid:" + ident, "-in", paths["msg"],
                            "-sigfile", paths["sig"]], capture_output=True)
        return r.returncode == 0


def der_tlv(der, i=0):
    """(tag, start of value, end of value) of the DER item at i."""
    tag, n = der[i], der[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(der[j:j + k], "big")
        j += k
    return tag, j, j + n


def der_children(der, start, end):
    """The items between start and end as (tag, item start, value start, value end)."""
    out, i = [], start
    while i < end:
        tag, vs, ve = der_tlv(der, i)
        out.append((tag, i, vs, ve))
        i = ve
    return out


def oid_text(value):
    """Dotted text of an OID's content bytes."""
    first = value[0]
    parts, n = [first // 40, first % 40], 0
    for b in value[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))
