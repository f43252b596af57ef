#!/usr/bin/env python3
"""Private-key operations with the user's consent: sign and authenticate
through the real daemon, a scripted pinentry, and real SoftHSM2 tokens;
every signature verified with openssl."""
import base64
import hashlib
import json
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

PINENTRY = os.path.join(kbtest.FIXTURES, "test-pinentry")
VERIFIER = os.path.join(kbtest.SRC, "docs", "examples", "verify-keybridge-auth.py")
OTHER = "https://other.example.cn"
PAGE_PIN = "https://pagepin.example.cn"
IDLE = 3


def b64(data):
    return base64.b64encode(data).decode()


class Pinentry:
    """The scripted pinentry's script and record of dialogs."""

    def __init__(self, directory):
        self.script = os.path.join(directory, "pinentry-script")
        self.log = os.path.join(directory, "pinentry-log")
        self.env = {"KB_TEST_PINENTRY_SCRIPT": self.script, "KB_TEST_PINENTRY_LOG": self.log}
        self.answer()

    def answer(self, *lines):
        with open(self.script, "w") as f:
            f.write("".join(line + "\n" for line in lines))

    def dialogs(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def clear(self):
        if os.path.exists(self.log):
            os.unlink(self.log)


def openssl_ok(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True).returncode == 0


class SignBase(unittest.TestCase):
    tls = False
    extra_env = {}
    dialogs_per_minute = 1000

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-sign-")
        cls.tokens = kbtest.TokenDir(("kb-sign",), ec_signing=True)
        cls.pin = Pinentry(cls.tmp)
        sysconf = os.path.join(cls.tmp, "keybridge.conf")
        with open(sysconf, "w") as f:
            f.write(f"page-pin-origin = {PAGE_PIN}\nallow-origin = {PAGE_PIN}\n")
        env = dict(cls.pin.env, KEYBRIDGE_SYSTEM_CONFIG=sysconf, **cls.extra_env)
        cls.d = kbtest.Daemon(cls.tokens, tls=cls.tls, modules=cls.modules(), env=env,
                              extra=["--pinentry", PINENTRY, "--pin-idle-timeout", str(IDLE),
                                     "--pin-cooldown", "1", "--allow-origin", OTHER,
                                     "--dialogs-per-minute", str(cls.dialogs_per_minute)]).start()
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
        self.pin.answer()
        self.logout()

    def logout(self):
        """Wait until no origin is authorized (the idle timeout passes)."""
        deadline = time.time() + IDLE + 5
        while time.time() < deadline:
            if not any(self.authorized(o) for o in (kbtest.ORIGIN, OTHER, PAGE_PIN)):
                return
            time.sleep(0.2)
        self.fail("authorization did not expire")

    def authorized(self, origin):
        st, _, body = self.d.get(f"/v1/tokens/{self.token['id']}", origin=origin)
        return body["authorized"]

    def cert_pem(self, key_id):
        return self.tokens.cert_pem("kb-sign", key_id)

    def pubkey_file(self, key_id):
        path = os.path.join(self.tmp, f"{key_id}.pub")
        with open(path, "wb") as f:
            f.write(subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=self.cert_pem(key_id).encode(),
                                   capture_output=True, check=True).stdout)
        return path

    def sign(self, cn, algorithm, items, fmt="raw", origin=kbtest.ORIGIN, **extra):
        body = {"certificate": self.certs[cn]["id"], "algorithm": algorithm, "items": items, "format": fmt}
        body.update(extra)
        return self.d.request("POST", f"/v1/tokens/{self.token['id']}/sign", body=body, origin=origin)

    def verify_raw(self, key_id, md, data, sig, pss=False):
        sigfile, datafile = os.path.join(self.tmp, "sig"), os.path.join(self.tmp, "data")
        with open(sigfile, "wb") as f:
            f.write(base64.b64decode(sig))
        with open(datafile, "wb") as f:
            f.write(data)
        opts = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"] if pss else []
        return openssl_ok("dgst", f"-{md}", *opts, "-verify", self.pubkey_file(key_id), "-signature", sigfile, datafile)


class Sign(SignBase):
    DATA = "投标文件 bid document #1".encode()

    def test_every_rsa_algorithm_verifies_with_openssl(self):
        self.pin.answer("pin 123456")
        for alg, md, pss in (("RSA-PKCS1-SHA256", "sha256", False), ("RSA-PKCS1-SHA384", "sha384", False),
                             ("RSA-PKCS1-SHA512", "sha512", False), ("RSA-PSS-SHA256", "sha256", True)):
            st, _, body = self.sign("张三", alg, [{"data": b64(self.DATA)}])
            self.assertEqual(st, 200, body)
            self.assertEqual(body["algorithm"], alg)
            self.assertTrue(self.verify_raw("01", md, self.DATA, body["signatures"][0], pss), alg)
        self.assertEqual(len(self.pin.dialogs()), 1, "one PIN entry, then the origin is authorized")

    def test_ecdsa_algorithms_verify_with_openssl(self):
        self.pin.answer("pin 123456")
        for alg, md in (("ECDSA-SHA256", "sha256"), ("ECDSA-SHA384", "sha384")):
            st, _, body = self.sign("赵六", alg, [{"data": b64(self.DATA)}])
            self.assertEqual(st, 200, body)
            self.assertTrue(self.verify_raw("04", md, self.DATA, body["signatures"][0]), alg)

    def test_a_digest_item_is_signed_as_is(self):
        self.pin.answer("pin 123456")
        for cn, key, alg, md in (("张三", "01", "RSA-PKCS1-SHA256", "sha256"), ("赵六", "04", "ECDSA-SHA384", "sha384")):
            digest = hashlib.new(md, self.DATA).digest()
            st, _, body = self.sign(cn, alg, [{"digest": b64(digest)}])
            self.assertEqual(st, 200, body)
            self.assertTrue(self.verify_raw(key, md, self.DATA, body["signatures"][0]), alg)

    def test_all_items_of_one_request_share_one_dialog(self):
        self.pin.answer("pin 123456")
        docs = [f"标书 {i}".encode() for i in range(5)]
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(d), "label": f"doc{i}"} for i, d in enumerate(docs)])
        self.assertEqual(st, 200, body)
        self.assertEqual(len(body["signatures"]), 5)
        for d, s in zip(docs, body["signatures"]):
            self.assertTrue(self.verify_raw("01", "sha256", d, s))
        self.assertEqual(len(self.pin.dialogs()), 1)

    def verify_cms(self, sig, detached, data):
        cms, content, out = (os.path.join(self.tmp, n) for n in ("cms.der", "content", "out"))
        with open(cms, "wb") as f:
            f.write(base64.b64decode(sig))
        with open(content, "wb") as f:
            f.write(data)
        args = ["cms", "-verify", "-binary", "-inform", "DER", "-in", cms, "-CAfile",
                os.path.join(self.tokens.path, "ca", "ca.pem"), "-purpose", "any", "-out", out]
        if detached:
            args += ["-content", content]
        self.assertTrue(openssl_ok(*args), "openssl cms -verify")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        printed = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", cms],
                                 capture_output=True, text=True).stdout
        self.assertIn("signingTime", printed)
        self.assertIn("张三" if "张三" in printed else "CN=", printed)
        self.assertEqual("eContent: <ABSENT>" in printed, detached)

    def test_cms_attached_and_detached_verify_with_openssl(self):
        self.pin.answer("pin 123456")
        for fmt in ("cms", "cms-detached"):
            for cn, alg in (("张三", "RSA-PKCS1-SHA256"), ("张三", "RSA-PSS-SHA256"), ("赵六", "ECDSA-SHA256")):
                st, _, body = self.sign(cn, alg, [{"data": b64(self.DATA)}], fmt=fmt)
                self.assertEqual(st, 200, (fmt, alg, body))
                self.verify_cms(body["signatures"][0], fmt == "cms-detached", self.DATA)

    def test_the_dialog_names_origin_operation_token_and_certificate(self):
        self.pin.answer("pin 123456")
        st, _, _ = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual(st, 200)
        (dialog,) = self.pin.dialogs()
        self.assertEqual(dialog["command"], "GETPIN")
        text = " ".join(str(dialog.get(k) or "") for k in ("title", "description", "prompt"))
        self.assertIn(kbtest.ORIGIN, text)
        self.assertIn("张三", text)
        self.assertIn("kb-sign", text)
        self.assertTrue("sign" in text.lower() or "签名" in text, text)
        self.assertNotIn("123456", json.dumps(dialog), "the record never holds the PIN")

    def test_an_empty_pin_is_not_tried(self):
        self.pin.answer("pin ")
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_CANCELLED"), body)
        st, _, tok = self.d.get(f"/v1/tokens/{self.token['id']}")
        self.assertEqual(tok["pin"]["status"], "ok", "no try was spent")

    def test_cancel_gives_pin_cancelled(self):
        self.pin.answer("cancel")
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_CANCELLED"))
        self.assertFalse(self.authorized(kbtest.ORIGIN))

    def test_wrong_pin_is_incorrect_with_state_then_cools_down(self):
        self.pin.answer("pin 000000")
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual((st, body["error"]["code"]), (401, "PIN_INCORRECT"))
        self.assertIn(body["error"]["pinStatus"], ("ok", "countLow"))
        self.assertIn("retriesLeft", body["error"])
        self.pin.answer("pin 123456")
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual((st, body["error"]["code"]), (429, "RATE_LIMITED"), "cool-down after a wrong PIN")
        time.sleep(1.2)
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual(st, 200, body)

    def test_another_origin_cannot_use_this_origins_authorization(self):
        self.pin.answer("pin 123456", "cancel")
        st, _, _ = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual(st, 200)
        self.assertTrue(self.authorized(kbtest.ORIGIN))
        self.assertFalse(self.authorized(OTHER))
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}], origin=OTHER)
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_CANCELLED"))
        dialogs = self.pin.dialogs()
        self.assertEqual(len(dialogs), 2, "the other origin got its own dialog")
        self.assertIn(OTHER, dialogs[1]["description"])

    def test_authorization_ends_after_the_idle_timeout(self):
        self.pin.answer("pin 123456")
        st, _, _ = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual(st, 200)
        self.assertTrue(self.authorized(kbtest.ORIGIN))
        time.sleep(IDLE + 1.5)
        self.assertFalse(self.authorized(kbtest.ORIGIN))
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}])
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_CANCELLED"), "a new dialog (script empty: cancel)")

    def test_page_pin_origin_may_send_the_pin(self):
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}], origin=PAGE_PIN, pin="123456")
        self.assertEqual(st, 200, body)
        self.assertEqual(self.pin.dialogs(), [], "no dialog for a page PIN")

    def test_other_origins_may_not_send_a_pin(self):
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(self.DATA)}], pin="123456")
        self.assertEqual((st, body["error"]["code"], body["error"].get("field")), (400, "BAD_REQUEST", "pin"))
        self.assertNotIn("123456", json.dumps(body))

    def test_bad_input_gets_its_code(self):
        cert = self.certs["张三"]["id"]
        ok_item = [{"data": b64(self.DATA)}]
        cases = [
            ({"certificate": "ffffffffffffffff", "algorithm": "RSA-PKCS1-SHA256", "items": ok_item}, 404, "NOT_FOUND", None),
            ({"certificate": cert, "algorithm": "RSA-MD5", "items": ok_item}, 400, "UNSUPPORTED_ALGORITHM", "algorithm"),
            ({"certificate": cert, "algorithm": "ECDSA-SHA256", "items": ok_item}, 400, "UNSUPPORTED_ALGORITHM", "algorithm"),
            ({"certificate": cert, "algorithm": "SM2-SM3", "items": ok_item}, 400, "UNSUPPORTED_ALGORITHM", "algorithm"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": [{"data": "not base64!"}]}, 400, "BAD_REQUEST", "items[0].data"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": []}, 400, "BAD_REQUEST", "items"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": ok_item * 65}, 400, "BAD_REQUEST", "items"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": [{"data": "", "digest": ""}]}, 400, "BAD_REQUEST", "items[0]"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": [{"digest": b64(b"short")}]}, 400, "BAD_REQUEST", "items[0].digest"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": [{"digest": b64(bytes(32))}], "format": "cms"}, 400, "BAD_REQUEST", "items[0].digest"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": ok_item, "format": "pdf"}, 400, "BAD_REQUEST", "format"),
            ({"certificate": self.certs["李四"]["id"], "algorithm": "ECDSA-SHA256", "items": ok_item}, 400, "BAD_REQUEST", "certificate"),
            ({"algorithm": "RSA-PKCS1-SHA256", "items": ok_item}, 400, "BAD_REQUEST", "certificate"),
            ({"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": ok_item, "confirmFinalTry": "yes"}, 400, "BAD_REQUEST", "confirmFinalTry"),
        ]
        for body, status, code, field in cases:
            st, _, resp = self.d.request("POST", f"/v1/tokens/{self.token['id']}/sign", body=body)
            self.assertEqual((st, resp["error"]["code"]), (status, code), body)
            if field:
                self.assertEqual(resp["error"].get("field"), field, body)
        self.assertEqual(self.pin.dialogs(), [], "bad input never reaches the PIN dialog")
        st, _, resp = self.d.request("POST", "/v1/tokens/0000000000000000/sign",
                                     body={"certificate": cert, "algorithm": "RSA-PKCS1-SHA256", "items": ok_item})
        self.assertEqual((st, resp["error"]["code"]), (404, "NOT_FOUND"))
        st, _, resp = self.d.request("POST", f"/v1/tokens/{self.token['id']}/sign", body=b"[1,2]",
                                     headers={"Content-Type": "application/json"})
        self.assertEqual((st, resp["error"]["code"]), (400, "BAD_REQUEST"))


class Authenticate(SignBase):
    def authenticate(self, cn, challenge, origin=kbtest.ORIGIN, headers=None):
        return self.d.request("POST", f"/v1/tokens/{self.token['id']}/authenticate", origin=origin, headers=headers,
                              body={"certificate": self.certs[cn]["id"], "challenge": b64(challenge)})

    def verifier(self, response, origin, challenge):
        return subprocess.run([sys.executable, VERIFIER, "--origin", origin, "--challenge", b64(challenge),
                               "--cafile", os.path.join(self.tokens.path, "ca", "ca.pem")],
                              input=json.dumps(response), capture_output=True, text=True)

    def test_verifies_for_its_origin_only(self):
        self.pin.answer("pin 123456")
        for cn, alg in (("张三", "RSA-PKCS1-SHA256"), ("赵六", "ECDSA-SHA256")):
            challenge = os.urandom(32)
            st, _, body = self.authenticate(cn, challenge)
            self.assertEqual(st, 200, body)
            self.assertEqual((body["format"], body["algorithm"]), ("keybridge-auth-1", alg))
            ok = self.verifier(body, kbtest.ORIGIN, challenge)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertIn(cn, ok.stdout)
            self.assertNotEqual(self.verifier(body, OTHER, challenge).returncode, 0, "another origin")
            self.assertNotEqual(self.verifier(body, kbtest.ORIGIN, os.urandom(32)).returncode, 0, "another challenge")
        dialogs = self.pin.dialogs()
        self.assertTrue(any("认证" in d["description"] or "authenticat" in d["description"].lower() for d in dialogs))

    def test_short_challenge_and_local_tools_are_refused(self):
        st, _, body = self.authenticate("张三", os.urandom(15))
        self.assertEqual((st, body["error"].get("field")), (400, "challenge"))
        st, _, body = self.authenticate("张三", os.urandom(16), origin=None,
                                        headers={"Authorization": "Bearer " + self.d.api_token})
        self.assertEqual((st, body["error"].get("field")), (400, "origin"))
        self.assertEqual(self.pin.dialogs(), [])


class DialogLimit(SignBase):
    dialogs_per_minute = 2

    def test_an_origin_cannot_raise_more_dialogs_than_the_limit(self):
        self.pin.answer("cancel", "cancel", "cancel")
        item = [{"data": b64(b"x")}]
        codes = [self.sign("张三", "RSA-PKCS1-SHA256", item)[2]["error"]["code"] for _ in range(3)]
        self.assertEqual(codes, ["PIN_CANCELLED", "PIN_CANCELLED", "RATE_LIMITED"])
        self.assertEqual(len(self.pin.dialogs()), 2)
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", item, origin=OTHER)
        self.assertEqual(body["error"]["code"], "PIN_CANCELLED", "the limit is per origin")


class JobWorkers(SignBase):
    def test_consecutive_signs_reuse_one_worker_thread(self):
        """Token work runs on kept worker threads, not a new thread per
        request (daemon/server/jobs.c): the same one extra thread serves each."""
        tasks = f"/proc/{self.d.proc.pid}/task"
        before = set(os.listdir(tasks))
        self.pin.answer("pin 123456")
        item = [{"data": b64(b"reuse")}]
        seen = []
        for _ in range(10):
            st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", item)
            self.assertEqual(st, 200, body)
            seen.append(set(os.listdir(tasks)) - before)
        self.assertEqual(len(seen[0]), 1, seen)
        self.assertTrue(all(s == seen[0] for s in seen), seen)


class ParallelSigning(SignBase):
    """Signatures of an origin that is authorized, with a key already found,
    run side by side on the login's sessions (lib/pkcs11/p11-pool.c) instead of one
    after another on one session under one lock. The fault module holds a
    C_Sign inside the token to show it."""

    @classmethod
    def setUpClass(cls):
        cls.ctl_dir = tempfile.mkdtemp(prefix="kb-parallel-")
        cls.ctl = FaultControl(os.path.join(cls.ctl_dir, "control"))
        cls.calls = os.path.join(cls.ctl_dir, "calls.log")
        cls.extra_env = cls.ctl.environ(module=kbtest.SOFTHSM)
        super().setUpClass()

    @classmethod
    def modules(cls):
        return [module_path()]

    def tearDown(self):
        self.ctl.clear()

    def wait_for_hold(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(self.calls):
                with open(self.calls) as f:
                    if "C_Sign HOLD" in f.read():
                        return
            time.sleep(0.05)
        self.fail("no C_Sign was held")

    def signed_in_background(self, cn, algorithm, data):
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            answer=self.sign(cn, algorithm, [{"data": b64(data)}])))
        thread.start()
        return thread, result

    def check_parallel(self, cn, key_id, algorithm, md):
        self.pin.answer("pin 123456")
        st, _, body = self.sign(cn, algorithm, [{"data": b64(b"log in, find the key")}])
        self.assertEqual(st, 200, body)
        if os.path.exists(self.calls):
            os.unlink(self.calls)
        self.ctl.log(self.calls)
        self.ctl.fail("C_Sign", 1, "HOLD")
        held, result = self.signed_in_background(cn, algorithm, b"held in the token")
        self.wait_for_hold()

        st, _, body = self.sign(cn, algorithm, [{"data": b64(b"meanwhile")}])
        self.assertEqual(st, 200, body)
        self.assertTrue(self.verify_raw(key_id, md, b"meanwhile", body["signatures"][0]))
        self.assertTrue(held.is_alive(), "the held signature is still inside the token")

        self.ctl.clear()
        held.join(30)
        st, _, body = result["answer"]
        self.assertEqual(st, 200, body)
        self.assertTrue(self.verify_raw(key_id, md, b"held in the token", body["signatures"][0]))
        self.assertEqual(len(self.pin.dialogs()), 1, "one login served all of them")

    def test_rsa_signatures_run_side_by_side(self):
        self.check_parallel("张三", "01", "RSA-PKCS1-SHA256", "sha256")

    def test_ecdsa_signatures_run_side_by_side(self):
        self.check_parallel("赵六", "04", "ECDSA-SHA256", "sha256")

    def test_a_token_pulled_during_parallel_signatures_logs_out_and_recovers(self):
        self.pin.answer("pin 123456", "pin 123456")
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(b"first")}])
        self.assertEqual(st, 200, body)
        if os.path.exists(self.calls):
            os.unlink(self.calls)
        self.ctl.log(self.calls)
        self.ctl.fail("C_Sign", 1, "HOLD")
        held, result = self.signed_in_background("张三", "RSA-PKCS1-SHA256", b"pulled")
        self.wait_for_hold()
        self.ctl.removed(True)
        held.join(30)
        st, _, body = result["answer"]
        self.assertEqual(body["error"]["code"], "TOKEN_NOT_PRESENT", body)
        self.ctl.clear()  # back in, and no more holds
        deadline = time.time() + 20
        while time.time() < deadline and not self.token_listed():
            time.sleep(0.1)
        self.assertFalse(self.authorized(kbtest.ORIGIN), "the removal ended the authorization")
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(b"back")}])
        self.assertEqual(st, 200, body)
        self.assertEqual(len(self.pin.dialogs()), 2, "the returned token needed the PIN again")

    def token_listed(self):
        st, _, body = self.d.get("/v1/tokens")
        return any(t["id"] == self.token["id"] for t in body["tokens"])


class SignOverHttps(SignBase):
    tls = True

    def test_sign_over_https(self):
        self.pin.answer("pin 123456")
        data = b"over https"
        st, _, body = self.sign("张三", "RSA-PKCS1-SHA256", [{"data": b64(data)}])
        self.assertEqual(st, 200, body)
        self.assertTrue(self.verify_raw("01", "sha256", data, body["signatures"][0]))


del SignBase

if __name__ == "__main__":
    kbtest.run("__main__")
