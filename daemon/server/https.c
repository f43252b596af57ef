/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * HTTPS and WSS: the TLS front (transport/tls-front.h) terminates TLS with
 * OpenSSL and gives each listener's libmicrohttpd server plain connections.
 * Those servers have no thread of their own: they run in the front's event
 * loop (libmicrohttpd's external epoll mode). A new leaf takes effect for
 * new connections without a restart.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "https.h"
#include "tls-context.h"
#include "ws.h"

/* Handshakes under way at once, and how long one may take. A browser's
 * handshake with a loopback server takes a few milliseconds. */
#define MAX_HANDSHAKES 64
#define HANDSHAKE_MS 5000

static bool admit(void *cls, size_t listener, const struct sockaddr *peer, socklen_t peer_len) {
        kb_daemon *d = cls;
        return kb_http_peer_allowed(&d->servers[listener], peer, peer_len);
}

static int deliver(void *cls, size_t listener, int fd, const struct sockaddr *peer, socklen_t peer_len) {
        kb_daemon *d = cls;
        /* libmicrohttpd closes fd when it cannot take it. */
        return MHD_add_connection(d->servers[listener].mhd, fd, peer, peer_len) == MHD_YES ? 0 : -1;
}

static int server_fd(void *cls, size_t listener) {
        kb_daemon *d = cls;
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->servers[listener].mhd, MHD_DAEMON_INFO_EPOLL_FD);
        return info ? info->epoll_fd : -1;
}

static void server_run(void *cls, size_t listener) {
        kb_daemon *d = cls;
        MHD_run(d->servers[listener].mhd);
}

static int64_t server_timeout_ms(void *cls) {
        kb_daemon *d = cls;
        int64_t least = -1;
        for (size_t i = 0; i < d->n_listeners; i++) {
                MHD_UNSIGNED_LONG_LONG ms;
                if (MHD_get_timeout(d->servers[i].mhd, &ms) == MHD_YES && (least < 0 || (int64_t) ms < least))
                        least = ms > INT32_MAX ? INT32_MAX : (int64_t) ms;
        }
        return least;
}

static size_t held_elsewhere(void *cls) {
        kb_daemon *d = cls;
        pthread_mutex_lock(&d->ws_lock);
        size_t n = kb_ws_count(d->ws);
        pthread_mutex_unlock(&d->ws_lock);
        return n;
}

int kb_https_start(kb_daemon *d, char *err, size_t errlen) {
        SSL_CTX *ctx = kb_tls_context_new(&d->tls, err, errlen);
        if (!ctx)
                return -1;
        kb_tls_front_hooks hooks = {
                .cls = d, .admit = admit, .deliver = deliver, .held_elsewhere = held_elsewhere,
                .server_fd = server_fd, .server_run = server_run, .server_timeout_ms = server_timeout_ms,
        };
        kb_tls_front_limits limits = {
                .max_connections = d->config.max_connections,
                .max_handshakes = MAX_HANDSHAKES,
                .handshake_ms = HANDSHAKE_MS,
        };
        int r = kb_tls_front_start(d->listeners, d->n_listeners, ctx, &hooks, &limits, &d->front);
        SSL_CTX_free(ctx);
        if (r < 0) {
                snprintf(err, errlen, "cannot start the TLS front: %s", strerror(-r));
                return -1;
        }
        return 0;
}

int kb_https_rotate(kb_daemon *d, char *err, size_t errlen) {
        SSL_CTX *ctx = kb_tls_context_new(&d->tls, err, errlen);
        if (!ctx)
                return -1;
        kb_tls_front_set_context(d->front, ctx);
        SSL_CTX_free(ctx);
        return 0;
}

void kb_https_stop(kb_daemon *d) {
        kb_tls_front_stop(d->front);
        d->front = NULL;
}
