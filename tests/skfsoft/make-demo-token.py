#!/usr/bin/env python3
"""The demo's SM2 token: a device of the software SKF library in DIR, with
an application (user PIN 123456, administrator PIN 12345678), a container
holding a signature key pair and its certificate and an encryption key pair
delivered as a KMC would (ENVELOPEDKEYBLOB), both certified by an SM2 demo
CA made with openssl in DIR/ca.

    make-demo-token.py LIBRARY DIR
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    library, root = sys.argv[1], os.path.abspath(sys.argv[2])
    devices, ca_dir = os.path.join(root, "devices"), os.path.join(root, "ca")
    os.makedirs(devices, exist_ok=True)
    os.makedirs(ca_dir, exist_ok=True)
    os.environ["KB_SKFSOFT_DIR"] = devices
    from skf import Skf, make_device  # the library reads KB_SKFSOFT_DIR when it loads
    from skftest import SM2CA, provision
    ca = SM2CA(ca_dir)
    make_device(devices, "demo-sm2", "GM2026DEMO0001", "keybridge SM2 demo")
    provision(Skf(library), ca, "demo-sm2", pin=b"123456", initial=b"000000", cn="Demo SM2 User")


if __name__ == "__main__":
    main()
