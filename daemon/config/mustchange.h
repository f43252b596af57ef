/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tokens whose user PIN must be changed: after an unblock to a PIN the
 * portal gave (the CA's initial PIN), when the administrator sets
 * pin-must-change-after-unblock. Kept in <state-dir>/must-change, one token
 * id per line, so a restart does not forget; cleared by a successful
 * pin.change. Thread-safe.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "kb-model.h"

#define KB_MUST_CHANGE_MAX 256

typedef struct kb_must_change {
        pthread_mutex_t lock;
        const char *state_dir;          /* borrowed from the configuration */
        char ids[KB_MUST_CHANGE_MAX][KB_TOKEN_ID_LEN + 1];
        size_t n;
} kb_must_change;

/* The file in the state directory. */
#define KB_MUST_CHANGE_FILE "must-change"

/* Read the file (missing: empty). Returns 0 or -errno; the set is usable anyway. */
int kb_must_change_init(kb_must_change *m, const char *state_dir);
void kb_must_change_destroy(kb_must_change *m);
bool kb_must_change_has(kb_must_change *m, const char *token_id);
/* Add or remove a token, rewriting the file atomically when the set changed. */
int kb_must_change_set(kb_must_change *m, const char *token_id, bool on);
