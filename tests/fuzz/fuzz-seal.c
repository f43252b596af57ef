/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seal bytes from a token (CKA_VALUE of a data object anyone may have
 * written) or a page: the envelope parser and the media type checks. A
 * parsed envelope must serialize back to the same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kb-seal.h"

static void must(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-seal: %s\n", what);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const types[] = { "image/png", "image/gif", "image/jpeg", "application/octet-stream" };
        kb_seal *s = NULL;

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                (void) kb_seal_bytes_match(types[i], data, size);
        if (kb_seal_from_envelope(data, size, &s) < 0) {
                must(!s, "a failed parse wrote its output");
                return 0;
        }
        (void) kb_seal_bytes_match(s->media_type, s->data, s->len);
        unsigned char *env = NULL;
        size_t len = 0;
        must(kb_seal_envelope(s, &env, &len) == 0, "a parsed envelope does not serialize");
        must(len == size && memcmp(env, data, size) == 0, "the envelope does not round-trip");
        free(env);
        kb_seal_free(s);
        return 0;
}
