/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kb-authz.h"

#define MAX_ENTRIES 256
#define MAX_ORIGIN 512

typedef struct grant {
        char token[KB_TOKEN_ID_LEN + 1];
        char origin[MAX_ORIGIN];        /* "" for a cool-down entry */
        int64_t last_use;
        int64_t cooldown_until;
} grant;

struct kb_authz {
        pthread_mutex_t lock;
        int idle_s;
        size_t n;
        grant entries[MAX_ENTRIES];
};

kb_authz *kb_authz_new(int idle_s) {
        kb_authz *a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        pthread_mutex_init(&a->lock, NULL);
        a->idle_s = idle_s;
        return a;
}

void kb_authz_free(kb_authz *a) {
        if (!a)
                return;
        pthread_mutex_destroy(&a->lock);
        free(a);
}

static grant *find_locked(kb_authz *a, const char *token, const char *origin) {
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->entries[i].token, token) == 0 && strcmp(a->entries[i].origin, origin) == 0)
                        return &a->entries[i];
        return NULL;
}

static bool live(const kb_authz *a, const grant *g, int64_t now) {
        return g && g->origin[0] && now - g->last_use < a->idle_s;
}

bool kb_authz_check(kb_authz *a, const char *token, const char *origin, int64_t now) {
        pthread_mutex_lock(&a->lock);
        grant *g = origin ? find_locked(a, token, origin) : NULL;
        bool ok = live(a, g, now);
        if (ok)
                g->last_use = now;
        pthread_mutex_unlock(&a->lock);
        return ok;
}

bool kb_authz_peek(kb_authz *a, const char *token, const char *origin, int64_t now) {
        pthread_mutex_lock(&a->lock);
        bool ok = origin && live(a, find_locked(a, token, origin), now);
        pthread_mutex_unlock(&a->lock);
        return ok;
}

static grant *add_locked(kb_authz *a, const char *token, const char *origin) {
        grant *g = find_locked(a, token, origin);
        if (g)
                return g;
        if (a->n == MAX_ENTRIES || strlen(origin) >= MAX_ORIGIN)
                return NULL;
        g = &a->entries[a->n++];
        *g = (grant) { 0 };
        memcpy(g->token, token, strnlen(token, KB_TOKEN_ID_LEN));
        strcpy(g->origin, origin);
        return g;
}

int kb_authz_grant(kb_authz *a, const char *token, const char *origin, int64_t now) {
        pthread_mutex_lock(&a->lock);
        grant *g = origin && origin[0] ? add_locked(a, token, origin) : NULL;
        if (g)
                g->last_use = now;
        pthread_mutex_unlock(&a->lock);
        return g ? 0 : -KB_E_INTERNAL;
}

static void remove_at_locked(kb_authz *a, size_t i) {
        a->entries[i] = a->entries[--a->n];
}

void kb_authz_revoke_token(kb_authz *a, const char *token) {
        pthread_mutex_lock(&a->lock);
        for (size_t i = a->n; i-- > 0;)
                if (strcmp(a->entries[i].token, token) == 0 && a->entries[i].origin[0])
                        remove_at_locked(a, i);
        pthread_mutex_unlock(&a->lock);
}

bool kb_authz_token_in_use(kb_authz *a, const char *token, int64_t now) {
        bool used = false;
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < a->n && !used; i++)
                used = strcmp(a->entries[i].token, token) == 0 && live(a, &a->entries[i], now);
        pthread_mutex_unlock(&a->lock);
        return used;
}

int64_t kb_authz_expire(kb_authz *a, int64_t now) {
        int64_t next = 0;
        pthread_mutex_lock(&a->lock);
        for (size_t i = a->n; i-- > 0;) {
                grant *g = &a->entries[i];
                bool keep = g->origin[0] ? live(a, g, now) : g->cooldown_until > now;
                if (!keep) {
                        remove_at_locked(a, i);
                        continue;
                }
                int64_t at = g->origin[0] ? g->last_use + a->idle_s : g->cooldown_until;
                if (next == 0 || at < next)
                        next = at;
        }
        pthread_mutex_unlock(&a->lock);
        return next;
}

void kb_authz_set_cooldown(kb_authz *a, const char *token, int64_t until) {
        pthread_mutex_lock(&a->lock);
        grant *g = add_locked(a, token, "");
        if (g)
                g->cooldown_until = until;
        pthread_mutex_unlock(&a->lock);
}

int64_t kb_authz_cooldown(kb_authz *a, const char *token) {
        pthread_mutex_lock(&a->lock);
        grant *g = find_locked(a, token, "");
        int64_t until = g ? g->cooldown_until : 0;
        pthread_mutex_unlock(&a->lock);
        return until;
}

kb_error kb_pin_guard(kb_pin_status status, bool confirm_final_try, int64_t now, int64_t cooldown_until) {
        if (status == KB_PIN_LOCKED)
                return KB_E_PIN_LOCKED;
        if (now < cooldown_until)
                return KB_E_RATE_LIMITED;
        if (status == KB_PIN_FINAL_TRY && !confirm_final_try)
                return KB_E_PIN_FINAL_TRY;
        return KB_E_OK;
}
