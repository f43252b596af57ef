/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user's consent: PIN dialogs for lib/'s PIN flow (kb_service.ask_pin),
 * the page_pin exception, one dialog on screen at a time, and a per-origin
 * limit on how many dialogs a page can raise.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "kb-service.h"

#define KB_CONSENT_ORIGINS 64

typedef struct kb_consent {
        pthread_mutex_t screen;         /* one dialog at a time */
        pthread_mutex_t lock;           /* guards the counters */
        struct {
                char origin[512];
                time_t window;
                unsigned count;
        } recent[KB_CONSENT_ORIGINS];
} kb_consent;

struct kb_daemon;

void kb_consent_init(kb_consent *c);
void kb_consent_destroy(kb_consent *c);

/* kb_ask_pin_fn; userdata is the kb_daemon. */
int kb_consent_ask_pin(void *userdata, const kb_pin_prompt *prompt, kb_secret **ret);
/* kb_ask_new_pin_fn: the new PIN, then again; a mismatch asks once more (with
 * an error line), a second one gives -KB_E_PIN_CANCELLED. One rate-limit slot. */
int kb_consent_ask_new_pin(void *userdata, const kb_pin_prompt *prompt, kb_secret **ret);
/* May this origin send "pin" in a request (administrator's page-pin-origin)? */
bool kb_consent_page_pin_allowed(void *userdata, const char *origin);
/* First use of an origin no policy lists: ask the user, remember the answer
 * in the approvals file and the live policy. */
int kb_consent_approve_origin(void *userdata, const char *origin);

/* kb_service callbacks for the must-change list (kb_daemon's must_change);
 * userdata is the kb_daemon. */
bool kb_daemon_pin_must_change(void *userdata, const char *token_id);
int kb_daemon_set_pin_must_change(void *userdata, const char *token_id, bool on);
