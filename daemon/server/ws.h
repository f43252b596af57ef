/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WebSocket channel (/v1/ws): connections upgraded by libmicrohttpd are
 * handed to ONE event thread (epoll) that reads frames, answers JSON-RPC and
 * fans out notifications. Idle connections cost no thread; calls that use a
 * token run on job threads, and the event thread writes their answers.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls-front.h"

struct kb_daemon;
struct kb_server;
struct MHD_UpgradeResponseHandle;

typedef struct kb_ws kb_ws;

typedef enum kb_ws_topic {
        KB_WS_TOKEN_INSERTED,
        KB_WS_TOKEN_REMOVED,
        KB_WS_TOKEN_CHANGED,
        KB_WS_N_TOPICS,
} kb_ws_topic;


/* Start the event thread. */
int kb_ws_new(struct kb_daemon *d, kb_ws **ret);
/* Stop the event thread: no more reads, calls or jobs from WebSockets. */
void kb_ws_stop(kb_ws *ws);
/* After kb_ws_stop and once no job runs: close every connection (1001) and free. */
void kb_ws_free(kb_ws *ws);

/* An upgraded connection as libmicrohttpd gives it. */
typedef struct kb_ws_socket {
        int fd;                 /* plain: the client's socket; TLS: the socketpair end */
        struct MHD_UpgradeResponseHandle *urh;
        kb_tls_stream tls;      /* TLS: what the front handed over (tls.ssl NULL in plain mode) */
} kb_ws_socket;

/* An upgraded connection (libmicrohttpd's thread): the event thread owns it,
 * and everything in sock, from now on. extra: bytes already read after the
 * request's headers. */
void kb_ws_adopt(kb_ws *ws, struct kb_server *s, kb_ws_socket *sock, const char *extra, size_t extra_len,
                 const char *origin, bool zh);

/* A token event (any thread): sent to the connections subscribed to it.
 * params is stolen; for inserted/changed it holds "token", rendered with
 * "authorized": false (the event thread sets it per connection). */
void kb_ws_notify(kb_ws *ws, kb_ws_topic topic, json_t *params);

/* Connections open now (for tests and the bench). */
size_t kb_ws_count(kb_ws *ws);
