/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by tls-front.c (the thread, accepting, handshakes, deadlines,
 * detaching) and tls-relay.c (moving bytes between a TLS session and its
 * socketpair). Everything here runs on the front's thread. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "tls-front.h"

#define KB_RELAY_CHUNK (16 * 1024)      /* one TLS record's plaintext */

typedef enum endpoint_kind {
        EP_LISTENER,
        EP_WAKE,
        EP_CLIENT,              /* a relay's TLS socket */
        EP_SERVER,              /* a relay's end of its socketpair */
        EP_HTTP,                /* an HTTP server's own descriptor */
} endpoint_kind;

typedef struct endpoint {
        endpoint_kind kind;
        size_t index;           /* EP_LISTENER, EP_HTTP */
        struct relay *relay;    /* EP_CLIENT, EP_SERVER */
} endpoint;

typedef enum relay_state {
        RELAY_HANDSHAKE,
        RELAY_OPEN,
        RELAY_DRAIN,            /* the server closed: flush to the client, then end */
        RELAY_DEAD,             /* ended; freed after this round of events */
} relay_state;

/* Plaintext waiting for a side that would block; freed (wiped) when empty. */
typedef struct pending {
        uint8_t *data;
        size_t len, off;
} pending;

typedef struct relay {
        struct relay *prev, *next;
        relay_state state;
        size_t listener;
        int client;             /* the TLS socket */
        int server;             /* our end of the socketpair, -1 before delivery */
        int delivered;          /* the HTTP server's end (its fd number), -1 before */
        ino_t delivered_ino;    /* ...and its inode: fd numbers are reused */
        SSL *ssl;
        endpoint client_ep, server_ep;
        uint32_t client_events, server_events;  /* registered with epoll */
        bool client_eof, server_eof;
        bool server_shut;       /* the client's EOF is passed on (SHUT_WR) */
        bool server_hup;        /* the server closed: epoll reports it always, so watch
                                   its end only while it can be read */
        bool server_watched;
        bool ssl_wants_write;   /* SSL_read needs the socket writable */
        bool fed;               /* bytes went to the server in this pump */
        int64_t deadline_ms;    /* HANDSHAKE, DRAIN */
        pending to_server, to_client;
        struct sockaddr_storage peer;
        socklen_t peer_len;
} relay;

typedef struct detach_request {
        struct detach_request *next;
        int fd;
        kb_tls_stream *stream;
        int result;
        bool done;
} detach_request;

struct kb_tls_front {
        int epfd, wakefd;
        pthread_t thread;
        bool running;
        const kb_listener *listeners;
        size_t n_listeners;
        endpoint *listener_eps;
        endpoint *http_eps;
        endpoint wake_ep;
        kb_tls_front_hooks hooks;
        kb_tls_front_limits limits;

        pthread_mutex_t lock;   /* guards ctx, requests, stop */
        pthread_cond_t answered;
        SSL_CTX *ctx;
        detach_request *requests;
        bool stop;

        relay *handshakes;      /* oldest first: deadlines in order */
        relay *handshakes_tail;
        relay *open;            /* relaying, and draining */
        relay *dead;            /* ended this round */
        unsigned n_draining;
        int64_t accept_paused_until; /* out of file descriptors: retry then */
        unsigned n_handshakes;
        _Atomic size_t n_relays; /* handshaking and open */
        uint8_t chunk[KB_RELAY_CHUNK];
};

int64_t kb_front_now_ms(void);
/* Run listener's HTTP server now (it has new input). */
void kb_front_run_server(kb_tls_front *f, size_t listener);

/* ---- tls-relay.c ---- */
typedef enum pump_result {
        PUMP_GOING,
        PUMP_DRAINING,          /* the server is done; the rest is for the client */
        PUMP_DONE,              /* both sides are done, or one failed: end it */
} pump_result;

/* Move what can move, both ways, without blocking. */
pump_result kb_relay_pump(kb_tls_front *f, relay *r);
/* Only the server's output towards the client (detaching). */
bool kb_relay_pump_out(kb_tls_front *f, relay *r);
/* Register the events the relay waits for now. */
void kb_relay_watch(kb_tls_front *f, relay *r);
void kb_pending_clear(pending *p);
/* Keep data[0..len) for later (a copy); the caller wipes its own. */
int kb_pending_keep(pending *p, const uint8_t *data, size_t len);
