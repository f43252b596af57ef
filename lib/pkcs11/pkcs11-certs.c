/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Certificate objects on PKCS#11 tokens for renewal, found by their exact
 * DER (CKA_VALUE): count, write with read-back, remove. Certificates are
 * public objects: these work in a read-write session with or without a
 * login, so that recovery can finish an install before anyone logs in.
 * Callers hold the source's op_lock.
 */
#include <string.h>

#include "kb-core.h"
#include "pkcs11-internal.h"

#define MAX_CERTS 64

static int find_der(kb_p11_source *p, CK_SESSION_HANDLE h, const unsigned char *der, size_t len,
                    CK_OBJECT_HANDLE objs[static MAX_CERTS], size_t *ret_n) {
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_VALUE, (void *) der, len },
        };
        CK_ULONG n = 0;
        CK_RV rv = kb_pkcs11_find(p->fn, h, tmpl, KB_ELEMENTSOF(tmpl), objs, MAX_CERTS, &n);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        *ret_n = n;
        return 0;
}

int kb_p11_cert_count(kb_source *s, const kb_token *t, const unsigned char *der, size_t len, size_t *ret_n) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_OBJECT_HANDLE objs[MAX_CERTS];
        CK_SESSION_HANDLE h;
        int r = kb_p11_open_session(p, t, false, &h);
        if (r < 0)
                return r;
        r = find_der(p, h, der, len, objs, ret_n);
        (void) p->fn->C_CloseSession(h);
        return r;
}

/* The object's CKA_VALUE must be exactly der. */
static int verify(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, const unsigned char *der,
                  size_t len) {
        CK_ATTRIBUTE a = { CKA_VALUE, NULL, 0 };
        CK_RV rv = p->fn->C_GetAttributeValue(h, o, &a, 1);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        if (a.ulValueLen != len)
                return -KB_E_INTERNAL;
        _cleanup_free_ unsigned char *back = malloc(len ? len : 1);
        if (!back)
                return -KB_E_INTERNAL;
        a.pValue = back;
        rv = p->fn->C_GetAttributeValue(h, o, &a, 1);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        return a.ulValueLen == len && memcmp(back, der, len) == 0 ? 0 : -KB_E_INTERNAL;
}

/* The DER of a name or serial number out of the certificate, for the
 * attributes PKCS#11 wants beside CKA_VALUE. */
typedef struct cert_fields {
        unsigned char *subject, *issuer, *serial;
        int subject_len, issuer_len, serial_len;
} cert_fields;

static void cert_fields_clear(cert_fields *f) {
        OPENSSL_free(f->subject);
        OPENSSL_free(f->issuer);
        OPENSSL_free(f->serial);
}

static int cert_fields_of(const unsigned char *der, size_t len, cert_fields *ret) {
        const unsigned char *in = der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) len);
        if (!x)
                return -KB_E_BAD_REQUEST;
        ret->subject_len = i2d_X509_NAME(X509_get_subject_name(x), &ret->subject);
        ret->issuer_len = i2d_X509_NAME(X509_get_issuer_name(x), &ret->issuer);
        ret->serial_len = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &ret->serial);
        return ret->subject_len > 0 && ret->issuer_len > 0 && ret->serial_len > 0 ? 0 : -KB_E_INTERNAL;
}

static int create(kb_p11_source *p, CK_SESSION_HANDLE h, const unsigned char *der, size_t len,
                  const kb_key_id *id, const char *label, CK_OBJECT_HANDLE *ret) {
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_CERTIFICATE_TYPE type = CKC_X_509;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        cert_fields f = { 0 };
        int r = cert_fields_of(der, len, &f);
        if (r < 0) {
                cert_fields_clear(&f);
                return r;
        }
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_CERTIFICATE_TYPE, &type, sizeof(type) },
                { CKA_TOKEN, &yes, sizeof(yes) },
                { CKA_PRIVATE, &no, sizeof(no) },
                { CKA_VALUE, (void *) der, len },
                { CKA_SUBJECT, f.subject, (CK_ULONG) f.subject_len },
                { CKA_ISSUER, f.issuer, (CK_ULONG) f.issuer_len },
                { CKA_SERIAL_NUMBER, f.serial, (CK_ULONG) f.serial_len },
                { CKA_LABEL, (void *) (label ? label : ""), label ? strlen(label) : 0 },
                { CKA_ID, id ? (void *) id->v : NULL, id ? id->len : 0 },
        };
        CK_RV rv = p->fn->C_CreateObject(h, tmpl, KB_ELEMENTSOF(tmpl) - (id ? 0 : 1), ret);
        cert_fields_clear(&f);
        return rv == CKR_OK ? 0 : kb_p11_rv(rv);
}

int kb_p11_cert_write(kb_source *s, const kb_token *t, const unsigned char *der, size_t len,
                      const kb_key_id *id, const char *label) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_SESSION_HANDLE h;
        CK_OBJECT_HANDLE o;
        int r = kb_p11_open_session(p, t, true, &h);
        if (r < 0)
                return r;
        r = create(p, h, der, len, id, label, &o);
        if (r >= 0) {
                r = verify(p, h, o, der, len);
                if (r < 0)
                        (void) p->fn->C_DestroyObject(h, o);
        }
        (void) p->fn->C_CloseSession(h);
        return r;
}

int kb_p11_cert_remove(kb_source *s, const kb_token *t, const unsigned char *der, size_t len) {
        kb_p11_source *p = (kb_p11_source *) s;
        CK_OBJECT_HANDLE objs[MAX_CERTS];
        CK_SESSION_HANDLE h;
        size_t n = 0;
        int r = kb_p11_open_session(p, t, true, &h);
        if (r < 0)
                return r;
        r = find_der(p, h, der, len, objs, &n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                CK_RV rv = p->fn->C_DestroyObject(h, objs[i]);
                r = rv == CKR_OK || rv == CKR_OBJECT_HANDLE_INVALID ? 0 : kb_p11_rv(rv);
        }
        (void) p->fn->C_CloseSession(h);
        return r;
}
