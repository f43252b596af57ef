/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's native dialogs: a client of the Assuan pinentry protocol
 * (pinentry-gnome3, -qt, -gtk2, -curses, or the test fixture).
 *
 * Each call spawns the program (no shell, a filtered environment, no fds but
 * the two pipes), sends the texts, runs one GETPIN or CONFIRM and reaps the
 * child. The whole dialog is bounded: the pinentry is told to close itself
 * after timeout_s and is killed 5 s later if it has not. A PIN goes from the
 * pipe straight into a kb_secret; every buffer that held one is wiped, and no
 * reason string ever contains one.
 *
 * Calls block for up to timeout_s + 5 s: make them from a worker thread, one
 * dialog at a time. SIGPIPE is blocked around writes, so a pinentry that dies
 * early cannot kill the caller.
 */
#pragma once

#include <stddef.h>

#include "kb-secret.h"

#define KB_PINENTRY_DEFAULT_TIMEOUT 120  /* seconds, when timeout_s is 0 */
#define KB_PINENTRY_KILL_GRACE 5         /* seconds after timeout_s before SIGKILL */
#define KB_PINENTRY_MAX_PIN 256          /* bytes */
#define KB_PINENTRY_LINE_MAX 1000        /* Assuan's limit, "\n" included */

typedef struct kb_dialog {
        const char *program;     /* absolute path, or a name looked up on PATH;
                                  * one program, no arguments */
        unsigned timeout_s;      /* SETTIMEOUT; 0 means KB_PINENTRY_DEFAULT_TIMEOUT */
        unsigned kill_grace_ms;  /* how long after timeout_s the pinentry is stopped;
                                  * 0 means KB_PINENTRY_KILL_GRACE s. The daemon
                                  * leaves it 0; tests set it short */
        const char *title;       /* UTF-8; any of these may be NULL (not sent) */
        const char *description; /* may hold "\n"; truncated at a UTF-8 boundary
                                  * (with "…") to fit an Assuan line */
        const char *prompt;
        const char *error;       /* shown prominently, e.g. after a wrong PIN */
        const char *ok;
        const char *cancel;
        const char *lc_ctype;    /* OPTION lc-ctype / lc-messages, NULL: not sent */
        const char *lc_messages;
} kb_dialog;

/* Ask for a PIN. Returns 0 and *ret_pin (possibly empty: the user pressed OK
 * on an empty field); -KB_E_PIN_CANCELLED when the user cancelled, the dialog
 * timed out or the pinentry closed or died during the dialog; -KB_E_INTERNAL
 * when no dialog could be shown (program missing, not a pinentry, a text-mode
 * pinentry without a terminal, protocol error, PIN over KB_PINENTRY_MAX_PIN).
 * err (may be NULL) receives a one-line reason fit for the log; it never holds
 * a PIN byte. *ret_pin is written only on success; free it with kb_secret_free. */
int kb_pinentry_get_pin(const kb_dialog *d, kb_secret **ret_pin, char *err, size_t errlen);

/* Ask for a yes/no decision (ok and cancel label the buttons). Returns 0 only
 * when the user pressed OK; -KB_E_PIN_CANCELLED when they refused, cancelled,
 * or the dialog timed out or closed; -KB_E_INTERNAL when no dialog could be
 * shown. Anything but 0 means "not approved". */
int kb_pinentry_confirm(const kb_dialog *d, char *err, size_t errlen);
