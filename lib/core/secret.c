/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kb-secret.h"

#define MAX_SECRET 4096

kb_secret *kb_secret_new(size_t cap) {
        if (cap == 0 || cap > MAX_SECRET)
                return NULL;
        kb_secret *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->data = calloc(1, cap + 1);
        if (!s->data) {
                free(s);
                return NULL;
        }
        s->cap = cap;
        (void) mlock(s->data, cap + 1); /* best effort: RLIMIT_MEMLOCK may say no */
        return s;
}

kb_secret *kb_secret_from(const void *data, size_t len) {
        kb_secret *s = kb_secret_new(len ? len : 1);
        if (!s)
                return NULL;
        memcpy(s->data, data, len);
        s->len = len;
        return s;
}

int kb_secret_push(kb_secret *s, unsigned char c) {
        if (s->len >= s->cap)
                return -ENOSPC;
        s->data[s->len++] = c;
        return 0;
}

bool kb_secret_equal(const kb_secret *a, const kb_secret *b) {
        return a->len == b->len && CRYPTO_memcmp(a->data, b->data, a->len) == 0;
}

void kb_secret_free(kb_secret *s) {
        if (!s)
                return;
        OPENSSL_cleanse(s->data, s->cap + 1);
        munlock(s->data, s->cap + 1);
        free(s->data);
        OPENSSL_cleanse(s, sizeof(*s));
        free(s);
}
