/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Z and e of SM2 signatures, checked against OpenSSL's own SM2: a digest we
 * compute, signed as a bare digest, must verify as OpenSSL's SM2-SM3
 * signature of the message with the same distinguishing ID. */
#include <check.h>
#include <openssl/evp.h>
#include <string.h>

#include "kb-check.h"
#include "kb-error.h"
#include "kb-sm2.h"

static const unsigned char msg[] = "message digest";

/* Sign e as a bare digest with key (what a token does). */
static size_t sign_e(EVP_PKEY *key, const unsigned char *e, unsigned char *sig, size_t cap) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
        size_t len = cap;
        ck_assert(c && EVP_PKEY_sign_init(c) > 0 && EVP_PKEY_sign(c, sig, &len, e, KB_SM2_DIGEST_LEN) > 0);
        EVP_PKEY_CTX_free(c);
        return len;
}

static bool openssl_verifies(EVP_PKEY *key, const char *id, const unsigned char *sig, size_t len) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(key, NULL);
        ck_assert(m && pctx && EVP_PKEY_CTX_set1_id(pctx, id, strlen(id)) > 0);
        EVP_MD_CTX_set_pkey_ctx(m, pctx);
        ck_assert(EVP_DigestVerifyInit(m, NULL, EVP_sm3(), NULL, key) > 0);
        bool ok = EVP_DigestVerify(m, sig, len, msg, sizeof(msg) - 1) == 1;
        EVP_MD_CTX_free(m);
        EVP_PKEY_CTX_free(pctx);
        return ok;
}

static void check_id(const char *id, const char *other) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        unsigned char e[KB_SM2_DIGEST_LEN], sig[80];
        ck_assert_ptr_nonnull(key);
        ck_assert_int_eq(kb_sm2_digest(key, (const unsigned char *) id, strlen(id), msg, sizeof(msg) - 1, e), 0);
        size_t len = sign_e(key, e, sig, sizeof(sig));
        ck_assert(openssl_verifies(key, id, sig, len));
        ck_assert(!openssl_verifies(key, other, sig, len));
        EVP_PKEY_free(key);
}

START_TEST(test_the_default_id_matches_openssl) {
        check_id(KB_SM2_DEFAULT_ID, "alice@example.cn");
}
END_TEST

START_TEST(test_another_id_matches_openssl) {
        check_id("alice@example.cn", KB_SM2_DEFAULT_ID);
}
END_TEST

/* ENTL is the ID's length in bits, two bytes: IDs of other lengths too. */
START_TEST(test_ids_of_other_lengths_match_openssl) {
        char id[KB_SM2_MAX_ID_LEN + 1];
        static const size_t lengths[] = { 1, 31, 40, 255 };
        for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
                memset(id, 'a' + (int) i, lengths[i]);
                id[lengths[i]] = '\0';
                check_id(id, KB_SM2_DEFAULT_ID);
        }
}
END_TEST

START_TEST(test_non_sm2_keys_and_long_ids_are_refused) {
        unsigned char z[KB_SM2_DIGEST_LEN], id[KB_SM2_MAX_ID_LEN + 1] = { 0 };
        EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        EVP_PKEY *sm2 = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        ck_assert_int_eq(kb_sm2_z(p256, id, 16, z), -KB_E_UNSUPPORTED_ALGORITHM);
        ck_assert_int_eq(kb_sm2_z(NULL, id, 16, z), -KB_E_UNSUPPORTED_ALGORITHM);
        ck_assert_int_eq(kb_sm2_z(sm2, id, sizeof(id), z), -KB_E_BAD_REQUEST);
        ck_assert_int_eq(kb_sm2_z(sm2, id, sizeof(id) - 1, z), 0);
        EVP_PKEY_free(p256);
        EVP_PKEY_free(sm2);
}
END_TEST

int main(void) {
        Suite *s = suite_create("sm2");
        TCase *tc = tcase_create("sm2");
        tcase_add_test(tc, test_the_default_id_matches_openssl);
        tcase_add_test(tc, test_another_id_matches_openssl);
        tcase_add_test(tc, test_ids_of_other_lengths_match_openssl);
        tcase_add_test(tc, test_non_sm2_keys_and_long_ids_are_refused);
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
