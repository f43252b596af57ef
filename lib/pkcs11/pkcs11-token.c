/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading one token through PKCS#11: info, PIN state, certificates. */
#include <string.h>

#include "kb-core.h"
#include "pkcs11-internal.h"

#define MAX_OBJECTS 256
#define MAX_ATTR_LEN (64 * 1024)

char *kb_pkcs11_string(const CK_UTF8CHAR *field, size_t size) {
        while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
                size--;
        return strndup((const char *) field, size);
}

kb_pin_status kb_pkcs11_pin_status(CK_FLAGS f, int *ret_retries) {
        *ret_retries = -1;
        if (f & CKF_USER_PIN_LOCKED) {
                *ret_retries = 0;
                return KB_PIN_LOCKED;
        }
        if (f & CKF_USER_PIN_FINAL_TRY) {
                *ret_retries = 1;
                return KB_PIN_FINAL_TRY;
        }
        if (f & CKF_USER_PIN_TO_BE_CHANGED)
                return KB_PIN_MUST_CHANGE;
        if (f & CKF_USER_PIN_COUNT_LOW)
                return KB_PIN_COUNT_LOW;
        return KB_PIN_OK;
}

int kb_pkcs11_token_from_info(const CK_TOKEN_INFO *ti, CK_SLOT_ID slot, const char *module, kb_token **ret) {
        kb_token *t = kb_token_new();
        if (!t)
                return -KB_E_INTERNAL;
        t->backend = "pkcs11";
        t->module = strdup(module);
        t->label = kb_pkcs11_string(ti->label, sizeof(ti->label));
        t->manufacturer = kb_pkcs11_string(ti->manufacturerID, sizeof(ti->manufacturerID));
        t->model = kb_pkcs11_string(ti->model, sizeof(ti->model));
        t->serial = kb_pkcs11_string(ti->serialNumber, sizeof(ti->serialNumber));
        t->pin_status = kb_pkcs11_pin_status(ti->flags, &t->retries_left);
        t->pin_min_len = ti->ulMinPinLen;
        t->pin_max_len = ti->ulMaxPinLen;
        t->initialized = (ti->flags & CKF_TOKEN_INITIALIZED) && (ti->flags & CKF_USER_PIN_INITIALIZED);
        if (ti->ulFreePublicMemory != CK_UNAVAILABLE_INFORMATION && ti->ulFreePublicMemory <= INT64_MAX)
                t->free_space = (int64_t) ti->ulFreePublicMemory;
        t->slot_id = slot;
        t->flags = ti->flags;
        if (!t->module || !t->label || !t->manufacturer || !t->model || !t->serial) {
                kb_token_free(t);
                return -KB_E_INTERNAL;
        }
        kb_token_compute_id(t);
        *ret = t;
        return 0;
}

/* Two-call attribute read, bounded. *ret is NUL-terminated for convenience. */
static CK_RV get_attr(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE type, unsigned char **ret, size_t *ret_len) {
        CK_ATTRIBUTE a = { type, NULL, 0 };
        CK_RV rv = fn->C_GetAttributeValue(s, o, &a, 1);
        if (rv != CKR_OK)
                return rv;
        if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > MAX_ATTR_LEN)
                return CKR_ATTRIBUTE_VALUE_INVALID;
        _cleanup_free_ unsigned char *buf = malloc(a.ulValueLen + 1);
        if (!buf)
                return CKR_HOST_MEMORY;
        a.pValue = buf;
        rv = fn->C_GetAttributeValue(s, o, &a, 1);
        if (rv != CKR_OK)
                return rv;
        buf[a.ulValueLen] = 0;
        *ret_len = a.ulValueLen;
        *ret = TAKE_PTR(buf);
        return CKR_OK;
}

CK_RV kb_pkcs11_find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                     CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *ret_count) {
        CK_ULONG count = 0;
        CK_RV rv = fn->C_FindObjectsInit(s, tmpl, n);
        if (rv != CKR_OK)
                return rv;
        rv = fn->C_FindObjects(s, objs, max, &count);
        /* C_FindObjectsFinal must run whatever C_FindObjects said. */
        CK_RV rv2 = fn->C_FindObjectsFinal(s);
        if (rv == CKR_OK)
                rv = rv2;
        *ret_count = count < max ? count : max;
        return rv;
}

static CK_RV find_objects(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                          CK_OBJECT_HANDLE *objs, CK_ULONG *ret_count) {
        return kb_pkcs11_find(fn, s, tmpl, n, objs, MAX_OBJECTS, ret_count);
}

/* Does an object of this class carry this CKA_ID? */
static bool has_key_with_id(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                            const unsigned char *id, size_t id_len) {
        CK_OBJECT_HANDLE objs[MAX_OBJECTS];
        CK_ULONG count = 0;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_ID, (void *) id, id_len },
        };
        return find_objects(fn, s, tmpl, 2, objs, &count) == CKR_OK && count > 0;
}

/* A private key is often a private object, invisible before login; then its
 * public half with the same CKA_ID is the evidence the token holds the pair. */
static bool has_private_key(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, const unsigned char *id, size_t id_len) {
        if (!id || id_len == 0)
                return false;
        return has_key_with_id(fn, s, CKO_PRIVATE_KEY, id, id_len) ||
               has_key_with_id(fn, s, CKO_PUBLIC_KEY, id, id_len);
}

static CK_RV read_cert(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, kb_token *t) {
        _cleanup_free_ unsigned char *der = NULL, *id = NULL, *label = NULL;
        size_t der_len = 0, id_len = 0, label_len = 0;
        kb_cert *c = NULL;

        CK_RV rv = get_attr(fn, s, o, CKA_VALUE, &der, &der_len);
        if (rv != CKR_OK)
                return rv;
        if (get_attr(fn, s, o, CKA_ID, &id, &id_len) != CKR_OK)
                id_len = 0;
        if (get_attr(fn, s, o, CKA_LABEL, &label, &label_len) != CKR_OK)
                label = NULL;
        /* A certificate the parser rejects is skipped, not fatal for the token. */
        if (kb_cert_from_der(der, der_len, (char *) label, id, id_len, &c) < 0)
                return CKR_OK;
        c->has_private_key = has_private_key(fn, s, id, id_len);
        if (kb_token_add_cert(t, c) < 0) {
                kb_cert_free(c);
                return CKR_HOST_MEMORY;
        }
        return CKR_OK;
}

static CK_RV read_certs(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, kb_token *t) {
        CK_SESSION_HANDLE s;
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_CERTIFICATE_TYPE type = CKC_X_509;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_CERTIFICATE_TYPE, &type, sizeof(type) },
        };
        CK_OBJECT_HANDLE objs[MAX_OBJECTS];
        CK_ULONG count = 0;

        CK_RV rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
        /* While we are logged in as SO (a PIN unblock) no read-only session
         * opens; a read-write one reads the public objects just the same. */
        if (rv == CKR_SESSION_READ_WRITE_SO_EXISTS)
                rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
        if (rv != CKR_OK)
                return rv;
        rv = find_objects(fn, s, tmpl, 2, objs, &count);
        for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++)
                rv = read_cert(fn, s, objs[i], t);
        fn->C_CloseSession(s);
        return rv;
}

/* Certificates of an unchanged token, copied from the previous scan. */
static int copy_certs(const kb_token *from, kb_token *to) {
        for (size_t i = 0; i < from->n_certs; i++) {
                const kb_cert *o = from->certs[i];
                kb_cert *c = NULL;
                int r = kb_cert_from_der(o->der, o->der_len, o->label, o->key_id, o->key_id_len, &c);
                if (r < 0)
                        return r;
                c->has_private_key = o->has_private_key;
                r = kb_token_add_cert(to, c);
                if (r < 0) {
                        kb_cert_free(c);
                        return r;
                }
        }
        return 0;
}

static const kb_token *unchanged_in(const kb_scan *prev, const kb_token *t) {
        const kb_token *p = kb_scan_find_token(prev, t->id);
        if (p && p->slot_id == t->slot_id && p->flags == t->flags && strcmp(p->label, t->label) == 0)
                return p;
        return NULL;
}

/* The token answered but reading its certificates failed, for a reason
 * other than its going: SoftHSM2, for one, re-reads its object files when
 * another session writes and a read may fail meanwhile. The previous scan's
 * certificates stand in (a new *t), rather than the token vanishing from
 * the list for a poll; the cache reads it afresh at once. -1 when there is
 * no previous scan of it. */
static int stand_in(const kb_scan *prev, const CK_TOKEN_INFO *ti, CK_SLOT_ID slot, const char *module,
                    kb_token **t) {
        const kb_token *p = prev ? kb_scan_find_token(prev, (*t)->id) : NULL;
        kb_token *fresh = NULL;
        if (!p || p->slot_id != slot)
                return -1;
        if (kb_pkcs11_token_from_info(ti, slot, module, &fresh) < 0 || copy_certs(p, fresh) < 0) {
                kb_token_free(fresh);
                return -1;
        }
        kb_token_free(*t);
        *t = fresh;
        return 0;
}

int kb_pkcs11_read_token(CK_FUNCTION_LIST *fn, CK_SLOT_ID slot, const char *module,
                         const kb_scan *prev, kb_token **ret, CK_RV *ret_rv) {
        CK_TOKEN_INFO ti;
        kb_token *t = NULL;

        *ret = NULL;
        CK_RV rv = fn->C_GetTokenInfo(slot, &ti);
        if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED)
                return 0;
        if (rv == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED))
                return 0;
        if (rv == CKR_OK) {
                int r = kb_pkcs11_token_from_info(&ti, slot, module, &t);
                if (r < 0)
                        return r;
                const kb_token *p = unchanged_in(prev, t);
                rv = p ? (copy_certs(p, t) < 0 ? CKR_HOST_MEMORY : CKR_OK) : read_certs(fn, slot, t);
                if (rv != CKR_OK && kb_pkcs11_rv_error(rv) != KB_E_TOKEN_NOT_PRESENT &&
                    stand_in(prev, &ti, slot, module, &t) == 0) {
                        *ret = t;
                        return 1;
                }
        }
        if (rv != CKR_OK) {
                kb_token_free(t);
                *ret_rv = rv;
                return -(int) kb_pkcs11_rv_error(rv);
        }
        *ret = t;
        return 0;
}
