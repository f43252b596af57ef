#!/usr/bin/env python3
"""Verify GM/T 0010 SignedData (SM2 CMS) on a portal's or CA's server.

    verify-gmt-signed-data.py signed.der data.bin signer.pem

OpenSSL 3.0's cms command cannot read GM/T 0010 (its own OIDs: SignedData
1.2.156.10197.6.1.4.2.2, data 1.2.156.10197.6.1.4.2.1, SM3 and SM2-1). This
checks what keybridge makes: a detached SM2 renewal proof (data: the CSR's
DER) or a cms-detached signature. The signer's certificate must be the one
in the SignedData; the messageDigest must be SM3 of the data; the SM2
signature over the signed attributes must verify with the GM/T default ID
1234567812345678. It does not check the certificate's chain: do that with
`openssl verify -vfyopt distid:1234567812345678` for an SM2 CA. Exit status 0
and "OK" when it verifies; 1 and what is wrong otherwise. Needs only
Python 3 and the openssl CLI.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

OID_GMT_DATA, OID_GMT_SIGNED = "1.2.156.10197.6.1.4.2.1", "1.2.156.10197.6.1.4.2.2"
OID_SM3, OID_SM2_1 = "1.2.156.10197.1.401", "1.2.156.10197.1.301.1"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
GMT_ID = "1234567812345678"


def der_tlv(der, i=0):
    """(tag, start of value, end of value) of the DER item at i."""
    tag, n = der[i], der[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(der[j:j + k], "big")
        j += k
    if j + n > len(der):
        raise ValueError("an item runs past the end")
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


def sm2_verifies(cert_der, message, sig_der, ident=GMT_ID):
    """openssl's word on an SM2-SM3 signature of message with the ID."""
    with tempfile.TemporaryDirectory() as t:
        pub = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"], input=cert_der,
                             capture_output=True, check=True).stdout
        paths = {n: os.path.join(t, n) for n in ("pub.pem", "msg", "sig")}
        for name, data in (("pub.pem", pub), ("msg", message), ("sig", sig_der)):
            with open(paths[name], "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["pub.pem"], "-rawin",
                            "-digest", "sm3", "-pkeyopt", "distid:" + ident, "-in", paths["msg"],
                            "-sigfile", paths["sig"]], capture_output=True)
        return r.returncode == 0


def first_oid(der, item):
    """The OID that opens an AlgorithmIdentifier (or any SEQUENCE) item."""
    oid = der_children(der, item[2], item[3])[0]
    return oid_text(der[oid[2]:oid[3]])


def signed_attributes(der, attrs):
    found = {}
    for _, _, avs, ave in der_children(der, attrs[2], attrs[3]):
        (_, _, ovs, ove), (_, _, svs, sve) = der_children(der, avs, ave)
        value = der_children(der, svs, sve)[0]
        found[oid_text(der[ovs:ove])] = der[value[2]:value[3]]
    return found


def is_gmt_signed_data(der):
    """Does der open with GM/T 0010's SignedData contentType (as opposed to
    RFC 5652's, which openssl cms verifies)?"""
    try:
        _, s, e = der_tlv(der)
        _, ovs, ove = der_tlv(der, s)
        return oid_text(der[ovs:ove]) == OID_GMT_SIGNED
    except (ValueError, IndexError):
        return False


def problems(der, data, cert_der):
    """What is wrong with der as GM/T 0010 detached SignedData of data by
    cert_der's key: [] when it is right."""
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
        _, _, dalg, attrs, salg, sig = der_children(der, *der_children(der, signers[2], signers[3])[0][2:])
        algorithms = [first_oid(der, dalg), first_oid(der, salg)]
        if algorithms != [OID_SM3, OID_SM2_1]:
            return [f"algorithms {algorithms}, not SM3 and SM2-1"]
        if signed_attributes(der, attrs).get(OID_MESSAGE_DIGEST) != hashlib.new("sm3", data).digest():
            return ["messageDigest is not SM3 of the data"]
        signed = b"\x31" + der[attrs[1] + 1:attrs[3]]   # the SET OF the [0] IMPLICIT stands for
        if not sm2_verifies(cert_der, signed, der[sig[2]:sig[3]]):
            return ["the signature does not verify"]
    except (ValueError, IndexError) as e:
        return [f"not DER as expected: {e}"]
    return []


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        der = f.read()
    with open(sys.argv[2], "rb") as f:
        data = f.read()
    cert = subprocess.run(["openssl", "x509", "-in", sys.argv[3], "-outform", "DER"], capture_output=True)
    if cert.returncode:
        sys.exit("not a PEM certificate: " + sys.argv[3])
    wrong = problems(der, data, cert.stdout)
    print("\n".join(wrong) if wrong else "OK")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
