#!/usr/bin/env python3
"""The demo's SM2 tokens: devices of the software SKF library in DIR/devices,
and the SM2 demo CA (made with openssl) in DIR/ca.

- demo-sm2: an application (user PIN 123456, administrator PIN 12345678), a
  container holding a signature key pair and its certificate and an
  encryption key pair delivered as a KMC would (ENVELOPEDKEYBLOB), both
  certified by the SM2 demo CA;
- demo-sm2-blank: a formatted, empty token, as the CA hands it out for a
  remote download (远程下载): the application with the same PINs, no
  container;
- with --unformatted NAME, also a device with no application at all (a
  token its CA has not formatted).

What exists already is kept, so the script can run again on an older DIR
to add what is missing, but for demo-sm2-blank once it is no longer blank:
when it holds a certificate with its key (a download went to it), has no
application, or its user PIN is locked or is not 123456 any more, the
device is removed and made again (same serial). A line on stdout says
what is made and why. --only-blank makes the CA and demo-sm2-blank only.

    make-demo-token.py [--only-blank] [--unformatted NAME] LIBRARY DIR
"""
import argparse
import ctypes
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

PIN, ADMIN_PIN, INITIAL_PIN = b"123456", b"12345678", b"000000"
CA_DAYS = 3650      # outlives the 1822-day certificates the demo RA issues


def demo_ca(ca_dir):
    """The SM2 demo CA of DIR/ca, made on first use (ten years)."""
    from skftest import GMT, SM2CA
    ca = SM2CA.__new__(SM2CA)
    ca.tmp, ca.key, ca.cert = ca_dir, os.path.join(ca_dir, "ca.key"), os.path.join(ca_dir, "ca.pem")
    if not os.path.exists(ca.cert):
        subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", ca.key], check=True)
        subprocess.run(["openssl", "req", "-new", "-x509", "-key", ca.key, *GMT, "-utf8",
                        "-subj", "/C=CN/O=keybridge test/CN=keybridge SM2 演示 CA", "-days", str(CA_DAYS),
                        "-out", ca.cert], check=True, capture_output=True)
    return ca


def blank(skf, device):
    """The application of a formatted token: PINs, no container. The CA's
    initial PIN is changed to the user's, as the CA's software does when
    it hands the token out (a default PIN would have to be changed first)."""
    from skf import HANDLE, ULONG, USER
    dev = skf.connect(device)
    skf.dev_auth(dev)
    app = HANDLE()
    skf.CreateApplication(dev, b"GMCA", ADMIN_PIN, 10, INITIAL_PIN, 6, 0x10, ctypes.byref(app))
    skf.VerifyPIN(app, USER, INITIAL_PIN, ctypes.byref(ULONG()))
    skf.ChangePIN(app, USER, INITIAL_PIN, PIN, ctypes.byref(ULONG()))
    skf.CloseApplication(app)
    skf.DisConnectDev(dev)


def not_blank(skf, devices, device):
    """Why the blank demo device is not as the demo says it is, or None:
    blank means an application with the user PIN 123456 and no certificate
    with its key (a key without a certificate, a request's, still is)."""
    from skf import ULONG, USER, SkfError
    if not os.path.isdir(os.path.join(devices, device)):
        return "missing"
    try:
        dev = skf.connect(device)
    except SkfError as e:
        return f"cannot be opened ({e.name})"
    try:
        if "GMCA" not in skf.names("EnumApplication", dev):
            return "it has no application"
        app = skf.open(dev, "Application", "GMCA")
        try:
            if skf.pin_info(app)[1] == 0:
                return "its user PIN is locked"
            try:
                skf.VerifyPIN(app, USER, PIN, ctypes.byref(ULONG()))
            except SkfError:
                return "its user PIN is not 123456"
            skf.ClearSecureState(app)
            for name in skf.names("EnumContainer", app):
                c = skf.open(app, "Container", name)
                try:
                    for sign in (True, False):
                        try:
                            skf.export("ExportCertificate", c, sign)
                            skf.export("ExportPublicKey", c, sign)
                        except SkfError:
                            continue
                        return f"it holds a certificate with its key (container {name})"
                finally:
                    skf.CloseContainer(c)
        finally:
            skf.CloseApplication(app)
    finally:
        skf.DisConnectDev(dev)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only-blank", action="store_true", help="the CA and the blank token only")
    ap.add_argument("--unformatted", metavar="NAME", help="also a device NAME with no application")
    ap.add_argument("library")
    ap.add_argument("dir")
    a = ap.parse_args()
    root = os.path.abspath(a.dir)
    devices, ca_dir = os.path.join(root, "devices"), os.path.join(root, "ca")
    os.makedirs(devices, exist_ok=True)
    os.makedirs(ca_dir, exist_ok=True)
    os.environ["KB_SKFSOFT_DIR"] = devices
    from skf import Skf, make_device, reexec_with_preload  # the library reads KB_SKFSOFT_DIR when it loads
    reexec_with_preload()   # an ASan build of the library needs its runtime first
    from skftest import provision
    ca = demo_ca(ca_dir)
    skf = Skf(a.library)
    if not a.only_blank and not os.path.isdir(os.path.join(devices, "demo-sm2")):
        make_device(devices, "demo-sm2", "GM2026DEMO0001", "keybridge SM2 demo")
        provision(skf, ca, "demo-sm2", pin=PIN, initial=INITIAL_PIN, cn="Demo SM2 User")
    why = not_blank(skf, devices, "demo-sm2-blank")
    if why == "missing":
        print("making the blank SM2 token demo-sm2-blank", flush=True)
    elif why:
        print(f"making the blank SM2 token demo-sm2-blank again: {why}", flush=True)
        shutil.rmtree(os.path.join(devices, "demo-sm2-blank"))
    if why:
        make_device(devices, "demo-sm2-blank", "GM2026DEMO0002", "keybridge SM2 blank")
        blank(skf, "demo-sm2-blank")
    if a.unformatted and not os.path.isdir(os.path.join(devices, a.unformatted)):
        make_device(devices, a.unformatted, "GM2026DEMO0003", "keybridge SM2 unformatted")


if __name__ == "__main__":
    main()
