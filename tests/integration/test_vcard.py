#!/usr/bin/env python3
"""OpenSC's real PKCS#11 module on a virtual CAC card (vcard.VirtualCard):
listing, certificates, signing, removal and insertion, C_WaitForSlotEvent,
and keybridged following the card. Skipped when a piece is not installed."""
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
import vcard  # noqa: E402

AVAILABLE, WHY = vcard.available()


def timing(what, seconds):
    print(f"\n  timing: {what}: {seconds * 1000:.0f} ms", file=sys.stderr, flush=True)


class CardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not AVAILABLE:
            raise unittest.SkipTest(WHY)
        cls.vc = vcard.VirtualCard()
        cls.env = dict(os.environ, **cls.vc.env)

    @classmethod
    def tearDownClass(cls):
        cls.vc.cleanup()

    def setUp(self):
        if self.vc.bridge is None:          # a failed test left the card out
            self.vc.insert()

    def p11(self, *args, check=True, login=False):
        cmd = ["pkcs11-tool", "--module", vcard.OPENSC]
        if login:
            cmd += ["-l", "--pin", self.vc.pin]
        r = subprocess.run(cmd + list(args), env=self.env, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            self.fail(f"pkcs11-tool {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def slot0(self):
        """pkcs11-tool -L's paragraph for reader kb-vcard 00 00."""
        out = self.p11("-L").stdout
        start = out.index(vcard.READER)
        end = out.find("\nSlot ", start)
        return out[start:end if end >= 0 else None]


class OpenSC(CardTest):
    def test_card_is_listed_as_a_cac_token(self):
        s = self.slot0()
        self.assertIn("token manufacturer : Common Access Card", s)
        # OpenSC names the token after the first certificate's CN.
        self.assertIn(f"token label        : {self.vc.certs[0]['cn']}", s)
        self.assertIn("login required", s)

    def test_certificates_are_read_back_unchanged(self):
        for c in self.vc.certs:
            with tempfile.NamedTemporaryFile() as f:
                self.p11("--read-object", "--type", "cert", "--id", c["card_id"], "-o", f.name)
                self.assertEqual(f.read(), c["der"], f"certificate {c['card_id']} ({c['cn']})")

    def test_private_keys_appear_after_login(self):
        out = self.p11("-O", login=True).stdout
        self.assertEqual(out.count("Private Key Object; RSA"), len(self.vc.certs), out)

    def sign_and_verify(self, cert):
        with tempfile.TemporaryDirectory() as d:
            data, sig, pub = (os.path.join(d, n) for n in ("data", "sig", "pub.pem"))
            with open(data, "w") as f:
                f.write("keybridge virtual card 签名测试\n")
            t0 = time.monotonic()
            self.p11("--sign", "-m", "SHA256-RSA-PKCS", "--id", cert["card_id"],
                     "-i", data, "-o", sig, login=True)
            elapsed = time.monotonic() - t0
            subprocess.run(["openssl", "x509", "-in", cert["path"], "-pubkey", "-noout", "-out", pub],
                           check=True)
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("Verified OK", r.stdout)
            return elapsed

    def test_sha256_rsa_pkcs_signature_verifies_with_openssl(self):
        timing("pkcs11-tool --sign (process, login, sign)", self.sign_and_verify(self.vc.certs[0]))

    def test_the_expired_certificates_key_signs_too(self):
        self.sign_and_verify(self.vc.certs[1])

    def test_wrong_pin_is_refused(self):
        r = self.p11("-l", "--pin", "654321", "--sign", "-m", "SHA256-RSA-PKCS", "--id", "0001",
                     "-i", "/dev/null", "-o", "/dev/null", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("C_Login", r.stdout + r.stderr)
        # The CAC emulation has no retry counter: the right PIN still works.
        self.sign_and_verify(self.vc.certs[0])

    def test_card_start_up_is_fast_with_tcp_quickack(self):
        """pkcs11-tool -L binds the card (~60 APDUs): about 40 ms with
        TCP_QUICKACK in the bridge, over 3 s without."""
        self.p11("-L")
        t0 = time.monotonic()
        self.assertIn("token label", self.slot0())
        elapsed = time.monotonic() - t0
        timing("pkcs11-tool -L with the card bound by OpenSC", elapsed)
        self.assertLess(elapsed, 1.5)

    def test_remove_and_insert(self):
        took = self.vc.remove()
        timing("remove -> reader empty (pcscd)", took)
        s = self.slot0()
        self.assertIn("(empty)", s)
        self.assertNotIn("token label", s)
        r = self.p11("--read-object", "--type", "cert", "--id", "0001", "-o", "/dev/null", check=False)
        self.assertNotEqual(r.returncode, 0)
        took = self.vc.insert()
        timing("insert -> card present (pcscd)", took)
        self.assertIn(f"token label        : {self.vc.certs[0]['cn']}", self.slot0())
        self.sign_and_verify(self.vc.certs[0])


# C_WaitForSlotEvent in a child process (libpcsclite reads PCSCLITE_CSOCK_NAME
# once per process). It prints one line per event: "<kind> <slot|rv> <monotonic>".
WAITER = r"""
import ctypes, sys, threading, time
class Args(ctypes.Structure):
    _fields_ = [("f", ctypes.c_void_p * 4), ("flags", ctypes.c_ulong), ("r", ctypes.c_void_p)]
lib = ctypes.CDLL(sys.argv[1])
args = Args(flags=2)                                    # CKF_OS_LOCKING_OK
assert lib.C_Initialize(ctypes.byref(args)) == 0
def finalize_on_eof():
    sys.stdin.read()
    print("finalize", lib.C_Finalize(None), time.monotonic(), flush=True)
finalizer = threading.Thread(target=finalize_on_eof, daemon=True)
finalizer.start()
first = True
while True:
    slot = ctypes.c_ulong()
    rv = lib.C_WaitForSlotEvent(0, ctypes.byref(slot), None)
    if rv != 0:
        print("rv", hex(rv), time.monotonic(), flush=True)
        break
    print("first" if first else "event", slot.value, time.monotonic(), flush=True)
    first = False
finalizer.join(10)
"""


class WaitForSlotEvent(CardTest):
    def test_events_for_removal_and_insertion_and_finalize_wakes_the_waiter(self):
        p = subprocess.Popen([sys.executable, "-c", WAITER, vcard.OPENSC], env=self.env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        lines = []

        def reader():
            for line in p.stdout:
                lines.append(line.split())
        t = threading.Thread(target=reader, daemon=True)
        t.start()

        def next_line(n, timeout=10):
            deadline = time.monotonic() + timeout
            while len(lines) < n and time.monotonic() < deadline:
                time.sleep(0.005)
            self.assertGreaterEqual(len(lines), n, f"no event; stderr: {p.stderr.read() if p.poll() is not None else ''}")
            return lines[n - 1]

        try:
            # A card present at start-up: the first blocking wait returns at once.
            kind, slot, _ = next_line(1)
            self.assertEqual((kind, slot), ("first", "0"))
            time.sleep(0.3)
            self.assertEqual(len(lines), 1, f"spurious events: {lines}")
            t0 = time.monotonic()
            self.vc.remove(wait=False)
            kind, slot, ts = next_line(2)
            self.assertEqual((kind, slot), ("event", "0"))
            timing("card removed -> C_WaitForSlotEvent returns", float(ts) - t0)
            t0 = time.monotonic()
            self.vc.insert(wait=False)
            kind, slot, ts = next_line(3)
            self.assertEqual((kind, slot), ("event", "0"))
            timing("card inserted -> C_WaitForSlotEvent returns", float(ts) - t0)
            self.vc.wait_state(True)
            # C_Finalize from another thread wakes the blocked waiter.
            time.sleep(0.2)
            self.assertEqual(len(lines), 3, f"spurious events: {lines}")
            t0 = time.monotonic()
            p.stdin.close()
            got = {next_line(4)[0], next_line(5)[0]}
            self.assertEqual(got, {"finalize", "rv"})
            by_kind = {l[0]: l[1:] for l in lines[3:]}
            self.assertEqual(by_kind["rv"][0], hex(0x190))    # CKR_CRYPTOKI_NOT_INITIALIZED
            self.assertEqual(by_kind["finalize"][0], "0")     # C_Finalize: CKR_OK
            timing("C_Finalize in another thread -> blocked waiter returns",
                   float(by_kind["rv"][1]) - t0)
            self.assertEqual(p.wait(timeout=10), 0, p.stderr.read())
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()


class Daemon(CardTest):
    """keybridged with only OpenSC's module follows the virtual card."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.d = kbtest.Daemon(tokens=None, tls=False, modules=[vcard.OPENSC], env=cls.vc.env).start()
        except BaseException:
            cls.vc.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.cleanup()
        finally:
            super().tearDownClass()

    def cac_tokens(self):
        st, _, body = self.d.get("/v1/tokens")
        self.assertEqual(st, 200, body)
        return [t for t in body["tokens"] if t.get("manufacturer") == "Common Access Card"]

    def wait_tokens(self, n, timeout=10):
        t0 = time.monotonic()
        while True:
            toks = self.cac_tokens()
            if len(toks) == n or time.monotonic() - t0 > timeout:
                return toks, time.monotonic() - t0
            time.sleep(0.02)

    def check_token(self, tok):
        self.assertEqual(tok["backend"], "pkcs11")
        self.assertEqual(tok["label"], self.vc.certs[0]["cn"])
        by_fp = {c["fingerprintSha256"]: c for c in tok["certificates"]}
        self.assertEqual(len(by_fp), len(self.vc.certs), tok["certificates"])
        for c in self.vc.certs:
            fp = hashlib.sha256(c["der"]).hexdigest()
            self.assertIn(fp, by_fp, f"certificate of {c['cn']} missing")
            self.assertTrue(by_fp[fp]["hasPrivateKey"], by_fp[fp])
            self.assertEqual(by_fp[fp]["subjectFields"]["CN"], c["cn"])

    def test_lists_the_cac_token_with_its_certificates(self):
        toks, _ = self.wait_tokens(1)
        self.assertEqual(len(toks), 1, toks)
        self.check_token(toks[0])

    def test_token_disappears_on_removal_and_comes_back_on_insertion(self):
        toks, _ = self.wait_tokens(1)
        self.assertEqual(len(toks), 1)
        token_id = toks[0]["id"]
        t0 = time.monotonic()
        self.vc.remove(wait=False)
        toks, _ = self.wait_tokens(0)
        gone = time.monotonic() - t0
        self.assertEqual(toks, [])
        timing("card removed -> gone from GET /v1/tokens (poll 300 ms)", gone)
        self.assertLess(gone, 3.0)
        st, _, body = self.d.get(f"/v1/tokens/{token_id}")
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"))
        t0 = time.monotonic()
        self.vc.insert(wait=False)
        toks, _ = self.wait_tokens(1)
        back = time.monotonic() - t0
        self.assertEqual(len(toks), 1)
        timing("card inserted -> back in GET /v1/tokens (poll 300 ms)", back)
        self.assertLess(back, 3.0)
        self.assertEqual(toks[0]["id"], token_id, "same card, same token id")
        self.check_token(toks[0])


class DaemonSign(CardTest):
    """Signing through keybridged and OpenSC's real module; the card pulled
    during an operation, and the daemon recovering when it returns."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from test_sign import PINENTRY, Pinentry
        cls.tmp = tempfile.mkdtemp(prefix="kb-vcard-sign-")
        cls.pin = Pinentry(cls.tmp)
        try:
            cls.d = kbtest.Daemon(tokens=None, tls=False, modules=[vcard.OPENSC], env=dict(cls.vc.env, **cls.pin.env),
                                  extra=["--pinentry", PINENTRY, "--dialogs-per-minute", "100"]).start()
        except BaseException:
            cls.vc.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.cleanup()
        finally:
            super().tearDownClass()

    def wait_gone(self, timeout=10):
        """Until the daemon's scan has seen the card go (so the card seen next
        is the re-inserted one, not the cache's memory of the old)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, body = self.d.get("/v1/tokens")
            if not any(t.get("manufacturer") == "Common Access Card" for t in body["tokens"]):
                return
            time.sleep(0.05)
        self.fail("the CAC token did not disappear")

    def token(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, body = self.d.get("/v1/tokens")
            cac = [t for t in body["tokens"] if t.get("manufacturer") == "Common Access Card"]
            if cac:
                return cac[0]
            time.sleep(0.05)
        self.fail("no CAC token")

    def sign(self, tok, data):
        cert = next(c for c in tok["certificates"] if c["subjectFields"]["CN"] == self.vc.certs[0]["cn"])
        body = {"certificate": cert["id"], "algorithm": "RSA-PKCS1-SHA256",
                "items": [{"data": __import__("base64").b64encode(data).decode()}]}
        return self.d.request("POST", f"/v1/tokens/{tok['id']}/sign", body=body)

    def verify(self, data, sig_b64):
        with tempfile.TemporaryDirectory() as t:
            files = {n: os.path.join(t, n) for n in ("data", "sig", "cert.pem", "pub.pem")}
            with open(files["data"], "wb") as f:
                f.write(data)
            with open(files["sig"], "wb") as f:
                f.write(__import__("base64").b64decode(sig_b64))
            with open(files["cert.pem"], "w") as f:
                f.write(self.vc.certs[0]["pem"])
            subprocess.run(["openssl", "x509", "-in", files["cert.pem"], "-pubkey", "-noout", "-out", files["pub.pem"]],
                           check=True)
            return subprocess.run(["openssl", "dgst", "-sha256", "-verify", files["pub.pem"], "-signature",
                                   files["sig"], files["data"]], capture_output=True).returncode == 0

    def test_sign_through_opensc_verifies(self):
        self.pin.answer("pin " + self.vc.pin)
        st, _, body = self.sign(self.token(), b"signed by a virtual CAC")
        self.assertEqual(st, 200, body)
        self.assertTrue(self.verify(b"signed by a virtual CAC", body["signatures"][0]))

    def test_a_wrong_pin_is_pin_incorrect(self):
        self.pin.answer("pin 000000")
        st, _, body = self.sign(self.token(), b"x")
        self.assertEqual((st, body["error"]["code"]), (401, "PIN_INCORRECT"), body)
        time.sleep(2.2)  # the cool-down after a wrong PIN

    def test_card_pulled_during_an_operation_then_recovery(self):
        self.pin.answer("pin " + self.vc.pin)
        tok = self.token()
        st, _, body = self.sign(tok, b"before")
        self.assertEqual(st, 200, body)
        # The card goes while the daemon holds a logged-in session on it.
        self.vc.remove()
        st, _, body = self.sign(tok, b"during")
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        self.wait_gone()
        self.vc.insert()
        tok = self.token()
        self.pin.answer("pin " + self.vc.pin)
        st, _, body = self.sign(tok, b"after")
        self.assertEqual(st, 200, body)
        self.assertTrue(self.verify(b"after", body["signatures"][0]))


if __name__ == "__main__":
    kbtest.run(__name__)
