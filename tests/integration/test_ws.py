#!/usr/bin/env python3
"""The WebSocket /v1/ws over TLS and plain: the gate at the upgrade, the
handshake, every RFC 6455 frame case (malformed ones closed with the right
status), keep-alive, and JSON-RPC 2.0 through the method table."""
import json
import os
import signal
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
import wsclient  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402
from wsclient import BINARY, CLOSE, CONT, PING, PONG, TEXT, WS  # noqa: E402

MAX_BODY = 128 * 1024


class WsBase:
    tls = True

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-ws-")
        cls.tokens = kbtest.TokenDir(("kb-ws",), ec_signing=True)
        cls.pin = Pinentry(cls.tmp)
        cls.d = kbtest.Daemon(cls.tokens, tls=cls.tls, env=cls.pin.env,
                              extra=["--max-body-bytes", str(MAX_BODY), "--ws-ping-interval", "1",
                                     "--pinentry", PINENTRY]).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def ws(self, **kw):
        w = WS(self.d, **kw)
        self.addCleanup(w.sock.close)
        return w

    def refused(self, **kw):
        with self.assertRaises(wsclient.HandshakeRefused) as cm:
            WS(self.d, **kw)
        return cm.exception

    def assertClosedWith(self, w, code):
        got, _ = w.recv_close()
        self.assertEqual(got, code)
        w.answer_close(got)
        self.assertTrue(w.closed_by_peer())


class Handshake(WsBase):
    def test_upgrades_with_the_accept_key_and_no_store(self):
        w = self.ws()
        self.assertEqual(w.headers["upgrade"].lower(), "websocket")
        self.assertEqual(w.headers["cache-control"], "no-store")
        self.assertNotIn("sec-websocket-extensions", w.headers)

    def test_a_foreign_origin_gets_403_and_no_upgrade(self):
        e = self.refused(origin="https://evil.example")
        self.assertEqual(e.status, 403)
        self.assertEqual(e.body["error"]["code"], "ORIGIN_NOT_ALLOWED")
        self.assertNotIn("access-control-allow-origin", e.headers)

    def test_origin_null_is_refused(self):
        self.assertEqual(self.refused(origin="null").status, 403)

    def test_a_rebinding_host_gets_403(self):
        e = self.refused(host=f"evil.example:{self.d.port}")
        self.assertEqual(e.status, 403)
        self.assertEqual(e.body["error"]["code"], "HOST_REJECTED")

    def test_a_local_tool_needs_the_bearer_token(self):
        self.assertEqual(self.refused(origin=None).status, 401)
        w = self.ws(origin=None, headers={"Authorization": f"Bearer {self.d.api_token}"})
        self.assertIn("result", w.call("info"))

    def test_another_version_gets_426_naming_13(self):
        e = self.refused(headers={"Sec-WebSocket-Version": "8"})
        self.assertEqual(e.status, 426)
        self.assertEqual(e.headers["sec-websocket-version"], "13")

    def test_a_missing_or_bad_key_is_a_bad_request(self):
        for key in (None, "short", "!!!!!!!!!!!!!!!!!!!!!!=="):
            e = self.refused(headers={"Sec-WebSocket-Key": key})
            self.assertEqual(e.status, 400)
            self.assertEqual(e.body["error"]["field"], "Sec-WebSocket-Key")

    def test_a_plain_get_without_upgrade_is_a_bad_request(self):
        st, _, body = self.d.get("/v1/ws")
        self.assertEqual(st, 400)
        self.assertEqual(body["error"]["field"], "Upgrade")

    def test_post_is_not_allowed(self):
        st, h, _ = self.d.request("POST", "/v1/ws", body={})
        self.assertEqual(st, 405)
        self.assertEqual(h["allow"], "GET, OPTIONS")

    def test_connection_header_lists_are_understood(self):
        w = self.ws(headers={"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket"})
        self.assertIn("result", w.call("info"))

    def test_bytes_sent_right_behind_the_request_are_read(self):
        w = WS.__new__(WS)
        # The harness sends the request; send a frame in the same write by
        # connecting by hand.
        import base64
        import socket
        import ssl
        raw = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        if self.d.tls:
            raw = ssl.create_default_context(cafile=self.d.root_pem_path).wrap_socket(raw, server_hostname="127.0.0.1")
        self.addCleanup(raw.close)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{self.d.port}\r\nOrigin: {kbtest.ORIGIN}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        raw.sendall(req + wsclient.frame(TEXT, '{"jsonrpc":"2.0","method":"info","id":9}'))
        w.sock, w.buf = raw, b""
        status, _, _ = w._read_response()
        self.assertEqual(status, 101)
        self.assertEqual(w.recv_json()["id"], 9)


class Frames(WsBase):
    def test_ping_is_answered_with_the_same_payload(self):
        w = self.ws()
        w.send(PING, b"\x00keep\xff")
        self.assertEqual(w.recv_frame(), (True, PONG, b"\x00keep\xff"))

    def test_an_unmasked_frame_closes_with_1002(self):
        w = self.ws()
        w.send(TEXT, "{}", mask=False)
        self.assertClosedWith(w, 1002)

    def test_a_reserved_opcode_closes_with_1002(self):
        for op in (0x3, 0x7, 0xB, 0xF):
            w = self.ws()
            w.send(op, b"x")
            self.assertClosedWith(w, 1002)

    def test_rsv_bits_close_with_1002(self):
        w = self.ws()
        w.send(TEXT, "{}", rsv=4)
        self.assertClosedWith(w, 1002)

    def test_an_oversize_length_closes_with_1009_before_any_payload(self):
        w = self.ws()
        w.send_raw(wsclient.frame(BINARY, b"", length=1 << 40)[:14])
        self.assertClosedWith(w, 1009)

    def test_a_message_over_the_limit_in_fragments_closes_with_1009(self):
        w = self.ws()
        chunk = "x" * (MAX_BODY // 2)
        w.send(TEXT, chunk, fin=False)
        w.send(CONT, chunk, fin=False)
        w.send(CONT, "xx", fin=True)
        self.assertClosedWith(w, 1009)

    def test_invalid_utf8_closes_with_1007(self):
        for payload in (b'{"a":"\xc0\x80"}', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"'):
            w = self.ws()
            w.send(TEXT, payload)
            self.assertClosedWith(w, 1007)

    def test_utf8_split_between_fragments_is_fine(self):
        w = self.ws()
        body = '{"jsonrpc":"2.0","method":"info","id":"张三"}'.encode()
        cut = body.index("张".encode()) + 1
        w.send(TEXT, body[:cut], fin=False)
        w.send(CONT, body[cut:])
        self.assertEqual(w.recv_json()["id"], "张三")

    def test_a_fragmented_control_frame_closes_with_1002(self):
        w = self.ws()
        w.send(PING, b"x", fin=False)
        self.assertClosedWith(w, 1002)

    def test_a_long_control_frame_closes_with_1002(self):
        w = self.ws()
        w.send(PING, b"x" * 126)
        self.assertClosedWith(w, 1002)

    def test_a_continuation_of_nothing_closes_with_1002(self):
        w = self.ws()
        w.send(CONT, b"x")
        self.assertClosedWith(w, 1002)

    def test_a_new_message_inside_a_fragmented_one_closes_with_1002(self):
        w = self.ws()
        w.send(TEXT, b"{", fin=False)
        w.send(TEXT, b"}")
        self.assertClosedWith(w, 1002)

    def test_a_non_minimal_length_closes_with_1002(self):
        w = self.ws()
        w.send(TEXT, b"{}", form=126)
        self.assertClosedWith(w, 1002)

    def test_a_binary_message_closes_with_1003(self):
        w = self.ws()
        w.send(BINARY, b"\x01\x02")
        self.assertClosedWith(w, 1003)

    def test_fragments_with_pings_between_them_make_one_call(self):
        w = self.ws()
        body = json.dumps({"jsonrpc": "2.0", "method": "info", "id": 5})
        w.send(TEXT, body[:10], fin=False)
        w.send(PING, b"a")
        w.send(CONT, body[10:20], fin=False)
        w.send(PING, b"b")
        w.send(CONT, body[20:])
        self.assertEqual(w.recv_frame(), (True, PONG, b"a"))
        self.assertEqual(w.recv_frame(), (True, PONG, b"b"))
        self.assertEqual(w.recv_json()["id"], 5)

    def test_sixteen_and_sixty_four_bit_lengths_are_read_and_written(self):
        w = self.ws()
        for pad in (200, 70000):
            w.send_json({"jsonrpc": "2.0", "method": "token.get", "params": {"token": "x" * pad}, "id": pad})
            resp = w.recv_json()
            self.assertEqual(resp["id"], pad)
        # The token list is over 125 bytes: a 16-bit length from the daemon.
        w.send_json({"jsonrpc": "2.0", "method": "tokens.list", "id": 1})
        self.assertGreater(len(json.dumps(w.recv_json())), 125)

    def test_a_byte_at_a_time_is_fine(self):
        w = self.ws()
        for b in wsclient.frame(TEXT, '{"jsonrpc":"2.0","method":"info","id":1}'):
            w.send_raw(bytes([b]))
        self.assertEqual(w.recv_json()["result"]["product"], "keybridge")

    def test_the_close_handshake_echoes_the_code_and_ends_the_connection(self):
        w = self.ws()
        w.send(CLOSE, struct.pack(">H", 1000) + "再见".encode())
        self.assertEqual(w.recv_close(), (1000, ""))
        if not self.tls:       # plain: the daemon closes first (TLS: see docs/architecture.md)
            self.assertTrue(w.closed_by_peer())

    def test_an_empty_close_is_answered_with_an_empty_close(self):
        w = self.ws()
        w.send(CLOSE, b"")
        self.assertEqual(w.recv_close(), (None, ""))

    def test_a_close_with_a_reserved_code_closes_with_1002(self):
        for code in (1005, 1006, 999, 2000):
            w = self.ws()
            w.send(CLOSE, struct.pack(">H", code))
            self.assertClosedWith(w, 1002)

    def test_a_close_with_a_one_byte_payload_closes_with_1002(self):
        w = self.ws()
        w.send(CLOSE, b"\x03")
        self.assertClosedWith(w, 1002)

    def test_a_silent_peer_is_pinged_and_one_that_answers_stays(self):
        w = self.ws()
        w.sock.settimeout(5)
        pings = 0
        end = time.time() + 3.5    # past twice the ping interval
        while time.time() < end:
            _, op, payload = w.recv_frame()
            self.assertEqual(op, PING)
            pings += 1
            w.send(PONG, payload)
        self.assertGreaterEqual(pings, 2)
        self.assertEqual(w.call("info")["result"]["product"], "keybridge")

    def test_after_a_stall_a_silent_peer_is_pinged_before_it_is_given_up(self):
        # A suspended laptop, or a stalled daemon: when it runs again, far
        # past twice the interval, a peer still gets a ping and time to answer.
        w = self.ws()
        w.sock.settimeout(5)
        self.d.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(3)
        finally:
            self.d.proc.send_signal(signal.SIGCONT)
        _, op, payload = w.recv_frame()
        self.assertEqual(op, PING)
        w.send(PONG, payload)
        self.assertEqual(w.call("info")["result"]["product"], "keybridge")

    def test_a_peer_that_never_answers_is_closed_with_1001(self):
        w = self.ws()
        w.sock.settimeout(8)
        start = time.time()
        self.assertClosedWith(w, 1001)
        self.assertLess(time.time() - start, 6)


class JsonRpc(WsBase):
    def call(self, w, method, params=None):
        return w.call(method, params)

    def test_tokens_list_is_the_rest_result(self):
        w = self.ws()
        st, _, rest = self.d.get("/v1/tokens")
        self.assertEqual(w.call("tokens.list")["result"], rest)
        tok = rest["tokens"][0]
        st, _, rest_one = self.d.get(f"/v1/tokens/{tok['id']}")
        self.assertEqual(w.call("token.get", {"token": tok["id"]})["result"], rest_one)
        cert = tok["certificates"][0]["id"]
        st, _, rest_cert = self.d.get(f"/v1/tokens/{tok['id']}/certificates/{cert}")
        self.assertEqual(w.call("certificate.get", {"token": tok["id"], "certificate": cert})["result"], rest_cert)

    def test_a_parse_error_has_code_32700_and_id_null(self):
        w = self.ws()
        w.send(TEXT, '{"jsonrpc":"2.0",')
        r = w.recv_json()
        self.assertEqual(r["error"]["code"], -32700)
        self.assertEqual(r["error"]["data"]["code"], "BAD_REQUEST")
        self.assertIsNone(r["id"])

    def test_an_invalid_request_has_code_32600(self):
        w = self.ws()
        for bad in ({"method": "info", "id": 1}, {"jsonrpc": "2.0", "id": 1}, 5,
                    {"jsonrpc": "2.0", "method": "info", "id": [1]}):
            w.send_json(bad)
            r = w.recv_json()
            self.assertEqual(r["error"]["code"], -32600, bad)

    def test_an_unknown_method_has_code_32601(self):
        w = self.ws()
        r = w.call("tokens.delete")
        self.assertEqual(r["error"]["code"], -32601)
        self.assertEqual(r["error"]["data"]["code"], "NOT_FOUND")
        self.assertEqual(r["error"]["data"]["field"], "method")

    def test_positional_params_have_code_32602(self):
        r = self.ws().call("token.get", ["abc"])
        self.assertEqual(r["error"]["code"], -32602)
        self.assertEqual(r["error"]["data"]["field"], "params")

    def test_a_missing_param_is_invalid_params_naming_the_field(self):
        r = self.ws().call("token.get", {})
        self.assertEqual(r["error"]["code"], -32602)
        self.assertEqual(r["error"]["data"], {"code": "BAD_REQUEST", "message": "The request is malformed.",
                                              "field": "token"})

    def test_api_errors_have_the_rest_error_in_data(self):
        w = self.ws()
        r = w.call("token.get", {"token": "0123456789abcdef"})
        st, _, rest = self.d.get("/v1/tokens/0123456789abcdef")
        self.assertEqual(r["error"]["code"], -32000)
        self.assertEqual(r["error"]["data"], rest["error"])

    def test_messages_are_chinese_when_the_upgrade_asked_for_it(self):
        w = self.ws(headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        r = w.call("token.get", {"token": "0123456789abcdef"})
        self.assertEqual(r["error"]["message"], "未找到。")

    def test_a_notification_gets_no_answer(self):
        w = self.ws()
        w.send_json({"jsonrpc": "2.0", "method": "info"})
        w.send_json({"jsonrpc": "2.0", "method": "nope"})
        self.assertEqual(w.call("info")["id"], 1)

    def test_a_batch_is_answered_in_one_array(self):
        w = self.ws()
        w.send_json([{"jsonrpc": "2.0", "method": "tokens.list", "id": "a"},
                     {"jsonrpc": "2.0", "method": "info"},
                     1,
                     {"jsonrpc": "2.0", "method": "nope", "id": "c"}])
        r = w.recv_json()
        self.assertIsInstance(r, list)
        by_id = {x["id"]: x for x in r}
        self.assertEqual(len(r), 3)
        self.assertIn("result", by_id["a"])
        self.assertEqual(by_id[None]["error"]["code"], -32600)
        self.assertEqual(by_id["c"]["error"]["code"], -32601)

    def test_a_batch_of_notifications_gets_no_answer(self):
        w = self.ws()
        w.send_json([{"jsonrpc": "2.0", "method": "info"}, {"jsonrpc": "2.0", "method": "tokens.list"}])
        self.assertEqual(w.call("info")["id"], 1)

    def test_an_empty_batch_is_one_invalid_request(self):
        w = self.ws()
        w.send_json([])
        self.assertEqual(w.recv_json()["error"]["code"], -32600)

    def test_subscribing_names_known_events_only(self):
        w = self.ws()
        r = w.call("events.subscribe", {"events": ["token.removed"]})
        self.assertEqual(r["result"], {"events": ["token.removed"]})
        r = w.call("events.subscribe", {"events": ["token.exploded"]})
        self.assertEqual(r["error"]["data"]["field"], "events")
        r = w.call("events.subscribe")
        self.assertEqual(len(r["result"]["events"]), 3)
        r = w.call("events.unsubscribe", {"events": ["token.changed"]})
        self.assertEqual(r["result"], {"events": ["token.inserted", "token.removed"]})

    def sign_params(self, items):
        st, _, body = self.d.get("/v1/tokens")
        tok = body["tokens"][0]
        cert = next(c for c in tok["certificates"] if c["subjectFields"]["CN"] == "张三")
        return {"token": tok["id"], "certificate": cert["id"], "algorithm": "RSA-PKCS1-SHA256",
                "items": [{"data": "aGVsbG8="} for _ in range(items)]}

    def test_sign_runs_on_a_job_and_reports_batch_progress(self):
        self.pin.answer("pin 123456")
        w = self.ws()
        notes = []
        r = w.call("sign", self.sign_params(4), notes)
        self.assertEqual(len(r["result"]["signatures"]), 4, r)
        prog = [n["params"] for n in notes if n["method"] == "operation.progress"]
        self.assertEqual([p["percent"] for p in prog], [25, 50, 75, 100])
        self.assertTrue(all(p["requestId"] == r["id"] and p["stage"] == "sign" for p in prog))

    def test_a_job_error_has_the_rest_error_in_data(self):
        self.pin.answer("cancel")
        w = self.ws(origin=None, headers={"Authorization": f"Bearer {self.d.api_token}"})
        r = w.call("sign", self.sign_params(1))
        if "result" in r:      # still authorized from another test: nothing to cancel
            return
        self.assertEqual(r["error"]["code"], -32000)
        self.assertEqual(r["error"]["data"]["code"], "PIN_CANCELLED")


class HandshakeTLS(Handshake, unittest.TestCase):
    tls = True


class HandshakePlain(Handshake, unittest.TestCase):
    tls = False


class FramesTLS(Frames, unittest.TestCase):
    tls = True


class FramesPlain(Frames, unittest.TestCase):
    tls = False


class JsonRpcTLS(JsonRpc, unittest.TestCase):
    tls = True


class JsonRpcPlain(JsonRpc, unittest.TestCase):
    tls = False


if __name__ == "__main__":
    kbtest.run(__name__)
