/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Token keys as EVP_PKEYs: the "keybridge-p11" provider's registration, its
 * library context, and the one place it talks to the token (C_Sign).
 *
 * Why a library context of our own: the provider names its key managers "RSA"
 * and "EC" like OpenSSL's default provider does, so that EVP_PKEY_is_a, CMS and
 * X.509 code treat token keys as ordinary RSA/EC keys. Registered in the
 * default context it would compete with the default provider for every RSA/EC
 * key the daemon decodes (certificates, TLS). In its own context, with the
 * default provider loaded beside it for digests, encoders and public-key
 * work, nothing else sees it; CMS_sign_ex, X509_REQ_new_ex and
 * EVP_DigestSignInit_ex take the context and the property query
 * "?provider=keybridge-p11", which prefers the token implementations and
 * still lets digests come from the default provider.
 */
#include <assert.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <string.h>

#include "kb-core.h"
#include "p11-pkey.h"
#include "pkcs11-internal.h"

#define PROPS "provider=" KB_P11PK_PROVIDER
#define RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define EC_NAMES "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define MAX_MODULUS 1024

static const OSSL_ALGORITHM keymgmts[] = {
        { RSA_NAMES, PROPS, kb_p11pk_rsa_keymgmt, "RSA key on a PKCS#11 token" },
        { EC_NAMES, PROPS, kb_p11pk_ec_keymgmt, "EC key on a PKCS#11 token" },
        { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM signatures[] = {
        { RSA_NAMES, PROPS, kb_p11pk_rsa_signature, "RSA signature on a PKCS#11 token" },
        { "ECDSA", PROPS, kb_p11pk_ecdsa_signature, "ECDSA signature on a PKCS#11 token" },
        { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM ciphers[] = {
        { RSA_NAMES, PROPS, kb_p11pk_rsa_cipher, "RSA decryption on a PKCS#11 token" },
        { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM exchanges[] = {
        { "ECDH", PROPS, kb_p11pk_ecdh_exchange, "ECDH on a PKCS#11 token" },
        { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *provider_query(void *provctx, int operation, int *no_cache) {
        *no_cache = 0;
        switch (operation) {
        case OSSL_OP_KEYMGMT:
                return keymgmts;
        case OSSL_OP_SIGNATURE:
                return signatures;
        case OSSL_OP_ASYM_CIPHER:
                return ciphers;
        case OSSL_OP_KEYEXCH:
                return exchanges;
        default:
                return NULL;
        }
}

static const OSSL_DISPATCH provider_functions[] = {
        { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void)) provider_query },
        { 0, NULL },
};

/* The provider context is the library context: for a built-in provider the
 * core's context is the OSSL_LIB_CTX it was loaded into. */
static int provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                         void **provctx) {
        OSSL_FUNC_core_get_libctx_fn *get_libctx = NULL;

        for (; in->function_id != 0; in++)
                if (in->function_id == OSSL_FUNC_CORE_GET_LIBCTX)
                        get_libctx = OSSL_FUNC_core_get_libctx(in);
        if (!get_libctx)
                return 0;
        *provctx = (void *) get_libctx(handle);
        *out = provider_functions;
        return 1;
}

/*
 * The one global in lib/. OpenSSL keeps a provider per library context, and
 * every EVP_PKEY made here points into that context for as long as it lives
 * (even the public-key copies OpenSSL caches inside certificates' keys after
 * a comparison), so the context is made once and never freed; the default
 * provider and ours stay loaded in it, reachable from this pointer.
 */
static CRYPTO_ONCE libctx_once = CRYPTO_ONCE_STATIC_INIT;
static OSSL_LIB_CTX *libctx;

static void libctx_init(void) {
        OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();
        if (!c)
                return;
        if (!OSSL_PROVIDER_add_builtin(c, KB_P11PK_PROVIDER, provider_init) || !OSSL_PROVIDER_load(c, "default") ||
            !OSSL_PROVIDER_load(c, KB_P11PK_PROVIDER)) {
                OSSL_LIB_CTX_free(c); /* unloads whatever did load */
                return;
        }
        libctx = c;
}

OSSL_LIB_CTX *kb_p11_libctx(void) {
        if (!CRYPTO_THREAD_run_once(&libctx_once, libctx_init))
                return NULL;
        return libctx;
}

const char *kb_p11_propq(void) {
        return "?" PROPS;
}

const char *kb_p11pk_type_name(CK_KEY_TYPE type) {
        switch (type) {
        case CKK_RSA:
                return "RSA";
        case CKK_EC:
                return "EC";
        default:
                return NULL;
        }
}

static const kb_p11pk_digest digests[] = {
        { NID_sha1, CKM_SHA_1, CKG_MGF1_SHA1 },
        { NID_sha224, CKM_SHA224, CKG_MGF1_SHA224 },
        { NID_sha256, CKM_SHA256, CKG_MGF1_SHA256 },
        { NID_sha384, CKM_SHA384, CKG_MGF1_SHA384 },
        { NID_sha512, CKM_SHA512, CKG_MGF1_SHA512 },
};

int kb_p11pk_fetch_md(OSSL_LIB_CTX *ctx, EVP_MD **slot, const char *name) {
        EVP_MD *md = EVP_MD_fetch(ctx, name, NULL);
        if (!md || !kb_p11pk_digest_find(md)) {
                EVP_MD_free(md);
                ERR_raise_data(ERR_LIB_PROV, ERR_R_UNSUPPORTED, "digest %s", name);
                return 0;
        }
        EVP_MD_free(*slot);
        *slot = md;
        return 1;
}

const kb_p11pk_digest *kb_p11pk_digest_find(const EVP_MD *md) {
        int nid = md ? EVP_MD_get_type(md) : NID_undef;
        for (size_t i = 0; i < KB_ELEMENTSOF(digests); i++)
                if (digests[i].nid == nid)
                        return &digests[i];
        return NULL;
}

void kb_p11pk_raise_rv(const char *func, CK_RV rv) {
        ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL, "PKCS#11 %s: %s", func, kb_pkcs11_rv_name(rv));
}

static _Thread_local CK_RV thread_last_rv = CKR_OK;

CK_RV kb_p11pk_thread_last_rv(void) {
        return thread_last_rv;
}

/* No token call since kb_p11_clear_last_rv: a value no token answers. */
#define RV_NONE (CKR_VENDOR_DEFINED | 0x6b620000UL)

void kb_p11_clear_last_rv(void) {
        thread_last_rv = RV_NONE;
}

int kb_p11_last_outcome(void) {
        switch (thread_last_rv) {
        case CKR_OK:
                return 1;
        case RV_NONE:
                return 0;
        case CKR_ENCRYPTED_DATA_INVALID:
        case CKR_ENCRYPTED_DATA_LEN_RANGE:
                return -KB_E_DECRYPT_FAILED;
        default: {
                kb_error e = kb_pkcs11_rv_error(thread_last_rv);
                return -(int) (e == KB_E_OK ? KB_E_INTERNAL : e);
        }
        }
}

void kb_p11pk_set_thread_last_rv(CK_RV rv) {
        thread_last_rv = rv;
}

CK_RV kb_p11pk_session_take(kb_p11pk_key *k, CK_SESSION_HANDLE *ret) {
        *ret = k->session;
        CK_RV rv = k->pool ? kb_p11_pool_take(k->pool, ret) : CKR_OK;
        if (rv != CKR_OK) {
                kb_p11pk_raise_rv("C_OpenSession", rv);
                thread_last_rv = rv;
        }
        return rv;
}

void kb_p11pk_session_give(kb_p11pk_key *k, CK_SESSION_HANDLE s) {
        if (k->pool)
                kb_p11_pool_give(k->pool, s);
}

static CK_RV sign_on(kb_p11pk_key *k, CK_SESSION_HANDLE s, CK_MECHANISM *mech, const unsigned char *in,
                     size_t in_len, unsigned char *out, CK_ULONG *len) {
        CK_RV rv = k->fn->C_SignInit(s, mech, k->handle);
        if (rv != CKR_OK) {
                kb_p11pk_raise_rv("C_SignInit", rv);
                return rv;
        }
        rv = k->fn->C_Sign(s, (CK_BYTE_PTR) in, in_len, out, len);
        if (rv != CKR_OK)
                kb_p11pk_raise_rv("C_Sign", rv);
        return rv;
}

/* The buffer holds the longest signature there is, so CKR_BUFFER_TOO_SMALL
 * would be a broken token; it is reported, not retried. */
int kb_p11pk_token_sign(kb_p11pk_key *k, CK_MECHANISM *mech, const unsigned char *in, size_t in_len,
                        unsigned char *out, size_t *out_len) {
        CK_ULONG len = *out_len;
        CK_SESSION_HANDLE s;

        assert(k->fn && *out_len >= KB_P11PK_MAX_SIG);
        CK_RV rv = kb_p11pk_session_take(k, &s);
        if (rv != CKR_OK)
                return 0;
        rv = sign_on(k, s, mech, in, in_len, out, &len);
        kb_p11pk_session_give(k, s);
        thread_last_rv = rv;
        if (rv != CKR_OK)
                return 0;
        if (len > *out_len) {
                ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL, "PKCS#11 C_Sign: %lu bytes", (unsigned long) len);
                return 0;
        }
        *out_len = len;
        return 1;
}

static int read_key_type(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_KEY_TYPE *ret) {
        CK_KEY_TYPE type = 0;
        CK_ATTRIBUTE a = { CKA_KEY_TYPE, &type, sizeof(type) };
        CK_RV rv = fn->C_GetAttributeValue(s, o, &a, 1);
        if (rv != CKR_OK)
                return -(int) kb_pkcs11_rv_error(rv);
        *ret = type;
        return 0;
}

/* An RSA private key usually shows its modulus: if it does, it must be the
 * certificate's. A token that hides it is believed. */
static int check_modulus(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, const EVP_PKEY *pub) {
        unsigned char buf[MAX_MODULUS];
        CK_ATTRIBUTE a = { CKA_MODULUS, buf, sizeof(buf) };
        _cleanup_(BN_freep) BIGNUM *token_n = NULL;
        _cleanup_(BN_freep) BIGNUM *cert_n = NULL;

        if (fn->C_GetAttributeValue(s, o, &a, 1) != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
            a.ulValueLen > sizeof(buf))
                return 0;
        token_n = BN_bin2bn(buf, (int) a.ulValueLen, NULL);
        if (!token_n || !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &cert_n))
                return -KB_E_INTERNAL;
        return BN_cmp(token_n, cert_n) == 0 ? 0 : -KB_E_CERTIFICATE_MISMATCH;
}

static int check_pair(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, CK_KEY_TYPE type,
                      const EVP_PKEY *pub) {
        const char *name = kb_p11pk_type_name(type);
        if (!name)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (!EVP_PKEY_is_a(pub, name))
                return EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_is_a(pub, "EC") ? -KB_E_CERTIFICATE_MISMATCH
                                                                              : -KB_E_UNSUPPORTED_ALGORITHM;
        return type == CKK_RSA ? check_modulus(fn, s, priv, pub) : 0;
}

int kb_p11_pkey_new(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, kb_p11_pool *pool, CK_OBJECT_HANDLE priv,
                    const EVP_PKEY *pub, EVP_PKEY **ret) {
        CK_KEY_TYPE type = 0;

        assert(fn && pub && ret);
        OSSL_LIB_CTX *c = kb_p11_libctx();
        if (!c)
                return -KB_E_INTERNAL;
        int r = read_key_type(fn, s, priv, &type);
        if (r >= 0)
                r = check_pair(fn, s, priv, type, pub);
        if (r < 0)
                return r;

        kb_p11pk_ref ref = {
                .magic = KB_P11PK_REF_MAGIC, .fn = fn, .session = s, .pool = pool, .handle = priv, .type = type, .pub = pub,
        };
        kb_p11pk_ref *p = &ref;
        OSSL_PARAM params[] = {
                OSSL_PARAM_octet_string(KB_P11PK_PARAM_REF, &p, sizeof(p)),
                OSSL_PARAM_END,
        };
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx =
                EVP_PKEY_CTX_new_from_name(c, kb_p11pk_type_name(type), PROPS);
        EVP_PKEY *k = NULL;
        if (!pctx || EVP_PKEY_fromdata_init(pctx) <= 0 || EVP_PKEY_fromdata(pctx, &k, EVP_PKEY_KEYPAIR, params) <= 0)
                return -KB_E_INTERNAL;
        *ret = k;
        return 0;
}

CK_RV kb_p11_pkey_last_rv(const EVP_PKEY *k) {
        unsigned long rv = CKR_OK;
        OSSL_PARAM params[] = {
                OSSL_PARAM_ulong(KB_P11PK_PARAM_LAST_RV, &rv),
                OSSL_PARAM_END,
        };
        if (!k || !EVP_PKEY_get_params(k, params) || !OSSL_PARAM_modified(params))
                return CKR_OK;
        return rv;
}
