/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "kb-pkcs11.h"

#define RV(x) { x, #x }
static const struct {
        CK_RV rv;
        const char *name;
} names[] = {
        RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
        RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
        RV(CKR_ATTRIBUTE_SENSITIVE), RV(CKR_ATTRIBUTE_TYPE_INVALID),
        RV(CKR_ATTRIBUTE_VALUE_INVALID), RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE),
        RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED),
        RV(CKR_FUNCTION_CANCELED), RV(CKR_FUNCTION_NOT_SUPPORTED),
        RV(CKR_KEY_HANDLE_INVALID), RV(CKR_KEY_SIZE_RANGE), RV(CKR_KEY_TYPE_INCONSISTENT),
        RV(CKR_KEY_FUNCTION_NOT_PERMITTED), RV(CKR_MECHANISM_INVALID),
        RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
        RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED),
        RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE),
        RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED),
        RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
        RV(CKR_SESSION_READ_ONLY), RV(CKR_SESSION_EXISTS),
        RV(CKR_SIGNATURE_INVALID), RV(CKR_SIGNATURE_LEN_RANGE),
        RV(CKR_TEMPLATE_INCOMPLETE), RV(CKR_TEMPLATE_INCONSISTENT),
        RV(CKR_TOKEN_NOT_PRESENT), RV(CKR_TOKEN_NOT_RECOGNIZED),
        RV(CKR_TOKEN_WRITE_PROTECTED), RV(CKR_USER_ALREADY_LOGGED_IN),
        RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED),
        RV(CKR_USER_TYPE_INVALID), RV(CKR_BUFFER_TOO_SMALL),
        RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
        RV(CKR_WRAPPED_KEY_INVALID), RV(CKR_WRAPPED_KEY_LEN_RANGE),
        RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID), RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
        RV(CKR_ENCRYPTED_DATA_INVALID), RV(CKR_SESSION_READ_WRITE_SO_EXISTS),
};
#undef RV

const char *kb_pkcs11_rv_name(CK_RV rv) {
        static _Thread_local char buf[32];

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (names[i].rv == rv)
                        return names[i].name;
        snprintf(buf, sizeof(buf), "CKR_0x%08lx", (unsigned long) rv);
        return buf;
}

kb_error kb_pkcs11_rv_error(CK_RV rv) {
        switch (rv) {
        case CKR_OK:
                return KB_E_OK;
        case CKR_PIN_INCORRECT:
                return KB_E_PIN_INCORRECT;
        case CKR_PIN_LOCKED:
                return KB_E_PIN_LOCKED;
        case CKR_PIN_INVALID:
        case CKR_PIN_LEN_RANGE:
                return KB_E_PIN_POLICY;
        case CKR_FUNCTION_CANCELED:
        case CKR_CANCEL:
                return KB_E_PIN_CANCELLED;
        case CKR_DEVICE_REMOVED:
        case CKR_TOKEN_NOT_PRESENT:
        case CKR_TOKEN_NOT_RECOGNIZED:
        case CKR_SLOT_ID_INVALID:
        case CKR_SESSION_CLOSED:
        case CKR_SESSION_HANDLE_INVALID:
                return KB_E_TOKEN_NOT_PRESENT;
        case CKR_SESSION_COUNT:
        case CKR_OPERATION_ACTIVE:
        case CKR_SESSION_EXISTS:
                return KB_E_TOKEN_BUSY;
        case CKR_DEVICE_MEMORY:
                return KB_E_TOKEN_FULL;
        case CKR_TOKEN_WRITE_PROTECTED:
        case CKR_SESSION_READ_ONLY:
                return KB_E_TOKEN_READ_ONLY;
        case CKR_MECHANISM_INVALID:
        case CKR_MECHANISM_PARAM_INVALID:
        case CKR_KEY_TYPE_INCONSISTENT:
        case CKR_KEY_SIZE_RANGE:
                return KB_E_UNSUPPORTED_ALGORITHM;
        default:
                return KB_E_INTERNAL;
        }
}
