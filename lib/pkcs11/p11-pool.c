/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sessions one logged-in token signs on (p11-pkey.h).
 *
 * A PKCS#11 login belongs to the token, not to a session: every session the
 * application opens on a logged-in token is logged in too, and object handles
 * are valid in all of them. A session runs one operation at a time, so two
 * signatures at once need two sessions. The pool starts with the login's own
 * session and opens more on demand, up to KB_P11_POOL_MAX; when it cannot
 * open another (CKR_SESSION_COUNT, or the limit), a signer waits for one to
 * come back. Extra sessions are closed only when the login ends (closing all
 * of a token's sessions would log it out).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "p11-pkey.h"

struct kb_p11_pool {
        atomic_uint refs;
        pthread_mutex_t lock;
        pthread_cond_t returned;
        CK_FUNCTION_LIST *fn;
        CK_SLOT_ID slot;
        CK_SESSION_HANDLE owned;        /* the login's session: its owner closes it */
        CK_SESSION_HANDLE idle[KB_P11_POOL_MAX];
        size_t n_idle, n_open;          /* n_open counts the owned session too */
        bool cannot_open;               /* the token refused one more session */
        bool closed;
};

kb_p11_pool *kb_p11_pool_new(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, CK_SESSION_HANDLE session) {
        kb_p11_pool *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        atomic_init(&p->refs, 1);
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->returned, NULL);
        p->fn = fn;
        p->slot = slot;
        p->owned = session;
        p->idle[0] = session;
        p->n_idle = p->n_open = 1;
        return p;
}

kb_p11_pool *kb_p11_pool_ref(kb_p11_pool *p) {
        if (p)
                atomic_fetch_add(&p->refs, 1);
        return p;
}

void kb_p11_pool_unref(kb_p11_pool *p) {
        if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
                return;
        pthread_cond_destroy(&p->returned);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

/* Closes the extra sessions (the owned one is the caller's to close). */
static void close_extra(kb_p11_pool *p, CK_SESSION_HANDLE h) {
        if (h != p->owned)
                (void) p->fn->C_CloseSession(h);
        p->n_open--;
}

void kb_p11_pool_close(kb_p11_pool *p) {
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->closed = true;
        while (p->n_idle > 0)
                close_extra(p, p->idle[--p->n_idle]);
        pthread_cond_broadcast(&p->returned);
        pthread_mutex_unlock(&p->lock);
        kb_p11_pool_unref(p);
}

/* One more session, opened with the lock dropped (C_OpenSession may be slow
 * on a card). A read-only session is enough to sign. */
static CK_RV open_one(kb_p11_pool *p, CK_SESSION_HANDLE *ret) {
        p->n_open++;
        pthread_mutex_unlock(&p->lock);
        CK_RV rv = p->fn->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, ret);
        pthread_mutex_lock(&p->lock);
        if (rv != CKR_OK) {
                p->n_open--;
                p->cannot_open = true;
        } else if (p->closed) {
                close_extra(p, *ret);
                rv = CKR_USER_NOT_LOGGED_IN;
        }
        return rv;
}

CK_RV kb_p11_pool_take(kb_p11_pool *p, CK_SESSION_HANDLE *ret) {
        CK_RV rv = CKR_OK;
        pthread_mutex_lock(&p->lock);
        for (;;) {
                if (p->closed) {
                        rv = CKR_USER_NOT_LOGGED_IN;
                        break;
                }
                if (p->n_idle > 0) {
                        *ret = p->idle[--p->n_idle];
                        break;
                }
                if (!p->cannot_open && p->n_open < KB_P11_POOL_MAX) {
                        if (open_one(p, ret) == CKR_OK)
                                break;
                        continue;       /* refused or closed meanwhile: look again */
                }
                pthread_cond_wait(&p->returned, &p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return rv;
}

void kb_p11_pool_give(kb_p11_pool *p, CK_SESSION_HANDLE h) {
        pthread_mutex_lock(&p->lock);
        if (p->closed)
                close_extra(p, h);
        else
                p->idle[p->n_idle++] = h;
        pthread_cond_signal(&p->returned);
        pthread_mutex_unlock(&p->lock);
}
