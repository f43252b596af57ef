/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SM2, SM3 and SM4 as the token does them, with OpenSSL 3. */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <string.h>

#include "skfsoft.h"

EVP_PKEY *ss_key_load(const char *path) {
        BIO *b = BIO_new_file(path, "r");
        EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        return k;
}

int ss_key_save(const char *path, EVP_PKEY *k) {
        BIO *b = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len = 0;
        int r = -1;
        if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) &&
            (len = BIO_get_mem_data(b, &data)) > 0)
                r = ss_write_atomic(path, data, (size_t) len);
        BIO_free_all(b);
        return r;
}

static EVP_PKEY *keypair_from(const BIGNUM *d, const unsigned char *pub, size_t pub_len) {
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
        EVP_PKEY *k = NULL;
        if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len))
                params = OSSL_PARAM_BLD_to_param(bld);
        if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) <= 0)
                k = NULL;
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        return k;
}

/* The SM2 key pair with private scalar d (public key computed); NULL when d
 * is not a valid scalar. */
EVP_PKEY *ss_priv_from_scalar(const unsigned char d[32]) {
        EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
        BIGNUM *bn = BN_bin2bn(d, 32, NULL);
        EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
        unsigned char pub[65];
        EVP_PKEY *k = NULL;
        if (bn && pt && !BN_is_zero(bn) && BN_cmp(bn, EC_GROUP_get0_order(g)) < 0 &&
            EC_POINT_mul(g, pt, bn, NULL, NULL, NULL) &&
            EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), NULL) == sizeof(pub))
                k = keypair_from(bn, pub, sizeof(pub));
        BN_clear_free(bn);
        EC_POINT_free(pt);
        EC_GROUP_free(g);
        return k;
}

bool ss_same_pub(EVP_PKEY *a, EVP_PKEY *b) {
        return a && b && EVP_PKEY_eq(a, b) == 1;
}

int ss_sm3(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32]) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        unsigned int n = 0;
        int ok = c && EVP_DigestInit_ex(c, EVP_sm3(), NULL) && EVP_DigestUpdate(c, a, alen) &&
                 EVP_DigestUpdate(c, b, blen) && EVP_DigestFinal_ex(c, out, &n) && n == 32;
        EVP_MD_CTX_free(c);
        return ok ? 0 : -1;
}

int ss_sm4_ecb(const unsigned char key[16], bool enc, const unsigned char *in, size_t len, unsigned char *out) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;
        int ok = c && len % 16 == 0 && EVP_CipherInit_ex(c, EVP_sm4_ecb(), NULL, key, NULL, enc) &&
                 EVP_CIPHER_CTX_set_padding(c, 0) && EVP_CipherUpdate(c, out, &n, in, (int) len) &&
                 EVP_CipherFinal_ex(c, out + n, &m) && (size_t) (n + m) == len;
        EVP_CIPHER_CTX_free(c);
        return ok ? 0 : -1;
}

int ss_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16], bool pad, const unsigned char *in,
                       size_t len, unsigned char *out, size_t *out_len) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;
        int ok = c && len % 16 == 0 && len > 0 && len <= INT_MAX &&
                 EVP_DecryptInit_ex(c, EVP_sm4_cbc(), NULL, key, iv) && EVP_CIPHER_CTX_set_padding(c, pad) &&
                 EVP_DecryptUpdate(c, out, &n, in, (int) len) && EVP_DecryptFinal_ex(c, out + n, &m);
        EVP_CIPHER_CTX_free(c);
        if (ok)
                *out_len = (size_t) (n + m);
        return ok ? 0 : -1;
}

int ss_sm2_decrypt_blob(EVP_PKEY *k, const SKF_ECCCIPHERBLOB *c, unsigned char *out, size_t *out_len) {
        unsigned char *der = NULL;
        size_t der_len = 0;
        if (kb_skf_cipher_to_der(c, &der, &der_len) < 0)
                return -1;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
        int ok = ctx && EVP_PKEY_decrypt_init(ctx) > 0 && EVP_PKEY_decrypt(ctx, out, out_len, der, der_len) > 0;
        EVP_PKEY_CTX_free(ctx);
        OPENSSL_free(der);
        return ok ? 0 : -1;
}

int ss_sm2_encrypt_blob(EVP_PKEY *pub, const unsigned char *in, size_t len, SKF_ECCCIPHERBLOB *c) {
        unsigned char der[512];
        size_t der_len = sizeof(der);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
        int ok = ctx && len <= SKF_CIPHER_MAX && EVP_PKEY_encrypt_init(ctx) > 0 &&
                 EVP_PKEY_encrypt(ctx, der, &der_len, in, len) > 0 && kb_skf_cipher_from_der(der, der_len, c) == 0;
        EVP_PKEY_CTX_free(ctx);
        return ok ? 0 : -1;
}
