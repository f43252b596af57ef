/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PKCS#11 glue shared inside lib/: the one place CK_RV becomes kb_error. */
#pragma once

#include <p11-kit/pkcs11.h>

#include "kb-error.h"

/* The project error for a PKCS#11 return value (CKR_OK → KB_E_OK). */
kb_error kb_pkcs11_rv_error(CK_RV rv);
/* "CKR_PIN_INCORRECT", or "CKR_0x…" for values without a name (static or
 * thread-local storage; for logs and /v1/info details). */
const char *kb_pkcs11_rv_name(CK_RV rv);

#include "kb-backend.h"

/* Read one slot's token (info, PIN state, certificates). prev, when it holds
 * the same token unchanged, lends its certificates so the token is not asked
 * again. Returns 0 with *ret = NULL for an empty or uninitialized slot; on a
 * PKCS#11 failure returns -KB_E_* and sets *ret_rv. */
int kb_pkcs11_read_token(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, const char *module,
                         const kb_scan *prev, kb_token **ret, CK_RV *ret_rv);

/* Copy a PKCS#11 blank-padded fixed-size field into a trimmed C string. */
char *kb_pkcs11_string(const CK_UTF8CHAR *field, size_t size);
