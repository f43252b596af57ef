#!/usr/bin/env python3
"""Enrollment (远程下载): a first key and certificate onto a formatted token
that holds none, through the real daemon, on a blank SoftHSM2 token behind
the fault-injecting module, with a real openssl CA. The token is read
straight through SoftHSM2 (pkcs11-tool), not through the daemon alone.
The SKF side is test_skf_enrollment.py."""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kbtest  # noqa: E402
from p11fault import FaultControl, module_path  # noqa: E402
from renewal import TestCA, key_attributes, run, serial_of, token_objects, utc  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402

BLANK, RAW = "kb-blank", "kb-raw"
# a blank token for each test that installs: a token with an identity takes no enrollment
INSTALLED, DOUBLE, RESTARTED = "kb-install", "kb-double", "kb-restart"
PIN, SO_PIN = "123456", "12345678"
SUBJECT = {"C": "CN", "ST": "山东省", "L": "济南市", "O": "山东某某建设工程有限公司",
           "OU": ["投标部", "财务部"], "CN": "张三", "serialNumber": "91370100MA3C5XXXXX"}
# openssl's one-line form of SUBJECT, in the fixed field order
SUBJECT_ONELINE = ("C=CN, ST=山东省, L=济南市, O=山东某某建设工程有限公司, OU=投标部, OU=财务部, CN=张三, "
                   "serialNumber=91370100MA3C5XXXXX")


def b64(b):
    return base64.b64encode(b).decode()


def subject_line(pem, kind):
    """The subject as openssl prints it in UTF-8, fields in DER order."""
    out = run("openssl", kind, "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus_space,sname",
              input=pem.encode()).stdout.decode().strip()
    return out.split("=", 1)[1].strip()


def uninitialized_slot(env):
    """The SoftHSM2 slot whose token is not initialized (pkcs11-tool -L)."""
    listing = subprocess.run(["pkcs11-tool", "--module", kbtest.SOFTHSM, "-L"], env=env, capture_output=True,
                             text=True, check=True).stdout
    slot = None
    for line in listing.splitlines():
        m = re.match(r"Slot \d+ \((0x[0-9a-f]+)\)", line)
        if m:
            slot = int(m.group(1), 16)
        elif "uninitialized" in line and slot is not None:
            return slot
    raise AssertionError("no free SoftHSM2 slot:\n" + listing)


class Pkcs11Enrollment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-enroll-")
        cls.tokens = kbtest.TokenDir(("kb-ca-only",))      # make-token.sh also makes the CA
        cls.ca = TestCA(cls.tokens)
        env = dict(os.environ, SOFTHSM2_CONF=cls.tokens.conf)
        # a token the CA's tool formatted: initialized, user PIN set, no objects
        for label in (BLANK, INSTALLED, DOUBLE, RESTARTED):
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin",
                            SO_PIN], env=env, check=True, capture_output=True)
        # a token only half formatted: no user PIN
        subprocess.run(["pkcs11-tool", "--module", kbtest.SOFTHSM, "--slot", str(uninitialized_slot(env)),
                        "--init-token", "--label", RAW, "--so-pin", SO_PIN], env=env, check=True, capture_output=True)
        cls.pin = Pinentry(cls.tmp)
        cls.ctl = FaultControl(os.path.join(cls.tmp, "control"))
        env = dict(cls.pin.env, **cls.ctl.environ(module=kbtest.SOFTHSM))
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=[module_path()], env=env,
                              extra=["--pinentry", PINENTRY, "--pin-cooldown", "0", "--dialogs-per-minute", "1000"])
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        log = cls.d.log_text()
        cls.d.cleanup()
        cls.tokens.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if PIN in log:
            raise AssertionError("the PIN is in the daemon's log")

    def setUp(self):
        self.ctl.clear()
        self.pin.clear()
        self.pin.answer(*[f"pin {PIN}"] * 5)

    def token(self, label):
        st, _, body = self.d.get("/v1/tokens")
        self.assertEqual(st, 200, body)
        return next(t for t in body["tokens"] if t["label"] == label)

    def post(self, label, what, body):
        return self.d.request("POST", f"/v1/tokens/{self.token(label)['id']}/enrollment/{what}", body=body)

    def request(self, key_type="EC-P256", subject=SUBJECT, token_label=BLANK, **extra):
        st, _, body = self.post(token_label, "request", dict({"subject": subject, "keyType": key_type}, **extra))
        self.assertEqual(st, 200, body)
        return body

    def objects(self, label=BLANK):
        return token_objects(self.tokens, label)

    def cancel(self, req, label=BLANK):
        st, _, body = self.post(label, f"{req['requestId']}/cancel", {})
        self.assertEqual(st, 200, body)

    def assert_refused(self, answer, status, code, field=None):
        st, _, body = answer
        self.assertEqual((st, body["error"]["code"]), (status, code), body)
        if field:
            self.assertEqual(body["error"].get("field"), field, body)
        return body

    # ---- listing ----

    def test_a_blank_token_is_listed_with_no_certificates_and_what_a_page_needs(self):
        t = self.token(BLANK)
        self.assertEqual(t["certificates"], [])
        self.assertTrue(t["initialized"])
        for key in ("label", "serial", "hardwareId", "pin"):
            self.assertIn(key, t)
        self.assertFalse(self.token(RAW)["initialized"])

    # ---- request ----

    def test_the_request_is_a_csr_with_exactly_the_subject_by_a_new_key_on_the_token(self):
        keys_before = set(self.objects()[1])
        self.d.stop()       # no authorization left from another test: the dialog shows
        self.d.start()
        req = self.request()
        try:
            self.assertEqual(subject_line(req["csr"], "req"), SUBJECT_ONELINE)
            # the one-line text the dialog shows: most specific first, as RFC 4514 writes it
            self.assertEqual(req["subject"], ", ".join(reversed(SUBJECT_ONELINE.split(", "))))
            run("openssl", "req", "-verify", "-noout", input=req["csr"].encode())
            keys = set(self.objects()[1]) - keys_before
            self.assertEqual(keys, {req["keyId"]})
            attrs = key_attributes(self.tokens, BLANK, req["keyId"])
            self.assertIn("sign", attrs["Usage"])
            self.assertTrue({"sensitive", "never extractable"} <= attrs["Access"], attrs)
            self.assertNotIn("extractable", attrs["Access"] - {"never extractable"})
            dialog = self.pin.dialogs()[-1]
            text = json.dumps(dialog, ensure_ascii=False)
            self.assertIn(kbtest.ORIGIN, text)
            self.assertIn("CN=张三", text)
            self.assertIn(BLANK, text)
        finally:
            self.cancel(req)

    def test_an_rsa_key_may_also_decrypt_and_unwrap_for_a_later_double_certificate(self):
        req = self.request("RSA-2048")
        try:
            attrs = key_attributes(self.tokens, BLANK, req["keyId"])
            self.assertTrue({"sign", "decrypt", "unwrap"} <= attrs["Usage"], attrs)
        finally:
            self.cancel(req)

    # ---- install ----

    def test_the_issued_certificate_is_installed_with_its_key_and_a_retry_changes_nothing(self):
        req = self.request(token_label=INSTALLED)
        pem = self.ca.issue(req["csr"], days="1822")
        st, _, body = self.post(INSTALLED, "install", {"requestId": req["requestId"], "certificate": pem,
                                                   "chain": [self.ca.pem()]})
        self.assertEqual(st, 200, body)
        self.assertIsNone(body["replaced"])
        self.assertTrue(body["finished"])
        self.assertFalse(body["alreadyInstalled"])
        certs, keys = self.objects(INSTALLED)
        self.assertEqual(certs[serial_of(pem)], [req["keyId"]])
        self.assertIn(req["keyId"], keys)
        listed = [c for c in self.token(INSTALLED)["certificates"] if c["serialNumber"] == body["certificate"]["serialNumber"]]
        self.assertEqual(len(listed), 1)
        self.assertTrue(listed[0]["hasPrivateKey"])
        self.assertEqual(listed[0]["subjectFields"]["CN"], "张三")
        again = self.post(INSTALLED, "install", {"requestId": req["requestId"], "certificate": pem})
        self.assertEqual(again[0], 200, again[2])
        self.assertTrue(again[2]["alreadyInstalled"])
        self.assertEqual(self.objects(INSTALLED), (certs, keys))
        # installed: nothing to cancel, the key stays
        self.assert_refused(self.post(INSTALLED, f"{req['requestId']}/cancel", {}), 404, "NOT_FOUND", "requestId")
        self.assertIn(req["keyId"], self.objects(INSTALLED)[1])
        # the token holds an identity now: a second enrollment is refused, before the PIN
        dialogs = len(self.pin.dialogs())
        body = self.assert_refused(self.post(INSTALLED, "request", {"subject": SUBJECT, "keyType": "EC-P256"}),
                                   400, "BAD_REQUEST", "token")
        self.assertEqual(body["error"].get("reason"), "token-not-blank")
        self.assertEqual(len(self.pin.dialogs()), dialogs)

    def test_a_double_certificate_comes_with_its_encryption_key_unwrapped_on_the_token(self):
        req = self.request("RSA-2048", subject={"CN": "李四", "O": "某单位"}, token_label=DOUBLE, label="双证")
        sign = self.ca.issue(req["csr"])
        enc_pem, blob, _ = self.ca.encryption_pair("李四", sign)
        st, _, body = self.post(DOUBLE, "install", {"requestId": req["requestId"], "certificate": sign,
                                                   "encryption": {"certificate": enc_pem, "envelopedKey": blob}})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["encryption"]["certificate"]["usage"], "encrypt")
        certs, keys = self.objects(DOUBLE)
        self.assertEqual(certs[serial_of(sign)], [req["keyId"]])
        (enc_key,) = certs[serial_of(enc_pem)]
        self.assertIn(enc_key, keys)
        self.assertNotEqual(enc_key, req["keyId"])
        self.assertEqual(body["certificate"]["label"], "双证")

    # ---- refusals, before anything is written ----

    def test_bad_subjects_are_refused_by_field_before_the_pin(self):
        cases = [({"CN": "x", "title": "y"}, "subject.title"), ({"CN": ""}, "subject.CN"),
                 ({"CN": "张" * 65}, "subject.CN"), ({"C": "CHN"}, "subject.C"), ({}, "subject"),
                 ({"OU": [1]}, "subject.OU"), ({"CN": ["a", "b"]}, "subject.CN"), ({"C": "中国"}, "subject.C")]
        before = self.objects()
        for subject, field in cases:
            with self.subTest(subject=subject):
                self.assert_refused(self.post(BLANK, "request", {"subject": subject, "keyType": "EC-P256"}),
                                    400, "BAD_REQUEST", field)
        self.assertEqual(self.pin.dialogs(), [])
        self.assertEqual(self.objects(), before)

    def test_a_token_that_holds_an_identity_is_refused_before_the_pin(self):
        body = self.assert_refused(self.post("kb-ca-only", "request", {"subject": SUBJECT, "keyType": "EC-P256"}),
                                   400, "BAD_REQUEST", "token")
        self.assertEqual(body["error"].get("reason"), "token-not-blank")
        self.assertEqual(self.pin.dialogs(), [])

    def test_every_call_asks_even_an_origin_authorized_on_the_token(self):
        """A PIN entry authorizes signing for a while, not writing keys and
        certificates: each enrollment call on the token shows its dialog."""
        first = self.request()
        second = self.request()
        self.assertEqual(len(self.pin.dialogs()), 2, "the second request reused the first one's login")
        self.cancel(second)
        self.cancel(first)
        self.assertEqual(len(self.pin.dialogs()), 4)
        self.assertIn("CN=", json.dumps(self.pin.dialogs()[1], ensure_ascii=False))

    def test_a_key_type_the_token_lacks_is_refused_before_the_pin(self):
        for key_type in ("SM2", "RSA-1024", "DSA"):
            with self.subTest(key_type=key_type):
                self.assert_refused(self.post(BLANK, "request", {"subject": SUBJECT, "keyType": key_type}),
                                    400, "UNSUPPORTED_ALGORITHM", "keyType")
        self.assertEqual(self.pin.dialogs(), [])

    def test_a_token_with_no_user_pin_is_refused_with_its_own_code(self):
        body = self.assert_refused(self.post(RAW, "request", {"subject": SUBJECT, "keyType": "EC-P256"}),
                                   409, "TOKEN_NOT_INITIALIZED", "token")
        self.assertIn("CA", body["error"]["message"])
        self.assertEqual(self.pin.dialogs(), [])

    def test_a_full_token_leaves_nothing_behind(self):
        before = self.objects()
        self.ctl.fail("C_GenerateKeyPair", "1+", "CKR_DEVICE_MEMORY")
        self.assert_refused(self.post(BLANK, "request", {"subject": SUBJECT, "keyType": "EC-P256"}),
                            507, "TOKEN_FULL")
        self.ctl.clear()
        self.assertEqual(self.objects(), before)

    def test_a_certificate_for_another_key_or_expired_is_refused_and_nothing_changes(self):
        req = self.request()
        other = self.request()
        try:
            before = self.objects()
            wrong = self.ca.issue(other["csr"])
            self.assert_refused(self.post(BLANK, "install", {"requestId": req["requestId"], "certificate": wrong}),
                                409, "CERTIFICATE_MISMATCH", "certificate")
            expired = self.ca.issue(req["csr"], start=utc(-86400 * 3), end=utc(-86400))
            self.assert_refused(self.post(BLANK, "install", {"requestId": req["requestId"],
                                                             "certificate": expired}), 400, "BAD_REQUEST",
                                "certificate")
            self.assertEqual(self.objects(), before)
            # a renewal cannot install an enrollment's request
            self.assert_refused(self.d.request("POST", f"/v1/tokens/{self.token(BLANK)['id']}/renewal/install",
                                               body={"requestId": req["requestId"], "certificate": wrong,
                                                     "replaces": "x"}), 404, "NOT_FOUND", "requestId")
        finally:
            self.cancel(req)
            self.cancel(other)

    def test_cancel_removes_the_generated_key(self):
        before = self.objects()
        req = self.request()
        self.assertNotEqual(self.objects(), before)
        # a renewal's cancel does not take an enrollment's request
        self.assert_refused(self.d.request("POST", f"/v1/tokens/{self.token(BLANK)['id']}/renewal/"
                                                   f"{req['requestId']}/cancel", body={}), 404, "NOT_FOUND",
                            "requestId")
        self.cancel(req)
        self.assertEqual(self.objects(), before)
        self.assert_refused(self.post(BLANK, f"{req['requestId']}/cancel", {}), 404, "NOT_FOUND", "requestId")

    def test_the_request_survives_a_restart_of_the_daemon(self):
        req = self.request(token_label=RESTARTED)
        self.d.stop()
        self.d.start()
        pem = self.ca.issue(req["csr"])
        st, _, body = self.post(RESTARTED, "install", {"requestId": req["requestId"], "certificate": pem})
        self.assertEqual(st, 200, body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
