/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the files of lib/pkcs11/ (not offered to the folders above):
 * the one place CK_RV becomes kb_error, token reading, the source. */
#pragma once

#include <p11-kit/pkcs11.h>

#include "kb-core.h"
#include "kb-pkcs11.h"

/* The project error for a PKCS#11 return value (CKR_OK → KB_E_OK). */
kb_error kb_pkcs11_rv_error(CK_RV rv);
/* "CKR_PIN_INCORRECT", or "CKR_0x…" for values without a name (static or
 * thread-local storage; for logs and /v1/info details). */
const char *kb_pkcs11_rv_name(CK_RV rv);


/* Read one slot's token (info, PIN state, certificates). prev, when it holds
 * the same token unchanged, lends its certificates so the token is not asked
 * again. Returns 0 with *ret = NULL for an empty or uninitialized slot; on a
 * PKCS#11 failure returns -KB_E_* and sets *ret_rv; 1 when the certificates
 * could not be read now and prev's stand in (the scan is stale). */
int kb_pkcs11_read_token(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, const char *module,
                         const kb_scan *prev, kb_token **ret, CK_RV *ret_rv);

/* A token (no certificates) from its token info, with its stable id. */
int kb_pkcs11_token_from_info(const CK_TOKEN_INFO *ti, CK_SLOT_ID slot, const char *module, kb_token **ret);

/* C_FindObjectsInit, C_FindObjects (at most max), C_FindObjectsFinal (always,
 * and its failure counts). */
CK_RV kb_pkcs11_find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                     CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *ret_count);

/* Copy a PKCS#11 blank-padded fixed-size field into a trimmed C string. */
char *kb_pkcs11_string(const CK_UTF8CHAR *field, size_t size);

/* ---- the PKCS#11 source and its private-key operations (pkcs11-ops.c) ---- */

#define KB_P11_MAX_LOGINS 16

/* A session we keep open on a token while some origin is authorized on it. */
#define KB_P11_KEY_CACHE 8

typedef struct kb_p11_session {
        CK_SLOT_ID slot;
        char token_id[KB_TOKEN_ID_LEN + 1];
        CK_SESSION_HANDLE session;
        struct kb_p11_pool *pool;       /* session first, and more to sign on */
        bool logged_in;
        /* Token keys found in this session, by certificate id: looking a key
         * up (C_FindObjects) and parsing its certificate cost more than a
         * signature, so they are done once per session, not per request. */
        struct {
                char cert_id[KB_CERT_ID_LEN + 1];
                EVP_PKEY *key;
        } keys[KB_P11_KEY_CACHE];
        size_t n_keys;
} kb_p11_session;

typedef struct kb_p11_source {
        kb_source base;
        CK_FUNCTION_LIST *fn;   /* NULL when the module did not load */
        bool initialized;
        kb_p11_session logins[KB_P11_MAX_LOGINS];
        size_t n_logins;
} kb_p11_source;

/* PIN state from token flags (retries: 1 for final try, 0 locked, else -1). */
kb_pin_status kb_pkcs11_pin_status(CK_FLAGS flags, int *ret_retries);

int kb_p11_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries);
bool kb_p11_logged_in(kb_source *s, const kb_token *t);
int kb_p11_login(kb_source *s, const kb_token *t, const kb_secret *pin);
int kb_p11_shared_key(kb_source *s, const kb_token *t, const kb_cert *c, EVP_PKEY **ret);
void kb_p11_logout(kb_source *s, const char *token_id);
size_t kb_p11_sessions(kb_source *s, char (*ret_ids)[KB_TOKEN_ID_LEN + 1], size_t max);
int kb_p11_private_key(kb_source *s, const kb_token *t, const kb_cert *c, EVP_PKEY **ret);
int kb_p11_key_error(kb_source *s, EVP_PKEY *key);
/* Seal data objects (pkcs11-seal.c). */
int kb_p11_seal_read(kb_source *s, const kb_token *t, const kb_cert *c, bool hidden_too, struct kb_seal **ret);
int kb_p11_seal_write(kb_source *s, const kb_token *t, const kb_cert *c, const struct kb_seal *seal);
void kb_p11_logout_all(kb_p11_source *p);
/* The token in t's slot now (info), checked to still be t. */
int kb_p11_token_info(kb_p11_source *p, const kb_token *t, CK_TOKEN_INFO *ret);
/* A failed CK_RV as -KB_E_* (never 0: CKR_OK maps to INTERNAL here). */
int kb_p11_rv(CK_RV rv);
/* A session of our own on t, checked to be the token in its slot now. It
 * shares the login of the kept session (PKCS#11 logs in the application,
 * not a session); closing it leaves that be. */
int kb_p11_open_session(kb_p11_source *p, const kb_token *t, bool rw, CK_SESSION_HANDLE *ret);
/* The kept, logged-in session on t (for EVP_PKEYs that must outlive a call). */
int kb_p11_login_session(kb_p11_source *p, const kb_token *t, CK_SESSION_HANDLE *ret);
/* Drop the keys cached for t's login (after keys were destroyed). */
void kb_p11_forget_keys(kb_p11_source *p, const kb_token *t);
/* Renewal: key pairs and certificate objects (pkcs11-keys.c, pkcs11-certs.c). */
int kb_p11_key_generate(kb_source *s, const kb_token *t, const kb_keygen *spec, kb_key_id *ret_id);
int kb_p11_key_supported(kb_source *s, const kb_token *t, const kb_keygen *spec);
int kb_p11_key_load(kb_source *s, const kb_token *t, const kb_key_id *id, EVP_PKEY **ret);
int kb_p11_key_find(kb_source *s, const kb_token *t, const EVP_PKEY *pub, kb_key_id *ret_id);
int kb_p11_key_destroy(kb_source *s, const kb_token *t, const kb_key_id *id);
/* Key objects of class cls with CKA_ID id (any id when NULL), at most max. */
int kb_p11_find_keys(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const kb_key_id *id,
                     CK_OBJECT_HANDLE *objs, size_t max, size_t *ret_n);
/* Double certificates: an encryption key unwrapped by the token (pkcs11-unwrap.c). */
int kb_p11_key_unwrap(kb_source *s, const kb_token *t, const kb_key_unwrap *spec);
int kb_p11_cert_count(kb_source *s, const kb_token *t, const unsigned char *der, size_t len, size_t *ret_n);
int kb_p11_cert_write(kb_source *s, const kb_token *t, const unsigned char *der, size_t len,
                      const kb_key_id *id, const char *label);
int kb_p11_cert_remove(kb_source *s, const kb_token *t, const unsigned char *der, size_t len);
/* PIN management (pkcs11-pin.c). */
int kb_p11_set_pin(kb_source *s, const kb_token *t, const kb_secret *old_pin, const kb_secret *new_pin);
int kb_p11_so_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries);
int kb_p11_init_pin(kb_source *s, const kb_token *t, const kb_secret *so_pin, const kb_secret *new_pin);
