/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "kb-ck-rv.h"
#include "pkcs11-internal.h"

const char *kb_pkcs11_rv_name(CK_RV rv) {
        static _Thread_local char buf[32];
        const char *name = kb_ck_rv_name(rv);

        if (name)
                return name;
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
        case CKR_KEY_FUNCTION_NOT_PERMITTED:
                return KB_E_UNSUPPORTED_ALGORITHM;
        default:
                return KB_E_INTERNAL;
        }
}
