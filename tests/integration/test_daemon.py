#!/usr/bin/env python3
"""The daemon as a process: options, start-up errors, systemd integration,
TLS material, signals."""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402


def run_daemon(args, env=None, timeout=10):
    d = kbtest.Daemon(tls=False)
    try:
        return subprocess.run([kbtest.DAEMON] + args, env=dict(d.env, **(env or {})),
                              capture_output=True, text=True, timeout=timeout)
    finally:
        d.cleanup()


class Options(unittest.TestCase):
    def test_help_lists_the_contract_options(self):
        r = run_daemon(["--help"])
        self.assertEqual(r.returncode, 0)
        for opt in ("--listen", "--module", "--skf-library", "--allow-origin", "--no-tls", "--state-dir",
                    "--runtime-dir", "--pinentry", "--expiry-warning-days", "--foreground"):
            self.assertIn(opt, r.stdout)

    def test_non_loopback_listen_address_is_refused(self):
        for addr in ("0.0.0.0:27182", "[::]:27182", "192.168.1.2:27182", "localhost:27182"):
            r = run_daemon(["--foreground", "--listen", addr])
            self.assertEqual(r.returncode, 2, addr)
            self.assertIn("loopback", r.stderr)

    def test_unknown_option_and_bad_values_are_refused(self):
        for args, needle in ((["--bogus"], "--bogus"), (["--expiry-warning-days", "x"], "expiry-warning-days"),
                             (["--allow-origin", "https://x.example/path"], "allow-origin"),
                             (["--allow-origin", "null"], "allow-origin"),
                             (["--state-dir", "relative"], "absolute"),
                             (["--config", "/nonexistent/keybridge.conf"], "/nonexistent/keybridge.conf")):
            r = run_daemon(args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(needle, r.stderr)

    def test_bad_config_file_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as t:
            conf = os.path.join(t, "keybridge.conf")
            with open(conf, "w") as f:
                f.write("# comment\ntls = false\nlisten = 10.0.0.1:1\n")
            r = run_daemon(["--foreground"], env={"KEYBRIDGE_SYSTEM_CONFIG": conf})
            self.assertEqual(r.returncode, 2)
            self.assertIn(f"{conf}:3:", r.stderr)
            with open(conf, "w") as f:
                f.write("no-such-key = 1\n")
            r = run_daemon(["--foreground"], env={"KEYBRIDGE_SYSTEM_CONFIG": conf})
            self.assertEqual(r.returncode, 2)
            self.assertIn("unknown option 'no-such-key'", r.stderr)

    def test_port_in_use_is_a_clear_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            d = kbtest.Daemon(tls=False, port=port)
            self.addCleanup(d.cleanup)
            for args in (d.args, [a for a in d.args if a != "--foreground"]):
                r = subprocess.run(args, env=d.env, capture_output=True, text=True, timeout=10)
                self.assertEqual(r.returncode, 1, args)
                self.assertIn(f"127.0.0.1:{port} is already in use", r.stderr)

    def test_config_files_user_file_and_flags_layer(self):
        with tempfile.TemporaryDirectory() as t:
            sysconf = os.path.join(t, "sys.conf")
            userconf = os.path.join(t, "user.conf")
            with open(sysconf, "w") as f:
                f.write("allow-origin = https://admin.example.cn\ntls = true\n")
            with open(userconf, "w") as f:
                f.write("allow_origin = \"https://user.example.cn\"\ntls = false\n")
            d = kbtest.Daemon(tls=False, env={"KEYBRIDGE_SYSTEM_CONFIG": sysconf},
                              extra=["--config", userconf])
            d.start()
            self.addCleanup(d.cleanup)
            for origin in ("https://admin.example.cn", "https://user.example.cn", kbtest.ORIGIN):
                st, _, _ = d.get("/v1/info", origin=origin)
                self.assertEqual(st, 200, origin)


class Lifecycle(unittest.TestCase):
    def test_sigterm_stops_cleanly_and_removes_the_api_token(self):
        d = kbtest.Daemon(tls=False).start()
        self.addCleanup(d.cleanup)
        token = os.path.join(d.runtime, "api-token")
        self.assertTrue(os.path.exists(token))
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertFalse(os.path.exists(token))

    def test_sighup_reloads_the_approved_origins(self):
        d = kbtest.Daemon(tls=False).start()
        self.addCleanup(d.cleanup)
        origin = "https://approved.example.cn"
        st, _, _ = d.get("/v1/info", origin=origin)
        self.assertEqual(st, 403)
        with open(os.path.join(d.state, "approved-origins"), "w") as f:
            f.write(origin + "\n")
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline:
            st, _, _ = d.get("/v1/info", origin=origin)
            if st == 200:
                break
            time.sleep(0.05)
        self.assertEqual(st, 200)

    def test_detaches_without_foreground_and_reports_readiness(self):
        d = kbtest.Daemon(tls=False)
        args = [a for a in d.args if a != "--foreground"]
        r = subprocess.run(args, env=d.env, capture_output=True, text=True, timeout=10)
        pids = subprocess.run(["pgrep", "-f", "--", " ".join(args[1:5])], capture_output=True, text=True).stdout.split()

        def kill_detached():
            for pid in pids:
                os.kill(int(pid), signal.SIGTERM)
            deadline = time.time() + 10
            while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in pids):
                time.sleep(0.05)
            d.cleanup()
        self.addCleanup(kill_detached)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(pids), 1, "exactly one detached daemon")
        st, _, body = d.get("/v1/info")
        self.assertEqual(st, 200)


class Systemd(unittest.TestCase):
    def test_units_pass_systemd_analyze_verify(self):
        units = os.path.join(os.path.dirname(os.path.dirname(kbtest.DAEMON)), "systemd")
        if not os.path.exists("/usr/bin/systemd-analyze") or not os.path.isdir(units):
            self.skipTest("systemd-analyze or built units not available")
        with tempfile.TemporaryDirectory() as t:
            for name in ("keybridge.socket", "keybridge.service"):
                with open(os.path.join(units, name)) as f:
                    text = f.read()
                # point ExecStart at the built binary: verify checks it exists
                text = re.sub(r"ExecStart=\S+", "ExecStart=" + kbtest.DAEMON, text)
                with open(os.path.join(t, name), "w") as f:
                    f.write(text)
            env = dict(os.environ, XDG_RUNTIME_DIR=t, SYSTEMD_LOG_LEVEL="warning")
            r = subprocess.run(["systemd-analyze", "verify", "--user", "--man=no",
                                os.path.join(t, "keybridge.socket"), os.path.join(t, "keybridge.service")],
                               capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("keybridge", r.stderr, r.stderr)

    def test_socket_activation_serves_the_passed_socket(self):
        port = kbtest.free_port()
        d = kbtest.Daemon(tls=False, port=port)
        self.addCleanup(d.cleanup)
        args = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}"] + d.args[:1] + [
            a for a in d.args[1:]] + ["--listen", "127.0.0.1:1"]  # --listen is ignored when activated
        d.args = args
        d.start(wait=False)
        time.sleep(0.2)  # the activator listens at once; the daemon starts on the first connection
        st, _, body = d.get("/v1/info")
        self.assertEqual(st, 200, d.log_text())
        self.assertIn("socket-activated", d.log_text())

    def test_notify_ready_and_stopping(self):
        with tempfile.TemporaryDirectory() as t:
            path = os.path.join(t, "notify")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            sock.settimeout(10)
            self.addCleanup(sock.close)
            d = kbtest.Daemon(tls=False, env={"NOTIFY_SOCKET": path})
            self.addCleanup(d.cleanup)
            d.start()
            self.assertIn(b"READY=1", sock.recv(4096))
            d.stop()
            self.assertIn(b"STOPPING=1", sock.recv(4096))


FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


class TlsRenewal(unittest.TestCase):
    def served_leaf_pem(self, d):
        with socket.create_connection(("127.0.0.1", d.port)) as raw:
            with ssl._create_unverified_context().wrap_socket(raw) as s:
                return ssl.DER_cert_to_PEM_cert(s.getpeercert(binary_form=True))

    def read(self, path):
        with open(path) as f:
            return f.read()

    def test_a_running_daemon_replaces_a_leaf_that_is_due(self):
        if not os.path.exists(FAKETIME):
            self.skipTest("libfaketime not installed")
        with tempfile.TemporaryDirectory() as t:
            clock = os.path.join(t, "clock")
            with open(clock, "w") as f:
                f.write("+0d\n")
            asan = os.environ.get("ASAN_OPTIONS", "")
            d = kbtest.Daemon(tls=True, modules=[], env={
                "LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": clock, "FAKETIME_NO_CACHE": "1",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
            d.start()
            self.addCleanup(d.cleanup)
            old_root = self.read(d.root_pem_path)
            leaf_path = os.path.join(d.state, "tls", "leaf.pem")
            self.assertEqual(ssl.PEM_cert_to_DER_cert(self.served_leaf_pem(d)),
                             ssl.PEM_cert_to_DER_cert(self.read(leaf_path)))
            with open(clock, "w") as f:
                f.write("+370d\n")  # the 397-day leaf is now inside the 30-day window
            d.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline and self.read(d.root_pem_path) == old_root:
                time.sleep(0.05)
            self.assertNotEqual(self.read(d.root_pem_path), old_root, "a new root was issued")
            served = None
            while time.time() < deadline:
                served = self.served_leaf_pem(d)
                if ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(self.read(leaf_path)):
                    break
                time.sleep(0.05)
            self.assertEqual(ssl.PEM_cert_to_DER_cert(served), ssl.PEM_cert_to_DER_cert(self.read(leaf_path)),
                             "the running server presents the new leaf")
            self.assertIn("issued a new local root", d.log_text())


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = kbtest.Daemon(tls=True, modules=[]).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_leaf_verifies_against_the_root_for_every_loopback_name(self):
        for host in ("localhost", "127.0.0.1"):
            ctx = ssl.create_default_context(cafile=self.d.root_pem_path)
            with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as s:
                    self.assertTrue(s.version() in ("TLSv1.2", "TLSv1.3"))

    def test_leaf_does_not_verify_for_another_name(self):
        ctx = ssl.create_default_context(cafile=self.d.root_pem_path)
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(raw, server_hostname="evil.example")

    def test_root_carries_the_name_constraints_and_pathlen_0(self):
        text = subprocess.run(["openssl", "x509", "-in", self.d.root_pem_path, "-noout", "-text"],
                              capture_output=True, text=True, check=True).stdout
        self.assertRegex(text, r"Basic Constraints: critical\s+CA:TRUE, pathlen:0")
        self.assertRegex(text, r"Name Constraints: critical")
        block = text.split("Permitted:")[1].splitlines()[1:]
        names = []
        for line in block:
            if not re.match(r"\s+(DNS|IP|email|URI|DirName):", line):
                break
            names.append(line.strip())
        names.sort()
        self.assertEqual(names, sorted(["DNS:localhost", "IP:127.0.0.1/255.255.255.255",
                                        "IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF"]))

    def test_no_private_key_of_the_root_exists_on_disk(self):
        root_pub = subprocess.run(["openssl", "x509", "-in", self.d.root_pem_path, "-noout", "-pubkey"],
                                  capture_output=True, text=True, check=True).stdout
        keys_seen = 0
        for base, _, files in os.walk(self.d.dir):
            for name in files:
                p = os.path.join(base, name)
                with open(p, "rb") as f:
                    if b"PRIVATE KEY" not in f.read():
                        continue
                keys_seen += 1
                pub = subprocess.run(["openssl", "pkey", "-in", p, "-pubout"], capture_output=True, text=True).stdout
                self.assertNotEqual(pub, root_pub, p)
        self.assertEqual(keys_seen, 1, "exactly one private key (the leaf's) on disk")

    def test_leaf_key_is_mode_0600(self):
        mode = os.stat(os.path.join(self.d.state, "tls", "leaf.key")).st_mode & 0o777
        self.assertEqual(mode, 0o600)

    def test_trust_status_runs_against_a_private_nss_database(self):
        with tempfile.TemporaryDirectory() as db:
            env = dict(self.d.env, KEYBRIDGE_NSSDB=db)
            base = [kbtest.DAEMON, "trust"]
            tail = ["--state-dir", self.d.state]
            r = subprocess.run(base + ["install"] + tail, env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("policies.json", r.stdout)
            r = subprocess.run(base + ["status"] + tail, env=env, capture_output=True, text=True)
            self.assertIn("matches the current root", r.stdout)
            r = subprocess.run(base + ["remove"] + tail, env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run(base + ["status"] + tail, env=env, capture_output=True, text=True)
            self.assertIn("not installed", r.stdout)


if __name__ == "__main__":
    kbtest.run("__main__")
