/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One relayed TLS connection (tls-relay.c): a TLS session (the client) and
 * its socketpair end (the HTTP server), and moving plaintext between them
 * without blocking. The TLS front (tls-front.c) owns relays and runs this on
 * its thread.
 */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

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
        RELAY_LINGER,           /* all is out and our FIN too: the client's late bytes
                                   are read and dropped until its end, so that closing
                                   does not reset the connection and lose the answer */
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

typedef enum pump_result {
        PUMP_GOING,
        PUMP_DRAINING,          /* the server is done; the rest is for the client */
        PUMP_DONE,              /* one side failed: end it */
        PUMP_FINISHED,          /* both sides are done; close_notify is out: linger */
} pump_result;

/* chunk: KB_RELAY_CHUNK bytes of scratch, wiped after each use. */
/* Client -> server: false when the relay is to end. Sets r->fed when bytes
 * went to the server. */
bool kb_relay_pump_in(relay *r, uint8_t *chunk);
/* Server -> client: false when the relay is to end. */
bool kb_relay_pump_out(relay *r, uint8_t *chunk);
/* After pumping: go on, drain to the client, or end (sends close_notify when
 * both sides are done). */
pump_result kb_relay_verdict(relay *r);
/* Detaching: read everything the server wrote and keep it for the client,
 * after what already waits (nothing is written here). */
bool kb_relay_take_server_output(relay *r, uint8_t *chunk);
/* Register with epfd the events the relay waits for now. */
void kb_relay_watch(int epfd, relay *r);
void kb_pending_clear(pending *p);
/* Keep data[0..len) for later (a copy); the caller wipes its own. */
int kb_pending_keep(pending *p, const uint8_t *data, size_t len);
/* The part not yet written, in a buffer of its own (*ret NULL when none);
 * p's buffer is wiped and freed. */
int kb_pending_take(pending *p, uint8_t **ret, size_t *ret_len);
