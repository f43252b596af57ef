/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Key pairs on PKCS#11 tokens for renewal: generate one beside the current
 * key, find the key of a certificate by its public key, load a key as an
 * EVP_PKEY, destroy a pair. Keys are found by CKA_ID; a pair's public half
 * is read from its public key object (or, for RSA, from the private key's
 * public attributes). Callers hold the source's op_lock and have logged in.
 */
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <string.h>

#include "kb-core.h"
#include "p11-pkey.h"
#include "pkcs11-internal.h"

#define MAX_KEYS 64
#define NEW_ID_LEN 16
#define MAX_ATTR 4096

KB_DEFINE_POINTER_CLEANUP(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
KB_DEFINE_POINTER_CLEANUP(OSSL_PARAM, OSSL_PARAM_free)
KB_DEFINE_POINTER_CLEANUP(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free)
KB_DEFINE_POINTER_CLEANUP(ASN1_OBJECT, ASN1_OBJECT_free)

/* One attribute into buf (bounded); its length, or -KB_E_*. */
static int get_attr(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                    unsigned char *buf, size_t size, size_t *ret_len) {
        CK_ATTRIBUTE a = { type, NULL, 0 };
        CK_RV rv = p->fn->C_GetAttributeValue(h, o, &a, 1);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > size)
                return -KB_E_NOT_FOUND;
        a.pValue = buf;
        rv = p->fn->C_GetAttributeValue(h, o, &a, 1);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        *ret_len = a.ulValueLen;
        return 0;
}

int kb_p11_find_keys(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const kb_key_id *id,
                     CK_OBJECT_HANDLE *objs, size_t max, size_t *ret_n) {
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_ID, id ? (void *) id->v : NULL, id ? id->len : 0 },
        };
        CK_ULONG n = 0;
        CK_RV rv = kb_pkcs11_find(p->fn, h, tmpl, id ? 2 : 1, objs, max, &n);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        *ret_n = n;
        return 0;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld) {
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        EVP_PKEY *k = NULL;
        if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) <= 0)
                k = NULL;
        EVP_PKEY_CTX_free(ctx);
        return k;
}

static int rsa_public(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, EVP_PKEY **ret) {
        unsigned char n[MAX_ATTR], e[64];
        size_t n_len = 0, e_len = 0;
        int r = get_attr(p, h, o, CKA_MODULUS, n, sizeof(n), &n_len);
        if (r >= 0)
                r = get_attr(p, h, o, CKA_PUBLIC_EXPONENT, e, sizeof(e), &e_len);
        if (r < 0)
                return r;
        _cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(n, (int) n_len, NULL);
        _cleanup_(BN_freep) BIGNUM *be = BN_bin2bn(e, (int) e_len, NULL);
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (!bn || !be || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
                return -KB_E_INTERNAL;
        *ret = from_params("RSA", bld);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40); some modules give the
 * bare point. */
static int ec_public(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, EVP_PKEY **ret) {
        unsigned char params[256], point[MAX_ATTR];
        size_t params_len = 0, point_len = 0;
        int r = get_attr(p, h, o, CKA_EC_PARAMS, params, sizeof(params), &params_len);
        if (r >= 0)
                r = get_attr(p, h, o, CKA_EC_POINT, point, sizeof(point), &point_len);
        if (r < 0)
                return r;
        const unsigned char *in = params, *pin = point;
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &in, (long) params_len);
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &pin, (long) point_len);
        if (os && pin != point + point_len) { /* a bare point that happened to parse */
                ASN1_OCTET_STRING_free(os);
                os = NULL;
        }
        const char *group = oid ? OBJ_nid2sn(OBJ_obj2nid(oid)) : NULL;
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (!group || !bld)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        const unsigned char *pt = os ? ASN1_STRING_get0_data(os) : point;
        size_t pt_len = os ? (size_t) ASN1_STRING_length(os) : point_len;
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, pt_len))
                return -KB_E_INTERNAL;
        *ret = from_params("EC", bld);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* The public key of a key object (public, or an RSA private key). */
static int public_of(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, EVP_PKEY **ret) {
        CK_KEY_TYPE type;
        size_t len = 0;
        int r = get_attr(p, h, o, CKA_KEY_TYPE, (unsigned char *) &type, sizeof(type), &len);
        if (r < 0)
                return r;
        if (type == CKK_RSA)
                return rsa_public(p, h, o, ret);
        if (type == CKK_EC)
                return ec_public(p, h, o, ret);
        return -KB_E_UNSUPPORTED_ALGORITHM;
}

/* The public key of the pair with this CKA_ID. */
static int pair_public(kb_p11_source *p, CK_SESSION_HANDLE h, const kb_key_id *id, CK_OBJECT_HANDLE priv,
                       EVP_PKEY **ret) {
        CK_OBJECT_HANDLE pub;
        size_t n = 0;
        int r = kb_p11_find_keys(p, h, CKO_PUBLIC_KEY, id, &pub, 1, &n);
        if (r < 0)
                return r;
        return public_of(p, h, n == 1 ? pub : priv, ret);
}

int kb_p11_key_load(kb_source *s, const kb_token *t, const kb_key_id *id, EVP_PKEY **ret) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_SESSION_HANDLE h;
        CK_OBJECT_HANDLE priv;
        size_t n = 0;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
        int r = kb_p11_login_session(p, t, &h);
        if (r >= 0)
                r = kb_p11_find_keys(p, h, CKO_PRIVATE_KEY, id, &priv, 1, &n);
        if (r >= 0 && n != 1)
                r = -KB_E_NOT_FOUND;
        if (r >= 0)
                r = pair_public(p, h, id, priv, &pub);
        if (r < 0)
                return r;
        return kb_p11_pkey_new(p->fn, h, NULL, priv, pub, ret);
}

static int id_of(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, kb_key_id *ret) {
        size_t len = 0;
        int r = get_attr(p, h, o, CKA_ID, ret->v, sizeof(ret->v), &len);
        ret->len = len;
        return r < 0 ? r : (len > 0 ? 0 : -KB_E_NOT_FOUND);
}

/* Does object o's public key equal pub? Unreadable objects are not it. */
static bool same_public(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, const EVP_PKEY *pub) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        return public_of(p, h, o, &k) >= 0 && EVP_PKEY_eq(k, pub) == 1;
}

/* Among objects of class cls, the one whose public key is pub, if its pair
 * has a private key. */
static int find_by_public(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const EVP_PKEY *pub,
                          kb_key_id *ret_id) {
        CK_OBJECT_HANDLE objs[MAX_KEYS], priv;
        size_t n = 0, n_priv = 0;
        int r = kb_p11_find_keys(p, h, cls, NULL, objs, MAX_KEYS, &n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (!same_public(p, h, objs[i], pub) || id_of(p, h, objs[i], ret_id) < 0)
                        continue;
                r = kb_p11_find_keys(p, h, CKO_PRIVATE_KEY, ret_id, &priv, 1, &n_priv);
                if (r >= 0 && n_priv == 1)
                        return 0;
        }
        return r < 0 ? r : -KB_E_NOT_FOUND;
}

int kb_p11_key_find(kb_source *s, const kb_token *t, const EVP_PKEY *pub, kb_key_id *ret_id) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_SESSION_HANDLE h;
        int r = kb_p11_login_session(p, t, &h);
        if (r < 0)
                return r;
        r = find_by_public(p, h, CKO_PUBLIC_KEY, pub, ret_id);
        if (r == -KB_E_NOT_FOUND)
                r = find_by_public(p, h, CKO_PRIVATE_KEY, pub, ret_id);
        return r;
}

int kb_p11_key_destroy(kb_source *s, const kb_token *t, const kb_key_id *id) {
        static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };
        kb_p11_source *p = (kb_p11_source *) s;
        CK_OBJECT_HANDLE objs[MAX_KEYS];
        CK_SESSION_HANDLE h;
        int r = kb_p11_login_session(p, t, &h);
        if (r < 0)
                return r;
        kb_p11_forget_keys(p, t); /* a cached handle may be one of them */
        for (size_t c = 0; r >= 0 && c < KB_ELEMENTSOF(classes); c++) {
                size_t n = 0;
                r = kb_p11_find_keys(p, h, classes[c], id, objs, MAX_KEYS, &n);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        CK_RV rv = p->fn->C_DestroyObject(h, objs[i]);
                        r = rv == CKR_OK || rv == CKR_OBJECT_HANDLE_INVALID ? 0 : kb_p11_rv(rv);
                }
        }
        return r;
}

/* CKA_EC_PARAMS: the DER OID of the named curve. */
static int curve_params(int nid, unsigned char *buf, size_t size, size_t *ret_len) {
        ASN1_OBJECT *oid = OBJ_nid2obj(nid);
        int len = oid ? i2d_ASN1_OBJECT(oid, NULL) : -1;
        if (len <= 0 || (size_t) len > size)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        unsigned char *out = buf;
        *ret_len = (size_t) i2d_ASN1_OBJECT(oid, &out);
        return 0;
}

int kb_p11_key_generate(kb_source *s, const kb_token *t, const kb_keygen *spec, kb_key_id *ret_id) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE, decrypt = spec->decrypt ? CK_TRUE : CK_FALSE;
        CK_BBOOL unwrap = spec->unwrap ? CK_TRUE : CK_FALSE;
        CK_ULONG bits = (CK_ULONG) spec->bits;
        CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
        unsigned char ec_params[64];
        size_t ec_len = 0;
        bool rsa = spec->type == KB_KEY_RSA;
        CK_MECHANISM mech = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0 };
        CK_SESSION_HANDLE h;
        CK_OBJECT_HANDLE pub, priv;

        if (!rsa && (spec->type != KB_KEY_EC || curve_params(spec->curve_nid, ec_params, sizeof(ec_params), &ec_len) < 0))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        int r = kb_p11_login_session(p, t, &h);
        if (r < 0)
                return r;
        if (RAND_bytes(ret_id->v, NEW_ID_LEN) != 1)
                return -KB_E_INTERNAL;
        ret_id->len = NEW_ID_LEN;
        size_t label_len = strlen(spec->label);
        CK_ATTRIBUTE pub_tmpl[] = {
                { CKA_TOKEN, &yes, sizeof(yes) },
                { CKA_PRIVATE, &no, sizeof(no) },
                { CKA_VERIFY, &yes, sizeof(yes) },
                { CKA_ID, ret_id->v, ret_id->len },
                { CKA_LABEL, (void *) spec->label, label_len },
                { rsa ? CKA_MODULUS_BITS : CKA_EC_PARAMS, rsa ? (void *) &bits : ec_params,
                  rsa ? sizeof(bits) : ec_len },
                { CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) },
        };
        CK_ATTRIBUTE priv_tmpl[] = {
                { CKA_TOKEN, &yes, sizeof(yes) },
                { CKA_PRIVATE, &yes, sizeof(yes) },
                { CKA_SENSITIVE, &yes, sizeof(yes) },
                { CKA_EXTRACTABLE, &no, sizeof(no) },
                { CKA_SIGN, &yes, sizeof(yes) },
                { CKA_ID, ret_id->v, ret_id->len },
                { CKA_LABEL, (void *) spec->label, label_len },
                { rsa ? CKA_DECRYPT : CKA_DERIVE, &decrypt, sizeof(decrypt) },
                { CKA_UNWRAP, &unwrap, sizeof(unwrap) },        /* RSA only: last */
        };
        CK_RV rv = p->fn->C_GenerateKeyPair(h, &mech, pub_tmpl, KB_ELEMENTSOF(pub_tmpl) - (rsa ? 0 : 1),
                                            priv_tmpl, KB_ELEMENTSOF(priv_tmpl) - (rsa ? 0 : 1), &pub, &priv);
        return rv == CKR_OK ? 0 : kb_p11_rv(rv);
}

/* Sizes in CK_MECHANISM_INFO are bits for RSA and, by PKCS#11 2.40, for EC
 * too; some modules give EC sizes in bytes: those are taken as they come. */
static bool size_listed(const CK_MECHANISM_INFO *info, int bits) {
        if (info->ulMaxKeySize == 0 || info->ulMaxKeySize < 128)
                return true;    /* not told, or in bytes */
        return (CK_ULONG) bits >= info->ulMinKeySize && (CK_ULONG) bits <= info->ulMaxKeySize;
}

int kb_p11_key_supported(kb_source *s, const kb_token *t, const kb_keygen *spec) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_MECHANISM_INFO info = { 0 };
        if (spec->type != KB_KEY_RSA && spec->type != KB_KEY_EC)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        CK_MECHANISM_TYPE mech = spec->type == KB_KEY_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN;
        CK_RV rv = p->fn->C_GetMechanismInfo(t->slot_id, mech, &info);
        if (rv == CKR_MECHANISM_INVALID)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        if (!(info.flags & CKF_GENERATE_KEY_PAIR) || !size_listed(&info, spec->bits))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        return 0;
}
