#!/usr/bin/env python3
"""Certificate renewal on SM2 tokens of the SKF backend, through the real
daemon, the project's software SKF token and an openssl SM2 CA.

The request makes a new container with a new SM2 signature key pair; its
CSR is signed by that key with SM2-SM3 and the GM/T ID, its proof is GM/T
0010 SignedData by the current key (both checked with openssl). The
install writes the new certificate into the new container (the commit
point), imports a double certificate's encryption pair from its
ENVELOPEDKEYBLOB before that and its certificate after it, and then
deletes the old container, unless that one holds an encryption pair of
its own, which stays. The token is read straight from the software
token's files, not through the daemon."""
import base64
import glob
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
from skf import Skf, enveloped_key, make_device, reexec_with_preload  # noqa: E402
from skftest import (SM2CA, cert_pubkey_pem, gmt_signed_data_problems, provision, skf_daemon,  # noqa: E402
                     skf_dirs, sm2_key_pair, sm2_verifies, wait_token)

LIB = os.environ.get("KB_SKFSOFT_SO")
PAGE_PIN = "https://pagepin.example.cn"
PIN = "11223344"
APP = "GMCA"
GMT_ID = "1234567812345678"


def b64(b):
    return base64.b64encode(b).decode()


def pem_to_der(pem):
    return subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem, capture_output=True,
                          check=True).stdout


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()


def listed(c):
    """A listed certificate's SHA-256, as fingerprint() gives it."""
    return c["fingerprintSha256"].replace(":", "").lower()


def der_to_pem(der):
    return subprocess.run(["openssl", "x509", "-inform", "DER"], input=der, capture_output=True,
                          check=True).stdout.decode()


def csr_pubkey(csr_pem):
    return subprocess.run(["openssl", "req", "-noout", "-pubkey"], input=csr_pem.encode(), capture_output=True,
                          check=True).stdout


class Token:
    """One software SKF device's containers, read from its files."""

    def __init__(self, root, device):
        self.dir = os.path.join(root, device, APP, "c")

    def containers(self):
        return sorted(os.listdir(self.dir))

    def read(self, container, part):
        try:
            with open(os.path.join(self.dir, container, part), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def key_is_certs(self, container, slot):
        """Does the container's sign or enc key pair belong to its certificate?"""
        key, cert = self.read(container, f"{slot}.key"), self.read(container, f"{slot}.crt")
        if key is None or cert is None:
            return False
        pub = subprocess.run(["openssl", "pkey", "-pubout"], input=key, capture_output=True, check=True).stdout
        return pub == cert_pubkey_pem(cert)

    def user_pin_left(self):
        with open(os.path.join(os.path.dirname(self.dir), "app.json")) as f:
            return json.load(f)["user"]["left"]

    def holding(self, der):
        """[(container, slot)] holding the certificate der."""
        return [(c, slot) for c in self.containers() for slot in ("sign", "enc") if self.read(c, f"{slot}.crt") == der]


class CA(SM2CA):
    """The test CA's side of an SM2 renewal: the signature certificate for
    a CSR, and a KMC-made encryption pair sent to the CSR's key."""

    def sign_cert(self, csr_pem, cn="GM User"):
        return self.issue(csr_pubkey(csr_pem), cn, "digitalSignature,nonRepudiation")

    def encryption(self, csr_pem, cn="GM User", usage="keyEncipherment,dataEncipherment"):
        """(certificate DER, ENVELOPEDKEYBLOB bytes, private key PEM) of a
        new encryption pair, sent to the CSR's key."""
        key, pub = sm2_key_pair()
        blob, _ = enveloped_key(csr_pubkey(csr_pem), key)
        return self.issue(pub, cn, usage), bytes(blob), key


class Fixture:
    def start(cls):
        cls.tmp, cls.root, cls.control = skf_dirs("kb-skf-renewal-")
        cls.skf = Skf(LIB)
        cls.ca = CA(cls.tmp)
        cls.old = {}
        for device, serial, double in (("renewkey", "GM2026120001", False), ("dualkey", "GM2026120002", True),
                                       ("errkey", "GM2026120003", False), ("cancelkey", "GM2026120004", True),
                                       ("refusekey", "GM2026120005", False), ("usagekey", "GM2026120006", False),
                                       ("orphankey", "GM2026120007", True), ("portalkey", "GM2026120008", False),
                                       ("samekey", "GM2026120009", False), ("mixkey", "GM2026120010", False),
                                       ("stubbornkey", "GM2026120011", False)):
            make_device(cls.root, device, serial, device)
            cls.old[serial] = provision(cls.skf, cls.ca, device, encryption=double)
        cls.d = skf_daemon(cls.tmp, cls.root, cls.control, PAGE_PIN, LIB, ["--poll-interval-ms", "200"])
        cls.d.start()

    def stop(cls):
        cls.d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)


F = Fixture()


def setUpModule():
    F.start()


def tearDownModule():
    log = F.d.log_text()
    F.stop()
    if PIN in log:
        raise AssertionError("the PIN is in the daemon's log")


class SkfRenewal(unittest.TestCase):
    def __getattr__(self, name):
        return getattr(F, name)

    def token(self, serial, timeout=10):
        token, body = wait_token(self.d, serial, timeout)
        return token or self.fail(f"token {serial} never showed: {body}")

    def sign_cert(self, serial, der=None):
        der = der or self.old[serial][0]
        t = self.token(serial)
        for c in t["certificates"]:
            if listed(c) == fingerprint(der):
                return t, c
        self.fail(f"{serial}: the certificate is not listed")

    def post(self, t, what, body, pin=PIN):
        return self.d.request("POST", f"/v1/tokens/{t['id']}/{what}", body=dict(body, pin=pin), origin=PAGE_PIN)

    def request(self, serial, **extra):
        t, c = self.sign_cert(serial)
        st, _, body = self.post(t, "renewal/request", dict({"certificate": c["id"]}, **extra))
        self.assertEqual(st, 200, body)
        return t, c, body

    def install(self, t, old, req, cert_der, encryption=None):
        body = {"requestId": req["requestId"], "replaces": old["id"], "certificate": der_to_pem(cert_der)}
        if encryption:
            body["encryption"] = {"certificate": b64(encryption[0]), "envelopedKey": b64(encryption[1])}
        return self.post(t, "renewal/install", body)

    def container_of(self, req):
        name = bytes.fromhex(req["keyId"]).decode()
        self.assertTrue(name.startswith("keybridge-"), name)
        return name

    def test_the_request_is_an_sm2_csr_by_a_new_container_with_a_gmt_proof(self):
        tok = Token(self.root, "cancelkey")
        before = tok.containers()
        t, old, req = self.request("GM2026120004")
        name = self.container_of(req)
        self.assertEqual(tok.containers(), sorted(before + [name]))
        self.assertIsNotNone(tok.read(name, "sign.key"))
        self.assertIsNone(tok.read(name, "sign.crt"))
        with tempfile.NamedTemporaryFile("w", suffix=".csr") as f:
            f.write(req["csr"])
            f.flush()
            def verify(ident):
                out = subprocess.run(["openssl", "req", "-in", f.name, "-noout", "-verify", "-vfyopt",
                                      f"distid:{ident}"], capture_output=True, text=True)
                return out.stdout + out.stderr
            self.assertIn("verify OK", verify(GMT_ID))
            self.assertNotIn("verify OK", verify("8765432187654321"), "the CSR is signed with the GM/T ID")
            text = subprocess.run(["openssl", "req", "-in", f.name, "-noout", "-text"], capture_output=True,
                                  text=True, check=True).stdout
        self.assertIn("SM2-with-SM3", text)
        old_subject = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253"],
                                     input=self.old["GM2026120004"][0], capture_output=True, check=True).stdout
        csr_subject = subprocess.run(["openssl", "req", "-noout", "-subject", "-nameopt", "RFC2253"],
                                     input=req["csr"].encode(), capture_output=True, check=True).stdout
        self.assertEqual(csr_subject, old_subject)
        csr_der = subprocess.run(["openssl", "req", "-outform", "DER"], input=req["csr"].encode(),
                                 capture_output=True, check=True).stdout
        proof = base64.b64decode(req["proof"])
        self.assertEqual(gmt_signed_data_problems(proof, csr_der, self.old["GM2026120004"][0]), [])
        self.assertNotEqual(gmt_signed_data_problems(proof, csr_der + b"x", self.old["GM2026120004"][0]), [])
        st, _, body = self.post(t, f"renewal/{req['requestId']}/cancel", {})
        self.assertEqual(st, 200, body)
        self.assertEqual(tok.containers(), before, "the cancelled request's container went")

    def test_a_double_certificate_replaces_the_old_container(self):
        serial, tok = "GM2026120001", Token(self.root, "renewkey")
        (old_name,) = tok.containers()
        t, old, req = self.request(serial)
        new_name = self.container_of(req)
        new_der = self.ca.sign_cert(req["csr"])
        enc = self.ca.encryption(req["csr"])
        st, _, body = self.install(t, old, req, new_der, enc)
        self.assertEqual(st, 200, body)
        self.assertTrue(body["finished"], body)
        self.assertEqual(pem_to_der(body["certificate"]["pem"].encode()), new_der)
        self.assertEqual(body["certificate"]["label"], new_name, "a certificate's label is its container's name")
        self.assertEqual(pem_to_der(body["encryption"]["certificate"]["pem"].encode()), enc[0])
        self.assertEqual(tok.containers(), [new_name], f"the old container {old_name} went")
        self.assertEqual(tok.holding(new_der), [(new_name, "sign")])
        self.assertEqual(tok.holding(enc[0]), [(new_name, "enc")])
        self.assertTrue(tok.key_is_certs(new_name, "sign"))
        self.assertTrue(tok.key_is_certs(new_name, "enc"), "the imported encryption key is the certificate's")
        self.assertEqual(glob.glob(os.path.join(self.d.state, "renewal", "journal", "*.json")), [])
        backups = glob.glob(os.path.join(self.d.state, "renewal", "backup", t["id"], "*.pem"))
        self.assertEqual(len(backups), 1, "the old certificate is kept in the state directory")
        # the page sees the new pair and signs with it
        t, c = self.sign_cert(serial, new_der)
        shown = {listed(x) for x in self.token(serial)["certificates"]}
        self.assertEqual(shown, {fingerprint(new_der), fingerprint(enc[0])})
        st, _, sig = self.post(t, "sign", {"certificate": c["id"], "algorithm": "SM2-SM3",
                                           "items": [{"data": b64(b"after renewal")}], "format": "raw"})
        self.assertEqual(st, 200, sig)
        self.assertTrue(sm2_verifies(new_der, b"after renewal", base64.b64decode(sig["signatures"][0])))
        # the same install again changes nothing and says so
        st, _, again = self.install(t, {"id": old["id"]}, req, new_der, enc)
        self.assertEqual((st, again.get("alreadyInstalled")), (200, True), again)
        self.assertEqual(tok.containers(), [new_name])

    def test_an_old_container_with_an_encryption_pair_stays(self):
        serial, tok = "GM2026120002", Token(self.root, "dualkey")
        (old_name,) = tok.containers()
        old_sign, old_enc = self.old[serial]
        t, old, req = self.request(serial)
        new_name = self.container_of(req)
        new_der = self.ca.sign_cert(req["csr"])
        st, _, body = self.install(t, old, req, new_der)
        self.assertEqual(st, 200, body)
        self.assertTrue(body["finished"], body)
        self.assertEqual(tok.containers(), sorted([old_name, new_name]))
        self.assertEqual(tok.holding(old_enc), [(old_name, "enc")])
        self.assertTrue(tok.key_is_certs(old_name, "enc"), "the old encryption key stays for what was sent to it")
        self.assertEqual(tok.holding(old_sign), [(old_name, "sign")], "it cannot go without its container")
        self.assertEqual(tok.holding(new_der), [(new_name, "sign")])
        st, _, again = self.install(t, old, req, new_der)
        self.assertEqual((st, again.get("alreadyInstalled")), (200, True), again)

    def assertError(self, st, body, status, code, field):
        err = body.get("error", {})
        self.assertEqual((st, err.get("code"), err.get("field")), (status, code, field), body)

    def test_the_demo_portal_issues_for_an_sm2_request_and_checks_its_gmt_proof(self):
        sys.path.insert(0, os.path.join(HERE, ".."))
        import demo_portal
        rsa_ca = os.path.join(self.tmp, "rsa-ca")
        os.makedirs(rsa_ca)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=Demo CA",
                        "-keyout", os.path.join(rsa_ca, "ca.key"), "-out", os.path.join(rsa_ca, "ca.pem"),
                        "-days", "30"], check=True, capture_output=True)
        portal = demo_portal.Portal(rsa_ca, "12345678", "123456", {PAGE_PIN}, trust=[self.ca.cert])
        t, old, req = self.request("GM2026120008")
        old_pem = der_to_pem(self.old["GM2026120008"][0])
        proof = base64.b64decode(req["proof"])
        tampered = b64(proof[:-1] + bytes([proof[-1] ^ 1]))
        with self.assertRaises(demo_portal.DemoError) as refused:
            portal.issue({"csr": req["csr"], "proof": tampered, "certificate": old_pem}, PAGE_PIN)
        self.assertEqual(refused.exception.code, "PROOF_INVALID")
        csr_der = bytearray(subprocess.run(["openssl", "req", "-outform", "DER"], input=req["csr"].encode(),
                                           capture_output=True, check=True).stdout)
        csr_der[-1] ^= 1    # the signature's last byte
        bad_csr = subprocess.run(["openssl", "req", "-inform", "DER"], input=bytes(csr_der), capture_output=True,
                                 check=True).stdout.decode()
        with self.assertRaises(demo_portal.DemoError) as refused:
            portal.issue({"csr": bad_csr, "proof": req["proof"], "certificate": old_pem}, PAGE_PIN)
        self.assertEqual(refused.exception.code, "CSR_INVALID")
        with self.assertRaises(demo_portal.DemoError) as refused:
            portal.issue({"csr": req["csr"], "certificate": old_pem}, PAGE_PIN)
        self.assertEqual(refused.exception.code, "PROOF_INVALID", "a renewal without its proof")
        # the holder of the current key can sign any CSR (a cms-detached
        # signature is a valid proof): one naming someone else gets nothing
        key, _ = sm2_key_pair()
        with tempfile.NamedTemporaryFile() as k:
            k.write(key)
            k.flush()
            other = subprocess.run(["openssl", "req", "-new", "-key", k.name, "-subj", "/O=keybridge test/CN=Someone Else",
                                    "-sm3", "-sigopt", f"distid:{GMT_ID}"], capture_output=True, check=True).stdout
        other_der = subprocess.run(["openssl", "req", "-outform", "DER"], input=other, capture_output=True,
                                   check=True).stdout
        st, _, signed = self.post(t, "sign", {"certificate": old["id"], "algorithm": "SM2-SM3", "format": "cms-detached",
                                              "items": [{"data": b64(other_der)}]})
        self.assertEqual(st, 200, signed)
        with self.assertRaises(demo_portal.DemoError) as refused:
            portal.issue({"csr": other.decode(), "proof": signed["signatures"][0], "certificate": old_pem}, PAGE_PIN)
        self.assertEqual(refused.exception.code, "SUBJECT_MISMATCH")
        issued = portal.issue({"csr": req["csr"], "proof": req["proof"], "certificate": old_pem}, PAGE_PIN)
        self.assertTrue(issued["proofVerified"])
        st, _, body = self.post(t, "renewal/install", {"requestId": req["requestId"], "replaces": old["id"],
                                                       "certificate": issued["certificate"], "chain": issued["chain"]})
        self.assertEqual(st, 200, body)
        self.assertEqual((body["finished"], body["chainStored"]), (True, 0), "SKF has no place for issuers")

    def test_what_a_container_cannot_do_is_refused(self):
        tok = Token(self.root, "refusekey")
        before = {c: tok.read(c, "sign.crt") for c in tok.containers()}
        t, old = self.sign_cert("GM2026120005")
        # before the PIN: a wrong one is not even tried
        st, _, body = self.post(t, "renewal/request", {"certificate": old["id"], "newKey": False}, pin="000000")
        self.assertError(st, body, 400, "BAD_REQUEST", "newKey")
        self.assertEqual(tok.user_pin_left(), 6, "no PIN try was spent")
        st, _, body = self.post(t, "renewal/request", {"certificate": old["id"], "keyType": "RSA-2048"})
        self.assertError(st, body, 400, "UNSUPPORTED_ALGORITHM", "keyType")
        st, _, req = self.post(t, "renewal/request", {"certificate": old["id"]})
        self.assertEqual(st, 200, req)
        # a certificate for the current key: it is not the request's
        same = self.ca.issue(cert_pubkey_pem(self.old["GM2026120005"][0]), "GM User", "digitalSignature")
        st, _, body = self.post(t, "renewal/install", {"replaces": old["id"], "certificate": der_to_pem(same),
                                                       "requestId": req["requestId"]})
        self.assertError(st, body, 409, "CERTIFICATE_MISMATCH", "certificate")
        # only a request's own new container takes a certificate
        new_der = self.ca.sign_cert(req["csr"])
        st, _, body = self.post(t, "renewal/install", {"replaces": old["id"], "certificate": der_to_pem(new_der)})
        self.assertError(st, body, 400, "BAD_REQUEST", "requestId")
        after = {c: tok.read(c, "sign.crt") for c in tok.containers()}
        self.assertEqual(after, dict(before, **{self.container_of(req): None}), "nothing was written")

    def test_an_encryption_certificate_for_the_signing_key_is_refused(self):
        tok = Token(self.root, "samekey")
        (old_name,) = tok.containers()
        t, old, req = self.request("GM2026120009")
        name = self.container_of(req)
        new_der = self.ca.sign_cert(req["csr"])
        same = self.ca.issue(csr_pubkey(req["csr"]), "GM User", "keyEncipherment")
        # a KMC that sent the signing key itself (the software token's file has it)
        blob = bytes(enveloped_key(csr_pubkey(req["csr"]), tok.read(name, "sign.key"))[0])
        st, _, body = self.install(t, old, req, new_der, (same, blob))
        self.assertError(st, body, 409, "CERTIFICATE_MISMATCH", "encryption.certificate")
        self.assertEqual(body["error"].get("reason"), "signature-key", body)
        self.assertEqual(tok.containers(), sorted([old_name, name]))
        self.assertIsNone(tok.read(name, "sign.crt"))

    def test_a_token_that_keeps_refusing_the_encryption_certificate_does_not_hold_the_journal(self):
        tok = Token(self.root, "stubbornkey")
        t, old, req = self.request("GM2026120011")
        name = self.container_of(req)
        new_der = self.ca.sign_cert(req["csr"])
        enc = self.ca.encryption(req["csr"])
        journal = os.path.join(self.d.state, "renewal", "journal", t["id"] + ".json")
        with open(self.control, "w") as f:
            f.write("fail = SKF_ImportCertificate 2+ SAR_FAIL\n")     # the signature certificate goes in
        try:
            st, _, body = self.install(t, old, req, new_der, enc)
            self.assertEqual((st, body.get("finished")), (200, False), body)
            deadline = time.time() + 20
            while os.path.exists(journal) and time.time() < deadline:
                time.sleep(0.1)     # each rescan tries once more
        finally:
            with open(self.control, "w") as f:
                f.write("")
        self.assertFalse(os.path.exists(journal), "the journal closed after the token's last refusal")
        self.assertEqual(tok.containers(), [name])
        self.assertEqual(tok.read(name, "sign.crt"), new_der)
        self.assertIsNone(tok.read(name, "enc.crt"), "left out")
        self.assertTrue(tok.key_is_certs(name, "sign"))

    def test_an_rsa_container_beside_is_passed_over(self):
        tok = Token(self.root, "mixkey")
        rsa_dir = os.path.join(tok.dir, "aaa-rsa-2025")
        os.makedirs(rsa_dir)
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out",
                        os.path.join(rsa_dir, "sign.key")], check=True, capture_output=True)
        t, old, req = self.request("GM2026120010")
        new_der = self.ca.sign_cert(req["csr"])
        st, _, body = self.install(t, old, req, new_der)
        self.assertEqual(st, 200, body)
        self.assertEqual(tok.holding(new_der), [(self.container_of(req), "sign")])
        self.assertIn("aaa-rsa-2025", tok.containers())

    def test_an_encryption_certificate_that_may_sign_goes_where_its_key_is(self):
        tok = Token(self.root, "usagekey")
        t, old, req = self.request("GM2026120006")
        name = self.container_of(req)
        new_der = self.ca.sign_cert(req["csr"])
        enc = self.ca.encryption(req["csr"], usage="digitalSignature,keyEncipherment")
        st, _, body = self.install(t, old, req, new_der, enc)
        self.assertEqual(st, 200, body)
        self.assertEqual(tok.holding(new_der), [(name, "sign")])
        self.assertEqual(tok.holding(enc[0]), [(name, "enc")])
        self.assertEqual(tok.containers(), [name])

    def test_an_old_encryption_key_stays_though_its_certificate_is_gone(self):
        tok = Token(self.root, "orphankey")
        (old_name,) = tok.containers()
        os.unlink(os.path.join(tok.dir, old_name, "enc.crt"))   # the key is all the token shows of the pair
        t, old, req = self.request("GM2026120007")
        st, _, body = self.install(t, old, req, self.ca.sign_cert(req["csr"]))
        self.assertEqual(st, 200, body)
        self.assertIn(old_name, tok.containers(), "the container with an encryption key stays")
        self.assertIsNotNone(tok.read(old_name, "enc.key"))
        st, _, again = self.install(t, old, req, pem_to_der(body["certificate"]["pem"].encode()))
        self.assertEqual((st, again.get("alreadyInstalled")), (200, True), again)

    def test_a_bad_envelope_leaves_the_token_as_it_was(self):
        serial, tok = "GM2026120003", Token(self.root, "errkey")
        (old_name,) = tok.containers()
        old_der = self.old[serial][0]
        t, old, req = self.request(serial)
        new_name = self.container_of(req)
        new_der = self.ca.sign_cert(req["csr"])
        enc_der, blob, enc_key = self.ca.encryption(req["csr"])
        _, other_blob, _ = self.ca.encryption(req["csr"])
        sent_to_old = bytes(enveloped_key(cert_pubkey_pem(old_der), enc_key)[0])
        cases = (("sent to the old key", (enc_der, sent_to_old), 400, "BAD_REQUEST", "encryption.envelopedKey"),
                 ("another key inside", (enc_der, other_blob), 409, "CERTIFICATE_MISMATCH",
                  "encryption.certificate"),
                 ("cut short", (enc_der, blob[:-8]), 400, "BAD_REQUEST", "encryption.envelopedKey"))
        for what, enc, status, code, field in cases:
            with self.subTest(what):
                st, _, body = self.install(t, old, req, new_der, enc)
                self.assertError(st, body, status, code, field)
                self.assertEqual(tok.holding(old_der), [(old_name, "sign")])
                self.assertTrue(tok.key_is_certs(old_name, "sign"))
                self.assertIsNone(tok.read(new_name, "sign.crt"))
                self.assertIsNone(tok.read(new_name, "enc.crt"))
                self.assertEqual(glob.glob(os.path.join(self.d.state, "renewal", "journal", "*.json")), [])
        st, _, body = self.install(t, old, req, new_der, (enc_der, blob))
        self.assertEqual(st, 200, body)
        self.assertEqual(tok.containers(), [new_name])
        self.assertTrue(tok.key_is_certs(new_name, "enc"))


if __name__ == "__main__":
    if not LIB:
        sys.exit("KB_SKFSOFT_SO is not set")
    reexec_with_preload()
    unittest.main(verbosity=2)
