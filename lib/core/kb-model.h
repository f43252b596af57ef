/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token and certificate model of the web API (api.md "Token", "Certificate"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum kb_key_type {
        KB_KEY_UNKNOWN,
        KB_KEY_RSA,
        KB_KEY_EC,
        KB_KEY_SM2,
} kb_key_type;

typedef enum kb_usage {
        KB_USAGE_SIGN = 1 << 0,
        KB_USAGE_ENCRYPT = 1 << 1,
        KB_USAGE_BOTH = KB_USAGE_SIGN | KB_USAGE_ENCRYPT,
} kb_usage;

typedef enum kb_cert_status {
        KB_CERT_VALID,
        KB_CERT_EXPIRING,
        KB_CERT_EXPIRED,
        KB_CERT_NOT_YET_VALID,
} kb_cert_status;

typedef enum kb_pin_status {
        KB_PIN_OK,
        KB_PIN_COUNT_LOW,
        KB_PIN_FINAL_TRY,
        KB_PIN_LOCKED,
        KB_PIN_MUST_CHANGE,
} kb_pin_status;

/* One attribute of a distinguished name: "CN", "O", … or a dotted OID. */
typedef struct kb_name_attr {
        char *key;
        char *value; /* UTF-8 */
} kb_name_attr;

#define KB_CERT_ID_LEN 16 /* hex digits of the SHA-256 fingerprint */

typedef struct kb_cert {
        char id[KB_CERT_ID_LEN + 1];
        char *label;                 /* CKA_LABEL, may be "" */
        char *subject;               /* RFC 2253, UTF-8 */
        kb_name_attr *subject_fields;
        size_t n_subject_fields;
        char *issuer;                /* RFC 2253, UTF-8 */
        char *serial_hex;            /* upper-case hex, no separators */
        int64_t not_before;          /* Unix time */
        int64_t not_after;
        kb_key_type key_type;
        int key_bits;
        char *curve;                 /* "P-256", "SM2", … or NULL */
        unsigned usage;              /* kb_usage bits */
        char fingerprint_sha256[65]; /* lower-case hex */
        bool has_private_key;
        bool is_authority;           /* basicConstraints CA: an issuer, not the user's */
        unsigned char *der;
        size_t der_len;
        unsigned char *key_id;       /* CKA_ID, may be NULL */
        size_t key_id_len;
} kb_cert;

/* Parse a DER certificate. label and key_id are copied (both may be NULL).
 * Returns 0, or -KB_E_BAD_REQUEST for bytes that are not an X.509 certificate. */
int kb_cert_from_der(const unsigned char *der, size_t der_len,
                     const char *label, const unsigned char *key_id, size_t key_id_len,
                     kb_cert **ret);
void kb_cert_free(kb_cert *c);

/* Status and whole days left (floor, negative once expired) at time now. */
kb_cert_status kb_cert_status_at(const kb_cert *c, int64_t now, int warning_days, int *ret_days_left);

const char *kb_cert_status_name(kb_cert_status s);
const char *kb_key_type_name(kb_key_type t);   /* "RSA", "EC", "SM2", NULL */
const char *kb_usage_name(unsigned usage);     /* "sign", "encrypt", "both", NULL */
const char *kb_pin_status_name(kb_pin_status s);

/* PEM text of the certificate (caller frees). */
char *kb_cert_to_pem(const kb_cert *c);

#define KB_TOKEN_ID_LEN 16

typedef struct kb_token {
        char id[KB_TOKEN_ID_LEN + 1];
        const char *backend;         /* "pkcs11" or "skf", static */
        char *module;                /* module name or path */
        char *label;
        char *manufacturer;
        char *model;
        char *serial;
        char *hardware_id;           /* NULL when the token has none */
        kb_pin_status pin_status;
        int retries_left;            /* -1 when unknown */
        unsigned long pin_min_len;
        unsigned long pin_max_len;
        /* False for a token that cannot hold a key yet: a PKCS#11 token
         * whose user PIN is not initialized, an SKF device with no
         * application. Only the CA's tools format it (enrollment refuses). */
        bool initialized;
        int64_t free_space;          /* bytes free for objects; -1 when the module does not tell */
        kb_cert **certs;
        size_t n_certs;
        /* Backend bookkeeping (not rendered). */
        unsigned long slot_id;
        unsigned long flags;
} kb_token;

kb_token *kb_token_new(void);
void kb_token_free(kb_token *t);
/* Append a certificate; the token takes ownership. */
int kb_token_add_cert(kb_token *t, kb_cert *c);
const kb_cert *kb_token_find_cert(const kb_token *t, const char *cert_id);

/* The stable id of a token: a hash of what identifies the physical token
 * (backend, manufacturer, model, serial; the label only when serial is empty),
 * so it survives re-insertion, slot renumbering and daemon restarts. */
void kb_token_compute_id(kb_token *t);

/* A problem a backend met: a module that did not load, a token that errored.
 * Reported in /v1/info, never fatal. */
typedef struct kb_problem {
        char *where;    /* module path or "module/slot N" */
        int error;      /* kb_error */
        char *detail;   /* e.g. "CKR_DEVICE_ERROR" or dlopen text; no secrets */
} kb_problem;
