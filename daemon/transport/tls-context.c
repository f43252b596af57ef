/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The TLS server context (tls-context.h). */
#include "tls-context.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#include "kb-cleanup.h"
#include "kb-openssl.h"


/* TLS 1.2: forward secrecy and an AEAD, nothing else (no CBC, no RSA key
 * exchange). TLS 1.3's own suites are all AEAD. */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
#define GROUPS "X25519:P-256:P-384"
/* One ticket per handshake is enough for one browser reconnecting. */
#define TICKETS_PER_HANDSHAKE 1

static const unsigned char alpn_http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };

/* http/1.1 when the client offers it; no ALPN when it offers none; refused
 * when it offers only protocols we do not speak (h2 alone, say). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
        (void) ssl;
        (void) arg;
        unsigned char *sel = NULL;
        if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof(alpn_http11), in, inlen) !=
            OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
}

static int load_leaf(SSL_CTX *ctx, const kb_tls_material *m) {
        _cleanup_(X509_freep) X509 *leaf = kb_tls_pem_to_x509(m->leaf_pem);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = kb_tls_pem_to_key(m->key_pem); /* the context takes its own reference */
        return leaf && key && SSL_CTX_use_certificate(ctx, leaf) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
                               SSL_CTX_check_private_key(ctx) == 1
                       ? 0
                       : -1;
}

static int configure(SSL_CTX *ctx) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                         SSL_OP_IGNORE_UNEXPECTED_EOF |
                                         SSL_OP_CLEANSE_PLAINTEXT); /* records may hold PINs */
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
        SSL_CTX_set_read_ahead(ctx, 1); /* a record's header and body in one read */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* tickets only: no server-side state */
        return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
                               SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
                               SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) == 1 &&
                               SSL_CTX_set1_groups_list(ctx, GROUPS) == 1 &&
                               SSL_CTX_set_num_tickets(ctx, TICKETS_PER_HANDSHAKE) == 1
                       ? 0
                       : -1;
}

SSL_CTX *kb_tls_context_new(const kb_tls_material *m, char *err, size_t errlen) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || configure(ctx) < 0 || load_leaf(ctx, m) < 0) {
                unsigned long e = ERR_get_error();
                snprintf(err, errlen, "cannot set up TLS: %s", e ? ERR_reason_error_string(e) : "out of memory");
                ERR_clear_error();
                SSL_CTX_free(ctx);
                return NULL;
        }
        return ctx;
}
