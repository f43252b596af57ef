/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <time.h>

#include "daemon.h"
#include "events.h"
#include "log.h"
#include "ws.h"

/* The token as GET /v1/tokens/{id} renders it, "authorized" left false (the
 * WebSocket sets it per connection). */
static json_t *render(kb_daemon *d, const kb_source *source, const kb_token *t, int64_t now) {
        json_t *j = kb_token_to_json(t, source->name, now, d->service.warning_days, false);
        if (j)
                kb_pin_render(&d->service, j);
        return j;
}

static void notify(kb_daemon *d, kb_ws_topic topic, json_t *params) {
        pthread_mutex_lock(&d->ws_lock);        /* d->ws goes away under it */
        kb_ws_notify(d->ws, topic, params);
        pthread_mutex_unlock(&d->ws_lock);
}

/* Removed: nobody stays authorized on it, and our session on it ends now if
 * no operation holds the token (one that does fails with TOKEN_NOT_PRESENT
 * and ends it then). */
static void removed(kb_daemon *d, kb_source *source, const char *id) {
        kb_log_fields f = { .token = id, .module = source->path };
        kb_log(LOG_INFO, &f, "token %s removed from %s", id, source->name);
        if (d->service.authz)
                kb_authz_revoke_token(d->service.authz, id);
        if (source->ops->logout && pthread_rwlock_trywrlock(&source->op_lock) == 0) {
                source->ops->logout(source, id);
                pthread_rwlock_unlock(&source->op_lock);
        }
        pthread_kill(d->main_thread, SIGUSR1);  /* authorizations changed */
        notify(d, KB_WS_TOKEN_REMOVED, json_pack("{s:s}", "id", id));
}

static void inserted_or_changed(kb_daemon *d, kb_source *source, const kb_token *old, const kb_token *t,
                                int64_t now) {
        json_t *now_json = render(d, source, t, now);
        json_t *old_json = old ? render(d, source, old, now) : NULL;
        bool changed = !old || !json_equal(old_json, now_json);
        json_decref(old_json);
        if (!changed || !now_json) {
                json_decref(now_json);
                return;
        }
        if (!old) {
                kb_log_fields f = { .token = t->id, .module = source->path };
                kb_log(LOG_INFO, &f, "token %s (%s) inserted in %s", t->id, t->label ? t->label : "", source->name);
        }
        notify(d, old ? KB_WS_TOKEN_CHANGED : KB_WS_TOKEN_INSERTED, json_pack("{s:o}", "token", now_json));
}

void kb_events_scan_hook(void *userdata, kb_source *source, const kb_scan *prev, const kb_scan *next) {
        kb_daemon *d = userdata;
        int64_t now = time(NULL);
        if (!prev)
                return; /* the first scan is the state, not a change */
        for (size_t i = 0; i < prev->n_tokens; i++)
                if (!kb_scan_find_token(next, prev->tokens[i]->id))
                        removed(d, source, prev->tokens[i]->id);
        for (size_t i = 0; i < next->n_tokens; i++)
                inserted_or_changed(d, source, kb_scan_find_token(prev, next->tokens[i]->id), next->tokens[i], now);
}
