#!/usr/bin/env python3
"""Make GM/T 0010 EnvelopedData (an SM2 digital envelope) on a portal's server.

    make-gmt-enveloped-data.py recipient.pem plain.bin > envelope.der

OpenSSL 3.0's cms command cannot write GM/T 0010 (its own OIDs:
EnvelopedData 1.2.156.10197.6.1.4.2.3, data 1.2.156.10197.6.1.4.2.1,
SM2-3 encryption 1.2.156.10197.1.301.3, SM4-CBC 1.2.156.10197.1.104.2),
but it has every primitive: this builds the envelope from them, the way a
tendering portal seals a bid to the bidder's encryption certificate.

  - a fresh SM4 key and IV; the content SM4-CBC with PKCS#7 padding
    (`openssl enc -sm4-cbc`);
  - the SM4 key SM2-encrypted to the certificate's public key
    (`openssl pkeyutl -encrypt`: a DER SM2Cipher, GM/T 0009's C1 C3 C2);
  - one RecipientInfo naming the certificate by issuer and serial number.

keybridge opens it on the token (POST /v1/tokens/{token}/decrypt): the SKF
token imports the SM4 key under the container's encryption key
(SKF_ImportSessionKey) and decrypts the content (SKF_Decrypt). Needs only
Python 3 and the openssl CLI. As a module: envelope(cert_der, plain).
"""
import os
import subprocess
import sys
import tempfile

OID_GMT_DATA, OID_GMT_ENVELOPED = "1.2.156.10197.6.1.4.2.1", "1.2.156.10197.6.1.4.2.3"
OID_SM2_3, OID_SM4_CBC = "1.2.156.10197.1.301.3", "1.2.156.10197.1.104.2"


def der(tag, value):
    """One DER item: tag, definite length, value."""
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + value


def seq(*items):
    return der(0x30, b"".join(items))


def oid(text):
    parts = [int(p) for p in text.split(".")]
    out = bytearray([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        while p > 0x7F:
            p >>= 7
            chunk.append(0x80 | (p & 0x7F))
        out += bytes(reversed(chunk))
    return der(0x06, bytes(out))


def tlv(data, i=0):
    """(tag, start of value, end of value) of the DER item at i."""
    tag, n, j = data[i], data[i + 1], i + 2
    if n & 0x80:
        k = n & 0x7F
        n, j = int.from_bytes(data[j:j + k], "big"), j + k
    return tag, j, j + n


def issuer_and_serial(cert_der):
    """The certificate's issuer Name and serial INTEGER, as DER."""
    _, tbs_start, _ = tlv(cert_der)
    _, i, end = tlv(cert_der, tbs_start)        # TBSCertificate's value
    items = []
    while i < end and len(items) < 4:
        tag, vs, ve = tlv(cert_der, i)
        items.append(cert_der[i:ve])
        i = ve
    if items[0][0] == 0xA0:                      # [0] version
        items = items[1:]
    serial, issuer = items[0], items[2]
    return seq(issuer, serial)


def openssl(args, data):
    return subprocess.run(["openssl"] + args, input=data, capture_output=True, check=True).stdout


def sm2_encrypt(cert_der, key):
    with tempfile.TemporaryDirectory() as tmp:
        cert = os.path.join(tmp, "cert.der")
        with open(cert, "wb") as f:
            f.write(cert_der)
        pub = openssl(["x509", "-inform", "DER", "-in", cert, "-pubkey", "-noout"], b"")
        pub_path = os.path.join(tmp, "pub.pem")
        with open(pub_path, "wb") as f:
            f.write(pub)
        return openssl(["pkeyutl", "-encrypt", "-pubin", "-inkey", pub_path], key)


def envelope(cert_der, plain, key=None, iv=None):
    """DER ContentInfo of GM/T 0010 EnvelopedData: plain sealed to cert_der."""
    key = key or os.urandom(16)
    iv = iv or os.urandom(16)
    content = openssl(["enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex()], plain)
    recipient = seq(der(0x02, b"\x00"), issuer_and_serial(cert_der),
                    seq(oid(OID_SM2_3), der(0x05, b"")), der(0x04, sm2_encrypt(cert_der, key)))
    encrypted = seq(oid(OID_GMT_DATA), seq(oid(OID_SM4_CBC), der(0x04, iv)), der(0x80, content))
    enveloped = seq(der(0x02, b"\x00"), der(0x31, recipient), encrypted)
    return seq(oid(OID_GMT_ENVELOPED), der(0xA0, enveloped))


def cert_from_file(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        data = openssl(["x509", "-outform", "DER"], data)
    return data


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    with open(sys.argv[2], "rb") as f:
        plain = f.read()
    sys.stdout.buffer.write(envelope(cert_from_file(sys.argv[1]), plain))


if __name__ == "__main__":
    main()
