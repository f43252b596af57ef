/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <errno.h>

#include "approvals.h"
#include "consent.h"
#include "daemon.h"
#include "dialog-text.h"
#include "log.h"
#include "pinentry.h"

void kb_consent_init(kb_consent *c) {
        *c = (kb_consent) { 0 };
        pthread_mutex_init(&c->screen, NULL);
        pthread_mutex_init(&c->lock, NULL);
}

void kb_consent_destroy(kb_consent *c) {
        pthread_mutex_destroy(&c->screen);
        pthread_mutex_destroy(&c->lock);
}

/* At most `limit` dialogs per origin and minute: a page must
 * not be able to pester the user, or burn PIN tries by raising dialog after
 * dialog. The oldest slot is reused when the table is full. */
static bool dialog_allowed(kb_consent *c, const char *origin, unsigned limit) {
        time_t now = time(NULL);
        size_t slot = 0;
        bool allowed;

        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < KB_CONSENT_ORIGINS; i++) {
                if (strcmp(c->recent[i].origin, origin) == 0) {
                        slot = i;
                        break;
                }
                if (c->recent[i].window < c->recent[slot].window)
                        slot = i;
        }
        if (strcmp(c->recent[slot].origin, origin) != 0 || now - c->recent[slot].window >= 60) {
                snprintf(c->recent[slot].origin, sizeof(c->recent[slot].origin), "%s", origin);
                c->recent[slot].window = now;
                c->recent[slot].count = 0;
        }
        allowed = c->recent[slot].count < limit;
        if (allowed)
                c->recent[slot].count++;
        pthread_mutex_unlock(&c->lock);
        return allowed;
}

static kb_dialog_op dialog_op(const char *operation) {
        static const struct { const char *name; kb_dialog_op op; } ops[] = {
                { "sign", KB_DIALOG_OP_SIGN },
                { "decrypt", KB_DIALOG_OP_DECRYPT },
                { "authenticate", KB_DIALOG_OP_AUTHENTICATE },
                { "pin.change", KB_DIALOG_OP_CHANGE_PIN },
                { "pin.unblock", KB_DIALOG_OP_UNBLOCK_PIN },
                { "renewal.request", KB_DIALOG_OP_RENEW_REQUEST },
                { "renewal.install", KB_DIALOG_OP_RENEW },
                { "enrollment.request", KB_DIALOG_OP_ENROLL },
                { "enrollment.install", KB_DIALOG_OP_ENROLL },
                { "renewal.cancel", KB_DIALOG_OP_DROP_KEY },
                { "enrollment.cancel", KB_DIALOG_OP_DROP_KEY },
                { "seal", KB_DIALOG_OP_SEAL },
        };
        for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
                if (strcmp(ops[i].name, operation) == 0)
                        return ops[i].op;
        return KB_DIALOG_OP_GENERIC;
}

static const char *cert_cn(const kb_cert *c) {
        for (size_t i = 0; c && i < c->n_subject_fields; i++)
                if (strcmp(c->subject_fields[i].key, "CN") == 0)
                        return c->subject_fields[i].value;
        return NULL;
}

static int show_pin_dialog(kb_daemon *d, const kb_pin_request *r, const char *error, kb_secret **ret) {
        kb_dialog_text text;
        kb_dialog dialog = { .program = d->config.pinentry, .timeout_s = d->config.dialog_timeout, .error = error };
        char err[512] = "";   /* the reason may name the pinentries to install */

        if (kb_dialog_text_pin(r, kb_locale_is_chinese(), &text) < 0)
                return -KB_E_INTERNAL;
        kb_dialog_text_apply(&text, &dialog);
        pthread_mutex_lock(&d->consent.screen);
        int ret_code = kb_pinentry_get_pin(&dialog, ret, err, sizeof(err));
        pthread_mutex_unlock(&d->consent.screen);
        kb_dialog_text_clear(&text);
        if (ret_code == -KB_E_INTERNAL)
                kb_log_error("the PIN dialog (%s) could not be shown: %s", d->config.pinentry, err);
        return ret_code;
}

int kb_consent_ask_pin(void *userdata, const kb_pin_prompt *p, kb_secret **ret) {
        kb_daemon *d = userdata;
        const char *origin = p->origin ? p->origin : "";

        if (!dialog_allowed(&d->consent, origin, d->config.dialogs_per_minute)) {
                kb_log_fields f = { .origin = p->origin, .token = p->token->id, .code = "RATE_LIMITED" };
                kb_log(LOG_NOTICE, &f, "too many PIN dialogs for this origin; refused");
                return -KB_E_RATE_LIMITED;
        }
        kb_pin_request r = {
                .origin = p->origin,
                .op = dialog_op(p->operation),
                .ask = KB_DIALOG_ASK_PIN,
                .token_label = p->token->label,
                .token_serial = p->token->serial,
                .cert_cn = cert_cn(p->cert),
                .cert_usage = p->cert ? p->cert->usage : 0,
                .subject = p->subject,
                .pin_status = p->status,
                .retries_left = p->retries_left,
                .items = p->items,
        };
        return show_pin_dialog(d, &r, NULL, ret);
}

/* The new PIN and its repetition; 0 and *ret when they match, -EAGAIN not. */
static int new_pin_pair(kb_daemon *d, kb_pin_request *r, const char *error, kb_secret **ret) {
        kb_secret *first = NULL, *again = NULL;

        r->ask = KB_DIALOG_ASK_NEW_PIN;
        int code = show_pin_dialog(d, r, error, &first);
        if (code < 0)
                return code;
        r->ask = KB_DIALOG_ASK_NEW_PIN_AGAIN;
        code = show_pin_dialog(d, r, NULL, &again);
        if (code >= 0 && !kb_secret_equal(first, again))
                code = -EAGAIN;
        kb_secret_free(again);
        if (code < 0) {
                kb_secret_free(first);
                return code;
        }
        *ret = first;
        return 0;
}

/* Two mismatches end the dialog as PIN_CANCELLED: the user did not settle on
 * a new PIN, and nothing was done on the token. */
int kb_consent_ask_new_pin(void *userdata, const kb_pin_prompt *p, kb_secret **ret) {
        static const char *const mismatch[2] = { "The two PINs did not match. Enter the new PIN again.",
                                                 "两次输入的新口令不一致，请重新输入。" };
        kb_daemon *d = userdata;
        kb_log_fields f = { .origin = p->origin, .token = p->token->id };

        if (!dialog_allowed(&d->consent, p->origin ? p->origin : "", d->config.dialogs_per_minute)) {
                f.code = "RATE_LIMITED";
                kb_log(LOG_NOTICE, &f, "too many PIN dialogs for this origin; refused");
                return -KB_E_RATE_LIMITED;
        }
        kb_pin_request r = {
                .origin = p->origin,
                .op = dialog_op(p->operation),
                .token_label = p->token->label,
                .token_serial = p->token->serial,
                .pin_status = p->status,
                .retries_left = -1,
        };
        int code = new_pin_pair(d, &r, NULL, ret);
        if (code == -EAGAIN)
                code = new_pin_pair(d, &r, mismatch[kb_locale_is_chinese()], ret);
        if (code == -EAGAIN) {
                kb_log(LOG_NOTICE, &f, "the new PINs did not match twice; %s cancelled", p->operation);
                code = -KB_E_PIN_CANCELLED;
        }
        return code;
}

bool kb_consent_page_pin_allowed(void *userdata, const char *origin) {
        kb_daemon *d = userdata;
        bool allowed = false;
        pthread_rwlock_rdlock(&d->policy_lock);
        for (size_t i = 0; i < d->policy->n_page_pin_origins && !allowed; i++)
                allowed = strcmp(d->policy->page_pin_origins[i], origin) == 0;
        pthread_rwlock_unlock(&d->policy_lock);
        return allowed;
}

static bool origin_allowed(kb_daemon *d, const char *origin) {
        pthread_rwlock_rdlock(&d->policy_lock);
        bool allowed = kb_gate_origin_allowed(d->policy, origin);
        pthread_rwlock_unlock(&d->policy_lock);
        return allowed;
}

static int ask_approval(kb_daemon *d, const char *origin) {
        kb_dialog_text text;
        kb_dialog dialog = { .program = d->config.pinentry, .timeout_s = d->config.dialog_timeout };
        char err[512] = "";   /* the reason may name the pinentries to install */

        if (kb_dialog_text_origin_approval(origin, kb_locale_is_chinese(), &text) < 0)
                return -KB_E_INTERNAL;
        kb_dialog_text_apply(&text, &dialog);
        /* Approvals never queue: a page (or many origins) cannot stack
         * dialogs, or fill the job threads waiting for the screen. */
        if (pthread_mutex_trylock(&d->consent.screen) != 0) {
                kb_dialog_text_clear(&text);
                kb_log_fields f = { .origin = origin, .code = "RATE_LIMITED" };
                kb_log(LOG_NOTICE, &f, "approval of %s refused: another dialog is open", origin);
                return -KB_E_RATE_LIMITED;
        }
        int r = kb_pinentry_confirm(&dialog, err, sizeof(err));
        pthread_mutex_unlock(&d->consent.screen);
        kb_dialog_text_clear(&text);
        if (r == -KB_E_INTERNAL)
                kb_log_error("the approval dialog (%s) could not be shown: %s", d->config.pinentry, err);
        return r;
}

int kb_consent_approve_origin(void *userdata, const char *origin) {
        kb_daemon *d = userdata;
        kb_log_fields f = { .origin = origin };

        if (origin_allowed(d, origin))
                return 0;
        if (!dialog_allowed(&d->consent, origin, d->config.dialogs_per_minute))
                return -KB_E_RATE_LIMITED;
        int r = ask_approval(d, origin);
        if (r == -KB_E_PIN_CANCELLED)
                kb_log(LOG_NOTICE, &f, "the user did not approve %s", origin);
        if (r < 0)
                return r;
        r = kb_approvals_add(d->config.state_dir, origin);
        if (r < 0) {
                kb_log_error("cannot remember the approval of %s: %s", origin, strerror(-r));
                return -KB_E_INTERNAL;
        }
        pthread_rwlock_wrlock(&d->policy_lock);
        r = kb_gate_policy_add_origin(d->policy, origin);
        pthread_rwlock_unlock(&d->policy_lock);
        kb_log(LOG_NOTICE, &f, "the user approved %s", origin);
        return r < 0 ? -KB_E_INTERNAL : 0;
}

/* ---- the must-change list (mustchange.c) ---- */

bool kb_daemon_pin_must_change(void *userdata, const char *token_id) {
        kb_daemon *d = userdata;
        return kb_must_change_has(&d->must_change, token_id);
}

int kb_daemon_set_pin_must_change(void *userdata, const char *token_id, bool on) {
        kb_daemon *d = userdata;
        kb_log_fields f = { .token = token_id };
        int r = kb_must_change_set(&d->must_change, token_id, on);
        if (r < 0)
                kb_log(LOG_ERR, &f, "cannot update %s/%s: %s", d->config.state_dir, KB_MUST_CHANGE_FILE, strerror(-r));
        else if (on)
                kb_log(LOG_NOTICE, &f, "the PIN was reset to the portal's value; it must be changed before use");
        return r;
}
