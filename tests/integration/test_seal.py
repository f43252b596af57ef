#!/usr/bin/env python3
"""The electronic seal (电子印章): written with the PIN, read without it,
replaced atomically, its bytes checked against the media type; on a real
SoftHSM2 token behind the fault-injecting module, so that a full token, a
failing device and a pulled token can be shown to lose nothing.

After a failed C_DestroyObject of the old seal the write has already
committed (the new object was read back): the write succeeds, two objects
remain, reads pick the newer generation, and the next write removes the
leftover. That is what test_a_failed_destroy_* checks."""
import base64
import os
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from p11fault import FaultControl, module_path  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402

LABEL = "kb-seal"
OTHER = "https://other.example.cn"


def b64(data):
    return base64.b64encode(data).decode()


def png(width=2, height=2, shade=0):
    """A valid greyscale PNG made here: signature, IHDR, IDAT, IEND."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes([(shade + x + y) & 0xff for x in range(width)]) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# A 1x1 GIF89a, and a JPEG reduced to SOI, a JFIF APP0 segment and EOI.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"

SES_CONF = """asn1 = SEQUENCE:seal
[seal]
header = SEQUENCE:header
esID = IA5STRING:keybridge-test-seal-0001
property = SEQUENCE:property
[header]
id = IA5STRING:ES
version = INTEGER:4
vid = IA5STRING:keybridge
[property]
type = INTEGER:1
name = UTF8String:阳光采购测试有限公司合同专用章
"""


def ses_der(tmp):
    """GB/T 38540-shaped SES seal data: one DER SEQUENCE, made by openssl."""
    conf, out = os.path.join(tmp, "ses.cnf"), os.path.join(tmp, "ses.der")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(SES_CONF)
    subprocess.run(["openssl", "asn1parse", "-genconf", conf, "-out", out, "-noout"], check=True,
                   capture_output=True)
    with open(out, "rb") as f:
        return f.read()


class SealBase(unittest.TestCase):
    extra = []

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kb-seal-")
        cls.tokens = kbtest.TokenDir((LABEL,))
        cls.pin = Pinentry(cls.tmp)
        cls.ctl = FaultControl(os.path.join(cls.tmp, "control"))
        env = dict(cls.pin.env, **cls.ctl.environ(module=kbtest.SOFTHSM))
        cls.d = kbtest.Daemon(cls.tokens, tls=False, modules=[module_path()], env=env,
                              extra=["--pinentry", PINENTRY, "--pin-cooldown", "0", "--pin-idle-timeout", "60",
                                     "--dialogs-per-minute", "1000", "--allow-origin", OTHER] + cls.extra).start()
        st, _, body = cls.d.get("/v1/tokens")
        cls.token = body["tokens"][0]
        cls.certs = {c["subjectFields"]["CN"]: c for c in cls.token["certificates"]}
        cls.ses = ses_der(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def setUp(self):
        self.ctl.clear()
        self.pin.clear()
        self.pin.answer("pin 123456")

    def path(self):
        return f"/v1/tokens/{self.token['id']}/seal"

    def put(self, cn, image, media_type, origin=kbtest.ORIGIN, cert_id=None):
        body = {"certificate": cert_id or self.certs[cn]["id"], "mediaType": media_type,
                "image": image if isinstance(image, str) else b64(image)}
        return self.d.request("POST", self.path(), body=body, origin=origin)

    def get(self, cn, origin=kbtest.ORIGIN, cert_id=None):
        return self.d.get(f"{self.path()}?certificate={cert_id or self.certs[cn]['id']}", origin=origin)

    def assert_seal(self, cn, data, media_type, origin=kbtest.ORIGIN):
        st, _, body = self.get(cn, origin=origin)
        self.assertEqual(st, 200, body)
        self.assertEqual((base64.b64decode(body["image"]), body["mediaType"], body["certificate"]),
                         (data, media_type, self.certs[cn]["id"]))

    def assert_error(self, answer, status, code, field=None):
        st, _, body = answer
        self.assertEqual((st, body["error"]["code"]), (status, code), body)
        if field:
            self.assertEqual(body["error"].get("field"), field, body)

    def seal_objects(self, cn):
        """Seal objects of the certificate as pkcs11-tool lists them, straight
        from SoftHSM2 (not through the fault module, whose counts it would move).
        Public objects only, without a login, as any other program sees them."""
        out = subprocess.run(["pkcs11-tool", "--module", kbtest.SOFTHSM, "--token-label", LABEL, "-O"],
                             env=dict(os.environ, SOFTHSM2_CONF=self.tokens.conf),
                             capture_output=True, text=True, check=True).stdout
        want = f"keybridge-seal:{self.certs[cn]['fingerprintSha256']}"
        return sum(1 for line in out.splitlines() if line.strip().startswith("label:") and want in line)

    def wait_for(self, predicate, what, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}")


class Seal(SealBase):
    def test_a_png_seal_reads_back_equal_and_reading_asks_no_pin(self):
        image = png()
        st, _, body = self.put("张三", image, "image/png")
        self.assertEqual(st, 200, body)
        self.assertEqual((body["certificate"], body["mediaType"]), (self.certs["张三"]["id"], "image/png"))
        self.pin.clear()
        self.assert_seal("张三", image, "image/png")
        self.assert_seal("张三", image, "image/png", origin=OTHER)
        self.assertEqual(self.pin.dialogs(), [], "reading a seal shows no dialog")

    def test_writing_needs_the_pin(self):
        before = self.get("王五")
        self.pin.answer("cancel")
        self.assert_error(self.put("王五", png(shade=99), "image/png", origin=OTHER), 409, "PIN_CANCELLED")
        self.assertEqual(len(self.pin.dialogs()), 1)
        self.assertEqual(self.get("王五")[2], before[2], "nothing written")

    def test_gif_jpeg_and_ses_seal_data_round_trip(self):
        for data, media_type in ((GIF, "image/gif"), (JPEG, "image/jpeg"), (self.ses, "application/octet-stream")):
            st, _, body = self.put("李四", data, media_type)
            self.assertEqual(st, 200, (media_type, body))
            self.assert_seal("李四", data, media_type)
        self.assertEqual(self.seal_objects("李四"), 1)

    def test_a_second_write_replaces_and_one_object_remains(self):
        first, second = png(shade=1), png(3, 1, shade=2)
        self.assertEqual(self.put("张三", first, "image/png")[0], 200)
        self.assertEqual(self.put("张三", second, "image/png")[0], 200)
        self.assert_seal("张三", second, "image/png")
        self.assertEqual(self.seal_objects("张三"), 1)

    def test_a_seal_over_the_limit_is_payload_too_large(self):
        big = png()[:-12] + os.urandom(256 * 1024) + png()[-12:]
        self.assert_error(self.put("张三", big, "image/png"), 413, "PAYLOAD_TOO_LARGE", "image")
        self.assertEqual(self.pin.dialogs(), [], "refused before any dialog")

    def test_bytes_that_are_not_the_declared_type_are_refused(self):
        der_and_more = self.ses + b"\x00"
        not_der = os.urandom(64)
        for data, media_type in ((png(), "image/jpeg"), (png(), "image/gif"), (JPEG, "image/png"),
                                 (not_der, "application/octet-stream"), (der_and_more, "application/octet-stream"),
                                 (self.ses[:-1], "application/octet-stream"), (b"\x02\x01\x05", "application/octet-stream"),
                                 (png(), "image/bmp"), (png(), "text/html")):
            self.assert_error(self.put("张三", data, media_type), 400, "BAD_REQUEST", "mediaType")
        self.assertEqual(self.pin.dialogs(), [], "refused before any dialog")

    def test_an_image_that_is_not_base64_or_is_empty_is_refused(self):
        for image in ("not base64!", "", "iVBORw0KGgo", 42):
            body = {"certificate": self.certs["张三"]["id"], "mediaType": "image/png", "image": image}
            self.assert_error(self.d.request("POST", self.path(), body=body), 400, "BAD_REQUEST", "image")

    def test_an_unknown_certificate_is_not_found(self):
        self.assert_error(self.get(None, cert_id="0123456789abcdef"), 404, "NOT_FOUND", "certificate")
        self.assert_error(self.put(None, png(), "image/png", cert_id="0123456789abcdef"), 404, "NOT_FOUND",
                          "certificate")
        self.assert_error(self.d.get(self.path()), 400, "BAD_REQUEST", "certificate")

    def test_a_certificate_without_a_seal_is_not_found_without_a_dialog(self):
        self.assert_error(self.get("王五"), 404, "NOT_FOUND")
        self.assertEqual(self.pin.dialogs(), [])

    def test_a_full_token_keeps_the_old_seal(self):
        old = png(shade=7)
        self.assertEqual(self.put("张三", old, "image/png")[0], 200)
        self.ctl.fail("C_CreateObject", 1, "CKR_DEVICE_MEMORY")
        self.assert_error(self.put("张三", png(shade=8), "image/png"), 507, "TOKEN_FULL")
        self.assert_seal("张三", old, "image/png")
        self.assertEqual(self.seal_objects("张三"), 1)

    def test_a_read_only_token_keeps_the_old_seal(self):
        old = png(shade=9)
        self.assertEqual(self.put("张三", old, "image/png")[0], 200)
        self.ctl.fail("C_CreateObject", 1, "CKR_TOKEN_WRITE_PROTECTED")
        self.assert_error(self.put("张三", png(shade=10), "image/png"), 409, "TOKEN_READ_ONLY")
        self.assert_seal("张三", old, "image/png")
        self.assertEqual(self.seal_objects("张三"), 1)

    def test_a_failed_read_back_removes_the_new_object(self):
        old = png(shade=11)
        self.assertEqual(self.put("张三", old, "image/png")[0], 200)
        # Two C_GetAttributeValue calls read the old seal's generation; the
        # third is the read-back of the new object.
        self.ctl.fail("C_GetAttributeValue", 3, "CKR_DEVICE_ERROR")
        self.assert_error(self.put("张三", png(shade=12), "image/png"), 500, "INTERNAL")
        self.ctl.clear()
        self.assert_seal("张三", old, "image/png")
        self.assertEqual(self.seal_objects("张三"), 1)

    def test_a_failed_destroy_leaves_the_new_seal_readable_and_the_next_write_cleans_up(self):
        self.assertEqual(self.put("王五", png(shade=20), "image/png")[0], 200)
        second, third = png(shade=21), png(shade=22)
        self.ctl.fail("C_DestroyObject", 1, "CKR_DEVICE_ERROR")
        st, _, body = self.put("王五", second, "image/png")
        self.assertEqual(st, 200, "committed at the read-back; the old object is a leftover")
        self.assert_seal("王五", second, "image/png")
        self.assertEqual(self.seal_objects("王五"), 2)
        self.ctl.clear()
        self.assertEqual(self.put("王五", third, "image/png")[0], 200)
        self.assert_seal("王五", third, "image/png")
        self.assertEqual(self.seal_objects("王五"), 1)

    def test_a_token_pulled_during_the_write_keeps_the_old_seal(self):
        old = png(shade=30)
        self.assertEqual(self.put("李四", old, "image/png")[0], 200)
        self.ctl.fail("C_CreateObject", 1, "CKR_DEVICE_REMOVED")
        self.assert_error(self.put("李四", png(shade=31), "image/png"), 409, "TOKEN_NOT_PRESENT")
        self.ctl.clear()
        self.assert_seal("李四", old, "image/png")
        self.assertEqual(self.seal_objects("李四"), 1)

    def test_a_removed_token_is_not_present_and_loses_nothing(self):
        old = png(shade=40)
        self.assertEqual(self.put("李四", old, "image/png")[0], 200)
        self.ctl.removed(True)
        self.wait_for(lambda: self.d.get(f"/v1/tokens/{self.token['id']}")[0] == 409, "the token to go")
        self.assert_error(self.get("李四"), 409, "TOKEN_NOT_PRESENT")
        self.assert_error(self.put("李四", png(shade=41), "image/png"), 409, "TOKEN_NOT_PRESENT")
        self.ctl.removed(False)
        self.wait_for(lambda: self.d.get(f"/v1/tokens/{self.token['id']}")[0] == 200, "the token to return")
        self.assert_seal("李四", old, "image/png")
        self.assertEqual(self.seal_objects("李四"), 1)


class HiddenSeal(SealBase):
    """seal-hidden = yes: seals are stored CKA_PRIVATE; an origin reads them
    after its own PIN entry, never through another origin's login. And a
    configured size limit (max-seal-bytes)."""
    extra = ["--seal-hidden", "yes", "--max-seal-bytes", "4096"]

    def test_the_configured_limit_applies(self):
        image = png(64, 64)
        self.assertLessEqual(len(image), 4096)
        self.assertEqual(self.put("李四", image, "image/png")[0], 200)
        big = png()[:-12] + os.urandom(4097 - len(png())) + png()[-12:]
        self.assert_error(self.put("李四", big, "image/png"), 413, "PAYLOAD_TOO_LARGE", "image")
        self.assert_seal("李四", image, "image/png")

    def test_a_hidden_seal_is_read_after_the_pin_and_invisible_to_other_tools(self):
        image = png(shade=50)
        self.assertEqual(self.put("张三", image, "image/png")[0], 200)
        self.assertEqual(self.seal_objects("张三"), 0, "not listed without a login")
        self.pin.clear()
        self.assert_seal("张三", image, "image/png")
        self.assertEqual(self.pin.dialogs(), [], "the writer's authorization is reused")
        self.pin.answer("cancel")
        self.assert_error(self.get("张三", origin=OTHER), 409, "PIN_CANCELLED")
        self.assertEqual(len(self.pin.dialogs()), 1, "another origin is asked for the PIN")
        self.pin.answer("pin 123456")
        self.assert_seal("张三", image, "image/png", origin=OTHER)


if __name__ == "__main__":
    kbtest.run("__main__")
