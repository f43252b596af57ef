/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A token source: one PKCS#11 module or one SKF library. Each source is
 * scanned by its own cache thread, so a slow module never holds up another.
 */
#pragma once

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "kb-model.h"
#include "kb-secret.h"

/* The immutable result of one scan of one source; shared by reference. */
typedef struct kb_scan {
        atomic_int refs;
        kb_token **tokens;
        size_t n_tokens;
        kb_problem *problems;
        size_t n_problems;
        int64_t finished;       /* Unix time the scan ended */
        /* A token's certificates could not be read this time and are the
         * previous scan's: the cache reads afresh at once. */
        bool stale;
} kb_scan;

kb_scan *kb_scan_new(void);
kb_scan *kb_scan_ref(kb_scan *s);
void kb_scan_unref(kb_scan *s);
int kb_scan_add_token(kb_scan *s, kb_token *t);             /* takes ownership */
int kb_scan_add_problem(kb_scan *s, const char *where, int error, const char *detail);
const kb_token *kb_scan_find_token(const kb_scan *s, const char *id);

typedef struct kb_source kb_source;
struct kb_seal;                 /* kb-seal.h */

/* A key pair's identifier on a token (PKCS#11 CKA_ID). */
typedef struct kb_key_id {
        unsigned char v[64];
        size_t len;
} kb_key_id;

/* A certificate's key id; -1 when it has none or it does not fit. */
static inline int kb_key_id_of(const kb_cert *c, kb_key_id *ret) {
        if (!c->key_id || c->key_id_len == 0 || c->key_id_len > sizeof(ret->v))
                return -1;
        memcpy(ret->v, c->key_id, c->key_id_len);
        ret->len = c->key_id_len;
        return 0;
}

/* What key pair to generate (renewal, enrollment). */
typedef struct kb_keygen {
        kb_key_type type;       /* KB_KEY_RSA, KB_KEY_EC or KB_KEY_SM2 */
        int bits;               /* RSA modulus bits */
        int curve_nid;          /* EC: NID_X9_62_prime256v1, NID_secp384r1 */
        bool decrypt;           /* the key may also decrypt / derive (a "both" key) */
        bool unwrap;            /* RSA: may unwrap an encryption key sent to it (double certificates) */
        const char *label;      /* CKA_LABEL of both halves */
} kb_keygen;

/* An encryption private key delivered wrapped to a key on the token (double
 * certificates): the form of PKCS#11 CKM_RSA_AES_KEY_WRAP, RSA-OAEP (SHA-1)
 * of a fresh AES key followed by that key's AES key wrap with padding
 * (RFC 5649) of the private key's PKCS#8. The token unwraps both layers:
 * neither the AES key nor the private key is ever in our memory.
 * On SKF (type KB_KEY_SM2) it is a GM/T 0016 ENVELOPEDKEYBLOB sent to the
 * container's signature key, and unwrapping and id are that container. */
typedef struct kb_key_unwrap {
        const kb_key_id *unwrapping;    /* the token's RSA key it is wrapped to */
        const unsigned char *wrapped;
        size_t wrapped_len;
        size_t rsa_len;                 /* the RSA part: the unwrapping key's modulus bytes */
        kb_key_type type;               /* of the key inside: KB_KEY_RSA */
        const kb_key_id *id;            /* CKA_ID the new key gets */
        const char *label;
        const EVP_PKEY *pub;            /* the encryption certificate's public key */
} kb_key_unwrap;

typedef struct kb_source_ops {
        const char *backend;    /* "pkcs11", "skf" */
        /* Read every present token. prev is the last result (or NULL): a source
         * may reuse a token's certificates when the token did not change. */
        int (*scan)(kb_source *s, const kb_scan *prev, kb_scan **ret);
        void (*free)(kb_source *s);
        /* Hot-plug (optional, both or neither). Block until a token or slot
         * changes (PKCS#11 C_WaitForSlotEvent): > 0 on an event, 0 when the
         * source cannot wait (poll it instead), < 0 when waiting failed now
         * (retry later). stop_wait ends the source's use for good and wakes
         * a blocked waiter; only free() may follow. */
        int (*wait_event)(kb_source *s);
        void (*stop_wait)(kb_source *s);

        /* Private-key operations, called with the source's op_lock held for
         * writing (shared_key: for reading).
         * Each returns 0 or -KB_E_* (TOKEN_NOT_PRESENT when the token is gone).
         * The token's PIN state, read from the token now (not the cache). */
        int (*pin_state)(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries);
        /* Is the user logged in to this token (by us)? */
        bool (*logged_in)(kb_source *s, const kb_token *t);
        /* Log the user in with pin; logs out first if already logged in, so the
         * PIN is really checked. PIN_INCORRECT, PIN_LOCKED, PIN_POLICY… */
        int (*login)(kb_source *s, const kb_token *t, const kb_secret *pin);
        void (*logout)(kb_source *s, const char *token_id);
        /* Ids of the tokens we hold a session on (at most max). */
        size_t (*sessions)(kb_source *s, char (*ret_ids)[KB_TOKEN_ID_LEN + 1], size_t max);
        /* The certificate's private key as an EVP_PKEY whose operations run on
         * the token (logged in). NOT_FOUND when the token has no such key. */
        int (*private_key)(kb_source *s, const kb_token *t, const kb_cert *c, EVP_PKEY **ret);
        /* Optional. The key an earlier private_key call returned, kept while
         * the token stays logged in, for use with op_lock held only for
         * reading: it reads nothing but our own state, and the key may sign
         * on several threads at once. NOT_FOUND when there is none (then
         * take the lock for writing and call private_key). */
        int (*shared_key)(kb_source *s, const kb_token *t, const kb_cert *c, EVP_PKEY **ret);
        /* SM2 keys (SKF; optional): sign the digest e = SM3(Z || M) with the
         * key pair key (a certificate's: kb_key_id_of) (logged in); the
         * signature as DER SM2Signature in *ret (OPENSSL_free). Z and e are
         * the caller's (kb-sm2.h). */
        int (*sm2_sign)(kb_source *s, const kb_token *t, const kb_key_id *key, const unsigned char e[32],
                        unsigned char **ret, size_t *ret_len);
        /* SM2 envelopes (SKF; optional): open a GM/T 0010 envelope's content
         * with the encryption key pair of container key (logged in). The SM4
         * key, cipher (a DER SM2Cipher), is imported under that key pair and
         * the content decrypted under it on the token, SM4-CBC with iv, the
         * padding left on: in_len bytes into out. DECRYPT_FAILED when the
         * token cannot open the key or the content. */
        int (*sm2_decrypt)(kb_source *s, const kb_token *t, const kb_key_id *key, const unsigned char *cipher,
                           size_t cipher_len, const unsigned char iv[16], const unsigned char *in, size_t in_len,
                           unsigned char *out);
        /* The PKCS#11 (or SKF) failure behind the last failed key operation,
         * as an API error; KB_E_INTERNAL when nothing more specific is known. */
        int (*key_error)(kb_source *s, EVP_PKEY *key);
        /* PIN management (pin.c), op_lock held. Change the user PIN from old_pin
         * to new_pin on the session logged in (login) with old_pin. */
        int (*set_pin)(kb_source *s, const kb_token *t, const kb_secret *old_pin, const kb_secret *new_pin);
        /* The SO (administrator) PIN's state, read from the token now. */
        int (*so_pin_state)(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries);
        /* Log in as SO with so_pin, set the user PIN to new_pin (which unlocks
         * it), log out. Ends our user login on t first. PIN_INCORRECT and
         * PIN_LOCKED are about the SO PIN. */
        int (*init_pin)(kb_source *s, const kb_token *t, const kb_secret *so_pin, const kb_secret *new_pin);
        /* The certificate's electronic seal (kb-seal.h), newest if several;
         * NOT_FOUND when none. Hidden (CKA_PRIVATE) seals only with hidden_too,
         * for a caller authorized on the token: a login made for another
         * origin must not show them. */
        int (*seal_read)(kb_source *s, const kb_token *t, const kb_cert *c, bool hidden_too,
                         struct kb_seal **ret);
        /* Replace the certificate's seal atomically (logged in). TOKEN_FULL,
         * TOKEN_READ_ONLY, TOKEN_NOT_PRESENT leave the old seal as it was. */
        int (*seal_write)(kb_source *s, const kb_token *t, const kb_cert *c, const struct kb_seal *seal);

        /* Renewal (renew*.c), op_lock held. Keys need the user logged in;
         * certificate objects are public and are also written without a
         * login, so that recovery can finish an install on its own.
         *
         * With certs_in_containers (SKF) a key id names a container: one
         * signature key pair and its certificate, and at most one
         * encryption key pair and its certificate. A certificate goes only
         * with its container (key_destroy), cert_write puts it in the slot
         * of its key pair (CERTIFICATE_MISMATCH when neither is) replacing
         * what the slot held, writes need the login, and cert_remove may be
         * NULL. */
        bool certs_in_containers;
        /* The public half of the key pair id (SM2 keys, which have no
         * EVP_PKEY on the token side: their CSRs are signed through
         * sm2_sign); in containers, of the signature pair (sign) or the
         * encryption pair. NOT_FOUND when there is none. */
        int (*key_public)(kb_source *s, const kb_token *t, const kb_key_id *id, bool sign, EVP_PKEY **ret);
        /* Generate a key pair on the token under a new random CKA_ID. */
        int (*key_generate)(kb_source *s, const kb_token *t, const kb_keygen *spec, kb_key_id *ret_id);
        /* Optional: can the token generate this key pair (it lists the
         * mechanism, for that size)? 0, UNSUPPORTED_ALGORITHM, or another
         * -KB_E_*; needs no login, so a refusal comes before the PIN. */
        int (*key_supported)(kb_source *s, const kb_token *t, const kb_keygen *spec);
        /* The private key with this CKA_ID as an EVP_PKEY working on the
         * token (its public half from the token's public key object). */
        int (*key_load)(kb_source *s, const kb_token *t, const kb_key_id *id, EVP_PKEY **ret);
        /* The CKA_ID of the private key whose public key is pub; NOT_FOUND. */
        int (*key_find)(kb_source *s, const kb_token *t, const EVP_PKEY *pub, kb_key_id *ret_id);
        /* Destroy the private and public key objects with this CKA_ID (0 when
         * there are none). */
        int (*key_destroy)(kb_source *s, const kb_token *t, const kb_key_id *id);
        /* Unwrap an encryption key onto the token (decrypt and unwrap only,
         * never sign; sensitive, not extractable). UNSUPPORTED_ALGORITHM when
         * the token or the unwrapping key cannot; BAD_REQUEST when the blob
         * does not unwrap with that key; CERTIFICATE_MISMATCH when the key
         * inside is known not to be spec->pub. Nothing is left on a failure (certs_in_containers:
         * the container's encryption slot may hold what it imported). */
        int (*key_unwrap)(kb_source *s, const kb_token *t, const kb_key_unwrap *spec);
        /* How many certificate objects hold exactly this DER. */
        int (*cert_count)(kb_source *s, const kb_token *t, const unsigned char *der, size_t len, size_t *ret_n);
        /* Create a certificate object (id may be NULL for an issuer), read it
         * back and compare; on any failure the new object is destroyed again. */
        int (*cert_write)(kb_source *s, const kb_token *t, const unsigned char *der, size_t len,
                          const kb_key_id *id, const char *label);
        /* Destroy every certificate object holding exactly this DER (0 when
         * none is left). */
        int (*cert_remove)(kb_source *s, const kb_token *t, const unsigned char *der, size_t len);
} kb_source_ops;

struct kb_source {
        const kb_source_ops *ops;
        char *name;             /* p11-kit module name, or the file name */
        char *path;             /* library path */
        char *description;      /* library description, NULL until loaded */
        int load_error;         /* 0, or kb_error why the library did not load */
        char *load_detail;      /* the loader's words, when load_error != 0 */
        char *profile;          /* the vendor quirks applied (SKF), NULL for none */
        /* Orders private-key operations on this source's tokens; scans do
         * not take it. Held for writing by everything that changes a token or
         * our sessions (login, logout, PIN, seal, renewal, the first use of a
         * key); held for reading by signatures with a key already found
         * (shared_key), which run side by side on the login's sessions. */
        pthread_rwlock_t op_lock;
};

/* Record why the library did not load (detail: the loader's words). */
void kb_source_set_failure(kb_source *s, int error, const char *detail);
/* Set up s->op_lock (the backend destroys it in its free). */
void kb_source_init_lock(kb_source *s);
void kb_source_free(kb_source *s);
