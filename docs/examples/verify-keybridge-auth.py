#!/usr/bin/env python3
"""Verify a keybridge-auth-1 login signature on a portal's server.

    verify-keybridge-auth.py --origin https://portal.example.cn \\
        --challenge BASE64 [--cafile ca.pem] < response.json

response.json is what POST /v1/tokens/{token}/authenticate returned to the
page (the page forwards it to the server). The server must use the challenge
IT issued (random, >= 16 bytes, single use) and ITS OWN origin, never values
taken from the page. Exit status 0 and the certificate subject on stdout when
the signature verifies; 1 otherwise. Needs only Python 3 and the openssl CLI.

The signed message is SHA-256(origin) || SHA-256(challenge) (64 bytes), signed
with the algorithm named in the response: RSA-PKCS1-SHA256, ECDSA-SHA256, or
SM2-SM3 with the GM/T default ID 1234567812345678.
"""
import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ALGORITHMS = {"RSA-PKCS1-SHA256": ["-sha256"], "ECDSA-SHA256": ["-sha256"],
              "SM2-SM3": ["-sm3", "-sigopt", "distid:1234567812345678"]}


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True)


def chains(cafile, cert):
    """Does cert chain to a CA in cafile? SM2 CAs sign with the GM/T ID,
    which openssl verify must be told."""
    return any(openssl("verify", *opts, "-CAfile", cafile, cert).returncode == 0
               for opts in ([], ["-vfyopt", "distid:1234567812345678"]))


def verify(response, origin, challenge, cafile=None):
    """Returns the certificate subject, or raises ValueError saying why not."""
    if response.get("format") != "keybridge-auth-1":
        raise ValueError("not a keybridge-auth-1 response")
    digest = ALGORITHMS.get(response.get("algorithm"))
    if not digest:
        raise ValueError("unknown algorithm")
    message = hashlib.sha256(origin.encode()).digest() + hashlib.sha256(challenge).digest()
    signature = base64.b64decode(response["signature"], validate=True)
    with tempfile.TemporaryDirectory() as t:
        cert = os.path.join(t, "cert.pem")
        with open(cert, "w") as f:
            f.write(response["certificate"])
        if cafile and not chains(cafile, cert):
            raise ValueError("certificate does not chain to the CA")
        pub = openssl("x509", "-in", cert, "-noout", "-pubkey")
        if pub.returncode != 0:
            raise ValueError("bad certificate")
        paths = {n: os.path.join(t, n) for n in ("pub.pem", "sig", "msg")}
        for name, data in (("pub.pem", pub.stdout), ("sig", signature), ("msg", message)):
            with open(paths[name], "wb") as f:
                f.write(data)
        if openssl("dgst", *digest, "-verify", paths["pub.pem"], "-signature", paths["sig"], paths["msg"]).returncode:
            raise ValueError("signature does not verify for this origin and challenge")
        return openssl("x509", "-in", cert, "-noout", "-subject", "-nameopt", "utf8").stdout.decode().strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--challenge", required=True, help="the challenge the server issued, base64")
    ap.add_argument("--cafile")
    a = ap.parse_args()
    try:
        print(verify(json.load(sys.stdin), a.origin, base64.b64decode(a.challenge, validate=True), a.cafile))
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"rejected: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
