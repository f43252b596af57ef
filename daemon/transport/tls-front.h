/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TLS termination in the daemon (OpenSSL). One thread with one epoll set
 * accepts on the listening sockets, checks who is calling on the real client
 * socket, runs each handshake without blocking and under a deadline, then
 * gives the HTTP server a plain connection: one end of a socketpair, the
 * front relaying between it and the TLS session. The HTTP servers run on
 * the same thread, in the same loop: a request goes from the TLS record to
 * the server and its answer back to TLS without waking another thread. A
 * connection the HTTP server upgrades to a WebSocket is detached: its TLS
 * session and client socket go to the WebSocket thread, and the socketpair
 * is closed.
 *
 * Limits: at most max_handshakes handshakes at once (a new client pushes out
 * the oldest unfinished one, so stalled handshakes cannot lock others out),
 * each within handshake_ms; at most max_connections connections in all,
 * those held elsewhere (hooks.held_elsewhere) included.
 */
#pragma once

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "listen.h"

typedef struct kb_tls_front kb_tls_front;

typedef struct kb_tls_front_hooks {
        void *cls;
        /* May this client talk to us? Called before the handshake, with the
         * addresses of the real client socket. */
        bool (*admit)(void *cls, size_t listener, const struct sockaddr *peer, socklen_t peer_len);
        /* Serve fd (a plain connection) on listener's HTTP server; it owns
         * fd from now on, also when it fails (-1). */
        int (*deliver)(void *cls, size_t listener, int fd, const struct sockaddr *peer, socklen_t peer_len);
        /* Connections that count against the limit but live elsewhere: the
         * detached WebSockets. */
        size_t (*held_elsewhere)(void *cls);
        /* listener's HTTP server, run on the front's thread: a descriptor
         * that is readable when it has work, the work (never blocking), and
         * the milliseconds until any server must run anyway (-1: none). */
        int (*server_fd)(void *cls, size_t listener);
        void (*server_run)(void *cls, size_t listener);
        int64_t (*server_timeout_ms)(void *cls);
} kb_tls_front_hooks;

typedef struct kb_tls_front_limits {
        unsigned max_connections;
        unsigned max_handshakes;
        unsigned handshake_ms;
} kb_tls_front_limits;

/* A detached connection: the client's socket, its TLS session and the
 * plaintext the front held for either side. The receiver owns all of it. */
typedef struct kb_tls_stream {
        int fd;
        SSL *ssl;
        uint8_t *in;            /* from the client, not yet given to the HTTP server */
        size_t in_len;
        uint8_t *out;           /* for the client, not yet written */
        size_t out_len;
} kb_tls_stream;

/* ctx: a reference is taken. The listeners stay owned by the caller. */
int kb_tls_front_start(const kb_listener *listeners, size_t n, SSL_CTX *ctx, const kb_tls_front_hooks *hooks,
                       const kb_tls_front_limits *limits, kb_tls_front **ret);
/* New connections use ctx from now on (a new leaf); open ones keep theirs. */
void kb_tls_front_set_context(kb_tls_front *f, SSL_CTX *ctx);
/* Run the HTTP servers soon (any thread): they have work that their own
 * wake-up may not announce. */
void kb_tls_front_kick(kb_tls_front *f);
/* Stop accepting, close every connection the front still relays, free. */
void kb_tls_front_stop(kb_tls_front *f);

/* The HTTP server's end delivered_fd was upgraded: stop relaying it and hand
 * over its client socket and TLS session (any thread; on others it waits
 * for the front's).
 * Everything the server wrote to delivered_fd before this call reaches the
 * client; what the front had read for the server but not yet delivered is in
 * ret->in, and what the server has not read yet stays readable from
 * delivered_fd, which reaches its end of file after it. -ENOENT: not ours. */
int kb_tls_front_detach(kb_tls_front *f, int delivered_fd, kb_tls_stream *ret);
/* Free what a stream holds (wiping the plaintexts) and close its socket. */
void kb_tls_stream_clear(kb_tls_stream *s);
