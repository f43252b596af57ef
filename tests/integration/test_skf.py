#!/usr/bin/env python3
"""The SKF backend over the project's software SKF token: the real daemon
loads the library with --skf-library and lists an SM2 token like a PKCS#11
one — DEVINFO's serial as serial and hardware id, the signature and
encryption certificates of each container, the PIN state with the exact
tries left and the default-PIN flag as mustChange — and follows device
events. Operations on the token: test_skf_ops.py."""
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
from skf import ULONG, USER, Skf, child_env, make_device, reexec_with_preload, set_present  # noqa: E402
from skftest import SM2CA, provision  # noqa: E402

LIB = os.environ.get("KB_SKFSOFT_SO")
NOT_SKF = subprocess.run(["sh", "-c", "ls /usr/lib/*/libjansson.so.4 | head -1"], capture_output=True,
                         text=True).stdout.strip()      # a library, but not an SKF one
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
        cls.sign_der, cls.enc_der = provision(cls.skf, cls.ca, "gmkey")
        hsm = os.path.join(cls.tmp, "hsm")
        os.makedirs(os.path.join(hsm, "tokens"))
        with open(os.path.join(hsm, "softhsm2.conf"), "w") as f:
            f.write(f"directories.tokendir = {hsm}/tokens\nobjectstore.backend = file\n")
        env = dict(child_env(), KB_SKFSOFT_DIR=cls.root, SOFTHSM2_CONF=os.path.join(hsm, "softhsm2.conf"))
        cls.d = kbtest.Daemon(tls=False, env=env,
                              extra=["--skf-library", LIB, "--skf-library", "/nonexistent/libskf.so",
                                     "--skf-library", NOT_SKF, "--skf-library", "/opt/vendor/libwide.so",
                                     "--skf-profile", "/opt/vendor/libwide.so ulong=64",
                                     "--poll-interval-ms", "200"])
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()     # fails the run when the daemon does not exit 0 (a sanitizer report)
        shutil.rmtree(cls.tmp, ignore_errors=True)

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
        self.assertEqual(skf["libraries"], [LIB, "/nonexistent/libskf.so", NOT_SKF, "/opt/vendor/libwide.so"])
        mods = {m["path"]: m for m in skf["modules"]}
        self.assertEqual((mods[LIB]["status"], mods[LIB]["tokens"]), ("ok", 1), mods[LIB])
        self.assertEqual(mods["/nonexistent/libskf.so"]["status"], "failed")
        self.assertIn("No such file", mods["/nonexistent/libskf.so"]["error"]["detail"])
        self.assertIn("not an SKF library", mods[NOT_SKF]["error"]["detail"])
        wide = mods["/opt/vendor/libwide.so"]
        self.assertEqual((wide["status"], wide["profile"]), ("failed", "sm2-sign-alg=0x00020100 ulong=64"), wide)
        self.assertIn("ULONG is 64 bits", wide["error"]["detail"])
        self.assertIsNone(mods[LIB]["profile"])
        self.assertEqual(info["backends"][0]["modules"][0]["tokens"], 0)   # no SKF token among PKCS#11's

    def test_a_profile_line_that_does_not_parse_stops_the_daemon(self):
        r = subprocess.run([kbtest.DAEMON, "--foreground", "--no-tls", "--skf-profile", "libx.so colour=red"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("'colour=red' is not", r.stderr)

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
