/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kb-p11fault: a PKCS#11 module that wraps a real one (SoftHSM2 by default)
 * and, on cue from a control file, does what no software token does: PIN
 * lock-out, failure at the Nth call, token removal. See README.md here. */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <p11-kit/pkcs11.h>

#include "functions.h"

#define KB_PF_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define KB_PF_MAX_RULES 32
#define KB_PF_MAX_PENDING 64
#define KB_PF_SIG_MAX 96        /* control file identity, "dev:ino:size:mtime" */
#define KB_PF_SERIAL_MAX 33     /* a token serial (16 bytes) as text, or its hex */

enum {
#define X(impl, kind, ops, name, ...) KB_PF_FN_##name,
        KB_PF_FUNCTIONS(X)
#undef X
        KB_PF_N_FUNCTIONS
};

typedef enum { KB_PF_NONE, KB_PF_SLOT, KB_PF_SESSION } kb_pf_kind;

/* The RV of a rule that never answers ("fail = C_CreateObject 1 HANG"). */
#define KB_PF_HANG (CKR_VENDOR_DEFINED | 0x48414e47UL)
/* The RV of a rule that holds the call until the control file changes
 * ("fail = C_Sign 1 HOLD"), then lets it through to the real module. */
#define KB_PF_HOLD (CKR_VENDOR_DEFINED | 0x484f4c44UL)

/* "fail = FUNCTION FIRST[-LAST|+] RV" */
typedef struct {
        int fn;
        unsigned long first, last;      /* 1-based call numbers; last ULONG_MAX for "N+" */
        CK_RV rv;
} kb_pf_rule;

/* What the control file says. */
typedef struct {
        bool removed;
        unsigned long pin_tries;        /* 0: no PIN counter simulation */
        char log_path[PATH_MAX];
        size_t n_rules;
        kb_pf_rule rules[KB_PF_MAX_RULES];
} kb_pf_control;

/* A session the application opened through us, under our handle. A dead
 * one was open when the token was pulled: its real session is closed as soon
 * as no call is inside it (busy); the record stays, answering for the
 * handle, until the application closes it. */
typedef struct {
        CK_SESSION_HANDLE handle, real;
        CK_SLOT_ID slot;
        unsigned busy;
        bool dead, close_pending, forgotten;
} kb_pf_session;

/* The module's one state, guarded by lock. Paths are fixed from
 * C_Initialize to C_Finalize and may be read without the lock then. */
typedef struct {
        pthread_mutex_t lock;
        pthread_cond_t idle;            /* signalled when a slot-event waiter leaves */
        void *dl;
        CK_FUNCTION_LIST *real;
        char module_path[PATH_MAX];
        char control_path[PATH_MAX];
        char state_path[PATH_MAX];
        bool active;                    /* a control file is configured */
        bool initialized;

        bool ctl_loaded;
        char ctl_sig[KB_PF_SIG_MAX];
        kb_pf_control ctl;
        unsigned long calls[KB_PF_N_FUNCTIONS];  /* fallback when the state file fails */
        int log_fd;

        kb_pf_session *sessions;
        size_t n_sessions, n_allocated;
        CK_SESSION_HANDLE last_handle;  /* never reused within the process */

        unsigned long event_gen, event_seen;
        CK_SLOT_ID pending[KB_PF_MAX_PENDING];
        size_t n_pending;
        unsigned waiters;
        bool real_waits;                /* the real module may support C_WaitForSlotEvent */
} kb_pf_module;

extern kb_pf_module kb_pf;

/* One call in flight, from kb_pf_enter() to kb_pf_leave(). */
typedef struct {
        int fn;
        CK_FUNCTION_LIST *real;
        CK_RV rv;
        bool active;            /* control configured: log it, simulate */
        bool simulated;         /* rv is ours; the real module was not asked */
        bool dead;              /* the session died with a removal */
        bool removed;           /* the token was pulled when the call began */
        unsigned long pin_tries;
        CK_SESSION_HANDLE session;      /* our session held busy, 0 for none */
        CK_SESSION_HANDLE real_session; /* the real module's handle for it */
} kb_pf_call;

/* Prologue of every wrapper: refreshes the control file, counts the call,
 * applies fault rules and the removal. Returns true when the wrapper should
 * ask the real module (c->real), false when c->rv already is the answer. */
bool kb_pf_enter(kb_pf_call *c, int fn, kb_pf_kind kind, CK_ULONG handle);
/* Epilogue: releases the session, logs "C_Name CKR_…", returns c->rv. */
CK_RV kb_pf_leave(kb_pf_call *c);
/* Answer the call ourselves; returns false (for kb_pf_enter). */
bool kb_pf_answer(kb_pf_call *c, CK_RV rv);

/* ---- hand-written wrappers (module.c, slots.c, pins.c) ---- */
#define KB_PF_DECLARE_CUSTOM(kind, ops, name, params, args) CK_RV kb_pf_##name params;
#define KB_PF_DECLARE_GENERIC(kind, ops, name, params, args)
#define X(impl, kind, ops, name, ...) KB_PF_DECLARE_##impl(kind, ops, name, __VA_ARGS__)
KB_PF_FUNCTIONS(X)
#undef X

/* ---- control.c (all with kb_pf.lock held) ---- */
/* Re-read the control file when its identity (inode, size, mtime) changed. */
void kb_pf_control_refresh(void);
/* Count a call of fn; true with *ret_rv when a fail rule answers it. */
bool kb_pf_control_fault(int fn, CK_RV *ret_rv);
/* Forget the loaded control (C_Finalize, C_Initialize). */
void kb_pf_control_reset(void);

/* ---- sessions.c (all with kb_pf.lock held) ---- */
/* Resolves our session handle to c->real_session and holds the session busy;
 * false with c->rv when the handle is unknown or the session dead. */
bool kb_pf_session_enter(kb_pf_call *c, CK_SESSION_HANDLE handle);
void kb_pf_session_leave(kb_pf_call *c);
/* Record a real session just opened; *ret is the handle for the application. */
int kb_pf_session_add(CK_SESSION_HANDLE real, CK_SLOT_ID slot, CK_SESSION_HANDLE *ret);
/* The application closed it; real_closed: so did the real module. */
void kb_pf_session_forget(CK_SESSION_HANDLE handle, bool real_closed);
void kb_pf_session_forget_slot(CK_SLOT_ID slot);
/* The token was pulled: every session dies. */
void kb_pf_sessions_kill(void);
void kb_pf_sessions_free(void);

/* ---- state.c: the state file shared by all processes (flock) ---- */
typedef enum { KB_PF_PIN_GET, KB_PF_PIN_FAILED, KB_PF_PIN_RESET } kb_pf_pin_op;
/* The number of this call of fn since the control file `sig` was written. */
int kb_pf_state_count(const char *path, const char *sig, int fn, unsigned long *ret_n);
/* The tries left of the token `serial` after op (max of pin_tries). */
int kb_pf_state_pin(const char *path, const char *serial, unsigned long max,
                    kb_pf_pin_op op, unsigned long *ret_left);

/* ---- names.c ---- */
const char *kb_pf_function_name(int fn);
int kb_pf_function_lookup(const char *name);
/* "CKR_PIN_LOCKED", or "CKR_0x…" in buf. */
const char *kb_pf_rv_name(CK_RV rv, char buf[static 32]);
/* A CKR_ name, 0x-hex or decimal. */
int kb_pf_rv_parse(const char *s, CK_RV *ret);
