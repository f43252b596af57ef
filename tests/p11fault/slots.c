/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slots and sessions under "removed = yes": the token leaves the slot list,
 * the slot loses CKF_TOKEN_PRESENT, sessions die; and C_WaitForSlotEvent,
 * which reports each change (and the real module's own events, if any). */
#include <time.h>

#include "p11fault.h"

#define POLL_NS (50 * 1000 * 1000)

CK_RV kb_pf_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR slots, CK_ULONG_PTR count) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_GetSlotList, KB_PF_NONE, 0)) {
                if (!present || !c.removed)
                        c.rv = c.real->C_GetSlotList(present, slots, count);
                else if (!count)
                        kb_pf_answer(&c, CKR_ARGUMENTS_BAD);
                else {
                        *count = 0;     /* every token is out */
                        kb_pf_answer(&c, CKR_OK);
                }
        }
        return kb_pf_leave(&c);
}

CK_RV kb_pf_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_GetSlotInfo, KB_PF_NONE, 0)) {
                c.rv = c.real->C_GetSlotInfo(slot, info);
                if (c.rv == CKR_OK && c.removed)
                        info->flags &= ~(CK_FLAGS) CKF_TOKEN_PRESENT;
        }
        return kb_pf_leave(&c);
}

CK_RV kb_pf_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                          CK_SESSION_HANDLE_PTR s) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_OpenSession, KB_PF_SLOT, slot)) {
                c.rv = c.real->C_OpenSession(slot, flags, app, notify, s);
                if (c.rv == CKR_OK && c.active) {
                        pthread_mutex_lock(&kb_pf.lock);
                        if (kb_pf_session_add(*s, slot, s) < 0) {
                                (void) c.real->C_CloseSession(*s);
                                c.rv = CKR_HOST_MEMORY;
                        }
                        pthread_mutex_unlock(&kb_pf.lock);
                }
        }
        return kb_pf_leave(&c);
}

CK_RV kb_pf_C_CloseSession(CK_SESSION_HANDLE s) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_CloseSession, KB_PF_SESSION, s)) {
                c.rv = c.real->C_CloseSession(c.real_session);
                if (c.rv == CKR_OK && c.session) {
                        pthread_mutex_lock(&kb_pf.lock);
                        kb_pf_session_forget(s, true);
                        pthread_mutex_unlock(&kb_pf.lock);
                }
        } else if (c.dead) {
                /* Answered like any call on a dead session, and forgotten:
                 * its real session is gone, or goes when its calls leave. */
                pthread_mutex_lock(&kb_pf.lock);
                kb_pf_session_forget(s, false);
                pthread_mutex_unlock(&kb_pf.lock);
        }
        return kb_pf_leave(&c);
}

CK_RV kb_pf_C_CloseAllSessions(CK_SLOT_ID slot) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_CloseAllSessions, KB_PF_NONE, 0)) {
                c.rv = c.real->C_CloseAllSessions(slot);
                if (c.rv == CKR_OK && c.active) {
                        pthread_mutex_lock(&kb_pf.lock);
                        kb_pf_session_forget_slot(slot);
                        pthread_mutex_unlock(&kb_pf.lock);
                }
        }
        return kb_pf_leave(&c);
}

/* ---- C_WaitForSlotEvent ---- */

static void queue(CK_SLOT_ID slot) {
        for (size_t i = 0; i < kb_pf.n_pending; i++)
                if (kb_pf.pending[i] == slot)
                        return;         /* one event per slot until it is reported */
        if (kb_pf.n_pending < KB_PF_MAX_PENDING)
                kb_pf.pending[kb_pf.n_pending++] = slot;
}

/* The slots a removal or insertion concerns: those holding a real token. */
static void queue_token_slots(CK_FUNCTION_LIST *real) {
        CK_SLOT_ID slots[KB_PF_MAX_PENDING];
        CK_ULONG n = KB_PF_MAX_PENDING;

        if (real->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
                return;
        pthread_mutex_lock(&kb_pf.lock);
        for (CK_ULONG i = 0; i < n; i++)
                queue(slots[i]);
        pthread_mutex_unlock(&kb_pf.lock);
}

static bool take_pending(CK_SLOT_ID *ret) {
        pthread_mutex_lock(&kb_pf.lock);
        bool found = kb_pf.n_pending > 0;
        if (found) {
                *ret = kb_pf.pending[0];
                for (size_t i = 1; i < kb_pf.n_pending; i++)
                        kb_pf.pending[i - 1] = kb_pf.pending[i];
                kb_pf.n_pending--;
        }
        pthread_mutex_unlock(&kb_pf.lock);
        return found;
}

/* One look: CKR_OK with *ret, CKR_NO_EVENT, or an error. */
static CK_RV poll_event(CK_FUNCTION_LIST *real, CK_SLOT_ID *ret) {
        pthread_mutex_lock(&kb_pf.lock);
        if (!kb_pf.initialized) {
                pthread_mutex_unlock(&kb_pf.lock);
                return CKR_CRYPTOKI_NOT_INITIALIZED;
        }
        kb_pf_control_refresh();
        bool changed = kb_pf.event_seen != kb_pf.event_gen;
        kb_pf.event_seen = kb_pf.event_gen;
        bool real_waits = kb_pf.real_waits;
        pthread_mutex_unlock(&kb_pf.lock);

        if (changed)
                queue_token_slots(real);
        if (take_pending(ret))
                return CKR_OK;
        if (!real_waits)
                return CKR_NO_EVENT;
        CK_RV rv = real->C_WaitForSlotEvent(CKF_DONT_BLOCK, ret, NULL);
        if (rv == CKR_FUNCTION_NOT_SUPPORTED) {
                pthread_mutex_lock(&kb_pf.lock);
                kb_pf.real_waits = false;
                pthread_mutex_unlock(&kb_pf.lock);
                rv = CKR_NO_EVENT;
        }
        return rv;
}

/* Poll every 50 ms; C_Finalize waits until the waiters have left. */
static CK_RV wait_event(CK_FUNCTION_LIST *real, CK_FLAGS flags, CK_SLOT_ID *ret) {
        const struct timespec pause = { .tv_nsec = POLL_NS };
        CK_RV rv;

        pthread_mutex_lock(&kb_pf.lock);
        kb_pf.waiters++;
        pthread_mutex_unlock(&kb_pf.lock);
        while ((rv = poll_event(real, ret)) == CKR_NO_EVENT && !(flags & CKF_DONT_BLOCK))
                nanosleep(&pause, NULL);
        pthread_mutex_lock(&kb_pf.lock);
        kb_pf.waiters--;
        pthread_cond_broadcast(&kb_pf.idle);
        pthread_mutex_unlock(&kb_pf.lock);
        return rv;
}

CK_RV kb_pf_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_WaitForSlotEvent, KB_PF_NONE, 0)) {
                if (!c.active)
                        c.rv = c.real->C_WaitForSlotEvent(flags, slot, reserved);
                else if (!slot || reserved)
                        c.rv = CKR_ARGUMENTS_BAD;
                else
                        c.rv = wait_event(c.real, flags, slot);
        }
        return kb_pf_leave(&c);
}
