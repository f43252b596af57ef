"""What the SKF integration tests share: an openssl SM2 CA that signs with
the GM/T ID, a token provisioned the way a CA's issuing software does it,
and checks of SM2 signatures with the openssl CLI."""
import ctypes
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
from skf import HANDLE, SGD_SM2_1, ULONG, USER, PubBlob, child_env, enveloped_key, pub_pem  # noqa: E402

import kbtest  # noqa: E402


def _load_example(name):
    path = os.path.join(HERE, "..", "..", "docs", "examples", name)
    spec = importlib.util.spec_from_file_location(name.replace("-", "_")[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The GM/T 0010 checks a portal runs (docs/examples), and their DER helpers.
_gmt = _load_example("verify-gmt-signed-data.py")
der_tlv, der_children, oid_text, sm2_verifies = _gmt.der_tlv, _gmt.der_children, _gmt.oid_text, _gmt.sm2_verifies
gmt_signed_data_problems = _gmt.problems

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
              cn="GM User", encryption=True, sign_alg=SGD_SM2_1):
    """An application GMCA (admin PIN 12345678, user PIN changed from the
    CA's initial PIN to pin), a container with a signature key pair and
    its certificate, and (with encryption) an encryption key pair delivered
    in an ENVELOPEDKEYBLOB with its certificate. sign_cert_pub: certify this
    public key instead of the container's (a certificate that does not
    match the key). sign_alg: the device's SGD_SM2_1. Returns (signature cert DER, encryption cert DER or None)."""
    dev = skf.connect(device)
    skf.dev_auth(dev)
    app, c, pub = HANDLE(), HANDLE(), PubBlob()
    skf.CreateApplication(dev, b"GMCA", b"12345678", 10, initial, 6, 0x10, ctypes.byref(app))
    skf.VerifyPIN(app, USER, initial, ctypes.byref(ULONG()))
    if pin != initial:
        skf.ChangePIN(app, USER, initial, pin, ctypes.byref(ULONG()))
    skf.CreateContainer(app, container, ctypes.byref(c))
    skf.GenECCKeyPair(c, sign_alg, ctypes.byref(pub))
    sign_der = ca.issue(sign_cert_pub or pub_pem(pub), cn, "digitalSignature,nonRepudiation")
    skf.ImportCertificate(c, True, buf(sign_der), len(sign_der))
    enc_der = None
    if encryption:
        enc_key, enc_pub = sm2_key_pair()
        blob, _ = enveloped_key(pub, enc_key)
        skf.ImportECCKeyPair(c, ctypes.byref(blob))
        enc_der = ca.issue(enc_pub, cn, "keyEncipherment,dataEncipherment")
        skf.ImportCertificate(c, False, buf(enc_der), len(enc_der))
    skf.CloseContainer(c)
    skf.CloseApplication(app)
    skf.DisConnectDev(dev)
    return sign_der, enc_der


def blank_application(skf, device, pin=b"11223344", initial=b"123456"):
    """A device as a CA's tool formats it for an enrollment: an application
    GMCA with its PINs (administrator 12345678; the user's own, set in place
    of the CA's initial PIN, which must be changed first), no container."""
    dev = skf.connect(device)
    skf.dev_auth(dev)
    app = HANDLE()
    skf.CreateApplication(dev, b"GMCA", b"12345678", 10, initial, 6, 0x10, ctypes.byref(app))
    skf.ChangePIN(app, USER, initial, pin, ctypes.byref(ULONG()))
    skf.CloseApplication(app)
    skf.DisConnectDev(dev)


def skf_dirs(prefix):
    """A temporary directory for a suite: (it, the devices' root, the
    control file's path), both set in this process's environment, where the
    software SKF library the suite loads itself reads them (once)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    root, control = os.path.join(tmp, "skf"), os.path.join(tmp, "control")
    os.makedirs(root)
    os.environ["KB_SKFSOFT_DIR"], os.environ["KB_SKFSOFT_CONTROL"] = root, control
    return tmp, root, control


def skf_daemon(tmp, root, control, page_pin_origin, library, extra=(), env=None):
    """A daemon (not started) on the software SKF library at library, its
    devices in root, its control file control; page_pin_origin may send the
    PIN in the request (no dialogs); an empty SoftHSM2 beside it, so that
    no PKCS#11 token of the machine shows."""
    sysconf = os.path.join(tmp, "keybridge.conf")
    with open(sysconf, "w") as f:
        f.write(f"page-pin-origin = {page_pin_origin}\nallow-origin = {page_pin_origin}\n")
    hsm = os.path.join(tmp, "hsm")
    os.makedirs(os.path.join(hsm, "tokens"), exist_ok=True)
    with open(os.path.join(hsm, "softhsm2.conf"), "w") as f:
        f.write(f"directories.tokendir = {hsm}/tokens\nobjectstore.backend = file\n")
    env = dict(child_env(), **(env or {}), KB_SKFSOFT_DIR=root, KB_SKFSOFT_CONTROL=control,
               KEYBRIDGE_SYSTEM_CONFIG=sysconf, SOFTHSM2_CONF=os.path.join(hsm, "softhsm2.conf"))
    return kbtest.Daemon(tls=False, env=env, extra=["--skf-library", library, "--pin-cooldown", "0", *extra])


def wait_token(daemon, serial, timeout=10):
    """The daemon's listing of the token with this serial, once it shows
    (None if it never does), and the last listing."""
    deadline, body = time.time() + timeout, {}
    while time.time() < deadline:
        st, _, body = daemon.get("/v1/tokens")
        found = [t for t in body.get("tokens", []) if t.get("serial") == serial]
        if found:
            return found[0], body
        time.sleep(0.05)
    return None, body


def sm2_key_pair():
    """A fresh SM2 key pair, as the KMC makes an encryption pair: (private PEM, public PEM)."""
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True, check=True).stdout
    pub = subprocess.run(["openssl", "pkey", "-pubout"], input=key, capture_output=True, check=True).stdout
    return key, pub


def cert_pubkey_pem(der):
    return subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"], input=der,
                          capture_output=True, check=True).stdout
