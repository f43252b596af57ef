/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signatures of the "keybridge-p11" provider. The host hashes (the default
 * provider's digests); the token signs the hash: CKM_RSA_PKCS over a
 * DigestInfo, CKM_RSA_PKCS_PSS with the salt as long as the digest unless set
 * otherwise, CKM_ECDSA with the r||s answer turned into DER. Verification
 * uses the public-key copy through the default provider.
 */
#include <openssl/core_dispatch.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "p11-pkey.h"

#define DEFAULT_PROPS "provider=default"
#define DEFAULT_DIGEST "SHA256"

static void *ctx_new(void *provctx, CK_KEY_TYPE type) {
        kb_p11pk_sig *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->libctx = provctx;
        c->type = type;
        c->pad = RSA_PKCS1_PADDING;
        c->salt_len = RSA_PSS_SALTLEN_DIGEST;
        return c;
}

static void *rsa_newctx(void *provctx, const char *propq) {
        return ctx_new(provctx, CKK_RSA);
}

static void *ecdsa_newctx(void *provctx, const char *propq) {
        return ctx_new(provctx, CKK_EC);
}

static void ctx_free(void *vctx) {
        kb_p11pk_sig *c = vctx;
        if (!c)
                return;
        EVP_MD_free(c->md);
        EVP_MD_free(c->mgf1);
        EVP_MD_CTX_free(c->mdctx);
        free(c);
}

/* EVP_DigestSignFinal signs with a copy, so the digest state is copied too. */
static void *ctx_dup(void *vctx) {
        const kb_p11pk_sig *c = vctx;
        kb_p11pk_sig *d = calloc(1, sizeof(*d));
        if (!d)
                return NULL;
        *d = *c;
        d->md = d->mgf1 = NULL;
        d->mdctx = NULL;
        if ((c->md && !EVP_MD_up_ref(c->md)) || (c->mgf1 && !EVP_MD_up_ref(c->mgf1))) {
                free(d);
                return NULL;
        }
        d->md = c->md;
        d->mgf1 = c->mgf1;
        if (c->mdctx && (!(d->mdctx = EVP_MD_CTX_new()) || !EVP_MD_CTX_copy_ex(d->mdctx, c->mdctx))) {
                ctx_free(d);
                return NULL;
        }
        return d;
}

/* ---- initialisation ----------------------------------------------------------- */

static int init(kb_p11pk_sig *c, void *provkey, const OSSL_PARAM params[], bool sign) {
        kb_p11pk_key *k = provkey;
        if (!k || k->type != c->type || !k->pub || (sign && !k->fn)) {
                ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
                return 0;
        }
        c->key = k;
        c->digesting = false;
        return kb_p11pk_sig_set_params(c, params);
}

static int sign_init(void *vctx, void *provkey, const OSSL_PARAM params[]) {
        return init(vctx, provkey, params, true);
}

static int verify_init(void *vctx, void *provkey, const OSSL_PARAM params[]) {
        return init(vctx, provkey, params, false);
}

static int digest_init(kb_p11pk_sig *c, const char *mdname, void *provkey, const OSSL_PARAM params[], bool sign) {
        if (!init(c, provkey, NULL, sign) || !kb_p11pk_sig_fetch_md(c, &c->md, mdname ? mdname : DEFAULT_DIGEST) ||
            !kb_p11pk_sig_set_params(c, params))
                return 0;
        if (!c->mdctx && !(c->mdctx = EVP_MD_CTX_new()))
                return 0;
        if (!EVP_DigestInit_ex2(c->mdctx, c->md, NULL))
                return 0;
        c->digesting = true;
        return 1;
}

static int digest_sign_init(void *vctx, const char *mdname, void *provkey, const OSSL_PARAM params[]) {
        return digest_init(vctx, mdname, provkey, params, true);
}

static int digest_verify_init(void *vctx, const char *mdname, void *provkey, const OSSL_PARAM params[]) {
        return digest_init(vctx, mdname, provkey, params, false);
}

static int digest_update(void *vctx, const unsigned char *data, size_t len) {
        kb_p11pk_sig *c = vctx;
        return c->digesting && EVP_DigestUpdate(c->mdctx, data, len);
}

/* ---- signing ------------------------------------------------------------------ */

static bool hash_fits(const kb_p11pk_sig *c, size_t len) {
        if (c->md && len != (size_t) EVP_MD_get_size(c->md)) {
                ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
                return false;
        }
        return true;
}

static int sign_pkcs1(kb_p11pk_sig *c, const unsigned char *tbs, size_t len, unsigned char *raw, size_t *raw_len) {
        CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
        if (!c->md)
                return kb_p11pk_token_sign(c->key, &mech, tbs, len, raw, raw_len);
        unsigned char *info = NULL;
        int info_len = kb_p11pk_digest_info(c->md, tbs, len, &info);
        int ok = info_len > 0 && kb_p11pk_token_sign(c->key, &mech, info, (size_t) info_len, raw, raw_len);
        OPENSSL_free(info);
        return ok;
}

static int sign_pss(kb_p11pk_sig *c, const unsigned char *hash, size_t len, unsigned char *raw, size_t *raw_len) {
        const kb_p11pk_digest *d = kb_p11pk_digest_find(c->md), *g = kb_p11pk_digest_find(kb_p11pk_sig_mgf1(c));
        if (!d || !g) {
                ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
                return 0;
        }
        CK_RSA_PKCS_PSS_PARAMS pss = { .hashAlg = d->mech, .mgf = g->mgf, .sLen = (CK_ULONG) kb_p11pk_sig_salt_len(c) };
        CK_MECHANISM mech = { CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
        return kb_p11pk_token_sign(c->key, &mech, hash, len, raw, raw_len);
}

/* ECDSA uses the hash's leftmost bytes up to the order's length; curves whose
 * order is not a whole number of bytes (P-521) never meet a longer hash here. */
static int sign_ecdsa(kb_p11pk_sig *c, const unsigned char *hash, size_t len, unsigned char *out, size_t *out_len) {
        unsigned char raw[KB_P11PK_MAX_SIG];
        size_t raw_len = sizeof(raw), order = ((size_t) EVP_PKEY_get_bits(c->key->pub) + 7) / 8;
        CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };

        if (!kb_p11pk_token_sign(c->key, &mech, hash, len < order ? len : order, raw, &raw_len))
                return 0;
        if (raw_len != 2 * order || !kb_p11pk_ecdsa_der(raw, raw_len, out, out_len)) {
                ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL, "ECDSA signature of %zu bytes", raw_len);
                return 0;
        }
        return 1;
}

static int sign_hash(kb_p11pk_sig *c, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                     size_t len) {
        unsigned char raw[KB_P11PK_MAX_SIG];
        size_t raw_len = sizeof(raw);

        if (!hash_fits(c, len))
                return 0;
        if (c->type == CKK_EC) {
                *siglen = sigsize;
                return sign_ecdsa(c, tbs, len, sig, siglen);
        }
        if (kb_p11pk_sig_is_pss(c) ? !sign_pss(c, tbs, len, raw, &raw_len) : !sign_pkcs1(c, tbs, len, raw, &raw_len))
                return 0;
        if (raw_len > sigsize) {
                ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
                return 0;
        }
        memcpy(sig, raw, raw_len);
        *siglen = raw_len;
        return 1;
}

static int sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                    size_t tbslen) {
        kb_p11pk_sig *c = vctx;
        if (!c->key)
                return 0;
        if (!sig) {
                *siglen = (size_t) EVP_PKEY_get_size(c->key->pub);
                return 1;
        }
        return sign_hash(c, sig, siglen, sigsize, tbs, tbslen);
}

/* A size query must leave the running hash alone: OpenSSL asks first. */
static int digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize) {
        kb_p11pk_sig *c = vctx;
        unsigned char hash[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        if (!c->digesting)
                return 0;
        if (!sig)
                return sig_sign(c, NULL, siglen, 0, NULL, 0);
        if (!EVP_DigestFinal_ex(c->mdctx, hash, &len))
                return 0;
        c->digesting = false;
        return sign_hash(c, sig, siglen, sigsize, hash, len);
}

/* ---- verification ----------------------------------------------------------- */

static int set_verify_params(const kb_p11pk_sig *c, EVP_PKEY_CTX *pctx) {
        if (c->md && EVP_PKEY_CTX_set_signature_md(pctx, c->md) <= 0)
                return 0;
        if (c->type != CKK_RSA)
                return 1;
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, c->pad) <= 0)
                return 0;
        if (!kb_p11pk_sig_is_pss(c))
                return 1;
        return c->md && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, c->salt_len) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, kb_p11pk_sig_mgf1(c)) > 0;
}

static int sig_verify(void *vctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs, size_t tbslen) {
        kb_p11pk_sig *c = vctx;
        if (!c->key || !hash_fits(c, tbslen))
                return 0;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx =
                EVP_PKEY_CTX_new_from_pkey(c->libctx, c->key->pub, DEFAULT_PROPS);
        return pctx && EVP_PKEY_verify_init(pctx) > 0 && set_verify_params(c, pctx) &&
               EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen) == 1;
}

static int digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen) {
        kb_p11pk_sig *c = vctx;
        unsigned char hash[EVP_MAX_MD_SIZE];
        unsigned int len = 0;

        if (!c->digesting || !EVP_DigestFinal_ex(c->mdctx, hash, &len))
                return 0;
        c->digesting = false;
        return sig_verify(c, sig, siglen, hash, len);
}

#define FN(id, f) { id, (void (*)(void)) (f) }
#define COMMON_FUNCTIONS                                                        \
        FN(OSSL_FUNC_SIGNATURE_FREECTX, ctx_free),                              \
        FN(OSSL_FUNC_SIGNATURE_DUPCTX, ctx_dup),                                \
        FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, sign_init),                           \
        FN(OSSL_FUNC_SIGNATURE_SIGN, sig_sign),                                 \
        FN(OSSL_FUNC_SIGNATURE_VERIFY_INIT, verify_init),                       \
        FN(OSSL_FUNC_SIGNATURE_VERIFY, sig_verify),                             \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, digest_sign_init),             \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, digest_update),              \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, digest_sign_final),           \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, digest_verify_init),         \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, digest_update),            \
        FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, digest_verify_final),       \
        FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, kb_p11pk_sig_get_params),        \
        FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, kb_p11pk_sig_set_params)

const OSSL_DISPATCH kb_p11pk_rsa_signature[] = {
        COMMON_FUNCTIONS,
        FN(OSSL_FUNC_SIGNATURE_NEWCTX, rsa_newctx),
        FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, kb_p11pk_rsa_gettable),
        FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, kb_p11pk_rsa_settable),
        { 0, NULL },
};

const OSSL_DISPATCH kb_p11pk_ecdsa_signature[] = {
        COMMON_FUNCTIONS,
        FN(OSSL_FUNC_SIGNATURE_NEWCTX, ecdsa_newctx),
        FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, kb_p11pk_ecdsa_gettable),
        FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, kb_p11pk_ecdsa_settable),
        { 0, NULL },
};
