#!/usr/bin/env python3
"""PIN management: pin.change and pin.unblock through the real daemon, real
SoftHSM2 tokens behind the fault-injecting module (retry counters that lock,
a token pulled out), and the scripted pinentry. Every test has a token of its
own, so one test's PIN never leaks into another's."""
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

DATA = base64.b64encode(b"pin management").decode()
PAGE_PIN = "https://pagepin.example.cn"
ORIGINS = [f"https://pin{i}.example.cn" for i in range(4)]
SO_PIN = "12345678"
# Every PIN and code the tests type or send: none may show up in a log.
SECRETS = ["123456", SO_PIN, "654321", "11112222", "24682468", "87654321", "999999", "13579bdf"]


def labels(prefix, n):
    return tuple(f"{prefix}-{i}" for i in range(n))


class Base(unittest.TestCase):
    prefix = "kb-pin"
    n_tokens = 1
    sysconf = ""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-pin-")
        cls.tokens = kbtest.TokenDir(labels(cls.prefix, cls.n_tokens))
        cls.pin = Pinentry(cls.tmp)
        cls.ctl = FaultControl(os.path.join(cls.tmp, "control"))
        conf = os.path.join(cls.tmp, "keybridge.conf")
        with open(conf, "w") as f:
            f.write(f"page-pin-origin = {PAGE_PIN}\nallow-origin = {PAGE_PIN}\n" + cls.sysconf)
        env = dict(cls.pin.env, KEYBRIDGE_SYSTEM_CONFIG=conf, **cls.ctl.environ(module=kbtest.SOFTHSM))
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=[module_path()], env=env,
                              extra=["--pinentry", PINENTRY, "--pin-cooldown", "0", "--dialogs-per-minute", "1000"] +
                              [a for o in ORIGINS for a in ("--allow-origin", o)])
        cls.d.start()
        cls.all_tokens = {t["label"]: t for t in cls.d.get("/v1/tokens")[2]["tokens"]}
        cls.used = 0

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def setUp(self):
        cls = type(self)
        self.token = cls.all_tokens[f"{cls.prefix}-{cls.used}"]
        cls.used += 1
        self.cert = next(c for c in self.token["certificates"] if c["subjectFields"]["CN"] == "张三")
        self.ctl.clear()
        self.calls = os.path.join(self.tmp, f"calls-{cls.used}.log")
        self.ctl.pin_tries(3).log(self.calls)
        self.pin.clear()
        self.pin.answer()
        self.wait_for(lambda: self.d.get(f"/v1/tokens/{self.token['id']}")[0] == 200, "the token")

    def path(self, what):
        return f"/v1/tokens/{self.token['id']}/{what}"

    def post(self, what, body, origin=kbtest.ORIGIN):
        return self.d.request("POST", self.path(what), body=body, origin=origin)

    def sign(self, origin=kbtest.ORIGIN, **extra):
        body = {"certificate": self.cert["id"], "algorithm": "RSA-PKCS1-SHA256", "items": [{"data": DATA}]}
        body.update(extra)
        return self.post("sign", body, origin=origin)

    def sign_with(self, pin, origin, **extra):
        self.pin.answer(f"pin {pin}")
        return self.sign(origin=origin, **extra)

    def token_pin(self, origin=kbtest.ORIGIN):
        st, _, body = self.d.get(f"/v1/tokens/{self.token['id']}", origin=origin)
        self.assertEqual(st, 200, body)
        return body["pin"]

    def pkcs11_calls(self, name):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return [line.split()[1] for line in f if line.startswith(name + " ")]

    def wait_for(self, predicate, what, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}")

    def assert_error(self, reply, status, code):
        st, _, body = reply
        self.assertEqual((st, body.get("error", {}).get("code")), (status, code), body)
        return body["error"]


class PinChange(Base):
    prefix = "kb-chg"
    n_tokens = 9

    def test_change_in_the_dialog_then_only_the_new_pin_signs(self):
        self.pin.answer("pin 123456", "pin 654321", "pin 654321")
        st, _, body = self.post("pin/change", {}, origin=ORIGINS[0])
        self.assertEqual((st, body), (200, {"changed": True}))
        dialogs = self.pin.dialogs()
        self.assertEqual(len(dialogs), 3)
        for d in dialogs:
            self.assertIn(ORIGINS[0], d["description"])
            self.assertTrue("change the PIN" in d["description"] or "修改" in d["description"], d)
        self.assertEqual(self.pkcs11_calls("C_SetPIN"), ["CKR_OK"])
        self.assertTrue(self.d.get(f"/v1/tokens/{self.token['id']}", origin=ORIGINS[0])[2]["authorized"],
                        "the origin that changed the PIN is authorized")
        self.assertEqual(self.sign(origin=ORIGINS[0])[0], 200)
        self.assert_error(self.sign_with("123456", ORIGINS[1]), 401, "PIN_INCORRECT")
        st, _, body = self.sign_with("654321", ORIGINS[1])
        self.assertEqual(st, 200, body)

    def test_a_page_pin_origin_changes_with_oldPin_and_newPin_without_a_dialog(self):
        st, _, body = self.post("pin/change", {"oldPin": "123456", "newPin": "11112222"}, origin=PAGE_PIN)
        self.assertEqual((st, body), (200, {"changed": True}))
        self.assertEqual(self.pin.dialogs(), [])
        self.assertEqual(self.sign(origin=PAGE_PIN)[0], 200)
        st, _, body = self.sign_with("11112222", ORIGINS[0])
        self.assertEqual(st, 200, body)

    def test_other_origins_may_not_send_pins(self):
        for field, body in (("oldPin", {"oldPin": "123456", "newPin": "11112222"}), ("newPin", {"newPin": "11112222"})):
            err = self.assert_error(self.post("pin/change", body), 400, "BAD_REQUEST")
            self.assertEqual(err["field"], field)
        self.assertEqual(self.pin.dialogs(), [])
        self.assertEqual(self.pkcs11_calls("C_Login"), [])

    def test_new_pins_outside_the_token_limits_are_refused_before_the_token_is_asked(self):
        limits = self.token_pin()
        self.assertEqual((limits["minLength"], limits["maxLength"]), (4, 255))
        for new in ("12", "9" * 300):
            err = self.assert_error(self.post("pin/change", {"oldPin": "123456", "newPin": new}, origin=PAGE_PIN),
                                    400, "PIN_POLICY")
            self.assertEqual((err["minLength"], err["maxLength"]), (4, 255))
        self.pin.answer("pin 123456", "pin 12", "pin 12")
        err = self.assert_error(self.post("pin/change", {}), 400, "PIN_POLICY")
        self.assertEqual(err["minLength"], 4)
        self.assertEqual(self.pkcs11_calls("C_Login") + self.pkcs11_calls("C_SetPIN"), [], "the token was not asked")
        self.assertEqual(self.token_pin()["status"], "ok")

    def test_a_wrong_current_pin_reports_the_new_state_and_changes_nothing(self):
        self.pin.answer("pin 999999", "pin 11112222", "pin 11112222")
        err = self.assert_error(self.post("pin/change", {}), 401, "PIN_INCORRECT")
        self.assertEqual((err["pinStatus"], err["retriesLeft"]), ("countLow", None))
        self.assertEqual(self.pkcs11_calls("C_SetPIN"), [])
        st, _, body = self.sign_with("123456", ORIGINS[2])
        self.assertEqual(st, 200, body)

    def test_an_empty_current_pin_is_not_tried(self):
        self.pin.answer("pin ")
        self.assert_error(self.post("pin/change", {}), 409, "PIN_CANCELLED")
        self.assertEqual(self.pkcs11_calls("C_Login") + self.pkcs11_calls("C_SetPIN"), [])

    def test_new_pins_that_differ_twice_cancel(self):
        self.pin.answer("pin 123456", "pin 11112222", "pin 22221111", "pin 11112222", "pin 33331111")
        self.assert_error(self.post("pin/change", {}), 409, "PIN_CANCELLED")
        dialogs = self.pin.dialogs()
        self.assertEqual(len(dialogs), 5)
        self.assertTrue(dialogs[3].get("error"), "the second try says why")
        self.assertEqual(self.pkcs11_calls("C_Login") + self.pkcs11_calls("C_SetPIN"), [])

    def test_the_guard_applies_to_the_current_pin(self):
        for _ in range(2):
            self.sign_with("999999", ORIGINS[3])
        err = self.assert_error(self.post("pin/change", {}), 409, "PIN_FINAL_TRY")
        self.assertEqual(err["retriesLeft"], 1)
        self.assertEqual(self.pin.dialogs()[2:], [], "no dialog without confirmation")
        self.sign_with("999999", ORIGINS[3], confirmFinalTry=True)
        self.assert_error(self.post("pin/change", {"confirmFinalTry": True}), 423, "PIN_LOCKED")

    def test_a_removed_token_is_not_present(self):
        self.ctl.fail("C_SetPIN", 1, "CKR_DEVICE_REMOVED")
        self.assert_error(self.post("pin/change", {"oldPin": "123456", "newPin": "11112222"}, origin=PAGE_PIN),
                          409, "TOKEN_NOT_PRESENT")
        self.ctl.clear()
        self.ctl.pin_tries(3)
        st, _, body = self.sign_with("123456", ORIGINS[1])
        self.assertEqual(st, 200, body)
        self.pin.clear()
        self.ctl.removed(True)
        self.addCleanup(self.ctl.removed, False)
        self.wait_for(lambda: self.d.get(f"/v1/tokens/{self.token['id']}")[0] == 409, "the token to go")
        self.pin.answer("pin 123456", "pin 11112222", "pin 11112222")
        self.assert_error(self.post("pin/change", {}), 409, "TOKEN_NOT_PRESENT")
        self.assert_error(self.post("pin/unblock", {"unblockCode": SO_PIN, "newPin": "123456"}),
                          409, "TOKEN_NOT_PRESENT")
        self.assertEqual(self.pin.dialogs(), [])
        self.ctl.removed(False)
        self.wait_for(lambda: self.d.get(f"/v1/tokens/{self.token['id']}")[0] == 200, "the token to return")


class PinUnblock(Base):
    prefix = "kb-unb"
    n_tokens = 4

    def lock(self):
        self.sign_with("999999", ORIGINS[0])
        self.sign_with("999999", ORIGINS[0])
        self.assert_error(self.sign_with("999999", ORIGINS[0], confirmFinalTry=True), 401, "PIN_INCORRECT")
        self.assert_error(self.sign_with("123456", ORIGINS[0]), 423, "PIN_LOCKED")
        self.pin.clear()

    def test_a_locked_pin_is_unblocked_to_the_portal_pin_and_signs_again(self):
        self.lock()
        st, _, body = self.post("pin/unblock", {"unblockCode": SO_PIN, "newPin": "123456"})
        self.assertEqual((st, body), (200, {"unblocked": True, "mustChange": False}))
        self.assertEqual(self.pin.dialogs(), [], "the code comes from the portal: no dialog")
        self.wait_for(lambda: self.token_pin()["status"] == "ok", "the lock to go")
        st, _, body = self.sign_with("123456", ORIGINS[1])
        self.assertEqual(st, 200, body)

    def test_a_wrong_unblock_code_reports_the_so_state_and_changes_nothing(self):
        st, _, body = self.post("pin/unblock", {"unblockCode": "87654321", "newPin": "13579bdf"})
        err = self.assert_error((st, _, body), 401, "PIN_INCORRECT")
        self.assertIn("soPinStatus", err)
        self.assertNotIn("pinStatus", err)
        self.assertNotIn("87654321", str(body))
        self.assertEqual(self.pkcs11_calls("C_InitPIN"), [])
        st, _, body = self.sign_with("123456", ORIGINS[2])
        self.assertEqual(st, 200, body)
        self.assert_error(self.sign_with("13579bdf", ORIGINS[3]), 401, "PIN_INCORRECT")

    def test_without_newPin_the_user_types_the_new_pin_twice(self):
        self.pin.answer("pin 24682468", "pin 24682468")
        st, _, body = self.post("pin/unblock", {"unblockCode": SO_PIN}, origin=ORIGINS[1])
        self.assertEqual((st, body), (200, {"unblocked": True, "mustChange": False}))
        dialogs = self.pin.dialogs()
        self.assertEqual(len(dialogs), 2)
        for d in dialogs:
            self.assertIn(ORIGINS[1], d["description"])
            self.assertTrue("unblock" in d["description"] or "解锁" in d["description"], d)
        st, _, body = self.sign_with("24682468", ORIGINS[2])
        self.assertEqual(st, 200, body)

    def test_bad_requests_name_their_field(self):
        for body, field in (({}, "unblockCode"), ({"unblockCode": ""}, "unblockCode"),
                            ({"unblockCode": 12345678}, "unblockCode"),
                            ({"unblockCode": SO_PIN, "newPin": 5}, "newPin")):
            err = self.assert_error(self.post("pin/unblock", body), 400, "BAD_REQUEST")
            self.assertEqual(err["field"], field)
        err = self.assert_error(self.post("pin/unblock", {"unblockCode": SO_PIN, "newPin": "12"}), 400, "PIN_POLICY")
        self.assertEqual(err["minLength"], 4)
        self.assertEqual(self.pkcs11_calls("C_Login"), [])


class MustChange(Base):
    prefix = "kb-mc"
    n_tokens = 2
    sysconf = "pin-must-change-after-unblock = yes\n"

    def state_file(self):
        path = os.path.join(self.d.state, "must-change")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().split()

    def test_a_pin_reset_to_the_portal_value_must_be_changed_before_signing(self):
        st, _, body = self.post("pin/unblock", {"unblockCode": SO_PIN, "newPin": "123456"})
        self.assertEqual((st, body), (200, {"unblocked": True, "mustChange": True}))
        self.assertEqual(self.token_pin()["status"], "mustChange")
        listed = next(t for t in self.d.get("/v1/tokens")[2]["tokens"] if t["id"] == self.token["id"])
        self.assertEqual(listed["pin"]["status"], "mustChange")
        self.assertEqual(self.state_file(), [self.token["id"]])
        err = self.assert_error(self.sign_with("123456", ORIGINS[0]), 400, "PIN_POLICY")
        self.assertEqual(err["reason"], "mustChange")
        self.assertEqual(self.pin.dialogs(), [], "refused before any dialog")
        self.pin.answer("pin 123456", "pin 654321", "pin 654321")
        st, _, body = self.post("pin/change", {}, origin=ORIGINS[1])
        self.assertEqual((st, body), (200, {"changed": True}))
        self.assertEqual(self.token_pin()["status"], "ok")
        self.assertEqual(self.state_file(), [])
        st, _, body = self.sign_with("654321", ORIGINS[2])
        self.assertEqual(st, 200, body)

    def test_a_pin_the_user_typed_need_not_be_changed_and_a_restart_remembers(self):
        self.pin.answer("pin 24682468", "pin 24682468")
        st, _, body = self.post("pin/unblock", {"unblockCode": SO_PIN})
        self.assertEqual((st, body["mustChange"]), (200, False))
        st, _, body = self.post("pin/unblock", {"unblockCode": SO_PIN, "newPin": "123456"})
        self.assertEqual((st, body["mustChange"]), (200, True))
        self.d.stop()
        self.d.start()
        self.assertEqual(self.token_pin()["status"], "mustChange")
        self.assert_error(self.sign_with("123456", ORIGINS[3]), 400, "PIN_POLICY")


class NoSecretsLogged(unittest.TestCase):
    """Runs the flows above once more in one daemon and greps its log and
    the pinentry log for every PIN and code."""

    def test_no_pin_or_unblock_code_appears_in_any_log(self):
        tmp = tempfile.mkdtemp(prefix="kb-pinlog-")
        tokens = kbtest.TokenDir(("kb-log",))
        self.addCleanup(tokens.cleanup)
        pin = Pinentry(tmp)
        conf = os.path.join(tmp, "keybridge.conf")
        with open(conf, "w") as f:
            f.write(f"page-pin-origin = {PAGE_PIN}\nallow-origin = {PAGE_PIN}\npin-must-change-after-unblock = yes\n")
        d = kbtest.Daemon(tokens, tls=False, env=dict(pin.env, KEYBRIDGE_SYSTEM_CONFIG=conf),
                          extra=["--pinentry", PINENTRY, "--pin-cooldown", "0"])
        d.start()
        self.addCleanup(d.cleanup)
        tok = d.get("/v1/tokens")[2]["tokens"][0]

        def post(what, body, origin=kbtest.ORIGIN):
            return d.request("POST", f"/v1/tokens/{tok['id']}/pin/{what}", body=body, origin=origin)[0]
        pin.answer("pin 999999", "pin 654321", "pin 654321")
        self.assertEqual(post("change", {}), 401)
        pin.answer("pin 123456", "pin 654321", "pin 654321")
        self.assertEqual(post("change", {}), 200)
        self.assertEqual(post("change", {"oldPin": "654321", "newPin": "11112222"}, origin=PAGE_PIN), 200)
        self.assertEqual(post("unblock", {"unblockCode": "87654321", "newPin": "13579bdf"}), 401)
        self.assertEqual(post("unblock", {"unblockCode": SO_PIN, "newPin": "123456"}), 200)
        pin.answer("pin 24682468", "pin 24682468")
        self.assertEqual(post("unblock", {"unblockCode": SO_PIN}), 200)
        d.stop()
        logs = {"daemon": d.log_text()}
        with open(pin.log) as f:
            logs["pinentry"] = f.read()
        self.assertTrue(logs["pinentry"], "the pinentry logged its dialogs")
        for name, text in logs.items():
            for secret in SECRETS:
                self.assertNotIn(secret, text, f"{name} log")


if __name__ == "__main__":
    kbtest.run("__main__")
