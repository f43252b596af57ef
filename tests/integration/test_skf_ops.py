#!/usr/bin/env python3
"""Operations on an SM2 token of the SKF backend, through the real daemon
and the project's software SKF token: SM2-SM3 signatures (raw and GM/T 0010
SignedData) and authenticate, each checked with the openssl CLI and the
GM/T distinguishing ID; PIN change, a user PIN that locks and is unblocked
with the administrator's PIN to the CA's initial PIN with mustChange set,
and an administrator PIN that locks; the electronic seal as an SKF file,
replaced atomically."""
import base64
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
import kbtest  # noqa: E402
from skf import SAR_NAME, ULONG, USER, Skf, SkfError, child_env, make_device, reexec_with_preload, set_present  # noqa: E402
from skftest import (SM2CA, der_children, der_tlv, oid_text, provision, skf_daemon, skf_dirs,  # noqa: E402
                     sm2_verifies, wait_token, cert_pubkey_pem)
from test_seal import GIF, png  # noqa: E402
from test_sign import PINENTRY, Pinentry  # noqa: E402

LIB = os.environ.get("KB_SKFSOFT_SO")
PAGE_PIN = "https://pagepin.example.cn"
PIN = "11223344"
# a vendor's own SAR code for a wrong PIN, and the SGD_SM2_1 some vendors use
PROFILE = "libkb-skfsoft.so error=0x0A00F001:PIN_INCORRECT sm2-sign-alg=0x00020200"
VENDOR_SM2_1 = 0x00020200
OID_GMT_DATA, OID_GMT_SIGNED = "1.2.156.10197.6.1.4.2.1", "1.2.156.10197.6.1.4.2.2"
OID_SM3, OID_SM2_1 = "1.2.156.10197.1.401", "1.2.156.10197.1.301.1"


def b64(b):
    return base64.b64encode(b).decode()


class Fixture:
    """The tokens and the daemon, made once for the module: the SKF library
    loaded in this process reads its directory once."""

    def start(cls):
        cls.tmp, cls.root, cls.control = skf_dirs("kb-skf-ops-")
        cls.skf = Skf(LIB)
        cls.ca = SM2CA(cls.tmp)
        make_device(cls.root, "gmkey", "GM2026110001", "SM2 test key")
        cls.sign_der, cls.enc_der = provision(cls.skf, cls.ca, "gmkey")
        # a token whose certificate was issued for another key
        other = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True,
                               check=True).stdout
        other_pub = subprocess.run(["openssl", "pkey", "-pubout"], input=other, capture_output=True,
                                   check=True).stdout
        make_device(cls.root, "wrongkey", "GM2026110002", "mismatched")
        provision(cls.skf, cls.ca, "wrongkey", sign_cert_pub=other_pub)
        for name, serial in (("pinkey", "GM2026110003"), ("lockkey", "GM2026110004"), ("adminkey", "GM2026110005"),
                             ("sealkey", "GM2026110006"), ("vendorkey", "GM2026110007")):
            make_device(cls.root, name, serial, name)
            provision(cls.skf, cls.ca, name)
        # a device whose library takes the other SGD_SM2_1, as PROFILE says
        make_device(cls.root, "algkey", "GM2026110008", "algkey", sm2SignAlgId=VENDOR_SM2_1)
        provision(cls.skf, cls.ca, "algkey", sign_alg=VENDOR_SM2_1)
        cls.pin = Pinentry(cls.tmp)
        cls.d = skf_daemon(cls.tmp, cls.root, cls.control, PAGE_PIN, LIB,
                           ["--skf-profile", PROFILE, "--pinentry", PINENTRY, "--poll-interval-ms", "200"],
                           env=cls.pin.env)
        cls.d.start()

    def stop(cls):
        cls.d.cleanup()     # fails the run when the daemon does not exit 0 (a sanitizer report)
        shutil.rmtree(cls.tmp, ignore_errors=True)


F = Fixture()


def setUpModule():
    F.start()


SECRETS = ("11223344", "55667788", "12345678", "00000000")


def tearDownModule():
    """After every test: no PIN in the daemon's log, then a clean exit."""
    log = F.d.log_text()
    F.stop()
    leaked = [s for s in SECRETS if s in log]
    if leaked:
        raise AssertionError(f"PINs in the daemon's log: {leaked}")


class SkfBase(unittest.TestCase):
    def __getattr__(self, name):
        return getattr(F, name)

    def setUp(self):
        self.set_control("")

    def assertError(self, st, body, status, code, **fields):
        got = {k: body.get("error", {}).get(k) for k in fields}
        self.assertEqual((st, body.get("error", {}).get("code"), got), (status, code, fields), body)

    def set_control(self, text):
        with open(self.control, "w") as f:
            f.write(text)

    def token(self, serial="GM2026110001", timeout=10):
        token, body = wait_token(self.d, serial, timeout)
        return token or self.fail(f"token {serial} never showed: {body}")

    def cert(self, usage="sign", serial="GM2026110001"):
        t = self.token(serial)
        return t, next(c for c in t["certificates"] if c["usage"] == usage)

    def post(self, t, what, body, pin=PIN):
        if pin is not None:
            body = dict(body, pin=pin)
        return self.d.request("POST", f"/v1/tokens/{t['id']}/{what}", body=body, origin=PAGE_PIN)

    def sign(self, items, fmt="raw", serial="GM2026110001", pin=PIN, **extra):
        t, c = self.cert(serial=serial)
        return self.post(t, "sign", dict({"certificate": c["id"], "algorithm": "SM2-SM3", "items": items,
                                          "format": fmt}, **extra), pin=pin)



class SkfSign(SkfBase):
    def test_raw_signatures_verify_with_openssl_and_the_gmt_id(self):
        data = [b"bid document 1", "中标通知书".encode(), os.urandom(3000)]
        st, _, body = self.sign([{"data": b64(d)} for d in data])
        self.assertEqual(st, 200, body)
        self.assertEqual(body["algorithm"], "SM2-SM3")
        for d, sig in zip(data, body["signatures"]):
            self.assertTrue(sm2_verifies(self.sign_der, d, base64.b64decode(sig)))
            self.assertFalse(sm2_verifies(self.sign_der, d + b"!", base64.b64decode(sig)))

    def test_a_given_sm2_id_is_the_one_signed_with(self):
        st, _, body = self.sign([{"data": b64(b"hello")}], sm2Id="alice@example.cn")
        self.assertEqual(st, 200, body)
        sig = base64.b64decode(body["signatures"][0])
        self.assertTrue(sm2_verifies(self.sign_der, b"hello", sig, ident="alice@example.cn"))
        self.assertFalse(sm2_verifies(self.sign_der, b"hello", sig))

    def test_a_digest_item_is_e_computed_by_the_caller(self):
        pub = cert_pubkey_pem(self.sign_der)
        point = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, capture_output=True,
                               check=True).stdout[-64:]
        z = hashlib.new("sm3", (128).to_bytes(2, "big") + b"1234567812345678" + sm2_curve() + point).digest()
        e = hashlib.new("sm3", z + b"signed elsewhere").digest()
        st, _, body = self.sign([{"digest": b64(e)}])
        self.assertEqual(st, 200, body)
        self.assertTrue(sm2_verifies(self.sign_der, b"signed elsewhere", base64.b64decode(body["signatures"][0])))
        st, _, body = self.sign([{"digest": b64(e[:20])}])
        self.assertEqual((st, body["error"]["field"]), (400, "items[0].digest"), body)

    def test_bad_sm2_ids_and_algorithms_are_refused_before_the_pin(self):
        for extra, field in (({"sm2Id": ""}, "sm2Id"), ({"sm2Id": "x" * 256}, "sm2Id"), ({"sm2Id": 5}, "sm2Id")):
            st, _, body = self.sign([{"data": "aGk="}], **extra)
            self.assertEqual((st, body["error"]["code"], body["error"]["field"]), (400, "BAD_REQUEST", field))
        t, c = self.cert()
        st, _, body = self.post(t, "sign", {"certificate": c["id"], "algorithm": "ECDSA-SHA256",
                                            "items": [{"data": "aGk="}]})
        self.assertEqual((st, body["error"]["code"]), (400, "UNSUPPORTED_ALGORITHM"), body)
        t, enc = self.cert("encrypt")
        st, _, body = self.post(t, "sign", {"certificate": enc["id"], "algorithm": "SM2-SM3",
                                            "items": [{"data": "aGk="}]})
        self.assertEqual((st, body["error"]["field"]), (400, "certificate"), body)

    def cms_parts(self, der):
        """contentType, the SignedData's parts and the signer's, as DER spans."""
        _, s, e = der_tlv(der)
        (t_oid, _, ovs, ove), (t0, _, vs, ve) = der_children(der, s, e)
        self.assertEqual((t_oid, oid_text(der[ovs:ove]), t0), (6, OID_GMT_SIGNED, 0xA0))
        _, sds, sde = der_tlv(der, vs)
        version, algs, content, certs, signers = der_children(der, sds, sde)
        self.assertEqual(der[version[2]:version[3]], b"\x01")
        alg = der_children(der, *der_children(der, algs[2], algs[3])[0][2:])[0]
        self.assertEqual(oid_text(der[alg[2]:alg[3]]), OID_SM3)
        parts = der_children(der, content[2], content[3])
        self.assertEqual(oid_text(der[parts[0][2]:parts[0][3]]), OID_GMT_DATA)
        inner = None
        if len(parts) == 2:
            inner_item = der_children(der, parts[1][2], parts[1][3])[0]
            inner = der[inner_item[2]:inner_item[3]]
        self.assertEqual((certs[0], der[certs[2]:certs[3]]), (0xA0, self.sign_der))
        si = der_children(der, *der_children(der, signers[2], signers[3])[0][2:])
        return inner, si, der

    def check_cms(self, der, data, detached):
        inner, si, der = self.cms_parts(der)
        self.assertEqual(inner, None if detached else data)
        version, ias, dalg, attrs, salg, sig = si
        self.assertEqual(oid_text(der[der_children(der, dalg[2], dalg[3])[0][2]:
                                      der_children(der, dalg[2], dalg[3])[0][3]]), OID_SM3)
        self.assertEqual(oid_text(der[der_children(der, salg[2], salg[3])[0][2]:
                                      der_children(der, salg[2], salg[3])[0][3]]), OID_SM2_1)
        self.assertEqual(attrs[0], 0xA0)
        found = {}
        for _, _, avs, ave in der_children(der, attrs[2], attrs[3]):
            (_, _, ovs, ove), (_, _, svs, sve) = der_children(der, avs, ave)
            value = der_children(der, svs, sve)[0]
            found[oid_text(der[ovs:ove])] = der[value[2]:value[3]]
        self.assertEqual(found["1.2.840.113549.1.9.4"], hashlib.new("sm3", data).digest())   # messageDigest
        self.assertEqual(oid_text(found["1.2.840.113549.1.9.3"]), OID_GMT_DATA)               # contentType
        self.assertIn("1.2.840.113549.1.9.5", found)                                          # signingTime
        signed = b"\x31" + der[attrs[1] + 1:attrs[3]]   # the SET OF the [0] IMPLICIT stands for
        self.assertTrue(sm2_verifies(self.sign_der, signed, der[sig[2]:sig[3]]))
        self.assertFalse(sm2_verifies(self.sign_der, signed[:-1] + b"\0", der[sig[2]:sig[3]]))
        with tempfile.NamedTemporaryFile() as f:
            f.write(der)
            f.flush()
            self.assertEqual(subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", f.name],
                                            capture_output=True).returncode, 0, "openssl parses it")

    def test_cms_attached_and_detached_are_gmt_0010_signed_data(self):
        data = "投标文件 bid 2026".encode()
        for fmt in ("cms", "cms-detached"):
            st, _, body = self.sign([{"data": b64(data)}], fmt=fmt)
            self.assertEqual(st, 200, body)
            self.check_cms(base64.b64decode(body["signatures"][0]), data, fmt == "cms-detached")

    def test_authenticate_signs_origin_and_challenge_with_sm2(self):
        t, c = self.cert()
        challenge = os.urandom(32)
        st, _, body = self.post(t, "authenticate", {"certificate": c["id"], "challenge": b64(challenge)})
        self.assertEqual(st, 200, body)
        self.assertEqual((body["format"], body["algorithm"]), ("keybridge-auth-1", "SM2-SM3"))
        msg = hashlib.sha256(PAGE_PIN.encode()).digest() + hashlib.sha256(challenge).digest()
        self.assertTrue(sm2_verifies(self.sign_der, msg, base64.b64decode(body["signature"])))
        verifier = os.path.join(kbtest.SRC, "docs", "examples", "verify-keybridge-auth.py")
        r = subprocess.run([sys.executable, verifier, "--origin", PAGE_PIN, "--challenge", b64(challenge)],
                           input=json.dumps(body), capture_output=True, text=True,
                           env=dict(os.environ, **child_env()))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("GM User", r.stdout)

    def test_the_demo_portal_checks_sm2_signatures_and_logins(self):
        sys.path.insert(0, os.path.join(HERE, ".."))
        import demo_portal
        portal = demo_portal.Portal(self.ca.tmp, "12345678", "123456", {PAGE_PIN})
        pem = subprocess.run(["openssl", "x509", "-inform", "DER"], input=self.sign_der, capture_output=True,
                             check=True).stdout.decode()
        st, _, body = self.sign([{"data": b64(b"demo")}])
        self.assertEqual(st, 200, body)
        got = portal.verify({"certificate": pem, "data": b64(b"demo"), "signature": body["signatures"][0],
                             "algorithm": "SM2-SM3", "format": "raw"}, PAGE_PIN)
        self.assertEqual((got["signatureValid"], got["certificateValid"]), (True, True), got)
        got = portal.verify({"certificate": pem, "data": b64(b"other"), "signature": body["signatures"][0],
                             "algorithm": "SM2-SM3", "format": "raw"}, PAGE_PIN)
        self.assertFalse(got["signatureValid"], got)
        t, c = self.cert()
        ch = portal.challenge({}, PAGE_PIN)
        st, _, response = self.post(t, "authenticate", {"certificate": c["id"], "challenge": ch["challenge"]})
        self.assertEqual(st, 200, response)
        self.assertIn("GM User", portal.login({"id": ch["id"], "response": response}, PAGE_PIN)["subject"])

    def test_key_generation_names_the_profiles_sm2_algorithm(self):
        containers = os.path.join(self.root, "{}", "GMCA", "c")
        t, c = self.cert(serial="GM2026110008")
        st, _, req = self.post(t, "renewal/request", {"certificate": c["id"]})
        self.assertEqual(st, 200, req)
        st, _, body = self.post(t, f"renewal/{req['requestId']}/cancel", {})
        self.assertEqual(st, 200, body)
        # the standard's value, which this device does not take, is not what was sent
        before = os.listdir(containers.format("gmkey"))
        t, c = self.cert()
        st, _, body = self.post(t, "renewal/request", {"certificate": c["id"]})
        self.assertEqual((st, body["error"]["code"]), (400, "UNSUPPORTED_ALGORITHM"), body)
        self.assertEqual(os.listdir(containers.format("gmkey")), before, "the failed request left nothing")

    def test_a_certificate_that_is_not_the_keys_is_caught(self):
        st, _, body = self.sign([{"data": "aGk="}], serial="GM2026110002")
        self.assertEqual((st, body["error"]["code"]), (409, "CERTIFICATE_MISMATCH"), body)

    def test_a_device_pulled_while_signing_ends_the_authorization(self):
        st, _, body = self.sign([{"data": "aGk="}])
        self.assertEqual(st, 200, body)
        self.set_control("fail = SKF_ECCSignData 1 SAR_DEVICE_REMOVED\n")
        st, _, body = self.sign([{"data": "aGk="}], pin=None)
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        self.set_control("")
        self.pin.clear()
        self.pin.answer("cancel")
        t, c = self.cert()
        st, _, body = self.d.request("POST", f"/v1/tokens/{t['id']}/sign", origin=PAGE_PIN,
                                     body={"certificate": c["id"], "algorithm": "SM2-SM3", "items": [{"data": "aGk="}]})
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_CANCELLED"), "the PIN is asked again")
        self.assertEqual(len(self.pin.dialogs()), 1)

    def test_a_removed_token_is_not_present(self):
        t, c = self.cert()
        set_present(self.root, "gmkey", False)
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                st, _, body = self.post(t, "sign", {"certificate": c["id"], "algorithm": "SM2-SM3",
                                                    "items": [{"data": "aGk="}]})
                if st != 200:
                    break
                time.sleep(0.05)
            self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"), body)
        finally:
            set_present(self.root, "gmkey", True)
        self.token()


class SkfPins(SkfBase):
    """PINs of SKF tokens through pin/change and pin/unblock."""

    def test_a_page_changes_the_pin_and_the_new_one_signs(self):
        t = self.token("GM2026110003")
        st, _, body = self.post(t, "pin/change", {"oldPin": PIN, "newPin": "55667788"}, pin=None)
        self.assertEqual((st, body), (200, {"changed": True}))
        try:
            st, _, body = self.sign([{"data": "aGk="}], serial="GM2026110003", pin="55667788")
            self.assertEqual(st, 200, body)
            # the token's own word, from another process
            self.assertEqual(self.verify_pin("pinkey", PIN), "SAR_PIN_INCORRECT")
            self.assertEqual(self.verify_pin("pinkey", "55667788"), "SAR_OK")
        finally:
            st, _, body = self.post(t, "pin/change", {"oldPin": "55667788", "newPin": PIN}, pin=None)
        self.assertEqual(st, 200, body)
        st, _, body = self.post(t, "pin/change", {"oldPin": PIN, "newPin": "123"}, pin=None)
        self.assertError(st, body, 400, "PIN_POLICY", minLength=6, maxLength=16)

    def pin_when(self, serial, done, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pin = self.token(serial)["pin"]
            if done(pin):
                break
            time.sleep(0.05)
        return pin

    def verify_pin(self, device, pin):
        app = self.skf.open(self.skf.connect(device), "Application", "GMCA")
        try:
            self.skf.VerifyPIN(app, USER, pin.encode(), ctypes.byref(ULONG()))
            return "SAR_OK"
        except SkfError as e:
            return SAR_NAME.get(e.rv)
        finally:
            self.skf.CloseApplication(app)

    def lock_user_pin(self, serial):
        for left in (5, 4, 3, 2, 1):
            st, _, body = self.sign([{"data": "aGk="}], serial=serial, pin="00000000")
            self.assertError(st, body, 401, "PIN_INCORRECT", retriesLeft=left)
        st, _, body = self.sign([{"data": "aGk="}], serial=serial, pin="00000000")
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_FINAL_TRY"), body)
        st, _, body = self.sign([{"data": "aGk="}], serial=serial, pin="00000000", confirmFinalTry=True)
        self.assertEqual((st, body["error"]["code"]), (423, "PIN_LOCKED"), "the try that locks says so")
        st, _, body = self.sign([{"data": "aGk="}], serial=serial, pin=PIN)
        self.assertEqual((st, body["error"]["code"]), (423, "PIN_LOCKED"), body)

    def test_a_locked_pin_unblocks_to_the_cas_initial_pin_which_must_be_changed(self):
        self.lock_user_pin("GM2026110004")
        t = self.token("GM2026110004")
        pin = self.pin_when("GM2026110004", lambda p: p["status"] == "locked")
        self.assertEqual((pin["status"], pin["retriesLeft"]), ("locked", 0), pin)
        st, _, body = self.post(t, "pin/unblock", {"unblockCode": "00000000", "newPin": "123456"}, pin=None)
        self.assertError(st, body, 401, "PIN_INCORRECT", soPinStatus="countLow", soRetriesLeft=9)
        st, _, body = self.post(t, "pin/unblock", {"unblockCode": "12345678", "newPin": "123456"}, pin=None)
        self.assertEqual((st, body), (200, {"unblocked": True, "mustChange": True}))
        pin = self.pin_when("GM2026110004", lambda p: p["status"] != "locked")
        self.assertEqual((pin["status"], pin["retriesLeft"]), ("mustChange", 6), pin)
        st, _, body = self.sign([{"data": "aGk="}], serial="GM2026110004", pin="123456")
        self.assertError(st, body, 400, "PIN_POLICY", reason="mustChange")
        st, _, body = self.post(t, "pin/change", {"oldPin": "123456", "newPin": PIN}, pin=None)
        self.assertEqual(st, 200, body)
        st, _, body = self.sign([{"data": b64(b"after unblock")}], serial="GM2026110004")
        self.assertEqual(st, 200, body)
        self.assertEqual(self.pin_when("GM2026110004", lambda p: p["status"] == "ok")["status"], "ok")

    def test_the_administrator_pin_locks_too(self):
        t = self.token("GM2026110005")
        for left in range(9, 0, -1):
            st, _, body = self.post(t, "pin/unblock", {"unblockCode": "00000000", "newPin": "123456"}, pin=None)
            self.assertEqual((st, body["error"]["soRetriesLeft"]), (401, left), body)
        st, _, body = self.post(t, "pin/unblock", {"unblockCode": "00000000", "newPin": "123456"}, pin=None)
        self.assertEqual((st, body["error"]["code"]), (409, "PIN_FINAL_TRY"), body)
        st, _, body = self.post(t, "pin/unblock", {"unblockCode": "00000000", "newPin": "123456",
                                                   "confirmFinalTry": True}, pin=None)
        self.assertEqual((st, body["error"]["code"]), (423, "PIN_LOCKED"), "the try that locks says so")
        st, _, body = self.post(t, "pin/unblock", {"unblockCode": "12345678", "newPin": "123456"}, pin=None)
        self.assertEqual((st, body["error"]["code"], body["error"]["soPinStatus"]),
                         (423, "PIN_LOCKED", "locked"), body)
        st, _, body = self.sign([{"data": "aGk="}], serial="GM2026110005")
        self.assertEqual(st, 200, "the user PIN still works")

    def test_the_configured_profile_reads_a_vendor_error_code(self):
        st, _, info = self.d.get("/v1/info")
        mod = info["backends"][1]["modules"][0]
        self.assertEqual(mod["profile"], "sm2-sign-alg=0x00020200 ulong=32 error=0x0a00f001:PIN_INCORRECT", mod)
        self.set_control("fail = SKF_VerifyPIN 1 0x0A00F001\n")
        st, _, body = self.sign([{"data": "aGk="}], serial="GM2026110007")
        self.assertEqual((st, body["error"]["code"]), (401, "PIN_INCORRECT"), "the vendor's code, mapped")
        self.set_control("fail = SKF_VerifyPIN 1 0x0A00F002\n")
        st, _, body = self.sign([{"data": "aGk="}], serial="GM2026110007")
        self.assertEqual((st, body["error"]["code"]), (500, "INTERNAL"), "a code nobody mapped")
        self.set_control("")
        st, _, body = self.sign([{"data": "aGk="}], serial="GM2026110007")
        self.assertEqual(st, 200, body)



class FileAttribute(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("FileName", ctypes.c_char * 32), ("FileSize", ULONG), ("ReadRights", ULONG),
                ("WriteRights", ULONG)]


class SkfSeal(SkfBase):
    """The seal as a file of the certificate's application."""
    SERIAL = "GM2026110006"

    def seal_path(self):
        return f"/v1/tokens/{self.token(self.SERIAL)['id']}/seal"

    def put(self, image, media_type="image/png"):
        _, c = self.cert(serial=self.SERIAL)
        return self.d.request("POST", self.seal_path(), origin=PAGE_PIN,
                              body={"certificate": c["id"], "mediaType": media_type, "image": b64(image), "pin": PIN})

    def get(self):
        _, c = self.cert(serial=self.SERIAL)
        return self.d.get(f"{self.seal_path()}?certificate={c['id']}", origin=PAGE_PIN)

    def files(self):
        """The seal files as another program sees them: names and read rights."""
        app = self.skf.open(self.skf.connect("sealkey"), "Application", "GMCA")
        try:
            out = {}
            for name in self.skf.names("EnumFiles", app):
                attr = FileAttribute()
                self.skf.GetFileInfo(app, name.encode(), ctypes.byref(attr))
                out[name] = attr.ReadRights
            return out
        finally:
            self.skf.CloseApplication(app)

    def assert_seal(self, image, media_type="image/png"):
        st, _, body = self.get()
        self.assertEqual(st, 200, body)
        self.assertEqual((base64.b64decode(body["image"]), body["mediaType"]), (image, media_type))

    def test_a_seal_is_written_read_without_a_pin_and_replaced(self):
        first, second = png(40, 40), png(300, 200, shade=7)    # the second takes several chunks
        st, _, body = self.put(first)
        self.assertEqual(st, 200, body)
        self.assert_seal(first)
        st, _, body = self.put(second)
        self.assertEqual(st, 200, body)
        self.assert_seal(second)
        _, c = self.cert(serial=self.SERIAL)
        files = self.files()
        self.assertEqual(len(files), 1, f"the old file is gone: {files}")
        name, rights = next(iter(files.items()))
        self.assertTrue(name.startswith("ks" + c["fingerprintSha256"][:20] + "."), name)
        self.assertEqual(rights, 0xFF, "anyone reads a seal")

    def test_a_write_that_fails_leaves_the_old_seal_and_no_file(self):
        st, _, body = self.put(GIF, "image/gif")
        self.assertEqual(st, 200, body)
        before = self.files()
        big = png(300, 200, shade=3)    # several 1 KiB writes and reads
        # the existing seal is read once (one chunk) before the new file exists
        for fn, nth, code, status, error in (("SKF_WriteFile", "1+", "SAR_NO_ROOM", 507, "TOKEN_FULL"),
                                             ("SKF_CreateFile", "1+", "SAR_NO_ROOM", 507, "TOKEN_FULL"),
                                             ("SKF_WriteFile", "2", "SAR_DEVICE_REMOVED", 409, "TOKEN_NOT_PRESENT"),
                                             ("SKF_ReadFile", "1+", "SAR_DEVICE_REMOVED", 409, "TOKEN_NOT_PRESENT"),
                                             ("SKF_ReadFile", "3", "SAR_READFILEERR", 500, "INTERNAL")):
            with self.subTest(fn=fn, nth=nth, code=code):
                self.set_control(f"fail = {fn} {nth} {code}\n")
                st, _, body = self.put(big)
                self.assertEqual((st, body.get("error", {}).get("code")), (status, error), body)
                self.set_control("")
                self.assertEqual(self.files(), before)
                self.assert_seal(GIF, "image/gif")

    def test_a_damaged_newer_file_is_passed_over_and_cleaned_up(self):
        st, _, body = self.put(GIF, "image/gif")
        self.assertEqual(st, 200, body)
        (name, _), = self.files().items()
        newer = name[:-8] + "%08x" % (int(name[-8:], 16) + 1)
        app = self.skf.open(self.skf.connect("sealkey"), "Application", "GMCA")
        self.skf.VerifyPIN(app, USER, PIN.encode(), ctypes.byref(ULONG()))
        self.skf.CreateFile(app, newer.encode(), 16, 0xFF, 0x10)
        self.skf.WriteFile(app, newer.encode(), 0, (ctypes.c_uint8 * 16)(*b"half a write ..."), 16)
        self.skf.CloseApplication(app)
        self.assert_seal(GIF, "image/gif")
        st, _, body = self.put(png(4, 4))
        self.assertEqual(st, 200, body)
        self.assertEqual(len(self.files()), 1, self.files())
        self.assert_seal(png(4, 4))


def sm2_curve():
    """a, b, xG, yG of the SM2 curve, from openssl's own description."""
    text = subprocess.run(["openssl", "ecparam", "-name", "SM2", "-param_enc", "explicit", "-text", "-noout"],
                          capture_output=True, check=True, text=True).stdout
    fields, name = {}, None
    for line in text.splitlines():
        if not line.startswith(" "):
            name = line.split(":")[0].strip()
            fields[name] = ""
        elif name:
            fields[name] += line.strip().replace(":", "")
    a, b = bytes.fromhex(fields["A"])[-32:], bytes.fromhex(fields["B"])[-32:]
    g = bytes.fromhex(fields["Generator (uncompressed)"])[-64:]
    return a.rjust(32, b"\0") + b.rjust(32, b"\0") + g


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()
    unittest.main(verbosity=2)
