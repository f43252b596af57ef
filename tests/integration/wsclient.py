"""A raw RFC 6455 client for the tests: it can send what a conforming client
never would (unmasked frames, reserved opcodes, lying lengths), and reads
the daemon's frames without interpreting them for it."""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct

import kbtest

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__(f"handshake refused: {status} {body!r}")
        self.status, self.headers, self.body = status, headers, body


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None, form=None):
    """A client frame; length/form forge the length field."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    m = 0x80 if mask else 0
    if form is None:
        form = 0 if n < 126 else 126 if n <= 0xFFFF else 127
    if form == 0:
        head = bytes([b0, m | n])
    elif form == 126:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WS:
    def __init__(self, d, origin=kbtest.ORIGIN, host=None, headers=None, timeout=10, path="/v1/ws"):
        self.d = d
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # as browsers do
        if d.tls:
            ctx = ssl.create_default_context(cafile=d.root_pem_path)
            raw = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock = raw
        self.buf = b""
        self.next_id = 1
        key = base64.b64encode(os.urandom(16)).decode()
        h = {"Host": host or f"127.0.0.1:{d.port}", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        if origin is not None:
            h["Origin"] = origin
        h.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items() if v is not None)
        self.sock.sendall((req + "\r\n").encode())
        status, hdrs, body = self._read_response()
        if status != 101:
            self.sock.close()
            raise HandshakeRefused(status, hdrs, body)
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert hdrs.get("sec-websocket-accept") == want, hdrs
        self.headers = hdrs

    def _read_response(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        body = b""
        if status != 101:
            n = int(hdrs.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.buf += chunk
            body, self.buf = self.buf[:n], self.buf[n:]
            if hdrs.get("content-type", "").startswith("application/json") and body:
                body = json.loads(body)
        return status, hdrs, body

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def recv_frame(self):
        """(fin, opcode, payload) of the next server frame; server frames
        must not be masked and must use no RSV bits."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "a masked server frame"
        assert b0 & 0x70 == 0, "RSV bits in a server frame"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_close(self):
        """Skip to the close frame; returns (code or None, reason)."""
        while True:
            _, op, p = self.recv_frame()
            if op == CLOSE:
                code = struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None
                return code, p[2:].decode()

    def answer_close(self, code):
        """What a conforming client does on the daemon's close frame."""
        try:
            self.send(CLOSE, struct.pack(">H", code) if code else b"")
        except OSError:
            pass

    def closed_by_peer(self):
        """True when the daemon closed the TCP connection (EOF)."""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def recv_json(self, skip_pings=True):
        while True:
            fin, op, p = self.recv_frame()
            if op == PING and skip_pings:
                self.send(PONG, p)      # as a browser does
                continue
            assert op == TEXT and fin, (op, fin, p)
            return json.loads(p)

    def send_json(self, obj):
        self.send(TEXT, json.dumps(obj))

    def call(self, method, params=None, notifications=None):
        """One request; notifications received meanwhile go to the list."""
        rid = self.next_id
        self.next_id += 1
        req = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            req["params"] = params
        self.send_json(req)
        while True:
            msg = self.recv_json()
            if msg.get("id") == rid and "method" not in msg:
                return msg
            if notifications is not None:
                notifications.append(msg)

    def close(self, code=1000):
        try:
            self.send(CLOSE, struct.pack(">H", code))
            self.recv_close()
        except (OSError, EOFError, AssertionError):
            pass
        self.sock.close()
