/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Project error codes. Functions return 0 (or more) on success and -KB_E_* on
 * failure; the values come from kb-error-table.h in its order. */
typedef enum kb_error {
#define KB_ERROR(name, code, http, en, zh) KB_E_##name,
#include "kb-error-table.h"
#undef KB_ERROR
        _KB_E_MAX,
} kb_error;

/* The stable machine-readable code, e.g. "PIN_INCORRECT"; NULL if out of range. */
const char *kb_error_code(kb_error e);
/* The HTTP status the REST API answers with. */
int kb_error_http_status(kb_error e);
/* The human message, Chinese when zh is true. Never contains request data. */
const char *kb_error_message(kb_error e, bool zh);
/* Look a code up by its name; returns -1 if unknown. */
int kb_error_from_code(const char *code);
/* Normalise a negative return value to an error (anything unknown is INTERNAL). */
kb_error kb_error_from_ret(int r);
