/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A WebSocket's bytes on the wire: the socket itself in plain mode, the TLS
 * session the front handed over in TLS mode. recv/send semantics for both:
 * > 0 bytes moved, 0 the peer's end (recv), -1 with errno (EAGAIN: would
 * block). Event thread only.
 */
#include <errno.h>
#include <microhttpd.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ws-internal.h"

/* A TLS result as errno: want-read/want-write are "would block". */
static ssize_t ssl_result(SSL *ssl, int n, bool *wants_write) {
        if (n > 0)
                return n;
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                if (wants_write)
                        *wants_write = err == SSL_ERROR_WANT_WRITE;
                errno = EAGAIN;
                return -1;
        }
        ERR_clear_error();
        if (err == SSL_ERROR_ZERO_RETURN)
                return 0;
        errno = ECONNRESET;
        return -1;
}

static int clamp(size_t len) {
        return len > INT32_MAX ? INT32_MAX : (int) len;
}

/* A read that must write first (a TLS 1.3 key update while the socket is
 * full) sets c->read_wants_write: the caller then waits for writability. */
ssize_t kb_ws_io_recv(ws_conn *c, void *buf, size_t len) {
        if (!c->ssl)
                return recv(c->fd, buf, len, 0);
        c->read_wants_write = false;
        ERR_clear_error();
        return ssl_result(c->ssl, SSL_read(c->ssl, buf, clamp(len)), &c->read_wants_write);
}

ssize_t kb_ws_io_send(ws_conn *c, const void *buf, size_t len) {
        if (!c->ssl)
                return send(c->fd, buf, len, MSG_NOSIGNAL);
        ERR_clear_error();
        return ssl_result(c->ssl, SSL_write(c->ssl, buf, clamp(len)), NULL);
}

bool kb_ws_io_has_pending(const ws_conn *c) {
        return c->ssl && SSL_has_pending(c->ssl);
}

void kb_ws_io_shut(ws_conn *c) {
        if (c->ssl) {
                ERR_clear_error();
                (void) SSL_shutdown(c->ssl); /* close_notify, best effort */
                ERR_clear_error();
        }
        shutdown(c->fd, SHUT_WR);
}

void kb_ws_io_close(ws_conn *c) {
        if (c->ssl) {
                SSL_free(c->ssl);
                c->ssl = NULL;
                close(c->fd);
        }
        if (c->urh) {
                MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE); /* libmicrohttpd closes its socket */
                kb_daemon_kick(c->server->daemon);
        }
        c->urh = NULL;
        c->fd = -1;
}
