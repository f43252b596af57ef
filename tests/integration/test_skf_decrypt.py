#!/usr/bin/env python3
"""SM2 digital envelopes (GM/T 0010 EnvelopedData) opened on an SKF token
through the real daemon and the project's software SKF token. The envelopes
are made independently of the daemon, with OpenSSL's primitives (SM2
encryption, SM4-CBC) and a DER writer in docs/examples, as a tendering
portal's server makes them: OpenSSL 3.0 cannot write SM2 CMS. Also: the
daemon's own SM2 envelopes (encrypt), tampered and misaddressed envelopes,
a device pulled in the middle of a batch, and no plaintext or PIN in the
log."""
import base64
import importlib.util
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
import kbtest  # noqa: E402
from skf import Skf, make_device, reexec_with_preload  # noqa: E402
from skftest import SM2CA, provision, skf_daemon, skf_dirs, wait_token  # noqa: E402

LIB = os.environ.get("KB_SKFSOFT_SO")
PAGE_PIN = "https://pagepin.example.cn"
PIN = "11223344"
MARKER = "标书明文-sm2-plaintext-marker"


def load_example():
    path = os.path.join(kbtest.SRC, "docs", "examples", "make-gmt-enveloped-data.py")
    spec = importlib.util.spec_from_file_location("make_gmt_enveloped_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GMT = load_example()


def b64(b):
    return base64.b64encode(b).decode()


class Fixture:
    def start(cls):
        cls.tmp, cls.root, cls.control = skf_dirs("kb-skf-decrypt-")
        cls.skf = Skf(LIB)
        cls.ca = SM2CA(cls.tmp)
        make_device(cls.root, "bidder", "GM2026120001", "bidder")
        cls.sign_der, cls.enc_der = provision(cls.skf, cls.ca, "bidder")
        make_device(cls.root, "other", "GM2026120002", "other")
        cls.other_sign, cls.other_enc = provision(cls.skf, cls.ca, "other", cn="Other bidder")
        cls.d = skf_daemon(cls.tmp, cls.root, cls.control, PAGE_PIN, LIB, ["--poll-interval-ms", "200"])
        cls.d.start()

    def stop(cls):
        cls.d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)


F = Fixture()


def setUpModule():
    F.start()


def tearDownModule():
    log = F.d.log_text()
    F.stop()
    for secret in (PIN, MARKER, b64(MARKER.encode())):
        if secret in log:
            raise AssertionError("a secret in the daemon's log")


class SkfDecrypt(unittest.TestCase):
    def setUp(self):
        self.set_control("")

    def set_control(self, text):
        with open(F.control, "w") as f:
            f.write(text)

    def enc_cert(self, serial="GM2026120001"):
        token, body = wait_token(F.d, serial)
        self.assertIsNotNone(token, body)
        return token, next(c for c in token["certificates"] if c["usage"] == "encrypt")

    def decrypt(self, envelopes, serial="GM2026120001"):
        t, c = self.enc_cert(serial)
        body = {"certificate": c["id"], "items": [{"cms": b64(e)} for e in envelopes], "pin": PIN}
        return F.d.request("POST", f"/v1/tokens/{t['id']}/decrypt", body=body, origin=PAGE_PIN)

    def test_envelopes_made_with_openssl_primitives_open_on_the_token(self):
        bids = [MARKER.encode(), b"", os.urandom(100 * 1024), b"x" * 16]
        st, _, body = self.decrypt([GMT.envelope(F.enc_der, b) for b in bids])
        self.assertEqual(st, 200, body)
        self.assertEqual([base64.b64decode(p) for p in body["plaintexts"]], bids)

    def test_the_daemons_own_sm2_envelopes_round_trip(self):
        pem = base64.b64encode(F.enc_der).decode()
        st, _, body = F.d.request("POST", "/v1/encrypt", origin=PAGE_PIN,
                                  body={"certificate": pem, "items": [{"data": b64(b"sealed in the browser")}]})
        self.assertEqual((st, body.get("format")), (200, "gmt0010"), body)
        st, _, body = self.decrypt([base64.b64decode(body["envelopes"][0])])
        self.assertEqual(st, 200, body)
        self.assertEqual(base64.b64decode(body["plaintexts"][0]), b"sealed in the browser")

    def test_an_envelope_for_another_bidder_is_not_ours(self):
        st, _, body = self.decrypt([GMT.envelope(F.enc_der, b"a"), GMT.envelope(F.other_enc, b"b")])
        self.assertEqual((st, body["error"]["code"], body["error"]["field"]), (409, "NOT_RECIPIENT", "items[1].cms"))

    def test_a_signing_certificate_is_refused(self):
        token, _ = wait_token(F.d, "GM2026120001")
        sign = next(c for c in token["certificates"] if c["usage"] == "sign")
        st, _, body = F.d.request("POST", f"/v1/tokens/{token['id']}/decrypt", origin=PAGE_PIN,
                                  body={"certificate": sign["id"], "pin": PIN,
                                        "items": [{"cms": b64(GMT.envelope(F.enc_der, b"a"))}]})
        self.assertEqual((st, body["error"]["field"], body["error"].get("reason")), (400, "certificate", "usage"))

    def test_tampered_envelopes_are_refused(self):
        env = bytearray(GMT.envelope(F.enc_der, b"sixteen bytes!!!"))
        env[-17] ^= 0x10            # the padding block's last byte decrypts to 0
        st, _, body = self.decrypt([bytes(env)])
        self.assertEqual((st, body["error"]["code"], body["error"]["field"]), (400, "DECRYPT_FAILED", "items[0].cms"))
        key = bytearray(GMT.envelope(F.enc_der, b"abc"))
        i = key.index(bytes.fromhex("04 20"), 100)     # the SM2 ciphertext's C3 hash
        key[i + 5] ^= 0xFF
        st, _, body = self.decrypt([bytes(key)])
        self.assertEqual((st, body["error"]["code"], body["error"]["field"]), (400, "DECRYPT_FAILED", "items[0].cms"))

    def test_content_goes_to_the_token_in_parts_a_vendor_library_takes(self):
        log = os.path.join(F.tmp, "calls.log")
        if os.path.exists(log):
            os.unlink(log)
        self.set_control(f"max-data = 2048\nlog = {log}\n")   # a library that takes 2 KiB a call
        bid = os.urandom(100 * 1024)
        st, _, body = self.decrypt([GMT.envelope(F.enc_der, bid)])
        self.assertEqual(st, 200, body)
        self.assertEqual(base64.b64decode(body["plaintexts"][0]), bid)
        with open(log) as f:
            calls = f.read().split()
        self.assertEqual(calls.count("SKF_DecryptUpdate"), 101, "1 KiB parts, the padding block last")
        self.assertEqual(calls.count("SKF_DecryptFinal"), 1)
        self.assertNotIn("SKF_Decrypt", calls)

    def test_a_device_pulled_in_the_middle_of_a_document_leaves_no_plaintext(self):
        self.set_control("fail = SKF_DecryptUpdate 3 SAR_DEVICE_REMOVED\n")
        st, _, body = self.decrypt([GMT.envelope(F.enc_der, os.urandom(8 * 1024))])
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        self.assertNotIn("plaintexts", body)

    def test_a_device_pulled_mid_batch_leaves_no_plaintext(self):
        envs = [GMT.envelope(F.enc_der, str(i).encode()) for i in range(3)]
        self.set_control("fail = SKF_ImportSessionKey 2 SAR_DEVICE_REMOVED\n")
        st, _, body = self.decrypt(envs)
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        self.assertNotIn("plaintexts", body)
        self.set_control("")
        st, _, body = self.decrypt(envs)
        self.assertEqual((st, [base64.b64decode(p) for p in body["plaintexts"]]), (200, [b"0", b"1", b"2"]))


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()   # the software token under ASan needs the runtime first
    kbtest.run(__name__)
