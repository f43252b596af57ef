#!/usr/bin/env python3
"""Independent clients on /v1/ws, over TLS and plain: the `ws` package from
npm, and headless Chromium opening the WebSocket from a page. Both live in
tests/ws/ (package-lock.json pins them; tests/run-all.sh runs `npm ci`)."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

WS_DIR = os.path.join(kbtest.SRC, "tests", "ws")
NODE = shutil.which("node")
CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
HAVE_MODULES = os.path.isdir(os.path.join(WS_DIR, "node_modules", "ws"))
MAX_BODY = 65536


@unittest.skipUnless(NODE and HAVE_MODULES, "needs node and `npm ci` in tests/ws")
class Clients:
    tls = True

    @classmethod
    def setUpClass(cls):
        cls.tokens = kbtest.TokenDir(("kb-node",))
        cls.page_port, cls.foreign_port = kbtest.free_port(), kbtest.free_port()
        cls.d = kbtest.Daemon(cls.tokens, tls=cls.tls,
                              extra=["--allow-origin", f"http://127.0.0.1:{cls.page_port}",
                                     "--max-body-bytes", str(MAX_BODY)]).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def run_node(self, script):
        env = dict(os.environ,
                   KB_WS_URL=f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.d.port}/v1/ws",
                   KB_ORIGIN=kbtest.ORIGIN, KB_PORT=str(self.d.port), KB_MAX_BODY=str(MAX_BODY),
                   KB_PAGE_PORT=str(self.page_port), KB_FOREIGN_PORT=str(self.foreign_port),
                   KB_CHROMIUM=CHROMIUM)
        if self.tls:
            env["KB_CA"] = self.d.root_pem_path
        p = subprocess.run([NODE, os.path.join(WS_DIR, script)], env=env, capture_output=True,
                           text=True, timeout=120)
        sys.stderr.write(p.stdout)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("not ok", p.stdout)

    def test_the_ws_package_talks_json_rpc_and_is_refused_by_the_gate(self):
        self.run_node("ws-client.mjs")

    @unittest.skipUnless(os.path.exists(CHROMIUM), "needs chromium")
    def test_headless_chromium_opens_it_from_an_allowed_page_only(self):
        self.run_node("chromium.mjs")


class ClientsTLS(Clients, unittest.TestCase):
    tls = True


class ClientsPlain(Clients, unittest.TestCase):
    tls = False


if __name__ == "__main__":
    kbtest.run(__name__)
