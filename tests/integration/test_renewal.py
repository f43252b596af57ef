#!/usr/bin/env python3
"""Certificate renewal (证书更新) end to end on a real SoftHSM2 token behind the
fault-injecting module: the daemon makes the CSR on the token, a real
openssl CA issues the certificate the way a CA would, the daemon installs it.
Every bad install gets its code and changes nothing on the token."""
import base64
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from p11fault import FaultControl, module_path  # noqa: E402
from renewal import TestCA, pubkey_of, serial_of, subject_of_csr, token_objects, utc  # noqa: E402
from test_sign import PINENTRY, Pinentry, openssl_ok  # noqa: E402

LABEL = "kb-renew"


class RenewalBase(unittest.TestCase):
    extra_args = ()     # more keybridged options (the last of a repeated one counts)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-renew-")
        cls.tokens = kbtest.TokenDir((LABEL,))
        cls.ca = TestCA(cls.tokens)
        cls.pin = Pinentry(cls.tmp)
        cls.ctl = FaultControl(os.path.join(cls.tmp, "control"))
        env = dict(cls.pin.env, **cls.ctl.environ(module=kbtest.SOFTHSM))
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=[module_path()], env=env,
                              extra=["--pinentry", PINENTRY, "--pin-cooldown", "0", "--pin-idle-timeout", "60",
                                     "--dialogs-per-minute", "1000", *cls.extra_args]).start()
        cls.token_id = cls.d.get("/v1/tokens")[2]["tokens"][0]["id"]

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def setUp(self):
        self.ctl.clear()
        self.pin.clear()
        self.pin.answer(*["pin 123456"] * 5)

    # ---- helpers ----

    def token(self):
        st, _, body = self.d.get("/v1/tokens")
        self.assertEqual(st, 200, body)
        return body["tokens"][0]

    def cert(self, cn):
        return next(c for c in self.token()["certificates"] if c["subjectFields"]["CN"] == cn)

    def cert_pem(self, cert_id):
        st, _, body = self.d.get(f"/v1/tokens/{self.token()['id']}/certificates/{cert_id}")
        self.assertEqual(st, 200, body)
        return body["pem"]

    def post(self, action, body):
        return self.d.request("POST", f"/v1/tokens/{self.token_id}/renewal/{action}", body=body)

    def request(self, cn, **kw):
        st, _, body = self.post("request", dict({"certificate": self.cert(cn)["id"]}, **kw))
        self.assertEqual(st, 200, body)
        return body

    def install(self, body):
        return self.post("install", body)

    def objects(self):
        return token_objects(self.tokens, LABEL)

    def wait_for_cert(self, serial, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(c["serialNumber"].lstrip("0") == serial for c in self.token()["certificates"]):
                return
            time.sleep(0.1)
        self.fail(f"certificate {serial} never showed in /v1/tokens")

    def assert_error(self, answer, status, code, field=None):
        st, _, body = answer
        self.assertEqual((st, body["error"]["code"]), (status, code), body)
        if field:
            self.assertEqual(body["error"].get("field"), field, body)

    def state_files(self, sub):
        return sorted(glob.glob(os.path.join(self.d.state, "renewal", sub, "*")))


class RenewalTest(RenewalBase):
    def test_1_rekey_end_to_end(self):
        old = self.cert("张三")
        old_pem = self.cert_pem(old["id"])
        req = self.request("张三")
        # the PIN dialog says what happens: a renewal, a new key made on the token
        text = " ".join(str(d.get("title", "")) + " " + str(d.get("description", "")) for d in self.pin.dialogs())
        self.assertTrue("a new key will be generated" in text or "生成新密钥" in text, text)
        # the CSR: the current subject, a new key, signed by that key (openssl req -verify)
        self.assertEqual(subject_of_csr(req["csr"]).replace("subject=", ""), old["subject"])
        self.assertNotEqual(pubkey_of(req["csr"], "req"), pubkey_of(old_pem))
        self.assertTrue(req["newKey"])
        self.assertTrue(self.ca.verify_proof(req["csr"], req["proof"], old_pem), "proof does not verify")
        self.assertEqual(len(self.state_files("pending")), 1)
        certs, keys = self.objects()
        self.assertIn(req["keyId"], keys)             # the new key beside the old one
        self.assertIn("01", keys)

        new_pem = self.ca.issue(req["csr"])
        st, _, body = self.install({"requestId": req["requestId"], "replaces": old["id"],
                                    "certificate": new_pem, "chain": [self.ca.pem()]})
        self.assertEqual(st, 200, body)
        self.assertTrue(body["finished"], body)
        self.assertFalse(body["alreadyInstalled"])
        self.assertEqual(body["replaced"], old["id"])
        self.assertEqual(body["certificate"]["label"], old["label"])
        self.assertEqual(body["chainStored"], 1)

        certs, keys = self.objects()
        self.assertNotIn(serial_of(old_pem), certs)                       # the old certificate went
        self.assertEqual(certs[serial_of(new_pem)], [req["keyId"]])       # the new one sits on its key
        self.assertNotIn("01", keys)                                      # the old signing key went
        self.assertIn(req["keyId"], keys)
        # kept: the old certificate, in the state directory, byte for byte
        backups = glob.glob(os.path.join(self.d.state, "renewal", "backup", self.token()["id"], "*.pem"))
        self.assertEqual(len(backups), 1)
        with open(backups[0]) as f:
            self.assertEqual(pubkey_of(f.read()), pubkey_of(old_pem))
        self.assertEqual((self.state_files("journal"), self.state_files("pending")), ([], []))
        history = [os.path.basename(f) for f in self.state_files("history")]
        self.assertEqual(sorted(f.endswith(".request.json") for f in history), [False, True], history)

        # the daemon shows it, with the stored issuer as its chain (not as a
        # certificate of the user), and signs with it
        self.wait_for_cert(serial_of(new_pem))
        new = self.cert("张三")
        self.assertNotIn("keybridge 测试 CA", [c["subjectFields"]["CN"] for c in self.token()["certificates"]])
        st, _, full = self.d.get(f"/v1/tokens/{self.token_id}/certificates/{new['id']}")
        self.assertEqual((st, [pubkey_of(p) for p in full["chain"]]), (200, [pubkey_of(self.ca.pem())]), full)
        st, _, sig = self.d.request("POST", f"/v1/tokens/{self.token()['id']}/sign",
                                    body={"certificate": new["id"], "algorithm": "RSA-PKCS1-SHA256",
                                          "items": [{"data": base64.b64encode(b"renewed").decode()}]})
        self.assertEqual(st, 200, sig)
        pub = os.path.join(self.tmp, "new.pub")
        with open(pub, "wb") as f:
            f.write(pubkey_of(new_pem))
        sigfile = os.path.join(self.tmp, "sig")
        with open(sigfile, "wb") as f:
            f.write(base64.b64decode(sig["signatures"][0]))
        self.assertTrue(openssl_ok("dgst", "-sha256", "-verify", pub, "-signature", sigfile, input=b"renewed"))

        # the same install again (the first answer was lost): same answer, nothing changes
        before = self.objects()
        st, _, again = self.install({"requestId": req["requestId"], "replaces": old["id"], "certificate": new_pem})
        self.assertEqual(st, 200, again)
        self.assertTrue(again["alreadyInstalled"])
        self.assertEqual(again["certificate"]["id"], body["certificate"]["id"])
        self.assertEqual(self.objects(), before)

    def test_2_same_key_renewal_keeps_the_key(self):
        old = self.cert("李四")        # EC, key agreement: an encryption key is never destroyed
        old_pem = self.cert_pem(old["id"])
        req = self.request("李四", newKey=False)
        self.assertFalse(req["newKey"])
        self.assertEqual(req["keyId"], "02")
        self.assertEqual(pubkey_of(req["csr"], "req"), pubkey_of(old_pem))
        self.assertTrue(self.ca.verify_proof(req["csr"], req["proof"], old_pem))
        new_pem = self.ca.issue(req["csr"], key_usage="critical, keyAgreement")
        st, _, body = self.install({"replaces": old["id"], "certificate": new_pem})
        self.assertEqual(st, 200, body)
        certs, keys = self.objects()
        self.assertEqual(certs.get(serial_of(new_pem)), ["02"])
        self.assertNotIn(serial_of(old_pem), certs)
        self.assertIn("02", keys)
        self.assertEqual(self.state_files("pending"), [], "installing the key's certificate ends its request")

    def test_3_expired_certificate_renewed_to_another_key_type(self):
        old = self.cert("王五")        # expired: renewal is how it comes back
        req = self.request("王五", keyType="EC-P384")
        text = subprocess.run(["openssl", "req", "-in", "-", "-noout", "-text"], input=req["csr"],
                              capture_output=True, text=True, check=True).stdout
        self.assertIn("secp384r1", text)
        new_pem = self.ca.issue(req["csr"], days="30")
        st, _, body = self.install({"requestId": req["requestId"], "replaces": old["id"], "certificate": new_pem})
        self.assertEqual(st, 200, body)
        self.assertEqual((body["certificate"]["keyType"], body["certificate"]["curve"]), ("EC", "P-384"))
        self.assertEqual(body["certificate"]["status"], "expiring")

    def test_4_cancel_removes_the_uninstalled_key(self):
        req = self.request("张三")
        self.assertIn(req["keyId"], self.objects()[1])
        st, _, body = self.post(f"{req['requestId']}/cancel", {})
        self.assertEqual((st, body.get("cancelled")), (200, True), body)
        self.assertNotIn(req["keyId"], self.objects()[1])
        self.assertEqual(self.state_files("pending"), [])
        self.assert_error(self.post(f"{req['requestId']}/cancel", {}), 404, "NOT_FOUND", "requestId")
        self.assert_error(self.post("0123/cancel", {}), 404, "NOT_FOUND", "requestId")


    def test_6_each_renewal_call_asks_even_an_authorized_origin(self):
        """A PIN entry authorizes signing for a while, not writing to the
        token: every renewal call shows its dialog."""
        before = len(self.pin.dialogs())
        first = self.request("张三", newKey=False)
        second = self.request("张三", newKey=False)
        self.assertEqual(len(self.pin.dialogs()), before + 2, "the second request reused the first one's login")
        for r in (first, second):
            st, _, body = self.post(f"{r['requestId']}/cancel", {})
            self.assertEqual(st, 200, body)

    def test_5_a_failed_removal_is_finished_by_the_next_scan(self):
        """After the commit point the install answers 200 with finished false;
        the daemon's next rescan removes the old certificate and key itself."""
        old = self.cert("张三")
        old_pem = self.cert_pem(old["id"])
        req = self.request("张三")
        new_pem = self.ca.issue(req["csr"])
        self.ctl.fail("C_DestroyObject", "1+", "CKR_DEVICE_ERROR")
        st, _, body = self.install({"requestId": req["requestId"], "replaces": old["id"], "certificate": new_pem})
        self.assertEqual((st, body.get("finished")), (200, False), body)
        self.assertIn(serial_of(old_pem), self.objects()[0], "the failed removal removed it after all?")
        self.assertEqual(len(self.state_files("journal")), 1)
        # while the token keeps failing, the scans (every 300 ms) say so once
        notice = "an unfinished certificate install could not go on"
        deadline = time.time() + 10
        while notice not in self.d.log_text() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
        self.assertEqual(self.d.log_text().count(notice), 1, self.d.log_text()[-2000:])
        self.ctl.clear()
        deadline = time.time() + 15
        while self.state_files("journal") and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.state_files("journal"), [], "the daemon did not finish the install")
        certs, keys = self.objects()
        self.assertNotIn(serial_of(old_pem), certs)
        self.assertEqual(certs[serial_of(new_pem)], [req["keyId"]])
        self.assertNotIn(old["id"], [c["id"] for c in self.token()["certificates"]])


class JournalRecoveryTest(RenewalBase):
    """Installs a crash cut short, recovered when the daemon starts again.
    No timed rescans: recovery runs at start-up and before an install, so
    what a test sees on disk is what the crash and that recovery left."""
    extra_args = ("--poll-interval-ms", "600000")

    def renewal_of(self, cn):
        """A re-key request for cn and its certificate from the CA."""
        old = self.cert(cn)
        req = self.request(cn)
        return old, req, self.ca.issue(req["csr"])

    def install_of(self, old, req, pem):
        return self.install({"requestId": req["requestId"], "replaces": old["id"], "certificate": pem})

    def path(self, sub, name):
        return os.path.join(self.d.state, "renewal", sub, name)

    def install_history(self):
        return [f for f in self.state_files("history") if not f.endswith(".request.json")]

    def journal_phase(self):
        with open(self.path("journal", f"{self.token_id}.json")) as f:
            return json.load(f)["phase"]

    def wait_journal(self, phases=(), timeout=15):
        """Until the token has no journal, or one at one of phases."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.journal_phase() in phases:
                    return
            except FileNotFoundError:
                return
            time.sleep(0.05)
        self.fail(f"the journal stayed at {self.journal_phase()}")

    def test_1_a_journal_left_at_done_goes_to_history(self):
        """The crash came after the journal's last save (phase done) and
        before its move into history: recovery makes the move and touches
        nothing on the token."""
        old, req, pem = self.renewal_of("张三")
        history_before = self.install_history()
        st, _, body = self.install_of(old, req, pem)
        self.assertEqual((st, body.get("finished")), (200, True), body)
        [done] = [f for f in self.install_history() if f not in history_before]
        with open(done) as f:
            record = json.load(f)
        self.assertEqual(record["phase"], "done")

        self.d.stop()
        os.rename(done, self.path("journal", f"{self.token_id}.json"))   # as the crash left it
        # and the request pending, as a daemon that retired it after the close left it
        os.rename(self.path("history", f"{req['requestId']}.request.json"),
                  self.path("pending", f"{req['requestId']}.json"))
        before = self.objects()
        self.d.start()
        self.wait_journal()
        self.assertEqual(self.state_files("journal"), [])
        [moved] = [f for f in self.install_history() if f not in history_before]
        with open(moved) as f:
            self.assertEqual(json.load(f), record)
        self.assertEqual(self.objects(), before, "recovery of a finished install changed the token")
        self.assert_request_retired(req)
        # and the daemon counts the install as finished
        st, _, again = self.install_of(old, req, pem)
        self.assertEqual((st, again.get("alreadyInstalled"), again.get("finished")), (200, True, True), again)
        self.assertEqual(self.objects(), before)


    def test_2_an_install_waits_for_an_unfinished_one(self):
        """A journal whose recovery fails now is the only record of a
        half-done install: another install on the token is refused and
        leaves it as it is, until the token lets recovery finish."""
        a_old, a, a_pem = self.renewal_of("张三")
        b_old = self.cert("李四")
        b = self.request("李四", newKey=False)
        b_pem = self.ca.issue(b["csr"], key_usage="critical, keyAgreement")
        self.ctl.fail("C_DestroyObject", "1+", "CKR_DEVICE_ERROR")
        st, _, body = self.install_of(a_old, a, a_pem)
        self.assertEqual((st, body.get("finished")), (200, False), body)
        [journal] = self.state_files("journal")
        with open(journal, "rb") as f:
            unfinished = f.read()
        before = self.objects()

        st, _, body = self.install_of(b_old, b, b_pem)
        err = body.get("error", {})
        self.assertEqual((st, err.get("code"), err.get("reason")), (409, "TOKEN_BUSY", "install-unfinished"), body)
        with open(journal, "rb") as f:
            self.assertEqual(f.read(), unfinished, "the unfinished install's journal was replaced")
        self.assertEqual(self.objects(), before)

        self.ctl.clear()        # the token works again: the install finishes the first one, then goes
        st, _, body = self.install_of(b_old, b, b_pem)
        self.assertEqual((st, body.get("finished")), (200, True), body)
        self.assertEqual(self.state_files("journal"), [])
        certs, keys = self.objects()
        self.assertEqual((certs.get(serial_of(a_pem)), certs.get(serial_of(b_pem))), ([a["keyId"]], ["02"]))
        for old in (a_old, b_old):
            self.assertNotIn(old["serialNumber"].lstrip("0"), certs)

    def calls_logged(self, calls):
        try:
            with open(calls) as f:
                return [line.strip() for line in f]
        except FileNotFoundError:
            return []

    def wait_logged(self, calls, line, timeout=30):
        deadline = time.time() + timeout
        while line not in self.calls_logged(calls) and time.time() < deadline:
            time.sleep(0.02)
        self.assertIn(line, self.calls_logged(calls), "the install never got there")

    def kill_during_install(self, old, req, pem, *rules):
        """Install in a thread and SIGKILL the daemon inside a PKCS#11 call:
        each fault rule (function, nth, HOLD or HANG) is set once the
        previous one's call is held; the last one hangs."""
        calls = os.path.join(self.tmp, "calls.log")
        self.ctl.log(calls)
        size = -1
        while size != len(self.calls_logged(calls)):    # scans still running would count too
            size = len(self.calls_logged(calls))
            time.sleep(0.3)

        def install():
            try:
                self.install_of(old, req, pem)
            except OSError:
                pass        # the connection dies with the daemon
        thread = threading.Thread(target=install, daemon=True)
        for i, (fn, nth, rv) in enumerate(rules):
            self.ctl.fail(fn, nth, rv)
            if i == 0:
                thread.start()
            self.wait_logged(calls, f"{fn} {rv}")
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait()
        thread.join(15)
        self.ctl.clear()
        os.unlink(calls)

    def assert_request_retired(self, req):
        rid = req["requestId"]
        self.assertFalse(os.path.exists(self.path("pending", f"{rid}.json")), "the request is still pending")
        self.assertTrue(os.path.exists(self.path("history", f"{rid}.request.json")))
        self.assert_error(self.post(f"{rid}/cancel", {}), 404, "NOT_FOUND", "requestId")

    def finish_after_recovery(self, old, old_key, req, pem):
        """Recovered up to the old key, which waits for a login: the
        repeated install logs in and finishes it."""
        self.wait_journal(("old-removed",))
        self.assert_request_retired(req)
        st, _, body = self.install_of(old, req, pem)
        self.assertEqual((st, body.get("alreadyInstalled"), body.get("finished")), (200, True, True), body)
        self.assertEqual(self.state_files("journal"), [])
        certs, keys = self.objects()
        self.assertEqual(certs.get(serial_of(pem)), [req["keyId"]])
        self.assertNotIn(old["serialNumber"].lstrip("0"), certs)
        self.assertNotIn(old_key, keys)

    def test_3_recovery_going_forward_retires_the_request(self):
        """Killed with the new certificate written but not yet journaled:
        recovery goes forward, and the request this install answers is
        installed, as after an install that was not cut short."""
        old, req, pem = self.renewal_of("张三")
        [old_key] = self.objects()[0][old["serialNumber"].lstrip("0")]
        self.kill_during_install(old, req, pem, ("C_CreateObject", 1, "HOLD"), ("C_GetAttributeValue", 1, "HANG"))
        self.assertEqual(self.journal_phase(), "begun")
        self.assertEqual(self.objects()[0].get(serial_of(pem)), [req["keyId"]], "the kill came before the write")
        self.assertTrue(os.path.exists(self.path("pending", f"{req['requestId']}.json")))
        self.d.start()
        self.finish_after_recovery(old, old_key, req, pem)

    def test_4_recovery_after_the_commit_retires_the_request(self):
        """Killed while removing the old certificate: the install is past the
        commit point, and after recovery its request is installed."""
        old, req, pem = self.renewal_of("张三")
        [old_key] = self.objects()[0][old["serialNumber"].lstrip("0")]
        self.kill_during_install(old, req, pem, ("C_DestroyObject", 1, "HANG"))
        self.assertEqual(self.journal_phase(), "written")
        self.d.start()
        self.finish_after_recovery(old, old_key, req, pem)

class RenewalOverWebSocket(RenewalBase):
    """renewal.request and renewal.install as JSON-RPC calls, with their
    operation.progress notifications to the connection that asked."""

    def test_request_and_install_report_progress(self):
        import wsclient
        w = wsclient.WS(self.d)
        self.addCleanup(w.sock.close)
        old = self.cert("张三")
        notes = []
        r = w.call("renewal.request", {"token": self.token_id, "certificate": old["id"]}, notes)
        self.assertIn("result", r, r)
        stages = [(n["params"]["stage"], n["params"]["percent"]) for n in notes
                  if n["method"] == "operation.progress" and n["params"]["requestId"] == r["id"]]
        self.assertEqual(stages[0], ("generate-key", 0))
        self.assertEqual(stages[-3:], [("sign-request", 75), ("sign-proof", 85), ("done", 100)])
        pem = self.ca.issue(r["result"]["csr"])
        notes = []
        i = w.call("renewal.install", {"token": self.token_id, "requestId": r["result"]["requestId"],
                                       "replaces": old["id"], "certificate": pem}, notes)
        self.assertTrue(i["result"]["finished"], i)
        stages = [n["params"]["stage"] for n in notes if n["method"] == "operation.progress"]
        self.assertEqual(stages, ["verify", "write-certificate", "remove-old-certificate", "remove-old-key", "done"])
        self.assertEqual(self.objects()[0].get(serial_of(pem)), [r["result"]["keyId"]])


class BadInstallTest(RenewalBase):
    """Each gets its code and changes nothing on the token."""

    def setUp(self):
        super().setUp()
        self.old = self.cert("张三")
        self.before = self.objects()

    def tearDown(self):
        self.assertEqual(self.objects(), self.before, "the token changed")
        self.assertEqual(self.state_files("journal"), [])

    def install_for(self, pem, **kw):
        return self.install(dict({"replaces": self.old["id"], "certificate": pem}, **kw))

    def test_garbage(self):
        self.assert_error(self.install_for("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"),
                          400, "BAD_REQUEST", "certificate")
        self.assert_error(self.install_for("not base64!"), 400, "BAD_REQUEST", "certificate")
        self.assert_error(self.install_for(base64.b64encode(b"\x30\x03\x02\x01\x01").decode()), 400,
                          "BAD_REQUEST", "certificate")
        self.assert_error(self.install_for(self.ca.pem(), chain="x"), 400, "BAD_REQUEST", "chain")
        self.assert_error(self.install({"replaces": self.old["id"]}), 400, "BAD_REQUEST", "certificate")

    def test_certificate_for_another_key(self):
        key = os.path.join(self.tmp, "other.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", key], check=True, capture_output=True)
        csr = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=张三"], check=True,
                             capture_output=True, text=True).stdout
        self.assert_error(self.install_for(self.ca.issue(csr)), 409, "CERTIFICATE_MISMATCH", "certificate")

    def test_expired_certificate(self):
        req = self.request("张三", newKey=False)
        expired = self.ca.issue(req["csr"], start=utc(-30 * 86400), end=utc(-86400))
        st, _, body = self.install_for(expired)
        self.assertEqual((st, body["error"]["code"], body["error"].get("reason")), (400, "BAD_REQUEST", "expired"))
        self.post(f"{req['requestId']}/cancel", {})

    def test_unknown_request_and_replaced_certificate(self):
        req = self.request("张三", newKey=False)
        pem = self.ca.issue(req["csr"])
        self.assert_error(self.install_for(pem, requestId="00" * 16), 404, "NOT_FOUND", "requestId")
        self.assert_error(self.install({"replaces": "0" * 16, "certificate": pem}), 404, "NOT_FOUND", "replaces")
        self.post(f"{req['requestId']}/cancel", {})

    def test_another_request_s_key(self):
        """A certificate for key A installed under request B is refused."""
        a = self.request("张三", newKey=False)
        b = self.request("张三")
        pem = self.ca.issue(a["csr"])
        self.assert_error(self.install_for(pem, requestId=b["requestId"]), 409, "CERTIFICATE_MISMATCH")
        for r in (a, b):
            st, _, body = self.post(f"{r['requestId']}/cancel", {})
            self.assertEqual(st, 200, body)

    def test_token_removed_before_the_call(self):
        req = self.request("张三", newKey=False)
        pem = self.ca.issue(req["csr"])
        self.ctl.removed(True)
        try:
            self.assert_error(self.install_for(pem), 409, "TOKEN_NOT_PRESENT")
        finally:
            self.ctl.removed(False)
        deadline = time.time() + 10
        while self.d.get(f"/v1/tokens/{self.token_id}")[0] != 200 and time.time() < deadline:
            time.sleep(0.1)
        st, _, body = self.post(f"{req['requestId']}/cancel", {})
        self.assertEqual(st, 200, body)

    def test_bad_key_type(self):
        st, _, body = self.post("request", {"certificate": self.old["id"], "keyType": "DSA-1024"})
        self.assertEqual((st, body["error"]["code"], body["error"].get("field")),
                         (400, "UNSUPPORTED_ALGORITHM", "keyType"), body)


if __name__ == "__main__":
    kbtest.run(__name__)
