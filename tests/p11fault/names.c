/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names of the functions (from functions.h) and of every CK_RV in pkcs11.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-cleanup.h"
#include "p11fault.h"

static const char *const function_names[KB_PF_N_FUNCTIONS] = {
#define X(impl, kind, ops, name, ...) [KB_PF_FN_##name] = #name,
        KB_PF_FUNCTIONS(X)
#undef X
};

#define RV(x) { x, #x }
static const struct {
        CK_RV rv;
        const char *name;
} rv_names[] = {
        RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
        RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
        RV(CKR_NO_EVENT), RV(CKR_NEED_TO_CREATE_THREADS), RV(CKR_CANT_LOCK),
        RV(CKR_ATTRIBUTE_READ_ONLY), RV(CKR_ATTRIBUTE_SENSITIVE),
        RV(CKR_ATTRIBUTE_TYPE_INVALID), RV(CKR_ATTRIBUTE_VALUE_INVALID),
        RV(CKR_ACTION_PROHIBITED), RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE),
        RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED),
        RV(CKR_ENCRYPTED_DATA_INVALID), RV(CKR_ENCRYPTED_DATA_LEN_RANGE),
        RV(CKR_FUNCTION_CANCELED), RV(CKR_FUNCTION_NOT_PARALLEL),
        RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID),
        RV(CKR_KEY_SIZE_RANGE), RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_NOT_NEEDED),
        RV(CKR_KEY_CHANGED), RV(CKR_KEY_NEEDED), RV(CKR_KEY_INDIGESTIBLE),
        RV(CKR_KEY_FUNCTION_NOT_PERMITTED), RV(CKR_KEY_NOT_WRAPPABLE),
        RV(CKR_KEY_UNEXTRACTABLE), RV(CKR_MECHANISM_INVALID),
        RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
        RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED),
        RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE),
        RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED),
        RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
        RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED), RV(CKR_SESSION_READ_ONLY),
        RV(CKR_SESSION_EXISTS), RV(CKR_SESSION_READ_ONLY_EXISTS),
        RV(CKR_SESSION_READ_WRITE_SO_EXISTS), RV(CKR_SIGNATURE_INVALID),
        RV(CKR_SIGNATURE_LEN_RANGE), RV(CKR_TEMPLATE_INCOMPLETE),
        RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT),
        RV(CKR_TOKEN_NOT_RECOGNIZED), RV(CKR_TOKEN_WRITE_PROTECTED),
        RV(CKR_UNWRAPPING_KEY_SIZE_RANGE), RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
        RV(CKR_USER_ALREADY_LOGGED_IN), RV(CKR_USER_NOT_LOGGED_IN),
        RV(CKR_USER_PIN_NOT_INITIALIZED), RV(CKR_USER_TYPE_INVALID),
        RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN), RV(CKR_USER_TOO_MANY_TYPES),
        RV(CKR_WRAPPED_KEY_INVALID), RV(CKR_WRAPPED_KEY_LEN_RANGE),
        RV(CKR_WRAPPING_KEY_HANDLE_INVALID), RV(CKR_WRAPPING_KEY_SIZE_RANGE),
        RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT), RV(CKR_RANDOM_SEED_NOT_SUPPORTED),
        RV(CKR_RANDOM_NO_RNG), RV(CKR_DOMAIN_PARAMS_INVALID),
        RV(CKR_CURVE_NOT_SUPPORTED), RV(CKR_BUFFER_TOO_SMALL),
        RV(CKR_SAVED_STATE_INVALID), RV(CKR_INFORMATION_SENSITIVE),
        RV(CKR_STATE_UNSAVEABLE), RV(CKR_CRYPTOKI_NOT_INITIALIZED),
        RV(CKR_CRYPTOKI_ALREADY_INITIALIZED), RV(CKR_MUTEX_BAD),
        RV(CKR_MUTEX_NOT_LOCKED), RV(CKR_NEW_PIN_MODE), RV(CKR_NEXT_OTP),
        RV(CKR_EXCEEDED_MAX_ITERATIONS), RV(CKR_FIPS_SELF_TEST_FAILED),
        RV(CKR_LIBRARY_LOAD_FAILED), RV(CKR_PIN_TOO_WEAK), RV(CKR_PUBLIC_KEY_INVALID),
        RV(CKR_FUNCTION_REJECTED),
};
#undef RV

const char *kb_pf_function_name(int fn) {
        if (fn < 0 || fn >= KB_PF_N_FUNCTIONS)
                return "C_?";
        return function_names[fn];
}

int kb_pf_function_lookup(const char *name) {
        for (int fn = 0; fn < KB_PF_N_FUNCTIONS; fn++)
                if (strcmp(function_names[fn], name) == 0)
                        return fn;
        return -ENOENT;
}

const char *kb_pf_rv_name(CK_RV rv, char buf[static 32]) {
        for (size_t i = 0; i < KB_ELEMENTSOF(rv_names); i++)
                if (rv_names[i].rv == rv)
                        return rv_names[i].name;
        snprintf(buf, 32, "CKR_0x%08lx", (unsigned long) rv);
        return buf;
}

int kb_pf_rv_parse(const char *s, CK_RV *ret) {
        for (size_t i = 0; i < KB_ELEMENTSOF(rv_names); i++)
                if (strcmp(rv_names[i].name, s) == 0) {
                        *ret = rv_names[i].rv;
                        return 0;
                }
        if (*s < '0' || *s > '9')
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 0);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}
