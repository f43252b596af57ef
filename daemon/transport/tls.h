/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's own TLS material in <state-dir>/tls/:
 *   root.pem   the local root certificate (no key: the root's private key
 *              exists only in memory while the leaf is signed, then is wiped)
 *   leaf.pem   the server certificate, issued by root.pem
 *   leaf.key   its private key, mode 0600
 * The root is CA:TRUE with pathlen 0 and name constraints permitting only
 * DNS:localhost, IP:127.0.0.1/32 and IP:::1/128; the leaf has those three as
 * subjectAltNames and serverAuth EKU.
 */
#pragma once

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_TLS_LEAF_DAYS 397
#define KB_TLS_RENEW_BEFORE_DAYS 30

typedef struct kb_tls_material {
        char *root_pem;
        char *leaf_pem;
        char *key_pem;          /* wiped by kb_tls_material_clear */
        int64_t leaf_not_after; /* Unix time */
        bool issued;            /* true when this call made a new root and leaf */
} kb_tls_material;

/* Load the material, or make a new root + leaf when it is missing, unreadable,
 * inconsistent, or the leaf expires within KB_TLS_RENEW_BEFORE_DAYS of now.
 * Creates <state_dir>/tls (0700). On failure returns negative errno-style code
 * and writes a human-readable reason to err. */
int kb_tls_ensure(const char *state_dir, int64_t now, kb_tls_material *ret, char *err, size_t errlen);
void kb_tls_material_clear(kb_tls_material *m);

/* PEM text to an object (NULL if it does not parse). A key is read without
 * a passphrase, never prompting on a terminal. */
X509 *kb_tls_pem_to_x509(const char *pem);
EVP_PKEY *kb_tls_pem_to_key(const char *pem);

/* Path helpers: "<state_dir>/tls/root.pem" etc. Caller frees. */
char *kb_tls_root_path(const char *state_dir);
