/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The running daemon's state, shared by main.c and the HTTP front end. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "consent.h"
#include "gate.h"
#include "kb-api.h"
#include "listen.h"
#include "mustchange.h"
#include "tls.h"

struct MHD_Daemon;
struct kb_ws;
struct kb_tls_front;

typedef struct kb_server {
        struct kb_daemon *daemon;
        kb_listener *listener;
        struct MHD_Daemon *mhd;
} kb_server;

typedef struct kb_daemon {
        kb_config config;
        kb_service service;
        pthread_rwlock_t policy_lock;   /* guards policy (swapped on SIGHUP) */
        kb_gate_policy *policy;
        kb_tls_material tls;
        kb_listener listeners[KB_MAX_LISTENERS];
        size_t n_listeners;
        kb_server servers[KB_MAX_LISTENERS];
        struct kb_tls_front *front;     /* TLS mode: terminates TLS for every listener */
        uid_t uid;

        /* Until the first token scan is done, requests are parked (suspended
         * connections), so no HTTP thread waits for a token. */
        atomic_bool ready;
        pthread_mutex_t park_lock;
        struct MHD_Connection **parked;
        size_t n_parked, cap_parked;

        kb_consent consent;
        kb_must_change must_change;     /* tokens whose PIN must be changed */
        /* The service is assembled (scans before that only publish): from
         * then on each scan also finishes unfinished renewal installs. */
        atomic_bool service_ready;

        /* Token operations on worker threads (jobs.c), under jobs_lock. */
        pthread_mutex_t jobs_lock;
        pthread_cond_t jobs_idle;       /* a job or a worker ended */
        pthread_cond_t jobs_work;       /* a job was queued, or stop */
        struct kb_job *job_queue, **job_tail;
        unsigned n_jobs;                /* queued or running */
        unsigned n_queued, n_idle, n_threads;
        unsigned n_finishing;   /* workers whose job has answered, not yet back (jobs.c) */
        bool jobs_stopping;
        pthread_t main_thread;          /* woken (SIGUSR1) when a job ends */
        /* The main thread ticks every second (some authorization lives), so
         * a job that ends need not wake it (kb_jobs_ended). */
        atomic_bool main_ticks_fast;

        struct kb_ws *ws;               /* the WebSocket event thread (ws.c) */
        pthread_mutex_t ws_lock;        /* scan threads read ws under it (events.c) */

        /* Refused requests are logged at most KB_REFUSAL_LOG_BURST per minute. */
        pthread_mutex_t refusal_lock;
        time_t refusal_window;
        unsigned refusals_logged, refusals_suppressed;
} kb_daemon;

#define KB_REFUSAL_LOG_BURST 20
/* Token operations on job threads at once, REST and WebSocket together. */
#define KB_MAX_JOBS 32

/* Serve every listener; TLS when d->config.tls. */
int kb_http_start(kb_daemon *d, char *err, size_t errlen);
void kb_http_stop(kb_daemon *d);
/* The token cache finished its first scan (or the wait timed out): serve the
 * parked requests and all that follow. */
void kb_http_mark_ready(kb_daemon *d);
/* A connection was resumed (or an upgraded one closed) from another thread:
 * in TLS mode the servers run in the front's loop, which libmicrohttpd's own
 * wake-up can miss (it is consumed when it races with a run), so wake it
 * (daemon.c). */
void kb_daemon_kick(kb_daemon *d);
/* d->tls changed (a new leaf): new connections use it; open ones go on. */
int kb_http_new_leaf(kb_daemon *d, char *err, size_t errlen);
/* Is the client on this connection our own user? Logs a refusal
 * (daemon.c). */
bool kb_http_peer_allowed(kb_server *s, const struct sockaddr *peer, socklen_t peer_len);
