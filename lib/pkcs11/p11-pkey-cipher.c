/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RSA decryption of the "keybridge-p11" provider, for digital envelopes
 * (CMS key transport): the token decrypts the content-encryption key with
 * C_Decrypt, CKM_RSA_PKCS or CKM_RSA_PKCS_OAEP (the digests of
 * kb_p11pk_digest_find, MGF1, an optional label). Encryption is public and
 * stays with the default provider.
 */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "p11-pkey.h"

typedef struct cipher_ctx {
        OSSL_LIB_CTX *libctx;
        kb_p11pk_key *key;      /* borrowed: the EVP_PKEY_CTX holds the key */
        int pad;                /* RSA_PKCS1_PADDING or RSA_PKCS1_OAEP_PADDING */
        EVP_MD *oaep_md, *mgf1; /* NULL: SHA-1 (RFC 8017's default); mgf1 NULL: oaep_md */
        unsigned char *label;
        size_t label_len;
} cipher_ctx;

static void *ctx_new(void *provctx) {
        cipher_ctx *c = calloc(1, sizeof(*c));
        if (c) {
                c->libctx = provctx;
                c->pad = RSA_PKCS1_PADDING;
        }
        return c;
}

static void ctx_free(void *vctx) {
        cipher_ctx *c = vctx;
        if (!c)
                return;
        EVP_MD_free(c->oaep_md);
        EVP_MD_free(c->mgf1);
        OPENSSL_free(c->label);
        free(c);
}

static int fetch_md(cipher_ctx *c, EVP_MD **slot, const OSSL_PARAM *p) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
                return 0;
        if (kb_p11pk_fetch_md(c->libctx, slot, name))
                return 1;
        kb_p11pk_set_thread_last_rv(CKR_MECHANISM_PARAM_INVALID);  /* CMS goes on: say why */
        return 0;
}

/* As an integer (EVP_PKEY_CTX_set_rsa_padding) or a name ("pkcs1", "oaep"). */
static int set_pad_mode(cipher_ctx *c, const OSSL_PARAM *p) {
        int pad = 0;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
                const char *s = NULL;
                if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
                        return 0;
                pad = strcmp(s, "pkcs1") == 0 ? RSA_PKCS1_PADDING : strcmp(s, "oaep") == 0 ? RSA_PKCS1_OAEP_PADDING : 0;
        } else if (!OSSL_PARAM_get_int(p, &pad))
                return 0;
        if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_OAEP_PADDING) {
                kb_p11pk_set_thread_last_rv(CKR_MECHANISM_INVALID);
                return 0;
        }
        c->pad = pad;
        return 1;
}

static int set_label(cipher_ctx *c, const OSSL_PARAM *p) {
        void *label = NULL;
        size_t len = 0;
        if (!OSSL_PARAM_get_octet_string(p, &label, 0, &len))
                return 0;
        OPENSSL_free(c->label);
        c->label = label;
        c->label_len = len;
        return 1;
}

static int set_params(void *vctx, const OSSL_PARAM params[]) {
        cipher_ctx *c = vctx;
        const OSSL_PARAM *p;
        if (!params)
                return 1;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) && !set_pad_mode(c, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) &&
            !fetch_md(c, &c->oaep_md, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) && !fetch_md(c, &c->mgf1, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) && !set_label(c, p))
                return 0;
        return 1;
}

static const OSSL_PARAM *settable_params(void *vctx, void *provctx) {
        static const OSSL_PARAM settable[] = {
                OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
                OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
                OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
                OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
                OSSL_PARAM_END,
        };
        return settable;
}

static int get_params(void *vctx, OSSL_PARAM params[]) {
        cipher_ctx *c = vctx;
        OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
        if (p && !(p->data_type == OSSL_PARAM_INTEGER ? OSSL_PARAM_set_int(p, c->pad)
                                                      : OSSL_PARAM_set_utf8_string(p, c->pad == RSA_PKCS1_OAEP_PADDING
                                                                                              ? "oaep" : "pkcs1")))
                return 0;
        p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
        return !p || OSSL_PARAM_set_utf8_string(p, c->oaep_md ? EVP_MD_get0_name(c->oaep_md) : "SHA1");
}

static const OSSL_PARAM *gettable_params(void *vctx, void *provctx) {
        static const OSSL_PARAM gettable[] = {
                OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
                OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
                OSSL_PARAM_END,
        };
        return gettable;
}

static int decrypt_init(void *vctx, void *keydata, const OSSL_PARAM params[]) {
        cipher_ctx *c = vctx;
        kb_p11pk_key *k = keydata;
        if (!k || !k->fn || k->type != CKK_RSA) {
                ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT, "not an RSA key on a token");
                return 0;
        }
        c->key = k;
        return set_params(c, params);
}

/* The OAEP parameters in PKCS#11's terms; 0 for a digest the token lacks. */
static int oaep_params(const cipher_ctx *c, CK_RSA_PKCS_OAEP_PARAMS *ret) {
        EVP_MD *sha1 = c->oaep_md ? NULL : EVP_MD_fetch(c->libctx, "SHA1", NULL);
        const kb_p11pk_digest *md = kb_p11pk_digest_find(c->oaep_md ? c->oaep_md : sha1);
        const kb_p11pk_digest *mgf = c->mgf1 ? kb_p11pk_digest_find(c->mgf1) : md;
        EVP_MD_free(sha1);
        if (!md || !mgf)
                return 0;
        *ret = (CK_RSA_PKCS_OAEP_PARAMS) { md->mech, mgf->mgf, CKZ_DATA_SPECIFIED, c->label, c->label_len };
        return 1;
}

static CK_RV decrypt_on(kb_p11pk_key *k, CK_SESSION_HANDLE s, CK_MECHANISM *mech, const unsigned char *in,
                        size_t in_len, unsigned char *out, CK_ULONG *len) {
        CK_RV rv = k->fn->C_DecryptInit(s, mech, k->handle);
        /* Tokens refuse OAEP digests they lack so (SoftHSM2 takes SHA-1
         * only): the parameters, not the envelope, are at fault. */
        if (rv == CKR_ARGUMENTS_BAD)
                rv = CKR_MECHANISM_PARAM_INVALID;
        if (rv != CKR_OK) {
                kb_p11pk_raise_rv("C_DecryptInit", rv);
                return rv;
        }
        rv = k->fn->C_Decrypt(s, (CK_BYTE_PTR) in, in_len, out, len);
        if (rv != CKR_OK)
                kb_p11pk_raise_rv("C_Decrypt", rv);
        /* SoftHSM2 answers a block that does not decrypt (bad padding) so */
        return rv == CKR_GENERAL_ERROR ? CKR_ENCRYPTED_DATA_INVALID : rv;
}

/* At most the modulus' length comes back, and outsize is at least that
 * (OpenSSL asks the size first), so CKR_BUFFER_TOO_SMALL is a broken token. */
static int token_decrypt(cipher_ctx *c, unsigned char *out, size_t *outlen, size_t outsize, const unsigned char *in,
                         size_t inlen) {
        CK_RSA_PKCS_OAEP_PARAMS oaep;
        CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
        if (c->pad == RSA_PKCS1_OAEP_PADDING) {
                if (!oaep_params(c, &oaep)) {
                        ERR_raise_data(ERR_LIB_PROV, ERR_R_UNSUPPORTED, "OAEP digest");
                        kb_p11pk_set_thread_last_rv(CKR_MECHANISM_PARAM_INVALID);
                        return 0;
                }
                mech = (CK_MECHANISM) { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
        }
        CK_SESSION_HANDLE s;
        CK_ULONG len = outsize;
        CK_RV rv = kb_p11pk_session_take(c->key, &s);
        if (rv != CKR_OK)
                return 0;
        rv = decrypt_on(c->key, s, &mech, in, inlen, out, &len);
        kb_p11pk_session_give(c->key, s);
        kb_p11pk_set_thread_last_rv(rv);
        if (rv != CKR_OK || len > outsize)
                return 0;
        *outlen = len;
        return 1;
}

static int decrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize, const unsigned char *in,
                   size_t inlen) {
        cipher_ctx *c = vctx;
        size_t max = (size_t) EVP_PKEY_get_size(c->key->pub);
        if (!out) {
                *outlen = max;
                return 1;
        }
        if (outsize < max) {
                ERR_raise(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT);
                return 0;
        }
        return token_decrypt(c, out, outlen, outsize, in, inlen);
}

#define FN(id, f) { id, (void (*)(void)) (f) }

const OSSL_DISPATCH kb_p11pk_rsa_cipher[] = {
        FN(OSSL_FUNC_ASYM_CIPHER_NEWCTX, ctx_new),
        FN(OSSL_FUNC_ASYM_CIPHER_FREECTX, ctx_free),
        FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, decrypt_init),
        FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT, decrypt),
        FN(OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, set_params),
        FN(OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, settable_params),
        FN(OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, get_params),
        FN(OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, gettable_params),
        { 0, NULL },
};
