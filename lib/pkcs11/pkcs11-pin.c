/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PIN management on PKCS#11 tokens: C_SetPIN on the user's logged-in session,
 * the SO PIN's state, and the unblock (C_Login as SO, C_InitPIN, C_Logout).
 * Callers hold the source's op_lock. PINs go straight from kb_secret to the
 * module; nothing here copies or prints one.
 */
#include <string.h>
#include <time.h>

#include "pkcs11-internal.h"

#define SO_LOGIN_ATTEMPTS 5
#define SO_LOGIN_RETRY_MS 100

static kb_p11_session *login_of(kb_p11_source *p, const kb_token *t) {
        for (size_t i = 0; i < p->n_logins; i++)
                if (strcmp(p->logins[i].token_id, t->id) == 0)
                        return &p->logins[i];
        return NULL;
}

/* Return values that are about who else is logged in, not about the PIN. */
static int rv_error(CK_RV rv) {
        switch (rv) {
        case CKR_SESSION_READ_ONLY_EXISTS:
        case CKR_USER_ALREADY_LOGGED_IN:
        case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
        case CKR_USER_TOO_MANY_TYPES:
                return -KB_E_TOKEN_BUSY;
        default:
                return -(int) kb_pkcs11_rv_error(rv);
        }
}

int kb_p11_set_pin(kb_source *s, const kb_token *t, const kb_secret *old_pin, const kb_secret *new_pin) {
        kb_p11_source *p = (kb_p11_source *) s;
        kb_p11_session *l = login_of(p, t);

        if (!l || !l->logged_in)
                return -KB_E_INTERNAL;
        CK_RV rv = p->fn->C_SetPIN(l->session, old_pin->data, old_pin->len, new_pin->data, new_pin->len);
        int r = rv_error(rv);
        if (r == -KB_E_TOKEN_NOT_PRESENT)
                kb_p11_logout(s, t->id);
        return r;
}

static kb_pin_status so_status(CK_FLAGS f, int *ret_retries) {
        *ret_retries = -1;
        if (f & CKF_SO_PIN_LOCKED) {
                *ret_retries = 0;
                return KB_PIN_LOCKED;
        }
        if (f & CKF_SO_PIN_FINAL_TRY) {
                *ret_retries = 1;
                return KB_PIN_FINAL_TRY;
        }
        return f & CKF_SO_PIN_COUNT_LOW ? KB_PIN_COUNT_LOW : KB_PIN_OK;
}

int kb_p11_so_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries) {
        CK_TOKEN_INFO ti;
        int r = kb_p11_token_info((kb_p11_source *) s, t, &ti);
        if (r < 0)
                return r;
        *ret_status = so_status(ti.flags, ret_retries);
        return 0;
}

/* The scan thread may hold a read-only session on the token for a moment,
 * which keeps an SO login out (CKR_SESSION_READ_ONLY_EXISTS): retry briefly.
 * A wrong SO PIN is never retried. */
static CK_RV so_login(kb_p11_source *p, CK_SESSION_HANDLE h, const kb_secret *so_pin) {
        struct timespec pause = { 0, SO_LOGIN_RETRY_MS * 1000000L };
        CK_RV rv = CKR_OK;

        for (int i = 0; i < SO_LOGIN_ATTEMPTS; i++) {
                rv = p->fn->C_Login(h, CKU_SO, so_pin->data, so_pin->len);
                if (rv != CKR_SESSION_READ_ONLY_EXISTS)
                        break;
                nanosleep(&pause, NULL);
        }
        return rv;
}

int kb_p11_init_pin(kb_source *s, const kb_token *t, const kb_secret *so_pin, const kb_secret *new_pin) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_SESSION_HANDLE h;
        CK_TOKEN_INFO ti;

        int r = kb_p11_token_info(p, t, &ti);
        if (r < 0)
                return r;
        /* Our user session would keep the SO out; the PIN changes anyway. */
        kb_p11_logout(s, t->id);
        CK_RV rv = p->fn->C_OpenSession(t->slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
        if (rv != CKR_OK)
                return rv_error(rv);
        rv = so_login(p, h, so_pin);
        if (rv == CKR_OK) {
                rv = p->fn->C_InitPIN(h, new_pin->data, new_pin->len);
                (void) p->fn->C_Logout(h);
        }
        (void) p->fn->C_CloseSession(h);
        return rv_error(rv);
}
