/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/pkcs11/p11-pkey*.c: token keys as EVP_PKEYs, and the token read behind every
 * scan, on a real SoftHSM2 token (made by
 * tests/fixtures/make-token.sh, path in KB_MAKE_TOKEN). What the token signs
 * is checked by plain OpenSSL in the default library context, and one CMS by
 * the openssl command.
 */
#include <check.h>

#include "kb-check.h"
#include <ftw.h>
#include <stdarg.h>
#include <p11-kit/p11-kit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "kb-error.h"
#include "kb-openssl.h"
#include "p11-pkey.h"
#include "pkcs11-internal.h"

#define LABEL "p11-pkey-test"
#define PIN "123456"
#define SO_PIN "12345678"
/* The library context and property query arguments for token keys. */
#define P11 kb_p11_libctx(), kb_p11_propq()

KB_DEFINE_POINTER_CLEANUP(CMS_ContentInfo, CMS_ContentInfo_free)
KB_DEFINE_POINTER_CLEANUP(X509_REQ, X509_REQ_free)
KB_DEFINE_POINTER_CLEANUP(X509_STORE, X509_STORE_free)

static const char data[] = "keybridge 测试 data\n";

/* Set in main() before the tests fork. */
static char dir[64];

/* Per test (checked fixture, in the forked child). */
static CK_FUNCTION_LIST *fn;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE session;
static CK_OBJECT_HANDLE rsa_handle, ec_handle;
static X509 *certs[4];          /* 1..3: the token's certificates */
static EVP_PKEY *rsa_key, *ec_key;

/* ---- fixture ------------------------------------------------------------------- */

static const char *module_path(void) {
        static const char *const paths[] = {
                "/usr/lib/softhsm/libsofthsm2.so",
                "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        };
        const char *env = getenv("SOFTHSM2_MODULE");
        if (env && env[0])
                return env;
        for (size_t i = 0; i < KB_ELEMENTSOF(paths); i++)
                if (access(paths[i], R_OK) == 0)
                        return paths[i];
        return paths[0];
}

static CK_SLOT_ID find_slot(void) {
        CK_SLOT_ID slots[16];
        CK_ULONG n = KB_ELEMENTSOF(slots);
        ck_assert_uint_eq(fn->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
        for (CK_ULONG i = 0; i < n; i++) {
                CK_TOKEN_INFO ti;
                ck_assert_uint_eq(fn->C_GetTokenInfo(slots[i], &ti), CKR_OK);
                _cleanup_free_ char *label = kb_pkcs11_string(ti.label, sizeof(ti.label));
                if (label && strcmp(label, LABEL) == 0)
                        return slots[i];
        }
        ck_abort_msg("token %s not found", LABEL);
        return 0;
}

static CK_OBJECT_HANDLE find_object(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, unsigned char id) {
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_ID, &id, 1 },
        };
        CK_OBJECT_HANDLE h = 0;
        CK_ULONG n = 0;
        ck_assert_uint_eq(fn->C_FindObjectsInit(s, tmpl, KB_ELEMENTSOF(tmpl)), CKR_OK);
        ck_assert_uint_eq(fn->C_FindObjects(s, &h, 1, &n), CKR_OK);
        ck_assert_uint_eq(fn->C_FindObjectsFinal(s), CKR_OK);
        ck_assert_uint_eq(n, 1);
        return h;
}

static X509 *read_cert(const char *name) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "r");
        ck_assert_msg(f != NULL, "%s", path);
        X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        ck_assert_ptr_nonnull(x);
        return x;
}

static EVP_PKEY *pub(int i) {
        return X509_get0_pubkey(certs[i]);
}

static void setup(void) {
        fn = p11_kit_module_load(module_path(), 0);
        ck_assert_msg(fn != NULL, "%s", p11_kit_message());
        ck_assert_uint_eq(p11_kit_module_initialize(fn), CKR_OK);
        slot = find_slot();
        ck_assert_uint_eq(fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &session), CKR_OK);
        ck_assert_uint_eq(fn->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR) PIN, strlen(PIN)), CKR_OK);
        rsa_handle = find_object(session, CKO_PRIVATE_KEY, 0x01);
        ec_handle = find_object(session, CKO_PRIVATE_KEY, 0x02);
        for (int i = 1; i <= 3; i++) {
                char name[48];
                snprintf(name, sizeof(name), LABEL "-certs/%02d.pem", i);
                certs[i] = read_cert(name);
        }
        ck_assert_int_eq(kb_p11_pkey_new(fn, session, NULL, rsa_handle, pub(1), &rsa_key), 0);
        ck_assert_int_eq(kb_p11_pkey_new(fn, session, NULL, ec_handle, pub(2), &ec_key), 0);
}

static void teardown(void) {
        EVP_PKEY_free(rsa_key);
        EVP_PKEY_free(ec_key);
        rsa_key = ec_key = NULL;
        for (int i = 1; i <= 3; i++) {
                X509_free(certs[i]);
                certs[i] = NULL;
        }
        if (fn) {
                fn->C_CloseAllSessions(slot);
                p11_kit_module_finalize(fn);
                p11_kit_module_release(fn);
                fn = NULL;
        }
}

/* ---- helpers ------------------------------------------------------------------- */

static void set_pss(EVP_PKEY_CTX *pctx) {
        ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 0);
        ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 0);
}

/* EVP_DigestSign through the token; *ret_len bytes returned (free()). */
static unsigned char *token_sign(EVP_PKEY *key, const char *md, bool pss, size_t *ret_len) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        size_t len = 0;
        ck_assert_int_eq(EVP_DigestSignInit_ex(mctx, &pctx, md, P11, key, NULL), 1);
        if (pss)
                set_pss(pctx);
        ck_assert_int_eq(EVP_DigestSign(mctx, NULL, &len, (const unsigned char *) data, strlen(data)), 1);
        unsigned char *sig = malloc(len);
        ck_assert_ptr_nonnull(sig);
        ck_assert_int_eq(EVP_DigestSign(mctx, sig, &len, (const unsigned char *) data, strlen(data)), 1);
        *ret_len = len;
        return sig;
}

/* Plain OpenSSL, default library context and provider. */
static int plain_verify(EVP_PKEY *key, const char *md, bool pss, const unsigned char *sig, size_t len) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        ck_assert_int_eq(EVP_DigestVerifyInit_ex(mctx, &pctx, md, NULL, NULL, key, NULL), 1);
        if (pss)
                set_pss(pctx);
        return EVP_DigestVerify(mctx, sig, len, (const unsigned char *) data, strlen(data));
}

static BIO *data_bio(void) {
        BIO *b = BIO_new_mem_buf(data, (int) strlen(data));
        ck_assert_ptr_nonnull(b);
        return b;
}

/* DER out and back in, so that verification knows nothing of the provider. */
static CMS_ContentInfo *reparse(CMS_ContentInfo *cms, const char *save_as) {
        _cleanup_free_ unsigned char *der = NULL;
        unsigned char *p = NULL;
        int len = i2d_CMS_ContentInfo(cms, &p);
        ck_assert_int_gt(len, 0);
        der = malloc((size_t) len);
        memcpy(der, p, (size_t) len);
        OPENSSL_free(p);
        if (save_as) {
                FILE *f = fopen(save_as, "wb");
                ck_assert_ptr_nonnull(f);
                ck_assert_uint_eq(fwrite(der, 1, (size_t) len, f), (size_t) len);
                fclose(f);
        }
        const unsigned char *q = der;
        CMS_ContentInfo *back = d2i_CMS_ContentInfo(NULL, &q, len);
        ck_assert_ptr_nonnull(back);
        return back;
}

static X509_STORE *ca_store(void) {
        X509_STORE *st = X509_STORE_new();
        ck_assert_ptr_nonnull(st);
        _cleanup_(X509_freep) X509 *ca = read_cert("ca/ca.pem");
        ck_assert_int_eq(X509_STORE_add_cert(st, ca), 1);
        return st;
}

/* Verify (with the CA, or trusting the signer as it is), check the content,
 * the signer certificate inside and the signingTime attribute. */
static void check_cms(CMS_ContentInfo *signed_cms, X509 *signer, bool detached, bool with_ca) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = reparse(signed_cms, NULL);
        _cleanup_(X509_STORE_freep) X509_STORE *st = with_ca ? ca_store() : X509_STORE_new();
        _cleanup_(BIO_freep) BIO *in = detached ? data_bio() : NULL;
        _cleanup_(BIO_freep) BIO *out = BIO_new(BIO_s_mem());
        unsigned flags = CMS_BINARY | (with_ca ? 0 : CMS_NO_SIGNER_CERT_VERIFY);

        ck_assert_int_eq(CMS_verify(cms, NULL, st, in, out, flags), 1);
        char *got = NULL;
        long got_len = BIO_get_mem_data(out, &got);
        ck_assert_int_eq(got_len, (long) strlen(data));
        ck_assert_mem_eq(got, data, strlen(data));
        ASN1_OCTET_STRING **content = CMS_get0_content(cms);
        ck_assert(detached == (!content || !*content));

        STACK_OF(X509) *inside = CMS_get1_certs(cms);
        bool found = false;
        for (int i = 0; i < sk_X509_num(inside); i++)
                found = found || X509_cmp(sk_X509_value(inside, i), signer) == 0;
        sk_X509_pop_free(inside, X509_free);
        ck_assert(found);
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
        ck_assert_ptr_nonnull(si);
        ck_assert_int_ge(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1), 0);
}

static CMS_ContentInfo *cms_sign(X509 *signer, EVP_PKEY *key, unsigned flags) {
        _cleanup_(BIO_freep) BIO *in = data_bio();
        CMS_ContentInfo *cms = CMS_sign_ex(signer, key, NULL, in, flags, P11);
        ck_assert_msg(cms != NULL, "CMS_sign_ex: %s", ERR_reason_error_string(ERR_peek_last_error()));
        return cms;
}

static CMS_ContentInfo *cms_sign_pss(void) {
        unsigned flags = CMS_BINARY | CMS_PARTIAL;
        _cleanup_(BIO_freep) BIO *in = data_bio();
        CMS_ContentInfo *cms = CMS_sign_ex(NULL, NULL, NULL, NULL, flags, P11);
        ck_assert_ptr_nonnull(cms);
        CMS_SignerInfo *si = CMS_add1_signer(cms, certs[1], rsa_key, EVP_sha256(), flags | CMS_KEY_PARAM);
        ck_assert_ptr_nonnull(si);
        set_pss(CMS_SignerInfo_get0_pkey_ctx(si));
        ck_assert_int_eq(CMS_final(cms, in, NULL, flags), 1);
        return cms;
}

static void check_file(const char *path, const char *want) {
        char buf[256];
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "%s", path);
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        ck_assert_uint_eq(n, strlen(want));
        ck_assert_mem_eq(buf, want, n);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
        char cmd[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        int status = system(cmd);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- the key --------------------------------------------------------------------- */

START_TEST(token_keys_look_like_ordinary_rsa_and_ec_keys) {
        ck_assert(EVP_PKEY_is_a(rsa_key, "RSA"));
        ck_assert_int_eq(EVP_PKEY_get_id(rsa_key), EVP_PKEY_RSA);
        ck_assert_int_eq(EVP_PKEY_get_bits(rsa_key), 2048);
        ck_assert_int_eq(EVP_PKEY_get_security_bits(rsa_key), 112);
        ck_assert_int_eq(EVP_PKEY_get_size(rsa_key), 256);
        ck_assert(EVP_PKEY_is_a(ec_key, "EC"));
        ck_assert_int_eq(EVP_PKEY_get_id(ec_key), EVP_PKEY_EC);
        ck_assert_int_eq(EVP_PKEY_get_bits(ec_key), 256);
        ck_assert_int_eq(EVP_PKEY_get_size(ec_key), EVP_PKEY_get_size(pub(2)));

        char md[32];
        ck_assert_int_gt(EVP_PKEY_get_default_digest_name(rsa_key, md, sizeof(md)), 0);
        ck_assert_str_eq(md, "SHA256");
        ck_assert_int_gt(EVP_PKEY_get_default_digest_name(ec_key, md, sizeof(md)), 0);
        ck_assert_str_eq(md, "SHA256");
        ck_assert_uint_eq(kb_p11_pkey_last_rv(rsa_key), CKR_OK);
        ck_assert_uint_eq(kb_p11_pkey_last_rv(pub(1)), CKR_OK); /* no token key */
}
END_TEST

START_TEST(the_public_key_exports_and_the_private_key_does_not) {
        for (int i = 0; i < 2; i++) {
                EVP_PKEY *key = i ? ec_key : rsa_key;
                unsigned char *a = NULL, *b = NULL;
                int la = i2d_PUBKEY(key, &a), lb = i2d_PUBKEY(pub(i + 1), &b);
                ck_assert_int_gt(la, 0);
                ck_assert_int_eq(la, lb);
                ck_assert_mem_eq(a, b, (size_t) la);
                OPENSSL_free(a);
                OPENSSL_free(b);

                OSSL_PARAM *params = NULL;
                ck_assert_int_eq(EVP_PKEY_todata(key, EVP_PKEY_KEYPAIR, &params), 0);
                ck_assert_int_eq(EVP_PKEY_todata(key, EVP_PKEY_PUBLIC_KEY, &params), 1);
                OSSL_PARAM_free(params);
        }
        ERR_clear_error();
}
END_TEST

START_TEST(the_key_equals_its_certificate_key_and_no_other) {
        ck_assert_int_eq(EVP_PKEY_eq(pub(1), rsa_key), 1);
        ck_assert_int_eq(EVP_PKEY_eq(rsa_key, pub(1)), 1);
        ck_assert_int_eq(EVP_PKEY_eq(pub(3), rsa_key), 0);
        ck_assert_int_eq(EVP_PKEY_eq(rsa_key, pub(3)), 0);
        ck_assert_int_eq(EVP_PKEY_eq(pub(2), ec_key), 1);
        ck_assert_int_lt(EVP_PKEY_eq(pub(2), rsa_key), 1);
        ck_assert_int_lt(EVP_PKEY_eq(rsa_key, ec_key), 1);
        ck_assert_int_eq(X509_check_private_key(certs[1], rsa_key), 1);
        ck_assert_int_eq(X509_check_private_key(certs[2], ec_key), 1);
        ck_assert_int_eq(X509_check_private_key(certs[3], rsa_key), 0);
        ERR_clear_error();
}
END_TEST

START_TEST(a_certificate_of_another_key_or_type_is_refused) {
        EVP_PKEY *k = NULL;
        ck_assert_int_eq(kb_p11_pkey_new(fn, session, NULL, rsa_handle, pub(3), &k), -KB_E_CERTIFICATE_MISMATCH);
        ck_assert_int_eq(kb_p11_pkey_new(fn, session, NULL, rsa_handle, pub(2), &k), -KB_E_CERTIFICATE_MISMATCH);
        ck_assert_int_eq(kb_p11_pkey_new(fn, session, NULL, ec_handle, pub(1), &k), -KB_E_CERTIFICATE_MISMATCH);
        ck_assert_ptr_null(k);
}
END_TEST

START_TEST(keys_other_than_rsa_and_ec_are_unsupported) {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE type = CKK_GENERIC_SECRET;
        CK_BBOOL no = CK_FALSE;
        unsigned char value[32] = { 1, 2, 3 };
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_KEY_TYPE, &type, sizeof(type) },
                { CKA_TOKEN, &no, sizeof(no) },
                { CKA_VALUE, value, sizeof(value) },
        };
        CK_OBJECT_HANDLE secret = 0;
        ck_assert_uint_eq(fn->C_CreateObject(session, tmpl, KB_ELEMENTSOF(tmpl), &secret), CKR_OK);
        EVP_PKEY *k = NULL;
        ck_assert_int_eq(kb_p11_pkey_new(fn, session, NULL, secret, pub(1), &k), -KB_E_UNSUPPORTED_ALGORITHM);
        ck_assert_ptr_null(k);
}
END_TEST

/* ---- raw signatures ------------------------------------------------------------- */

START_TEST(rsa_pkcs1_sha256_verifies_with_the_certificate) {
        size_t len = 0;
        _cleanup_free_ unsigned char *sig = token_sign(rsa_key, "SHA256", false, &len);
        ck_assert_uint_eq(len, 256);
        ck_assert_int_eq(plain_verify(pub(1), "SHA256", false, sig, len), 1);
        ck_assert_int_eq(plain_verify(pub(3), "SHA256", false, sig, len), 0);
        ck_assert_uint_eq(kb_p11_pkey_last_rv(rsa_key), CKR_OK);
        ERR_clear_error();
}
END_TEST

START_TEST(rsa_pss_sha256_verifies_with_the_certificate) {
        size_t len = 0;
        _cleanup_free_ unsigned char *sig = token_sign(rsa_key, "SHA256", true, &len);
        ck_assert_int_eq(plain_verify(pub(1), "SHA256", true, sig, len), 1);
        ck_assert_int_eq(plain_verify(pub(1), "SHA256", false, sig, len), 0);
        ERR_clear_error();
}
END_TEST

START_TEST(ecdsa_signatures_are_der_and_verify) {
        static const char *const mds[] = { "SHA256", "SHA384" };
        for (size_t i = 0; i < KB_ELEMENTSOF(mds); i++) {
                size_t len = 0;
                _cleanup_free_ unsigned char *sig = token_sign(ec_key, mds[i], false, &len);
                const unsigned char *p = sig;
                ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long) len);
                ck_assert_ptr_nonnull(s);
                ck_assert_ptr_eq(p, sig + len);
                ck_assert_int_eq(i2d_ECDSA_SIG(s, NULL), (int) len); /* strict DER */
                ECDSA_SIG_free(s);
                ck_assert_int_eq(plain_verify(pub(2), mds[i], false, sig, len), 1);
        }
}
END_TEST

/* EVP_PKEY_sign over a digest the caller made (a page's pre-hashed input). */
START_TEST(a_precomputed_digest_signs_with_rsa_and_ecdsa) {
        unsigned char hash[32];
        unsigned int hlen = 0;
        ck_assert_int_eq(EVP_Digest(data, strlen(data), hash, &hlen, EVP_sha256(), NULL), 1);
        for (int i = 0; i < 3; i++) {
                EVP_PKEY *key = i == 2 ? ec_key : rsa_key;
                _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx =
                        EVP_PKEY_CTX_new_from_pkey(kb_p11_libctx(), key, kb_p11_propq());
                unsigned char sig[512];
                size_t len = sizeof(sig);
                ck_assert_int_eq(EVP_PKEY_sign_init(pctx), 1);
                ck_assert_int_gt(EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()), 0);
                if (i == 1)
                        set_pss(pctx);
                ck_assert_int_eq(EVP_PKEY_sign(pctx, sig, &len, hash, hlen), 1);

                _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *vctx = EVP_PKEY_CTX_new(pub(i == 2 ? 2 : 1), NULL);
                ck_assert_int_eq(EVP_PKEY_verify_init(vctx), 1);
                ck_assert_int_gt(EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256()), 0);
                if (i == 1)
                        set_pss(vctx);
                ck_assert_int_eq(EVP_PKEY_verify(vctx, sig, len, hash, hlen), 1);
        }
}
END_TEST

START_TEST(the_token_key_verifies_through_its_public_half) {
        size_t len = 0;
        _cleanup_free_ unsigned char *sig = token_sign(rsa_key, "SHA384", false, &len);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        ck_assert_int_eq(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA384", P11, rsa_key, NULL), 1);
        ck_assert_int_eq(EVP_DigestVerify(mctx, sig, len, (const unsigned char *) data, strlen(data)), 1);
        sig[10] ^= 1;
        ck_assert_int_eq(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA384", P11, rsa_key, NULL), 1);
        ck_assert_int_eq(EVP_DigestVerify(mctx, sig, len, (const unsigned char *) data, strlen(data)), 0);
        ERR_clear_error();
}
END_TEST

/* The private key cannot be exported, so OpenSSL cannot move the operation
 * to the default provider with a public-only copy: it comes back to ours. */
START_TEST(the_key_signs_even_without_our_library_context) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        unsigned char sig[256];
        size_t len = sizeof(sig);
        ck_assert_int_eq(EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, rsa_key), 1);
        ck_assert_int_eq(EVP_DigestSign(mctx, sig, &len, (const unsigned char *) data, strlen(data)), 1);
        ck_assert_int_eq(plain_verify(pub(1), "SHA256", false, sig, len), 1);
        ERR_clear_error();
}
END_TEST

/* ---- CMS ----------------------------------------------------------------------------- */

START_TEST(cms_with_the_rsa_key_verifies_attached_and_detached) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *att = cms_sign(certs[1], rsa_key, CMS_BINARY);
        check_cms(att, certs[1], false, true);
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *det = cms_sign(certs[1], rsa_key, CMS_BINARY | CMS_DETACHED);
        check_cms(det, certs[1], true, true);
}
END_TEST

/* Certificate 02 is for key agreement only: no S/MIME signing purpose, so
 * it is trusted as it is rather than checked against the CA. */
START_TEST(cms_with_the_ec_key_verifies_attached_and_detached) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *att = cms_sign(certs[2], ec_key, CMS_BINARY);
        check_cms(att, certs[2], false, false);
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *det = cms_sign(certs[2], ec_key, CMS_BINARY | CMS_DETACHED);
        check_cms(det, certs[2], true, false);
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(att), 0);
        X509_ALGOR *sig_alg = NULL;
        CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig_alg);
        ck_assert_int_eq(OBJ_obj2nid(sig_alg->algorithm), NID_ecdsa_with_SHA256);
}
END_TEST

START_TEST(cms_with_rsa_pss_names_pss_and_verifies) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = cms_sign_pss();
        check_cms(cms, certs[1], false, true);
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
        X509_ALGOR *sig_alg = NULL;
        CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig_alg);
        ck_assert_int_eq(OBJ_obj2nid(sig_alg->algorithm), NID_rsassaPss);
}
END_TEST

START_TEST(cms_without_signed_attributes_signs_the_content_digest) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = cms_sign(certs[1], rsa_key, CMS_BINARY | CMS_NOATTR);
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *back = reparse(cms, NULL);
        _cleanup_(X509_STORE_freep) X509_STORE *st = ca_store();
        ck_assert_int_eq(CMS_verify(back, NULL, st, NULL, NULL, CMS_BINARY), 1);
}
END_TEST

START_TEST(the_openssl_command_verifies_the_cms) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *plain = cms_sign(certs[1], rsa_key, CMS_BINARY);
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *pss = cms_sign_pss();
        char path[128];
        snprintf(path, sizeof(path), "%s/plain.der", dir);
        CMS_ContentInfo_free(reparse(plain, path));
        snprintf(path, sizeof(path), "%s/pss.der", dir);
        CMS_ContentInfo_free(reparse(pss, path));
        for (int i = 0; i < 2; i++) {
                const char *name = i ? "pss" : "plain";
                ck_assert_int_eq(run("openssl cms -verify -binary -inform DER -in %s/%s.der -CAfile %s/ca/ca.pem "
                                     "-out %s/%s.out 2>%s/%s.err",
                                     dir, name, dir, dir, name, dir, name),
                                 0);
                snprintf(path, sizeof(path), "%s/%s.out", dir, name);
                check_file(path, data);
        }
}
END_TEST

/* ---- CSR ------------------------------------------------------------------------------ */

static void check_request(EVP_PKEY *key, int i, bool pss) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new_ex(P11);
        ck_assert_ptr_nonnull(req);
        X509_NAME *name = X509_REQ_get_subject_name(req);
        const unsigned char *cn = (const unsigned char *) "张三";
        ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0), 1);
        ck_assert_int_eq(X509_REQ_set_pubkey(req, key), 1);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        ck_assert_int_eq(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", P11, key, NULL), 1);
        if (pss)
                set_pss(pctx);
        ck_assert_int_gt(X509_REQ_sign_ctx(req, mctx), 0);
        int vr = X509_REQ_verify(req, key);
        if (vr != 1)
                ERR_print_errors_fp(stderr);
        ck_assert_int_eq(vr, 1);

        unsigned char *der = NULL;
        int len = i2d_X509_REQ(req, &der);
        ck_assert_int_gt(len, 0);
        const unsigned char *p = der;
        _cleanup_(X509_REQ_freep) X509_REQ *back = d2i_X509_REQ(NULL, &p, len);
        OPENSSL_free(der);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(X509_REQ_verify(back, X509_REQ_get0_pubkey(back)), 1);
        ck_assert_int_eq(EVP_PKEY_eq(X509_REQ_get0_pubkey(back), pub(i)), 1);
}

START_TEST(a_csr_signed_with_the_token_key_verifies) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new_ex(P11);
        ck_assert_int_eq(X509_REQ_set_pubkey(req, rsa_key), 1);
        ck_assert_int_gt(X509_REQ_sign(req, rsa_key, EVP_sha256()), 0);
        ck_assert_int_eq(X509_REQ_verify(req, pub(1)), 1);
        check_request(rsa_key, 1, false);
        check_request(rsa_key, 1, true);
        check_request(ec_key, 2, false);
}
END_TEST

/* ---- failures ------------------------------------------------------------------------- */

START_TEST(a_closed_session_fails_and_reports_its_ck_rv) {
        CK_SESSION_HANDLE s2 = 0;
        EVP_PKEY *k = NULL;
        ck_assert_uint_eq(fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
        ck_assert_int_eq(kb_p11_pkey_new(fn, s2, NULL, find_object(s2, CKO_PRIVATE_KEY, 0x01), pub(1), &k), 0);
        ck_assert_uint_eq(fn->C_CloseSession(s2), CKR_OK);

        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        unsigned char sig[256];
        size_t len = sizeof(sig);
        ck_assert_int_eq(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", P11, k, NULL), 1);
        ck_assert_int_le(EVP_DigestSign(mctx, sig, &len, (const unsigned char *) data, strlen(data)), 0);
        ck_assert_uint_eq(kb_p11_pkey_last_rv(k), CKR_SESSION_HANDLE_INVALID);

        _cleanup_(BIO_freep) BIO *in = data_bio();
        ck_assert_ptr_null(CMS_sign_ex(certs[1], k, NULL, in, CMS_BINARY, P11));
        ck_assert_uint_eq(kb_p11_pkey_last_rv(k), CKR_SESSION_HANDLE_INVALID);

        /* The main session still signs, and a success clears the value. */
        size_t ok_len = 0;
        free(token_sign(rsa_key, "SHA256", false, &ok_len));
        ck_assert_uint_eq(kb_p11_pkey_last_rv(rsa_key), CKR_OK);
        EVP_PKEY_free(k);
        ERR_clear_error();
}
END_TEST

START_TEST(a_digest_the_token_does_not_take_is_refused) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        ck_assert_int_le(EVP_DigestSignInit_ex(mctx, NULL, "SHA3-256", P11, rsa_key, NULL), 0);
        ERR_clear_error();
}
END_TEST

/* A scan that lands while we are logged in as SO (a PIN unblock, which logs
 * the user out first) still reads the token: no read-only session opens then. */
START_TEST(a_token_reads_while_the_so_is_logged_in) {
        CK_SESSION_HANDLE so = 0;
        kb_token *t = NULL;
        CK_RV rv = CKR_OK;
        ck_assert_uint_eq(fn->C_CloseAllSessions(slot), CKR_OK);
        ck_assert_uint_eq(fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &so), CKR_OK);
        ck_assert_uint_eq(fn->C_Login(so, CKU_SO, (CK_UTF8CHAR_PTR) SO_PIN, strlen(SO_PIN)), CKR_OK);

        ck_assert_int_eq(kb_pkcs11_read_token(fn, slot, "softhsm2", NULL, &t, &rv), 0);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(t->n_certs, 3);
        kb_token_free(t);
        ck_assert_uint_eq(fn->C_Logout(so), CKR_OK);
}
END_TEST

static Suite *p11_pkey_suite(void) {
        Suite *s = suite_create("p11-pkey");
        TCase *tc = tcase_create("key");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, token_keys_look_like_ordinary_rsa_and_ec_keys);
        tcase_add_test(tc, the_public_key_exports_and_the_private_key_does_not);
        tcase_add_test(tc, the_key_equals_its_certificate_key_and_no_other);
        tcase_add_test(tc, a_certificate_of_another_key_or_type_is_refused);
        tcase_add_test(tc, keys_other_than_rsa_and_ec_are_unsupported);
        suite_add_tcase(s, tc);

        tc = tcase_create("signatures");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, rsa_pkcs1_sha256_verifies_with_the_certificate);
        tcase_add_test(tc, rsa_pss_sha256_verifies_with_the_certificate);
        tcase_add_test(tc, ecdsa_signatures_are_der_and_verify);
        tcase_add_test(tc, a_precomputed_digest_signs_with_rsa_and_ecdsa);
        tcase_add_test(tc, the_token_key_verifies_through_its_public_half);
        tcase_add_test(tc, the_key_signs_even_without_our_library_context);
        suite_add_tcase(s, tc);

        tc = tcase_create("cms and csr");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, cms_with_the_rsa_key_verifies_attached_and_detached);
        tcase_add_test(tc, cms_with_the_ec_key_verifies_attached_and_detached);
        tcase_add_test(tc, cms_with_rsa_pss_names_pss_and_verifies);
        tcase_add_test(tc, cms_without_signed_attributes_signs_the_content_digest);
        tcase_add_test(tc, the_openssl_command_verifies_the_cms);
        tcase_add_test(tc, a_csr_signed_with_the_token_key_verifies);
        suite_add_tcase(s, tc);

        tc = tcase_create("failures");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, a_closed_session_fails_and_reports_its_ck_rv);
        tcase_add_test(tc, a_digest_the_token_does_not_take_is_refused);
        suite_add_tcase(s, tc);

        tc = tcase_create("token reading");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, a_token_reads_while_the_so_is_logged_in);
        suite_add_tcase(s, tc);
        return s;
}

/* ---- main: one token for all tests ------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static int make_token(void) {
        const char *script = getenv("KB_MAKE_TOKEN");
        char cmd[512], line[256] = "";
        if (!script || !script[0]) {
                fprintf(stderr, "test-p11-pkey: KB_MAKE_TOKEN is not set\n");
                return -1;
        }
        snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' 2>'%s/make-token.log'", script, dir, LABEL, dir);
        FILE *p = popen(cmd, "r");
        if (!p)
                return -1;
        if (!fgets(line, sizeof(line), p))
                line[0] = 0;
        if (pclose(p) != 0 || strncmp(line, "SOFTHSM2_CONF=", 14) != 0) {
                fprintf(stderr, "test-p11-pkey: %s failed, see %s/make-token.log\n", script, dir);
                return -1;
        }
        line[strcspn(line, "\n")] = 0;
        return setenv("SOFTHSM2_CONF", line + 14, 1);
}

int main(void) {
        snprintf(dir, sizeof(dir), "%s", "/tmp/kb-p11-pkey.XXXXXX");
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        int failed = make_token() < 0 || kb_check_run(p11_pkey_suite()) != EXIT_SUCCESS;
        if (!failed) /* kept after a failure: make-token.log and the CMS files */
                nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
