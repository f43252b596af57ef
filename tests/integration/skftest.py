"""What the SKF integration tests share: an openssl SM2 CA that signs with
the GM/T ID, a token provisioned the way a CA's issuing software does it,
and checks of SM2 signatures with the openssl CLI."""
import ctypes
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "skfsoft"))
from skf import HANDLE, SGD_SM2_1, ULONG, USER, PubBlob, enveloped_key, pub_pem  # noqa: E402

GMT = ["-sm3", "-sigopt", "distid:1234567812345678"]
GMT_ID = "1234567812345678"


class SM2CA:
    """An openssl SM2 CA that signs with the GM/T ID."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.key = os.path.join(tmp, "ca.key")
        self.cert = os.path.join(tmp, "ca.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", self.key], check=True)
        subprocess.run(["openssl", "req", "-new", "-x509", "-key", self.key, *GMT, "-subj", "/CN=GM Test CA",
                        "-days", "30", "-out", self.cert], check=True, capture_output=True)

    def issue(self, pub, cn, usage, days=365):
        """A certificate for the PEM public key pub; cn may be Chinese."""
        pub_path, ext, out = (os.path.join(self.tmp, n) for n in ("pub.pem", "ext", "cert.der"))
        with open(pub_path, "wb") as f:
            f.write(pub)
        with open(ext, "w") as f:
            f.write(f"keyUsage=critical,{usage}\n")
        subprocess.run(["openssl", "x509", "-new", "-subj", f"/O=keybridge test/CN={cn}", "-force_pubkey",
                        pub_path, "-CA", self.cert, "-CAkey", self.key, *GMT, "-days", str(days),
                        "-extfile", ext, "-outform", "DER", "-out", out], check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def buf(b):
    return (ctypes.c_uint8 * len(b)).from_buffer_copy(b)


def provision(skf, ca, device, pin=b"11223344", container=b"sign-2026", sign_cert_pub=None, initial=b"123456",
              cn="GM User", encryption=True, sign_alg=SGD_SM2_1):
    """An application GMCA (admin PIN 12345678, user PIN changed from the
    CA's initial PIN to pin), a container with a signature key pair and
    its certificate, and (with encryption) an encryption key pair delivered
    in an ENVELOPEDKEYBLOB with its certificate. sign_cert_pub: certify this
    public key instead of the container's (a certificate that does not
    match the key). sign_alg: the device's SGD_SM2_1. Returns (signature cert DER, encryption cert DER or None)."""
    dev = skf.connect(device)
    skf.dev_auth(dev)
    app, c, pub = HANDLE(), HANDLE(), PubBlob()
    skf.CreateApplication(dev, b"GMCA", b"12345678", 10, initial, 6, 0x10, ctypes.byref(app))
    skf.VerifyPIN(app, USER, initial, ctypes.byref(ULONG()))
    if pin != initial:
        skf.ChangePIN(app, USER, initial, pin, ctypes.byref(ULONG()))
    skf.CreateContainer(app, container, ctypes.byref(c))
    skf.GenECCKeyPair(c, sign_alg, ctypes.byref(pub))
    sign_der = ca.issue(sign_cert_pub or pub_pem(pub), cn, "digitalSignature,nonRepudiation")
    skf.ImportCertificate(c, True, buf(sign_der), len(sign_der))
    enc_der = None
    if encryption:
        enc_key, enc_pub = sm2_key_pair()
        blob, _ = enveloped_key(pub, enc_key)
        skf.ImportECCKeyPair(c, ctypes.byref(blob))
        enc_der = ca.issue(enc_pub, cn, "keyEncipherment,dataEncipherment")
        skf.ImportCertificate(c, False, buf(enc_der), len(enc_der))
    skf.CloseContainer(c)
    skf.CloseApplication(app)
    skf.DisConnectDev(dev)
    return sign_der, enc_der


def sm2_key_pair():
    """A fresh SM2 key pair, as the KMC makes an encryption pair: (private PEM, public PEM)."""
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True, check=True).stdout
    pub = subprocess.run(["openssl", "pkey", "-pubout"], input=key, capture_output=True, check=True).stdout
    return key, pub


def cert_pubkey_pem(der):
    return subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"], input=der,
                          capture_output=True, check=True).stdout


def sm2_verifies(cert_der, message, sig_der, ident=GMT_ID):
    """openssl's word on an SM2-SM3 signature of message with the ID."""
    with tempfile.TemporaryDirectory() as t:
        paths = {n: os.path.join(t, n) for n in ("pub.pem", "msg", "sig")}
        for name, data in (("pub.pem", cert_pubkey_pem(cert_der)), ("msg", message), ("sig", sig_der)):
            with open(paths[name], "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["pub.pem"], "-rawin",
                            "-digest", "sm3", "-pkeyopt", "distid:" + ident, "-in", paths["msg"],
                            "-sigfile", paths["sig"]], capture_output=True)
        return r.returncode == 0


def der_tlv(der, i=0):
    """(tag, start of value, end of value) of the DER item at i."""
    tag, n = der[i], der[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(der[j:j + k], "big")
        j += k
    return tag, j, j + n


def der_children(der, start, end):
    """The items between start and end as (tag, item start, value start, value end)."""
    out, i = [], start
    while i < end:
        tag, vs, ve = der_tlv(der, i)
        out.append((tag, i, vs, ve))
        i = ve
    return out


def oid_text(value):
    """Dotted text of an OID's content bytes."""
    first = value[0]
    parts, n = [first // 40, first % 40], 0
    for b in value[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))


OID_GMT_DATA, OID_GMT_SIGNED = "1.2.156.10197.6.1.4.2.1", "1.2.156.10197.6.1.4.2.2"
OID_SM3, OID_SM2_1 = "1.2.156.10197.1.401", "1.2.156.10197.1.301.1"


def gmt_signed_data_problems(der, data, cert_der):
    """What is wrong with der as GM/T 0010 detached SignedData of data by
    cert_der's key: [] when it is right (the OIDs, the messageDigest, and
    the SM2 signature over the signed attributes, checked by openssl)."""
    try:
        _, s, e = der_tlv(der)
        (_, _, ovs, ove), (_, _, vs, _) = der_children(der, s, e)
        if oid_text(der[ovs:ove]) != OID_GMT_SIGNED:
            return ["contentType is not GM/T SignedData"]
        _, sds, sde = der_tlv(der, vs)
        _, _, content, certs, signers = der_children(der, sds, sde)
        if len(der_children(der, content[2], content[3])) != 1:
            return ["the content is not detached"]
        if der[certs[2]:certs[3]] != cert_der:
            return ["the certificate is not the signer's"]
        si = der_children(der, *der_children(der, signers[2], signers[3])[0][2:])
        _, _, dalg, attrs, salg, sig = si
        oids = [oid_text(der[x[2]:x[3]]) for x in (der_children(der, dalg[2], dalg[3])[0],
                                                  der_children(der, salg[2], salg[3])[0])]
        if oids != [OID_SM3, OID_SM2_1]:
            return [f"algorithms {oids}"]
        found = {}
        for _, _, avs, ave in der_children(der, attrs[2], attrs[3]):
            (_, _, aovs, aove), (_, _, svs, sve) = der_children(der, avs, ave)
            value = der_children(der, svs, sve)[0]
            found[oid_text(der[aovs:aove])] = der[value[2]:value[3]]
        if found.get("1.2.840.113549.1.9.4") != hashlib.new("sm3", data).digest():
            return ["messageDigest is not SM3 of the data"]
        signed = b"\x31" + der[attrs[1] + 1:attrs[3]]
        if not sm2_verifies(cert_der, signed, der[sig[2]:sig[3]]):
            return ["the signature does not verify"]
    except (ValueError, IndexError) as e:
        return [f"not DER as expected: {e}"]
    return []
