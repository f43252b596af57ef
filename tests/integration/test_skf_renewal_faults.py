#!/usr/bin/env python3
"""Nothing lost: the SKF renewal install against every failure we can cause.

The matrix of test_renewal_faults.py on an SM2 token of the software SKF
library. A re-key renewal with a double certificate is prepared once (the
old container holds a signature pair only, so the install also deletes
it): the daemon makes the request, the test CA issues the signature
certificate and an encryption pair in an ENVELOPEDKEYBLOB, and the token's
files and the daemon's state are kept as a snapshot. Then, for every SKF
call the install makes (as the library's call log lists them; of a run of
the same call in a row, the first and the last), from that snapshot (a call
that closes a handle, whose result is ignored, only hangs):

  - the call fails with SAR_FAIL,
  - the call fails with SAR_DEVICE_REMOVED,
  - the call never returns and the daemon is killed with SIGKILL there;

the daemon is restarted (which recovers what it can without a login) and
the token must hold a usable identity: the old signature certificate with
its key, or the new one with its key; the encryption certificate never
without the new signature certificate; the old certificate in the state
directory whenever the new one is on the token; both certificates only
while the journal, past its commit point, waits for the login that the
old container's deletion needs. A retried install must then succeed and
leave exactly the new container, with both certificates and both keys."""
import glob
import json
import os
import re
import shutil
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
from skf import Skf, make_device, reexec_with_preload  # noqa: E402
from faultmatrix import (InstallCase, agreed, calls_between, ends_of_runs, kill_when_hung, matrix_calls,  # noqa: E402
                         run_matrix, start_for_recovery, wait_quiet)  # noqa: E402
from skftest import provision  # noqa: E402
from skftest import skf_daemon, skf_dirs, wait_token  # noqa: E402
from test_skf_renewal import CA, LIB, PAGE_PIN, PIN, Token, b64, der_to_pem  # noqa: E402

FAILURES = ("SAR_FAIL", "SAR_DEVICE_REMOVED", "HANG")
# Calls whose result the daemon ignores by design (closing handles): only
# a kill there says anything.
CLOSING = ("SKF_CloseContainer", "SKF_CloseApplication", "SKF_DisConnectDev")
DEVICE, SERIAL = "faultkey", "GM2026129001"
COMMITTED = ("written", "old-removed")


class SkfInstallMatrix(InstallCase):
    """The machinery of an SKF install matrix, whatever the install (a
    renewal here, an enrollment in test_skf_enrollment_faults.py): a mixin,
    so that importing it runs no test. A matrix class adds unittest.TestCase
    and gives:

      provision_device()  the device's application (and what it holds)
      prepare()       with the daemon running: token_id, the request and
                      the CA's certificates, all the install needs
      install()       the install call, (status, headers, body)
      recovered(case, phase)  check the token after the restart's recovery
                      (phase: the journal's, None without one); the outcome
      assert_installed(case)  check the token after the retried install
      OUTCOMES        {outcome: its name in the summary}, rolled back first
      WRITES_COVERED  the writing calls the install must make
    """
    report_suffix = "-skf"

    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.root, cls.control = skf_dirs("kb-skf-faults-")
        cls.calls_log = os.path.join(cls.tmp, "calls.log")
        cls.ca = CA(cls.tmp)
        make_device(cls.root, DEVICE, SERIAL, DEVICE)
        cls.provision_device()
        cls.tok = Token(cls.root, DEVICE)
        # No timed rescans: the install's calls are the only calls while it runs.
        cls.d = skf_daemon(cls.tmp, cls.root, cls.control, PAGE_PIN, LIB, ["--poll-interval-ms", "600000"])
        cls.d.start()
        cls.prepare()
        cls.d.stop()
        cls.snapshot = os.path.join(cls.tmp, "snapshot")
        shutil.copytree(cls.root, os.path.join(cls.snapshot, "skf"))
        shutil.copytree(cls.d.state, os.path.join(cls.snapshot, "state"))
        cls.sequence = cls.install_sequence()
        if os.environ.get("KB_SKF_MATRIX_SHOW"):
            print(cls.sequence, file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def post(cls, what, body):
        return cls.d.request("POST", f"/v1/tokens/{cls.token_id}/{what}", body=dict(body, pin=PIN),
                             origin=PAGE_PIN)

    @classmethod
    def wait_listed(cls):
        """The token's listing, once the daemon shows it."""
        t, body = wait_token(cls.d, SERIAL, timeout=30)
        if not t:
            raise AssertionError(f"the token never showed: {body}")
        return t

    @classmethod
    def restore(cls):
        for part, target in (("skf", cls.root), ("state", cls.d.state)):
            shutil.rmtree(target)
            shutil.copytree(os.path.join(cls.snapshot, part), target)

    @classmethod
    def set_control(cls, text):
        with open(cls.control + ".new", "w") as f:
            f.write(text)
        os.replace(cls.control + ".new", cls.control)   # a new file: the library's call counts start again

    @classmethod
    def start_quiet(cls):
        """Start the daemon, wait until its start-up scans are over (the call
        log stops growing), then restart the library's call counts. Returns
        the log's length then: the calls after it are the install's."""
        if os.path.exists(cls.calls_log):
            os.unlink(cls.calls_log)
        cls.set_control(f"log = {cls.calls_log}\n")
        cls.d.start()
        cls.wait_listed()
        return wait_quiet(cls.calls_log)

    @classmethod
    def record_install(cls):
        cls.restore()
        start = cls.start_quiet()
        cls.set_control(f"log = {cls.calls_log}\n")
        st, _, body = cls.install()
        assert st == 200 and body["finished"], body
        end = os.path.getsize(cls.calls_log)    # what follows is the daemon's stop, not the install
        cls.d.stop()
        seq = calls_between(cls.calls_log, start, end)
        assert seq, "the install made no SKF call"
        return seq

    @classmethod
    def install_sequence(cls):
        """The calls two recorded installs agree on (the rescan after an
        install may differ), the first and last of each run of one call."""
        return ends_of_runs(agreed(cls.record_install(), cls.record_install()))

    def journal_phase(self):
        for path in glob.glob(os.path.join(self.d.state, "renewal", "journal", "*.json")):
            try:
                with open(path) as f:
                    return json.load(f)["phase"]
            except FileNotFoundError:
                return None
        return None

    def wait_recovered(self, timeout=30):
        """No journal, or one past the commit point waiting for a login."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            phase = self.journal_phase()
            if phase is None or phase in COMMITTED:
                return phase
            time.sleep(0.05)
        self.fail(f"recovery did not finish: {self.journal_phase()}")

    def hang_and_kill(self, fn, nth):
        self.set_control(f"log = {self.calls_log}\nfail = {fn} {nth} HANG\n")
        self.assertTrue(kill_when_hung(self.d, self.calls_log, fn, self.install), f"{fn} #{nth} never ran")

    def fault(self, fn, nth, failure):
        """From the snapshot: the install with the fault, then the daemon
        restarted (its recovery done, without a login). The journal's phase
        then."""
        self.restore()
        self.start_quiet()
        if failure == "HANG":
            self.hang_and_kill(fn, nth)
        else:
            self.set_control(f"log = {self.calls_log}\nfail = {fn} {nth} {failure}\n")
            self.install()
            self.d.stop()
        self.set_control("")
        start_for_recovery(self.d)  # start-up recovery, without a login
        self.wait_listed()
        return self.wait_recovered()

    def run_case(self, fn, nth, failure):
        try:
            return self.one_case(fn, nth, failure)
        finally:
            self.set_control("")
            self.d.stop()

    def test_every_call_fails_or_is_killed(self):
        calls = {fn for fn, _ in self.sequence}
        for fn in self.WRITES_COVERED:
            self.assertIn(fn, calls, "the matrix covers every write")
        writes = re.compile(r"SKF_(Import|Delete|Write|Create|Gen)")
        run_matrix(self, matrix_calls(self.sequence, writes.match), lambda fn: ("HANG",) if fn in CLOSING else FAILURES,
                   self.OUTCOMES, self.report_suffix)


class SkfFaultMatrix(SkfInstallMatrix, unittest.TestCase):
    OUTCOMES = {"old": "kept the old certificate", "new": "the new one"}
    WRITES_COVERED = ("SKF_ImportECCKeyPair", "SKF_ImportCertificate", "SKF_DeleteContainer")

    @classmethod
    def provision_device(cls):
        cls.old_der, _ = provision(Skf(LIB), cls.ca, DEVICE, encryption=False)
        (cls.old_name,) = Token(cls.root, DEVICE).containers()

    @classmethod
    def prepare(cls):
        cls.token_id, cls.old_id = cls.identity()
        st, _, req = cls.post("renewal/request", {"certificate": cls.old_id})
        assert st == 200, req
        cls.req = req
        cls.new_name = bytes.fromhex(req["keyId"]).decode()
        cls.new_der = cls.ca.sign_cert(req["csr"])
        cls.enc_der, cls.blob, _ = cls.ca.encryption(req["csr"])

    @classmethod
    def identity(cls):
        deadline = time.time() + 30
        while time.time() < deadline:
            st, _, body = cls.d.get("/v1/tokens")
            for t in body.get("tokens", []) if st == 200 else []:
                for c in t["certificates"]:
                    if c["usage"] == "sign":
                        return t["id"], c["id"]
            time.sleep(0.05)
        raise AssertionError("the token never showed")

    @classmethod
    def wait_listed(cls):
        cls.identity()      # with its signature certificate

    @classmethod
    def install(cls):
        return cls.post("renewal/install", {
            "requestId": cls.req["requestId"], "replaces": cls.old_id, "certificate": der_to_pem(cls.new_der),
            "encryption": {"certificate": b64(cls.enc_der), "envelopedKey": b64(cls.blob)}})

    def recovered(self, case, phase):
        tok = self.tok
        old = tok.read(self.old_name, "sign.crt") == self.old_der
        new = tok.read(self.new_name, "sign.crt") == self.new_der
        self.assertTrue(old or new, f"{case}: neither certificate is on the token")
        if old:
            self.assertTrue(tok.key_is_certs(self.old_name, "sign"), f"{case}: the old key is gone")
        if new:
            self.assertTrue(tok.key_is_certs(self.new_name, "sign"), f"{case}: the new key is not the certificate's")
            backups = glob.glob(os.path.join(self.d.state, "renewal", "backup", self.token_id, "*.pem"))
            self.assertEqual(len(backups), 1, f"{case}: the old certificate is not in the state directory")
        else:
            self.assertIsNone(phase, f"{case}: a journal without the new certificate")
        if old and new:
            self.assertIn(phase, COMMITTED, f"{case}: both certificates, and the install is not waiting")
        if tok.read(self.new_name, "enc.crt") is not None:
            self.assertTrue(new, f"{case}: the encryption certificate without the signature certificate")
            self.assertTrue(tok.key_is_certs(self.new_name, "enc"), f"{case}: the encryption certificate's key")
        return "new" if new else "old"

    def assert_installed(self, case):
        tok = self.tok
        self.assertEqual(tok.containers(), [self.new_name], case)
        self.assertEqual(tok.read(self.new_name, "sign.crt"), self.new_der, case)
        self.assertEqual(tok.read(self.new_name, "enc.crt"), self.enc_der, case)
        self.assertTrue(tok.key_is_certs(self.new_name, "sign"), case)
        self.assertTrue(tok.key_is_certs(self.new_name, "enc"), case)
        self.assertIsNone(self.journal_phase(), case)


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()
    unittest.main(verbosity=2)
