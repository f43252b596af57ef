/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PKCS#11 token sources: modules from explicit paths or p11-kit's registry. */
#include <p11-kit/p11-kit.h>
#include <stdio.h>
#include <string.h>

#include "kb-core.h"
#include "pkcs11-internal.h"

#define MAX_SLOTS 64

typedef kb_p11_source p11_source;

static CK_RV slot_list(CK_FUNCTION_LIST *fn, CK_SLOT_ID *slots, CK_ULONG *ret_n) {
        /* The slot count can change between the two calls (a reader plugged in):
         * CKR_BUFFER_TOO_SMALL is retried a few times. */
        for (int attempt = 0; attempt < 4; attempt++) {
                CK_ULONG n = 0;
                CK_RV rv = fn->C_GetSlotList(CK_TRUE, NULL, &n);
                if (rv != CKR_OK)
                        return rv;
                if (n > MAX_SLOTS)
                        n = MAX_SLOTS;
                rv = fn->C_GetSlotList(CK_TRUE, slots, &n);
                if (rv == CKR_BUFFER_TOO_SMALL && n > MAX_SLOTS)
                        return CKR_BUFFER_TOO_SMALL;
                if (rv != CKR_BUFFER_TOO_SMALL) {
                        *ret_n = n;
                        return rv;
                }
        }
        return CKR_BUFFER_TOO_SMALL;
}

static void add_rv_problem(kb_scan *scan, const char *where, CK_RV rv) {
        kb_scan_add_problem(scan, where, kb_pkcs11_rv_error(rv), kb_pkcs11_rv_name(rv));
}

static void scan_slot(p11_source *p, CK_SLOT_ID slot, const kb_scan *prev, kb_scan *scan) {
        kb_token *t = NULL;
        CK_RV rv = CKR_OK;
        char where[512];

        int r = kb_pkcs11_read_token(p->fn, slot, p->base.name, prev, &t, &rv);
        if (r == 1)
                scan->stale = true;
        if (r < 0) {
                snprintf(where, sizeof(where), "%s slot %lu", p->base.name, (unsigned long) slot);
                add_rv_problem(scan, where, rv);
                return;
        }
        if (t && kb_scan_add_token(scan, t) < 0)
                kb_token_free(t);
}

static int p11_scan(kb_source *s, const kb_scan *prev, kb_scan **ret) {
        p11_source *p = (p11_source *) s;
        CK_SLOT_ID slots[MAX_SLOTS];
        CK_ULONG n = 0;
        kb_scan *scan = kb_scan_new();

        if (!scan)
                return -KB_E_INTERNAL;
        if (!p->fn || !p->initialized) {
                *ret = scan;    /* a module that did not start has no tokens */
                return 0;
        }
        CK_RV rv = slot_list(p->fn, slots, &n);
        if (rv != CKR_OK)
                add_rv_problem(scan, p->base.name, rv);
        for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
                scan_slot(p, slots[i], prev, scan);
        *ret = scan;
        return 0;
}

static int p11_wait_event(kb_source *s) {
        p11_source *p = (p11_source *) s;
        CK_SLOT_ID slot;

        if (!p->fn || !p->initialized)
                return 0;
        /* Blocking (no CKF_DONT_BLOCK): this thread only waits. */
        CK_RV rv = p->fn->C_WaitForSlotEvent(0, &slot, NULL);
        if (rv == CKR_OK)
                return 1;
        if (rv == CKR_FUNCTION_NOT_SUPPORTED)
                return 0;       /* SoftHSM2 */
        int e = (int) kb_pkcs11_rv_error(rv);   /* OpenSC without pcscd fails at once */
        return e ? -e : -KB_E_INTERNAL;
}

/* C_Finalize from another thread makes a blocked C_WaitForSlotEvent return
 * (PKCS#11 2.40 §5.4); our sessions end with it. */
static void p11_stop_wait(kb_source *s) {
        p11_source *p = (p11_source *) s;
        if (!p->fn || !p->initialized)
                return;
        kb_p11_logout_all(p);
        p11_kit_module_finalize(p->fn);
        p->initialized = false;
}

static void p11_free(kb_source *s) {
        p11_source *p = (p11_source *) s;
        kb_p11_logout_all(p);
        pthread_rwlock_destroy(&p->base.op_lock);
        if (p->fn) {
                if (p->initialized)
                        p11_kit_module_finalize(p->fn);
                p11_kit_module_release(p->fn);
        }
        free(p);
}

static const kb_source_ops p11_ops = {
        .backend = "pkcs11",
        .scan = p11_scan,
        .free = p11_free,
        .wait_event = p11_wait_event,
        .stop_wait = p11_stop_wait,
        .pin_state = kb_p11_pin_state,
        .logged_in = kb_p11_logged_in,
        .login = kb_p11_login,
        .logout = kb_p11_logout,
        .sessions = kb_p11_sessions,
        .private_key = kb_p11_private_key,
        .shared_key = kb_p11_shared_key,
        .key_error = kb_p11_key_error,
        .set_pin = kb_p11_set_pin,
        .so_pin_state = kb_p11_so_pin_state,
        .init_pin = kb_p11_init_pin,
        .seal_read = kb_p11_seal_read,
        .seal_write = kb_p11_seal_write,
        .key_generate = kb_p11_key_generate,
        .key_supported = kb_p11_key_supported,
        .key_unwrap = kb_p11_key_unwrap,
        .key_load = kb_p11_key_load,
        .key_find = kb_p11_key_find,
        .key_destroy = kb_p11_key_destroy,
        .cert_count = kb_p11_cert_count,
        .cert_write = kb_p11_cert_write,
        .cert_remove = kb_p11_cert_remove,
};

static void describe(p11_source *p) {
        CK_INFO info;
        if (p->fn->C_GetInfo(&info) == CKR_OK)
                p->base.description = kb_pkcs11_string(info.libraryDescription, sizeof(info.libraryDescription));
}

/* Initialize a loaded module; a failure is recorded, not fatal. */
static void start_module(p11_source *p) {
        CK_RV rv = p11_kit_module_initialize(p->fn);
        if (rv != CKR_OK) {
                kb_source_set_failure(&p->base, kb_pkcs11_rv_error(rv), kb_pkcs11_rv_name(rv));
                return;
        }
        p->initialized = true;
        describe(p);
}

static p11_source *source_new(const char *name, const char *path) {
        p11_source *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->base.ops = &p11_ops;
        kb_source_init_lock(&p->base);
        p->base.name = strdup(name ? name : "");
        p->base.path = strdup(path ? path : "");
        if (!p->base.name || !p->base.path) {
                kb_source_free(&p->base);
                return NULL;
        }
        return p;
}

static p11_source *source_from_path(const char *path) {
        const char *slash = strrchr(path, '/');
        p11_source *p = source_new(slash ? slash + 1 : path, path);
        if (!p)
                return NULL;
        p->fn = p11_kit_module_load(path, 0);
        if (!p->fn)
                kb_source_set_failure(&p->base, KB_E_INTERNAL, p11_kit_message());
        else
                start_module(p);
        return p;
}

static p11_source *source_from_registry(CK_FUNCTION_LIST *fn) {
        _cleanup_free_ char *name = p11_kit_module_get_name(fn);
        _cleanup_free_ char *path = p11_kit_module_get_filename(fn);
        p11_source *p = source_new(name, path);
        if (!p) {
                p11_kit_module_release(fn);
                return NULL;
        }
        p->fn = fn;
        start_module(p);
        return p;
}

static bool is_trust_policy(CK_FUNCTION_LIST *fn) {
        _cleanup_free_ char *v = p11_kit_config_option(fn, "trust-policy");
        return v && (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0);
}

static int append(kb_source ***arr, size_t *n, p11_source *p) {
        if (!p)
                return -KB_E_INTERNAL;
        kb_source **a = realloc(*arr, (*n + 1) * sizeof(*a));
        if (!a) {
                kb_source_free(&p->base);
                return -KB_E_INTERNAL;
        }
        a[(*n)++] = &p->base;
        *arr = a;
        return 0;
}

static int open_registry(kb_source ***arr, size_t *n) {
        CK_FUNCTION_LIST **mods = p11_kit_modules_load(NULL, 0);
        if (!mods)
                return 0; /* no registry: no sources, reported as none */
        int r = 0;
        for (size_t i = 0; mods[i]; i++) {
                if (r < 0 || is_trust_policy(mods[i])) {
                        p11_kit_module_release(mods[i]);
                        continue;
                }
                r = append(arr, n, source_from_registry(mods[i]));
        }
        free(mods);
        return r;
}

int kb_pkcs11_open_sources(char *const *paths, size_t n_paths, kb_source ***ret_sources, size_t *ret_n) {
        kb_source **arr = NULL;
        size_t n = 0;
        int r = 0;

        if (n_paths == 0)
                r = open_registry(&arr, &n);
        for (size_t i = 0; r >= 0 && i < n_paths; i++)
                r = append(&arr, &n, source_from_path(paths[i]));
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        kb_source_free(arr[i]);
                free(arr);
                return r;
        }
        *ret_sources = arr;
        *ret_n = n;
        return 0;
}
