/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The user PIN of an SKF token: its state, login (SKF_VerifyPIN on an
 * application handle we keep open while logged in), logout. Callers hold
 * the source's op_lock; the PIN goes from kb_secret to the library. */
#include <string.h>

#include "kb-error.h"
#include "skf-source.h"

void kb_skf_logout_device(skf_source *p, skf_device *d) {
        if (d->happ) {
                (void) p->f.SKF_ClearSecureState(d->happ);
                (void) p->f.SKF_CloseApplication(d->happ);
        }
        if (d->dev)
                (void) p->f.SKF_DisConnectDev(d->dev);
        d->happ = d->dev = NULL;
}

/* Open the device's application for a login, or say why not. */
static int open_app(skf_source *p, skf_device *d) {
        if (d->happ)
                return 0;
        if (!d->app[0])
                return -KB_E_NOT_FOUND;
        SKF_ULONG sar = p->f.SKF_ConnectDev(d->name, &d->dev);
        if (sar == SAR_OK)
                sar = p->f.SKF_OpenApplication(d->dev, d->app, &d->happ);
        if (sar != SAR_OK) {
                kb_skf_logout_device(p, d);
                return -kb_skf_sar_error(sar);
        }
        return 0;
}

int kb_skf_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries) {
        skf_source *p = (skf_source *) s;
        SKF_ULONG max = 0, left = 0;
        SKF_BOOL is_default = 0;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, t->id);
        int r = d ? open_app(p, d) : -KB_E_TOKEN_NOT_PRESENT;
        if (r >= 0) {
                SKF_ULONG sar = p->f.SKF_GetPINInfo(d->happ, SKF_USER_TYPE, &max, &left, &is_default);
                if (sar == SAR_OK)
                        *ret_status = kb_skf_pin_status(max, left, is_default != 0, ret_retries);
                else
                        r = -kb_skf_sar_error(sar);
        }
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

bool kb_skf_logged_in(kb_source *s, const kb_token *t) {
        skf_source *p = (skf_source *) s;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, t->id);
        bool in = d && d->happ && d->dev;
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
        int r = d ? open_app(p, d) : -KB_E_TOKEN_NOT_PRESENT;
        if (r >= 0) {
                SKF_ULONG sar = p->f.SKF_VerifyPIN(d->happ, SKF_USER_TYPE, (SKF_CHAR *) pin->data, &retries);
                if (sar != SAR_OK) {
                        kb_skf_logout_device(p, d);
                        r = -kb_skf_sar_error(sar);
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
