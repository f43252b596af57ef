#!/usr/bin/env python3
"""Enrollment (远程下载) on the SKF backend: a first SM2 container, key
pair and double certificate onto a blank application of the project's
software SKF token, through the real daemon, with an openssl SM2 CA. The
token is read from the software token's files."""
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
from skf import Skf, enveloped_key, make_device, reexec_with_preload  # noqa: E402
from skftest import SM2CA, blank_application, skf_daemon, skf_dirs, sm2_key_pair, wait_token  # noqa: E402

LIB = os.environ.get("KB_SKFSOFT_SO")
PAGE_PIN = "https://pagepin.example.cn"
SKF_PIN = "11223344"


def b64(b):
    return base64.b64encode(b).decode()


def run(*args, input=None):
    return subprocess.run(args, input=input, capture_output=True, check=True)


def subject_line(pem):
    out = run("openssl", "req", "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus_space,sname",
              input=pem.encode()).stdout.decode().strip()
    return out.split("=", 1)[1].strip()


class SkfEnrollment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.root, cls.control = skf_dirs("kb-skf-enroll-")
        cls.skf = Skf(LIB)
        cls.ca = SM2CA(cls.tmp)
        make_device(cls.root, "blankkey", "GM2026130001", "blankkey")
        make_device(cls.root, "rawkey", "GM2026130002", "rawkey")
        # the install's own: a device with an identity takes no enrollment
        make_device(cls.root, "installkey", "GM2026130003", "installkey")
        blank_application(cls.skf, "installkey", SKF_PIN.encode())
        blank_application(cls.skf, "blankkey", SKF_PIN.encode())
        cls.d = skf_daemon(cls.tmp, cls.root, cls.control, PAGE_PIN, LIB, ["--poll-interval-ms", "200"])
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        log = cls.d.log_text()
        cls.d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if SKF_PIN in log:
            raise AssertionError("the PIN is in the daemon's log")

    def token(self, serial):
        t, body = wait_token(self.d, serial)
        return t or self.fail(f"{serial} never showed: {body}")

    def post(self, serial, what, body):
        return self.d.request("POST", f"/v1/tokens/{self.token(serial)['id']}/enrollment/{what}",
                              body=dict(body, pin=SKF_PIN), origin=PAGE_PIN)

    def containers(self, device="blankkey"):
        d = os.path.join(self.root, device, "GMCA", "c")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def read(self, container, part, device="blankkey"):
        path = os.path.join(self.root, device, "GMCA", "c", container, part)
        return open(path, "rb").read() if os.path.exists(path) else None

    def test_a_device_with_no_application_is_listed_and_refused_with_its_own_code(self):
        t = self.token("GM2026130002")
        self.assertEqual((t["certificates"], t["initialized"]), ([], False))
        self.assertIsInstance(t.get("freeSpace"), int)
        st, _, body = self.post("GM2026130002", "request", {"subject": {"CN": "王五"}, "keyType": "SM2"})
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_INITIALIZED"), body)

    def test_only_sm2_is_offered_on_an_skf_token(self):
        before = self.containers()
        st, _, body = self.post("GM2026130001", "request", {"subject": {"CN": "王五"}, "keyType": "RSA-2048"})
        self.assertEqual((st, body["error"]["code"], body["error"].get("field")),
                         (400, "UNSUPPORTED_ALGORITHM", "keyType"), body)
        self.assertEqual(self.containers(), before)

    def test_an_sm2_enrollment_with_a_double_certificate_fills_a_new_container(self):
        self.assertTrue(self.token("GM2026130003")["initialized"])
        st, _, req = self.post("GM2026130003", "request", {"subject": {"C": "CN", "O": "某单位", "CN": "王五"},
                                                           "keyType": "SM2"})
        self.assertEqual(st, 200, req)
        name = bytes.fromhex(req["keyId"]).decode()
        self.assertEqual(self.containers("installkey"), [name])
        with tempfile.NamedTemporaryFile("w", suffix=".csr") as f:
            f.write(req["csr"])
            f.flush()
            run("openssl", "req", "-in", f.name, "-noout", "-verify", "-vfyopt", "distid:1234567812345678")
        self.assertEqual(subject_line(req["csr"]), "C=CN, O=某单位, CN=王五")
        csr_pub = run("openssl", "req", "-noout", "-pubkey", input=req["csr"].encode()).stdout
        sign_der = self.ca.issue(csr_pub, "王五", "digitalSignature,nonRepudiation", days=1822)
        enc_key, enc_pub = sm2_key_pair()
        blob, _ = enveloped_key(csr_pub, enc_key)
        enc_der = self.ca.issue(enc_pub, "王五", "keyEncipherment,dataEncipherment")
        st, _, body = self.post("GM2026130003", "install", {
            "requestId": req["requestId"], "certificate": b64(sign_der),
            "encryption": {"certificate": b64(enc_der), "envelopedKey": b64(bytes(blob))}})
        self.assertEqual(st, 200, body)
        self.assertEqual((self.read(name, "sign.crt", "installkey"), self.read(name, "enc.crt", "installkey")), (sign_der, enc_der))
        self.assertIsNotNone(self.read(name, "enc.key", "installkey"))
        listed = self.token("GM2026130003")["certificates"]
        self.assertEqual(sorted(c["usage"] for c in listed), ["encrypt", "sign"])
        # an identity now: a second enrollment is refused, before the PIN
        st, _, body = self.post("GM2026130003", "request", {"subject": {"CN": "王五"}, "keyType": "SM2"})
        self.assertEqual((st, body["error"]["code"], body["error"].get("reason")),
                         (400, "BAD_REQUEST", "token-not-blank"), body)

    def test_a_full_device_leaves_no_container_behind(self):
        for fn in ("SKF_CreateContainer", "SKF_GenECCKeyPair"):
            with self.subTest(fn=fn):
                before = self.containers("installkey")
                with open(self.control, "w") as f:
                    f.write(f"fail = {fn} 1+ SAR_NO_ROOM\n")
                try:
                    st, _, body = self.post("GM2026130003", "request", {"subject": {"CN": "赵六"}, "keyType": "SM2"})
                finally:
                    with open(self.control, "w") as f:
                        f.write("")
                self.assertEqual((st, body["error"]["code"]), (507, "TOKEN_FULL"), body)
                self.assertEqual(self.containers("installkey"), before)

    def test_cancel_removes_the_new_container(self):
        before = self.containers()
        st, _, req = self.post("GM2026130001", "request", {"subject": {"CN": "赵六"}, "keyType": "SM2"})
        self.assertEqual(st, 200, req)
        self.assertEqual(len(self.containers()), len(before) + 1)
        st, _, body = self.post("GM2026130001", f"{req['requestId']}/cancel", {})
        self.assertEqual(st, 200, body)
        self.assertEqual(self.containers(), before)


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()
    unittest.main(verbosity=2)
