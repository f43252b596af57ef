/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An encryption key onto a PKCS#11 token, unwrapped by the token itself
 * (double certificates, kb-backend.h kb_key_unwrap). CKM_RSA_AES_KEY_WRAP
 * is done as the two unwraps it is defined as (PKCS#11 2.40, 2.1.21), since
 * few tokens have the combined mechanism: RSA-OAEP yields a session AES key,
 * AES key wrap with padding yields the private key from its PKCS#8. Callers
 * hold the source's op_lock and have logged in.
 */
#include <string.h>

#include "kb-core.h"
#include "pkcs11-internal.h"

/* The RSA part does not unwrap with this key, or the AES part does not
 * unwrap with what the RSA part held. SoftHSM2 reports a failed decryption
 * as CKR_GENERAL_ERROR, and a PKCS#8 it cannot take as CKR_FUNCTION_FAILED. */
static bool not_for_this_key(CK_RV rv) {
        return rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_ENCRYPTED_DATA_INVALID ||
               rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED ||
               rv == CKR_TEMPLATE_INCONSISTENT;
}

/* The token, or this key, cannot unwrap this way. */
static bool cannot_unwrap(CK_RV rv) {
        return rv == CKR_KEY_FUNCTION_NOT_PERMITTED || rv == CKR_MECHANISM_INVALID ||
               rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_FUNCTION_NOT_SUPPORTED ||
               rv == CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT || rv == CKR_UNWRAPPING_KEY_SIZE_RANGE ||
               rv == CKR_KEY_TYPE_INCONSISTENT;
}

static int unwrap_error(CK_RV rv) {
        if (cannot_unwrap(rv))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (not_for_this_key(rv))
                return -KB_E_BAD_REQUEST;
        return kb_p11_rv(rv);
}

static int find_private(kb_p11_source *p, CK_SESSION_HANDLE h, const kb_key_id *id, CK_OBJECT_HANDLE *ret) {
        size_t n = 0;
        int r = kb_p11_find_keys(p, h, CKO_PRIVATE_KEY, id, ret, 1, &n);
        return r < 0 ? r : n == 1 ? 0 : -KB_E_NOT_FOUND;
}

/* The outer layer: a session AES key that only unwraps, never leaves the
 * token and is gone with the session at the latest. */
static int unwrap_aes(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE rsa, const kb_key_unwrap *spec,
                      CK_OBJECT_HANDLE *ret) {
        CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };
        CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE type = CKK_AES;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_KEY_TYPE, &type, sizeof(type) },
                { CKA_TOKEN, &no, sizeof(no) },
                { CKA_PRIVATE, &yes, sizeof(yes) },
                { CKA_SENSITIVE, &yes, sizeof(yes) },
                { CKA_EXTRACTABLE, &no, sizeof(no) },
                { CKA_UNWRAP, &yes, sizeof(yes) },
                { CKA_ENCRYPT, &no, sizeof(no) },
                { CKA_DECRYPT, &no, sizeof(no) },
        };
        CK_RV rv = p->fn->C_UnwrapKey(h, &mech, rsa, (CK_BYTE_PTR) spec->wrapped, spec->rsa_len, tmpl,
                                      KB_ELEMENTSOF(tmpl), ret);
        return rv == CKR_OK ? 0 : unwrap_error(rv);
}

/* The inner layer: the encryption key, on the token for good. */
static int unwrap_private(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE aes, const kb_key_unwrap *spec) {
        CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_KEY_TYPE type = CKK_RSA;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_KEY_TYPE, &type, sizeof(type) },
                { CKA_TOKEN, &yes, sizeof(yes) },
                { CKA_PRIVATE, &yes, sizeof(yes) },
                { CKA_SENSITIVE, &yes, sizeof(yes) },
                { CKA_EXTRACTABLE, &no, sizeof(no) },
                { CKA_DECRYPT, &yes, sizeof(yes) },
                { CKA_UNWRAP, &yes, sizeof(yes) },
                { CKA_SIGN, &no, sizeof(no) },
                { CKA_ID, (void *) spec->id->v, spec->id->len },
                { CKA_LABEL, (void *) spec->label, strlen(spec->label) },
        };
        if (spec->type != KB_KEY_RSA)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        CK_RV rv = p->fn->C_UnwrapKey(h, &mech, aes, (CK_BYTE_PTR) spec->wrapped + spec->rsa_len,
                                      spec->wrapped_len - spec->rsa_len, tmpl, KB_ELEMENTSOF(tmpl), &key);
        return rv == CKR_OK ? 0 : unwrap_error(rv);
}

int kb_p11_key_unwrap(kb_source *s, const kb_token *t, const kb_key_unwrap *spec) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_SESSION_HANDLE h;
        CK_OBJECT_HANDLE rsa, aes = CK_INVALID_HANDLE;

        if (spec->rsa_len == 0 || spec->rsa_len >= spec->wrapped_len)
                return -KB_E_BAD_REQUEST;
        int r = kb_p11_login_session(p, t, &h);
        if (r >= 0)
                r = find_private(p, h, spec->unwrapping, &rsa);
        if (r >= 0)
                r = unwrap_aes(p, h, rsa, spec, &aes);
        if (r >= 0)
                r = unwrap_private(p, h, aes, spec);
        /* A session object: it goes with the session anyway; a failure to
         * destroy it now leaves nothing on the token. */
        if (aes != CK_INVALID_HANDLE)
                (void) p->fn->C_DestroyObject(h, aes);
        return r;
}
