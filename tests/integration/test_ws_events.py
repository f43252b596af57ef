#!/usr/bin/env python3
"""Token hot-plug over the WebSocket: token.inserted, token.removed and
token.changed with the fault-injecting module (C_WaitForSlotEvent, removal
on cue, PIN counters) and with OpenSC's real module on the virtual CAC card;
authorizations gone with the token; no busy loop when a module cannot wait."""
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
import p11fault  # noqa: E402
import vcard  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402
from wsclient import WS  # noqa: E402

# Polling this slow cannot explain an event within a second: it came from
# C_WaitForSlotEvent.
SLOW_POLL_MS = 10000


def timing(what, seconds):
    print(f"\n  timing: {what}: {seconds * 1000:.0f} ms", file=sys.stderr, flush=True)


def next_event(w, method, timeout=8):
    """The next notification named method (others are skipped)."""
    w.sock.settimeout(timeout)
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = w.recv_json()
        if msg.get("method") == method:
            return msg["params"]
    raise AssertionError(f"no {method} within {timeout} s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FaultEvents(unittest.TestCase):
    """The fault module wraps SoftHSM2 and reports its simulated removals
    through C_WaitForSlotEvent."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-ws-events-")
        cls.tokens = kbtest.TokenDir(("kb-hot",), ec_signing=True)
        cls.ctl = p11fault.FaultControl(os.path.join(cls.tmp, "control"))
        cls.pin = Pinentry(cls.tmp)
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=[p11fault.module_path()],
                              env=dict(cls.ctl.environ(), **cls.pin.env),
                              extra=["--poll-interval-ms", str(SLOW_POLL_MS), "--pinentry", PINENTRY,
                                     "--pin-cooldown", "0", "--dialogs-per-minute", "100"]).start()
        st, _, body = cls.d.get("/v1/tokens")
        cls.token = body["tokens"][0]

    @classmethod
    def tearDownClass(cls):
        cls.ctl.clear()
        cls.d.cleanup()
        cls.tokens.cleanup()

    def setUp(self):
        self.ctl.clear()
        self.wait_present(True)

    def wait_present(self, present):
        deadline = time.time() + 10
        while time.time() < deadline:
            st, _, body = self.d.get(f"/v1/tokens/{self.token['id']}")
            if (st == 200) == present:
                return
            time.sleep(0.05)
        self.fail(f"token present={present} not reached")

    def subscribed(self, events=None):
        w = WS(self.d)
        self.addCleanup(w.sock.close)
        r = w.call("events.subscribe", {"events": events} if events else None)
        self.assertIn("result", r)
        return w

    def test_removal_and_insertion_are_notified_from_slot_events(self):
        w = self.subscribed()
        t0 = time.time()
        self.ctl.removed(True)
        gone = next_event(w, "token.removed", timeout=5)
        removal = time.time() - t0
        self.assertEqual(gone, {"id": self.token["id"]})
        self.assertLess(removal, 2.0, "slower than C_WaitForSlotEvent: polled?")
        timing("removal to token.removed (fault module)", removal)
        t0 = time.time()
        self.ctl.removed(False)
        back = next_event(w, "token.inserted", timeout=5)["token"]
        timing("insertion to token.inserted (fault module)", time.time() - t0)
        st, _, rest = self.d.get(f"/v1/tokens/{self.token['id']}")
        self.assertEqual(back, rest)

    def test_a_connection_gets_only_what_it_subscribed_to(self):
        only_removed = self.subscribed(["token.removed"])
        nothing = WS(self.d)
        self.addCleanup(nothing.sock.close)
        self.ctl.removed(True)
        self.assertEqual(next_event(only_removed, "token.removed")["id"], self.token["id"])
        self.ctl.removed(False)
        self.wait_present(True)
        self.assertEqual(only_removed.call("info")["id"], 2)    # no token.inserted before it
        self.assertEqual(nothing.call("info")["id"], 1)         # nothing at all before it

    def test_removal_revokes_the_authorization(self):
        self.pin.answer("pin 123456")
        cert = next(c for c in self.token["certificates"] if c["subjectFields"]["CN"] == "张三")
        w = self.subscribed()
        r = w.call("sign", {"token": self.token["id"], "certificate": cert["id"], "algorithm": "RSA-PKCS1-SHA256",
                            "items": [{"data": "aGk="}]})
        self.assertIn("result", r)
        self.assertTrue(w.call("token.get", {"token": self.token["id"]})["result"]["authorized"])
        self.ctl.removed(True)
        next_event(w, "token.removed")
        self.ctl.removed(False)
        back = next_event(w, "token.inserted")["token"]
        self.assertFalse(back["authorized"])
        self.assertFalse(w.call("token.get", {"token": self.token["id"]})["result"]["authorized"])
        self.pin.answer()
        r = w.call("sign", {"token": self.token["id"], "certificate": cert["id"], "algorithm": "RSA-PKCS1-SHA256",
                            "items": [{"data": "aGk="}]})
        self.assertEqual(r["error"]["data"]["code"], "PIN_CANCELLED")   # a new PIN dialog was needed

    def test_a_lost_pin_try_is_a_token_change(self):
        self.ctl.pin_tries(3)
        self.addCleanup(self.ctl.pin_tries, None)
        self.pin.answer("pin 000000")
        w = self.subscribed(["token.changed"])
        cert = next(c for c in self.token["certificates"] if c["subjectFields"]["CN"] == "张三")
        r = w.call("sign", {"token": self.token["id"], "certificate": cert["id"], "algorithm": "RSA-PKCS1-SHA256",
                            "items": [{"data": "aGk="}]})
        self.assertEqual(r["error"]["data"]["code"], "PIN_INCORRECT")
        changed = next_event(w, "token.changed", timeout=SLOW_POLL_MS / 1000 + 5)["token"]
        self.assertEqual(changed["id"], self.token["id"])
        self.assertEqual(changed["pin"]["status"], "countLow")



class StaleRead(unittest.TestCase):
    """On a daemon of its own: the PIN counter it changes is token state."""
    setUpClass = classmethod(FaultEvents.setUpClass.__func__)
    tearDownClass = classmethod(FaultEvents.tearDownClass.__func__)
    setUp, wait_present, subscribed = FaultEvents.setUp, FaultEvents.wait_present, FaultEvents.subscribed

    def test_a_failed_read_of_a_present_token_does_not_remove_it(self):
        """The scan after a lost PIN try reads the certificates again; that
        read fails once (as SoftHSM2's can while another session writes). The
        token stays listed from the last scan and is read again at once: a
        change, never a removal."""
        self.ctl.pin_tries(3)
        self.addCleanup(self.ctl.pin_tries, None)
        self.pin.answer("pin 000000")
        w = self.subscribed(["token.changed", "token.removed"])
        cert = next(c for c in self.token["certificates"] if c["subjectFields"]["CN"] == "张三")
        self.ctl.fail("C_FindObjectsInit", "1", "CKR_GENERAL_ERROR")
        r = w.call("sign", {"token": self.token["id"], "certificate": cert["id"], "algorithm": "RSA-PKCS1-SHA256",
                            "items": [{"data": "aGk="}]})
        self.assertEqual(r["error"]["data"]["code"], "PIN_INCORRECT")
        w.sock.settimeout(SLOW_POLL_MS / 1000 + 5)
        msg = w.recv_json()
        self.assertEqual(msg["method"], "token.changed", msg)
        self.assertEqual(len(msg["params"]["token"]["certificates"]), len(self.token["certificates"]))


class OpenSCEvents(unittest.TestCase):
    """OpenSC's real module: its C_WaitForSlotEvent drives the events."""

    @classmethod
    def setUpClass(cls):
        ok, why = vcard.available()
        if not ok:
            raise unittest.SkipTest(why)
        cls.vc = vcard.VirtualCard()
        try:
            cls.d = kbtest.Daemon(tokens=None, tls=True, modules=[vcard.OPENSC], env=cls.vc.env,
                                  extra=["--poll-interval-ms", str(SLOW_POLL_MS)]).start()
        except BaseException:
            cls.vc.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.cleanup()
        finally:
            cls.vc.cleanup()

    def test_pulling_and_reinserting_the_card_is_notified(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            st, _, body = self.d.get("/v1/tokens")
            if body["tokens"]:
                break
            time.sleep(0.1)
        token = body["tokens"][0]
        w = WS(self.d)
        self.addCleanup(w.sock.close)
        w.call("events.subscribe")
        t0 = time.time()
        self.vc.remove(wait=False)
        gone = next_event(w, "token.removed", timeout=6)
        removal = time.time() - t0
        self.assertEqual(gone["id"], token["id"])
        self.assertLess(removal, 3.0, "not from C_WaitForSlotEvent")
        timing("card pulled to token.removed (OpenSC)", removal)
        t0 = time.time()
        self.vc.insert(wait=False)
        back = next_event(w, "token.inserted", timeout=10)["token"]
        timing("card inserted to token.inserted (OpenSC)", time.time() - t0)
        self.assertEqual(back["id"], token["id"])
        self.assertEqual(len(back["certificates"]), len(token["certificates"]))


class PollBackOff(unittest.TestCase):
    """A module that cannot wait for events (C_WaitForSlotEvent answers
    CKR_FUNCTION_NOT_SUPPORTED, as SoftHSM2 does) is polled: every poll
    interval after a change, backing off to five times that while nothing
    changes. A module whose waits fail (OpenSC without pcscd) is asked again
    after 1, 2, 4 … s, never in a loop. Scans are seen in the fault module's
    call log, sampled every 20 ms."""
    POLL_MS = 300

    def start(self, wait_rv):
        tmp = tempfile.mkdtemp(prefix="kb-backoff-")
        self.tokens = kbtest.TokenDir(("kb-poll",))
        self.addCleanup(self.tokens.cleanup)
        self.ctl = p11fault.FaultControl(os.path.join(tmp, "control"))
        self.ctl.fail("C_WaitForSlotEvent", "1+", wait_rv)
        self.log = os.path.join(tmp, "calls.log")
        self.ctl.log(self.log)
        self.d = kbtest.Daemon(self.tokens, tls=False, modules=[p11fault.module_path()], env=self.ctl.environ(),
                               extra=["--poll-interval-ms", str(self.POLL_MS)]).start()
        self.addCleanup(self.d.cleanup)

    def calls(self, fn):
        with open(self.log) as f:
            return sum(1 for line in f if line.split(" ", 1)[0] == fn)

    def scan_starts(self, seconds):
        """Times at which a scan began (a new C_GetSlotList after a quiet 100 ms)."""
        starts, seen, last_new = [], self.calls("C_GetSlotList"), 0.0
        end = time.time() + seconds
        while time.time() < end:
            n = self.calls("C_GetSlotList")
            now = time.time()
            if n > seen:
                if now - last_new > 0.1:
                    starts.append(now)
                last_new, seen = now, n
            time.sleep(0.02)
        return starts

    def test_polling_backs_off_while_nothing_changes_and_speeds_up_after_a_change(self):
        self.start("CKR_FUNCTION_NOT_SUPPORTED")
        quiet = self.scan_starts(7)
        gaps = [b - a for a, b in zip(quiet, quiet[1:])]
        self.assertLessEqual(len(quiet), 14, f"no back-off: {len(quiet)} scans in 7 s at {self.POLL_MS} ms")
        self.assertGreaterEqual(len(quiet), 4, "polling stopped")
        slow = max(gaps)
        self.assertGreater(slow, 3 * self.POLL_MS / 1000, gaps)
        self.assertLess(slow, 5 * self.POLL_MS / 1000 + 1, gaps)
        self.assertEqual(self.calls("C_WaitForSlotEvent"), 1, "a module that cannot wait is not asked again")

        self.ctl.removed(True)      # a change: the next polls come at the fast interval again
        after = self.scan_starts(3)
        gaps_after = [b - a for a, b in zip(after, after[1:])]
        self.assertTrue(gaps_after, after)
        self.assertLess(gaps_after[0], slow / 2, (gaps, gaps_after))

    def test_failing_waits_are_retried_with_back_off(self):
        self.start("CKR_DEVICE_ERROR")
        time.sleep(8)       # waits at about 0, 1, 3 and 7 s
        waits = self.calls("C_WaitForSlotEvent")
        self.assertGreaterEqual(waits, 3, "the monitor gave up")
        self.assertLessEqual(waits, 5, f"{waits} failed waits in 8 s: no back-off")


class NoBusyLoop(unittest.TestCase):
    def test_opensc_without_pcscd_backs_off_instead_of_spinning(self):
        if not os.path.exists(vcard.OPENSC):
            self.skipTest("needs opensc-pkcs11.so")
        tmp = tempfile.mkdtemp(prefix="kb-nopcscd-")
        env = {"PCSCLITE_CSOCK_NAME": os.path.join(tmp, "no-such-pcscd.comm")}
        d = kbtest.Daemon(tokens=None, tls=False, modules=[vcard.OPENSC], env=env,
                          extra=["--poll-interval-ms", "1000"]).start()
        try:
            before = cpu_seconds(d.proc.pid)
            time.sleep(4)
            used = cpu_seconds(d.proc.pid) - before
            timing("CPU used in 4 s with OpenSC failing every wait", used)
            self.assertLess(used, 0.5)
        finally:
            d.cleanup()


if __name__ == "__main__":
    kbtest.run(__name__)
