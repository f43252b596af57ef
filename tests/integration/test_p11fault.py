"""kb-p11fault against real tools: OpenSC's pkcs11-tool over a SoftHSM2 token,
and tests/p11fault/p11fault-driver for what pkcs11-tool cannot reach
(sessions outliving a removal, C_WaitForSlotEvent, threads)."""
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from p11fault import SRC, FaultControl, module_path  # noqa: E402

FIXTURES = os.path.join(SRC, "tests", "fixtures")
SOFTHSM = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so",
                            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so") if os.path.exists(p)), None)
DRIVER = os.environ.get("KB_P11FAULT_DRIVER") or os.path.join(
    SRC, "build", "tests", "p11fault", "p11fault-driver")
LABEL = "kb-fault"
PIN, SO_PIN, WRONG = "123456", "12345678", "654321"
DATA = b"keybridge fault injection test data\n"


class Token:
    """One SoftHSM2 token made by make-token.sh, shared by the whole module."""
    dir = None
    conf = None

    @classmethod
    def make(cls):
        if cls.dir is None:
            cls.dir = tempfile.mkdtemp(prefix="kb-p11fault-token-")
            out = subprocess.run([os.path.join(FIXTURES, "make-token.sh"), cls.dir, LABEL],
                                 check=True, capture_output=True, text=True).stdout
            cls.conf = out.strip().split("=", 1)[1]

    @classmethod
    def remove(cls):
        if cls.dir:
            shutil.rmtree(cls.dir, ignore_errors=True)
            cls.dir = None


def setUpModule():
    missing = [what for what, ok in (("SoftHSM2", SOFTHSM), ("pkcs11-tool", shutil.which("pkcs11-tool")),
                                     ("the module", os.path.exists(module_path())),
                                     ("the driver", os.path.exists(DRIVER))) if not ok]
    if missing:
        raise unittest.SkipTest("missing: " + ", ".join(missing))
    Token.make()


def tearDownModule():
    Token.remove()


class Driver:
    """p11fault-driver: one command a line in, one answer a line out."""

    def __init__(self, env):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([DRIVER, module_path()], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""

    def send(self, command):
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, timeout=10):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                raise AssertionError(f"driver: no answer within {timeout} s")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"driver exited: {self.errors()}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().split()

    def __call__(self, command, timeout=10):
        self.send(command)
        return self.answer(timeout)

    def errors(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def close(self):
        """Quit; returns the exit status (non-zero when ASan found a leak or
        an error) and the driver's stderr."""
        if self.proc.poll() is None:
            self.send("quit")
            self.proc.stdin.close()
        rc = self.proc.wait(timeout=30)
        errors = self.errors()
        self.proc.stdout.close()
        self.sel.close()
        self.stderr.close()
        return rc, errors


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kb-p11fault-")
        self.ctl = FaultControl(os.path.join(self.tmp, "control"))
        self.log_path = os.path.join(self.tmp, "calls.log")
        self.env = dict(os.environ, SOFTHSM2_CONF=Token.conf, **self.ctl.environ(module=SOFTHSM))
        self.drivers = []

    def tearDown(self):
        for d in self.drivers:
            rc, errors = d.close()
            self.assertEqual(rc, 0, f"driver exit status {rc}: {errors}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------
    def tool(self, *args, env=None, token=True, check=True):
        """pkcs11-tool on the module; returns (status, stdout + stderr)."""
        cmd, env = self.tool_command(args, env, token)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        if check:
            self.assertEqual(p.returncode, 0, out)
        self.assertNotIn("AddressSanitizer", out)
        self.assertNotIn("runtime error", out)
        return p.returncode, out

    def tool_command(self, args, env=None, token=True):
        env = dict(env or self.env)
        preload = os.environ.get("KB_P11FAULT_PRELOAD")
        if preload:
            # The ASan module in a program built without ASan: the runtime
            # must come first. Memory errors are caught there too; leaks are
            # not (pkcs11-tool leaks, and its frames would hide ours): the
            # driver, an ASan program, checks the module for leaks.
            env["LD_PRELOAD"] = preload
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        cmd = ["pkcs11-tool", "--module", module_path()]
        if token:
            cmd += ["--token-label", LABEL]
        return cmd + list(args), env

    def flags(self):
        _, out = self.tool("-L", token=False)
        m = re.search(r"token label\s*: " + LABEL + r".*?token flags\s*: ([^\n]*)", out, re.S)
        self.assertIsNotNone(m, out)
        return m.group(1)

    def login(self, pin):
        return self.tool("-l", "--pin", pin, "-O", "--type", "privkey", check=False)

    def sign(self, check=True):
        data = os.path.join(self.tmp, "data")
        sig = os.path.join(self.tmp, "sig")
        with open(data, "wb") as f:
            f.write(DATA)
        if os.path.exists(sig):
            os.unlink(sig)
        rc, out = self.tool("-l", "--pin", PIN, "--sign", "--id", "01", "-m", "SHA256-RSA-PKCS",
                            "-i", data, "-o", sig, check=check)
        if rc == 0:
            self.verify(data, sig)
        return rc, out

    def verify(self, data, sig):
        cert = os.path.join(Token.dir, f"{LABEL}-certs", "01.pem")
        pub = os.path.join(self.tmp, "01.pub.pem")
        subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey", "-out", pub], check=True)
        p = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def driver(self):
        d = Driver(self.env)
        self.drivers.append(d)
        self.assertEqual(d("init"), ["CKR_OK"])
        return d

    def token_slot(self, d):
        answer = d(f"slot {LABEL}")
        self.assertEqual(answer[0], "CKR_OK", answer)
        return answer[1]

    def log_lines(self):
        with open(self.log_path, encoding="utf-8") as f:
            return f.read().splitlines()


class PassThrough(FaultTest):
    def test_without_a_control_file_the_module_only_passes_calls_through(self):
        self.ctl.removed(True).pin_tries(1)     # ignored: the variable is unset
        env = {k: v for k, v in self.env.items() if k != "KB_P11FAULT_CONTROL"}
        _, out = self.tool("-L", env=env, token=False)
        self.assertIn(f"token label        : {LABEL}", out)
        self.assertEqual(self.tool("-l", "--pin", WRONG, "-O", env=env, check=False)[0], 1)
        _, out = self.tool("-l", "--pin", PIN, "-O", env=env)
        self.assertNotIn("locked", out)

    def test_with_an_empty_control_file_objects_list_and_signatures_verify(self):
        _, out = self.tool("-l", "--pin", PIN, "-O")
        self.assertEqual(out.count("Certificate Object"), 3, out)
        self.assertEqual(out.count("Private Key Object"), 3, out)
        self.sign()

    def test_c_get_info_names_fault_injection_and_the_real_manufacturer(self):
        _, out = self.tool("-I", token=False)
        self.assertRegex(out, r"Manufacturer\s+SoftHSM")
        self.assertRegex(out, r"Library\s+keybridge fault injection")

    def test_the_function_list_is_complete(self):
        d = self.driver()
        self.assertEqual(d("functions"), ["CKR_OK", "68", "2.40"])
        self.assertEqual(d("info")[0], "CKR_OK")


class PinCounter(FaultTest):
    def test_wrong_pins_count_down_to_a_lock_that_only_init_pin_lifts(self):
        self.ctl.pin_tries(3).log(self.log_path)
        self.assertNotIn("count low", self.flags())

        rc, out = self.login(WRONG)
        self.assertIn("CKR_PIN_INCORRECT", out)
        flags = self.flags()
        self.assertIn("user PIN count low", flags)
        self.assertNotIn("final user PIN try", flags)

        self.login(WRONG)
        self.assertIn("final user PIN try", self.flags())

        rc, out = self.login(WRONG)
        self.assertIn("CKR_PIN_INCORRECT", out)
        flags = self.flags()
        self.assertIn("user PIN locked", flags)
        self.assertNotIn("count low", flags)
        self.assertNotIn("final user PIN try", flags)

        rc, out = self.login(PIN)       # even the right PIN
        self.assertNotEqual(rc, 0)
        self.assertIn("CKR_PIN_LOCKED", out)
        self.assertIn("C_Login CKR_PIN_LOCKED simulated", self.log_lines())

        _, out = self.tool("--login", "--login-type", "so", "--so-pin", SO_PIN,
                           "--init-pin", "--new-pin", PIN)
        self.assertIn("User PIN successfully initialized", out)
        flags = self.flags()
        self.assertNotIn("locked", flags)
        self.assertNotIn("count low", flags)
        self.assertEqual(self.login(PIN)[0], 0)

    def test_the_counter_outlives_the_process_like_a_card(self):
        self.ctl.pin_tries(3)
        self.login(WRONG)
        self.login(WRONG)               # two pkcs11-tool processes
        d = self.driver()               # a third program sees both
        slot = self.token_slot(d)
        self.assertEqual(d(f"tokenflags {slot}"), ["CKR_OK", "COUNT_LOW", "FINAL_TRY"])
        h = d(f"open {slot}")[1]
        self.assertEqual(d(f"login {h} {WRONG}"), ["CKR_PIN_INCORRECT"])
        self.assertEqual(d(f"tokenflags {slot}"), ["CKR_OK", "LOCKED"])
        self.assertEqual(d(f"login {h} {PIN}"), ["CKR_PIN_LOCKED"])
        self.assertIn("user PIN locked", self.flags())

    def test_a_right_pin_refills_the_counter(self):
        self.ctl.pin_tries(3)
        self.login(WRONG)
        self.login(WRONG)
        self.assertEqual(self.login(PIN)[0], 0)
        self.assertNotIn("count low", self.flags())
        self.login(WRONG)
        flags = self.flags()
        self.assertIn("count low", flags)
        self.assertNotIn("final", flags)

    def test_clear_forgets_the_counters(self):
        self.ctl.pin_tries(1)
        self.login(WRONG)
        self.assertIn("locked", self.flags())
        self.ctl.clear().pin_tries(1)
        self.assertNotIn("locked", self.flags())
        self.assertEqual(self.login(PIN)[0], 0)


class FailRules(FaultTest):
    def test_a_sign_failing_with_device_removed_is_reported_and_the_next_works(self):
        # pkcs11-tool retries a failed C_Sign as C_SignInit/Update/Final: a
        # pulled device fails both.
        self.ctl.fail("C_Sign", 1, "CKR_DEVICE_REMOVED").fail("C_SignFinal", 1, "CKR_DEVICE_REMOVED")
        rc, out = self.sign(check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("CKR_DEVICE_REMOVED", out)
        self.sign()
        self.sign()

    def test_a_failed_c_sign_ends_the_operation_in_the_real_module(self):
        self.ctl.fail("C_Sign", 1, "CKR_DEVICE_REMOVED").log(self.log_path)
        self.sign()     # pkcs11-tool's multi-part retry must not meet CKR_OPERATION_ACTIVE
        lines = self.log_lines()
        i = lines.index("C_Sign CKR_DEVICE_REMOVED simulated")
        self.assertEqual(lines[i + 1], "C_SignInit CKR_OK")
        self.assertIn("C_SignFinal CKR_OK", lines[i + 1:])

    def test_every_call_from_the_nth_on_fails_with_a_numeric_rv(self):
        self.ctl.fail("C_Sign", "1+", 0x30).fail("C_SignFinal", "1+", "0x30")
        for _ in range(2):
            rc, out = self.sign(check=False)
            self.assertNotEqual(rc, 0)
            self.assertIn("CKR_DEVICE_ERROR", out)
        self.ctl.clear()
        self.sign()

    def test_a_failure_after_the_size_query_leaves_the_session_usable(self):
        d = self.driver()
        slot = self.token_slot(d)
        h = d(f"open {slot}")[1]
        self.assertEqual(d(f"login {h} {PIN}"), ["CKR_OK"])
        self.ctl.fail("C_Sign", 2, "CKR_DEVICE_ERROR")     # 1st is the size query
        self.assertEqual(d(f"sign {h}"), ["CKR_DEVICE_ERROR"])
        self.assertEqual(d(f"sign {h}"), ["CKR_OK"])

    def test_any_function_can_be_named(self):
        self.ctl.fail("C_FindObjectsInit", 1, "CKR_DEVICE_MEMORY")
        rc, out = self.tool("-O", check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("CKR_DEVICE_MEMORY", out)
        self.tool("-O")
        self.ctl.fail("C_Initialize", 1, "CKR_GENERAL_ERROR")
        rc, out = self.tool("-L", token=False, check=False)
        self.assertIn("CKR_GENERAL_ERROR", out)

    def test_bad_control_lines_are_reported_and_ignored(self):
        self.ctl.write_raw("pin_tries = many\nfail = C_Nothing 1 CKR_OK\nfrobnicate = 1\n"
                           "fail = C_Sign 0 CKR_OK\nremoved = no\n")
        _, out = self.tool("-L", token=False)
        self.assertIn(f"token label        : {LABEL}", out)
        self.assertIn("unknown key", out)
        self.assertEqual(out.count("bad value"), 3, out)


class Removal(FaultTest):
    def test_a_removed_token_leaves_the_list_and_comes_back(self):
        self.ctl.removed(True)
        _, out = self.tool("-L", token=False)
        self.assertNotIn(LABEL, out)
        self.assertIn("(empty)", out)
        rc, out = self.tool("-O", check=False)
        self.assertNotEqual(rc, 0)
        self.ctl.removed(False)
        _, out = self.tool("-L", token=False)
        self.assertIn(f"token label        : {LABEL}", out)
        self.tool("-l", "--pin", PIN, "-O")

    def test_sessions_die_with_the_removal_and_stay_dead_after_it(self):
        d = self.driver()
        slot = self.token_slot(d)
        h = d(f"open {slot}")[1]
        self.assertEqual(d(f"login {h} {PIN}"), ["CKR_OK"])
        self.assertEqual(d(f"sign {h}"), ["CKR_OK"])

        self.ctl.removed(True)
        self.assertEqual(d(f"sign {h}"), ["CKR_DEVICE_REMOVED"])
        self.assertEqual(d(f"sessioninfo {h}")[0], "CKR_DEVICE_REMOVED")
        self.assertEqual(d("slots present"), ["CKR_OK"])
        self.assertIn(slot, d("slots all"))
        self.assertEqual(d(f"slotflags {slot}"), ["CKR_OK", "absent"])
        self.assertEqual(d(f"tokenflags {slot}"), ["CKR_TOKEN_NOT_PRESENT"])
        self.assertEqual(d(f"open {slot}")[0], "CKR_TOKEN_NOT_PRESENT")

        self.ctl.removed(False)
        self.assertEqual(d(f"sign {h}"), ["CKR_SESSION_HANDLE_INVALID"])
        self.assertEqual(d(f"close {h}"), ["CKR_SESSION_HANDLE_INVALID"])
        self.assertEqual(d(f"slotflags {slot}"), ["CKR_OK", "present"])
        h2 = d(f"open {slot}")[1]
        self.assertEqual(d(f"sessioninfo {h2}"), ["CKR_OK", "2"])    # CKS_RW_PUBLIC: logged out
        self.assertEqual(d(f"login {h2} {PIN}"), ["CKR_OK"])
        self.assertEqual(d(f"sign {h2}"), ["CKR_OK"])
        self.assertEqual(d(f"close {h2}"), ["CKR_OK"])
        self.assertEqual(d(f"sign {h2}"), ["CKR_SESSION_HANDLE_INVALID"])   # never reused
        self.assertEqual(d("sign 987654"), ["CKR_SESSION_HANDLE_INVALID"])

    def drain_events(self, d):
        while d("wait nb")[0] == "CKR_OK":
            pass

    def test_a_held_call_waits_inside_while_other_calls_go_through(self):
        data, held_sig = os.path.join(self.tmp, "held-data"), os.path.join(self.tmp, "held-sig")
        with open(data, "wb") as f:
            f.write(DATA)
        self.ctl.log(self.log_path)
        self.ctl.fail("C_Sign", 1, "HOLD")
        cmd, env = self.tool_command(["-l", "--pin", PIN, "--sign", "--id", "01", "-m", "SHA256-RSA-PKCS",
                                      "-i", data, "-o", held_sig])
        held = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and "C_Sign HOLD" not in self.calls():
                time.sleep(0.05)
            self.assertIn("C_Sign HOLD", self.calls())
            self.sign()                     # the second C_Sign goes through meanwhile
            self.assertIsNone(held.poll(), "the held call is still waiting")
            self.ctl.clear()
            out = held.communicate(timeout=30)[0]
        finally:
            if held.poll() is None:
                held.kill()
        self.assertEqual(held.returncode, 0, out)
        self.verify(data, held_sig)

    def calls(self):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path) as f:
            return f.read()

    def test_wait_for_slot_event_reports_each_change(self):
        d = self.driver()
        slot = self.token_slot(d)
        self.assertEqual(d("wait nb")[0], "CKR_NO_EVENT")
        for removed in (True, False):
            d.send("wait")
            time.sleep(0.3)
            start = time.monotonic()
            self.ctl.removed(removed)
            answer = d.answer()
            self.assertEqual(answer[0], "CKR_OK")
            self.assertLess(time.monotonic() - start, 1.0)
            events = [answer[1]]
            while (a := d("wait nb"))[0] == "CKR_OK":
                events.append(a[1])
            self.assertIn(slot, events)
            self.assertEqual(len(events), len(set(events)))     # once per slot and change

    def test_c_finalize_wakes_a_blocked_waiter(self):
        d = self.driver()
        self.drain_events(d)
        self.assertEqual(d("waitbg"), ["CKR_OK"])
        time.sleep(0.2)
        self.assertEqual(d("finalize"), ["CKR_OK"])
        self.assertEqual(d("join"), ["CKR_CRYPTOKI_NOT_INITIALIZED"])
        self.assertEqual(d("init"), ["CKR_OK"])     # and the module starts again


    def test_calls_racing_removals_see_only_removal_errors(self):
        d = self.driver()
        slot = self.token_slot(d)
        d.send(f"storm {slot} 8 1500")
        for i in range(10):
            time.sleep(0.1)
            self.ctl.removed(i % 2 == 0)
        answer = d.answer(timeout=30)
        self.assertEqual(answer[0], "CKR_OK")
        allowed = {"CKR_OK", "CKR_DEVICE_REMOVED", "CKR_SESSION_HANDLE_INVALID", "CKR_TOKEN_NOT_PRESENT",
                   "CKR_USER_ALREADY_LOGGED_IN", "CKR_USER_NOT_LOGGED_IN", "CKR_KEY_HANDLE_INVALID"}
        self.assertLessEqual(set(answer[1:]), allowed)
        self.assertIn("CKR_DEVICE_REMOVED", answer)
        h = d(f"open {slot}")[1]
        self.assertIn(d(f"login {h} {PIN}")[0], ("CKR_OK", "CKR_USER_ALREADY_LOGGED_IN"))
        self.assertEqual(d(f"sign {h}"), ["CKR_OK"])


class Log(FaultTest):
    def test_the_log_names_each_call_and_never_a_pin(self):
        self.ctl.pin_tries(3).log(self.log_path)
        self.login(WRONG)
        self.login(PIN)
        self.tool("--login", "--login-type", "so", "--so-pin", SO_PIN, "--init-pin", "--new-pin", PIN)
        self.tool("-l", "--pin", PIN, "--change-pin", "--new-pin", PIN)
        lines = self.log_lines()
        for expected in ("C_GetFunctionList CKR_OK", "C_Login CKR_PIN_INCORRECT", "C_Login CKR_OK",
                         "C_InitPIN CKR_OK", "C_SetPIN CKR_OK", "C_Finalize CKR_OK"):
            self.assertIn(expected, lines)
        for line in lines:
            self.assertRegex(line, r"^C_[A-Za-z]+ CKR_[A-Z0-9_x]+( simulated)?$")
        with open(self.log_path, "rb") as f:
            raw = f.read()
        for secret in (PIN, WRONG, SO_PIN):
            self.assertNotIn(secret.encode(), raw)


class Threads(FaultTest):
    def test_many_threads_share_the_module(self):
        # Every C_GetTokenInfo reads the PIN counter and counts toward a rule
        # in the state file: threads contend for both locks.
        self.ctl.pin_tries(3).log(self.log_path).fail("C_GetTokenInfo", 1000000, "CKR_DEVICE_ERROR")
        d = self.driver()
        slot = self.token_slot(d)
        h = d(f"open {slot}")[1]        # keeps the token logged in for the threads
        self.assertEqual(d(f"login {h} {PIN}"), ["CKR_OK"])
        self.assertEqual(d(f"threads {slot} 8 25", timeout=120), ["CKR_OK"])
        self.assertEqual(self.log_lines().count("C_Sign CKR_OK"), 8 * 25 * 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
