/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SKF sources: loading a vendor library, device events, freeing. */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "skf-source.h"

/* What a library must export to list tokens; the rest may be missing
 * (the operations that need them then say UNSUPPORTED_ALGORITHM). */
static bool has_required(const skf_fns *f) {
        return f->SKF_EnumDev && f->SKF_ConnectDev && f->SKF_DisConnectDev && f->SKF_GetDevInfo &&
               f->SKF_EnumApplication && f->SKF_OpenApplication && f->SKF_CloseApplication &&
               f->SKF_EnumContainer && f->SKF_OpenContainer && f->SKF_CloseContainer &&
               f->SKF_ExportCertificate && f->SKF_GetPINInfo;
}

static int skf_wait_event(kb_source *s) {
        skf_source *p = (skf_source *) s;
        char name[256];
        SKF_ULONG len = sizeof(name), event = 0;
        if (!p->f.SKF_WaitForDevEvent || !p->f.SKF_CancelWaitForDevEvent)
                return 0;
        SKF_ULONG sar = p->f.SKF_WaitForDevEvent(name, &len, &event);
        if (sar == SAR_OK)
                return 1;
        if (sar == SAR_NOTSUPPORTYETERR)
                return 0;
        return -kb_skf_error(p, sar);
}

static void skf_stop_wait(kb_source *s) {
        skf_source *p = (skf_source *) s;
        if (p->f.SKF_CancelWaitForDevEvent)
                (void) p->f.SKF_CancelWaitForDevEvent();
}

static void skf_free(kb_source *s) {
        skf_source *p = (skf_source *) s;
        pthread_mutex_lock(&p->call_lock);
        for (size_t i = 0; i < p->n_devices; i++)
                kb_skf_logout_device(p, &p->devices[i]);
        pthread_mutex_unlock(&p->call_lock);
        pthread_mutex_destroy(&p->call_lock);
        pthread_rwlock_destroy(&p->base.op_lock);
        if (p->dl)
                dlclose(p->dl);
        free(p);
}

static const kb_source_ops skf_ops = {
        .backend = "skf",
        .scan = kb_skf_scan,
        .free = skf_free,
        .wait_event = skf_wait_event,
        .stop_wait = skf_stop_wait,
        .pin_state = kb_skf_pin_state,
        .logged_in = kb_skf_logged_in,
        .login = kb_skf_login,
        .logout = kb_skf_logout,
        .sessions = kb_skf_sessions,
        .sm2_sign = kb_skf_sm2_sign,
        .sm2_decrypt = kb_skf_sm2_decrypt,
        .set_pin = kb_skf_set_pin,
        .so_pin_state = kb_skf_so_pin_state,
        .init_pin = kb_skf_init_pin,
        .seal_read = kb_skf_seal_read,
        .seal_write = kb_skf_seal_write,
        .certs_in_containers = true,
        .key_generate = kb_skf_key_generate,
        .key_supported = kb_skf_key_supported,
        .key_public = kb_skf_key_public,
        .key_find = kb_skf_key_find,
        .key_destroy = kb_skf_key_destroy,
        .key_unwrap = kb_skf_key_unwrap,
        .cert_count = kb_skf_cert_count,
        .cert_write = kb_skf_cert_write,
};

static void load(skf_source *p) {
        /* Every prototype and blob here has 32-bit ULONG and BOOL: calling a
         * library built otherwise would pass garbage, so it is not loaded. */
        if (p->profile.ulong_bits != 32) {
                kb_source_set_failure(&p->base, KB_E_UNSUPPORTED_ALGORITHM,
                                      "the profile says ULONG is 64 bits; this build calls SKF with 32-bit ULONG");
                return;
        }
        p->dl = dlopen(p->base.path, RTLD_NOW | RTLD_LOCAL);
        if (!p->dl) {
                kb_source_set_failure(&p->base, KB_E_INTERNAL, dlerror());
                return;
        }
#define SKF_LOOKUP(name, params) *(void **) &p->f.name = dlsym(p->dl, #name);
        SKF_FUNCTIONS(SKF_LOOKUP)
#undef SKF_LOOKUP
        if (!has_required(&p->f)) {
                kb_source_set_failure(&p->base, KB_E_INTERNAL, "not an SKF library: SKF_EnumDev and the functions to read "
                                              "certificates are missing");
                dlclose(p->dl);
                p->dl = NULL;
                memset(&p->f, 0, sizeof(p->f));
                return;
        }
        p->base.description = strdup("SKF (GM/T 0016)");
}

/* The applied profile as text, for /v1/info; NULL for GM/T 0016 as written. */
static char *profile_text(const kb_skf_profile *pr) {
        char buf[1024];
        size_t n = (size_t) snprintf(buf, sizeof(buf), "sm2-sign-alg=0x%08" PRIx32 " ulong=%u", pr->sm2_sign_alg,
                                     pr->ulong_bits);
        for (size_t i = 0; i < pr->n_errors && n < sizeof(buf); i++)
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, " error=0x%08" PRIx32 ":%s", pr->errors[i].sar,
                                       kb_error_code(pr->errors[i].error));
        return strdup(buf);
}

static skf_source *source_new(const char *path, char *const *profiles, size_t n_profiles) {
        skf_source *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->base.ops = &skf_ops;
        kb_source_init_lock(&p->base);
        pthread_mutex_init(&p->call_lock, NULL);
        const char *slash = strrchr(path, '/');
        p->base.name = strdup(slash ? slash + 1 : path);
        p->base.path = strdup(path);
        kb_skf_profile_init(&p->profile);
        kb_skf_profile_apply(&p->profile, path, profiles, n_profiles);
        kb_skf_profile def;
        kb_skf_profile_init(&def);
        if (memcmp(&def, &p->profile, sizeof(def)) != 0)
                p->base.profile = profile_text(&p->profile);
        if (!p->base.name || !p->base.path) {
                kb_source_free(&p->base);
                return NULL;
        }
        load(p);
        return p;
}

int kb_skf_open_sources(char *const *paths, size_t n_paths, char *const *profiles, size_t n_profiles,
                        kb_source ***ret_sources, size_t *ret_n) {
        kb_source **arr = calloc(n_paths ? n_paths : 1, sizeof(*arr));
        size_t n = 0;
        if (!arr)
                return -KB_E_INTERNAL;
        for (size_t i = 0; i < n_paths; i++) {
                skf_source *p = source_new(paths[i], profiles, n_profiles);
                if (!p) {
                        while (n > 0)
                                kb_source_free(arr[--n]);
                        free(arr);
                        return -KB_E_INTERNAL;
                }
                arr[n++] = &p->base;
        }
        *ret_sources = arr;
        *ret_n = n;
        return 0;
}
