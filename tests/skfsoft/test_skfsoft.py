#!/usr/bin/env python3
"""The software SKF token against GM/T 0016's semantics, through its C
interface (ctypes): devices and their events, device authentication,
applications and their two PINs (retry counters that lock, unblock with the
admin PIN, the default-PIN flag), containers with SM2 key pairs whose
signatures openssl verifies with the GM/T ID, certificates, the
ENVELOPEDKEYBLOB import, files and their access rights, faults on cue."""
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from skf import (ADMIN, BYTE, HANDLE, SGD_SM2_1, SGD_SM2_2, ULONG, USER, CipherBlob, DevInfo, PubBlob,  # noqa: E402
                 SigBlob, Skf, SkfError, enveloped_key, make_device, openssl_verify, reexec_with_preload,
                 set_present, sm2_e)

LIB = os.environ.get("KB_SKFSOFT_SO")


class BlockCipherParam(ctypes.Structure):
    """BLOCKCIPHERPARAM, passed by value to SKF_DecryptInit."""
    _pack_ = 1
    _fields_ = [("IV", BYTE * 32), ("IVLen", ULONG), ("PaddingType", ULONG), ("FeedBitLen", ULONG)]


class SoftToken(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="kb-skfsoft-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        os.environ["KB_SKFSOFT_DIR"] = self.root
        os.environ["KB_SKFSOFT_CONTROL"] = os.path.join(self.root, "control")
        self.skf = Skf(LIB)
        make_device(self.root, "key1", "SKF0001", "张三的证书")

    def control(self, text):
        with open(os.environ["KB_SKFSOFT_CONTROL"], "w") as f:
            f.write(text)
        time.sleep(0.01)     # a new mtime even on coarse clocks

    def assertSar(self, name, fn, *args):
        with self.assertRaises(SkfError) as e:
            fn(*args)
        self.assertEqual(e.exception.name, name)

    def app(self, dev=None, retries=(3, 5)):
        dev = dev or self.skf.connect("key1")
        self.skf.dev_auth(dev)
        h = HANDLE()
        self.skf.CreateApplication(dev, b"GMCA", b"12345678", retries[0], b"123456", retries[1], 0x10,
                                   ctypes.byref(h))
        return dev, h

    def container(self, app, name="c1"):
        self.skf.VerifyPIN(app, USER, b"123456", ctypes.byref(ULONG()))
        c = HANDLE()
        self.skf.CreateContainer(app, name.encode(), ctypes.byref(c))
        pub = PubBlob()
        self.skf.GenECCKeyPair(c, SGD_SM2_1, ctypes.byref(pub))
        return c, pub

    def test_devices_are_listed_with_the_two_call_convention(self):
        make_device(self.root, "key2", "SKF0002", present=False)
        self.assertEqual(self.skf.names("EnumDev", True), ["key1"])
        self.assertEqual(self.skf.names("EnumDev", False), ["key1", "key2"])
        size = ULONG(3)
        self.assertSar("SAR_BUFFER_TOO_SMALL", self.skf.EnumDev, True, ctypes.create_string_buffer(3),
                       ctypes.byref(size))
        self.assertEqual(size.value, len("key1") + 2)
        self.assertSar("SAR_DEVICE_REMOVED", self.skf.connect, "key2")
        self.assertSar("SAR_INVALIDPARAMERR", self.skf.connect, "nothing")
        info = DevInfo()
        self.skf.GetDevInfo(self.skf.connect("key1"), ctypes.byref(info))
        self.assertEqual((info.SerialNumber, info.Label.decode()), (b"SKF0001", "张三的证书"))

    def test_an_application_needs_device_authentication(self):
        dev = self.skf.connect("key1")
        h = HANDLE()
        args = (dev, b"GMCA", b"12345678", 3, b"123456", 5, 0xFF, ctypes.byref(h))
        self.assertSar("SAR_USER_NOT_LOGGED_IN", self.skf.CreateApplication, *args)
        self.assertSar("SAR_FAIL", self.skf.dev_auth, dev, b"0000000000000000")
        self.assertSar("SAR_USER_NOT_LOGGED_IN", self.skf.CreateApplication, *args)
        self.skf.dev_auth(dev)
        self.skf.CreateApplication(*args)
        self.assertSar("SAR_APPLICATION_EXISTS", self.skf.CreateApplication, *args)
        self.assertEqual(self.skf.names("EnumApplication", dev), ["GMCA"])
        self.assertSar("SAR_APPLICATION_NOT_EXISTS", self.skf.open, dev, "Application", "other")

    def test_the_user_pin_locks_and_the_admin_pin_unblocks_it(self):
        _, app = self.app()
        left = ULONG()
        self.assertEqual(self.skf.pin_info(app), (5, 5, True))
        for expect in (4, 3, 2, 1):
            self.assertSar("SAR_PIN_INCORRECT", self.skf.VerifyPIN, app, USER, b"000000", ctypes.byref(left))
            self.assertEqual(left.value, expect)
        self.skf.VerifyPIN(app, USER, b"123456", ctypes.byref(left))    # a right PIN refills
        self.assertEqual((left.value, self.skf.pin_info(app)[1]), (5, 5))
        for _ in range(4):
            self.assertSar("SAR_PIN_INCORRECT", self.skf.VerifyPIN, app, USER, b"000000", ctypes.byref(left))
        self.assertSar("SAR_PIN_LOCKED", self.skf.VerifyPIN, app, USER, b"000000", ctypes.byref(left))
        self.assertSar("SAR_PIN_LOCKED", self.skf.VerifyPIN, app, USER, b"123456", ctypes.byref(left))
        self.assertEqual(self.skf.pin_info(app)[1], 0)
        self.assertSar("SAR_PIN_INCORRECT", self.skf.UnblockPIN, app, b"87654321", b"123456", ctypes.byref(left))
        self.assertEqual(self.skf.pin_info(app, ADMIN), (3, 2, True))
        self.skf.UnblockPIN(app, b"12345678", b"654321", ctypes.byref(left))
        self.assertEqual(self.skf.pin_info(app), (5, 5, True))     # set by the admin: a default PIN
        self.skf.VerifyPIN(app, USER, b"654321", ctypes.byref(left))
        self.assertSar("SAR_PIN_LEN_RANGE", self.skf.ChangePIN, app, USER, b"654321", b"12", ctypes.byref(left))
        self.skf.ChangePIN(app, USER, b"654321", b"11223344", ctypes.byref(left))
        self.assertEqual(self.skf.pin_info(app), (5, 5, False))
        self.assertSar("SAR_PIN_INCORRECT", self.skf.ChangePIN, app, USER, b"654321", b"99999999",
                       ctypes.byref(left))
        self.assertEqual(left.value, 4)

    def test_the_admin_pin_locks_too(self):
        _, app = self.app(retries=(2, 5))
        left = ULONG()
        self.assertSar("SAR_PIN_INCORRECT", self.skf.UnblockPIN, app, b"00000000", b"123456", ctypes.byref(left))
        self.assertSar("SAR_PIN_LOCKED", self.skf.UnblockPIN, app, b"00000000", b"123456", ctypes.byref(left))
        self.assertSar("SAR_PIN_LOCKED", self.skf.UnblockPIN, app, b"12345678", b"123456", ctypes.byref(left))

    def test_sm2_signatures_verify_with_openssl_and_the_gmt_id(self):
        dev, app = self.app()
        c, pub = self.container(app)
        self.assertEqual(self.skf.export("ExportPublicKey", c), bytes(pub))
        msg = "报价单 2026-11-22".encode()
        e = sm2_e(pub, msg)
        sig = SigBlob()
        self.skf.ECCSignData(c, (BYTE * 32).from_buffer_copy(e), 32, ctypes.byref(sig))
        self.assertTrue(openssl_verify(pub, msg, sig))
        self.assertFalse(openssl_verify(pub, msg + b"!", sig))
        self.assertFalse(openssl_verify(pub, msg, sig, ident=b"other"))
        self.skf.ECCVerify(dev, ctypes.byref(pub), (BYTE * 32).from_buffer_copy(e), 32, ctypes.byref(sig))
        e2 = sm2_e(pub, msg + b"!")
        self.assertSar("SAR_FAIL", self.skf.ECCVerify, dev, ctypes.byref(pub), (BYTE * 32).from_buffer_copy(e2),
                       32, ctypes.byref(sig))
        self.assertSar("SAR_INDATALENERR", self.skf.ECCSignData, c, (BYTE * 32)(), 20, ctypes.byref(sig))
        self.skf.ClearSecureState(app)
        self.assertSar("SAR_USER_NOT_LOGGED_IN", self.skf.ECCSignData, c, (BYTE * 32).from_buffer_copy(e), 32,
                       ctypes.byref(sig))

    def test_containers_and_certificates(self):
        _, app = self.app()
        c = HANDLE()
        self.assertSar("SAR_USER_NOT_LOGGED_IN", self.skf.CreateContainer, app, b"c1", ctypes.byref(c))
        c, _ = self.container(app)
        kind = ULONG()
        self.skf.GetContainerType(c, ctypes.byref(kind))
        self.assertEqual(kind.value, 2)
        self.assertSar("SAR_CERTNOTFOUNTERR", self.skf.export, "ExportCertificate", c)
        for sign, der in ((True, b"\x30\x03sig"), (False, b"\x30\x03enc")):
            self.skf.ImportCertificate(c, sign, (BYTE * len(der)).from_buffer_copy(der), len(der))
        self.assertEqual(self.skf.export("ExportCertificate", c, True), b"\x30\x03sig")
        self.assertEqual(self.skf.export("ExportCertificate", c, False), b"\x30\x03enc")
        self.container(app, "c2")
        self.assertEqual(self.skf.names("EnumContainer", app), ["c1", "c2"])
        self.skf.DeleteContainer(app, b"c1")
        self.assertEqual(self.skf.names("EnumContainer", app), ["c2"])

    def test_an_enveloped_encryption_key_is_imported(self):
        _, app = self.app()
        c, sign_pub = self.container(app)
        for compact in (False, True):
            with self.subTest(compact=compact):
                key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True,
                                     check=True).stdout
                blob, point = enveloped_key(sign_pub, key, compact)
                self.skf.ImportECCKeyPair(c, ctypes.byref(blob))
                enc_pub = PubBlob.from_buffer_copy(self.skf.export("ExportPublicKey", c, False))
                self.assertEqual(bytes(enc_pub.X)[32:] + bytes(enc_pub.Y)[32:], point[1:])

    def test_a_tampered_or_misdirected_envelope_is_refused(self):
        _, app = self.app()
        c, sign_pub = self.container(app)
        other, other_pub = self.container(app, "c2")
        key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True, check=True).stdout
        blob, _ = enveloped_key(other_pub, key)
        self.assertSar("SAR_INDATAERR", self.skf.ImportECCKeyPair, c, ctypes.byref(blob))
        blob, _ = enveloped_key(sign_pub, key)
        blob.cbEncryptedPriKey[40] ^= 1
        self.assertSar("SAR_INDATAERR", self.skf.ImportECCKeyPair, c, ctypes.byref(blob))
        self.assertSar("SAR_KEYNOTFOUNTERR", self.skf.export, "ExportPublicKey", c, False)

    def test_a_session_key_sent_to_the_encryption_pair_decrypts_sm4_cbc(self):
        dev, app = self.app()
        c, sign_pub = self.container(app)
        key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True, check=True).stdout
        blob, _ = enveloped_key(sign_pub, key)
        self.skf.ImportECCKeyPair(c, ctypes.byref(blob))
        enc_pub = PubBlob.from_buffer_copy(self.skf.export("ExportPublicKey", c, False))
        sm4, iv, plain = os.urandom(16), os.urandom(16), "开标 bid".encode() * 5
        wrapped = CipherBlob()
        self.skf.ExtECCEncrypt(dev, ctypes.byref(enc_pub), (BYTE * 16).from_buffer_copy(sm4), 16,
                               ctypes.byref(wrapped))
        ct = subprocess.run(["openssl", "enc", "-sm4-cbc", "-K", sm4.hex(), "-iv", iv.hex()], input=plain,
                            capture_output=True, check=True).stdout
        hkey = HANDLE()
        self.skf.ImportSessionKey(c, 0x402, ctypes.byref(wrapped), ctypes.sizeof(wrapped), ctypes.byref(hkey))
        param = BlockCipherParam(IVLen=16, PaddingType=1)
        ctypes.memmove(param.IV, iv, 16)
        self.skf.DecryptInit(hkey, param)
        out, n = (BYTE * len(ct))(), ULONG(len(ct))
        self.skf.Decrypt(hkey, (BYTE * len(ct)).from_buffer_copy(ct), len(ct), out, ctypes.byref(n))
        self.assertEqual(bytes(out)[:n.value], plain)
        self.skf.CloseHandle(hkey)
        self.assertSar("SAR_INVALIDHANDLEERR", self.skf.DecryptInit, hkey, param)
        # sent to the signature pair instead: the encryption pair cannot open it
        self.skf.ExtECCEncrypt(dev, ctypes.byref(sign_pub), (BYTE * 16).from_buffer_copy(sm4), 16,
                               ctypes.byref(wrapped))
        self.assertSar("SAR_INDATAERR", self.skf.ImportSessionKey, c, 0x402, ctypes.byref(wrapped),
                       ctypes.sizeof(wrapped), ctypes.byref(hkey))

    def test_files_keep_their_size_and_rights(self):
        _, app = self.app()     # files are created by the user (rights 0x10)
        self.assertSar("SAR_USER_NOT_LOGGED_IN", self.skf.CreateFile, app, b"seal", 16, 0xFF, 0x10)
        self.skf.VerifyPIN(app, USER, b"123456", ctypes.byref(ULONG()))
        self.skf.CreateFile(app, b"seal", 16, 0xFF, 0x10)   # anyone reads, the user writes
        self.assertSar("SAR_FILE_ALREADY_EXIST", self.skf.CreateFile, app, b"seal", 16, 0xFF, 0x10)
        self.skf.ClearSecureState(app)
        data = (BYTE * 5).from_buffer_copy(b"hello")
        self.assertSar("SAR_USER_NOT_LOGGED_IN", self.skf.WriteFile, app, b"seal", 0, data, 5)
        self.skf.VerifyPIN(app, USER, b"123456", ctypes.byref(ULONG()))
        self.skf.WriteFile(app, b"seal", 3, data, 5)
        self.assertSar("SAR_INDATALENERR", self.skf.WriteFile, app, b"seal", 12, data, 5)
        out, n = (BYTE * 16)(), ULONG(16)
        self.skf.ClearSecureState(app)
        self.skf.ReadFile(app, b"seal", 0, 16, out, ctypes.byref(n))
        self.assertEqual(bytes(out)[:n.value], b"\0\0\0hello" + bytes(8))
        self.assertEqual(self.skf.names("EnumFiles", app), ["seal"])
        self.skf.VerifyPIN(app, USER, b"123456", ctypes.byref(ULONG()))
        self.skf.DeleteFile(app, b"seal")
        self.assertEqual(self.skf.names("EnumFiles", app), [])

    def test_a_pulled_device_fails_and_forgets_the_login(self):
        dev, app = self.app()
        c, pub = self.container(app)
        set_present(self.root, "key1", False)
        self.assertSar("SAR_DEVICE_REMOVED", self.skf.pin_info, app)
        self.assertSar("SAR_DEVICE_REMOVED", self.skf.export, "ExportPublicKey", c)
        self.skf.CloseContainer(c)      # handles of a pulled device are still given back
        self.skf.CloseApplication(app)
        self.skf.DisConnectDev(dev)
        set_present(self.root, "key1", True)
        app = self.skf.open(self.skf.connect("key1"), "Application", "GMCA")
        c = self.skf.open(app, "Container", "c1")
        self.assertSar("SAR_USER_NOT_LOGGED_IN", self.skf.ECCSignData, c, (BYTE * 32)(), 32,
                       ctypes.byref(SigBlob()))

    def test_device_events_report_removal_and_insertion(self):
        events = []

        def wait(n):
            for _ in range(n):
                name, size, ev = ctypes.create_string_buffer(64), ULONG(64), ULONG()
                try:
                    self.skf.WaitForDevEvent(name, ctypes.byref(size), ctypes.byref(ev))
                    events.append((name.value.decode(), ev.value))
                except SkfError as e:
                    events.append(e.name)
        t = threading.Thread(target=wait, args=(3,))
        t.start()
        time.sleep(0.2)
        set_present(self.root, "key1", False)
        time.sleep(0.2)
        make_device(self.root, "key2", "SKF0002")
        time.sleep(0.2)
        self.skf.CancelWaitForDevEvent()
        t.join(5)
        self.assertEqual(events, [("key1", 2), ("key2", 1), "SAR_NOT_EVENTERR"])

    def test_faults_on_cue_and_the_call_log(self):
        log = os.path.join(self.root, "calls.log")
        self.control(f"fail = SKF_GenRandom 2 SAR_DEVICE_REMOVED\nlog = {log}\n")
        dev = self.skf.connect("key1")
        rnd = (BYTE * 8)()
        self.skf.GenRandom(dev, rnd, 8)
        self.assertSar("SAR_DEVICE_REMOVED", self.skf.GenRandom, dev, rnd, 8)
        self.skf.GenRandom(dev, rnd, 8)
        with open(log) as f:
            self.assertEqual(f.read().split(), ["SKF_ConnectDev"] + ["SKF_GenRandom"] * 3)

    def test_a_vendor_signature_algorithm_id(self):
        make_device(self.root, "quirk", "SKF0009", sm2SignAlgId=SGD_SM2_2)
        _, app = self.app(self.skf.connect("quirk"))
        self.skf.VerifyPIN(app, USER, b"123456", ctypes.byref(ULONG()))
        c = HANDLE()
        self.skf.CreateContainer(app, b"c1", ctypes.byref(c))
        self.assertSar("SAR_NOTSUPPORTYETERR", self.skf.GenECCKeyPair, c, SGD_SM2_1, ctypes.byref(PubBlob()))
        self.skf.GenECCKeyPair(c, SGD_SM2_2, ctypes.byref(PubBlob()))


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()
    unittest.main()
