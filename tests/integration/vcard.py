"""A virtual CAC card in a virtual reader, for tests of OpenSC's real PKCS#11
module without hardware (see docs: testing.md, "virtual CAC").

    ok, why = vcard.available()              # skip with `why` when not ok
    with vcard.VirtualCard(tmpdir) as vc:    # private pcscd, card inserted
        env = dict(os.environ, **vc.env)     # for OpenSC's clients
        run(["pkcs11-tool", "--module", vcard.OPENSC, "-L"], env=env)
        vc.remove()                          # card pulled (bridge killed)
        vc.insert()                          # card back (bridge restarted)

Pieces: tests/vcard/make-vcard.sh builds a SoftHSM2 token with two RSA key +
certificate pairs and an NSS database over it; a private pcscd runs vpcd's
driver on a free port pair (vpcd makes two readers, "kb-vcard 00 00" on port
P and "kb-vcard 00 01" on P+1); kb-vcard-bridge connects the libcacard card to
port P. pcscd is socket-activated (LISTEN_FDS) on DIR/pcscd.comm, so a system
pcscd keeps running untouched and clients find ours through
PCSCLITE_CSOCK_NAME. pcscd still writes and finally deletes the machine-wide
/run/pcscd/pcscd.pid: the previous content is put back afterwards.
"""
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
MAKE_VCARD = os.path.join(SRC, "tests", "vcard", "make-vcard.sh")
BRIDGE = os.environ.get("KB_VCARD_BRIDGE",
                        os.path.join(SRC, "build", "tests", "vcard", "kb-vcard-bridge"))
OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
PCSCD = shutil.which("pcscd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or "/usr/sbin/pcscd"
PID_FILE = "/run/pcscd/pcscd.pid"
READER = "kb-vcard 00 00"       # FRIENDLYNAME + pcscd's " 00 00"
PIN = "123456"


def available():
    """(True, "") when everything a VirtualCard needs is installed, else
    (False, reason) for unittest's skip."""
    need = [(BRIDGE, "kb-vcard-bridge not built (libcacard-dev missing?)"),
            (PCSCD, "pcscd not installed"),
            (VPCD_DRIVER, "vpcd not installed (vsmartcard-vpcd)"),
            (OPENSC, "OpenSC's PKCS#11 module not installed (opensc-pkcs11)")]
    for path, why in need:
        if not os.path.exists(path):
            return False, f"{why}: {path}"
    for tool in ("pkcs11-tool", "softhsm2-util", "certutil", "modutil", "openssl"):
        if not shutil.which(tool):
            return False, f"'{tool}' not found (run tests/deps.sh)"
    if not ctypes.util.find_library("pcsclite"):
        return False, "libpcsclite not installed"
    if os.geteuid() != 0 and not os.path.isdir(os.path.dirname(PID_FILE)):
        return False, f"pcscd needs root or an existing {os.path.dirname(PID_FILE)}"
    return True, ""


def _free_port_pair():
    """A port P with P and P+1 free on every address (vpcd binds 0.0.0.0)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("0.0.0.0", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free pair of TCP ports")


def _listening(port):
    """True when something listens on TCP port (from /proc, no connection:
    a probe connection would be taken by vpcd for a card)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


class VirtualCard:
    """A private pcscd with vpcd's reader and a libcacard CAC card in it.

    Attributes once started: env (PCSCLITE_CSOCK_NAME, OPENSC_CONF: put them
    in the environment of every OpenSC client: pkcs11-tool, keybridged), pin,
    reader, certs (list of dicts: key_id "01"/"03" on the backing token,
    card_id "0001"/"0002" as OpenSC shows them, cn, pem, der, path), dir.
    insert()/remove() return the seconds until pcscd saw the change.
    """

    pin = PIN
    reader = READER
    module = OPENSC

    def __init__(self, tmpdir=None, start=True, quickack=True):
        self._own_dir = tmpdir is None
        self.dir = tmpdir or tempfile.mkdtemp(prefix="kb-vcard-")
        os.makedirs(self.dir, exist_ok=True)
        self.quickack = quickack
        self.pcscd = None
        self.bridge = None
        self._pid_file_before = None
        self._made_run_dir = False
        self.socket_path = os.path.join(self.dir, "pcscd.comm")
        self.opensc_conf = os.path.join(self.dir, "opensc.conf")
        self.env = {"PCSCLITE_CSOCK_NAME": self.socket_path, "OPENSC_CONF": self.opensc_conf}
        try:
            self._make_card_data()
            if start:
                self.start()
        except BaseException:
            self.cleanup()
            raise

    # --- setup -----------------------------------------------------------------
    def _make_card_data(self):
        data = os.path.join(self.dir, "card")
        out = subprocess.run([MAKE_VCARD, data], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"make-vcard.sh failed:\n{out.stderr[-3000:]}")
        self.data = {}
        self.nicknames = []
        for line in out.stdout.splitlines():
            key, _, value = line.partition("=")
            if key == "CERT":
                self.nicknames.append(value)
            else:
                self.data[key] = value
        self.certs = []
        for n, key_id in enumerate(("01", "03")):
            path = os.path.join(data, "kb-vcard-certs", f"{key_id}.pem")
            with open(path) as f:
                pem = f.read()
            der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem.encode(),
                                 capture_output=True, check=True).stdout
            cn = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt",
                                 "multiline,utf8,-esc_msb"], input=pem.encode(),
                                capture_output=True, check=True).stdout.decode()
            cn = next(l.split("=", 1)[1].strip() for l in cn.splitlines()
                      if l.strip().startswith("commonName"))
            self.certs.append({"key_id": key_id, "card_id": f"{n + 1:04d}", "cn": cn,
                               "pem": pem, "der": der, "path": path})
        with open(self.opensc_conf, "w") as f:
            f.write("app default {\n    framework pkcs15 {\n        use_file_caching = no;\n"
                    "    }\n}\n")

    def start(self):
        """Starts pcscd and inserts the card."""
        self.port = _free_port_pair()
        with open(os.path.join(self.dir, "reader.conf"), "w") as f:
            f.write(f'FRIENDLYNAME "kb-vcard"\nDEVICENAME /dev/null:{self.port}\n'
                    f"LIBPATH {VPCD_DRIVER}\nCHANNELID {self.port}\n")
        self._start_pcscd()
        self.insert()
        return self

    def _start_pcscd(self):
        run_dir = os.path.dirname(PID_FILE)
        self._made_run_dir = not os.path.isdir(run_dir)
        try:
            with open(PID_FILE) as f:
                self._pid_file_before = f.read()
        except OSError:
            self._pid_file_before = None
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.socket_path)
        listener.listen(64)
        os.chmod(self.socket_path, 0o666)
        fd = listener.fileno()
        env = dict(os.environ)
        # A real USB reader stays with the system pcscd: this pcscd ignores
        # every reader whose name has a space (ours is "kb-vcard").
        env["PCSCLITE_FILTER_IGNORE_READER_NAMES"] = " "
        env.pop("LISTEN_FDNAMES", None)
        self.pcscd_log = open(os.path.join(self.dir, "pcscd.log"), "ab")
        try:
            # sd_listen_fds() wants the socket as fd 3 and LISTEN_PID = pcscd's pid.
            self.pcscd = subprocess.Popen(
                ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh", PCSCD,
                 "--foreground", "--config", os.path.join(self.dir, "reader.conf")],
                env=env, stdin=subprocess.DEVNULL, stdout=self.pcscd_log,
                stderr=subprocess.STDOUT, pass_fds=(3, fd), start_new_session=True,
                preexec_fn=lambda: os.dup2(fd, 3))
        finally:
            listener.close()
        deadline = time.monotonic() + 10
        while not _listening(self.port):
            if self.pcscd.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.pcscd.returncode}:\n{self.pcscd_log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("vpcd did not open its port:\n" + self.pcscd_log_text())
            time.sleep(0.01)

    def pcscd_log_text(self):
        with open(os.path.join(self.dir, "pcscd.log"), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    # --- the card --------------------------------------------------------------
    def insert(self, wait=True, timeout=10):
        """Starts the bridge (= card inserted); with wait, returns the seconds
        until pcscd reports the card present."""
        if self.bridge and self.bridge.poll() is None:
            raise RuntimeError("card already inserted")
        args = [BRIDGE, "--nssdb", self.data["NSSDB"], "--token", self.data["TOKEN"],
                "--port", str(self.port)]
        for nick in self.nicknames:
            args += ["--cert", nick]
        if not self.quickack:
            args.append("--no-quickack")
        env = dict(os.environ, SOFTHSM2_CONF=self.data["SOFTHSM2_CONF"])
        # NSS keeps allocations until exit; the bridge is killed anyway.
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        for k in self.env:
            env.pop(k, None)
        t0 = time.monotonic()
        log = open(os.path.join(self.dir, "bridge.log"), "ab")
        try:
            self.bridge = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        finally:
            log.close()
        if not wait:
            return None
        self.wait_state(True, timeout)
        return time.monotonic() - t0

    def remove(self, wait=True, timeout=10):
        """Kills the bridge (= card pulled); with wait, returns the seconds
        until pcscd reports the reader empty."""
        t0 = time.monotonic()
        self._kill_bridge()
        if not wait:
            return None
        self.wait_state(False, timeout)
        return time.monotonic() - t0

    def _kill_bridge(self):
        if not self.bridge:
            return
        if self.bridge.poll() is None:
            self.bridge.send_signal(signal.SIGTERM)
            try:
                self.bridge.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.bridge.kill()
                self.bridge.wait()
        rc = self.bridge.returncode
        self.bridge = None
        if rc not in (0, -signal.SIGTERM, -signal.SIGKILL):
            raise RuntimeError(f"kb-vcard-bridge exited with {rc}:\n{self.bridge_log_text()}")

    def bridge_log_text(self):
        try:
            with open(os.path.join(self.dir, "bridge.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_state(self, present, timeout=10):
        """Waits until pcscd reports the card present (or absent) in the
        reader. PC/SC runs in a child process: libpcsclite reads
        PCSCLITE_CSOCK_NAME once per process."""
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "wait",
                            "present" if present else "absent", str(timeout)],
                           env=dict(os.environ, **self.env), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"card not {'present' if present else 'absent'} after {timeout} s: "
                               f"{r.stdout}{r.stderr}\nbridge:\n{self.bridge_log_text()}\n"
                               f"pcscd:\n{self.pcscd_log_text()}")

    # --- teardown --------------------------------------------------------------
    def stop(self):
        """Removes the card and stops pcscd (no stray processes)."""
        errors = []
        try:
            self._kill_bridge()
        except RuntimeError as e:
            errors.append(str(e))
        if self.pcscd:
            if self.pcscd.poll() is None:
                self.pcscd.send_signal(signal.SIGTERM)
                try:
                    self.pcscd.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.pcscd.pid, signal.SIGKILL)
                    self.pcscd.wait()
            self.pcscd = None
            self.pcscd_log.close()
            self._restore_pid_file()
        if errors:
            raise RuntimeError("\n".join(errors))

    def _restore_pid_file(self):
        """pcscd deleted /run/pcscd/pcscd.pid on exit: give a system pcscd's
        file back; remove /run/pcscd again if we made it."""
        run_dir = os.path.dirname(PID_FILE)
        if self._pid_file_before is not None:
            try:
                pid = int(self._pid_file_before.strip("\0\n "))
                os.kill(pid, 0)
                with open(PID_FILE, "w") as f:
                    f.write(self._pid_file_before)
            except (ValueError, OSError):
                pass
        elif self._made_run_dir:
            try:
                os.rmdir(run_dir)
            except OSError:
                pass

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


# --- PC/SC state check, run as a child process ---------------------------------
class _ReaderState(ctypes.Structure):
    _fields_ = [("szReader", ctypes.c_char_p), ("pvUserData", ctypes.c_void_p),
                ("dwCurrentState", ctypes.c_ulong), ("dwEventState", ctypes.c_ulong),
                ("cbAtr", ctypes.c_ulong), ("rgbAtr", ctypes.c_ubyte * 33)]


def _wait_main(want_present, timeout):
    SCARD_STATE_PRESENT, SCARD_E_TIMEOUT = 0x20, 0x8010000A
    lib = ctypes.CDLL(ctypes.util.find_library("pcsclite"))
    ctx = ctypes.c_long()
    rv = lib.SCardEstablishContext(2, None, None, ctypes.byref(ctx))   # SCOPE_SYSTEM
    if rv:
        print(f"SCardEstablishContext: {rv & 0xffffffff:#x}")
        return 1
    st = _ReaderState(READER.encode(), None, 0, 0, 0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = int((deadline - time.monotonic()) * 1000)
            rv = lib.SCardGetStatusChange(ctx, max(left, 0), ctypes.byref(st), 1) & 0xffffffff
            if rv not in (0, SCARD_E_TIMEOUT):
                print(f"SCardGetStatusChange: {rv:#x}")
                return 1
            if rv == 0:
                present = bool(st.dwEventState & SCARD_STATE_PRESENT)
                if present == want_present:
                    return 0
                st.dwCurrentState = st.dwEventState & ~0x2     # minus CHANGED
            if time.monotonic() >= deadline:
                print(f"reader state {st.dwEventState:#x}")
                return 1
    finally:
        lib.SCardReleaseContext(ctx)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "wait":
    sys.exit(_wait_main(sys.argv[2] == "present", float(sys.argv[3])))
