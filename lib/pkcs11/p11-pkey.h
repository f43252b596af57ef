/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A private key on a PKCS#11 token as an OpenSSL 3 EVP_PKEY, so that OpenSSL
 * itself builds CMS SignedData, CSRs and plain signatures with it. A small
 * provider compiled into lib/ ("keybridge-p11") supplies key management for
 * RSA and EC keys, the RSA (PKCS#1 v1.5, PSS) and ECDSA signatures, RSA
 * decryption (PKCS#1 v1.5, OAEP) and ECDH for digital envelopes; it
 * lives in a library context of its own, beside OpenSSL's default provider.
 */
#pragma once

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kb-pkcs11.h"

/* The sessions of one logged-in token that its keys sign on (p11-pool.c), so
 * that one token signs for two requests at once. It starts with the login's
 * session, which stays its creator's to use and close, and opens up to
 * KB_P11_POOL_MAX - 1 more on demand. Reference-counted: each key made with
 * it holds a reference. */
#define KB_P11_POOL_MAX 4
typedef struct kb_p11_pool kb_p11_pool;

kb_p11_pool *kb_p11_pool_new(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, CK_SESSION_HANDLE session);
kb_p11_pool *kb_p11_pool_ref(kb_p11_pool *p);
void kb_p11_pool_unref(kb_p11_pool *p);
/* The login ends: close the extra sessions (now, or as they come back) and
 * drop the creator's reference. Later takes fail with CKR_USER_NOT_LOGGED_IN. */
void kb_p11_pool_close(kb_p11_pool *p);
/* A session to sign on, waiting while all are busy and no more can be opened;
 * give it back with kb_p11_pool_give. */
CK_RV kb_p11_pool_take(kb_p11_pool *p, CK_SESSION_HANDLE *ret);
void kb_p11_pool_give(kb_p11_pool *p, CK_SESSION_HANDLE h);

/* An EVP_PKEY whose private-key operations run on the token: on a session
 * taken from pool for each signature when pool is given (then one EVP_PKEY
 * may sign on several threads at once), else on session s, which the caller
 * must not use from two threads at once. s, logged in, is used now to check
 * the key. pub is the certificate's public key (copied). The caller keeps fn
 * and s valid for the EVP_PKEY's life. Returns 0 or -KB_E_*:
 * UNSUPPORTED_ALGORITHM for key types other than RSA/EC (SM2 included),
 * CERTIFICATE_MISMATCH when pub is of the other type or, for RSA, its modulus
 * differs from the one the token shows for priv; a PKCS#11 failure reading the
 * key type is mapped with kb_pkcs11_rv_error. */
int kb_p11_pkey_new(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, kb_p11_pool *pool, CK_OBJECT_HANDLE priv,
                    const EVP_PKEY *pub, EVP_PKEY **ret);

/* The PKCS#11 result of the latest token operation made through this key on
 * the calling thread (CKR_OK if it succeeded, or none ran, or k is no token
 * key), so that callers can map CKR_DEVICE_REMOVED etc. to the API's errors.
 * Per thread, because one key may sign on several threads at once. */
CK_RV kb_p11_pkey_last_rv(const EVP_PKEY *k);

/* ---- Internal to lib/pkcs11/p11-pkey*.c from here on. ---------------------------- */

#define KB_P11PK_PROVIDER "keybridge-p11"
/* Octet string holding a kb_p11pk_ref pointer: the import that binds a new
 * key object to the token (used by kb_p11_pkey_new only). */
#define KB_P11PK_PARAM_REF "keybridge-p11-ref"
/* unsigned long: the key's last CK_RV (keymgmt get_params). */
#define KB_P11PK_PARAM_LAST_RV "keybridge-p11-last-rv"
#define KB_P11PK_REF_MAGIC UINT32_C(0x6b623131)
/* The longest raw signature a token returns: RSA-8192. */
#define KB_P11PK_MAX_SIG 1024

typedef struct kb_p11pk_ref {
        uint32_t magic;
        CK_FUNCTION_LIST *fn;
        CK_SESSION_HANDLE session;
        kb_p11_pool *pool;
        CK_OBJECT_HANDLE handle;
        CK_KEY_TYPE type;
        const EVP_PKEY *pub;
} kb_p11pk_ref;

/* The provider's key object (keymgmt keydata). */
typedef struct kb_p11pk_key {
        OSSL_LIB_CTX *libctx;
        CK_KEY_TYPE type;           /* CKK_RSA or CKK_EC: fixed by the keymgmt */
        EVP_PKEY *pub;              /* default-provider public key; NULL while empty */
        CK_FUNCTION_LIST *fn;       /* NULL: a public key only (imported for a comparison) */
        CK_SESSION_HANDLE session;  /* signs on this one when there is no pool */
        kb_p11_pool *pool;          /* a reference, or NULL */
        CK_OBJECT_HANDLE handle;
        char group[32];             /* EC: the curve of a parameters-only key, "" else */
} kb_p11pk_key;

/* A digest the signatures accept, with its PKCS#11 names for RSA-PSS. */
typedef struct kb_p11pk_digest {
        int nid;
        CK_MECHANISM_TYPE mech;
        CK_RSA_PKCS_MGF_TYPE mgf;
} kb_p11pk_digest;

extern const OSSL_DISPATCH kb_p11pk_rsa_keymgmt[];
extern const OSSL_DISPATCH kb_p11pk_ec_keymgmt[];
extern const OSSL_DISPATCH kb_p11pk_rsa_signature[];
extern const OSSL_DISPATCH kb_p11pk_ecdsa_signature[];
extern const OSSL_DISPATCH kb_p11pk_rsa_cipher[];      /* p11-pkey-cipher.c: C_Decrypt */
extern const OSSL_DISPATCH kb_p11pk_ecdh_exchange[];   /* p11-pkey-exch.c: C_DeriveKey */

/* "RSA" or "EC", NULL for other key types. */
const char *kb_p11pk_type_name(CK_KEY_TYPE type);
/* NULL for digests the token signatures do not take. */
const kb_p11pk_digest *kb_p11pk_digest_find(const EVP_MD *md);
/* The digest name in *slot (replacing what was there) when the token
 * mechanisms take it; else an OpenSSL error and 0. */
int kb_p11pk_fetch_md(OSSL_LIB_CTX *libctx, EVP_MD **slot, const char *name);
/* C_SignInit + C_Sign into out (capacity *out_len, at least KB_P11PK_MAX_SIG);
 * records the result as this thread's last and raises an OpenSSL error on failure.
 * Returns 1 or 0, in OpenSSL's manner. */
int kb_p11pk_token_sign(kb_p11pk_key *k, CK_MECHANISM *mech, const unsigned char *in, size_t in_len,
                        unsigned char *out, size_t *out_len);
/* The result of this thread's last token operation (CKR_OK before any). */
CK_RV kb_p11pk_thread_last_rv(void);
void kb_p11pk_set_thread_last_rv(CK_RV rv);
/* An OpenSSL error naming the PKCS#11 function and result. */
void kb_p11pk_raise_rv(const char *func, CK_RV rv);
/* A session for one token operation with k: from its pool (waiting while all
 * are busy), else its own. A failure is raised and recorded as the thread's
 * last result. Give it back with kb_p11pk_session_give. */
CK_RV kb_p11pk_session_take(kb_p11pk_key *k, CK_SESSION_HANDLE *ret);
void kb_p11pk_session_give(kb_p11pk_key *k, CK_SESSION_HANDLE s);
/* DER DigestInfo { md, hash } into *ret (free with OPENSSL_free): its length,
 * or -1. */
int kb_p11pk_digest_info(const EVP_MD *md, const unsigned char *hash, size_t hash_len, unsigned char **ret);
/* The token's r||s as a DER ECDSA-Sig-Value into out, which has room for
 * *out_len bytes; 1 or 0. */
int kb_p11pk_ecdsa_der(const unsigned char *raw, size_t raw_len, unsigned char *out, size_t *out_len);
/* The signature's DER AlgorithmIdentifier into *ret (OPENSSL_free): RSASSA-PSS
 * with these parameters when mgf1 is given, else sha*WithRSAEncryption or
 * ecdsa-with-SHA* for type. Its length, or -1. */
int kb_p11pk_algorithm_id(CK_KEY_TYPE type, const EVP_MD *md, const EVP_MD *mgf1, int salt_len, unsigned char **ret);

/* A signature operation (the signature algctx). */
typedef struct kb_p11pk_sig {
        OSSL_LIB_CTX *libctx;
        CK_KEY_TYPE type;       /* the algorithm: CKK_RSA or CKK_EC */
        kb_p11pk_key *key;      /* borrowed: the EVP_PKEY_CTX holds the key */
        int pad;                /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
        int salt_len;           /* RSA_PSS_SALTLEN_DIGEST or bytes */
        EVP_MD *md;             /* NULL: PKCS#1 v1.5 signs the input as it is */
        EVP_MD *mgf1;           /* NULL: md */
        EVP_MD_CTX *mdctx;      /* digest_sign/digest_verify */
        bool digesting;
} kb_p11pk_sig;

/* p11-pkey-sig-params.c: a digest the token signatures take into *slot. */
int kb_p11pk_sig_fetch_md(kb_p11pk_sig *c, EVP_MD **slot, const char *name);
int kb_p11pk_sig_set_params(void *sig, const OSSL_PARAM params[]);
int kb_p11pk_sig_get_params(void *sig, OSSL_PARAM params[]);
const OSSL_PARAM *kb_p11pk_rsa_settable(void *sig, void *provctx);
const OSSL_PARAM *kb_p11pk_ecdsa_settable(void *sig, void *provctx);
const OSSL_PARAM *kb_p11pk_rsa_gettable(void *sig, void *provctx);
const OSSL_PARAM *kb_p11pk_ecdsa_gettable(void *sig, void *provctx);
bool kb_p11pk_sig_is_pss(const kb_p11pk_sig *c);
/* The MGF1 digest (the signature's unless set) and the salt length in bytes. */
const EVP_MD *kb_p11pk_sig_mgf1(const kb_p11pk_sig *c);
int kb_p11pk_sig_salt_len(const kb_p11pk_sig *c);
