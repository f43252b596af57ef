#!/usr/bin/env python3
"""Nothing half there: the enrollment install against every failure we can
cause, on PKCS#11.

The renewal matrix of test_renewal_faults.py (its InstallFaultMatrix: the
snapshot, the recorded calls, the three failures, the restart) over an
enrollment's install: a first identity onto a blank SoftHSM2 token. The
richest case is taken, an RSA-2048 key with a double certificate: before the
commit point the install unwraps the encryption key onto the token (two
C_UnwrapKey: SoftHSM2 2.6 has no CKM_RSA_AES_KEY_WRAP), checks it and writes
its certificate; then it writes the signing certificate (the commit point);
there is nothing old to remove. The daemon makes the request, the test CA
issues the signing certificate and an encryption pair wrapped to the
request's key, and the token and the daemon's state are kept as a snapshot.
Then, for every PKCS#11 call the install makes (of a run of the same call in
a row, the first and the last: the key lookups read tens of attributes), from
that snapshot: the call fails with CKR_DEVICE_ERROR, fails with
CKR_DEVICE_REMOVED, or never returns and the daemon is killed with SIGKILL
there; the daemon is restarted (which recovers, without a login), and the
token, read straight through SoftHSM2, must hold either no new identity (no
certificate; the request's key, as the request is still pending; an
unwrapped encryption key only while the journal waits at rolling-back for a
login) or the whole new identity (the signing certificate on the request's
key, the encryption certificate on its key, no journal); never a certificate
without its key. A retried install must then succeed and leave exactly the
two certificates and their two keys, and no journal.

Cancelling a request whose install was rolled back (test_cancel_*) must
leave the token as blank as before the request: no orphan key. (A rollback
whose unwrapped key waits for a login is finished first with the cancel's
own login.)"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from faultmatrix import ends_of_runs  # noqa: E402
from renewal import serial_of, token_objects  # noqa: E402
from test_enrollment import SUBJECT  # noqa: E402
from test_renewal_faults import InstallFaultMatrix  # noqa: E402

LABEL = "kb-enroll-faults"
PIN, SO_PIN = "123456", "12345678"


def all_objects(tokens, label, pin=PIN):
    """Every object on the token, logged in, as pkcs11-tool lists it: sorted
    (kind, CKA_ID) pairs, secret and public keys too."""
    env = dict(os.environ, SOFTHSM2_CONF=tokens.conf)
    listing = subprocess.run(["pkcs11-tool", "--module", kbtest.SOFTHSM, "--token-label", label, "-l", "--pin", pin,
                              "-O"], env=env, capture_output=True, text=True, check=True).stdout
    objects, kind = [], None
    for line in listing.splitlines():
        if not line.startswith(" "):
            kind = line.split(" Object")[0].strip()
            objects.append([kind, None])
        elif line.strip().startswith("ID:"):
            objects[-1][1] = line.split(":", 1)[1].strip()
    return sorted(tuple(o) for o in objects)


class EnrollmentFaultMatrix(InstallFaultMatrix, unittest.TestCase):
    OUTCOMES = {"none": "no new identity", "new": "the whole new identity"}
    # nothing old waits for a login: only the rollback of an unwrapped key does
    WAITING = ("rolling-back",)
    report_suffix = "-enrollment"

    waiting = []    # (case, unwrapped keys left) of the rollbacks that wait for a login

    def test_every_call_fails_or_is_killed(self):
        self.waiting.clear()    # the matrix's own (a cancel test may have run before)
        super().test_every_call_fails_or_is_killed()
        print(f"  of no new identity, {len(self.waiting)} left the journal rolling back, waiting for a login "
              f"({sum(n for _, n in self.waiting)} with the unwrapped encryption key still on the token)",
              file=sys.stderr)

    @classmethod
    def make_tokens(cls):
        """One blank token, as a CA's tool formats it (user PIN set, no
        objects), and the test CA that make-token.sh made with a token,
        which goes again: a scan reads only the blank token."""
        tokens = kbtest.TokenDir(("kb-ca-only",))
        env = dict(os.environ, SOFTHSM2_CONF=tokens.conf)
        for args in (["--delete-token", "--token", "kb-ca-only"],
                     ["--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", SO_PIN]):
            subprocess.run(["softhsm2-util", *args], env=env, check=True, capture_output=True)
        return tokens

    @classmethod
    def prepare(cls):
        st, _, body = cls.d.get("/v1/tokens")
        (token,) = body["tokens"]
        assert token["label"] == LABEL and token["certificates"] == [], token
        cls.token_id = token["id"]
        cls.blank = all_objects(cls.tokens, LABEL)
        st, _, req = cls.post("request", {"subject": SUBJECT, "keyType": "RSA-2048"})
        assert st == 200, req
        cls.req = req
        cls.new_pem = cls.ca.issue(req["csr"])
        cls.new_serial = serial_of(cls.new_pem)
        enc_pem, wrapped, _ = cls.ca.encryption_pair("张三", cls.new_pem)
        cls.encryption = {"certificate": enc_pem, "envelopedKey": wrapped}
        cls.enc_serial = serial_of(enc_pem)
        assert token_objects(cls.tokens, LABEL) == ({}, [req["keyId"]])

    @classmethod
    def post(cls, what, body):
        return cls.d.request("POST", f"/v1/tokens/{cls.token_id}/enrollment/{what}", body=body)

    @classmethod
    def install(cls):
        return cls.post("install", {"requestId": cls.req["requestId"], "certificate": cls.new_pem,
                                    "encryption": cls.encryption})

    @classmethod
    def cases(cls, seq):
        """Of a run of the same call in a row, the first and the last (as
        the double renewal matrix takes them)."""
        return ends_of_runs(seq)

    def recovered(self, case, phase):
        certs, keys = token_objects(self.tokens, LABEL)
        key = self.req["keyId"]
        new, enc = certs.get(self.new_serial, []), certs.get(self.enc_serial, [])
        self.assertLessEqual(set(certs), {self.new_serial, self.enc_serial}, f"{case}: certificates {certs}")
        self.assertIn(key, keys, f"{case}: the request's key is gone")
        if new:
            self.assertEqual(new, [key], f"{case}: the signing certificate on another key")
            self.assertEqual(len(enc), 1, f"{case}: the new identity without its encryption certificate: {certs}")
            self.assertIn(enc[0], keys, f"{case}: the encryption certificate without its key")
            self.assertEqual(set(keys), {key, enc[0]}, case)
            self.assertIsNone(phase, f"{case}: recovery left the journal at {phase}")
            return "new"
        self.assertEqual(enc, [], f"{case}: an encryption certificate without the identity")
        # an unwrapped encryption key stays only while its rollback waits for a login
        extra = set(keys) - {key}
        self.assertLessEqual(len(extra), 1 if phase == "rolling-back" else 0, f"{case}: keys {keys}, journal {phase}")
        if phase:
            self.waiting.append((case, len(extra)))
        return "none"

    def assert_installed(self, case):
        certs, keys = token_objects(self.tokens, LABEL)
        enc = certs.get(self.enc_serial, [])
        self.assertEqual(certs.get(self.new_serial), [self.req["keyId"]], case)
        self.assertEqual(len(enc), 1, f"{case}: encryption certificate {enc}")
        self.assertEqual(set(certs), {self.new_serial, self.enc_serial}, case)
        # exactly the two keys: one unwrapped by a rolled-back install went at the login
        self.assertEqual(sorted(keys), sorted([self.req["keyId"], enc[0]]), case)
        self.assertEqual(self.journal_left(), [], case)

    # ---- cancel after a rolled-back install ----

    def call_of(self, fn, nth):
        """(fn, nth) of the recorded install: the case to fail."""
        self.assertIn((fn, nth), self.sequence)
        return fn, nth

    def cancel_case(self, fn, nth, failure):
        """The fault, recovery; then the request is cancelled instead of
        installed again: the token must be as blank as before the request
        and the request gone. The journal's phase after recovery."""
        case = f"{fn} #{nth} {failure}, then cancel"
        try:
            phase = self.fault(fn, nth, failure)
            self.assertEqual(self.recovered(case, phase), "none", case)
            # a rollback that waits for a login is finished with the cancel's own
            st, _, body = self.post(f"{self.req['requestId']}/cancel", {})
            self.assertEqual(st, 200, f"{case}: {body}")
            self.assertEqual(all_objects(self.tokens, LABEL), self.blank, f"{case}: an orphan left")
            self.assertEqual(self.journal_left(), [], case)
            st, _, body = self.install()
            self.assertEqual((st, body["error"]["code"]), (404, "NOT_FOUND"), f"{case}: install after cancel")
            return phase
        finally:
            self.ctl.clear()
            self.d.stop()

    def test_cancel_after_the_commit_point_failed_leaves_no_key(self):
        """The signing certificate's write fails: the install rolled back
        itself, logged in (no journal left); cancel drops the request's key."""
        self.assertIsNone(self.cancel_case(*self.call_of("C_CreateObject", 2), "CKR_DEVICE_ERROR"))

    def test_cancel_after_a_kill_with_the_encryption_key_unwrapped_leaves_no_key(self):
        """Killed at the signing certificate's write, after the unwrap: the
        restart rolls back without a login and the unwrapped encryption key
        waits for one; cancel logs in, and neither key stays."""
        self.assertEqual(self.cancel_case(*self.call_of("C_CreateObject", 2), "HANG"), "rolling-back")


if __name__ == "__main__":
    kbtest.run(__name__)
