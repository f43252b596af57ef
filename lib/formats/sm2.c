/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Z and e of SM2 signatures (GM/T 0003.2 §5.5, §6.1). */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <string.h>

#include "kb-core.h"
#include "kb-sm2.h"

#define FIELD_LEN 32

KB_DEFINE_POINTER_CLEANUP(EC_GROUP, EC_GROUP_free)
KB_DEFINE_POINTER_CLEANUP(BN_CTX, BN_CTX_free)

static int put(EVP_MD_CTX *m, const BIGNUM *v) {
        unsigned char b[FIELD_LEN];
        return BN_bn2binpad(v, b, sizeof(b)) == FIELD_LEN && EVP_DigestUpdate(m, b, sizeof(b));
}

/* a, b, xG, yG of the SM2 curve, in that order, from OpenSSL's curve table. */
static int put_curve(EVP_MD_CTX *m) {
        _cleanup_(EC_GROUP_freep) EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
        _cleanup_(BN_CTX_freep) BN_CTX *bn = BN_CTX_new();
        if (!g || !bn)
                return 0;
        BN_CTX_start(bn);
        BIGNUM *p = BN_CTX_get(bn), *a = BN_CTX_get(bn), *b = BN_CTX_get(bn);
        BIGNUM *x = BN_CTX_get(bn), *y = BN_CTX_get(bn);
        int ok = y && EC_GROUP_get_curve(g, p, a, b, bn) &&
                 EC_POINT_get_affine_coordinates(g, EC_GROUP_get0_generator(g), x, y, bn) &&
                 put(m, a) && put(m, b) && put(m, x) && put(m, y);
        BN_CTX_end(bn);
        return ok;
}

static int put_public(EVP_MD_CTX *m, const EVP_PKEY *pub) {
        BIGNUM *x = NULL, *y = NULL;
        int ok = EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_X, &x) &&
                 EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_Y, &y) && put(m, x) && put(m, y);
        BN_free(x);
        BN_free(y);
        return ok;
}

static bool is_sm2(const EVP_PKEY *pub) {
        char group[32];
        return EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) &&
               OBJ_txt2nid(group) == NID_sm2;
}

int kb_sm2_z(const EVP_PKEY *pub, const unsigned char *id, size_t id_len, unsigned char z[KB_SM2_DIGEST_LEN]) {
        if (!pub || !is_sm2(pub))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (id_len > KB_SM2_MAX_ID_LEN)
                return -KB_E_BAD_REQUEST;
        unsigned char entl[2] = { (unsigned char) ((id_len * 8) >> 8), (unsigned char) (id_len * 8) };
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *m = EVP_MD_CTX_new();
        int ok = m && EVP_DigestInit_ex(m, EVP_sm3(), NULL) && EVP_DigestUpdate(m, entl, 2) &&
                 EVP_DigestUpdate(m, id, id_len) && put_curve(m) && put_public(m, pub) &&
                 EVP_DigestFinal_ex(m, z, NULL);
        return ok ? 0 : -KB_E_INTERNAL;
}

int kb_sm2_digest(const EVP_PKEY *pub, const unsigned char *id, size_t id_len, const unsigned char *msg,
                  size_t msg_len, unsigned char e[KB_SM2_DIGEST_LEN]) {
        unsigned char z[KB_SM2_DIGEST_LEN];
        int r = kb_sm2_z(pub, id, id_len, z);
        if (r < 0)
                return r;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *m = EVP_MD_CTX_new();
        int ok = m && EVP_DigestInit_ex(m, EVP_sm3(), NULL) && EVP_DigestUpdate(m, z, sizeof(z)) &&
                 EVP_DigestUpdate(m, msg, msg_len) && EVP_DigestFinal_ex(m, e, NULL);
        return ok ? 0 : -KB_E_INTERNAL;
}
