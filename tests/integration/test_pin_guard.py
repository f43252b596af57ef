#!/usr/bin/env python3
"""The PIN guard and removal, against the fault-injecting PKCS#11 module
(which simulates what SoftHSM2 cannot: retry counters that lock, a token
pulled out mid-operation) wrapping a real SoftHSM2 token."""
import base64
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from p11fault import FaultControl, module_path  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402

DATA = base64.b64encode(b"contract").decode()
# One origin per test, so no test inherits another's authorization.
ORIGINS = [f"https://guard{i}.example.cn" for i in range(8)]


class PinGuard(unittest.TestCase):
    used = 0

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-guard-")
        cls.tokens = kbtest.TokenDir(("kb-guard",))
        cls.pin = Pinentry(cls.tmp)
        cls.ctl = FaultControl(os.path.join(cls.tmp, "control"))
        env = dict(cls.pin.env, **cls.ctl.environ(module=kbtest.SOFTHSM))
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=[module_path()], env=env,
                              extra=["--pinentry", PINENTRY, "--pin-cooldown", "0", "--pin-idle-timeout", "60",
                                     "--dialogs-per-minute", "1000"] +
                              [a for o in ORIGINS for a in ("--allow-origin", o)]).start()
        st, _, body = cls.d.get("/v1/tokens")
        cls.token = body["tokens"][0]
        cls.cert = next(c for c in cls.token["certificates"] if c["subjectFields"]["CN"] == "张三")

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def setUp(self):
        self.origin = ORIGINS[PinGuard.used]
        PinGuard.used += 1
        self.ctl.clear()
        # A fresh log file per test: the module keeps its log open while the path is unchanged.
        self.calls = os.path.join(self.tmp, f"calls-{PinGuard.used}.log")
        self.ctl.pin_tries(3).log(self.calls)
        self.pin.clear()
        self.pin.answer()

    def sign(self, **extra):
        body = {"certificate": self.cert["id"], "algorithm": "RSA-PKCS1-SHA256", "items": [{"data": DATA}]}
        body.update(extra)
        return self.d.request("POST", f"/v1/tokens/{self.token['id']}/sign", body=body, origin=self.origin)

    def logins(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return [line.split()[1] for line in f if line.startswith("C_Login ")]

    def pin_state(self):
        st, _, body = self.d.get(f"/v1/tokens/{self.token['id']}")
        return body["pin"]

    def wait_for(self, predicate, what, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}")

    def wrong_pin(self, want_status, want_retries, **extra):
        self.pin.answer("pin 999999")
        st, _, body = self.sign(**extra)
        self.assertEqual((st, body["error"]["code"]), (401, "PIN_INCORRECT"), body)
        self.assertEqual((body["error"]["pinStatus"], body["error"]["retriesLeft"]), (want_status, want_retries))

    def test_wrong_pins_count_down_and_the_final_try_needs_confirmation(self):
        self.wrong_pin("countLow", None)
        self.wrong_pin("finalTry", 1)
        self.pin.clear()
        st, _, body = self.sign()
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_FINAL_TRY"))
        self.assertEqual(body["error"]["retriesLeft"], 1)
        self.assertEqual(self.pin.dialogs(), [], "no dialog without confirmation")
        self.assertEqual(len(self.logins()), 2, "the final try was not spent")
        self.pin.answer("pin 123456")
        st, _, body = self.sign(confirmFinalTry=True)
        self.assertEqual(st, 200, body)
        dialog = self.pin.dialogs()[0]
        self.assertTrue("最后" in dialog["description"] or "final" in dialog["description"].lower(), dialog)
        self.wait_for(lambda: self.pin_state()["status"] == "ok", "the counter to refill")

    def test_a_locked_pin_is_never_tried(self):
        self.wrong_pin("countLow", None)
        self.wrong_pin("finalTry", 1)
        self.wrong_pin("locked", 0, confirmFinalTry=True)
        self.pin.clear()
        n = len(self.logins())
        self.pin.answer("pin 123456")
        for confirm in (False, True):
            st, _, body = self.sign(confirmFinalTry=confirm)
            self.assertEqual((st, body["error"]["code"]), (423, "PIN_LOCKED"))
        self.assertEqual(self.pin.dialogs(), [], "no dialog for a locked PIN")
        self.assertEqual(len(self.logins()), n, "no login attempted")
        self.wait_for(lambda: self.pin_state()["status"] == "locked", "the list to show the lock")

    def test_removal_ends_the_authorization(self):
        self.pin.answer("pin 123456")
        st, _, body = self.sign()
        self.assertEqual(st, 200, body)
        self.assertTrue(self.d.get(f"/v1/tokens/{self.token['id']}", origin=self.origin)[2]["authorized"])
        self.ctl.removed(True)
        self.wait_for(lambda: self.d.get(f"/v1/tokens/{self.token['id']}")[0] == 409, "the token to go")
        st, _, body = self.sign()
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"))
        self.ctl.removed(False)
        self.wait_for(lambda: self.d.get(f"/v1/tokens/{self.token['id']}")[0] == 200, "the token to return")
        self.wait_for(lambda: not self.d.get(f"/v1/tokens/{self.token['id']}", origin=self.origin)[2]["authorized"],
                      "the authorization to be gone")
        self.pin.answer("pin 123456")
        st, _, body = self.sign()
        self.assertEqual(st, 200, body)
        self.assertEqual(len(self.pin.dialogs()), 2, "a new PIN entry after re-insertion")

    def test_a_token_pulled_mid_sign_is_not_present_and_recovers(self):
        self.pin.answer("pin 123456")
        self.ctl.fail("C_Sign", 1, "CKR_DEVICE_REMOVED")
        st, _, body = self.sign()
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        self.assertFalse(self.d.get(f"/v1/tokens/{self.token['id']}", origin=self.origin)[2]["authorized"])
        self.ctl.clear()
        self.ctl.pin_tries(3)
        self.pin.answer("pin 123456")
        st, _, body = self.sign()
        self.assertEqual(st, 200, body)


class IdleLogout(unittest.TestCase):
    def test_the_token_is_logged_out_when_no_authorization_is_left(self):
        tmp = tempfile.mkdtemp(prefix="kb-logout-")
        tokens = kbtest.TokenDir(("kb-logout",))
        self.addCleanup(tokens.cleanup)
        pin = Pinentry(tmp)
        ctl = FaultControl(os.path.join(tmp, "control"))
        calls = os.path.join(tmp, "calls.log")
        ctl.log(calls)
        d = kbtest.Daemon(tokens, tls=False, modules=[module_path()],
                          env=dict(pin.env, **ctl.environ(module=kbtest.SOFTHSM)),
                          extra=["--pinentry", PINENTRY, "--pin-idle-timeout", "2"]).start()
        self.addCleanup(d.cleanup)
        tok = d.get("/v1/tokens")[2]["tokens"][0]
        cert = next(c for c in tok["certificates"] if c["subjectFields"]["CN"] == "张三")
        pin.answer("pin 123456")
        st, _, body = d.request("POST", f"/v1/tokens/{tok['id']}/sign", body={
            "certificate": cert["id"], "algorithm": "RSA-PKCS1-SHA256", "items": [{"data": DATA}]})
        self.assertEqual(st, 200, body)

        def logouts():
            with open(calls) as f:
                return [line for line in f if line.startswith("C_Logout ")]
        self.assertEqual(logouts(), [], "still authorized: still logged in")
        deadline = time.time() + 8
        while time.time() < deadline and not logouts():
            time.sleep(0.1)
        self.assertEqual([line.split()[1] for line in logouts()], ["CKR_OK"])
        self.assertFalse(d.get(f"/v1/tokens/{tok['id']}")[2]["authorized"])


if __name__ == "__main__":
    kbtest.run("__main__")
