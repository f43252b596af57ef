/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ECDH of the "keybridge-p11" provider, for digital envelopes (CMS key
 * agreement): the token derives the shared secret Z with CKM_ECDH1_DERIVE
 * (no KDF) into a session object that lives only until its value is read;
 * the host applies the KDF the envelope names (ANSI X9.63, as CMS sets it)
 * and wipes Z. A token that does not let a derived secret be read cannot
 * open such envelopes; the error says the mechanism is refused.
 */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "p11-pkey.h"

#define MAX_POINT 133           /* uncompressed P-521 */
#define MAX_SECRET 66

typedef struct exch_ctx {
        OSSL_LIB_CTX *libctx;
        kb_p11pk_key *key;              /* borrowed, as the peer */
        kb_p11pk_key *peer;
        bool x963;                      /* KDF: X9.63, else none (Z itself) */
        EVP_MD *kdf_md;
        size_t kdf_outlen;
        unsigned char *ukm;
        size_t ukm_len;
} exch_ctx;

static void *ctx_new(void *provctx) {
        exch_ctx *c = calloc(1, sizeof(*c));
        if (c)
                c->libctx = provctx;
        return c;
}

static void ctx_free(void *vctx) {
        exch_ctx *c = vctx;
        if (!c)
                return;
        EVP_MD_free(c->kdf_md);
        OPENSSL_free(c->ukm);
        free(c);
}

static int set_kdf_type(exch_ctx *c, const OSSL_PARAM *p) {
        const char *s = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
                return 0;
        if (strcmp(s, "") != 0 && strcmp(s, OSSL_KDF_NAME_X963KDF) != 0)
                return 0;
        c->x963 = s[0] != '\0';
        return 1;
}

static int set_kdf_md(exch_ctx *c, const OSSL_PARAM *p) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
                return 0;
        EVP_MD *md = EVP_MD_fetch(c->libctx, name, NULL);
        if (!md)
                return 0;
        EVP_MD_free(c->kdf_md);
        c->kdf_md = md;
        return 1;
}

static int set_ukm(exch_ctx *c, const OSSL_PARAM *p) {
        void *ukm = NULL;
        size_t len = 0;
        if (!OSSL_PARAM_get_octet_string(p, &ukm, 0, &len))
                return 0;
        OPENSSL_free(c->ukm);
        c->ukm = ukm;
        c->ukm_len = len;
        return 1;
}

/* Cofactor ECDH equals plain ECDH on the curves with cofactor 1 (all the
 * token curves); other modes are refused. */
static int set_cofactor(const OSSL_PARAM *p) {
        int mode = 0;
        return OSSL_PARAM_get_int(p, &mode) && mode >= -1 && mode <= 1;
}

static int set_params(void *vctx, const OSSL_PARAM params[]) {
        exch_ctx *c = vctx;
        const OSSL_PARAM *p;
        if (!params)
                return 1;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_TYPE)) && !set_kdf_type(c, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST)) && !set_kdf_md(c, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN)) &&
            !OSSL_PARAM_get_size_t(p, &c->kdf_outlen))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_UKM)) && !set_ukm(c, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE)) && !set_cofactor(p))
                return 0;
        return 1;
}

static const OSSL_PARAM *settable_params(void *vctx, void *provctx) {
        static const OSSL_PARAM settable[] = {
                OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
                OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
                OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
                OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
                OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
                OSSL_PARAM_END,
        };
        return settable;
}

static int init(void *vctx, void *keydata, const OSSL_PARAM params[]) {
        exch_ctx *c = vctx;
        kb_p11pk_key *k = keydata;
        if (!k || !k->fn || k->type != CKK_EC) {
                ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT, "not an EC key on a token");
                return 0;
        }
        c->key = k;
        return set_params(c, params);
}

static int set_peer(void *vctx, void *keydata) {
        exch_ctx *c = vctx;
        kb_p11pk_key *peer = keydata;
        if (!peer || !peer->pub || peer->type != CKK_EC || EVP_PKEY_parameters_eq(peer->pub, c->key->pub) != 1) {
                ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT, "peer key on another curve");
                return 0;
        }
        c->peer = peer;
        return 1;
}

/* Read the derived secret's value and destroy the object either way. */
static CK_RV read_secret(kb_p11pk_key *k, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, unsigned char *z, size_t *z_len) {
        CK_ATTRIBUTE a = { CKA_VALUE, z, *z_len };
        CK_RV rv = k->fn->C_GetAttributeValue(s, o, &a, 1);
        if (rv != CKR_OK)
                kb_p11pk_raise_rv("C_GetAttributeValue", rv);
        if (rv == CKR_ATTRIBUTE_SENSITIVE)
                rv = CKR_KEY_FUNCTION_NOT_PERMITTED;    /* Z may not leave this token */
        (void) k->fn->C_DestroyObject(s, o);
        if (rv == CKR_OK)
                *z_len = a.ulValueLen;
        return rv;
}

static CK_RV derive_on(kb_p11pk_key *k, CK_SESSION_HANDLE s, const unsigned char *point, size_t point_len,
                       unsigned char *z, size_t *z_len) {
        CK_ECDH1_DERIVE_PARAMS ecdh = { CKD_NULL, 0, NULL, point_len, (CK_BYTE_PTR) point };
        CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh) };
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE type = CKK_GENERIC_SECRET;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_ULONG len = *z_len;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &type, sizeof(type) },
                { CKA_TOKEN, &no, sizeof(no) },   { CKA_SENSITIVE, &no, sizeof(no) },
                { CKA_EXTRACTABLE, &yes, sizeof(yes) }, { CKA_VALUE_LEN, &len, sizeof(len) },
        };
        CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
        CK_RV rv = k->fn->C_DeriveKey(s, &mech, k->handle, tmpl, KB_ELEMENTSOF(tmpl), &o);
        if (rv != CKR_OK) {
                kb_p11pk_raise_rv("C_DeriveKey", rv);
                /* a token that will not make a readable Z refuses the way we use the mechanism */
                bool refused = rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_TEMPLATE_INCOMPLETE ||
                               rv == CKR_ATTRIBUTE_VALUE_INVALID;
                return refused ? CKR_KEY_FUNCTION_NOT_PERMITTED : rv;
        }
        return read_secret(k, s, o, z, z_len);
}

/* Z, the field's size in bytes, from the token. */
static int token_z(exch_ctx *c, unsigned char *z, size_t *z_len) {
        unsigned char point[MAX_POINT];
        size_t point_len = 0;
        *z_len = (size_t) (EVP_PKEY_get_bits(c->key->pub) + 7) / 8;
        if (*z_len == 0 || *z_len > MAX_SECRET ||
            !EVP_PKEY_get_octet_string_param(c->peer->pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
                                             &point_len))
                return 0;
        CK_SESSION_HANDLE s;
        CK_RV rv = kb_p11pk_session_take(c->key, &s);
        if (rv != CKR_OK)
                return 0;
        rv = derive_on(c->key, s, point, point_len, z, z_len);
        kb_p11pk_session_give(c->key, s);
        kb_p11pk_set_thread_last_rv(rv);
        return rv == CKR_OK;
}

static int x963(exch_ctx *c, const unsigned char *z, size_t z_len, unsigned char *out, size_t outlen) {
        EVP_KDF *kdf = EVP_KDF_fetch(c->libctx, OSSL_KDF_NAME_X963KDF, "provider=default");
        EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
        OSSL_PARAM params[] = {
                OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) EVP_MD_get0_name(c->kdf_md), 0),
                OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *) z, z_len),
                OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, c->ukm, c->ukm_len),
                OSSL_PARAM_END,
        };
        int ok = kctx && EVP_KDF_derive(kctx, out, outlen, params) > 0;
        EVP_KDF_CTX_free(kctx);
        EVP_KDF_free(kdf);
        return ok;
}

static size_t out_len(const exch_ctx *c) {
        return c->x963 ? c->kdf_outlen : (size_t) (EVP_PKEY_get_bits(c->key->pub) + 7) / 8;
}

static int derive(void *vctx, unsigned char *secret, size_t *secretlen, size_t outlen) {
        exch_ctx *c = vctx;
        unsigned char z[MAX_SECRET];
        size_t z_len = sizeof(z), want = out_len(c);
        if (!c->key || !c->peer || (c->x963 && (!c->kdf_md || want == 0))) {
                ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
                return 0;
        }
        if (!secret) {
                *secretlen = want;
                return 1;
        }
        if (outlen < want || !token_z(c, z, &z_len)) {
                OPENSSL_cleanse(z, sizeof(z));
                return 0;
        }
        int ok = c->x963 ? x963(c, z, z_len, secret, want) : (memcpy(secret, z, z_len), want = z_len, 1);
        OPENSSL_cleanse(z, sizeof(z));
        if (ok)
                *secretlen = want;
        return ok;
}

#define FN(id, f) { id, (void (*)(void)) (f) }

const OSSL_DISPATCH kb_p11pk_ecdh_exchange[] = {
        FN(OSSL_FUNC_KEYEXCH_NEWCTX, ctx_new),
        FN(OSSL_FUNC_KEYEXCH_FREECTX, ctx_free),
        FN(OSSL_FUNC_KEYEXCH_INIT, init),
        FN(OSSL_FUNC_KEYEXCH_SET_PEER, set_peer),
        FN(OSSL_FUNC_KEYEXCH_DERIVE, derive),
        FN(OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, set_params),
        FN(OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS, settable_params),
        { 0, NULL },
};
