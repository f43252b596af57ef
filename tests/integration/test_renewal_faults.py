#!/usr/bin/env python3
"""Nothing lost: the renewal install against every failure we can cause.

A re-key renewal of the signing certificate (张三, key 01) is prepared once:
the daemon makes the request, the test CA issues the certificate, and the
token and the daemon's state are kept as a snapshot. Then, for every
PKCS#11 call the install makes (as the fault module's log lists them), from
that snapshot:

  - the call fails with CKR_DEVICE_ERROR,
  - the call fails with CKR_DEVICE_REMOVED,
  - the call never returns and the daemon is killed with SIGKILL there;

the daemon is restarted (which recovers), and the token must hold exactly
one usable certificate for the identity — old or new, never none, never
both — with its private key; the old certificate must be in the state
directory whenever the new one is on the token; and a retried install must
succeed and leave exactly the new certificate and key. The token is read
straight through SoftHSM2, not through the daemon.

The same again for a double certificate (DoubleFaultMatrix): the install
also unwraps an encryption key onto the token and writes its certificate,
both before the commit point. Its cases are the calls from the unwrap to
the commit point (DoubleFaultMatrix.cases; after it the two installs make
the same calls): a rolled-back
install must leave no encryption certificate and, once the user logs in
again, no encryption key; a finished one both, the key under the
certificate's CKA_ID."""
import glob
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from faultmatrix import (InstallCase, agreed, calls_between, ends_of_runs, kill_when_hung, matrix_calls,  # noqa: E402
                         run_matrix, start_for_recovery, wait_quiet)  # noqa: E402
from p11fault import FaultControl, module_path  # noqa: E402
from renewal import TestCA, serial_of, token_objects  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402

LABEL = "kb-faults"
FAILURES = ("CKR_DEVICE_ERROR", "CKR_DEVICE_REMOVED", "HANG")
# The calls that change a token (always in a sampled matrix).
WRITES = ("C_CreateObject", "C_DestroyObject", "C_UnwrapKey", "C_GenerateKeyPair", "C_SetAttributeValue",
          "C_CopyObject")


class InstallFaultMatrix(InstallCase):
    """The machinery of a PKCS#11 install matrix, whatever the install
    (a renewal here, an enrollment in test_enrollment_faults.py): a mixin,
    so that importing it runs no test. A matrix class adds unittest.TestCase
    and gives:

      make_tokens()   the SoftHSM2 token directory (its CA is TestCA's)
      prepare()       with the daemon running: the request and the CA's
                      certificates, all the install needs
      install()       the install call, (status, headers, body)
      recovered(case, phase)  check the token after the restart's recovery
                      (phase: the journal's, None without one); the outcome
      assert_installed(case)  check the token after the retried install
      OUTCOMES        {outcome: its name in the summary}, rolled back first
      WAITING         journal phases that wait for a login after recovery
    """
    WAITING = ("old-removed", "rolling-back")
    report_suffix = ""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-faults-")
        cls.tokens = cls.make_tokens()
        cls.ca = TestCA(cls.tokens)
        cls.pin = Pinentry(cls.tmp)
        cls.ctl = FaultControl(os.path.join(cls.tmp, "control"))
        cls.calls_log = os.path.join(cls.tmp, "calls.log")
        env = dict(cls.pin.env, **cls.ctl.environ(module=kbtest.SOFTHSM))
        # No timed rescans: the install's calls are the only calls while it runs,
        # so "the Nth C_X" is the install's. Recovery runs at start-up.
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=[module_path()], env=env,
                              extra=["--pinentry", PINENTRY, "--pin-cooldown", "0",
                                     "--poll-interval-ms", "600000", "--dialogs-per-minute", "1000"])
        cls.pin.answer(*["pin 123456"] * 10)
        cls.d.start()
        cls.prepare()
        cls.d.stop()
        cls.snapshot = os.path.join(cls.tmp, "snapshot")
        shutil.copytree(os.path.join(cls.tokens.path, "tokens"), os.path.join(cls.snapshot, "tokens"))
        shutil.copytree(cls.d.state, os.path.join(cls.snapshot, "state"))
        cls.sequence = cls.install_sequence()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def restore(cls):
        for part, target in (("tokens", os.path.join(cls.tokens.path, "tokens")), ("state", cls.d.state)):
            shutil.rmtree(target)
            shutil.copytree(os.path.join(cls.snapshot, part), target)

    @classmethod
    def install_sequence(cls):
        """[(function, nth)] of every PKCS#11 call one install makes: the part
        two recorded installs agree on. The rescan after the install may
        itself rescan (a read that fails while the install still writes
        leaves a stale scan, read again at once), so a tail that one run has
        and the other not is left out: a case there could never be reached."""
        return cls.cases(agreed(cls.record_install(), cls.record_install()))

    @classmethod
    def record_install(cls):
        cls.restore()
        cls.pin.answer(*["pin 123456"] * 10)
        start = cls.start_quiet()
        st, _, body = cls.install()
        assert st == 200 and body["finished"], body
        cls.ctl.clear()
        cls.d.stop()
        seq = calls_between(cls.calls_log, start)
        assert seq, "the install made no PKCS#11 call"
        return seq

    @classmethod
    def cases(cls, seq):
        return seq

    @classmethod
    def start_quiet(cls):
        """Start the daemon and wait until its start-up scans are over (the
        module's call log stops growing), so that the calls that follow are
        the install's. Returns the log's length then."""
        if os.path.exists(cls.calls_log):
            os.unlink(cls.calls_log)
        cls.ctl.clear()
        cls.ctl.log(cls.calls_log)
        cls.d.start()
        cls.wait_listed()
        return wait_quiet(cls.calls_log)

    @classmethod
    def wait_listed(cls, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, body = cls.d.get("/v1/tokens")
            if st == 200 and body["tokens"]:
                return
            time.sleep(0.05)
        raise AssertionError("the token never showed")

    def wait_recovered(self, timeout=30):
        """No journal (None), or one waiting for a login (its phase, one of
        WAITING: at old-removed the old key waits for it, rolling back an
        unwrapped encryption key does)."""
        journal = os.path.join(self.d.state, "renewal", "journal")
        deadline = time.time() + timeout
        while time.time() < deadline:
            entries = glob.glob(os.path.join(journal, "*.json"))
            if not entries:
                return None
            try:
                with open(entries[0]) as f:
                    phase = json.load(f)["phase"]
            except FileNotFoundError:
                continue  # recovery finished between the glob and the open
            except ValueError:
                phase = None
            if phase in self.WAITING:
                return phase
            time.sleep(0.05)
        self.fail(f"recovery did not finish: {os.listdir(journal)}")

    def journal_left(self):
        return glob.glob(os.path.join(self.d.state, "renewal", "journal", "*.json"))

    def hang_and_kill(self, fn, nth):
        """Install with the nth fn hanging; SIGKILL the daemon once it hangs."""
        self.ctl.fail(fn, nth, "HANG")
        self.assertTrue(kill_when_hung(self.d, self.calls_log, fn, self.install), f"{fn} #{nth} never ran")

    def run_case(self, fn, nth, failure):
        try:
            return self.one_case(fn, nth, failure)
        finally:
            self.ctl.clear()
            self.d.stop()

    def fault(self, fn, nth, failure):
        """From the snapshot: the install with the fault, then the daemon
        restarted (its recovery done). The journal's phase then."""
        self.restore()
        self.pin.answer(*["pin 123456"] * 10)
        self.start_quiet()
        if failure == "HANG":
            self.hang_and_kill(fn, nth)
        else:
            self.ctl.fail(fn, nth, failure)
            self.install()
            self.d.stop()
        self.ctl.clear()
        start_for_recovery(self.d)  # start-up recovery
        self.wait_listed()
        return self.wait_recovered()

    def test_every_call_fails_or_is_killed(self):
        run_matrix(self, matrix_calls(self.sequence, lambda fn: fn in WRITES), lambda fn: FAILURES,
                   self.OUTCOMES, self.report_suffix)


class FaultMatrix(InstallFaultMatrix, unittest.TestCase):
    double = False
    # the matrix goes both ways: some failures roll back, later ones go forward
    OUTCOMES = {"old": "kept the old certificate", "new": "the new one"}

    @classmethod
    def make_tokens(cls):
        return kbtest.TokenDir((LABEL,))

    @classmethod
    def prepare(cls):
        cls.token_id, old = cls.identity()
        cls.old_id = old["id"]
        st, _, req = cls.d.request("POST", f"/v1/tokens/{cls.token_id}/renewal/request",
                                   body={"certificate": cls.old_id})
        assert st == 200, req
        cls.req = req
        cls.new_pem = cls.ca.issue(req["csr"])
        cls.old_serial = old["serialNumber"].lstrip("0")
        cls.new_serial = serial_of(cls.new_pem)
        cls.encryption = None
        if cls.double:
            enc_pem, wrapped, _ = cls.ca.encryption_pair("张三", cls.new_pem)
            cls.encryption = {"certificate": enc_pem, "envelopedKey": wrapped}
            cls.enc_serial = serial_of(enc_pem)
        cls.keys_before = set(token_objects(cls.tokens, LABEL)[1])

    @classmethod
    def identity(cls):
        st, _, body = cls.d.get("/v1/tokens")
        token = body["tokens"][0]
        return token["id"], next(c for c in token["certificates"] if c["subjectFields"]["CN"] == "张三")

    @classmethod
    def install(cls):
        body = {"requestId": cls.req["requestId"], "replaces": cls.old_id, "certificate": cls.new_pem}
        if cls.encryption:
            body["encryption"] = cls.encryption
        return cls.d.request("POST", f"/v1/tokens/{cls.token_id}/renewal/install", body=body)

    def recovered(self, case, phase):
        certs, keys = token_objects(self.tokens, LABEL)
        old, new = certs.get(self.old_serial, []), certs.get(self.new_serial, [])
        self.assertEqual(len(old) + len(new), 1, f"{case}: old {old}, new {new} on the token")
        key = (old or new)[0]
        self.assertIn(key, keys, f"{case}: the certificate's key is gone")
        if new:
            backups = glob.glob(os.path.join(self.d.state, "renewal", "backup", self.token_id, "*.pem"))
            self.assertEqual(len(backups), 1, f"{case}: the old certificate is not in the state directory")
        if self.double:
            enc = certs.get(self.enc_serial, [])
            self.assertEqual(len(enc), 1 if new else 0, f"{case}: encryption certificate {enc}")
            if new:
                self.assertIn(enc[0], keys, f"{case}: the encryption certificate without its key")
        return "new" if new else "old"

    def assert_installed(self, case):
        certs, keys = token_objects(self.tokens, LABEL)
        self.assertEqual(certs.get(self.new_serial), [self.req["keyId"]], case)
        self.assertNotIn(self.old_serial, certs, case)
        self.assertNotIn("01", keys, f"{case}: the old signing key stayed")
        if self.double:
            enc = certs.get(self.enc_serial, [])
            self.assertEqual(len(enc), 1, f"{case}: encryption certificate {enc}")
            # exactly one encryption key: a rolled-back one went at the login
            self.assertEqual(set(keys), self.keys_before - {"01"} | {enc[0]}, case)
        self.assertEqual(self.journal_left(), [], case)


class DoubleFaultMatrix(FaultMatrix):
    double = True
    report_suffix = "-double"

    @classmethod
    def cases(cls, seq):
        """From the first C_UnwrapKey (the calls before it only read, as the
        plain install's do) to the commit point: the new signing
        certificate's object is the second C_CreateObject (the encryption
        certificate's the first), then its read-back. Of a run of the same
        call in a row (the key lookups read tens of attributes) the first and
        the last are taken."""
        start = next(i for i, (fn, _) in enumerate(seq) if fn == "C_UnwrapKey")
        created = [i for i, (fn, _) in enumerate(seq) if fn == "C_CreateObject"]
        assert len(created) >= 2, seq
        end = created[1] + 1
        while end < len(seq) and seq[end][0] == "C_GetAttributeValue":
            end += 1
        return ends_of_runs(seq[start:end])


if __name__ == "__main__":
    kbtest.run(__name__)
