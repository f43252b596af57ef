/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GM/T 0010 SM2 envelopes: what kb_sm2_envelope_seal writes opens with
 * OpenSSL's own SM2 decryption and SM4-CBC for the certificate it names, and
 * for no other; malformed input is refused; PKCS#7 padding is checked. */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "kb-check.h"
#include "kb-error.h"
#include "kb-sm2-envelope.h"

/* A certificate for key with this serial (signed by key itself with SHA-256:
 * the signature does not matter here). */
static X509 *cert_for(EVP_PKEY *key, long serial) {
        X509 *x = X509_new();
        X509_NAME *n = X509_NAME_new();
        ck_assert(x && n && X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) "测试 CA", -1, -1, 0));
        ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), serial) && X509_set_issuer_name(x, n) &&
                  X509_set_subject_name(x, n) && X509_set_pubkey(x, key));
        X509_NAME_free(n);
        return x;
}

/* What a token does with an envelope: SM2-decrypt the key, SM4-CBC the content. */
static size_t open_with(EVP_PKEY *key, const kb_sm2_envelope *e, unsigned char *out) {
        unsigned char sm4[32];
        size_t sm4_len = sizeof(sm4);
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
        ck_assert(c && EVP_PKEY_decrypt_init(c) > 0 && EVP_PKEY_decrypt(c, sm4, &sm4_len, e->cipher, e->cipher_len) > 0);
        ck_assert_uint_eq(sm4_len, 16);
        EVP_PKEY_CTX_free(c);
        EVP_CIPHER_CTX *d = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;
        ck_assert(d && EVP_DecryptInit_ex(d, EVP_sm4_cbc(), NULL, sm4, e->iv) && EVP_CIPHER_CTX_set_padding(d, 0) &&
                  EVP_DecryptUpdate(d, out, &n, e->content, (int) e->content_len) && EVP_DecryptFinal_ex(d, out + n, &m));
        EVP_CIPHER_CTX_free(d);
        size_t len = 0;
        ck_assert_int_eq(kb_pkcs7_unpad(out, (size_t) (n + m), &len), 0);
        return len;
}

START_TEST(test_a_sealed_envelope_opens_for_its_certificate_only) {
        static const unsigned char bid[] = "投标文件：报价一百万元整";
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        ck_assert_ptr_nonnull(key);
        X509 *mine = cert_for(key, 7), *other = cert_for(key, 8);
        unsigned char *der = NULL, out[sizeof(bid) + 16];
        size_t len = 0;
        kb_sm2_envelope e;
        ck_assert_int_eq(kb_sm2_envelope_seal(mine, bid, sizeof(bid), &der, &len), 0);
        ck_assert_int_eq(kb_sm2_envelope_read(der, len, mine, &e), 0);
        ck_assert_uint_eq(e.content_len % KB_SM4_BLOCK, 0);
        ck_assert_uint_eq(open_with(key, &e, out), sizeof(bid));
        ck_assert_mem_eq(out, bid, sizeof(bid));
        kb_sm2_envelope_clear(&e);
        ck_assert_int_eq(kb_sm2_envelope_read(der, len, other, &e), -KB_E_NOT_RECIPIENT);
        ck_assert_int_eq(kb_sm2_envelope_read(der, len - 1, mine, &e), -KB_E_BAD_REQUEST);
        ck_assert_int_eq(kb_sm2_envelope_read((const unsigned char *) "\x30\x00", 2, mine, &e), -KB_E_BAD_REQUEST);
        OPENSSL_free(der);
        X509_free(mine);
        X509_free(other);
        EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_only_sm2_keys_are_sealed_to) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        X509 *x = cert_for(key, 1);
        unsigned char *der = NULL;
        size_t len = 0;
        ck_assert_int_eq(kb_sm2_envelope_seal(x, (const unsigned char *) "a", 1, &der, &len), -KB_E_UNSUPPORTED_ALGORITHM);
        ck_assert_ptr_null(der);
        X509_free(x);
        EVP_PKEY_free(key);
}
END_TEST

START_TEST(test_pkcs7_padding_is_checked_byte_by_byte) {
        unsigned char b[32];
        size_t len = 0;
        memset(b, 0x10, sizeof(b));
        ck_assert_int_eq(kb_pkcs7_unpad(b, 32, &len), 0);
        ck_assert_uint_eq(len, 16);
        b[31] = 3, b[30] = 3, b[29] = 3;
        ck_assert_int_eq(kb_pkcs7_unpad(b, 32, &len), 0);
        ck_assert_uint_eq(len, 29);
        b[29] = 4;
        ck_assert_int_eq(kb_pkcs7_unpad(b, 32, &len), -KB_E_DECRYPT_FAILED);
        b[31] = 0;
        ck_assert_int_eq(kb_pkcs7_unpad(b, 32, &len), -KB_E_DECRYPT_FAILED);
        b[31] = 17;
        ck_assert_int_eq(kb_pkcs7_unpad(b, 32, &len), -KB_E_DECRYPT_FAILED);
        ck_assert_int_eq(kb_pkcs7_unpad(b, 31, &len), -KB_E_DECRYPT_FAILED);
        ck_assert_int_eq(kb_pkcs7_unpad(b, 0, &len), -KB_E_DECRYPT_FAILED);
}
END_TEST

int main(void) {
        Suite *s = suite_create("sm2-envelope");
        TCase *tc = tcase_create("sm2-envelope");
        tcase_add_test(tc, test_a_sealed_envelope_opens_for_its_certificate_only);
        tcase_add_test(tc, test_only_sm2_keys_are_sealed_to);
        tcase_add_test(tc, test_pkcs7_padding_is_checked_byte_by_byte);
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
