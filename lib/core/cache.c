/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One thread per source rescans it; the latest kb_scan is swapped in under a
 * mutex held only for the pointer swap, so readers never wait for a token.
 * A second thread per source that can wait for slot events (OpenSC's
 * C_WaitForSlotEvent) kicks a rescan on each; sources that cannot are polled
 * with back-off.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kb-cache.h"
#include "kb-error.h"

typedef struct entry {
        kb_cache *cache;
        kb_source *source;
        kb_scan *scan;          /* guarded by cache->lock */
        pthread_t thread;
        bool started;
        bool kicked;            /* guarded by cache->lock */
        bool reread;            /* next scan reads every token afresh; guarded by cache->lock */
        /* Kick sequence numbers (guarded by cache->lock): the one the scan in
         * progress started after, and the one the last published scan did. */
        unsigned long scanning_seq, published_seq;
        /* Hot-plug: a monitor thread blocks in the source's wait_event and
         * kicks a scan on each event. While it works, polling is only a
         * slow safety net; otherwise the poll interval backs off from
         * poll_ms to MAX_BACKOFF × poll_ms while nothing changes. */
        pthread_t monitor;
        bool monitor_started;
        bool watching;          /* the last wait_event worked; guarded by cache->lock */
        unsigned interval_ms;   /* scan thread only */
} entry;

#define MAX_BACKOFF 5                   /* × poll_ms */
#define WAIT_RETRY_MIN_MS 1000          /* after a failed wait_event, doubling */
#define WAIT_RETRY_MAX_MS 30000
#define EVENT_GAP_MS 20                 /* between two waits: a module that
                                         * reports events non-stop cannot spin us */

#define MAX_SEEN 256

struct kb_cache {
        pthread_mutex_t lock;
        /* Ids of tokens seen since start (bounded, oldest dropped), so a token
         * that went away answers TOKEN_NOT_PRESENT rather than NOT_FOUND. */
        char seen[MAX_SEEN][KB_TOKEN_ID_LEN + 1];
        size_t n_seen, next_seen;
        pthread_cond_t changed; /* a scan was published, or stop/kick */
        bool stop;
        unsigned poll_ms;
        kb_problem_hook problem_hook;
        void *problem_userdata;
        kb_scan_hook scan_hook;
        void *scan_userdata;
        unsigned long kick_seq; /* counts kb_cache_reread calls; guarded by lock */
        size_t n;
        entry *entries;
};

kb_cache *kb_cache_new(kb_source **sources, size_t n_sources, unsigned poll_ms) {
        kb_cache *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->entries = calloc(n_sources ? n_sources : 1, sizeof(entry));
        if (!c->entries) {
                free(c);
                return NULL;
        }
        pthread_mutex_init(&c->lock, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&c->changed, &attr);
        pthread_condattr_destroy(&attr);
        c->poll_ms = poll_ms;
        c->n = n_sources;
        for (size_t i = 0; i < n_sources; i++)
                c->entries[i] = (entry) { .cache = c, .source = sources[i] };
        free(sources);
        return c;
}

static struct timespec deadline_in(unsigned ms) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return ts;
}

static bool seen_locked(const kb_cache *c, const char *id) {
        for (size_t i = 0; i < c->n_seen; i++)
                if (strcmp(c->seen[i], id) == 0)
                        return true;
        return false;
}

static void remember_locked(kb_cache *c, const kb_scan *scan) {
        for (size_t i = 0; i < scan->n_tokens; i++) {
                if (seen_locked(c, scan->tokens[i]->id))
                        continue;
                memcpy(c->seen[c->next_seen], scan->tokens[i]->id, KB_TOKEN_ID_LEN + 1);
                c->next_seen = (c->next_seen + 1) % MAX_SEEN;
                if (c->n_seen < MAX_SEEN)
                        c->n_seen++;
        }
}

bool kb_cache_token_seen(kb_cache *c, const char *id) {
        pthread_mutex_lock(&c->lock);
        bool seen = seen_locked(c, id);
        pthread_mutex_unlock(&c->lock);
        return seen;
}

static void publish(entry *e, kb_scan *scan) {
        kb_cache *c = e->cache;
        pthread_mutex_lock(&c->lock);
        remember_locked(c, scan);
        kb_scan *old = e->scan;
        e->scan = scan;
        if (scan->stale)
                e->reread = true;       /* a re-read it answered is not done */
        else
                e->published_seq = e->scanning_seq;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        kb_scan_unref(old);
}

static kb_scan *current(entry *e) {
        pthread_mutex_lock(&e->cache->lock);
        kb_scan *s = kb_scan_ref(e->scan);
        pthread_mutex_unlock(&e->cache->lock);
        return s;
}

/* Sleep until the next poll, a kick or stop. Returns false on stop. */
static bool wait_next(entry *e) {
        kb_cache *c = e->cache;
        bool go_on;

        pthread_mutex_lock(&c->lock);
        struct timespec until = deadline_in(e->watching ? c->poll_ms * MAX_BACKOFF : e->interval_ms);
        while (!c->stop && !e->kicked)
                if (pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
                        break;
        e->kicked = false;
        go_on = !c->stop;
        pthread_mutex_unlock(&c->lock);
        return go_on;
}

void kb_cache_set_problem_hook(kb_cache *c, kb_problem_hook hook, void *userdata) {
        c->problem_hook = hook;
        c->problem_userdata = userdata;
}

void kb_cache_set_scan_hook(kb_cache *c, kb_scan_hook hook, void *userdata) {
        c->scan_hook = hook;
        c->scan_userdata = userdata;
}

/* Take the re-read request: the scan then gets no previous result to reuse. */
static bool take_reread(entry *e) {
        pthread_mutex_lock(&e->cache->lock);
        bool reread = e->reread;
        e->reread = false;
        e->scanning_seq = e->cache->kick_seq;
        pthread_mutex_unlock(&e->cache->lock);
        return reread;
}

static bool has_problem(const kb_scan *s, const kb_problem *p) {
        for (size_t i = 0; s && i < s->n_problems; i++)
                if (strcmp(s->problems[i].where, p->where) == 0 && s->problems[i].error == p->error)
                        return true;
        return false;
}

static void report_new_problems(entry *e, const kb_scan *prev, const kb_scan *next) {
        kb_cache *c = e->cache;
        for (size_t i = 0; c->problem_hook && i < next->n_problems; i++)
                if (!has_problem(prev, &next->problems[i]))
                        c->problem_hook(c->problem_userdata, e->source, &next->problems[i]);
}

static bool certs_same(const kb_token *a, const kb_token *b) {
        if (a->n_certs != b->n_certs)
                return false;
        for (size_t i = 0; i < a->n_certs; i++)
                if (strcmp(a->certs[i]->id, b->certs[i]->id) != 0)
                        return false;
        return true;
}

static bool token_same(const kb_token *a, const kb_token *b) {
        return a->pin_status == b->pin_status && a->retries_left == b->retries_left && a->flags == b->flags &&
               strcmp(a->label ? a->label : "", b->label ? b->label : "") == 0 && certs_same(a, b);
}

/* Did anything a page could see change between two scans? */
static bool scan_changed(const kb_scan *prev, const kb_scan *next) {
        if (!prev || prev->n_tokens != next->n_tokens)
                return true;
        for (size_t i = 0; i < next->n_tokens; i++) {
                const kb_token *t = kb_scan_find_token(prev, next->tokens[i]->id);
                if (!t || !token_same(t, next->tokens[i]))
                        return true;
        }
        return false;
}

/* Back to the fast interval after a change, slower while nothing changes. */
static void next_interval(entry *e, bool changed) {
        unsigned fast = e->cache->poll_ms, slow = fast * MAX_BACKOFF;
        if (changed || e->interval_ms < fast)
                e->interval_ms = fast;
        else
                e->interval_ms = e->interval_ms > slow / 2 ? slow : e->interval_ms * 2;
}

static void *scan_loop(void *arg) {
        entry *e = arg;
        do {
                kb_scan *prev = current(e), *next = NULL;
                bool reread = take_reread(e);
                if (e->source->ops->scan(e->source, reread ? NULL : prev, &next) >= 0) {
                        next->finished = time(NULL);
                        next_interval(e, next->stale || scan_changed(prev, next));
                        report_new_problems(e, prev, next);
                        kb_scan_ref(next);
                        publish(e, next);
                        if (e->cache->scan_hook)
                                e->cache->scan_hook(e->cache->scan_userdata, e->source, prev, next);
                        kb_scan_unref(next);
                }
                kb_scan_unref(prev);
        } while (wait_next(e));
        return NULL;
}

static void kick_one(entry *e, bool watching) {
        pthread_mutex_lock(&e->cache->lock);
        e->kicked = true;
        e->watching = watching;
        pthread_cond_broadcast(&e->cache->changed);
        pthread_mutex_unlock(&e->cache->lock);
}

/* Sleep ms unless stopped; false on stop. */
static bool pause_ms(kb_cache *c, unsigned ms) {
        struct timespec until = deadline_in(ms);
        pthread_mutex_lock(&c->lock);
        while (!c->stop)
                if (pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
                        break;
        bool go_on = !c->stop;
        pthread_mutex_unlock(&c->lock);
        return go_on;
}

static void set_watching(entry *e, bool on) {
        pthread_mutex_lock(&e->cache->lock);
        e->watching = on;
        pthread_mutex_unlock(&e->cache->lock);
}

/* Wait for the source's events; back off when waiting fails (never spin). */
static void *monitor_loop(void *arg) {
        entry *e = arg;
        unsigned retry_ms = 0;
        for (;;) {
                int r = e->source->ops->wait_event(e->source);
                if (!pause_ms(e->cache, r > 0 ? EVENT_GAP_MS : 0))
                        break;
                if (r > 0) {
                        retry_ms = 0;
                        kick_one(e, true);
                        continue;
                }
                set_watching(e, false);
                if (r == 0)
                        break;  /* the source cannot wait: polling it is */
                retry_ms = retry_ms ? (retry_ms >= WAIT_RETRY_MAX_MS / 2 ? WAIT_RETRY_MAX_MS : retry_ms * 2)
                                    : WAIT_RETRY_MIN_MS;
                if (!pause_ms(e->cache, retry_ms))
                        break;
        }
        return NULL;
}

int kb_cache_start(kb_cache *c) {
        for (size_t i = 0; i < c->n; i++) {
                entry *e = &c->entries[i];
                e->interval_ms = c->poll_ms;
                if (pthread_create(&e->thread, NULL, scan_loop, e) != 0)
                        return -KB_E_INTERNAL;
                e->started = true;
                if (!e->source->ops->wait_event || !e->source->ops->stop_wait)
                        continue;
                if (pthread_create(&e->monitor, NULL, monitor_loop, e) != 0)
                        return -KB_E_INTERNAL;
                e->monitor_started = true;
        }
        return 0;
}

void kb_cache_kick(kb_cache *c) {
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n; i++)
                c->entries[i].kicked = true;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
}

static bool reread_done_locked(kb_cache *c, unsigned long seq) {
        for (size_t i = 0; i < c->n; i++)
                if (c->entries[i].published_seq < seq)
                        return false;
        return true;
}

bool kb_cache_reread_wait(kb_cache *c, unsigned timeout_ms) {
        struct timespec until = deadline_in(timeout_ms);
        pthread_mutex_lock(&c->lock);
        unsigned long seq = ++c->kick_seq;
        for (size_t i = 0; i < c->n; i++)
                c->entries[i].kicked = c->entries[i].reread = true;
        pthread_cond_broadcast(&c->changed);
        bool done;
        while (!(done = reread_done_locked(c, seq)) && !c->stop)
                if (pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
                        break;
        done = reread_done_locked(c, seq);
        pthread_mutex_unlock(&c->lock);
        return done;
}

void kb_cache_reread(kb_cache *c) {
        pthread_mutex_lock(&c->lock);
        c->kick_seq++;
        for (size_t i = 0; i < c->n; i++)
                c->entries[i].kicked = c->entries[i].reread = true;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
}

void kb_cache_free(kb_cache *c) {
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        for (size_t i = 0; i < c->n; i++) {
                entry *e = &c->entries[i];
                if (e->started)
                        pthread_join(e->thread, NULL);
                if (e->monitor_started) {
                        /* No scan runs now: end the source, waking its waiter. */
                        e->source->ops->stop_wait(e->source);
                        pthread_join(e->monitor, NULL);
                }
                kb_scan_unref(e->scan);
                kb_source_free(e->source);
        }
        pthread_cond_destroy(&c->changed);
        pthread_mutex_destroy(&c->lock);
        free(c->entries);
        free(c);
}

static bool all_ready_locked(kb_cache *c) {
        for (size_t i = 0; i < c->n; i++)
                if (!c->entries[i].scan)
                        return false;
        return true;
}

bool kb_cache_wait_ready(kb_cache *c, unsigned timeout_ms) {
        struct timespec until = deadline_in(timeout_ms);
        bool ready;

        pthread_mutex_lock(&c->lock);
        while (!(ready = all_ready_locked(c)) && !c->stop)
                if (pthread_cond_timedwait(&c->changed, &c->lock, &until) == ETIMEDOUT)
                        break;
        ready = all_ready_locked(c);
        pthread_mutex_unlock(&c->lock);
        return ready;
}

kb_view *kb_cache_view(kb_cache *c) {
        kb_view *v = calloc(1, sizeof(*v));
        if (!v)
                return NULL;
        v->sources = calloc(c->n ? c->n : 1, sizeof(*v->sources));
        v->scans = calloc(c->n ? c->n : 1, sizeof(*v->scans));
        if (!v->sources || !v->scans) {
                kb_view_free(v);
                return NULL;
        }
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n; i++) {
                v->sources[i] = c->entries[i].source;
                v->scans[i] = kb_scan_ref(c->entries[i].scan);
        }
        v->n = c->n;
        pthread_mutex_unlock(&c->lock);
        return v;
}

void kb_view_free(kb_view *v) {
        if (!v)
                return;
        for (size_t i = 0; i < v->n; i++)
                kb_scan_unref(v->scans[i]);
        free(v->sources);
        free(v->scans);
        free(v);
}

const kb_token *kb_view_find_token(const kb_view *v, const char *id) {
        for (size_t i = 0; i < v->n; i++) {
                const kb_token *t = kb_scan_find_token(v->scans[i], id);
                if (t)
                        return t;
        }
        return NULL;
}
