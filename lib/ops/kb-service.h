/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The operations (lib/ops/): the service and one call, as every method
 * handler sees them; the PIN flow in front of every private-key operation
 * (tokenop.c); the handlers of sign, authenticate, seals and PIN management;
 * parameters and rendering. This is what ops/ offers the folders above it
 * (renew/, api/, the daemon). The method table itself is api/'s (kb-api.h).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "kb-authz.h"
#include "kb-core.h"

/* The authorization key of Origin-less local tools (bearer token). */
#define KB_LOCAL_ORIGIN "local tool (bearer token)"

/* What the PIN dialog is told. */
typedef struct kb_pin_prompt {
        const char *origin;             /* NULL: a local tool (bearer token) */
        const char *operation;          /* "sign", "authenticate", … */
        const kb_token *token;
        const kb_cert *cert;            /* NULL: the operation names no certificate */
        const char *subject;            /* enrollment: the subject that will be written, or NULL */
        kb_pin_status status;           /* read from the token just now */
        int retries_left;               /* -1 unknown */
        unsigned items;                 /* a batch: how many documents (the dialog names 2 or more) */
} kb_pin_prompt;

/* Ask the user for the PIN in a native dialog. 0 with *ret, or -KB_E_PIN_CANCELLED,
 * -KB_E_RATE_LIMITED (too many dialogs for this origin), -KB_E_INTERNAL. */
typedef int (*kb_ask_pin_fn)(void *userdata, const kb_pin_prompt *prompt, kb_secret **ret);
/* Ask the user for a new PIN, typed twice in the native dialog (pin.change,
 * pin.unblock); the two must match (one more chance, then PIN_CANCELLED).
 * Returns like kb_ask_pin_fn. */
typedef int (*kb_ask_new_pin_fn)(void *userdata, const kb_pin_prompt *prompt, kb_secret **ret);

typedef struct kb_service {
        kb_cache *cache;
        _Atomic int warning_days;      /* changes on a configuration reload */
        const char *version;
        unsigned ready_timeout_ms;     /* how long a token read waits for the first scan */
        const char *const *features;   /* NULL-terminated */
        const char *const *skf_libraries; /* NULL-terminated, configured SKF libraries */
        kb_authz *authz;                /* PIN authorizations per (origin, token) */
        int pin_cooldown_s;             /* no login attempt this long after a wrong PIN */
        size_t max_seal_bytes;          /* seal size limit; 0: KB_SEAL_DEFAULT_MAX_BYTES */
        bool seal_hidden;               /* seals stored CKA_PRIVATE; reads may ask the PIN */
        /* Origins the administrator lets send "pin" in a request (page_pin). */
        bool (*page_pin_allowed)(void *userdata, const char *origin);
        kb_ask_pin_fn ask_pin;
        kb_ask_new_pin_fn ask_new_pin;
        /* Tokens whose PIN must be changed before any private-key operation
         * (an unblock to a portal-given PIN, pin-must-change-after-unblock);
         * remembered by the daemon until a pin.change succeeds. Either may be NULL. */
        bool must_change_after_unblock;
        bool (*pin_must_change)(void *userdata, const char *token_id);
        int (*set_pin_must_change)(void *userdata, const char *token_id, bool on);
        /* Ask the user to approve origin (native dialog) and remember it.
         * 0 approved (or already allowed); -KB_E_PIN_CANCELLED denied. */
        int (*approve_origin)(void *userdata, const char *origin);
        void *userdata;                 /* for ask_pin and page_pin_allowed */
        /* The renewal journal, pending requests and certificate backups under
         * <state_dir>/renewal (kb-renew.h); NULL: renewal unavailable. */
        struct kb_renewals *renewals;
} kb_service;

/* One call, transport-independent. */
typedef struct kb_call {
        const char *origin;     /* the caller's origin, NULL for a local tool */
        json_t *params;         /* object */
        /* Progress of a long step (key generation, renewal), for the transport
         * to pass on: the WebSocket sends operation.progress to the connection
         * that asked; REST leaves it NULL. Called on the thread running the
         * method; report through kb_call_progress. */
        void (*progress)(void *userdata, const char *stage, int percent);
        void *progress_userdata;
        /* Set by a batch method before the PIN flow: the dialog names how
         * many documents the one PIN covers. */
        unsigned batch_items;
        /* Filled by a handler that fails: */
        char error_field[64];   /* the offending field, for BAD_REQUEST */
        json_t *error_details;  /* extra members of the error object, or NULL */
} kb_call;

/* Report progress of a long step: stage a short stable word ("keygen",
 * "csr", "write"…), percent 0–100. Cheap and safe without a listener. */
static inline void kb_call_progress(const kb_call *call, const char *stage, int percent) {
        if (call && call->progress)
                call->progress(call->progress_userdata, stage, percent);
}

/* Rendering of the model (render.c). */
json_t *kb_cert_to_json(const kb_cert *c, int64_t now, int warning_days, bool with_pem);
json_t *kb_token_to_json(const kb_token *t, const char *module, int64_t now, int warning_days, bool authorized);

/* ---- private-key operations (tokenop.c) ---- */

/* A token operation in progress: the token and certificate from the cache,
 * the source's op_lock held, the caller's origin authorized (PIN checked). */
typedef struct kb_token_op {
        kb_view *view;
        kb_source *source;
        const kb_token *token;
        const kb_cert *cert;
        EVP_PKEY *key;          /* the certificate's private key on the token */
        bool shared;            /* op_lock held for reading (begin_signing) */
        bool logout_after;      /* the token went: log out once the lock is free */
} kb_token_op;

/* Find params.token and params.certificate, check the certificate's usage
 * allows `usage` and its key is of type key (KB_KEY_UNKNOWN: any), take the token lock, run the PIN flow for call->origin
 * (authorization reuse, PIN guard, dialog or page PIN, login) and load the
 * private key. On failure fills call->error_* and returns -KB_E_*. */
int kb_token_op_begin(kb_service *svc, kb_call *call, const char *operation, unsigned usage, kb_key_type key,
                      kb_token_op *op);
/* The same for renewal (request, cancel, install): the certificate's key
 * must be one the backend can renew (RSA and EC on PKCS#11 tokens), else
 * UNSUPPORTED_ALGORITHM (field "algorithm") before the PIN. The PIN flow
 * runs every time: no earlier authorization counts for a write. */
int kb_token_op_begin_renewal(kb_service *svc, kb_call *call, const char *cert_field, const char *operation,
                              kb_token_op *op);

/* The same for an operation on the token itself (enrollment): params.token
 * only, op->cert and op->key stay NULL. Refused before the PIN: a token
 * that cannot take a key (not initialized); with spec (a new key pair), a
 * type the token cannot generate, and a token that holds an identity (a
 * certificate with its key) already. The dialog names subject, what will
 * be written, and is shown every time: no earlier authorization counts. */
int kb_token_op_begin_token(kb_service *svc, kb_call *call, const char *operation, const kb_keygen *spec,
                            const char *subject, kb_token_op *op);

/* The same for an operation that only signs with the certificate's key
 * (sign, authenticate): when call->origin is authorized on the token and
 * the key was loaded before, the token lock is held for reading only, so
 * signatures of several requests run at once. */
int kb_token_op_begin_signing(kb_service *svc, kb_call *call, const char *operation, kb_key_type key,
                              kb_token_op *op);

/* The same for decryption (decrypt.c): the certificate's usage must be
 * encrypt (or both); SM2 keys through the backend's sm2_decrypt. Like
 * signing, the read lock only when the origin is authorized and the key
 * known, so envelopes open beside signatures. */
int kb_token_op_begin_decrypting(kb_service *svc, kb_call *call, kb_token_op *op);

/* Methods (sign.c). */
int kb_method_sign(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_authenticate(kb_service *svc, kb_call *call, json_t **ret);
/* Methods (decrypt.c, encrypt.c): digital envelopes. */
int kb_method_decrypt(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_encrypt(kb_service *svc, kb_call *call, json_t **ret);
/* Methods (seal.c). */
int kb_method_seal_get(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_seal_put(kb_service *svc, kb_call *call, json_t **ret);
/* Map a failed key operation to an API error (token removed, …). */
int kb_token_op_key_error(kb_service *svc, kb_token_op *op);
/* Pass r on; when it says the token went away, every authorization on it
 * ends and so does our session (now, or under a read lock when the
 * operation ends). */
int kb_token_op_failed(kb_service *svc, kb_token_op *op, int r);
/* NOT_FOUND or, for a token seen since start-up, TOKEN_NOT_PRESENT. */
int kb_token_absent(kb_service *svc, const char *id);
/* The token with this id in a view, and the source holding it; else as
 * kb_token_absent. */
int kb_view_token(kb_service *svc, const kb_view *v, const char *id, kb_source **ret_source,
                  const kb_token **ret);
/* params.token and params.certificate in a view (errors name the field). */
int kb_view_token_cert(kb_service *svc, kb_call *call, const kb_view *v, kb_source **ret_source,
                       const kb_token **ret_token, const kb_cert **ret_cert);
/* Take the source's op_lock, waiting a little: TOKEN_BUSY if it stays taken. */
int kb_token_lock(kb_source *source);
/* Pass r on; when it says the token went away, its authorizations and our
 * session on it go too. */
int kb_token_gone(kb_service *svc, kb_source *source, const char *token_id, int r);
/* Wipe the bytes of every string in j (a result that held plaintexts),
 * before its last reference goes (params.c). */
void kb_json_wipe(json_t *j);
/* The compact JSON text of j in a buffer of exactly its size (growth
 * leaves no copies behind); NULL on failure. */
char *kb_json_dumps_exact(const json_t *j, size_t *ret_len);
/* The same, then j's strings are wiped and j released (it takes the
 * reference). Free the text with OPENSSL_clear_free(text, len). */
char *kb_json_dumps_secret(json_t *j, size_t *ret_len);
/* Standard base64 of buf as a JSON string (params.c). */
json_t *kb_base64_json(const unsigned char *buf, size_t len);
void kb_token_op_end(kb_service *svc, kb_token_op *op);

/* The caller as authorizations know it: the origin, or the local tool. */
const char *kb_call_who(const kb_call *call);
/* error_details {"pinStatus", "retriesLeft"}. */
void kb_call_pin_details(kb_call *call, kb_pin_status st, int retries);
/* After a wrong user PIN: revoke, cool down, PIN_INCORRECT with the new state. */
int kb_token_op_wrong_pin(kb_service *svc, kb_call *call, kb_token_op *op, int64_t now);

/* PIN management (pin.c). */
int kb_method_pin_change(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_pin_unblock(kb_service *svc, kb_call *call, json_t **ret);

/* Tokens whose PIN must be changed first (pin-usable.c). A private-key operation on a token whose PIN must be changed first:
 * PIN_POLICY with details {"reason": "mustChange"}; else 0. */
int kb_pin_check_usable(kb_service *svc, kb_call *call, const kb_token *t, kb_pin_status status);
/* Show "mustChange" in a rendered token (object) or token list (array) for
 * the tokens the daemon remembers. */
void kb_pin_render(kb_service *svc, json_t *tokens);

/* Secret parameters (params.c). A non-empty string without NUL, bounded, copied into a
 * kb_secret, and the JSON string's bytes wiped whatever happens. */
int kb_param_secret(kb_call *call, const char *key, kb_secret **ret);
/* Wipe a string parameter's bytes in place (a secret not taken). */
void kb_param_wipe(kb_call *call, const char *key);

/* Expire idle authorizations and log out of tokens nobody is authorized on
 * any more (also of tokens that are gone). Returns when to call again (Unix
 * time), 0 when nothing is authorized. */
int64_t kb_service_expire(kb_service *svc, int64_t now);

/* Helpers for method parameters (params.c). */
/* The most items one batch call (sign, decrypt, encrypt) takes under one PIN. */
#define KB_MAX_ITEMS 64
/* params.items: an array of 1 to KB_MAX_ITEMS; else BAD_REQUEST naming "items". */
int kb_param_items(kb_call *call, json_t **ret);
int kb_param_string(kb_call *call, const char *key, bool required, const char **ret);
int kb_param_bool(kb_call *call, const char *key, bool *ret);
/* Standard base64 into a new buffer; BAD_REQUEST naming field when invalid. */
int kb_param_base64(kb_call *call, const char *field, json_t *value, unsigned char **ret, size_t *ret_len);
int kb_bad_field(kb_call *call, const char *field);
/* Fail call with error, naming field and a reason in the error's details
 * (each when not NULL); returns error. call may be NULL (recovery). */
int kb_call_refuse(kb_call *call, int error, const char *field, const char *reason);
/* A certificate given as PEM text or as base64 DER; BAD_REQUEST naming field. */
int kb_param_cert(kb_call *call, const char *field, json_t *v, kb_cert **ret);
