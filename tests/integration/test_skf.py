#!/usr/bin/env python3
"""The SKF backend over the project's software SKF token: the real daemon
loads the library with --skf-library and lists an SM2 token like a PKCS#11
one — DEVINFO's serial as serial and hardware id, the signature and
encryption certificates of each container, the PIN state with the exact
tries left and the default-PIN flag as mustChange — follows device events,
and refuses what the backend cannot do yet with UNSUPPORTED_ALGORITHM."""
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
import kbtest  # noqa: E402
from skf import (HANDLE, SGD_SM2_1, ULONG, USER, PubBlob, Skf, child_env, enveloped_key,  # noqa: E402
                 make_device, pub_pem, reexec_with_preload, set_present)

LIB = os.environ.get("KB_SKFSOFT_SO")
NOT_SKF = subprocess.run(["sh", "-c", "ls /usr/lib/*/libjansson.so.4 | head -1"], capture_output=True,
                         text=True).stdout.strip()      # a library, but not an SKF one
GMT = ["-sm3", "-sigopt", "distid:1234567812345678"]


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


class SkfTokens(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-skf-")
        cls.root = os.path.join(cls.tmp, "skf")
        os.makedirs(cls.root)
        os.environ["KB_SKFSOFT_DIR"] = cls.root
        os.environ.pop("KB_SKFSOFT_CONTROL", None)
        cls.skf = Skf(LIB)
        cls.ca = SM2CA(cls.tmp)
        make_device(cls.root, "gmkey", "GM2026110001", "SM2 test key")
        cls.provision()
        hsm = os.path.join(cls.tmp, "hsm")
        os.makedirs(os.path.join(hsm, "tokens"))
        with open(os.path.join(hsm, "softhsm2.conf"), "w") as f:
            f.write(f"directories.tokendir = {hsm}/tokens\nobjectstore.backend = file\n")
        env = dict(child_env(), KB_SKFSOFT_DIR=cls.root, SOFTHSM2_CONF=os.path.join(hsm, "softhsm2.conf"))
        cls.d = kbtest.Daemon(tls=False, env=env,
                              extra=["--skf-library", LIB, "--skf-library", "/nonexistent/libskf.so",
                                     "--skf-library", NOT_SKF, "--poll-interval-ms", "200"])
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def provision(cls):
        """What a CA's issuing software does: an application, a container
        with a signature key pair and certificate, an encryption key pair
        delivered in an ENVELOPEDKEYBLOB with its certificate."""
        s = cls.skf
        dev = s.connect("gmkey")
        s.dev_auth(dev)
        app, c, pub = HANDLE(), HANDLE(), PubBlob()
        s.CreateApplication(dev, b"GMCA", b"12345678", 10, b"123456", 6, 0x10, ctypes.byref(app))
        s.VerifyPIN(app, USER, b"123456", ctypes.byref(ULONG()))
        s.ChangePIN(app, USER, b"123456", b"11223344", ctypes.byref(ULONG()))     # no longer the default
        s.CreateContainer(app, b"sign-2026", ctypes.byref(c))
        s.GenECCKeyPair(c, SGD_SM2_1, ctypes.byref(pub))
        cls.sign_der = cls.ca.issue(pub_pem(pub), "GM User", "digitalSignature,nonRepudiation")
        s.ImportCertificate(c, True, (ctypes.c_uint8 * len(cls.sign_der)).from_buffer_copy(cls.sign_der),
                            len(cls.sign_der))
        enc_key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True,
                                 check=True).stdout
        blob, _ = enveloped_key(pub, enc_key)
        s.ImportECCKeyPair(c, ctypes.byref(blob))
        enc_pub = subprocess.run(["openssl", "pkey", "-pubout"], input=enc_key, capture_output=True,
                                 check=True).stdout
        cls.enc_der = cls.ca.issue(enc_pub, "GM User", "keyEncipherment,dataEncipherment")
        s.ImportCertificate(c, False, (ctypes.c_uint8 * len(cls.enc_der)).from_buffer_copy(cls.enc_der),
                            len(cls.enc_der))
        s.CloseContainer(c)
        s.CloseApplication(app)
        s.DisConnectDev(dev)

    def skf_token(self, timeout=10, present=True):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, body = self.d.get("/v1/tokens")
            self.assertEqual(st, 200, body)
            found = [t for t in body["tokens"] if t.get("serial") == "GM2026110001"]
            if bool(found) == present:
                return found[0] if found else None
            time.sleep(0.05)
        self.fail(f"the SKF token {'never showed' if present else 'stayed'}: {body}")

    def wrong_pin(self, n):
        app = self.skf.open(self.skf.connect("gmkey"), "Application", "GMCA")
        for _ in range(n):
            try:
                self.skf.VerifyPIN(app, USER, b"000000", ctypes.byref(ULONG()))
            except Exception:
                pass

    def test_the_device_is_a_token_with_its_two_certificates(self):
        t = self.skf_token()
        self.assertEqual((t["label"], t["hardwareId"]), ("SM2 test key", "GM2026110001"))
        certs = {c["usage"]: c for c in t["certificates"]}
        self.assertEqual(set(certs), {"sign", "encrypt"}, t)
        for usage, der in (("sign", self.sign_der), ("encrypt", self.enc_der)):
            c = certs[usage]
            self.assertEqual(c["keyType"], "SM2", c)
            self.assertEqual(c["subjectFields"]["CN"], "GM User")
            self.assertTrue(c["hasPrivateKey"], c)
            pem = subprocess.run(["openssl", "x509", "-inform", "DER"], input=der, capture_output=True,
                                 check=True).stdout.decode()
            st, _, one = self.d.get(f"/v1/tokens/{t['id']}/certificates/{c['id']}")
            self.assertEqual(st, 200, one)
            self.assertEqual(one["pem"].strip(), pem.strip())
        self.assertEqual((t["pin"]["status"], t["pin"]["retriesLeft"]), ("ok", 6), t["pin"])

    def test_info_lists_the_libraries_and_why_one_did_not_load(self):
        self.skf_token()
        st, _, info = self.d.get("/v1/info")
        self.assertEqual(st, 200, info)
        skf = info["backends"][1]
        self.assertEqual(skf["libraries"], [LIB, "/nonexistent/libskf.so", NOT_SKF])
        mods = {m["path"]: m for m in skf["modules"]}
        self.assertEqual((mods[LIB]["status"], mods[LIB]["tokens"]), ("ok", 1), mods[LIB])
        self.assertEqual(mods["/nonexistent/libskf.so"]["status"], "failed")
        self.assertIn("No such file", mods["/nonexistent/libskf.so"]["error"]["detail"])
        self.assertIn("not an SKF library", mods[NOT_SKF]["error"]["detail"])
        self.assertEqual(info["backends"][0]["modules"][0]["tokens"], 0)   # no SKF token among PKCS#11's

    def test_the_pin_state_follows_the_token(self):
        self.skf_token()
        self.wrong_pin(2)
        deadline = time.time() + 10
        while time.time() < deadline:
            pin = self.skf_token()["pin"]
            if pin.get("retriesLeft") == 4:
                break
            time.sleep(0.1)
        self.assertEqual((pin["status"], pin["retriesLeft"]), ("countLow", 4), pin)
        app = self.skf.open(self.skf.connect("gmkey"), "Application", "GMCA")
        # unblocked by the administrator to the CA's initial PIN: a default PIN
        self.skf.UnblockPIN(app, b"12345678", b"123456", ctypes.byref(ULONG()))
        self.assertEqual(self.pin_when(lambda p: p["status"] != "countLow")["status"], "mustChange")
        self.skf.ChangePIN(app, USER, b"123456", b"11223344", ctypes.byref(ULONG()))
        pin = self.pin_when(lambda p: p["status"] != "mustChange")
        self.assertEqual((pin["status"], pin["retriesLeft"]), ("ok", 6), pin)

    def pin_when(self, done, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pin = self.skf_token()["pin"]
            if done(pin):
                break
            time.sleep(0.1)
        return pin

    def test_sm2_signatures_and_pin_changes_are_refused_for_now(self):
        t = self.skf_token()
        cert = next(c for c in t["certificates"] if c["usage"] == "sign")
        st, _, body = self.d.request("POST", f"/v1/tokens/{t['id']}/sign",
                                     body={"certificate": cert["id"], "algorithm": "SM2-SM3",
                                           "items": [{"data": "aGVsbG8="}]})
        self.assertEqual(st, 400, body)
        self.assertEqual(body["error"]["code"], "UNSUPPORTED_ALGORITHM", body)
        st, _, body = self.d.request("POST", f"/v1/tokens/{t['id']}/pin/change", body={})
        self.assertEqual((st, body["error"]["code"]), (400, "UNSUPPORTED_ALGORITHM"), body)

    def test_pulling_and_inserting_the_device(self):
        self.skf_token()
        set_present(self.root, "gmkey", False)
        try:
            self.assertIsNone(self.skf_token(present=False))
        finally:
            set_present(self.root, "gmkey", True)
        self.assertEqual(self.skf_token()["hardwareId"], "GM2026110001")


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()
    unittest.main()
