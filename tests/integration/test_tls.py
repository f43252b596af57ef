#!/usr/bin/env python3
"""TLS as the daemon terminates it (OpenSSL, daemon/transport/tls-front.c):
its configuration as an external scanner (sslscan) sees it, ALPN and session
resumption, handshakes that stall, 1,000 idle WSS connections, a WSS client
that vanishes, and the peer-uid check on the real client socket."""
import os
import select
import socket
import ssl
import subprocess
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import kbtest
from wsclient import WS

HANDSHAKE_DEADLINE_S = 5        # daemon/server/https.c HANDSHAKE_MS
MAX_HANDSHAKES = 64             # daemon/server/https.c


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid):
    """The descriptor count once the connections the start-up probe made are gone."""
    last = -1
    for _ in range(50):
        n = open_fds(pid)
        if n == last:
            return n
        last = n
        time.sleep(0.1)
    return last


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def wait_until(pred, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Scanner(unittest.TestCase):
    """sslscan, as an administrator's audit would run it."""

    @classmethod
    def setUpClass(cls):
        cls.d = kbtest.Daemon(tls=True, modules=[]).start()
        out = os.path.join(cls.d.dir, "scan.xml")
        subprocess.run(["sslscan", "--no-colour", f"--xml={out}", f"127.0.0.1:{cls.d.port}"],
                       capture_output=True, check=True, timeout=120)
        cls.scan = ET.parse(out).getroot().find("ssltest")

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_only_tls_1_2_and_1_3_are_enabled(self):
        enabled = {(p.get("type"), p.get("version")) for p in self.scan.iter("protocol") if p.get("enabled") == "1"}
        self.assertEqual(enabled, {("tls", "1.2"), ("tls", "1.3")})

    def test_every_suite_is_an_aead_with_forward_secrecy(self):
        ciphers = [(c.get("sslversion"), c.get("cipher")) for c in self.scan.iter("cipher")]
        self.assertTrue(ciphers, "the scanner found no suite at all")
        for version, name in ciphers:
            self.assertTrue("GCM" in name or "CHACHA20" in name, f"{version} {name} is not an AEAD suite")
            if version == "TLSv1.2":
                self.assertTrue(name.startswith("ECDHE-"), f"{name} has no ECDHE key exchange")
            self.assertNotIn("CBC", name)
            self.assertFalse(name.endswith("-SHA"), f"{name} is a SHA-1 MAC (CBC) suite")

    def test_no_finite_field_group(self):
        groups = [g.get("name") for g in self.scan.iter("group")]
        self.assertTrue(groups)
        self.assertFalse([g for g in groups if "ffdhe" in g.lower() or "dhe" == g.lower()], groups)

    def test_no_renegotiation_and_no_compression(self):
        reneg = self.scan.find("renegotiation")
        self.assertIsNotNone(reneg)
        self.assertEqual(reneg.get("supported"), "0")
        comp = self.scan.find("compression")
        self.assertTrue(comp is None or comp.get("supported") == "0")
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with ssl.create_default_context(cafile=self.d.root_pem_path).wrap_socket(
                    raw, server_hostname="127.0.0.1") as s:
                self.assertIsNone(s.compression())


class Protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = kbtest.Daemon(tls=True, modules=[]).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def ctx(self, alpn=None):
        c = ssl.create_default_context(cafile=self.d.root_pem_path)
        if alpn:
            c.set_alpn_protocols(alpn)
        return c

    def info(self, s):
        s.sendall(f"GET /v1/info HTTP/1.1\r\nHost: 127.0.0.1:{self.d.port}\r\nOrigin: {kbtest.ORIGIN}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk

    def test_alpn_selects_http_1_1(self):
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with self.ctx(["h2", "http/1.1"]).wrap_socket(raw, server_hostname="127.0.0.1") as s:
                self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
                self.assertTrue(self.info(s).startswith(b"HTTP/1.1 200"))

    def test_a_client_that_speaks_only_h2_is_refused(self):
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with self.assertRaises(ssl.SSLError) as e:
                self.ctx(["h2"]).wrap_socket(raw, server_hostname="127.0.0.1")
        self.assertIn("NO APPLICATION PROTOCOL", str(e.exception).upper().replace("_", " "))

    def test_tls_1_1_is_refused(self):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(self.d.root_pem_path)
        c.minimum_version = c.maximum_version = ssl.TLSVersion.TLSv1_1
        c.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
            with self.assertRaises(ssl.SSLError):
                c.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_a_second_connection_resumes_the_session(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c = self.ctx()
            c.minimum_version = c.maximum_version = version
            with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
                with c.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    self.info(s)        # TLS 1.3 tickets come after the handshake
                    session = s.session
                    self.assertFalse(s.session_reused)
            with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
                with c.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                    self.assertTrue(s.session_reused, version)
                    self.assertTrue(self.info(s).startswith(b"HTTP/1.1 200"))

    def test_an_answer_reaches_a_client_that_is_still_sending(self):
        """A request, then bytes that are not HTTP, still flowing while the daemon
        answers the request, refuses the rest and closes. The answer must get
        through: the relay passes on what the server said before it closed, and
        lingers instead of closing on unread input (a reset can make the
        client drop an answer it has not read yet)."""
        body = b'{"certificate": "' + b"0" * 64 + b'", "algorithm": "ECDSA-SHA256", "items": [{"data": "aGk="}]}'
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", self.d.port)) as raw:
                s = self.ctx().wrap_socket(raw, server_hostname="127.0.0.1")
                s.sendall((f"POST /v1/tokens/none/sign HTTP/1.1\r\nHost: 127.0.0.1:{self.d.port}\r\n"
                           f"Origin: {kbtest.ORIGIN}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
                got = self.send_while_reading(s, b"X" * 16384, 200)
                self.assertTrue(got.startswith(b"HTTP/1.1 404"), got[:60])

    @staticmethod
    def send_while_reading(s, chunk, count, timeout=10):
        """Send count chunks while reading what comes back, on one thread: an
        SSL object must not be read and written from two threads at once (the
        client's own OpenSSL then fails with "internal error"). All that was
        read, up to the peer's end."""
        s.setblocking(False)
        got, left, deadline = b"", count, time.time() + timeout
        while time.time() < deadline:
            r, w, _ = select.select([s], [s] if left else [], [], 0.5)
            if r or s.pending():
                try:
                    data = s.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    data = None
                except (OSError, ssl.SSLError):
                    return got
                if data == b"":
                    return got
                got += data or b""
            if w and left:
                try:
                    s.send(chunk)
                    left -= 1
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except OSError:
                    left = 0        # the daemon stopped reading: expected
        return got

    def test_a_body_larger_than_a_record_passes_whole(self):
        body = b'{"pad": "' + b"x" * 200_000 + b'"}'
        st, _, data = self.d.request("POST", "/v1/origins/approval", body=body,
                                     headers={"Content-Type": "application/json"})
        self.assertEqual(st, 200, data)     # read to its end and parsed: the relay kept every byte


class StalledHandshakes(unittest.TestCase):
    def setUp(self):
        self.d = kbtest.Daemon(tls=True, modules=[]).start()
        self.addCleanup(self.d.cleanup)

    def stalled(self, n, half_hello=False):
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.d.port))
            if half_hello:
                s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]))  # a ClientHello's start
            socks.append(s)
        return socks

    def closed_by_peer(self, s, timeout):
        s.settimeout(timeout)
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def test_a_stalled_handshake_is_closed_at_its_deadline(self):
        s = self.stalled(1, half_hello=True)[0]
        t0 = time.monotonic()
        self.assertTrue(self.closed_by_peer(s, HANDSHAKE_DEADLINE_S + 3))
        self.assertGreater(time.monotonic() - t0, HANDSHAKE_DEADLINE_S - 1.5)
        s.close()

    def test_stalled_handshakes_take_no_thread_and_do_not_lock_out_a_new_client(self):
        before = threads(self.d.proc.pid)
        socks = self.stalled(3 * MAX_HANDSHAKES, half_hello=True)
        self.addCleanup(lambda: [s.close() for s in socks])
        st, _, body = self.d.get("/v1/info")
        self.assertEqual(st, 200, body)
        self.assertEqual(threads(self.d.proc.pid), before)
        # Only the newest MAX_HANDSHAKES may still be waiting (one place went
        # to the request above); the older ones were pushed out.
        open_ = sum(1 for s in socks if not self.closed_by_peer(s, 0.05))
        self.assertLessEqual(open_, MAX_HANDSHAKES)
        self.assertTrue(wait_until(lambda: open_fds(self.d.proc.pid) < 40, HANDSHAKE_DEADLINE_S + 3))


class IdleWss(unittest.TestCase):
    """1,000 idle WSS connections: each holds one socket in the daemon and no
    thread, and all still answer."""
    N = 1000

    def test_1000_idle_wss_connections(self):
        d = kbtest.Daemon(tls=True, modules=[], extra=["--max-connections", "2048",
                                                       "--ws-ping-interval", "3600"]).start()
        self.addCleanup(d.cleanup)
        pid = d.proc.pid
        fds0, threads0 = settled_fds(pid), threads(pid)
        conns = []
        self.addCleanup(lambda: [w.close() for w in conns])
        for _ in range(self.N):
            conns.append(WS(d, timeout=30))
        self.assertLessEqual(open_fds(pid) - fds0, self.N + 4, "one socket per WSS connection")
        self.assertEqual(threads(pid), threads0)
        for w in conns[:: self.N // 20] + [conns[-1]]:
            self.assertIn("result", w.call("info"))
        w = WS(d)
        self.assertIn("result", w.call("tokens.list"))
        w.close()


class IdleTimeout(unittest.TestCase):
    def test_an_idle_https_connection_is_closed_and_freed_at_the_idle_timeout(self):
        d = kbtest.Daemon(tls=True, modules=[], extra=["--idle-timeout", "1"]).start()
        self.addCleanup(d.cleanup)
        pid = d.proc.pid
        base = settled_fds(pid)
        conn = d.connection()
        conn.request("GET", "/v1/info", headers={"Host": f"127.0.0.1:{d.port}", "Origin": kbtest.ORIGIN})
        self.assertEqual(conn.getresponse().read()[:1], b"{")
        self.assertEqual(open_fds(pid), base + 3, "a relayed connection: its socket and a socketpair")
        self.assertTrue(wait_until(lambda: open_fds(pid) == base, 4), f"{open_fds(pid)} fds, {base} before")
        conn.sock.settimeout(2)
        self.assertEqual(conn.sock.recv(1), b"", "the daemon closed it (close_notify, then EOF)")
        conn.close()


class VanishedClient(unittest.TestCase):
    def test_a_wss_client_that_vanishes_is_freed_at_once(self):
        d = kbtest.Daemon(tls=True, modules=[]).start()
        self.addCleanup(d.cleanup)
        pid = d.proc.pid
        base = settled_fds(pid)
        conns = [WS(d) for _ in range(20)]
        self.assertGreaterEqual(open_fds(pid), base + 20)
        for w in conns:
            w.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            w.sock.close()    # no close frame, no close_notify: a reset
        self.assertTrue(wait_until(lambda: open_fds(pid) <= base, 3), f"{open_fds(pid)} fds, {base} before")


@unittest.skipUnless(os.geteuid() == 0, "needs root to connect as another user")
class PeerUid(unittest.TestCase):
    def test_another_user_is_refused_before_the_handshake(self):
        d = kbtest.Daemon(tls=True, modules=[]).start()
        self.addCleanup(d.cleanup)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "curl", "-sk",
                            "-o", "/dev/null", "-w", "%{http_code}", f"https://127.0.0.1:{d.port}/v1/info"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "000", "no answer for another uid")
        self.assertTrue(wait_until(lambda: "refused a connection from uid 65534" in d.log_text(), 3),
                        d.log_text()[-2000:])
        st, _, _ = d.get("/v1/info")
        self.assertEqual(st, 200)


if __name__ == "__main__":
    kbtest.run(__name__)
