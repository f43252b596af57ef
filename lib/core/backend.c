/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "kb-backend.h"
#include "kb-error.h"

kb_scan *kb_scan_new(void) {
        kb_scan *s = calloc(1, sizeof(*s));
        if (s)
                atomic_init(&s->refs, 1);
        return s;
}

kb_scan *kb_scan_ref(kb_scan *s) {
        if (s)
                atomic_fetch_add(&s->refs, 1);
        return s;
}

void kb_scan_unref(kb_scan *s) {
        if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
                return;
        for (size_t i = 0; i < s->n_tokens; i++)
                kb_token_free(s->tokens[i]);
        free(s->tokens);
        for (size_t i = 0; i < s->n_problems; i++) {
                free(s->problems[i].where);
                free(s->problems[i].detail);
        }
        free(s->problems);
        free(s);
}

int kb_scan_add_token(kb_scan *s, kb_token *t) {
        kb_token **n = realloc(s->tokens, (s->n_tokens + 1) * sizeof(*n));
        if (!n)
                return -KB_E_INTERNAL;
        s->tokens = n;
        s->tokens[s->n_tokens++] = t;
        return 0;
}

int kb_scan_add_problem(kb_scan *s, const char *where, int error, const char *detail) {
        kb_problem *n = realloc(s->problems, (s->n_problems + 1) * sizeof(*n));
        if (!n)
                return -KB_E_INTERNAL;
        s->problems = n;
        n[s->n_problems] = (kb_problem) {
                .where = strdup(where ? where : ""),
                .error = error,
                .detail = detail ? strdup(detail) : NULL,
        };
        s->n_problems++;
        return 0;
}

const kb_token *kb_scan_find_token(const kb_scan *s, const char *id) {
        for (size_t i = 0; s && i < s->n_tokens; i++)
                if (strcmp(s->tokens[i]->id, id) == 0)
                        return s->tokens[i];
        return NULL;
}

/* Writers first: a steady stream of signatures (readers) must not keep a
 * login, logout or token write waiting past its timeout. */
void kb_source_init_lock(kb_source *s) {
        pthread_rwlockattr_t attr;
        pthread_rwlockattr_init(&attr);
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&s->op_lock, &attr);
        pthread_rwlockattr_destroy(&attr);
}

void kb_source_set_failure(kb_source *s, int error, const char *detail) {
        s->load_error = error;
        free(s->load_detail);
        s->load_detail = strdup(detail && detail[0] ? detail : "unknown error");
}

void kb_source_free(kb_source *s) {
        if (!s)
                return;
        char *name = s->name, *path = s->path, *desc = s->description, *detail = s->load_detail;
        char *profile = s->profile;
        if (s->ops && s->ops->free)
                s->ops->free(s);
        else
                free(s);
        free(name);
        free(path);
        free(desc);
        free(detail);
        free(profile);
}
