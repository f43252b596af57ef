/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The running daemon's state, shared by main.c and the HTTP front end. */
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include "config.h"
#include "gate.h"
#include "kb-service.h"
#include "listen.h"
#include "tls.h"

struct MHD_Daemon;

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
        uid_t uid;
} kb_daemon;

/* Serve every listener; TLS when d->config.tls. */
int kb_http_start(kb_daemon *d, char *err, size_t errlen);
void kb_http_stop(kb_daemon *d);
/* Restart the servers on the same sockets, e.g. with new TLS material. */
int kb_http_restart(kb_daemon *d, char *err, size_t errlen);
