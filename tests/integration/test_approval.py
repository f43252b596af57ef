#!/usr/bin/env python3
"""First use of an origin no policy lists: the user approves or denies it in
a native dialog; approvals are remembered per user and revocable."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402

APPROVAL = "/v1/origins/approval"


class Approval(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-approval-")
        cls.pin = Pinentry(cls.tmp)
        cls.d = kbtest.Daemon(modules=[], tls=False, env=cls.pin.env,
                              extra=["--pinentry", PINENTRY, "--dialogs-per-minute", "100"]).start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def setUp(self):
        Approval.n += 1
        self.origin = f"https://new{Approval.n}.example.cn"
        self.pin.clear()
        self.pin.answer()

    def approve(self, origin=None):
        return self.d.request("POST", APPROVAL, body={}, origin=origin or self.origin)

    def origins(self, *args):
        return subprocess.run([kbtest.DAEMON, "origins", *args, "--state-dir", self.d.state,
                               "--runtime-dir", self.d.runtime], env=self.d.env, capture_output=True, text=True)

    def test_an_unknown_origin_may_only_preflight_and_call_the_approval(self):
        st, hdrs, _ = self.d.request("OPTIONS", APPROVAL, origin=self.origin,
                                     headers={"Access-Control-Request-Method": "POST"})
        self.assertEqual((st, hdrs.get("access-control-allow-origin")), (204, self.origin))
        for method, path in (("OPTIONS", "/v1/tokens"), ("GET", "/v1/info"), ("GET", APPROVAL)):
            st, hdrs, body = self.d.request(method, path, origin=self.origin)
            self.assertIn(st, (403, 405), (method, path))
            self.assertNotEqual(hdrs.get("access-control-allow-origin"), self.origin if st == 403 else None)
        self.assertEqual(self.pin.dialogs(), [])

    def test_approval_asks_the_user_and_is_remembered(self):
        self.pin.answer("confirm")
        st, hdrs, body = self.approve()
        self.assertEqual(st, 200, body)
        self.assertEqual(body, {"origin": self.origin, "approved": True})
        (dialog,) = self.pin.dialogs()
        self.assertEqual(dialog["command"], "CONFIRM")
        self.assertIn(self.origin, dialog["description"])
        st, hdrs, _ = self.d.get("/v1/tokens", origin=self.origin)
        self.assertEqual((st, hdrs["access-control-allow-origin"]), (200, self.origin))
        with open(os.path.join(self.d.state, "approved-origins")) as f:
            self.assertIn(self.origin + "\n", f.read())
        st, _, body = self.approve()
        self.assertEqual(st, 200, "an approved origin is not asked again")
        self.assertEqual(len(self.pin.dialogs()), 1)
        listed = self.origins("list")
        self.assertIn(f"{self.origin}\tapproved by you", listed.stdout)

    def test_a_denied_origin_stays_refused(self):
        self.pin.answer("deny")
        st, _, body = self.approve()
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_CANCELLED"))
        st, _, body = self.d.get("/v1/tokens", origin=self.origin)
        self.assertEqual((st, body["error"]["code"]), (403, "ORIGIN_NOT_ALLOWED"))

    def test_revoking_an_approval_takes_effect_in_the_running_daemon(self):
        self.pin.answer("confirm")
        self.assertEqual(self.approve()[0], 200)
        r = self.origins("revoke", self.origin)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reloaded", r.stdout)
        deadline = time.time() + 5
        while time.time() < deadline and self.d.get("/v1/tokens", origin=self.origin)[0] != 403:
            time.sleep(0.05)
        self.assertEqual(self.d.get("/v1/tokens", origin=self.origin)[0], 403)
        r = self.origins("revoke", self.origin)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not among the origins you approved", r.stderr)

    def test_null_origin_and_local_tools_cannot_be_approved(self):
        st, _, body = self.approve(origin="null")
        self.assertEqual((st, body["error"]["code"]), (403, "ORIGIN_NOT_ALLOWED"))
        st, _, body = self.d.request("POST", APPROVAL, body={}, origin=None,
                                     headers={"Authorization": "Bearer " + self.d.api_token})
        self.assertEqual((st, body["error"].get("field")), (400, "origin"))
        self.assertEqual(self.pin.dialogs(), [])


class ApprovalDisabled(unittest.TestCase):
    def test_the_administrators_no_cannot_be_overridden(self):
        tmp = tempfile.mkdtemp(prefix="kb-approval-admin-")
        pin = Pinentry(tmp)
        sysconf = os.path.join(tmp, "keybridge.conf")
        with open(sysconf, "w") as f:
            f.write("origin-approval = no\n")
        d = kbtest.Daemon(modules=[], tls=False, env=dict(pin.env, KEYBRIDGE_SYSTEM_CONFIG=sysconf),
                          extra=["--pinentry", PINENTRY, "--origin-approval", "yes"]).start()
        self.addCleanup(d.cleanup)
        pin.answer("confirm")
        st, _, body = d.request("POST", APPROVAL, body={}, origin="https://new.example.cn")
        self.assertEqual((st, body["error"]["code"]), (403, "ORIGIN_NOT_ALLOWED"))
        self.assertEqual(pin.dialogs(), [])

    def test_the_administrator_can_turn_approvals_off(self):
        tmp = tempfile.mkdtemp(prefix="kb-approval-off-")
        pin = Pinentry(tmp)
        d = kbtest.Daemon(modules=[], tls=False, env=pin.env,
                          extra=["--pinentry", PINENTRY, "--origin-approval", "no"]).start()
        self.addCleanup(d.cleanup)
        pin.answer("confirm")
        st, _, body = d.request("POST", APPROVAL, body={}, origin="https://new.example.cn")
        self.assertEqual((st, body["error"]["code"]), (403, "ORIGIN_NOT_ALLOWED"))
        self.assertEqual(pin.dialogs(), [])


if __name__ == "__main__":
    kbtest.run("__main__")
