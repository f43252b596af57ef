/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who may use a token's private keys right now: a correct PIN authorizes one
 * origin on one token until it has been idle for the idle timeout, or until
 * the token goes away. Also the per-token cool-down after a wrong PIN.
 * Thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kb-core.h"

typedef struct kb_authz kb_authz;

kb_authz *kb_authz_new(int idle_s);
void kb_authz_free(kb_authz *a);

/* Is origin authorized on token at now? A hit counts as use (idle restarts). */
bool kb_authz_check(kb_authz *a, const char *token, const char *origin, int64_t now);
/* Read-only variant for rendering "authorized". */
bool kb_authz_peek(kb_authz *a, const char *token, const char *origin, int64_t now);
int kb_authz_grant(kb_authz *a, const char *token, const char *origin, int64_t now);
/* Forget every authorization on token (wrong PIN, removal, logout). */
void kb_authz_revoke_token(kb_authz *a, const char *token);
/* Does any origin still hold an authorization on token? */
bool kb_authz_token_in_use(kb_authz *a, const char *token, int64_t now);
/* Drop expired entries. Returns the earliest time something expires next
 * (or 0 when nothing is authorized). */
int64_t kb_authz_expire(kb_authz *a, int64_t now);

/* Cool-down after a wrong PIN: no login attempt on token before until. */
void kb_authz_set_cooldown(kb_authz *a, const char *token, int64_t until);
int64_t kb_authz_cooldown(kb_authz *a, const char *token);

/* The PIN guard: may a login be attempted now? KB_E_OK, PIN_LOCKED (never try
 * a locked PIN), PIN_FINAL_TRY (the last try only with confirmation) or
 * RATE_LIMITED (cool-down). Pure. */
kb_error kb_pin_guard(kb_pin_status status, bool confirm_final_try, int64_t now, int64_t cooldown_until);
