/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Secrets (PINs, SO PINs, unblock codes) live only in kb_secret: best-effort
 * mlock'ed, wiped with OPENSSL_cleanse on free, compared in constant time.
 * There is deliberately no function that prints one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct kb_secret {
        size_t len;
        size_t cap;
        unsigned char *data;    /* NUL-terminated for PKCS#11 convenience */
} kb_secret;

/* A secret of capacity cap bytes (plus the NUL), empty. */
kb_secret *kb_secret_new(size_t cap);
/* Copy len bytes in (e.g. from a JSON string the caller then wipes). */
kb_secret *kb_secret_from(const void *data, size_t len);
/* Append one byte; -ENOSPC when full. */
int kb_secret_push(kb_secret *s, unsigned char c);
bool kb_secret_equal(const kb_secret *a, const kb_secret *b);
void kb_secret_free(kb_secret *s);
static inline void kb_secret_freep(kb_secret **s) { kb_secret_free(*s); }
#define _cleanup_secret_ __attribute__((cleanup(kb_secret_freep)))
