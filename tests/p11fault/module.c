/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The module itself: loading the real module, the call prologue and
 * epilogue, the generated forwarding wrappers, the function list, and the
 * life cycle (C_GetFunctionList, C_Initialize, C_Finalize, C_GetInfo). */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb-cleanup.h"
#include "p11fault.h"

kb_pf_module kb_pf = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .idle = PTHREAD_COND_INITIALIZER,
        .log_fd = -1,
};

/* ---- prologue and epilogue ---- */

bool kb_pf_answer(kb_pf_call *c, CK_RV rv) {
        c->rv = rv;
        c->simulated = true;
        return false;
}

/* A "HANG" rule: the call never returns, as if the process stopped inside
 * the token, so that a test can kill the caller at exactly this point. The
 * line "C_Name HANG" is logged first to tell the test it is there. The
 * module's lock stays held: every other call of the process waits too. */
static _Noreturn void hang(const kb_pf_call *c) {
        char line[96];
        int n = snprintf(line, sizeof(line), "%s HANG\n", kb_pf_function_name(c->fn));
        if (kb_pf.log_fd >= 0 && n > 0 && (size_t) n < sizeof(line))
                (void) !write(kb_pf.log_fd, line, (size_t) n);
        for (;;)
                pause();
}

/* A "HOLD" rule: the call waits, without the module's lock (other calls go
 * on), until the control file changes, then goes on to the real module. It
 * logs "C_Name HOLD" when it starts waiting, so a test knows a call is inside
 * the token and can look at what else gets through meanwhile. */
static void hold(const kb_pf_call *c) {
        char line[96], sig[KB_PF_SIG_MAX];
        int n = snprintf(line, sizeof(line), "%s HOLD\n", kb_pf_function_name(c->fn));
        if (kb_pf.log_fd >= 0 && n > 0 && (size_t) n < sizeof(line))
                (void) !write(kb_pf.log_fd, line, (size_t) n);
        memcpy(sig, kb_pf.ctl_sig, sizeof(sig));
        while (strcmp(sig, kb_pf.ctl_sig) == 0) {
                pthread_mutex_unlock(&kb_pf.lock);
                (void) usleep(20 * 1000);
                pthread_mutex_lock(&kb_pf.lock);
                kb_pf_control_refresh();
        }
}

static bool enter_locked(kb_pf_call *c, kb_pf_kind kind, CK_ULONG handle) {
        CK_RV rv;

        c->real = kb_pf.real;
        c->real_session = handle;
        if (!kb_pf.initialized && c->fn != KB_PF_FN_C_Initialize &&
            c->fn != KB_PF_FN_C_GetFunctionList)
                return kb_pf_answer(c, CKR_CRYPTOKI_NOT_INITIALIZED);
        if (!kb_pf.active)
                return true;
        kb_pf_control_refresh();
        c->active = true;
        c->removed = kb_pf.ctl.removed;
        c->pin_tries = kb_pf.ctl.pin_tries;
        /* The session first: a fault rule finds it held, and only counts
         * calls on sessions that are alive. */
        if (kind == KB_PF_SESSION && !kb_pf_session_enter(c, handle))
                return false;
        if (kb_pf_control_fault(c->fn, &rv)) {
                if (rv == KB_PF_HANG)
                        hang(c);
                if (rv != KB_PF_HOLD)
                        return kb_pf_answer(c, rv);
                hold(c);
                c->removed = kb_pf.ctl.removed;
                if (c->removed && kind == KB_PF_SESSION)
                        return kb_pf_answer(c, CKR_DEVICE_REMOVED); /* pulled while held */
        }
        if (kind == KB_PF_SLOT && c->removed)
                return kb_pf_answer(c, CKR_TOKEN_NOT_PRESENT);
        return true;
}

bool kb_pf_enter(kb_pf_call *c, int fn, kb_pf_kind kind, CK_ULONG handle) {
        *c = (kb_pf_call) { .fn = fn, .rv = CKR_OK };
        pthread_mutex_lock(&kb_pf.lock);
        bool go = enter_locked(c, kind, handle);
        pthread_mutex_unlock(&kb_pf.lock);
        return go;
}

/* One write per line, O_APPEND: lines of several processes do not mix.
 * Only the function and the CK_RV: never an argument, so never a PIN. */
static void log_call(const kb_pf_call *c) {
        char buf[32], line[128];

        if (kb_pf.log_fd < 0)
                return;
        int n = snprintf(line, sizeof(line), "%s %s%s\n", kb_pf_function_name(c->fn),
                         kb_pf_rv_name(c->rv, buf), c->simulated ? " simulated" : "");
        if (n > 0 && (size_t) n < sizeof(line))
                (void) !write(kb_pf.log_fd, line, (size_t) n);
}

CK_RV kb_pf_leave(kb_pf_call *c) {
        if (c->active || c->session) {
                pthread_mutex_lock(&kb_pf.lock);
                if (c->session)
                        kb_pf_session_leave(c);
                if (c->active)
                        log_call(c);
                pthread_mutex_unlock(&kb_pf.lock);
        }
        return c->rv;
}

/* ---- ending an operation whose call failed on cue ---- */

typedef CK_RV (*final_fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);

static void finish(final_fn final, CK_SESSION_HANDLE s) {
        CK_ULONG n = 0;

        if (final(s, NULL, &n) != CKR_OK || n > (1u << 20))
                return;         /* ended already, or nothing sane to finish into */
        _cleanup_free_ CK_BYTE *out = malloc(n ? n : 1);
        if (out)
                (void) final(s, out, &n);
}

/* A call that fails (other than CKR_BUFFER_TOO_SMALL) ends its operation;
 * one answered by a fault rule never reached the real module, whose
 * operation would otherwise stay active (CKR_OPERATION_ACTIVE on the next
 * C_SignInit). Finish it there and throw the result away. */
static void end_operations(const kb_pf_call *c, unsigned ops) {
        CK_SESSION_HANDLE s = c->real_session;

        if (!c->active || !c->simulated || c->dead || !c->real || c->rv == CKR_OK ||
            c->rv == CKR_BUFFER_TOO_SMALL)
                return;
        if (ops & KB_PF_OP_ENCRYPT)
                finish(c->real->C_EncryptFinal, s);
        if (ops & KB_PF_OP_DECRYPT)
                finish(c->real->C_DecryptFinal, s);
        if (ops & KB_PF_OP_DIGEST)
                finish(c->real->C_DigestFinal, s);
        if (ops & KB_PF_OP_SIGN)
                finish(c->real->C_SignFinal, s);
        if (ops & KB_PF_OP_VERIFY) {
                CK_BYTE junk[1] = { 0 };
                (void) c->real->C_VerifyFinal(s, junk, sizeof(junk));
        }
}

/* ---- the generated wrappers ---- */

#define KB_PF_FIRST(...) KB_PF_FIRST_(__VA_ARGS__, 0)
#define KB_PF_FIRST_(a, ...) (a)
#define KB_PF_HANDLE_NONE(...) 0
#define KB_PF_HANDLE_SLOT(...) KB_PF_FIRST(__VA_ARGS__)
#define KB_PF_HANDLE_SESSION(...) KB_PF_FIRST(__VA_ARGS__)

/* SESSION rows name their session parameter s: ours becomes the real one. */
#define KB_PF_TRANSLATE_NONE
#define KB_PF_TRANSLATE_SLOT
#define KB_PF_TRANSLATE_SESSION s = c.real_session

#define KB_PF_DEFINE_GENERIC(kind, ops, name, params, args)                     \
        static CK_RV kb_pf_##name params {                                      \
                kb_pf_call c;                                                   \
                if (kb_pf_enter(&c, KB_PF_FN_##name, KB_PF_##kind,              \
                                KB_PF_HANDLE_##kind args)) {                    \
                        KB_PF_TRANSLATE_##kind;                                 \
                        c.rv = c.real->name args;                               \
                } else                                                          \
                        end_operations(&c, ops);                                \
                return kb_pf_leave(&c);                                         \
        }
#define KB_PF_DEFINE_CUSTOM(kind, ops, name, params, args)
#define X(impl, kind, ops, name, ...) KB_PF_DEFINE_##impl(kind, ops, name, __VA_ARGS__)
KB_PF_FUNCTIONS(X)
#undef X

static CK_FUNCTION_LIST function_list = {
        .version = { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
#define X(impl, kind, ops, name, ...) .name = kb_pf_##name,
        KB_PF_FUNCTIONS(X)
#undef X
};

_Static_assert(sizeof(CK_FUNCTION_LIST) ==
               offsetof(CK_FUNCTION_LIST, C_Initialize) + KB_PF_N_FUNCTIONS * sizeof(CK_C_Initialize),
               "functions.h lists every function of CK_FUNCTION_LIST");

/* ---- life cycle ---- */

static int set_path(char dst[static PATH_MAX], const char *src) {
        return (size_t) snprintf(dst, PATH_MAX, "%s", src) < PATH_MAX ? 0 : -1;
}

static CK_RV load_real(const char *path) {
        if (kb_pf.dl && strcmp(path, kb_pf.module_path) == 0)
                return CKR_OK;
        if (kb_pf.dl)
                dlclose(kb_pf.dl);
        kb_pf.real = NULL;
        kb_pf.dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!kb_pf.dl) {
                fprintf(stderr, "kb-p11fault: cannot load %s: %s\n", path, dlerror());
                return CKR_GENERAL_ERROR;
        }
        CK_C_GetFunctionList get = (CK_C_GetFunctionList) dlsym(kb_pf.dl, "C_GetFunctionList");
        CK_RV rv = get ? get(&kb_pf.real) : CKR_GENERAL_ERROR;
        if (rv != CKR_OK || !kb_pf.real) {
                fprintf(stderr, "kb-p11fault: %s has no usable C_GetFunctionList\n", path);
                dlclose(kb_pf.dl);
                kb_pf.dl = NULL;
                kb_pf.real = NULL;
                return CKR_GENERAL_ERROR;
        }
        set_path(kb_pf.module_path, path);
        return CKR_OK;
}

/* Read the environment and load the real module; before C_Initialize only.
 * The control file loaded by C_GetFunctionList stays loaded if its path is
 * the same (C_Finalize forgets it). */
static CK_RV configure_locked(void) {
        const char *module = getenv("KB_P11FAULT_MODULE");
        const char *control = getenv("KB_P11FAULT_CONTROL");
        const char *state = getenv("KB_P11FAULT_STATE");

        if (kb_pf.initialized)
                return CKR_OK;
        if (!control)
                control = "";
        if (strcmp(control, kb_pf.control_path) != 0)
                kb_pf_control_reset();
        kb_pf.active = *control != '\0';
        if (set_path(kb_pf.control_path, control) < 0)
                return CKR_GENERAL_ERROR;
        int r = state && *state ? set_path(kb_pf.state_path, state)
                                : snprintf(kb_pf.state_path, PATH_MAX, "%s.state", control);
        if (r < 0 || r >= PATH_MAX)
                return CKR_GENERAL_ERROR;
        return load_real(module && *module ? module : KB_PF_DEFAULT_MODULE);
}

static CK_RV configure(void) {
        pthread_mutex_lock(&kb_pf.lock);
        CK_RV rv = configure_locked();
        pthread_mutex_unlock(&kb_pf.lock);
        return rv;
}

CK_RV kb_pf_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
        kb_pf_call c;

        if (!list)
                return CKR_ARGUMENTS_BAD;
        CK_RV rv = configure();
        if (rv != CKR_OK)
                return rv;
        if (kb_pf_enter(&c, KB_PF_FN_C_GetFunctionList, KB_PF_NONE, 0))
                *list = &function_list;
        return kb_pf_leave(&c);
}

__attribute__((visibility("default")))
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
        return kb_pf_C_GetFunctionList(list);
}

CK_RV kb_pf_C_Initialize(CK_VOID_PTR init_args) {
        kb_pf_call c;

        pthread_mutex_lock(&kb_pf.lock);
        CK_RV rv = kb_pf.initialized ? CKR_CRYPTOKI_ALREADY_INITIALIZED : configure_locked();
        pthread_mutex_unlock(&kb_pf.lock);
        if (rv != CKR_OK)
                return rv;
        if (kb_pf_enter(&c, KB_PF_FN_C_Initialize, KB_PF_NONE, 0)) {
                c.rv = c.real->C_Initialize(init_args);
                pthread_mutex_lock(&kb_pf.lock);
                kb_pf.initialized = c.rv == CKR_OK;
                kb_pf.event_seen = kb_pf.event_gen;     /* no event for the state at start */
                kb_pf.real_waits = true;
                pthread_mutex_unlock(&kb_pf.lock);
        }
        return kb_pf_leave(&c);
}

static void teardown(void) {
        pthread_mutex_lock(&kb_pf.lock);
        kb_pf_sessions_free();
        kb_pf_control_reset();
        kb_pf.n_pending = 0;
        kb_pf.event_gen = kb_pf.event_seen = 0;
        pthread_mutex_unlock(&kb_pf.lock);
}

CK_RV kb_pf_C_Finalize(CK_VOID_PTR reserved) {
        kb_pf_call c;
        bool finalized = false;

        if (kb_pf_enter(&c, KB_PF_FN_C_Finalize, KB_PF_NONE, 0)) {
                pthread_mutex_lock(&kb_pf.lock);
                kb_pf.initialized = false;      /* wakes C_WaitForSlotEvent waiters */
                while (kb_pf.waiters > 0)
                        pthread_cond_wait(&kb_pf.idle, &kb_pf.lock);
                pthread_mutex_unlock(&kb_pf.lock);
                c.rv = c.real->C_Finalize(reserved);
                finalized = c.rv == CKR_OK;
                if (!finalized) {
                        pthread_mutex_lock(&kb_pf.lock);
                        kb_pf.initialized = true;
                        pthread_mutex_unlock(&kb_pf.lock);
                }
        }
        CK_RV rv = kb_pf_leave(&c);
        if (finalized)
                teardown();
        return rv;
}

/* Unloaded without C_Finalize (an application bug, or exit): free what is
 * ours. The real module is not finalized behind the application's back. */
__attribute__((destructor))
static void unload(void) {
        kb_pf_sessions_free();
        kb_pf_control_reset();
}

static void set_field(CK_UTF8CHAR *field, size_t size, const char *text) {
        size_t n = strlen(text);

        memset(field, ' ', size);
        memcpy(field, text, n < size ? n : size);
}

CK_RV kb_pf_C_GetInfo(CK_INFO_PTR info) {
        kb_pf_call c;

        if (kb_pf_enter(&c, KB_PF_FN_C_GetInfo, KB_PF_NONE, 0)) {
                c.rv = c.real->C_GetInfo(info);
                if (c.rv == CKR_OK)
                        set_field(info->libraryDescription, sizeof(info->libraryDescription),
                                  "keybridge fault injection");
        }
        return kb_pf_leave(&c);
}
