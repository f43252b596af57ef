/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sessions opened through the module (while a control file is configured),
 * so that a pulled token kills them: CKR_DEVICE_REMOVED while it is out,
 * CKR_SESSION_HANDLE_INVALID after it is back, as with a re-inserted card.
 *
 * The application sees our handles, never reused, not the real module's
 * (SoftHSM2 reuses a closed handle at once): a stale handle cannot reach
 * another session. The real session of a dead one is closed as soon as no
 * call is inside it, which logs the real token out like a card losing power.
 * All functions run with kb_pf.lock held. */
#include <errno.h>
#include <stdlib.h>

#include "p11fault.h"

static kb_pf_session *find(CK_SESSION_HANDLE handle) {
        for (size_t i = 0; i < kb_pf.n_sessions; i++)
                if (kb_pf.sessions[i].handle == handle)
                        return &kb_pf.sessions[i];
        return NULL;
}

static void drop(kb_pf_session *s) {
        *s = kb_pf.sessions[--kb_pf.n_sessions];
}

static void close_real(kb_pf_session *s) {
        if (kb_pf.real)
                (void) kb_pf.real->C_CloseSession(s->real);
        s->close_pending = false;
}

bool kb_pf_session_enter(kb_pf_call *c, CK_SESSION_HANDLE handle) {
        kb_pf_session *s = find(handle);

        if (!s || s->forgotten)
                return kb_pf_answer(c, CKR_SESSION_HANDLE_INVALID);
        if (s->dead) {
                c->dead = true;
                return kb_pf_answer(c, kb_pf.ctl.removed ? CKR_DEVICE_REMOVED
                                                         : CKR_SESSION_HANDLE_INVALID);
        }
        s->busy++;
        c->session = handle;
        c->real_session = s->real;
        return true;
}

void kb_pf_session_leave(kb_pf_call *c) {
        kb_pf_session *s = find(c->session);

        c->session = 0;
        if (!s || s->busy == 0 || --s->busy > 0)
                return;
        if (s->close_pending)
                close_real(s);
        if (s->forgotten)
                drop(s);
}

int kb_pf_session_add(CK_SESSION_HANDLE real, CK_SLOT_ID slot, CK_SESSION_HANDLE *ret) {
        if (kb_pf.n_sessions == kb_pf.n_allocated) {
                size_t n = kb_pf.n_allocated ? 2 * kb_pf.n_allocated : 16;
                kb_pf_session *p = realloc(kb_pf.sessions, n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                kb_pf.sessions = p;
                kb_pf.n_allocated = n;
        }
        kb_pf_session *s = &kb_pf.sessions[kb_pf.n_sessions++];
        *s = (kb_pf_session) { .handle = ++kb_pf.last_handle, .real = real, .slot = slot };
        if (kb_pf.ctl.removed) {        /* pulled while it was being opened */
                s->dead = true;
                close_real(s);
        }
        *ret = s->handle;
        return 0;
}

void kb_pf_session_forget(CK_SESSION_HANDLE handle, bool real_closed) {
        kb_pf_session *s = find(handle);

        if (!s)
                return;
        if (real_closed)
                s->close_pending = false;
        if (s->busy == 0)
                drop(s);
        else
                s->forgotten = true;    /* dropped when its last call leaves */
}

void kb_pf_session_forget_slot(CK_SLOT_ID slot) {
        for (size_t i = kb_pf.n_sessions; i-- > 0;)
                if (kb_pf.sessions[i].slot == slot)
                        kb_pf_session_forget(kb_pf.sessions[i].handle, true);
}

void kb_pf_sessions_kill(void) {
        for (size_t i = 0; i < kb_pf.n_sessions; i++) {
                kb_pf_session *s = &kb_pf.sessions[i];
                if (s->dead || s->forgotten)
                        continue;
                s->dead = true;
                if (s->busy == 0)
                        close_real(s);
                else
                        s->close_pending = true;
        }
}

void kb_pf_sessions_free(void) {
        free(kb_pf.sessions);
        kb_pf.sessions = NULL;
        kb_pf.n_sessions = kb_pf.n_allocated = 0;
}
