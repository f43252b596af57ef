/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "kb-cleanup.h"
#include "kb-error.h"
#include "kb-model.h"

kb_token *kb_token_new(void) {
        kb_token *t = calloc(1, sizeof(*t));
        if (t) {
                t->retries_left = -1;
                t->initialized = true;
                t->free_space = -1;
        }
        return t;
}

void kb_token_free(kb_token *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_certs; i++)
                kb_cert_free(t->certs[i]);
        free(t->certs);
        free(t->module);
        free(t->label);
        free(t->manufacturer);
        free(t->model);
        free(t->serial);
        free(t->hardware_id);
        free(t);
}

int kb_token_add_cert(kb_token *t, kb_cert *c) {
        kb_cert **n = realloc(t->certs, (t->n_certs + 1) * sizeof(*n));
        if (!n)
                return -KB_E_INTERNAL;
        t->certs = n;
        t->certs[t->n_certs++] = c;
        return 0;
}

const kb_cert *kb_token_find_cert(const kb_token *t, const char *cert_id) {
        for (size_t i = 0; i < t->n_certs; i++)
                if (strcmp(t->certs[i]->id, cert_id) == 0)
                        return t->certs[i];
        return NULL;
}

static void digest_field(EVP_MD_CTX *ctx, const char *s) {
        /* Length-prefixed, so ("ab","c") and ("a","bc") differ. */
        size_t len = s ? strlen(s) : 0;
        unsigned char n[4] = { len >> 24, len >> 16, len >> 8, len };
        EVP_DigestUpdate(ctx, n, sizeof(n));
        if (len)
                EVP_DigestUpdate(ctx, s, len);
}

void kb_token_compute_id(kb_token *t) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        bool have_serial = t->serial && t->serial[0];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
                EVP_MD_CTX_free(ctx);
                snprintf(t->id, sizeof(t->id), "%s", "0000000000000000");
                return;
        }
        digest_field(ctx, t->backend);
        digest_field(ctx, t->manufacturer);
        digest_field(ctx, t->model);
        digest_field(ctx, t->serial);
        if (!have_serial)
                digest_field(ctx, t->label);
        EVP_DigestFinal_ex(ctx, md, &md_len);
        EVP_MD_CTX_free(ctx);
        for (unsigned i = 0; i < KB_TOKEN_ID_LEN / 2; i++)
                snprintf(t->id + 2 * i, 3, "%02x", md[i]);
}
