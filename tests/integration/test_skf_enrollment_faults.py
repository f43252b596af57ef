#!/usr/bin/env python3
"""Nothing half there: the SKF enrollment install against every failure we
can cause.

The SKF renewal matrix of test_skf_renewal_faults.py (its SkfInstallMatrix:
the snapshot, the recorded calls, the first and the last of a run of one
call, the three failures, the restart without a login) over an enrollment's
install: a first SM2 identity with a double certificate onto a blank
application of the software SKF token. The request made a new container
with the signature key pair; the install imports the encryption pair from
its ENVELOPEDKEYBLOB into it, writes the signature certificate (the commit
point) and then, logged in, the encryption certificate; there is no old
container to delete. The daemon makes the request, the test CA issues the
signature certificate and an encryption pair sent to the request's key, and
the token's files and the daemon's state are kept as a snapshot. Then for
every SKF call of the install: SAR_FAIL, SAR_DEVICE_REMOVED, or the call
never returns and the daemon is killed (a call that closes a handle, whose
result is ignored, only the kill); the daemon is restarted, and the token,
read from its files, must hold either no new identity (the request's
container with its signature key and no certificate, the encryption pair
perhaps imported but unseen; no journal) or the whole new identity (the
signature certificate on the container's key, the encryption key the
encryption certificate's, and that certificate too unless the journal, past
its commit point, waits for the login that writing it needs); never a
certificate without its key. A retried install must then succeed and leave
exactly the one container with both certificates and both keys.

Cancelling a request whose install was rolled back (test_cancel_*) must
delete its container: no orphan key."""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
from skf import Skf, reexec_with_preload  # noqa: E402
from skftest import blank_application, cert_pubkey_pem  # noqa: E402
from test_skf_renewal import LIB, PIN, b64  # noqa: E402
from test_skf_renewal_faults import COMMITTED, DEVICE, SkfInstallMatrix  # noqa: E402

SUBJECT = {"C": "CN", "O": "某单位", "CN": "王五"}


class SkfEnrollmentFaultMatrix(SkfInstallMatrix, unittest.TestCase):
    OUTCOMES = {"none": "no new identity", "new": "the whole new identity"}
    WRITES_COVERED = ("SKF_ImportECCKeyPair", "SKF_ImportCertificate")
    report_suffix = "-skf-enrollment"
    waiting = []    # the cases gone forward whose encryption certificate waits for the login

    def test_every_call_fails_or_is_killed(self):
        self.waiting.clear()    # the matrix's own (a cancel test may have run before)
        super().test_every_call_fails_or_is_killed()
        print(f"  of the whole new identity, {len(self.waiting)} with the encryption certificate waiting for "
              "the login that writes it (the journal past its commit point)", file=sys.stderr)

    @classmethod
    def provision_device(cls):
        blank_application(Skf(LIB), DEVICE, PIN.encode())

    @classmethod
    def prepare(cls):
        t = cls.wait_listed()
        assert t["initialized"] and t["certificates"] == [], t
        cls.token_id = t["id"]
        st, _, req = cls.post("enrollment/request", {"subject": SUBJECT, "keyType": "SM2"})
        assert st == 200, req
        cls.req = req
        cls.new_name = bytes.fromhex(req["keyId"]).decode()
        assert cls.tok.containers() == [cls.new_name], cls.tok.containers()
        cls.new_der = cls.ca.sign_cert(req["csr"], cn="王五")
        cls.enc_der, cls.blob, _ = cls.ca.encryption(req["csr"], cn="王五")

    @classmethod
    def install(cls):
        return cls.post("enrollment/install", {
            "requestId": cls.req["requestId"], "certificate": b64(cls.new_der),
            "encryption": {"certificate": b64(cls.enc_der), "envelopedKey": b64(cls.blob)}})

    def enc_key_is_the_certificates(self):
        """Is the container's encryption key the encryption certificate's
        (whether that certificate is on the token or not)?"""
        key = self.tok.read(self.new_name, "enc.key")
        if key is None:
            return False
        pub = subprocess.run(["openssl", "pkey", "-pubout"], input=key, capture_output=True, check=True).stdout
        return pub == cert_pubkey_pem(self.enc_der)

    def recovered(self, case, phase):
        tok, name = self.tok, self.new_name
        self.assertEqual(tok.containers(), [name], f"{case}: containers")
        self.assertIsNotNone(tok.read(name, "sign.key"), f"{case}: the request's key is gone")
        sign, enc = tok.read(name, "sign.crt"), tok.read(name, "enc.crt")
        if sign is None:
            self.assertIsNone(enc, f"{case}: the encryption certificate without the signature certificate")
            self.assertIsNone(phase, f"{case}: a journal without the new certificate")
            return "none"
        self.assertEqual(sign, self.new_der, case)
        self.assertTrue(tok.key_is_certs(name, "sign"), f"{case}: the signature certificate without its key")
        # imported before the commit point; its certificate is written after it, logged in
        self.assertTrue(self.enc_key_is_the_certificates(), f"{case}: the encryption key")
        if enc is None:
            self.assertIn(phase, COMMITTED, f"{case}: no encryption certificate, and the install is not waiting")
            self.waiting.append(case)
        else:
            self.assertEqual(enc, self.enc_der, case)
        return "new"

    def assert_installed(self, case):
        tok, name = self.tok, self.new_name
        self.assertEqual(tok.containers(), [name], case)
        self.assertEqual(tok.read(name, "sign.crt"), self.new_der, case)
        self.assertEqual(tok.read(name, "enc.crt"), self.enc_der, case)
        self.assertTrue(tok.key_is_certs(name, "sign"), case)
        self.assertTrue(tok.key_is_certs(name, "enc"), case)
        self.assertIsNone(self.journal_phase(), case)

    # ---- cancel after a rolled-back install ----

    def cancel_case(self, fn, nth, failure):
        """The fault, recovery; then the request is cancelled instead of
        installed again: its container goes, and the request with it."""
        case = f"{fn} #{nth} {failure}, then cancel"
        self.assertIn((fn, nth), self.sequence)
        try:
            self.assertEqual(self.recovered(case, self.fault(fn, nth, failure)), "none", case)
            st, _, body = self.post(f"enrollment/{self.req['requestId']}/cancel", {})
            self.assertEqual(st, 200, f"{case}: {body}")
            self.assertEqual(self.tok.containers(), [], f"{case}: an orphan left")
            self.assertIsNone(self.journal_phase(), case)
            st, _, body = self.install()
            self.assertEqual((st, body["error"]["code"]), (404, "NOT_FOUND"), f"{case}: install after cancel")
        finally:
            self.set_control("")
            self.d.stop()

    def test_cancel_after_the_commit_point_failed_leaves_no_container(self):
        """The signature certificate's import fails (the encryption pair is
        in the container already): the install rolled back itself."""
        self.cancel_case("SKF_ImportCertificate", 1, "SAR_FAIL")

    def test_cancel_after_a_kill_at_the_commit_point_leaves_no_container(self):
        """Killed at the signature certificate's import: the restart rolls
        back without a login."""
        self.cancel_case("SKF_ImportCertificate", 1, "HANG")


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()
    unittest.main(verbosity=2)
