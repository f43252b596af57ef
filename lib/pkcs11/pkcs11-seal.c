/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seals on PKCS#11 tokens: one CKO_DATA object per certificate.
 *
 *   CKA_APPLICATION  "keybridge-seal"
 *   CKA_LABEL        "keybridge-seal:<the certificate's SHA-256, 64 hex>"
 *   CKA_VALUE        the envelope of kb-seal.h (generation, media type, bytes)
 *   CKA_TOKEN true, CKA_PRIVATE false (seals are shown without a PIN) unless
 *   the administrator asks for hidden seals.
 *
 * Why the label: PKCS#11 2.40 gives CKO_DATA no CKA_ID (tokens may refuse it
 * with CKR_ATTRIBUTE_TYPE_INVALID), and CKA_OBJECT_ID names the data's type,
 * not an owner. The certificate's full fingerprint ties the seal to exactly
 * that certificate (a renewed certificate with the same CKA_ID does not
 * inherit it) and is what other tools see in a listing.
 *
 * Writing replaces atomically: create the new object with the next
 * generation, read it back and compare; that is the commit point. Until
 * then any failure destroys the new object and leaves the old seal as it
 * was. After it, the old objects are destroyed best-effort: one left behind
 * (a failed C_DestroyObject, a crash, a pulled token) is older, reads take
 * the highest generation, and the next write removes it.
 * Callers hold the source's op_lock.
 */
#include <stdio.h>
#include <string.h>

#include "kb-core.h"
#include "pkcs11-internal.h"
#include "kb-formats.h"

#define APPLICATION "keybridge-seal"
#define MAX_SEALS 16    /* objects per certificate looked at in one call */
#define MAX_ENVELOPE (64UL * 1024 * 1024 + 64)

typedef char seal_label[sizeof(APPLICATION) + 1 + 64];


static void label_of(const kb_cert *c, seal_label ret) {
        snprintf(ret, sizeof(seal_label), "%s:%s", APPLICATION, c->fingerprint_sha256);
}

/* The certificate's seal objects; public ones only unless hidden_too. */
static int find_seals(kb_p11_source *p, CK_SESSION_HANDLE h, const kb_cert *c, bool hidden_too,
                      CK_OBJECT_HANDLE objs[static MAX_SEALS], size_t *ret_n) {
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_BBOOL no = CK_FALSE;
        seal_label label;
        label_of(c, label);
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_APPLICATION, (void *) APPLICATION, strlen(APPLICATION) },
                { CKA_LABEL, label, strlen(label) },
                { CKA_PRIVATE, &no, sizeof(no) },
        };
        CK_ULONG n = 0;
        CK_RV rv = p->fn->C_FindObjectsInit(h, tmpl, KB_ELEMENTSOF(tmpl) - (hidden_too ? 1 : 0));
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        rv = p->fn->C_FindObjects(h, objs, MAX_SEALS, &n);
        (void) p->fn->C_FindObjectsFinal(h);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        *ret_n = n > MAX_SEALS ? MAX_SEALS : n;
        return 0;
}

/* CKA_VALUE of obj, bounded; the size query is repeated if it grew. */
static int read_value(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                      unsigned char **ret, size_t *ret_len) {
        CK_ATTRIBUTE a = { CKA_VALUE, NULL, 0 };
        CK_RV rv = p->fn->C_GetAttributeValue(h, obj, &a, 1);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > MAX_ENVELOPE)
                return -KB_E_INTERNAL;
        _cleanup_free_ unsigned char *buf = malloc(a.ulValueLen ? a.ulValueLen : 1);
        if (!buf)
                return -KB_E_INTERNAL;
        a.pValue = buf;
        rv = p->fn->C_GetAttributeValue(h, obj, &a, 1);
        if (rv != CKR_OK)
                return kb_p11_rv(rv);
        *ret_len = a.ulValueLen;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* A seal object's seal; *ret = NULL for a damaged one (not our envelope,
 * bytes not of their type), which is passed over. A token that fails to
 * answer is an error: a write must not guess the generations. */
static int read_seal(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, kb_seal **ret) {
        _cleanup_free_ unsigned char *buf = NULL;
        size_t len = 0;
        int r = read_value(p, h, obj, &buf, &len);
        if (r < 0)
                return r;
        *ret = kb_seal_from_stored(buf, len);
        return 0;
}

/* The newest intact seal among objs (NULL if none). */
static int newest(kb_p11_source *p, CK_SESSION_HANDLE h, const CK_OBJECT_HANDLE *objs, size_t n,
                  kb_seal **ret) {
        kb_seal *best = NULL;
        for (size_t i = 0; i < n; i++) {
                kb_seal *s = NULL;
                int r = read_seal(p, h, objs[i], &s);
                if (r < 0) {
                        kb_seal_free(best);
                        return r;
                }
                if (!s)
                        continue;
                if (kb_seal_newer(s, best)) {
                        kb_seal_free(best);
                        best = s;
                } else
                        kb_seal_free(s);
        }
        *ret = best;
        return 0;
}

int kb_p11_seal_read(kb_source *src, const kb_token *t, const kb_cert *c, bool hidden_too, kb_seal **ret) {
        kb_p11_source *p = (kb_p11_source *) src;
        CK_OBJECT_HANDLE objs[MAX_SEALS];
        CK_SESSION_HANDLE h;
        size_t n = 0;
        kb_seal *s = NULL;
        int r = kb_p11_open_session(p, t, false, &h);
        if (r < 0)
                return r;
        r = find_seals(p, h, c, hidden_too, objs, &n);
        if (r >= 0)
                r = newest(p, h, objs, n, &s);
        (void) p->fn->C_CloseSession(h);
        if (r < 0)
                return r;
        if (!s)
                return -KB_E_NOT_FOUND;
        *ret = s;
        return 0;
}

/* The highest generation among objs, damaged objects counting as 0. */
static int top_generation(kb_p11_source *p, CK_SESSION_HANDLE h, const CK_OBJECT_HANDLE *objs, size_t n,
                          uint64_t *ret) {
        uint64_t top = 0;
        for (size_t i = 0; i < n; i++) {
                kb_seal *s = NULL;
                int r = read_seal(p, h, objs[i], &s);
                if (r < 0)
                        return r;
                if (s && s->generation > top)
                        top = s->generation;
                kb_seal_free(s);
        }
        if (top == UINT64_MAX)
                return -KB_E_INTERNAL;
        *ret = top;
        return 0;
}

static int create_seal(kb_p11_source *p, CK_SESSION_HANDLE h, const kb_cert *c, const kb_seal *s,
                       const unsigned char *env, size_t env_len, CK_OBJECT_HANDLE *ret) {
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_BBOOL yes = CK_TRUE, priv = s->hidden ? CK_TRUE : CK_FALSE;
        seal_label label;
        label_of(c, label);
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_TOKEN, &yes, sizeof(yes) },
                { CKA_PRIVATE, &priv, sizeof(priv) },
                { CKA_APPLICATION, (void *) APPLICATION, strlen(APPLICATION) },
                { CKA_LABEL, label, strlen(label) },
                { CKA_VALUE, (void *) env, env_len },
        };
        CK_RV rv = p->fn->C_CreateObject(h, tmpl, KB_ELEMENTSOF(tmpl), ret);
        return rv == CKR_OK ? 0 : kb_p11_rv(rv);
}

/* The object as the token holds it now must be exactly what we wrote. */
static int verify(kb_p11_source *p, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                  const unsigned char *env, size_t env_len) {
        _cleanup_free_ unsigned char *back = NULL;
        size_t len = 0;
        int r = read_value(p, h, obj, &back, &len);
        if (r < 0)
                return r;
        return len == env_len && memcmp(back, env, len) == 0 ? 0 : -KB_E_INTERNAL;
}

/* Create, read back; on any failure the new object goes again. */
static int commit(kb_p11_source *p, CK_SESSION_HANDLE h, const kb_cert *c, const kb_seal *s,
                  CK_OBJECT_HANDLE *ret) {
        _cleanup_free_ unsigned char *env = NULL;
        size_t env_len = 0;
        CK_OBJECT_HANDLE obj;
        int r = kb_seal_envelope(s, &env, &env_len);
        if (r >= 0)
                r = create_seal(p, h, c, s, env, env_len, &obj);
        if (r < 0)
                return r;
        r = verify(p, h, obj, env, env_len);
        if (r < 0) {
                (void) p->fn->C_DestroyObject(h, obj);
                return r;
        }
        *ret = obj;
        return 0;
}

int kb_p11_seal_write(kb_source *src, const kb_token *t, const kb_cert *c, const kb_seal *seal) {
        kb_p11_source *p = (kb_p11_source *) src;
        CK_OBJECT_HANDLE old[MAX_SEALS], obj;
        CK_SESSION_HANDLE h;
        size_t n = 0;
        kb_seal s = *seal;
        int r = kb_p11_open_session(p, t, true, &h);
        if (r < 0)
                return r;
        r = find_seals(p, h, c, true, old, &n);
        if (r >= 0)
                r = top_generation(p, h, old, n, &s.generation);
        if (r >= 0) {
                s.generation++;
                r = commit(p, h, c, &s, &obj);
        }
        /* Committed: what is left of the old seal is cleaned up best-effort. */
        for (size_t i = 0; r >= 0 && i < n; i++)
                (void) p->fn->C_DestroyObject(h, old[i]);
        (void) p->fn->C_CloseSession(h);
        return r;
}
