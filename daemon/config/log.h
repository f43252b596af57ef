/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging: structured journald entries with KB_* fields, and stderr when the
 * daemon runs in the foreground outside the journal. Callers never pass a PIN
 * or any other secret: there is no field for one.
 */
#pragma once

#include <stdbool.h>
#include <syslog.h>

/* MESSAGE_IDs of security events (128-bit, as journald wants). */
#define KB_MSGID_GATE_REFUSED   "474d1bbd5edb4dac8f5138266a6133ee"
#define KB_MSGID_PEER_REFUSED   "aa175f72d4074188b6e7e3622455128c"
#define KB_MSGID_TLS_ISSUED     "0f5ccd9291d3429ab9aa843a15839cca"

typedef struct kb_log_fields {
        const char *message_id;   /* NULL or one of KB_MSGID_* */
        const char *origin;       /* KB_ORIGIN= */
        const char *token;        /* KB_TOKEN= */
        const char *code;         /* KB_CODE= (error code) */
        const char *ckr;          /* KB_CKR= */
        const char *module;       /* KB_MODULE= */
} kb_log_fields;

/* to_stderr: also write a line to stderr (foreground runs). */
void kb_log_init(bool to_stderr, int max_priority);
void kb_log(int priority, const kb_log_fields *fields, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define kb_log_info(...)    kb_log(LOG_INFO, NULL, __VA_ARGS__)
#define kb_log_warning(...) kb_log(LOG_WARNING, NULL, __VA_ARGS__)
#define kb_log_error(...)   kb_log(LOG_ERR, NULL, __VA_ARGS__)
