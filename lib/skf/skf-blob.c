/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <stdbool.h>
#include <string.h>

#include "kb-skf-blob.h"

#define SM2_BYTES 32            /* a coordinate or scalar on the SM2 curve */
#define PAD (SKF_ECC_BYTES - SM2_BYTES)

/* GM/T 0009 SM2 ciphertext: C1 as two INTEGERs, C3, C2. */
typedef struct {
        BIGNUM *x, *y;
        ASN1_OCTET_STRING *hash, *ciphertext;
} SM2_CIPHERTEXT;

ASN1_SEQUENCE(SM2_CIPHERTEXT) = {
        ASN1_SIMPLE(SM2_CIPHERTEXT, x, BIGNUM),
        ASN1_SIMPLE(SM2_CIPHERTEXT, y, BIGNUM),
        ASN1_SIMPLE(SM2_CIPHERTEXT, hash, ASN1_OCTET_STRING),
        ASN1_SIMPLE(SM2_CIPHERTEXT, ciphertext, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(SM2_CIPHERTEXT)

static SM2_CIPHERTEXT *d2i_sm2_ciphertext(const unsigned char **in, long len) {
        return (SM2_CIPHERTEXT *) ASN1_item_d2i(NULL, in, len, ASN1_ITEM_rptr(SM2_CIPHERTEXT));
}

static int i2d_sm2_ciphertext(const SM2_CIPHERTEXT *ct, unsigned char **out) {
        return ASN1_item_i2d((const ASN1_VALUE *) ct, out, ASN1_ITEM_rptr(SM2_CIPHERTEXT));
}

static void sm2_ciphertext_free(SM2_CIPHERTEXT *ct) {
        ASN1_item_free((ASN1_VALUE *) ct, ASN1_ITEM_rptr(SM2_CIPHERTEXT));
}

int kb_skf_pub_to_blob(const EVP_PKEY *k, SKF_ECCPUBLICKEYBLOB *blob) {
        unsigned char pt[1 + 2 * SM2_BYTES];
        size_t len = 0;
        if (!EVP_PKEY_is_a(k, "SM2") ||
            !EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len) ||
            len != sizeof(pt) || pt[0] != POINT_CONVERSION_UNCOMPRESSED)
                return -1;
        memset(blob, 0, sizeof(*blob));
        blob->BitLen = 8 * SM2_BYTES;
        memcpy(blob->XCoordinate + PAD, pt + 1, SM2_BYTES);
        memcpy(blob->YCoordinate + PAD, pt + 1 + SM2_BYTES, SM2_BYTES);
        return 0;
}

static bool leading_zeros(const unsigned char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

EVP_PKEY *kb_skf_blob_to_pub(const SKF_ECCPUBLICKEYBLOB *blob) {
        unsigned char pt[1 + 2 * SM2_BYTES] = { POINT_CONVERSION_UNCOMPRESSED };
        if (blob->BitLen != 8 * SM2_BYTES || !leading_zeros(blob->XCoordinate, PAD) ||
            !leading_zeros(blob->YCoordinate, PAD))
                return NULL;
        memcpy(pt + 1, blob->XCoordinate + PAD, SM2_BYTES);
        memcpy(pt + 1 + SM2_BYTES, blob->YCoordinate + PAD, SM2_BYTES);
        OSSL_PARAM params[] = {
                OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *) "SM2", 0),
                OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)),
                OSSL_PARAM_END,
        };
        EVP_PKEY *k = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
        if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
                k = NULL;
        EVP_PKEY_CTX_free(ctx);
        return k;
}

int kb_skf_sig_to_der(const SKF_ECCSIGNATUREBLOB *sig, unsigned char **ret, size_t *ret_len) {
        ECDSA_SIG *s = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig->r, SKF_ECC_BYTES, NULL), *sv = BN_bin2bn(sig->s, SKF_ECC_BYTES, NULL);
        unsigned char *der = NULL;
        int len = -1;
        if (s && r && sv && ECDSA_SIG_set0(s, r, sv)) {
                r = sv = NULL;  /* owned by s now */
                len = i2d_ECDSA_SIG(s, &der);
        }
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(s);
        if (len <= 0)
                return -1;
        *ret = der;
        *ret_len = (size_t) len;
        return 0;
}

int kb_skf_sig_from_der(const unsigned char *der, size_t len, SKF_ECCSIGNATUREBLOB *sig) {
        const unsigned char *p = der;
        ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long) len);
        int r = -1;
        memset(sig, 0, sizeof(*sig));
        if (s && p == der + len && BN_bn2binpad(ECDSA_SIG_get0_r(s), sig->r, SKF_ECC_BYTES) == SKF_ECC_BYTES &&
            BN_bn2binpad(ECDSA_SIG_get0_s(s), sig->s, SKF_ECC_BYTES) == SKF_ECC_BYTES)
                r = 0;
        ECDSA_SIG_free(s);
        return r;
}

int kb_skf_cipher_to_der(const SKF_ECCCIPHERBLOB *c, unsigned char **ret, size_t *ret_len) {
        if (c->CipherLen == 0 || c->CipherLen > SKF_CIPHER_MAX)
                return -1;
        ASN1_OCTET_STRING *hash = ASN1_OCTET_STRING_new(), *text = ASN1_OCTET_STRING_new();
        SM2_CIPHERTEXT ct = { BN_bin2bn(c->XCoordinate, SKF_ECC_BYTES, NULL),
                              BN_bin2bn(c->YCoordinate, SKF_ECC_BYTES, NULL), hash, text };
        unsigned char *der = NULL;
        int len = -1;
        if (ct.x && ct.y && hash && text && ASN1_OCTET_STRING_set(hash, c->HASH, sizeof(c->HASH)) &&
            ASN1_OCTET_STRING_set(text, c->Cipher, (int) c->CipherLen))
                len = i2d_sm2_ciphertext(&ct, &der);
        BN_free(ct.x);
        BN_free(ct.y);
        ASN1_OCTET_STRING_free(hash);
        ASN1_OCTET_STRING_free(text);
        if (len <= 0)
                return -1;
        *ret = der;
        *ret_len = (size_t) len;
        return 0;
}

int kb_skf_cipher_from_der(const unsigned char *der, size_t len, SKF_ECCCIPHERBLOB *c) {
        const unsigned char *p = der;
        SM2_CIPHERTEXT *ct = d2i_sm2_ciphertext(&p, (long) len);
        int r = -1;
        memset(c, 0, sizeof(*c));
        if (ct && p == der + len && ASN1_STRING_length(ct->hash) == (int) sizeof(c->HASH) &&
            ASN1_STRING_length(ct->ciphertext) > 0 && ASN1_STRING_length(ct->ciphertext) <= SKF_CIPHER_MAX &&
            BN_bn2binpad(ct->x, c->XCoordinate, SKF_ECC_BYTES) == SKF_ECC_BYTES &&
            BN_bn2binpad(ct->y, c->YCoordinate, SKF_ECC_BYTES) == SKF_ECC_BYTES) {
                memcpy(c->HASH, ASN1_STRING_get0_data(ct->hash), sizeof(c->HASH));
                c->CipherLen = (SKF_ULONG) ASN1_STRING_length(ct->ciphertext);
                memcpy(c->Cipher, ASN1_STRING_get0_data(ct->ciphertext), c->CipherLen);
                r = 0;
        }
        sm2_ciphertext_free(ct);
        return r;
}
