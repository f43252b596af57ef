/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The texts of the daemon's native dialogs, in Chinese or English.
 *
 * A PIN dialog names who asks (the website's origin, verbatim), what for (the
 * operation), with what (certificate CN, token label and serial) and the state
 * of the PIN (retries left, final-try and about-to-lock warnings). Every value
 * put into a text is sanitized first: invalid UTF-8, control characters and
 * bidirectional overrides become U+FFFD, and over-long values are cut with "…",
 * so a certificate or an origin cannot forge extra lines or reorder the text.
 */
#pragma once

#include <stdbool.h>

#include "kb-model.h"
#include "pinentry.h"

typedef enum kb_dialog_op {
        KB_DIALOG_OP_GENERIC,
        KB_DIALOG_OP_SIGN,
        KB_DIALOG_OP_AUTHENTICATE,
        KB_DIALOG_OP_CHANGE_PIN,
        KB_DIALOG_OP_RENEW,
        KB_DIALOG_OP_SEAL,
        KB_DIALOG_OP_UNBLOCK_PIN,
        KB_DIALOG_OP_RENEW_REQUEST,  /* a renewal's new key pair */
        KB_DIALOG_OP_ENROLL,         /* a first key and certificate: names the subject */
        KB_DIALOG_OP_DROP_KEY,       /* a cancelled request's unused key is deleted */
        KB_DIALOG_OP_DECRYPT,        /* digital envelopes (bid opening): names the count */
        _KB_DIALOG_OP_MAX,
} kb_dialog_op;

/* Which PIN the dialog asks for. */
typedef enum kb_dialog_ask {
        KB_DIALOG_ASK_PIN,            /* the current PIN: retries and warnings shown */
        KB_DIALOG_ASK_NEW_PIN,
        KB_DIALOG_ASK_NEW_PIN_AGAIN,
        _KB_DIALOG_ASK_MAX,
} kb_dialog_ask;

typedef struct kb_pin_request {
        const char *origin;          /* the requesting origin; NULL: a local program */
        kb_dialog_op op;
        kb_dialog_ask ask;
        const char *token_label;     /* NULL or "" when unknown */
        const char *token_serial;    /* likewise */
        const char *cert_cn;         /* NULL or "": no certificate named */
        unsigned cert_usage;         /* kb_usage bits: "签名证书" / "加密证书", or 0 */
        const char *subject;         /* enrollment: the subject to be written ("CN=…, O=…"), or NULL */
        kb_pin_status pin_status;
        int retries_left;            /* -1 when unknown */
        unsigned items;              /* a batch of this many documents; named when 2 or more */
} kb_pin_request;

/* Allocated strings; NULL fields are not sent. Free with kb_dialog_text_clear. */
typedef struct kb_dialog_text {
        char *title;
        char *description;
        char *prompt;
        char *ok;
        char *cancel;
} kb_dialog_text;

void kb_dialog_text_clear(kb_dialog_text *t);

/* Point d's texts at t's (d keeps its program, timeout and locale). */
void kb_dialog_text_apply(const kb_dialog_text *t, kb_dialog *d);

/* True when the first set of LC_ALL, LC_MESSAGES, LANG starts with "zh". */
bool kb_locale_is_chinese(void);

/* The PIN dialog for r. Returns 0, or -ENOMEM (then *ret is all NULL). */
int kb_dialog_text_pin(const kb_pin_request *r, bool zh, kb_dialog_text *ret);

/* "Allow <origin> to use your certificates (UKey)?" with Allow / Deny. */
int kb_dialog_text_origin_approval(const char *origin, bool zh, kb_dialog_text *ret);

/* A generic yes/no question: message (sanitized; line breaks kept) with OK / Cancel. */
int kb_dialog_text_confirm(const char *message, bool zh, kb_dialog_text *ret);
