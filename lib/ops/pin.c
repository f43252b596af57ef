/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PIN management (api.md "PIN management").
 *
 * pin.change: the current PIN (native dialog, or "oldPin" from a page_pin
 * origin) under the PIN guard, the new PIN typed twice (or "newPin"), checked
 * against the token's length limits before the token is touched, then a login
 * with the current PIN and C_SetPIN. Success authorizes the caller's origin;
 * every other origin must ask again.
 *
 * pin.unblock: "unblockCode" is the token's SO PIN, released by the portal's
 * server after it checked the user, so no consent dialog: only the new PIN is
 * typed, when the request has no "newPin". The SO PIN has a guard of its own
 * (a locked SO PIN is never tried, its final try needs "confirmFinalTry").
 * A wrong code answers PIN_INCORRECT with the SO PIN's state only.
 *
 * Every PIN taken from the request is moved into a kb_secret and its JSON
 * bytes are wiped at once; secrets are freed (wiped) on every path.
 */
#include <string.h>
#include <time.h>

#include "kb-service.h"

#define DEFAULT_MAX_PIN 256     /* when the token does not say */

static void set_details(kb_call *call, json_t *details) {
        json_decref(call->error_details);
        call->error_details = details;
}

/* ---- the token's rules ---- */

static void pin_limits(const kb_token *t, unsigned long *ret_min, unsigned long *ret_max) {
        unsigned long min = t->pin_min_len, max = t->pin_max_len;
        if (min == (unsigned long) -1 || min == 0)
                min = 1;
        if (max == (unsigned long) -1 || max == 0 || max > DEFAULT_MAX_PIN)
                max = DEFAULT_MAX_PIN;
        *ret_min = min;
        *ret_max = max;
}

/* PIN_POLICY with details {"minLength", "maxLength"}. */
static int policy_error(kb_call *call, const kb_token *t) {
        unsigned long min, max;
        pin_limits(t, &min, &max);
        set_details(call, json_pack("{s:I, s:I}", "minLength", (json_int_t) min, "maxLength", (json_int_t) max));
        return -KB_E_PIN_POLICY;
}

static int check_policy(kb_call *call, const kb_token *t, const kb_secret *pin) {
        unsigned long min, max;
        pin_limits(t, &min, &max);
        return pin->len >= min && pin->len <= max ? 0 : policy_error(call, t);
}

/* ---- the token ---- */

/* Find params.token and take its lock; op->cert stays NULL. */
static int begin(kb_service *svc, kb_call *call, kb_token_op *op) {
        const char *tid;
        kb_source *src = NULL;
        int r = kb_param_string(call, "token", true, &tid);
        if (r < 0)
                return r;
        *op = (kb_token_op) { .view = kb_cache_view(svc->cache) };
        if (!op->view)
                return -KB_E_INTERNAL;
        r = kb_view_token(svc, op->view, tid, &src, &op->token);
        if (r >= 0 && (!src->ops->set_pin || !src->ops->init_pin || !src->ops->so_pin_state))
                r = -KB_E_UNSUPPORTED_ALGORITHM;
        if (r >= 0)
                r = kb_token_lock(src);
        if (r < 0) {
                kb_view_free(op->view);
                *op = (kb_token_op) { 0 };
                return r;
        }
        op->source = src;
        return 0;
}

static int ask_new(kb_service *svc, kb_call *call, const kb_token_op *op, const kb_pin_prompt *prompt,
                   kb_secret **ret) {
        if (!svc->ask_new_pin)
                return -KB_E_PIN_CANCELLED;
        int r = svc->ask_new_pin(svc->userdata, prompt, ret);
        if (r >= 0)
                r = check_policy(call, op->token, *ret);
        return r;
}

/* ---- pin.change ---- */

static bool page_pin(kb_service *svc, const kb_call *call) {
        return call->origin && svc->page_pin_allowed && svc->page_pin_allowed(svc->userdata, call->origin);
}

/* oldPin/newPin: both or neither, and only from a page_pin origin. */
static int change_params(kb_service *svc, kb_call *call, kb_secret **ret_old, kb_secret **ret_new) {
        bool has_old = json_object_get(call->params, "oldPin") != NULL;
        bool has_new = json_object_get(call->params, "newPin") != NULL;
        if (!has_old && !has_new)
                return 0;
        if (!page_pin(svc, call)) {
                kb_param_wipe(call, "oldPin");
                kb_param_wipe(call, "newPin");
                return kb_bad_field(call, has_old ? "oldPin" : "newPin");
        }
        int r_new = kb_param_secret(call, "newPin", ret_new);
        int r_old = kb_param_secret(call, "oldPin", ret_old);
        return r_old < 0 ? r_old : r_new;
}

static int guard(kb_service *svc, kb_call *call, const kb_token_op *op, bool confirm, int64_t now,
                 kb_pin_prompt *prompt) {
        int r = op->source->ops->pin_state(op->source, op->token, &prompt->status, &prompt->retries_left);
        if (r < 0)
                return r;
        kb_error g = kb_pin_guard(prompt->status, confirm, now, kb_authz_cooldown(svc->authz, op->token->id));
        if (g == KB_E_OK)
                return 0;
        kb_call_pin_details(call, prompt->status, prompt->retries_left);
        return -(int) g;
}

static int apply_change(kb_service *svc, kb_call *call, kb_token_op *op, const kb_secret *old_pin,
                        const kb_secret *new_pin, int64_t now) {
        const kb_source_ops *ops = op->source->ops;
        /* The login below ends everyone's login; the PIN changes for all. */
        kb_authz_revoke_token(svc->authz, op->token->id);
        int r = ops->login(op->source, op->token, old_pin);
        if (r >= 0)
                r = ops->set_pin(op->source, op->token, old_pin, new_pin);
        if (r == -KB_E_PIN_INCORRECT)
                return kb_token_op_wrong_pin(svc, call, op, now);
        if (r < 0) {
                ops->logout(op->source, op->token->id);
                return r == -KB_E_PIN_POLICY ? policy_error(call, op->token) : r;
        }
        if (svc->set_pin_must_change)
                (void) svc->set_pin_must_change(svc->userdata, op->token->id, false);
        return kb_authz_grant(svc->authz, op->token->id, kb_call_who(call), now);
}

static int change_on_token(kb_service *svc, kb_call *call, kb_token_op *op, bool confirm,
                           kb_secret **old_pin, kb_secret **new_pin) {
        kb_pin_prompt prompt = { .origin = call->origin, .operation = "pin.change", .token = op->token };
        int64_t now = time(NULL);
        /* Page-given values are checked before anything happens on the token. */
        int r = *new_pin ? check_policy(call, op->token, *new_pin) : 0;
        if (r >= 0)
                r = guard(svc, call, op, confirm, now, &prompt);
        if (r >= 0 && !*old_pin)
                r = svc->ask_pin ? svc->ask_pin(svc->userdata, &prompt, old_pin) : -KB_E_PIN_CANCELLED;
        if (r >= 0 && (*old_pin)->len == 0)
                r = -KB_E_PIN_CANCELLED; /* OK on an empty field: do not spend a try on it */
        if (r >= 0 && !*new_pin)
                r = ask_new(svc, call, op, &prompt, new_pin);
        if (r >= 0)
                r = apply_change(svc, call, op, *old_pin, *new_pin, now);
        return r;
}

int kb_method_pin_change(kb_service *svc, kb_call *call, json_t **ret) {
        _cleanup_secret_ kb_secret *old_pin = NULL;
        _cleanup_secret_ kb_secret *new_pin = NULL;
        bool confirm = false;
        kb_token_op op;

        int r = change_params(svc, call, &old_pin, &new_pin);
        if (r >= 0)
                r = kb_param_bool(call, "confirmFinalTry", &confirm);
        if (r >= 0)
                r = begin(svc, call, &op);
        if (r < 0)
                return r;
        r = change_on_token(svc, call, &op, confirm, &old_pin, &new_pin);
        kb_token_op_end(svc, &op);
        if (r < 0)
                return r;
        kb_cache_kick(svc->cache); /* the token's PIN flags changed */
        *ret = json_pack("{s:b}", "changed", true);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* ---- pin.unblock ---- */

static void so_details(kb_call *call, kb_pin_status st, int retries) {
        set_details(call, json_pack("{s:s, s:o}", "soPinStatus", kb_pin_status_name(st),
                                    "soRetriesLeft", retries >= 0 ? json_integer(retries) : json_null()));
}

static int so_guard(kb_service *svc, kb_call *call, const kb_token_op *op, bool confirm, int64_t now) {
        kb_pin_status st = KB_PIN_OK;
        int retries = -1;
        int r = op->source->ops->so_pin_state(op->source, op->token, &st, &retries);
        if (r < 0)
                return r;
        kb_error g = kb_pin_guard(st, confirm, now, kb_authz_cooldown(svc->authz, op->token->id));
        if (g == KB_E_OK)
                return 0;
        so_details(call, st, retries);
        return -(int) g;
}

static int apply_unblock(kb_service *svc, kb_call *call, kb_token_op *op, const kb_secret *code,
                         const kb_secret *new_pin, int64_t now) {
        const kb_source_ops *ops = op->source->ops;
        kb_pin_status st = KB_PIN_OK;
        int retries = -1;

        /* The user PIN changes: no origin keeps its authorization. */
        kb_authz_revoke_token(svc->authz, op->token->id);
        int r = ops->init_pin(op->source, op->token, code, new_pin);
        if (r == -KB_E_PIN_INCORRECT || r == -KB_E_PIN_LOCKED) {
                kb_authz_set_cooldown(svc->authz, op->token->id, now + svc->pin_cooldown_s);
                if (ops->so_pin_state(op->source, op->token, &st, &retries) >= 0)
                        so_details(call, st, retries);
        } else if (r == -KB_E_PIN_POLICY)
                r = policy_error(call, op->token);
        return r;
}

/* Remember a PIN reset to the portal's value; a PIN the user typed is theirs. */
static bool remember(kb_service *svc, const kb_token *t, bool portal_pin) {
        bool on = portal_pin && svc->must_change_after_unblock;
        if (svc->set_pin_must_change && svc->set_pin_must_change(svc->userdata, t->id, on) < 0)
                return false;
        return on;
}

/* Some tokens mark a PIN the administrator set as one to change (SKF's
 * default-PIN flag, CKF_USER_PIN_TO_BE_CHANGED). */
static bool token_says_must_change(const kb_token_op *op) {
        kb_pin_status st = KB_PIN_OK;
        int retries = -1;
        return op->source->ops->pin_state(op->source, op->token, &st, &retries) >= 0 && st == KB_PIN_MUST_CHANGE;
}

static int unblock_on_token(kb_service *svc, kb_call *call, kb_token_op *op, bool confirm,
                            const kb_secret *code, kb_secret **new_pin, bool *ret_must_change) {
        kb_pin_prompt prompt = { .origin = call->origin, .operation = "pin.unblock", .token = op->token };
        int64_t now = time(NULL);
        bool portal_pin = *new_pin != NULL;
        int r = *new_pin ? check_policy(call, op->token, *new_pin) : 0;
        if (r >= 0)
                r = so_guard(svc, call, op, confirm, now);
        if (r >= 0 && !*new_pin)
                r = ask_new(svc, call, op, &prompt, new_pin);
        if (r >= 0)
                r = apply_unblock(svc, call, op, code, *new_pin, now);
        if (r >= 0)
                *ret_must_change = remember(svc, op->token, portal_pin) || token_says_must_change(op);
        return r;
}

int kb_method_pin_unblock(kb_service *svc, kb_call *call, json_t **ret) {
        _cleanup_secret_ kb_secret *code = NULL;
        _cleanup_secret_ kb_secret *new_pin = NULL;
        bool confirm = false, must_change = false;
        kb_token_op op;

        int r_new = json_object_get(call->params, "newPin") ? kb_param_secret(call, "newPin", &new_pin) : 0;
        int r = kb_param_secret(call, "unblockCode", &code);
        if (r >= 0)
                r = r_new;
        if (r >= 0)
                r = kb_param_bool(call, "confirmFinalTry", &confirm);
        if (r >= 0)
                r = begin(svc, call, &op);
        if (r < 0)
                return r;
        r = unblock_on_token(svc, call, &op, confirm, code, &new_pin, &must_change);
        kb_token_op_end(svc, &op);
        if (r < 0)
                return r;
        kb_cache_kick(svc->cache);
        *ret = json_pack("{s:b, s:b}", "unblocked", true, "mustChange", must_change);
        return *ret ? 0 : -KB_E_INTERNAL;
}
