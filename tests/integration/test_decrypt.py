#!/usr/bin/env python3
"""Digital envelopes (开标解密): decrypt envelopes that openssl made with the
real daemon, a scripted pinentry and real SoftHSM2 tokens (RSA key
transport with PKCS#1 v1.5 and OAEP, AES-GCM, EC key agreement where
SoftHSM2 derives); the errors a portal must tell apart; a token pulled in
the middle of a batch; the encrypt method; nothing secret in the log."""
import base64
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from p11fault import FaultControl, module_path  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402
from wsclient import WS  # noqa: E402

LABEL = "kb-env"
PIN = "123456"
IDLE = 3
BID = "投标文件：报价 1,234,567.89 元 — sealed bid #".encode()


def b64(data):
    return base64.b64encode(data).decode()


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=True).stdout


class DecryptBase(unittest.TestCase):
    extra_env = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-decrypt-")
        cls.tokens = kbtest.TokenDir((LABEL,), rsa_encryption=True)
        cls.pin = Pinentry(cls.tmp)
        env = dict(cls.pin.env, **cls.extra_env)
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=cls.modules(), env=env,
                              extra=["--pinentry", PINENTRY, "--pin-idle-timeout", str(IDLE),
                                     "--max-body-bytes", str(4 * 1024 * 1024), "--dialogs-per-minute", "1000"]).start()
        st, _, body = cls.d.get("/v1/tokens")
        cls.token = body["tokens"][0]
        cls.certs = {c["subjectFields"]["CN"]: c for c in cls.token["certificates"]}

    @classmethod
    def modules(cls):
        return [kbtest.SOFTHSM]

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def setUp(self):
        self.pin.clear()
        self.pin.answer(f"pin {PIN}", f"pin {PIN}")
        self.logout()

    def logout(self):
        """Wait until the origin's authorization expires, so that a test sees its own dialog."""
        deadline = time.time() + IDLE + 5
        while time.time() < deadline:
            st, _, body = self.d.get(f"/v1/tokens/{self.token['id']}")
            if st == 200 and not body["authorized"]:
                return
            time.sleep(0.2)
        self.fail("authorization did not expire")

    def cert_file(self, key_id):
        path = os.path.join(self.tmp, f"{key_id}.pem")
        with open(path, "w") as f:
            f.write(self.tokens.cert_pem(LABEL, key_id))
        return path

    def seal(self, key_id, data, cipher="-aes256", *keyopts):
        """An envelope as a portal's server makes it: openssl cms -encrypt."""
        opts = [o for k in keyopts for o in ("-keyopt", k)]
        return openssl("cms", "-encrypt", "-binary", "-outform", "DER", cipher, "-recip", self.cert_file(key_id),
                       *opts, input=data)

    def decrypt(self, cn, envelopes, **extra):
        body = {"certificate": self.certs[cn]["id"], "items": [{"cms": b64(e)} for e in envelopes]}
        body.update(extra)
        return self.d.request("POST", f"/v1/tokens/{self.token['id']}/decrypt", body=body)

    def opened(self, cn, envelopes):
        st, _, body = self.decrypt(cn, envelopes)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["certificate"], self.certs[cn]["id"])
        return [base64.b64decode(p) for p in body["plaintexts"]]

    def refused(self, cn, envelopes, code, field=None, status=None):
        st, _, body = self.decrypt(cn, envelopes)
        self.assertEqual(body.get("error", {}).get("code"), code, body)
        if field:
            self.assertEqual(body["error"].get("field"), field, body)
        if status:
            self.assertEqual(st, status, body)
        return body["error"]


class Decrypt(DecryptBase):
    def test_rsa_pkcs1_envelopes_open_in_one_batch_under_one_dialog(self):
        bids = [BID + str(i).encode() for i in range(3)]
        self.assertEqual(self.opened("钱七", [self.seal("05", b, "-aes256") for b in bids]), bids)
        dialogs = self.pin.dialogs()
        self.assertEqual(len(dialogs), 1, dialogs)
        text = " ".join(str(v) for v in dialogs[0].values())
        self.assertRegex(text, r"decrypt|解密", dialogs[0])
        self.assertRegex(text, r"3 documents|共 3 份", dialogs[0])
        self.assertIn(kbtest.ORIGIN, text)
        self.assertIn("钱七", text)

    def test_rsa_oaep_opens_with_the_digests_the_token_offers(self):
        sha1 = self.seal("05", BID + b"oaep-1", "-aes128", "rsa_padding_mode:oaep")
        self.assertEqual(self.opened("钱七", [sha1]), [BID + b"oaep-1"])
        # SoftHSM2 does OAEP with SHA-1 only: SHA-256 is the token's refusal, not a damaged envelope,
        # every time (OpenSSL goes on with a random key: 1 in 256 such envelopes would "open" to noise).
        sha256 = [self.seal("05", BID + b"oaep-256", "-aes256", "rsa_padding_mode:oaep", "rsa_oaep_md:sha256",
                            "rsa_mgf1_md:sha256") for _ in range(3)]
        for _ in range(20):
            for env in sha256:
                self.refused("钱七", [sha1, env], "UNSUPPORTED_ALGORITHM", "items[1].cms", 400)

    def test_authenticated_envelopes_open_and_a_changed_tag_is_refused(self):
        env = bytearray(self.seal("05", BID + b"gcm", "-aes-256-gcm"))
        self.assertEqual(self.opened("钱七", [bytes(env)]), [BID + b"gcm"])
        env[-1] ^= 0x01     # the last byte is the authentication tag's
        self.refused("钱七", [bytes(env)], "DECRYPT_FAILED", "items[0].cms", 400)

    def test_ec_key_agreement_envelopes_open_where_softhsm_derives(self):
        data = BID + b"ecdh"
        self.assertEqual(self.opened("李四", [self.seal("02", data, "-aes256")]), [data])
        sha256 = self.seal("02", data, "-aes128", "ecdh_kdf_md:sha256")
        self.assertEqual(self.opened("李四", [sha256]), [data])

    def test_over_json_rpc_with_progress_and_in_a_batch(self):
        envs = [self.seal("05", BID + str(i).encode()) for i in range(2)]
        ws = WS(self.d)
        try:
            notes = []
            answer = ws.call("decrypt", {"token": self.token["id"], "certificate": self.certs["钱七"]["id"],
                                         "items": [{"cms": b64(e)} for e in envs]}, notifications=notes)
            self.assertEqual([base64.b64decode(p) for p in answer["result"]["plaintexts"]],
                             [BID + b"0", BID + b"1"], answer)
            self.assertEqual([n["params"]["percent"] for n in notes if n.get("method") == "operation.progress"],
                             [50, 100], notes)
            ws.send_json([{"jsonrpc": "2.0", "id": 7, "method": "decrypt",
                           "params": {"token": self.token["id"], "certificate": self.certs["钱七"]["id"],
                                      "items": [{"cms": b64(envs[0])}]}},
                          {"jsonrpc": "2.0", "id": 8, "method": "encrypt",
                           "params": {"certificate": self.tokens.cert_pem(LABEL, "05"), "items": [{"data": "AA=="}]}}])
            batch = ws.recv_json()
            while not isinstance(batch, list):
                batch = ws.recv_json()
            by_id = {r["id"]: r for r in batch}
            self.assertEqual(base64.b64decode(by_id[7]["result"]["plaintexts"][0]), BID + b"0", batch)
            self.assertEqual(by_id[8]["result"]["format"], "cms", batch)
            # a string id survives the progress notices and the wiped answer
            ws.send_json({"jsonrpc": "2.0", "id": "开标-1", "method": "decrypt",
                          "params": {"token": self.token["id"], "certificate": self.certs["钱七"]["id"],
                                     "items": [{"cms": b64(e)} for e in envs]}})
            seen = []
            while not seen or "id" not in seen[-1]:
                seen.append(ws.recv_json())
            self.assertEqual(seen[-1]["id"], "开标-1", seen)
            self.assertEqual(len(seen[-1]["result"]["plaintexts"]), 2, seen)
        finally:
            ws.close()

    def test_an_empty_document_and_a_large_one_open(self):
        big = os.urandom(700 * 1024)
        self.assertEqual(self.opened("钱七", [self.seal("05", b"", "-aes256"), self.seal("05", big, "-aes256")]),
                         [b"", big])

    def test_an_envelope_for_another_certificate_names_the_item(self):
        other = self.seal("02", BID, "-aes256")
        err = self.refused("钱七", [self.seal("05", BID, "-aes256"), other], "NOT_RECIPIENT", "items[1].cms", 409)
        self.assertNotIn("plaintexts", err)

    def stranger_pem(self, algorithm):
        """A certificate of the same key type that is not on the token (a predecessor, another bidder)."""
        path = os.path.join(self.tmp, f"stranger-{algorithm}.pem")
        opts = ["-newkey", "rsa:2048"] if algorithm == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        subprocess.run(["openssl", "req", "-x509", "-nodes", *opts, "-keyout", "/dev/null", "-subj", "/CN=stranger",
                        "-days", "1", "-out", path], capture_output=True, check=True)
        return path

    def test_an_envelope_for_a_certificate_of_the_same_type_is_not_ours_and_asks_nothing(self):
        for cn, algorithm in (("钱七", "rsa"), ("李四", "ec")):
            other = openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-recip",
                            self.stranger_pem(algorithm), input=BID)
            self.refused(cn, [other], "NOT_RECIPIENT", "items[0].cms", 409)
        self.assertEqual(self.pin.dialogs(), [], "a misaddressed envelope costs no PIN dialog")

    def test_a_signing_certificate_is_refused_before_any_dialog(self):
        err = self.refused("张三", [self.seal("05", BID, "-aes256")], "BAD_REQUEST", "certificate", 400)
        self.assertEqual(err.get("reason"), "usage", err)
        self.assertEqual(self.pin.dialogs(), [])

    def test_tampered_content_and_key_are_refused(self):
        data = BID + b"cbc"
        env = bytearray(self.seal("05", data, "-aes256"))
        # Flip the second-to-last ciphertext block so the last byte decrypts to 0: never valid padding.
        pad = 16 - len(data) % 16
        env[-17] ^= pad
        self.refused("钱七", [bytes(env)], "DECRYPT_FAILED", "items[0].cms")
        # Inside the RSA-encrypted key: refused every time, never noise from the random key CMS goes on with.
        for _ in range(30):
            key = bytearray(self.seal("05", data, "-aes256"))
            key[key.index(bytes.fromhex("0482 0100")) + 10] ^= 0xFF
            self.refused("钱七", [bytes(key)], "DECRYPT_FAILED", "items[0].cms")

    def test_malformed_items_are_bad_requests(self):
        self.refused("钱七", [b"\x30\x03\x02\x01\x00"], "BAD_REQUEST", "items[0].cms", 400)
        st, _, body = self.d.request("POST", f"/v1/tokens/{self.token['id']}/decrypt",
                                     body={"certificate": self.certs["钱七"]["id"], "items": []})
        self.assertEqual((st, body["error"]["field"]), (400, "items"), body)
        st, _, body = self.d.request("POST", f"/v1/tokens/{self.token['id']}/decrypt",
                                     body={"certificate": self.certs["钱七"]["id"],
                                           "items": [{"cms": "AA=="}] * 65})
        self.assertEqual((st, body["error"]["field"]), (400, "items"), body)

    def test_over_the_size_limit(self):
        huge = b64(os.urandom(1024 * 1024 + 16))
        st, _, body = self.d.request("POST", f"/v1/tokens/{self.token['id']}/decrypt",
                                     body={"certificate": self.certs["钱七"]["id"], "items": [{"cms": huge}]})
        self.assertEqual((st, body["error"]["code"], body["error"].get("field")),
                         (413, "PAYLOAD_TOO_LARGE", "items[0].cms"), body)
        self.assertEqual(self.pin.dialogs(), [])

    def test_nothing_secret_reaches_the_log(self):
        marker = "明文标记-plaintext-marker-7f3a"
        self.opened("钱七", [self.seal("05", marker.encode(), "-aes256")])
        self.refused("钱七", [self.seal("02", marker.encode(), "-aes256")], "NOT_RECIPIENT")
        log = self.d.log_text()
        for secret in (marker, b64(marker.encode()), PIN):
            self.assertNotIn(secret, log)


class Encrypt(DecryptBase):
    def encrypt(self, cert_pem, items, **extra):
        body = {"certificate": cert_pem, "items": [{"data": b64(i)} for i in items]}
        body.update(extra)
        return self.d.request("POST", "/v1/encrypt", body=body)

    def test_rsa_and_ec_envelopes_round_trip_through_the_token(self):
        for cn, key_id, extra in (("钱七", "05", {}), ("李四", "02", {})):
            st, _, body = self.encrypt(self.tokens.cert_pem(LABEL, key_id), [BID, b""], **extra)
            self.assertEqual((st, body.get("format")), (200, "cms"), body)
            envs = [base64.b64decode(e) for e in body["envelopes"]]
            with self.subTest(cn=cn, **extra):
                self.assertEqual(self.opened(cn, envs), [BID, b""])

    def test_oaep_envelopes_say_so_and_openssl_reads_them(self):
        st, _, body = self.encrypt(self.tokens.cert_pem(LABEL, "05"), [BID], rsaPadding="oaep")
        self.assertEqual(st, 200, body)
        text = openssl("cms", "-cmsout", "-print", "-inform", "DER", input=base64.b64decode(body["envelopes"][0]))
        self.assertIn(b"rsaesOaep", text)
        self.assertIn(b"aes-256-cbc", text)

    def test_a_signing_certificate_is_refused(self):
        st, _, body = self.encrypt(self.tokens.cert_pem(LABEL, "01"), [BID])
        self.assertEqual((st, body["error"]["field"], body["error"].get("reason")), (400, "certificate", "usage"))
        st, _, body = self.encrypt(self.tokens.cert_pem(LABEL, "02"), [BID], rsaPadding="oaep")
        self.assertEqual((st, body["error"]["field"]), (400, "rsaPadding"), body)
        st, _, body = self.encrypt("not a certificate", [BID])
        self.assertEqual((st, body["error"]["field"]), (400, "certificate"), body)


class PulledMidBatch(DecryptBase):
    """kb-p11fault holds the second C_Decrypt of a batch while the token is pulled."""

    @classmethod
    def setUpClass(cls):
        cls.ctl_dir = tempfile.mkdtemp(prefix="kb-decrypt-fault-")
        cls.ctl = FaultControl(os.path.join(cls.ctl_dir, "control"))
        cls.calls = os.path.join(cls.ctl_dir, "calls.log")
        cls.extra_env = cls.ctl.environ(module=kbtest.SOFTHSM)
        super().setUpClass()

    @classmethod
    def modules(cls):
        return [module_path()]

    def tearDown(self):
        self.ctl.clear()

    def wait_for(self, text):
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(self.calls):
                with open(self.calls) as f:
                    if text in f.read():
                        return
            time.sleep(0.05)
        self.fail(f"no {text}")

    def test_a_failing_token_never_answers_a_plaintext(self):
        envs = [self.seal("05", BID + str(i).encode(), "-aes256") for i in range(40)]
        self.ctl.fail("C_DecryptInit", "1+", "CKR_DEVICE_ERROR")
        for env in envs:
            self.refused("钱七", [env], "INTERNAL", status=500)
        self.ctl.clear()
        self.ctl.fail("C_DecryptInit", "1+", "CKR_KEY_FUNCTION_NOT_PERMITTED")
        self.refused("钱七", [envs[0]], "UNSUPPORTED_ALGORITHM", "items[0].cms", 400)
        self.ctl.clear()
        # a token that will not let the ECDH secret be read
        self.ctl.fail("C_DeriveKey", "1+", "CKR_TEMPLATE_INCONSISTENT")
        self.refused("李四", [self.seal("02", BID)], "UNSUPPORTED_ALGORITHM", "items[0].cms", 400)

    def held_decrypt(self, envs):
        """A decrypt in the background whose second C_Decrypt waits inside the token."""
        if os.path.exists(self.calls):
            os.unlink(self.calls)
        self.ctl.log(self.calls)
        self.ctl.fail("C_Decrypt", 2, "HOLD")
        result = {}
        worker = threading.Thread(target=lambda: result.update(answer=self.decrypt("钱七", envs)))
        worker.start()
        self.wait_for("C_Decrypt HOLD")
        return worker, result

    def test_envelopes_open_beside_signatures(self):
        envs = [self.seal("05", BID + str(i).encode(), "-aes256") for i in range(3)]
        self.assertEqual(len(self.opened("钱七", envs[:1])), 1)     # the PIN, and the key found
        sign = {"certificate": self.certs["张三"]["id"], "algorithm": "RSA-PKCS1-SHA256", "items": [{"data": "aGk="}]}
        st, _, body = self.d.request("POST", f"/v1/tokens/{self.token['id']}/sign", body=sign)
        self.assertEqual(st, 200, body)
        worker, result = self.held_decrypt(envs)
        st, _, body = self.d.request("POST", f"/v1/tokens/{self.token['id']}/sign", body=sign)
        self.assertEqual(st, 200, "a signature while envelopes are being opened")
        self.assertTrue(worker.is_alive(), "the decryption is still inside the token")
        self.ctl.clear()
        worker.join(30)
        st, _, body = result["answer"]
        self.assertEqual((st, [base64.b64decode(p) for p in body["plaintexts"]]),
                         (200, [BID + str(i).encode() for i in range(3)]))
        self.assertEqual(len(self.pin.dialogs()), 1, "one PIN for all of it")

    def test_a_token_pulled_while_an_authorized_origin_decrypts_ends_the_authorization(self):
        envs = [self.seal("05", BID + str(i).encode(), "-aes256") for i in range(3)]
        self.assertEqual(len(self.opened("钱七", envs[:1])), 1)
        worker, result = self.held_decrypt(envs)        # shared: beside other requests
        self.ctl.removed(True)
        worker.join(30)
        st, _, body = result["answer"]
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        self.ctl.clear()
        self.wait_listed()
        st, _, body = self.d.get(f"/v1/tokens/{self.token['id']}")
        self.assertFalse(body["authorized"], "the removal ended the authorization")
        self.assertEqual(self.opened("钱七", envs), [BID + str(i).encode() for i in range(3)])
        self.assertEqual(len(self.pin.dialogs()), 2, "the returned token needed the PIN again")

    def wait_listed(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            st, _, body = self.d.get("/v1/tokens")
            if any(t["id"] == self.token["id"] for t in body["tokens"]):
                return
            time.sleep(0.1)
        self.fail("the token did not come back")

    def test_a_token_pulled_mid_batch_answers_token_not_present_and_nothing_else(self):
        envs = [self.seal("05", BID + str(i).encode(), "-aes256") for i in range(3)]
        self.ctl.log(self.calls)
        self.ctl.fail("C_Decrypt", 2, "HOLD")
        result = {}
        worker = threading.Thread(target=lambda: result.update(answer=self.decrypt("钱七", envs)))
        worker.start()
        self.wait_for("C_Decrypt HOLD")
        self.ctl.removed(True)
        worker.join(30)
        st, _, body = result["answer"]
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        self.assertNotIn("plaintexts", body)
        self.ctl.clear()
        deadline = time.time() + 20
        while time.time() < deadline:
            st, _, body = self.d.get("/v1/tokens")
            if any(t["id"] == self.token["id"] for t in body["tokens"]):
                break
            time.sleep(0.1)
        self.assertEqual(self.opened("钱七", envs), [BID + str(i).encode() for i in range(3)])


if __name__ == "__main__":
    kbtest.run(__name__)
