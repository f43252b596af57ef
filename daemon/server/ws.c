/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WebSocket event thread: one epoll set for every upgraded connection
 * (the socket itself in plain mode, libmicrohttpd's socketpair end in TLS
 * mode), an eventfd for work from other threads, and a sweep each second for
 * pings, dead peers and close deadlines.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kb-cleanup.h"
#include "log.h"
#include "ws-internal.h"

#define READS_PER_WAKE 4                /* fairness between connections */

/* Free the dead connections no job refers to. Only here, between two
 * rounds of events: a pointer to a connection may be on the stack (or later
 * in the same epoll batch) while it is being finished. */
static void reap(kb_ws *ws) {
        for (ws_conn *c = ws->zombies, *next; c; c = next) {
                next = c->next;
                if (c->jobs == 0) {
                        kb_ws_list_remove(&ws->zombies, c);
                        kb_ws_conn_free(c);
                }
        }
}

/* The peer's close frame: answer it (echo the code) unless we started. */
static void on_close(kb_ws *ws, ws_conn *c) {
        if (c->state == CONN_OPEN) {
                uint16_t code = c->parser.close_code;
                uint8_t p[KB_WS_MAX_CONTROL];
                size_t n = code == KB_WS_CLOSE_NO_STATUS ? 0 : kb_ws_close_payload(p, code, NULL);
                kb_ws_send(ws, c, KB_WS_OP_CLOSE, p, n);
        }
        kb_ws_last_frame_sent(ws, c);
}

static void on_event(kb_ws *ws, ws_conn *c, kb_ws_event ev) {
        size_t len;
        switch (ev) {
        case KB_WS_MESSAGE:
                if (c->state != CONN_OPEN)
                        return; /* closing: data is dropped */
                if (c->parser.msg_type != KB_WS_OP_TEXT) {
                        kb_ws_fail(ws, c, KB_WS_CLOSE_UNSUPPORTED, "JSON-RPC text frames only");
                        return;
                }
                uint8_t *msg = kb_ws_parser_take(&c->parser, &len);
                kb_ws_on_message(ws, c, msg, len);
                if (msg)
                        OPENSSL_cleanse(msg, len); /* a page PIN may have been in it */
                free(msg);
                return;
        case KB_WS_PING:
                if (c->state == CONN_OPEN)
                        kb_ws_send(ws, c, KB_WS_OP_PONG, c->parser.ctl, c->parser.ctl_len);
                return;
        case KB_WS_PONG:
                return; /* consume() took it, like any frame, as the answer */
        case KB_WS_CLOSE:
                on_close(ws, c);
                return;
        case KB_WS_ERROR:
                kb_ws_fail(ws, c, c->parser.close_code, NULL);
                return;
        case KB_WS_NEED_MORE:
                return;
        }
}

static void consume(kb_ws *ws, ws_conn *c, const uint8_t *buf, size_t len) {
        size_t off = 0;
        c->last_rx_ms = kb_now_ms();
        c->ping_ms = 0; /* anything from the peer shows it is alive */
        while (off < len && (c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
                size_t used = 0;
                kb_ws_event ev = kb_ws_parse(&c->parser, buf + off, len - off, &used);
                off += used;
                on_event(ws, c, ev);
                if (ev == KB_WS_ERROR)
                        break;  /* the rest is unreadable */
        }
}

static void on_readable(kb_ws *ws, ws_conn *c) {
        /* Bytes already inside a TLS session get no epoll event: take them all. */
        for (int i = 0; (i < READS_PER_WAKE || kb_ws_io_has_pending(c)) && c->state != CONN_DEAD; i++) {
                ssize_t n = kb_ws_io_recv(c, ws->rbuf, sizeof(ws->rbuf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        if (c->read_wants_write)
                                kb_ws_watch(ws, c);
                        return;
                }
                if (n <= 0) {
                        kb_ws_finish(ws, c);  /* the peer went away (or answered our FIN) */
                        return;
                }
                if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
                        consume(ws, c, ws->rbuf, (size_t) n);
                if (c->ssl && !kb_ws_io_has_pending(c))
                        return; /* more comes with its own event: no read just to hear EAGAIN */
        }
}

static void adopt(kb_ws *ws, ws_conn *c) {
        if (c->ssl) {
                /* The socketpair was read to its end (kb_ws_adopt): libmicrohttpd
                 * may close it and forget the connection. */
                MHD_upgrade_action(TAKE_PTR(c->urh), MHD_UPGRADE_ACTION_CLOSE);
                kb_daemon_kick(ws->daemon);
        }
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
        int fl = fcntl(c->fd, F_GETFL);
        if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
                kb_ws_io_close(c);
                kb_ws_conn_free(c);
                return;
        }
        kb_ws_list_push(&ws->conns, c);
        ws->n_conns++;
        if (c->out_len)
                kb_ws_flush(ws, c); /* the end of the 101 the TLS front could not yet write */
        /* Bytes the client sent right behind its request. */
        uint8_t *in = TAKE_PTR(c->in);
        size_t n = c->in_len;
        c->in_len = 0;
        if (n && c->state != CONN_DEAD)
                consume(ws, c, in, n);
        if (in)
                OPENSSL_cleanse(in, n);
        free(in);
}

static void take_inbox(kb_ws *ws) {
        uint64_t n;
        if (read(ws->wakefd, &n, sizeof(n)) < 0) {
                /* nothing queued */
        }
        pthread_mutex_lock(&ws->lock);
        inbox_item *items = ws->inbox;
        ws->inbox = NULL;
        ws->inbox_tail = &ws->inbox;
        pthread_mutex_unlock(&ws->lock);
        for (inbox_item *it = items, *next; it; it = next) {
                next = it->next;
                switch (it->kind) {
                case IN_ADOPT:
                        adopt(ws, it->conn);
                        break;
                case IN_JOB_DONE:
                        kb_ws_job_done(ws, it->job);
                        break;
                case IN_PROGRESS:
                        kb_ws_progress(ws, it->conn, it->json);
                        break;
                case IN_EVENT:
                        kb_ws_fan_out(ws, it->topic, it->json);
                        break;
                }
                free(it);
        }
}

/* Pings for silent peers, an end for dead ones and for stalled closes. */
static void sweep(kb_ws *ws, int64_t now) {
        int64_t ping_ms = (int64_t) ws->daemon->config.ws_ping_interval * 1000;
        for (ws_conn *c = ws->conns, *next; c; c = next) {
                next = c->next;
                if (c->state != CONN_OPEN) {
                        if (now >= c->deadline_ms)
                                kb_ws_finish(ws, c);
                        continue;
                }
                /* The deadline runs from the ping, not from the last frame: after
                 * a suspend or a stall of this thread a peer still gets its ping
                 * and a whole interval to answer before it is given up. */
                if (c->ping_ms) {
                        if (now - c->ping_ms >= ping_ms)
                                kb_ws_fail(ws, c, KB_WS_CLOSE_GOING_AWAY, "no answer to ping");
                } else if (now - c->last_rx_ms >= ping_ms) {
                        c->ping_ms = now;
                        kb_ws_send(ws, c, KB_WS_OP_PING, "kb", 2);
                }
        }
}

static bool stopping(kb_ws *ws) {
        pthread_mutex_lock(&ws->lock);
        bool stop = ws->stop;
        pthread_mutex_unlock(&ws->lock);
        return stop;
}

static void *event_loop(void *arg) {
        kb_ws *ws = arg;
        struct epoll_event evs[64];
        int64_t next_sweep = kb_now_ms() + 1000;

        while (!stopping(ws)) {
                int64_t now = kb_now_ms();
                int n = epoll_wait(ws->epfd, evs, 64, (int) (next_sweep > now ? next_sweep - now : 0));
                for (int i = 0; i < n; i++) {
                        ws_conn *c = evs[i].data.ptr;
                        if (!c) {
                                take_inbox(ws);
                                continue;
                        }
                        if (c->state == CONN_DEAD)
                                continue;       /* finished earlier in this round */
                        if ((evs[i].events & EPOLLOUT) && c->read_wants_write) {
                                c->read_wants_write = false; /* the read can go on now */
                                kb_ws_watch(ws, c);
                                evs[i].events |= EPOLLIN;
                        }
                        if (evs[i].events & EPOLLOUT)
                                kb_ws_flush(ws, c);
                        if (c->state != CONN_DEAD && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                                on_readable(ws, c);
                }
                now = kb_now_ms();
                if (now >= next_sweep) {
                        sweep(ws, now);
                        next_sweep = now + 1000;
                }
                reap(ws);
        }
        return NULL;
}

int kb_ws_new(kb_daemon *d, kb_ws **ret) {
        kb_ws *ws = calloc(1, sizeof(*ws));
        if (!ws)
                return -ENOMEM;
        ws->daemon = d;
        ws->inbox_tail = &ws->inbox;
        pthread_mutex_init(&ws->lock, NULL);
        ws->epfd = epoll_create1(EPOLL_CLOEXEC);
        ws->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        if (ws->epfd < 0 || ws->wakefd < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->wakefd, &ev) < 0 ||
            pthread_create(&ws->thread, NULL, event_loop, ws) != 0) {
                kb_ws_free(ws);
                return -errno;
        }
        ws->running = true;
        *ret = ws;
        return 0;
}

void kb_ws_stop(kb_ws *ws) {
        uint64_t one = 1;
        if (!ws || !ws->running)
                return;
        pthread_mutex_lock(&ws->lock);
        ws->stop = true;
        pthread_mutex_unlock(&ws->lock);
        if (write(ws->wakefd, &one, sizeof(one)) < 0) {
                /* already signalled */
        }
        pthread_join(ws->thread, NULL);
        ws->running = false;
}

void kb_ws_free(kb_ws *ws) {
        if (!ws)
                return;
        kb_ws_stop(ws);
        /* No thread is left to post: adopt what came, answer nothing more. */
        for (inbox_item *it = ws->inbox, *next; it; it = next) {
                next = it->next;
                if (it->kind == IN_ADOPT) {
                        kb_ws_io_close(it->conn);
                        kb_ws_conn_free(it->conn);
                } else if (it->kind == IN_JOB_DONE) {
                        kb_ws_job_discard(it->job);
                }
                json_decref(it->json);
                free(it);
        }
        while (ws->conns) {
                ws_conn *c = ws->conns;
                kb_ws_close(ws, c, KB_WS_CLOSE_GOING_AWAY, "keybridged is stopping");
                kb_ws_finish(ws, c);
        }
        while (ws->zombies) {
                ws_conn *c = ws->zombies;
                kb_ws_list_remove(&ws->zombies, c);
                kb_ws_conn_free(c);
        }
        if (ws->epfd >= 0)
                close(ws->epfd);
        if (ws->wakefd >= 0)
                close(ws->wakefd);
        pthread_mutex_destroy(&ws->lock);
        free(ws);
}

/* The bytes that came behind the request, in order: what libmicrohttpd
 * read (extra); in TLS mode then what is left in the socketpair end the
 * front delivered (the front closed its side, so this is all there is, and
 * its size is known), then what the front held. One buffer, sized once. */
static int take_input(int fd, const kb_tls_stream *tls, const char *extra, size_t extra_len, uint8_t **ret,
                      size_t *ret_len) {
        int queued = 0;
        if (tls->ssl && ioctl(fd, FIONREAD, &queued) < 0)
                queued = 0;
        size_t total = extra_len + (size_t) queued + tls->in_len, have = 0;
        uint8_t *buf = total ? malloc(total) : NULL;
        if (total && !buf)
                return -1;
        if (extra_len)
                memcpy(buf, extra, extra_len);
        have = extra_len;
        while (have < extra_len + (size_t) queued) {
                ssize_t n = read(fd, buf + have, extra_len + (size_t) queued - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                have += (size_t) n;
        }
        if (tls->in_len)
                memcpy(buf + have, tls->in, tls->in_len);
        *ret = buf;
        *ret_len = have + tls->in_len;
        return 0;
}

void kb_ws_adopt(kb_ws *ws, kb_server *s, kb_ws_socket *sock, const char *extra, size_t extra_len,
                 const char *origin, bool zh) {
        ws_conn *c = calloc(1, sizeof(*c));
        inbox_item *it = calloc(1, sizeof(*it));
        const kb_config *cfg = &ws->daemon->config;
        bool tls = sock->tls.ssl != NULL;
        int r = c && it ? 0 : -1;

        if (r == 0 && origin && !(c->origin = strdup(origin)))
                r = -1;
        if (r == 0)
                r = take_input(sock->fd, &sock->tls, extra, extra_len, &c->in, &c->in_len);
        if (r < 0) {
                kb_tls_stream_clear(&sock->tls);
                MHD_upgrade_action(sock->urh, MHD_UPGRADE_ACTION_CLOSE);
                if (c)
                        kb_ws_conn_free(c);
                free(it);
                return;
        }
        c->server = s;
        c->urh = sock->urh;
        c->fd = tls ? sock->tls.fd : sock->fd;
        c->ssl = sock->tls.ssl;
        c->out = sock->tls.out;         /* the end of the 101, if any */
        c->out_len = sock->tls.out_len;
        sock->tls.out = NULL;
        sock->tls.out_len = 0;
        sock->tls.ssl = NULL;
        sock->tls.fd = -1;
        kb_tls_stream_clear(&sock->tls); /* wipes and frees tls.in, copied above */
        c->zh = zh;
        c->last_rx_ms = kb_now_ms();
        kb_ws_parser_init(&c->parser, (uint32_t) cfg->max_body, (uint32_t) cfg->max_body);
        *it = (inbox_item) { .kind = IN_ADOPT, .conn = c };
        kb_ws_post(ws, it);
}

void kb_ws_notify(kb_ws *ws, kb_ws_topic topic, json_t *params) {
        inbox_item *it = params ? calloc(1, sizeof(*it)) : NULL;
        if (!ws || !it) {
                json_decref(params);
                free(it);
                return;
        }
        *it = (inbox_item) { .kind = IN_EVENT, .topic = topic, .json = params };
        kb_ws_post(ws, it);
}

size_t kb_ws_count(kb_ws *ws) {
        return ws ? ws->n_conns : 0;
}
