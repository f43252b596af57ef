/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Moving plaintext between a TLS session (the client) and its socketpair
 * (the HTTP server), on the front's thread, never blocking. Each direction
 * reads only while nothing waits to be written on the other side, so a slow
 * reader holds back its writer instead of growing a buffer: per connection
 * at most one record's plaintext waits in each direction. Plaintext (PINs in
 * request bodies among it) is wiped from every buffer it passed through.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "tls-relay.h"

void kb_pending_clear(pending *p) {
        if (p->data)
                OPENSSL_cleanse(p->data, p->len);
        free(p->data);
        *p = (pending) { 0 };
}

int kb_pending_keep(pending *p, const uint8_t *data, size_t len) {
        kb_pending_clear(p);
        if (len == 0)
                return 0;
        p->data = malloc(len);
        if (!p->data)
                return -1;
        memcpy(p->data, data, len);
        p->len = len;
        return 0;
}

int kb_pending_take(pending *p, uint8_t **ret, size_t *ret_len) {
        size_t n = p->len - p->off;
        uint8_t *copy = n ? malloc(n) : NULL;
        if (n && !copy)
                return -1;
        if (n)
                memcpy(copy, p->data + p->off, n);
        kb_pending_clear(p); /* wipes the whole old buffer */
        *ret = copy;
        *ret_len = n;
        return 0;
}

/* Append to what is not yet written (a new buffer; the old one is wiped). */
static int pending_append(pending *p, const uint8_t *data, size_t len) {
        size_t keep = p->len - p->off;
        uint8_t *n = malloc(keep + len);
        if (!n)
                return -1;
        if (keep)
                memcpy(n, p->data + p->off, keep);
        memcpy(n + keep, data, len);
        kb_pending_clear(p);
        *p = (pending) { .data = n, .len = keep + len };
        return 0;
}

/* Bytes the server end took, 0 when it would block, -1 when it is gone. */
static ssize_t send_server(relay *r, const uint8_t *data, size_t len) {
        for (;;) {
                ssize_t n = send(r->server, data, len, MSG_NOSIGNAL);
                if (n >= 0)
                        return n;
                if (errno == EINTR)
                        continue;
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
}

/* The server closed its end while the client still sends: what the client
 * sends has nowhere to go, but what the server said before closing (its
 * answer) still goes out. */
static void server_stopped_reading(relay *r) {
        kb_pending_clear(&r->to_server);
        r->client_eof = r->server_shut = true;
}

/* Write what waits for the server. */
static void flush_to_server(relay *r) {
        pending *p = &r->to_server;
        while (p->off < p->len) {
                ssize_t n = send_server(r, p->data + p->off, p->len - p->off);
                if (n < 0) {
                        server_stopped_reading(r);
                        return;
                }
                if (n == 0)
                        return;
                p->off += (size_t) n;
        }
        kb_pending_clear(p);
}

/* The client's end of file: a close_notify, or EOF (browsers often skip the
 * alert). Anything else is a failure. */
static bool client_ended_cleanly(int err) {
        return err == SSL_ERROR_ZERO_RETURN;
}

bool kb_relay_pump_in(relay *r, uint8_t *chunk) {
        flush_to_server(r);
        while (r->to_server.len == 0 && !r->client_eof) {
                r->ssl_wants_write = false;
                ERR_clear_error();
                int n = SSL_read(r->ssl, chunk, KB_RELAY_CHUNK);
                if (n <= 0) {
                        int err = SSL_get_error(r->ssl, n);
                        if (err == SSL_ERROR_WANT_READ)
                                break;
                        if (err == SSL_ERROR_WANT_WRITE) {
                                r->ssl_wants_write = true;
                                break;
                        }
                        ERR_clear_error();
                        if (!client_ended_cleanly(err))
                                return false;
                        r->client_eof = true;
                        break;
                }
                ssize_t w = send_server(r, chunk, (size_t) n);
                r->fed = r->fed || w > 0;
                int kept = w < 0 ? 0 : kb_pending_keep(&r->to_server, chunk + w, (size_t) n - (size_t) w);
                OPENSSL_cleanse(chunk, (size_t) n);
                if (w < 0)
                        server_stopped_reading(r);
                if (kept < 0)
                        return false;
                /* Nothing more inside the session: the socket's next bytes
                 * come with their own event (no read just to hear EAGAIN). */
                if (!SSL_has_pending(r->ssl))
                        break;
        }
        if (r->client_eof && r->to_server.len == 0 && !r->server_shut) {
                shutdown(r->server, SHUT_WR); /* the server sees the client's EOF */
                r->server_shut = true;
        }
        return true;
}

/* SSL_write data; *written says how much went. -1: failed, 0: would block
 * (the rest must be offered again, same bytes first), 1: all written. */
static int write_client(relay *r, const uint8_t *data, size_t len, size_t *written) {
        *written = 0;
        while (*written < len) {
                size_t left = len - *written;
                ERR_clear_error();
                int n = SSL_write(r->ssl, data + *written, left > INT32_MAX ? INT32_MAX : (int) left);
                if (n > 0) {
                        *written += (size_t) n;
                        continue;
                }
                int err = SSL_get_error(r->ssl, n);
                if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
                        return 0;
                ERR_clear_error();
                return -1;
        }
        return 1;
}

static int flush_to_client(relay *r) {
        pending *p = &r->to_client;
        if (p->off == p->len)
                return 1;
        size_t n;
        int rc = write_client(r, p->data + p->off, p->len - p->off, &n);
        p->off += n;
        if (rc > 0)
                kb_pending_clear(p);
        return rc;
}

bool kb_relay_pump_out(relay *r, uint8_t *chunk) {
        for (;;) {
                int flushed = flush_to_client(r);
                if (flushed < 0)
                        return false;
                if (flushed == 0 || r->server_eof)
                        return true;
                ssize_t n = recv(r->server, chunk, KB_RELAY_CHUNK, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return true;
                if (n <= 0) {
                        r->server_eof = true; /* the server closed (or failed) */
                        return true;
                }
                size_t w;
                int rc = write_client(r, chunk, (size_t) n, &w);
                int kept = rc < 0 ? -1 : kb_pending_keep(&r->to_client, chunk + w, (size_t) n - w);
                OPENSSL_cleanse(chunk, (size_t) n);
                if (kept < 0)
                        return false;
                if ((size_t) n < KB_RELAY_CHUNK && r->to_client.len == 0)
                        return true; /* a short read took all there was; more comes with an event */
        }
}

bool kb_relay_take_server_output(relay *r, uint8_t *chunk) {
        for (;;) {
                ssize_t n = recv(r->server, chunk, KB_RELAY_CHUNK, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return true;
                int kept = pending_append(&r->to_client, chunk, (size_t) n);
                OPENSSL_cleanse(chunk, (size_t) n);
                if (kept < 0)
                        return false;
        }
}

pump_result kb_relay_verdict(relay *r) {
        if (!r->server_eof)
                return PUMP_GOING;
        if (r->to_client.len > 0)
                return PUMP_DRAINING;
        ERR_clear_error();
        (void) SSL_shutdown(r->ssl); /* our close_notify, best effort */
        ERR_clear_error();
        return PUMP_FINISHED;
}

static void watch_one(int epfd, int fd, endpoint *ep, uint32_t *registered, uint32_t want) {
        if (fd < 0 || *registered == want)
                return;
        struct epoll_event ev = { .events = want, .data.ptr = ep };
        if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
                *registered = want;
}

void kb_relay_watch(int epfd, relay *r) {
        uint32_t client = 0, server = 0;
        if (!r->client_eof && r->to_server.len == 0 && !r->ssl_wants_write)
                client |= EPOLLIN; /* while the session must write first, reading would spin */
        if (r->to_client.len > 0 || r->ssl_wants_write)
                client |= EPOLLOUT;
        if (!r->server_eof && r->to_client.len == 0)
                server |= EPOLLIN;
        if (r->to_server.len > 0)
                server |= EPOLLOUT;
        watch_one(epfd, r->client, &r->client_ep, &r->client_events, client);
        if (r->server_hup && !(server & EPOLLIN)) {
                if (r->server_watched && epoll_ctl(epfd, EPOLL_CTL_DEL, r->server, NULL) == 0)
                        r->server_watched = false;
                return;
        }
        if (!r->server_watched && r->server >= 0) {
                struct epoll_event ev = { .events = server, .data.ptr = &r->server_ep };
                if (epoll_ctl(epfd, EPOLL_CTL_ADD, r->server, &ev) == 0) {
                        r->server_watched = true;
                        r->server_events = server;
                }
                return;
        }
        watch_one(epfd, r->server, &r->server_ep, &r->server_events, server);
}
