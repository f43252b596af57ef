/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A token source: one PKCS#11 module or one SKF library. Each source is
 * scanned by its own cache thread, so a slow module never holds up another.
 */
#pragma once

#include <stdatomic.h>

#include "kb-model.h"

/* The immutable result of one scan of one source; shared by reference. */
typedef struct kb_scan {
        atomic_int refs;
        kb_token **tokens;
        size_t n_tokens;
        kb_problem *problems;
        size_t n_problems;
        int64_t finished;       /* Unix time the scan ended */
} kb_scan;

kb_scan *kb_scan_new(void);
kb_scan *kb_scan_ref(kb_scan *s);
void kb_scan_unref(kb_scan *s);
int kb_scan_add_token(kb_scan *s, kb_token *t);             /* takes ownership */
int kb_scan_add_problem(kb_scan *s, const char *where, int error, const char *detail);
const kb_token *kb_scan_find_token(const kb_scan *s, const char *id);

typedef struct kb_source kb_source;

typedef struct kb_source_ops {
        const char *backend;    /* "pkcs11", "skf" */
        /* Read every present token. prev is the last result (or NULL): a source
         * may reuse a token's certificates when the token did not change. */
        int (*scan)(kb_source *s, const kb_scan *prev, kb_scan **ret);
        void (*free)(kb_source *s);
} kb_source_ops;

struct kb_source {
        const kb_source_ops *ops;
        char *name;             /* p11-kit module name, or the file name */
        char *path;             /* library path */
        char *description;      /* library description, NULL until loaded */
        int load_error;         /* 0, or kb_error why the library did not load */
        char *load_detail;      /* the loader's words, when load_error != 0 */
};

void kb_source_free(kb_source *s);

/* PKCS#11: open the modules at paths, or p11-kit's registered modules when
 * n_paths is 0 (trust-policy modules such as p11-kit-trust are skipped: they
 * hold the system's CA list, not a user's token). A module that fails to load
 * still yields a source, with load_error set. */
int kb_pkcs11_open_sources(char *const *paths, size_t n_paths,
                           kb_source ***ret_sources, size_t *ret_n);
