"""ctypes access to an SKF (GM/T 0016) library, and what tests need around
it: software-token devices, the SM2 Z value, ENVELOPEDKEYBLOBs made the way a
KMC makes them (with the openssl CLI, independent of any token)."""
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ULONG, BOOL, BYTE = ctypes.c_uint32, ctypes.c_int32, ctypes.c_uint8
HANDLE = ctypes.c_void_p

SAR = {name: value for value, name in enumerate([
    "SAR_FAIL", "SAR_UNKNOWNERR", "SAR_NOTSUPPORTYETERR", "SAR_FILEERR", "SAR_INVALIDHANDLEERR",
    "SAR_INVALIDPARAMERR", "SAR_READFILEERR", "SAR_WRITEFILEERR", "SAR_NAMELENERR", "SAR_KEYUSAGEERR",
    "SAR_MODULUSLENERR", "SAR_NOTINITIALIZEERR", "SAR_OBJERR", "SAR_MEMORYERR", "SAR_TIMEOUTERR",
    "SAR_INDATALENERR", "SAR_INDATAERR", "SAR_GENRANDERR", "SAR_HASHOBJERR", "SAR_HASHERR",
    "SAR_GENRSAKEYERR", "SAR_RSAMODULUSLENERR", "SAR_CSPIMPRTPUBKEYERR", "SAR_RSAENCERR", "SAR_RSADECERR",
    "SAR_HASHNOTEQUALERR", "SAR_KEYNOTFOUNTERR", "SAR_CERTNOTFOUNTERR", "SAR_NOTEXPORTERR",
    "SAR_DECRYPTPADERR", "SAR_MACLENERR", "SAR_BUFFER_TOO_SMALL", "SAR_KEYINFOTYPEERR", "SAR_NOT_EVENTERR",
    "SAR_DEVICE_REMOVED", "SAR_PIN_INCORRECT", "SAR_PIN_LOCKED", "SAR_PIN_INVALID", "SAR_PIN_LEN_RANGE",
    "SAR_USER_ALREADY_LOGGED_IN", "SAR_USER_PIN_NOT_INITIALIZED", "SAR_USER_TYPE_INVALID",
    "SAR_APPLICATION_NAME_INVALID", "SAR_APPLICATION_EXISTS", "SAR_USER_NOT_LOGGED_IN",
    "SAR_APPLICATION_NOT_EXISTS", "SAR_FILE_ALREADY_EXIST", "SAR_NO_ROOM", "SAR_FILE_NOT_EXIST",
    "SAR_REACH_MAX_CONTAINER_COUNT"], start=0x0A000001)}
SAR["SAR_OK"] = 0
SAR_NAME = {v: k for k, v in SAR.items()}
SGD_SM2_1, SGD_SM2_2, SGD_SM4_ECB = 0x00020100, 0x00020200, 0x00000401
ADMIN, USER = 0, 1
GMT_ID = b"1234567812345678"


def reexec_with_preload():
    """An ASan-built library needs the ASan runtime loaded first: re-execute
    with it preloaded (leak checks off: the interpreter keeps its memory).
    child_env() gives processes started from here the environment back."""
    pre = os.environ.get("KB_SKFSOFT_PRELOAD")
    if pre and pre not in os.environ.get("LD_PRELOAD", ""):
        env = dict(os.environ, LD_PRELOAD=pre, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
                   KB_SKFSOFT_ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", ""))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def child_env():
    if "KB_SKFSOFT_ASAN_OPTIONS" not in os.environ:
        return {}
    return {"LD_PRELOAD": "", "ASAN_OPTIONS": os.environ["KB_SKFSOFT_ASAN_OPTIONS"]}


class PubBlob(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("BitLen", ULONG), ("X", BYTE * 64), ("Y", BYTE * 64)]


class SigBlob(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("r", BYTE * 64), ("s", BYTE * 64)]


class CipherBlob(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("X", BYTE * 64), ("Y", BYTE * 64), ("HASH", BYTE * 32), ("CipherLen", ULONG),
                ("Cipher", BYTE * 16)]


class EnvelopedKeyBlob(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("Version", ULONG), ("ulSymmAlgID", ULONG), ("ulBits", ULONG),
                ("cbEncryptedPriKey", BYTE * 64), ("PubKey", PubBlob), ("ECCCipherBlob", CipherBlob)]


class DevInfo(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("Version", BYTE * 2), ("Manufacturer", ctypes.c_char * 64), ("Issuer", ctypes.c_char * 64),
                ("Label", ctypes.c_char * 32), ("SerialNumber", ctypes.c_char * 32), ("HWVersion", BYTE * 2),
                ("FirmwareVersion", BYTE * 2), ("AlgSymCap", ULONG), ("AlgAsymCap", ULONG),
                ("AlgHashCap", ULONG), ("DevAuthAlgId", ULONG), ("TotalSpace", ULONG), ("FreeSpace", ULONG),
                ("MaxECCBufferSize", ULONG), ("MaxBufferSize", ULONG), ("Reserved", BYTE * 64)]


class SkfError(Exception):
    def __init__(self, fn, rv):
        super().__init__(f"{fn}: {SAR_NAME.get(rv, hex(rv))}")
        self.fn, self.rv, self.name = fn, rv, SAR_NAME.get(rv, hex(rv))


class Skf:
    """Calls raise SkfError unless they return SAR_OK."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)

    def __getattr__(self, name):
        fn = getattr(self.lib, "SKF_" + name)
        fn.restype = ULONG

        def call(*args):
            rv = fn(*args)
            if rv != 0:
                raise SkfError(name, rv)
        return call

    def names(self, name, *args):
        size = ULONG(0)
        getattr(self, name)(*args, None, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        getattr(self, name)(*args, buf, ctypes.byref(size))
        return [n.decode() for n in buf.raw[:size.value].split(b"\0") if n]

    def connect(self, name):
        h = HANDLE()
        self.ConnectDev(name.encode(), ctypes.byref(h))
        return h

    def dev_auth(self, dev, key=b"1234567812345678"):
        rnd = (BYTE * 8)()
        self.GenRandom(dev, rnd, 8)
        block = bytes(rnd) + bytes(8)
        out = subprocess.run(["openssl", "enc", "-sm4-ecb", "-nopad", "-K", key.hex()], input=block,
                             capture_output=True, check=True).stdout
        self.DevAuth(dev, (BYTE * 16).from_buffer_copy(out), 16)

    def open(self, parent, kind, name):
        h = HANDLE()
        getattr(self, "Open" + kind)(parent, name.encode(), ctypes.byref(h))
        return h

    def pin_info(self, app, kind=USER):
        mx, left, default = ULONG(), ULONG(), BOOL()
        self.GetPINInfo(app, kind, ctypes.byref(mx), ctypes.byref(left), ctypes.byref(default))
        return mx.value, left.value, bool(default.value)

    def export(self, fn, container, sign=True):
        size = ULONG(0)
        getattr(self, fn)(container, sign, None, ctypes.byref(size))
        buf = (BYTE * size.value)()
        getattr(self, fn)(container, sign, buf, ctypes.byref(size))
        return bytes(buf)[:size.value]


def make_device(root, name, serial, label="", present=True, **extra):
    """A device as it leaves the factory: described, no applications."""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "device.json"), "w") as f:
        json.dump(dict(serial=serial, label=label, manufacturer="keybridge", issuer="keybridge test", **extra), f)
    set_present(root, name, present)
    return d


def set_present(root, name, present):
    p = os.path.join(root, name, "present")
    if present:
        open(p, "w").close()
    elif os.path.exists(p):
        os.unlink(p)


# SM2 curve parameters (GM/T 0003.5), for Z.
SM2_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
SM2_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
SM2_GX = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
SM2_GY = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")


def sm2_e(pub, message, ident=GMT_ID):
    """e = SM3(Z ‖ M), Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)."""
    x, y = bytes(pub.X)[32:], bytes(pub.Y)[32:]
    z = hashlib.new("sm3", (len(ident) * 8).to_bytes(2, "big") + ident + SM2_A + SM2_B + SM2_GX + SM2_GY + x + y)
    return hashlib.new("sm3", z.digest() + message).digest()


def pub_pem(pub):
    """The blob's key as a PEM SubjectPublicKeyInfo (SM2 curve)."""
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004") + bytes(pub.X)[32:] + \
        bytes(pub.Y)[32:]
    import base64
    return b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(spki) + b"-----END PUBLIC KEY-----\n"


def sig_der(sig):
    def integer(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(bytes(sig.r)) + integer(bytes(sig.s))
    return b"\x30" + bytes([len(body)]) + body


def openssl_verify(pub, message, sig, ident=GMT_ID):
    """True when openssl verifies the SM2 signature of message (SM3, the ID)."""
    with tempfile.TemporaryDirectory() as t:
        for name, data in (("pub.pem", pub_pem(pub)), ("msg", message), ("sig", sig_der(sig))):
            with open(os.path.join(t, name), "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", os.path.join(t, "pub.pem"),
                            "-rawin", "-digest", "sm3", "-pkeyopt", "distid:" + ident.decode(),
                            "-in", os.path.join(t, "msg"), "-sigfile", os.path.join(t, "sig")],
                           capture_output=True)
        return r.returncode == 0


def _der_items(der):
    """The items of a DER SEQUENCE as (tag, bytes)."""
    def length(b, i):
        n = b[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7F
        return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k
    assert der[0] == 0x30
    end_len, i = length(der, 1)
    items = []
    while i < len(der):
        tag = der[i]
        n, j = length(der, i + 1)
        items.append((tag, der[j:j + n]))
        i = j + n
    return items


def enveloped_key(sign_pub, enc_key_pem, compact=False):
    """ENVELOPEDKEYBLOB for the SM2 private key in enc_key_pem, sent to the
    container whose signature public key is sign_pub (a PubBlob, or PEM
    bytes): a fresh SM4 key, the private key SM4-ECB under it, the SM4 key
    SM2-encrypted to sign_pub."""
    with tempfile.TemporaryDirectory() as t:
        key_path, pub_path = os.path.join(t, "enc.pem"), os.path.join(t, "sign.pem")
        with open(key_path, "wb") as f:
            f.write(enc_key_pem)
        with open(pub_path, "wb") as f:
            f.write(sign_pub if isinstance(sign_pub, bytes) else pub_pem(sign_pub))
        text = subprocess.run(["openssl", "pkey", "-in", key_path, "-noout", "-text"], capture_output=True,
                              check=True, text=True).stdout
        priv, pub, part = "", "", None
        for line in text.splitlines():
            if line.startswith("priv:"):
                part = "priv"
            elif line.startswith("pub:"):
                part = "pub"
            elif line.startswith("ASN1") or not line.startswith(" "):
                part = None
            elif part == "priv":
                priv += line.strip().replace(":", "")
            elif part == "pub":
                pub += line.strip().replace(":", "")
        d = bytes.fromhex(priv)[-32:].rjust(32, b"\0")
        point = bytes.fromhex(pub)
        sym = os.urandom(16)
        plain = d + bytes(32) if compact else bytes(32) + d
        enc = subprocess.run(["openssl", "enc", "-sm4-ecb", "-nopad", "-K", sym.hex()], input=plain,
                             capture_output=True, check=True).stdout
        ct = subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pub_path], input=sym,
                            capture_output=True, check=True).stdout
    (_, x), (_, y), (_, h), (_, c2) = _der_items(ct)
    blob = EnvelopedKeyBlob(Version=1, ulSymmAlgID=SGD_SM4_ECB, ulBits=256)
    ctypes.memmove(blob.cbEncryptedPriKey, enc, 64)
    blob.PubKey.BitLen = 256
    ctypes.memmove(ctypes.addressof(blob.PubKey.X) + 32, point[1:33], 32)
    ctypes.memmove(ctypes.addressof(blob.PubKey.Y) + 32, point[33:65], 32)
    cb = blob.ECCCipherBlob
    ctypes.memmove(ctypes.addressof(cb.X) + 32, x.lstrip(b"\0")[-32:].rjust(32, b"\0"), 32)
    ctypes.memmove(ctypes.addressof(cb.Y) + 32, y.lstrip(b"\0")[-32:].rjust(32, b"\0"), 32)
    ctypes.memmove(cb.HASH, h, 32)
    cb.CipherLen = len(c2)
    ctypes.memmove(cb.Cipher, c2, len(c2))
    return blob, point
