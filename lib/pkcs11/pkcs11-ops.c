/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private-key operations on PKCS#11 tokens: PIN state, login, logout, and the
 * token key as an EVP_PKEY. Callers hold the source's op_lock for writing,
 * except for kb_p11_shared_key (read lock: it only reads). The keys sign on
 * the login's session pool, so several may sign at once under the read lock.
 */
#include <string.h>

#include "kb-core.h"
#include "p11-pkey.h"
#include "pkcs11-internal.h"

static kb_p11_session *find_id(kb_p11_source *p, const char *token_id) {
        for (size_t i = 0; i < p->n_logins; i++)
                if (strcmp(p->logins[i].token_id, token_id) == 0)
                        return &p->logins[i];
        return NULL;
}

static kb_p11_session *find_login(kb_p11_source *p, const kb_token *t) {
        return find_id(p, t->id);
}

static void forget_keys(kb_p11_session *l) {
        for (size_t i = 0; i < l->n_keys; i++)
                EVP_PKEY_free(l->keys[i].key);
        l->n_keys = 0;
}

static void drop_login(kb_p11_source *p, kb_p11_session *l, bool logout) {
        forget_keys(l);
        kb_p11_pool_close(l->pool);
        if (logout && l->logged_in)
                (void) p->fn->C_Logout(l->session);
        (void) p->fn->C_CloseSession(l->session);
        *l = p->logins[--p->n_logins];
}

void kb_p11_logout_all(kb_p11_source *p) {
        while (p->n_logins > 0)
                drop_login(p, &p->logins[p->n_logins - 1], true);
}

/* The token in t's slot now, checked to be t (a slot can change tokens). */
int kb_p11_token_info(kb_p11_source *p, const kb_token *t, CK_TOKEN_INFO *ret) {
        kb_token *now = NULL;
        if (!p->fn || !p->initialized)
                return -KB_E_TOKEN_NOT_PRESENT;
        CK_RV rv = p->fn->C_GetTokenInfo(t->slot_id, ret);
        if (rv != CKR_OK)
                return -(int) kb_pkcs11_rv_error(rv);
        int r = kb_pkcs11_token_from_info(ret, t->slot_id, t->module, &now);
        if (r < 0)
                return r;
        bool same = strcmp(now->id, t->id) == 0;
        kb_token_free(now);
        return same ? 0 : -KB_E_TOKEN_NOT_PRESENT;
}

int kb_p11_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries) {
        CK_TOKEN_INFO ti;
        int r = kb_p11_token_info((kb_p11_source *) s, t, &ti);
        if (r < 0)
                return r;
        *ret_status = kb_pkcs11_pin_status(ti.flags, ret_retries);
        return 0;
}

bool kb_p11_logged_in(kb_source *s, const kb_token *t) {
        kb_p11_session *l = find_login((kb_p11_source *) s, t);
        return l && l->logged_in;
}

static int open_login(kb_p11_source *p, const kb_token *t, kb_p11_session **ret) {
        kb_p11_session *l = find_login(p, t);
        if (l) {
                *ret = l;
                return 0;
        }
        if (p->n_logins == KB_P11_MAX_LOGINS)
                return -KB_E_TOKEN_BUSY;
        CK_SESSION_HANDLE h;
        CK_RV rv = p->fn->C_OpenSession(t->slot_id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
        if (rv == CKR_TOKEN_WRITE_PROTECTED)
                rv = p->fn->C_OpenSession(t->slot_id, CKF_SERIAL_SESSION, NULL, NULL, &h);
        if (rv != CKR_OK)
                return -(int) kb_pkcs11_rv_error(rv);
        kb_p11_pool *pool = kb_p11_pool_new(p->fn, t->slot_id, h);
        if (!pool) {
                (void) p->fn->C_CloseSession(h);
                return -KB_E_INTERNAL;
        }
        l = &p->logins[p->n_logins++];
        *l = (kb_p11_session) { .slot = t->slot_id, .session = h, .pool = pool };
        memcpy(l->token_id, t->id, sizeof(l->token_id));
        *ret = l;
        return 0;
}

int kb_p11_login(kb_source *s, const kb_token *t, const kb_secret *pin) {
        kb_p11_source *p = (kb_p11_source *) s;
        kb_p11_session *l = NULL;
        CK_TOKEN_INFO ti;

        int r = kb_p11_token_info(p, t, &ti);
        if (r >= 0)
                r = open_login(p, t, &l);
        if (r < 0 || !l)
                return r < 0 ? r : -KB_E_INTERNAL;
        /* Log out first: C_Login on a logged-in token does not check the PIN. */
        forget_keys(l); /* key handles may not outlive a logout */
        if (l->logged_in)
                (void) p->fn->C_Logout(l->session);
        l->logged_in = false;
        CK_RV rv = p->fn->C_Login(l->session, CKU_USER, pin->data, pin->len);
        if (rv == CKR_OK) {
                l->logged_in = true;
                return 0;
        }
        kb_error e = kb_pkcs11_rv_error(rv);
        if (e == KB_E_TOKEN_NOT_PRESENT)
                drop_login(p, l, false);
        /* OpenSC's CAC driver answers a wrong PIN with CKR_GENERAL_ERROR; other
         * failures stay what they are. */
        return -(int) (rv == CKR_GENERAL_ERROR ? KB_E_PIN_INCORRECT : e);
}

void kb_p11_logout(kb_source *s, const char *token_id) {
        kb_p11_source *p = (kb_p11_source *) s;
        kb_p11_session *l = find_id(p, token_id);
        if (l)
                drop_login(p, l, true);
}

size_t kb_p11_sessions(kb_source *s, char (*ret_ids)[KB_TOKEN_ID_LEN + 1], size_t max) {
        kb_p11_source *p = (kb_p11_source *) s;
        size_t n = 0;
        for (; n < p->n_logins && n < max; n++)
                memcpy(ret_ids[n], p->logins[n].token_id, KB_TOKEN_ID_LEN + 1);
        return n;
}

static int find_private_key(kb_p11_source *p, CK_SESSION_HANDLE h, const kb_cert *c, CK_OBJECT_HANDLE *ret) {
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_ID, c->key_id, c->key_id_len },
        };
        CK_ULONG n = 0;
        if (!c->key_id || c->key_id_len == 0)
                return -KB_E_NOT_FOUND;
        CK_RV rv = p->fn->C_FindObjectsInit(h, tmpl, 2);
        if (rv != CKR_OK)
                return -(int) kb_pkcs11_rv_error(rv);
        rv = p->fn->C_FindObjects(h, ret, 1, &n);
        (void) p->fn->C_FindObjectsFinal(h);
        if (rv != CKR_OK)
                return -(int) kb_pkcs11_rv_error(rv);
        return n == 1 ? 0 : -KB_E_NOT_FOUND;
}

static EVP_PKEY *cached_key(kb_p11_session *l, const kb_cert *c) {
        for (size_t i = 0; i < l->n_keys; i++)
                if (strcmp(l->keys[i].cert_id, c->id) == 0 && EVP_PKEY_up_ref(l->keys[i].key))
                        return l->keys[i].key;
        return NULL;
}

static void cache_key(kb_p11_session *l, const kb_cert *c, EVP_PKEY *key) {
        if (l->n_keys == KB_P11_KEY_CACHE || !EVP_PKEY_up_ref(key))
                return;
        memcpy(l->keys[l->n_keys].cert_id, c->id, sizeof(l->keys[l->n_keys].cert_id));
        l->keys[l->n_keys++].key = key;
}

int kb_p11_private_key(kb_source *s, const kb_token *t, const kb_cert *c, EVP_PKEY **ret) {
        kb_p11_source *p = (kb_p11_source *) s;
        kb_p11_session *l = find_login(p, t);
        CK_OBJECT_HANDLE key;
        const unsigned char *der = c->der;

        if (!l || !l->logged_in)
                return -KB_E_INTERNAL;
        if ((*ret = cached_key(l, c)))
                return 0;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &der, (long) c->der_len);
        if (!x)
                return -KB_E_INTERNAL;
        int r = find_private_key(p, l->session, c, &key);
        if (r == -KB_E_TOKEN_NOT_PRESENT)
                drop_login(p, l, false);
        if (r < 0)
                return r;
        r = kb_p11_pkey_new(p->fn, l->session, l->pool, key, X509_get0_pubkey(x), ret);
        if (r >= 0)
                cache_key(l, c, *ret);
        return r;
}

int kb_p11_shared_key(kb_source *s, const kb_token *t, const kb_cert *c, EVP_PKEY **ret) {
        kb_p11_session *l = find_login((kb_p11_source *) s, t);
        if (!l || !l->logged_in || !(*ret = cached_key(l, c)))
                return -KB_E_NOT_FOUND;
        return 0;
}

int kb_p11_rv(CK_RV rv) {
        kb_error e = kb_pkcs11_rv_error(rv);
        return -(int) (e == KB_E_OK ? KB_E_INTERNAL : e);
}

int kb_p11_open_session(kb_p11_source *p, const kb_token *t, bool rw, CK_SESSION_HANDLE *ret) {
        CK_TOKEN_INFO ti;
        int r = kb_p11_token_info(p, t, &ti);
        if (r < 0)
                return r;
        CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
        CK_RV rv = p->fn->C_OpenSession(t->slot_id, flags, NULL, NULL, ret);
        return rv == CKR_OK ? 0 : kb_p11_rv(rv);
}

int kb_p11_login_session(kb_p11_source *p, const kb_token *t, CK_SESSION_HANDLE *ret) {
        kb_p11_session *l = find_login(p, t);
        if (!l || !l->logged_in)
                return -KB_E_INTERNAL;
        *ret = l->session;
        return 0;
}

void kb_p11_forget_keys(kb_p11_source *p, const kb_token *t) {
        kb_p11_session *l = find_login(p, t);
        if (l)
                forget_keys(l);
}

int kb_p11_key_error(kb_source *s, EVP_PKEY *key) {
        CK_RV rv = kb_p11_pkey_last_rv(key);
        kb_error e = rv == CKR_OK ? KB_E_INTERNAL : kb_pkcs11_rv_error(rv);
        return -(int) (e == KB_E_OK ? KB_E_INTERNAL : e);
}
