"""Drive kb-p11fault, the fault-injecting PKCS#11 module (tests/p11fault/).

    ctl = FaultControl(os.path.join(tmp, "control"))
    env = dict(os.environ, **ctl.environ())     # for pkcs11-tool, keybridged, ...
    ctl.pin_tries(3)                            # simulated retry counter
    ctl.fail("C_Sign", 2, "CKR_DEVICE_REMOVED") # the 2nd C_Sign from now fails
    ctl.removed(True)                           # the token is pulled
    ctl.log(os.path.join(tmp, "calls.log"))     # "C_Name CKR_..." per call
    ctl.clear()                                 # all back to normal

Every change rewrites the whole control file atomically (temporary file +
rename) with a fresh generation line and a strictly increasing mtime, so the
module, which compares identity, size and mtime_ns on every call, sees each
change at its next call. Fail rules count calls across all processes from
the moment the file is written.
"""
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


def module_path():
    """The built module: KB_P11FAULT_SO (set by meson test), else build/."""
    return os.environ.get("KB_P11FAULT_SO") or os.path.join(
        SRC, "build", "tests", "p11fault", "libkb-p11fault.so")


def _rv_text(rv):
    if rv in ("HANG", "HOLD"):
        return rv
    if isinstance(rv, int):
        return f"0x{rv:x}"
    if not str(rv).startswith("CKR_") and not str(rv).startswith("0x"):
        raise ValueError(f"not a CK_RV: {rv!r}")
    return str(rv)


class FaultControl:
    """The control file of kb-p11fault at `path` (its state file is path.state)."""

    def __init__(self, path, state_path=None):
        self.path = os.path.abspath(path)
        self.state_path = os.path.abspath(state_path or self.path + ".state")
        self._generation = 0
        self._last_ns = 0
        self._reset()
        self._write()

    def environ(self, module=None):
        """Environment entries that make the module obey this file."""
        env = {"KB_P11FAULT_CONTROL": self.path, "KB_P11FAULT_STATE": self.state_path}
        if module:
            env["KB_P11FAULT_MODULE"] = module
        return env

    def pin_tries(self, n):
        """Simulate a user-PIN retry counter of n tries (None: off)."""
        if n is not None and not (isinstance(n, int) and 0 < n <= 1000):
            raise ValueError(f"pin_tries must be 1..1000 or None, not {n!r}")
        self._pin_tries = n
        return self._write()

    def fail(self, function, nth, rv):
        """The nth call of function returns rv; nth is 2, "2+" (from the 2nd
        on) or "2-4"; rv a CKR_ name or a number, or "HANG": the call never
        returns (logged as "C_Name HANG"), for killing the caller there; "HOLD":
        the call waits until the control file is written again (logged as
        "C_Name HOLD"), then goes through."""
        if not function.startswith("C_"):
            raise ValueError(f"not a PKCS#11 function: {function!r}")
        self._rules.append(f"{function} {nth} {_rv_text(rv)}")
        return self._write()

    def removed(self, yes=True):
        """Pull (True) or re-insert (False) every token."""
        self._removed = bool(yes)
        return self._write()

    def log(self, path):
        """Append "C_Name CKR_..." per call to path (None: stop)."""
        self._log = os.path.abspath(path) if path else None
        return self._write()

    def clear(self):
        """No faults, token present, no log; PIN counters forgotten."""
        self._reset()
        try:
            os.unlink(self.state_path)
        except FileNotFoundError:
            pass
        return self._write()

    def text(self):
        lines = ["# kb-p11fault control, written by tests/integration/p11fault.py",
                 f"# generation {self._generation}"]
        if self._pin_tries is not None:
            lines.append(f"pin_tries = {self._pin_tries}")
        lines += [f"fail = {rule}" for rule in self._rules]
        lines.append(f"removed = {'yes' if self._removed else 'no'}")
        if self._log:
            lines.append(f"log = {self._log}")
        return "\n".join(lines) + "\n"

    def write_raw(self, text):
        """Replace the file with text as given (for malformed-input tests)."""
        self._replace(text)

    def _reset(self):
        self._pin_tries = None
        self._rules = []
        self._removed = False
        self._log = None

    def _write(self):
        self._generation += 1
        self._replace(self.text())
        return self

    def _replace(self, text):
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        # Strictly increasing mtime, even on a coarse clock or within one tick.
        ns = max(time.time_ns(), self._last_ns + 1_000_000)
        os.utime(tmp, ns=(ns, ns))
        self._last_ns = ns
        os.replace(tmp, self.path)
