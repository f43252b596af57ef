/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* "pin_tries = N": the user-PIN retry counter real tokens have and SoftHSM2
 * lacks. A wrong user PIN costs a try, a right one refills the counter, none
 * left locks the token (C_Login answers CKR_PIN_LOCKED and the real module
 * never sees the PIN) until the SO sets a new PIN with C_InitPIN.
 * C_GetTokenInfo shows COUNT_LOW / FINAL_TRY / LOCKED. Counters live in the
 * state file by token serial, so they outlive the process, like a card's. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "p11fault.h"

static void serial_of(const CK_TOKEN_INFO *ti, char out[static KB_PF_SERIAL_MAX]) {
        size_t n = sizeof(ti->serialNumber);

        while (n > 0 && (ti->serialNumber[n - 1] == ' ' || ti->serialNumber[n - 1] == '\0'))
                n--;
        for (size_t i = 0; i < n; i++)
                out[i] = isgraph(ti->serialNumber[i]) ? (char) ti->serialNumber[i] : '_';
        out[n] = '\0';
        if (n == 0)
                strcpy(out, "-");
}

/* The serial of the token behind a session, and the session's state. */
static CK_RV session_token(CK_FUNCTION_LIST *real, CK_SESSION_HANDLE s,
                           char serial[static KB_PF_SERIAL_MAX], CK_STATE *ret_state) {
        CK_SESSION_INFO si;
        CK_TOKEN_INFO ti;

        CK_RV rv = real->C_GetSessionInfo(s, &si);
        if (rv == CKR_OK)
                rv = real->C_GetTokenInfo(si.slotID, &ti);
        if (rv != CKR_OK)
                return rv;
        serial_of(&ti, serial);
        if (ret_state)
                *ret_state = si.state;
        return CKR_OK;
}

static int tries(const kb_pf_call *c, const char *serial, kb_pf_pin_op op, unsigned long *ret_left) {
        int r = kb_pf_state_pin(kb_pf.state_path, serial, c->pin_tries, op, ret_left);

        if (r < 0)
                fprintf(stderr, "kb-p11fault: state file %s: %s\n", kb_pf.state_path, strerror(-r));
        return r;
}

/* Before a user-PIN check: answers CKR_PIN_LOCKED when no try is left. */
static bool locked(kb_pf_call *c, const char *serial) {
        unsigned long left;

        if (tries(c, serial, KB_PF_PIN_GET, &left) < 0 || left > 0)
                return false;
        kb_pf_answer(c, CKR_PIN_LOCKED);
        return true;
}

/* After the real module checked a user PIN. */
static void count(const kb_pf_call *c, const char *serial) {
        unsigned long left;

        if (c->rv == CKR_PIN_INCORRECT)
                (void) tries(c, serial, KB_PF_PIN_FAILED, &left);
        else if (c->rv == CKR_OK)
                (void) tries(c, serial, KB_PF_PIN_RESET, &left);
}

CK_RV kb_pf_C_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len) {
        char serial[KB_PF_SERIAL_MAX];
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_Login, KB_PF_SESSION, s)) {
                /* A context-specific login checks the user PIN too. */
                bool counted = c.pin_tries && (user == CKU_USER || user == CKU_CONTEXT_SPECIFIC) &&
                               session_token(c.real, c.real_session, serial, NULL) == CKR_OK;
                if (!counted || !locked(&c, serial)) {
                        c.rv = c.real->C_Login(c.real_session, user, pin, pin_len);
                        if (counted)
                                count(&c, serial);
                }
        }
        return kb_pf_leave(&c);
}

/* The user changing the PIN proves the old one: it counts like a login. */
CK_RV kb_pf_C_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,
                     CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len) {
        char serial[KB_PF_SERIAL_MAX];
        CK_STATE state = CKS_RO_PUBLIC_SESSION;
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_SetPIN, KB_PF_SESSION, s)) {
                bool counted = c.pin_tries &&
                               session_token(c.real, c.real_session, serial, &state) == CKR_OK &&
                               state != CKS_RW_SO_FUNCTIONS;
                if (!counted || !locked(&c, serial)) {
                        c.rv = c.real->C_SetPIN(c.real_session, old_pin, old_len, new_pin, new_len);
                        if (counted)
                                count(&c, serial);
                }
        }
        return kb_pf_leave(&c);
}

/* The SO sets a new user PIN: the token is unlocked and the counter full. */
CK_RV kb_pf_C_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len) {
        char serial[KB_PF_SERIAL_MAX];
        unsigned long left;
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_InitPIN, KB_PF_SESSION, s)) {
                c.rv = c.real->C_InitPIN(c.real_session, pin, pin_len);
                if (c.rv == CKR_OK && c.pin_tries &&
                    session_token(c.real, c.real_session, serial, NULL) == CKR_OK)
                        (void) tries(&c, serial, KB_PF_PIN_RESET, &left);
        }
        return kb_pf_leave(&c);
}

/* The flags a token with this counter shows (OpenSC's pkcs15 framework
 * does the same, plus COUNT_LOW alongside FINAL_TRY once a try was lost). */
static void pin_flags(const kb_pf_call *c, CK_TOKEN_INFO *info) {
        char serial[KB_PF_SERIAL_MAX];
        unsigned long left;

        serial_of(info, serial);
        if (tries(c, serial, KB_PF_PIN_GET, &left) < 0)
                return;
        info->flags &= ~(CK_FLAGS) (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
                                    CKF_USER_PIN_LOCKED);
        if (left == 0)
                info->flags |= CKF_USER_PIN_LOCKED;
        if (left > 0 && left < c->pin_tries)
                info->flags |= CKF_USER_PIN_COUNT_LOW;
        if (left == 1)
                info->flags |= CKF_USER_PIN_FINAL_TRY;
}

CK_RV kb_pf_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_GetTokenInfo, KB_PF_SLOT, slot)) {
                c.rv = c.real->C_GetTokenInfo(slot, info);
                if (c.rv == CKR_OK && c.pin_tries && (info->flags & CKF_TOKEN_INITIALIZED))
                        pin_flags(&c, info);
        }
        return kb_pf_leave(&c);
}
