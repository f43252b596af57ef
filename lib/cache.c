/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One thread per source rescans it; the latest kb_scan is swapped in under a
 * mutex held only for the pointer swap, so readers never wait for a token.
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
} entry;

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
        struct timespec until = deadline_in(c->poll_ms);
        bool go_on;

        pthread_mutex_lock(&c->lock);
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

static void *scan_loop(void *arg) {
        entry *e = arg;
        do {
                kb_scan *prev = current(e), *next = NULL;
                bool reread = take_reread(e);
                if (e->source->ops->scan(e->source, reread ? NULL : prev, &next) >= 0) {
                        next->finished = time(NULL);
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

int kb_cache_start(kb_cache *c) {
        for (size_t i = 0; i < c->n; i++) {
                if (pthread_create(&c->entries[i].thread, NULL, scan_loop, &c->entries[i]) != 0)
                        return -KB_E_INTERNAL;
                c->entries[i].started = true;
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
                if (c->entries[i].started)
                        pthread_join(c->entries[i].thread, NULL);
                kb_scan_unref(c->entries[i].scan);
                kb_source_free(c->entries[i].source);
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
