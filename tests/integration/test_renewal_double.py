#!/usr/bin/env python3
"""Double certificates (双证) in renewal.install on a real SoftHSM2 token
behind the fault-injecting module: the test CA issues the signing
certificate from the daemon's CSR and, as a key management centre does, an
encryption key pair and certificate, the private key wrapped to the new
signing key (CKM_RSA_AES_KEY_WRAP form, made with the openssl CLI). The
token unwraps it; the test then decrypts with it straight through SoftHSM2.
Every bad install gets its code and changes nothing on the token."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402
from renewal import decrypts_on_token, envelope, key_attributes, serial_of, utc  # noqa: E402
from test_renewal import LABEL, RenewalBase  # noqa: E402


class DoubleCertificate(RenewalBase):
    def install_double(self, req, old, sign_pem, enc_pem, wrapped):
        return self.install({"requestId": req["requestId"], "replaces": old["id"], "certificate": sign_pem,
                             "encryption": {"certificate": enc_pem, "envelopedKey": wrapped}})

    def test_1_rekey_with_an_encryption_certificate(self):
        old = self.cert("张三")
        req = self.request("张三")
        sign_pem = self.ca.issue(req["csr"])
        enc_pem, wrapped, _ = self.ca.encryption_pair("张三", sign_pem)
        self.assertIn("unwrap", key_attributes(self.tokens, LABEL, req["keyId"])["Usage"],
                      "the new signing key cannot take a wrapped key")

        st, _, body = self.install_double(req, old, sign_pem, enc_pem, wrapped)
        self.assertEqual(st, 200, body)
        self.assertTrue(body["finished"], body)
        enc = body["encryption"]["certificate"]
        self.assertEqual((enc["usage"], enc["hasPrivateKey"], enc["label"]), ("encrypt", True, old["label"]))

        certs, keys = self.objects()
        self.assertEqual(certs[serial_of(sign_pem)], [req["keyId"]])
        enc_ids = certs[serial_of(enc_pem)]
        self.assertEqual(len(enc_ids), 1)
        self.assertIn(enc_ids[0], keys)
        self.assertNotIn(enc_ids[0], (req["keyId"], "01"))
        attrs = key_attributes(self.tokens, LABEL, enc_ids[0])
        self.assertEqual(attrs["Usage"], {"decrypt", "unwrap"}, "an encryption key must not sign")
        self.assertIn("sensitive", attrs["Access"])
        self.assertNotIn("extractable", attrs["Access"])
        self.assertTrue(decrypts_on_token(self.tokens, LABEL, enc_ids[0], enc_pem),
                        "the unwrapped key does not decrypt for its certificate")
        self.assertFalse(decrypts_on_token(self.tokens, LABEL, req["keyId"], enc_pem))
        self.wait_for_cert(serial_of(enc_pem))
        self.assertEqual(self.state_files("journal"), [])

        # the answer was lost: the same call again changes nothing
        before = self.objects()
        st, _, again = self.install_double(req, old, sign_pem, enc_pem, wrapped)
        self.assertEqual(st, 200, again)
        self.assertTrue(again["alreadyInstalled"])
        self.assertEqual(again["encryption"]["certificate"]["id"], enc["id"])
        self.assertEqual(self.objects(), before)

    def test_2_same_key_renewal_unwraps_to_the_current_key(self):
        old = self.cert("王五")        # RSA, expired
        req = self.request("王五", newKey=False)
        sign_pem = self.ca.issue(req["csr"])
        enc_pem, wrapped, _ = self.ca.encryption_pair("王五", sign_pem)
        st, _, body = self.install_double(req, old, sign_pem, enc_pem, wrapped)
        self.assertEqual(st, 200, body)
        certs, _ = self.objects()
        self.assertEqual(certs[serial_of(sign_pem)], ["03"])
        self.assertTrue(decrypts_on_token(self.tokens, LABEL, certs[serial_of(enc_pem)][0], enc_pem))


class BadDoubleInstall(RenewalBase):
    """Each gets its code and changes nothing on the token."""

    def setUp(self):
        super().setUp()
        self.old = self.cert("张三")
        self.req = self.request("张三", newKey=False)
        self.sign_pem = self.ca.issue(self.req["csr"])
        self.enc_pem, self.wrapped, self.enc_key = self.ca.encryption_pair("张三", self.sign_pem)
        self.before = self.objects()

    def tearDown(self):
        self.assertEqual(self.objects(), self.before, "the token changed")
        self.assertEqual(self.state_files("journal"), [])
        self.post(f"{self.req['requestId']}/cancel", {})

    def install_with(self, encryption):
        return self.install({"requestId": self.req["requestId"], "replaces": self.old["id"],
                             "certificate": self.sign_pem, "encryption": encryption})

    def assert_refused(self, encryption, status, code, field, reason=None):
        st, _, body = self.install_with(encryption)
        self.assertEqual((st, body["error"]["code"], body["error"].get("field")), (status, code, field), body)
        if reason:
            self.assertEqual(body["error"].get("reason"), reason, body)

    def test_garbage(self):
        self.assert_refused("x", 400, "BAD_REQUEST", "encryption")
        self.assert_refused({"envelopedKey": self.wrapped}, 400, "BAD_REQUEST", "encryption.certificate")
        self.assert_refused({"certificate": self.enc_pem}, 400, "BAD_REQUEST", "encryption.envelopedKey")
        self.assert_refused({"certificate": self.enc_pem, "envelopedKey": "not base64!"}, 400, "BAD_REQUEST",
                            "encryption.envelopedKey")
        self.assert_refused({"certificate": self.enc_pem, "envelopedKey": self.wrapped[:300]}, 400,
                            "BAD_REQUEST", "encryption.envelopedKey")

    def test_wrapped_to_another_key(self):
        other = self.ca.encryption_pair("张三", self.ca.pem())[0]   # any other RSA certificate
        self.assert_refused({"certificate": self.enc_pem, "envelopedKey": envelope(other, self.enc_key)},
                            400, "BAD_REQUEST", "encryption.envelopedKey", "does-not-unwrap")

    def test_the_key_inside_is_not_the_certificate_s(self):
        _, _, another_key = self.ca.encryption_pair("张三", self.sign_pem)
        self.assert_refused({"certificate": self.enc_pem, "envelopedKey": envelope(self.sign_pem, another_key)},
                            409, "CERTIFICATE_MISMATCH", "encryption.certificate")

    def test_certificates_that_are_not_for_it(self):
        expired, wrapped, _ = self.ca.encryption_pair("张三", self.sign_pem, start=utc(-30 * 86400), end=utc(-86400))
        self.assert_refused({"certificate": expired, "envelopedKey": wrapped}, 400, "BAD_REQUEST",
                            "encryption.certificate", "expired")
        signing, wrapped, _ = self.ca.encryption_pair("张三", self.sign_pem, key_usage="critical, digitalSignature")
        self.assert_refused({"certificate": signing, "envelopedKey": wrapped}, 400, "BAD_REQUEST",
                            "encryption.certificate", "not-for-encryption")
        ec, wrapped, _ = self.ca.encryption_pair("张三", self.sign_pem, key_alg=("EC", "ec_paramgen_curve:P-256"),
                                                 key_usage="critical, keyAgreement")
        self.assert_refused({"certificate": ec, "envelopedKey": wrapped}, 400, "UNSUPPORTED_ALGORITHM",
                            "encryption.certificate")

    def test_a_key_that_may_not_unwrap(self):
        self.ctl.fail("C_UnwrapKey", "1", "CKR_KEY_FUNCTION_NOT_PERMITTED")
        self.assert_refused({"certificate": self.enc_pem, "envelopedKey": self.wrapped}, 400,
                            "UNSUPPORTED_ALGORITHM", "encryption", "token-cannot-unwrap")

    def test_the_private_key_fails_to_unwrap(self):
        self.ctl.fail("C_UnwrapKey", "2", "CKR_DEVICE_ERROR")
        st, _, body = self.install_with({"certificate": self.enc_pem, "envelopedKey": self.wrapped})
        self.assertGreaterEqual(st, 500, body)

    def test_the_encryption_certificate_fails_to_write(self):
        self.ctl.fail("C_CreateObject", "1", "CKR_DEVICE_MEMORY")
        st, _, body = self.install_with({"certificate": self.enc_pem, "envelopedKey": self.wrapped})
        self.assertEqual((st, body["error"]["code"]), (507, "TOKEN_FULL"), body)


class EcSigningKey(RenewalBase):
    def test_an_ec_signing_key_cannot_open_the_envelope(self):
        old = self.cert("李四")
        req = self.request("李四", newKey=False)
        sign_pem = self.ca.issue(req["csr"], key_usage="critical, digitalSignature, keyAgreement")
        rsa_cert, _, key = self.ca.encryption_pair("李四", self.ca.pem())
        before = self.objects()
        st, _, body = self.install({"requestId": req["requestId"], "replaces": old["id"], "certificate": sign_pem,
                                    "encryption": {"certificate": rsa_cert,
                                                   "envelopedKey": envelope(rsa_cert, key)}})
        self.assertEqual((st, body["error"]["code"], body["error"].get("field")),
                         (400, "UNSUPPORTED_ALGORITHM", "encryption"), body)
        self.assertEqual(self.objects(), before)
        self.post(f"{req['requestId']}/cancel", {})


if __name__ == "__main__":
    kbtest.run(__name__)
