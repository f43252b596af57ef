/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The user PIN of an SKF token: its state, login (SKF_VerifyPIN on an
 * application handle we keep open while logged in), logout. Callers hold
 * the source's op_lock; the PIN goes from kb_secret to the library. */
#include <string.h>

#include "kb-core.h"
#include "skf-source.h"

int kb_skf_login_device(skf_source *p, const kb_token *t, skf_device **ret) {
        skf_device *d = kb_skf_device(p, t->id);
        if (!d)
                return -KB_E_TOKEN_NOT_PRESENT;
        if (!d->logged_in || !d->happ)
                return -KB_E_INTERNAL;
        *ret = d;
        return 0;
}

int kb_skf_login_error(skf_source *p, skf_device *d, SKF_ULONG sar) {
        if (sar == SAR_OK)
                return 0;
        if (sar == SAR_USER_NOT_LOGGED_IN)
                kb_skf_logout_device(p, d);
        return -kb_skf_error(p, sar);
}

/* SKF takes PINs as C strings: a PIN with a NUL in it would be cut short
 * and checked as another PIN, so it is refused before the token sees it. */
static bool c_string(const kb_secret *pin) {
        return memchr(pin->data, '\0', pin->len) == NULL;
}

/* Open the device's application for a login, or say why not. */
int kb_skf_open_app(skf_source *p, skf_device *d) {
        if (d->happ)
                return 0;
        if (!d->app[0])
                return -KB_E_NOT_FOUND;
        SKF_ULONG sar = p->f.SKF_ConnectDev(d->name, &d->dev);
        if (sar == SAR_OK)
                sar = p->f.SKF_OpenApplication(d->dev, d->app, &d->happ);
        if (sar != SAR_OK) {
                kb_skf_logout_device(p, d);
                return -kb_skf_error(p, sar);
        }
        return 0;
}

static int pin_info(skf_source *p, const kb_token *t, SKF_ULONG type, kb_pin_status *ret_status,
                    int *ret_retries) {
        SKF_ULONG max = 0, left = 0;
        SKF_BOOL is_default = 0;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, t->id);
        int r = d ? kb_skf_open_app(p, d) : -KB_E_TOKEN_NOT_PRESENT;
        if (r >= 0) {
                SKF_ULONG sar = p->f.SKF_GetPINInfo(d->happ, type, &max, &left, &is_default);
                /* The default flag asks the user to change their PIN; the
                 * administrator's is not ours to ask about. */
                if (sar == SAR_OK)
                        *ret_status = kb_skf_pin_status(max, left, type == SKF_USER_TYPE && is_default,
                                                        ret_retries);
                else
                        r = -kb_skf_error(p, sar);
        }
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

int kb_skf_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries) {
        return pin_info((skf_source *) s, t, SKF_USER_TYPE, ret_status, ret_retries);
}

int kb_skf_so_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries) {
        return pin_info((skf_source *) s, t, SKF_ADMIN_TYPE, ret_status, ret_retries);
}

/* SKF_ChangePIN checks the old PIN itself, on the application we logged
 * in to with it. */
int kb_skf_set_pin(kb_source *s, const kb_token *t, const kb_secret *old_pin, const kb_secret *new_pin) {
        skf_source *p = (skf_source *) s;
        SKF_ULONG retries = 0;
        if (!c_string(old_pin) || !c_string(new_pin))
                return -KB_E_PIN_POLICY;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = kb_skf_login_device(p, t, &d);
        if (r >= 0)
                r = kb_skf_login_error(p, d, p->f.SKF_ChangePIN(d->happ, SKF_USER_TYPE, (SKF_CHAR *) old_pin->data,
                                                                (SKF_CHAR *) new_pin->data, &retries));
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

/* SKF_UnblockPIN with the administrator's PIN sets the user PIN and its
 * full counter; the token marks it a default PIN (mustChange). */
int kb_skf_init_pin(kb_source *s, const kb_token *t, const kb_secret *so_pin, const kb_secret *new_pin) {
        skf_source *p = (skf_source *) s;
        SKF_ULONG retries = 0;
        if (!c_string(so_pin))
                return -KB_E_PIN_INCORRECT;
        if (!c_string(new_pin))
                return -KB_E_PIN_POLICY;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, t->id);
        if (d)
                kb_skf_logout_device(p, d);     /* our user login ends: the PIN changes */
        int r = d ? kb_skf_open_app(p, d) : -KB_E_TOKEN_NOT_PRESENT;
        if (r >= 0) {
                SKF_ULONG sar = p->f.SKF_UnblockPIN(d->happ, (SKF_CHAR *) so_pin->data, (SKF_CHAR *) new_pin->data,
                                                    &retries);
                r = sar == SAR_OK ? 0 : -kb_skf_error(p, sar);
                kb_skf_logout_device(p, d);     /* the administrator's state ends with it */
        }
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

bool kb_skf_logged_in(kb_source *s, const kb_token *t) {
        skf_source *p = (skf_source *) s;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, t->id);
        bool in = d && d->logged_in;
        pthread_mutex_unlock(&p->call_lock);
        return in;
}

int kb_skf_login(kb_source *s, const kb_token *t, const kb_secret *pin) {
        skf_source *p = (skf_source *) s;
        SKF_ULONG retries = 0;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, t->id);
        if (d)
                kb_skf_logout_device(p, d);     /* so that the PIN is really checked */
        int r = d ? kb_skf_open_app(p, d) : -KB_E_TOKEN_NOT_PRESENT;
        if (r >= 0 && !c_string(pin))
                r = -KB_E_PIN_POLICY;
        if (r >= 0) {
                SKF_ULONG sar = p->f.SKF_VerifyPIN(d->happ, SKF_USER_TYPE, (SKF_CHAR *) pin->data, &retries);
                d->logged_in = sar == SAR_OK;
                if (sar != SAR_OK) {
                        kb_skf_logout_device(p, d);
                        r = -kb_skf_error(p, sar);
                }
        }
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

void kb_skf_logout(kb_source *s, const char *token_id) {
        skf_source *p = (skf_source *) s;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, token_id);
        if (d)
                kb_skf_logout_device(p, d);
        pthread_mutex_unlock(&p->call_lock);
}

size_t kb_skf_sessions(kb_source *s, char (*ret_ids)[KB_TOKEN_ID_LEN + 1], size_t max) {
        skf_source *p = (skf_source *) s;
        size_t n = 0;
        pthread_mutex_lock(&p->call_lock);
        for (size_t i = 0; i < p->n_devices && n < max; i++)
                if (p->devices[i].happ)
                        memcpy(ret_ids[n++], p->devices[i].token_id, KB_TOKEN_ID_LEN + 1);
        pthread_mutex_unlock(&p->call_lock);
        return n;
}
