#!/usr/bin/env python3
"""The read API on real SoftHSM2 tokens, over HTTPS and plain HTTP."""
import hashlib
import os
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kbtest  # noqa: E402

LABELS = ("kb-a", "kb-b")


def pem_fingerprint(pem):
    der = ssl.PEM_cert_to_DER_cert(pem)
    return hashlib.sha256(der).hexdigest()


class TokenReads:
    tls = True

    @classmethod
    def setUpClass(cls):
        cls.tokens = kbtest.TokenDir(LABELS)
        cls.d = kbtest.Daemon(cls.tokens, tls=cls.tls).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.tokens.cleanup()

    def tokens_by_label(self):
        st, _, body = self.d.get("/v1/tokens")
        self.assertEqual(st, 200, body)
        return {t["label"]: t for t in body["tokens"]}

    def test_lists_every_token_with_its_three_certificates(self):
        toks = self.tokens_by_label()
        self.assertEqual(sorted(toks), sorted(LABELS))
        for t in toks.values():
            self.assertEqual(t["backend"], "pkcs11")
            self.assertEqual(len(t["certificates"]), 3)
            self.assertEqual(t["manufacturer"], "SoftHSM project")
            self.assertRegex(t["serial"], r"^[0-9a-f]{16}$")
            self.assertRegex(t["id"], r"^[0-9a-f]{16}$")
            self.assertFalse(t["authorized"])
            self.assertEqual(t["pin"]["status"], "ok")
            self.assertIsNone(t["pin"]["retriesLeft"])
            self.assertEqual(t["pin"]["minLength"], 4)

    def test_certificate_fields_match_the_issued_certificates(self):
        t = self.tokens_by_label()["kb-a"]
        by_fp = {c["fingerprintSha256"]: c for c in t["certificates"]}
        for key_id in ("01", "02", "03"):
            fp = pem_fingerprint(self.tokens.cert_pem("kb-a", key_id))
            self.assertIn(fp, by_fp, f"certificate {key_id} missing")
            self.assertTrue(by_fp[fp]["hasPrivateKey"])
            self.assertEqual(by_fp[fp]["id"], fp[:16])

    def cert(self, cn):
        t = self.tokens_by_label()["kb-a"]
        return next(c for c in t["certificates"] if c["subjectFields"]["CN"] == cn)

    def test_valid_rsa_signing_certificate_with_chinese_subject(self):
        c = self.cert("张三")
        self.assertEqual(c["status"], "valid")
        self.assertEqual((c["keyType"], c["keyBits"], c["curve"]), ("RSA", 2048, None))
        self.assertEqual(c["usage"], "sign")
        self.assertEqual(c["subjectFields"]["O"], "阳光采购测试有限公司")
        self.assertEqual(c["subjectFields"]["serialNumber"], "91110108MA01TEST1X")
        self.assertIn("CN=张三", c["subject"])
        self.assertIn("keybridge 测试 CA", c["issuer"])
        self.assertGreater(c["daysLeft"], 300)
        self.assertRegex(c["notAfter"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_expiring_ec_certificate(self):
        c = self.cert("李四")
        self.assertEqual(c["status"], "expiring")
        self.assertEqual((c["keyType"], c["keyBits"], c["curve"]), ("EC", 256, "P-256"))
        self.assertEqual(c["usage"], "encrypt")
        self.assertTrue(0 <= c["daysLeft"] <= 30)

    def test_expired_certificate(self):
        c = self.cert("王五")
        self.assertEqual(c["status"], "expired")
        self.assertLess(c["daysLeft"], 0)

    def test_one_token_by_id(self):
        t = self.tokens_by_label()["kb-b"]
        st, _, body = self.d.get(f"/v1/tokens/{t['id']}")
        self.assertEqual(st, 200)
        self.assertEqual(body["id"], t["id"])
        self.assertEqual(body["label"], "kb-b")

    def test_one_certificate_with_pem(self):
        t = self.tokens_by_label()["kb-a"]
        c = t["certificates"][0]
        st, _, body = self.d.get(f"/v1/tokens/{t['id']}/certificates/{c['id']}")
        self.assertEqual(st, 200, body)
        self.assertEqual(pem_fingerprint(body["pem"]), c["fingerprintSha256"])
        self.assertEqual(body["chain"], [])

    def test_unknown_token_certificate_and_path_are_not_found(self):
        t = self.tokens_by_label()["kb-a"]
        for path in ("/v1/tokens/0000000000000000", f"/v1/tokens/{t['id']}/certificates/ffffffffffffffff",
                     "/v1/nothing", "/v1/tokens/..%2f..%2fetc", "/"):
            st, hdrs, body = self.d.get(path)
            self.assertEqual(st, 404, path)
            self.assertEqual(body["error"]["code"], "NOT_FOUND")

    def test_post_to_a_read_route_is_method_not_allowed(self):
        st, _, body = self.d.request("POST", "/v1/tokens", body={})
        self.assertEqual(st, 405)
        self.assertEqual(body["error"]["code"], "METHOD_NOT_ALLOWED")

    def test_errors_speak_chinese_when_asked(self):
        st, _, body = self.d.get("/v1/nothing", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
        self.assertEqual(body["error"]["message"], "未找到。")
        st, _, body = self.d.get("/v1/nothing", headers={"Accept-Language": "en-US,zh;q=0.5"})
        self.assertEqual(body["error"]["message"], "Not found.")

    def test_info_reports_the_module(self):
        st, _, body = self.d.get("/v1/info")
        self.assertEqual(st, 200)
        self.assertEqual(body["product"], "keybridge")
        self.assertEqual(body["api"], 1)
        mods = body["backends"][0]["modules"]
        self.assertEqual(body["backends"][0]["name"], "pkcs11")
        self.assertEqual(mods[0]["status"], "ok")
        self.assertEqual(mods[0]["tokens"], 2)
        self.assertEqual(mods[0]["problems"], [])


class TokenReadsOverHttps(TokenReads, unittest.TestCase):
    tls = True


class TokenReadsOverHttp(TokenReads, unittest.TestCase):
    tls = False


class TokenIdentity(unittest.TestCase):
    def test_ids_are_stable_across_restarts(self):
        tokens = kbtest.TokenDir(("kb-c",))
        self.addCleanup(tokens.cleanup)
        ids = []
        for _ in range(2):
            d = kbtest.Daemon(tokens, tls=False).start()
            try:
                st, _, body = d.get("/v1/tokens")
                ids.append(([t["id"] for t in body["tokens"]],
                            [c["id"] for t in body["tokens"] for c in t["certificates"]]))
            finally:
                d.cleanup()
        self.assertEqual(len(ids[0][0]), 1)
        self.assertEqual(ids[0], ids[1])


class Removal(unittest.TestCase):
    def test_a_removed_token_is_not_present_and_its_error_is_reported(self):
        tokens = kbtest.TokenDir(("kb-stay", "kb-gone"))
        self.addCleanup(tokens.cleanup)
        d = kbtest.Daemon(tokens, tls=False).start()
        self.addCleanup(d.cleanup)
        st, _, body = d.get("/v1/tokens")
        ids = {t["label"]: t["id"] for t in body["tokens"]}
        self.assertEqual(sorted(ids), ["kb-gone", "kb-stay"])
        # SoftHSM2 keeps one directory per token: moving it away is a removal.
        store = os.path.join(tokens.path, "tokens")
        gone = next(p for p in os.listdir(store)
                    if "kb-gone" in open(os.path.join(store, p, "token.object"), "rb").read().decode("latin-1"))
        os.rename(os.path.join(store, gone), os.path.join(tokens.path, "removed"))
        deadline = time.time() + 10
        while time.time() < deadline:
            st, _, body = d.get("/v1/tokens")
            if [t["label"] for t in body["tokens"]] == ["kb-stay"]:
                break
            time.sleep(0.1)
        self.assertEqual([t["label"] for t in body["tokens"]], ["kb-stay"])
        st, _, body = d.get(f"/v1/tokens/{ids['kb-gone']}")
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"))
        st, _, body = d.get(f"/v1/tokens/{ids['kb-gone']}/certificates/0000000000000000")
        self.assertEqual((st, body["error"]["code"]), (409, "TOKEN_NOT_PRESENT"))
        st, _, body = d.get(f"/v1/tokens/{ids['kb-stay']}")
        self.assertEqual(st, 200)
        st, _, info = d.get("/v1/info")
        problems = info["backends"][0]["modules"][0]["problems"]
        self.assertEqual(len(problems), 1, problems)
        # which call fails depends on where the scan was when the directory
        # went: SoftHSM2 says CKR_GENERAL_ERROR, or CKR_OBJECT_HANDLE_INVALID
        self.assertIn(problems[0]["detail"], ("CKR_GENERAL_ERROR", "CKR_OBJECT_HANDLE_INVALID"))
        self.assertRegex(problems[0]["where"], r"slot \d+")
        self.assertIn("token problem in libsofthsm2.so slot", d.log_text())
        logged = d.log_text().count("token problem")
        time.sleep(3)       # ten more polls
        self.assertEqual(d.log_text().count("token problem"), logged, "logged once, not at every poll")


class Modules(unittest.TestCase):
    def test_opensc_module_without_reader_gives_zero_tokens_and_no_error(self):
        if not os.path.exists(kbtest.OPENSC):
            self.skipTest("OpenSC module not installed")
        d = kbtest.Daemon(modules=[kbtest.OPENSC], tls=False).start()
        self.addCleanup(d.cleanup)
        st, _, body = d.get("/v1/tokens")
        self.assertEqual((st, body["tokens"]), (200, []))
        st, _, info = d.get("/v1/info")
        mod = info["backends"][0]["modules"][0]
        self.assertEqual(mod["status"], "ok")
        self.assertEqual(mod["problems"], [])

    def test_a_module_that_fails_to_load_is_reported_not_fatal(self):
        tokens = kbtest.TokenDir(("kb-d",))
        self.addCleanup(tokens.cleanup)
        d = kbtest.Daemon(tokens, tls=False, modules=["/nonexistent/libvendor.so", kbtest.SOFTHSM]).start()
        self.addCleanup(d.cleanup)
        st, _, body = d.get("/v1/tokens")
        self.assertEqual(len(body["tokens"]), 1)
        st, _, info = d.get("/v1/info")
        bad = info["backends"][0]["modules"][0]
        self.assertEqual(bad["status"], "failed")
        self.assertEqual(bad["error"]["code"], "INTERNAL")
        self.assertTrue(bad["error"]["detail"])


if __name__ == "__main__":
    kbtest.run("__main__")
