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
#include <time.h>
#include <unistd.h>

#include "kb-cleanup.h"
#include "log.h"
#include "ws-internal.h"

#define CLOSE_WAIT_MS 2000              /* for the peer's close frame, or our output */
#define MAX_OUT (8 * 1024 * 1024)       /* unread output before we give up on a peer */
#define READS_PER_WAKE 4                /* fairness between connections */

int64_t kb_ws_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *kb_ws_topic_name(kb_ws_topic t) {
        static const char *const names[] = { "token.inserted", "token.removed", "token.changed" };
        return t < KB_WS_N_TOPICS ? names[t] : NULL;
}

void kb_ws_post(kb_ws *ws, inbox_item *item) {
        uint64_t one = 1;
        pthread_mutex_lock(&ws->lock);
        *ws->inbox_tail = item;
        ws->inbox_tail = &item->next;
        pthread_mutex_unlock(&ws->lock);
        if (write(ws->wakefd, &one, sizeof(one)) < 0) {
                /* the counter is non-zero already: the thread will look */
        }
}

static void list_remove(ws_conn **head, ws_conn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                *head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}

static void list_push(ws_conn **head, ws_conn *c) {
        c->prev = NULL;
        c->next = *head;
        if (*head)
                (*head)->prev = c;
        *head = c;
}

static void conn_free(ws_conn *c) {
        kb_ws_parser_clear(&c->parser);
        free(c->out);
        free(c->origin);
        free(c);
}

/* Free the dead connections no job refers to. Only here, between two
 * rounds of events: a pointer to a connection may be on the stack (or later
 * in the same epoll batch) while it is being finished. */
static void reap(kb_ws *ws) {
        for (ws_conn *c = ws->zombies, *next; c; c = next) {
                next = c->next;
                if (c->jobs == 0) {
                        list_remove(&ws->zombies, c);
                        conn_free(c);
                }
        }
}

/* Give the socket back to libmicrohttpd; the struct lives on while jobs run. */
static void finish(kb_ws *ws, ws_conn *c) {
        if (c->state == CONN_DEAD)
                return;
        epoll_ctl(ws->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
        c->fd = -1;
        c->state = CONN_DEAD;
        kb_ws_parser_clear(&c->parser);
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        list_remove(&ws->conns, c);
        list_push(&ws->zombies, c);
        ws->n_conns--;
}

static void want_out(kb_ws *ws, ws_conn *c, bool on) {
        if (c->want_out == on)
                return;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = c };
        epoll_ctl(ws->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = on;
}

/* Write what we can; the buffer goes when it is empty (idle costs nothing). */
static void flush(kb_ws *ws, ws_conn *c) {
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        want_out(ws, c, true);
                        return;
                }
                if (n <= 0) {
                        finish(ws, c);
                        return;
                }
                c->out_off += (size_t) n;
        }
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        want_out(ws, c, false);
        if (c->state == CONN_FLUSHING && c->tls) {
                /* libmicrohttpd sends what is left, then close_notify, and
                 * closes. (0.9.75 races with itself here: if its thread sees
                 * the socketpair end before our close action is recorded, it
                 * closes only at the peer's next packet; a conforming peer
                 * answers our close frame, or closes itself.) */
                finish(ws, c);
        } else if (c->state == CONN_FLUSHING) {
                /* Our FIN follows the close frame; the peer's EOF ends it
                 * (closing with its bytes unread would reset the connection
                 * and could lose the close frame on its side). */
                shutdown(c->fd, SHUT_WR);
                c->state = CONN_LINGER;
                c->deadline_ms = kb_ws_now_ms() + CLOSE_WAIT_MS;
        }
}

void kb_ws_send(kb_ws *ws, ws_conn *c, uint8_t opcode, const void *data, size_t len) {
        uint8_t hdr[10];
        if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
                return;
        size_t hl = kb_ws_header(hdr, opcode, len), pending = c->out_len - c->out_off;
        if (len > MAX_OUT - hl || pending > MAX_OUT - hl - len) {
                finish(ws, c);          /* the peer does not read: drop it */
                return;
        }
        uint8_t *n = malloc(pending + hl + len);
        if (!n) {
                finish(ws, c);
                return;
        }
        if (pending)
                memcpy(n, c->out + c->out_off, pending);
        memcpy(n + pending, hdr, hl);
        if (len)
                memcpy(n + pending + hl, data, len);
        free(c->out);
        c->out = n;
        c->out_len = pending + hl + len;
        c->out_off = 0;
        flush(ws, c);
}

void kb_ws_send_json(kb_ws *ws, ws_conn *c, json_t *msg) {
        char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        json_decref(msg);
        if (!text) {
                kb_ws_fail(ws, c, KB_WS_CLOSE_INTERNAL, NULL);
                return;
        }
        kb_ws_send(ws, c, KB_WS_OP_TEXT, text, strlen(text));
        free(text);
}

void kb_ws_close(kb_ws *ws, ws_conn *c, uint16_t code, const char *reason) {
        uint8_t p[KB_WS_MAX_CONTROL];
        if (c->state != CONN_OPEN)
                return;
        kb_ws_send(ws, c, KB_WS_OP_CLOSE, p, kb_ws_close_payload(p, code, reason));
        if (c->state == CONN_OPEN) {
                c->state = CONN_CLOSING;
                c->deadline_ms = kb_ws_now_ms() + CLOSE_WAIT_MS;
        }
}

/* Nothing more to send after what is queued. */
static void last_frame_sent(kb_ws *ws, ws_conn *c) {
        if (c->state == CONN_DEAD)
                return;
        c->state = CONN_FLUSHING;
        c->deadline_ms = kb_ws_now_ms() + CLOSE_WAIT_MS;
        flush(ws, c);
}

void kb_ws_fail(kb_ws *ws, ws_conn *c, uint16_t code, const char *reason) {
        uint8_t p[KB_WS_MAX_CONTROL];
        if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
                return;
        if (c->state == CONN_OPEN)
                kb_ws_send(ws, c, KB_WS_OP_CLOSE, p, kb_ws_close_payload(p, code, reason));
        last_frame_sent(ws, c);
}

/* The peer's close frame: answer it (echo the code) unless we started. */
static void on_close(kb_ws *ws, ws_conn *c) {
        if (c->state == CONN_OPEN) {
                uint16_t code = c->parser.close_code;
                uint8_t p[KB_WS_MAX_CONTROL];
                size_t n = code == KB_WS_CLOSE_NO_STATUS ? 0 : kb_ws_close_payload(p, code, NULL);
                kb_ws_send(ws, c, KB_WS_OP_CLOSE, p, n);
        }
        last_frame_sent(ws, c);
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
        c->last_rx_ms = kb_ws_now_ms();
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
        for (int i = 0; i < READS_PER_WAKE && c->state != CONN_DEAD; i++) {
                ssize_t n = recv(c->fd, ws->rbuf, sizeof(ws->rbuf), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n <= 0) {
                        finish(ws, c);  /* the peer went away (or answered our FIN) */
                        return;
                }
                if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
                        consume(ws, c, ws->rbuf, (size_t) n);
        }
}

static void adopt(kb_ws *ws, ws_conn *c) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
        int fl = fcntl(c->fd, F_GETFL);
        if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
                MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
                conn_free(c);
                return;
        }
        list_push(&ws->conns, c);
        ws->n_conns++;
        /* Bytes the client sent right behind its request (held by c->out
         * until now, see kb_ws_adopt). */
        uint8_t *extra = TAKE_PTR(c->out);
        size_t n = c->out_len;
        c->out_len = 0;
        if (n)
                consume(ws, c, extra, n);
        free(extra);
}

static void close_server(kb_ws *ws, kb_server *s, uint16_t code) {
        for (ws_conn *c = ws->conns, *next; c; c = next) {
                next = c->next;
                if (c->server != s)
                        continue;
                kb_ws_close(ws, c, code, NULL);
                finish(ws, c);
        }
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
                case IN_CLOSE_SERVER:
                        close_server(ws, it->server, it->code);
                        pthread_mutex_lock(&ws->lock);
                        ws->closed_seq++;
                        pthread_cond_broadcast(&ws->done);
                        pthread_mutex_unlock(&ws->lock);
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
                                finish(ws, c);
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
        int64_t next_sweep = kb_ws_now_ms() + 1000;

        while (!stopping(ws)) {
                int64_t now = kb_ws_now_ms();
                int n = epoll_wait(ws->epfd, evs, 64, (int) (next_sweep > now ? next_sweep - now : 0));
                for (int i = 0; i < n; i++) {
                        ws_conn *c = evs[i].data.ptr;
                        if (!c) {
                                take_inbox(ws);
                                continue;
                        }
                        if (c->state == CONN_DEAD)
                                continue;       /* finished earlier in this round */
                        if (evs[i].events & EPOLLOUT)
                                flush(ws, c);
                        if (c->state != CONN_DEAD && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                                on_readable(ws, c);
                }
                now = kb_ws_now_ms();
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
        pthread_cond_init(&ws->done, NULL);
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
                        MHD_upgrade_action(it->conn->urh, MHD_UPGRADE_ACTION_CLOSE);
                        conn_free(it->conn);
                } else if (it->kind == IN_JOB_DONE) {
                        kb_ws_job_discard(it->job);
                }
                json_decref(it->json);
                free(it);
        }
        while (ws->conns) {
                ws_conn *c = ws->conns;
                kb_ws_close(ws, c, KB_WS_CLOSE_GOING_AWAY, "keybridged is stopping");
                finish(ws, c);
        }
        while (ws->zombies) {
                ws_conn *c = ws->zombies;
                list_remove(&ws->zombies, c);
                conn_free(c);
        }
        if (ws->epfd >= 0)
                close(ws->epfd);
        if (ws->wakefd >= 0)
                close(ws->wakefd);
        pthread_cond_destroy(&ws->done);
        pthread_mutex_destroy(&ws->lock);
        free(ws);
}

void kb_ws_adopt(kb_ws *ws, kb_server *s, int fd, struct MHD_UpgradeResponseHandle *urh,
                 const char *extra, size_t extra_len, const char *origin, bool zh) {
        ws_conn *c = calloc(1, sizeof(*c));
        inbox_item *it = calloc(1, sizeof(*it));
        const kb_config *cfg = &ws->daemon->config;

        if (c && origin)
                c->origin = strdup(origin);
        if (c && extra_len) {
                c->out = malloc(extra_len); /* carried to the event thread in out */
                if (c->out)
                        memcpy(c->out, extra, extra_len);
                c->out_len = c->out ? extra_len : 0;
        }
        if (!c || !it || (origin && !c->origin) || (extra_len && !c->out)) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                if (c)
                        conn_free(c);
                free(it);
                return;
        }
        c->server = s;
        c->urh = urh;
        c->fd = fd;
        c->zh = zh;
        c->tls = cfg->tls;
        c->last_rx_ms = kb_ws_now_ms();
        kb_ws_parser_init(&c->parser, (uint32_t) cfg->max_body, (uint32_t) cfg->max_body);
        *it = (inbox_item) { .kind = IN_ADOPT, .conn = c };
        kb_ws_post(ws, it);
}

void kb_ws_close_server(kb_ws *ws, kb_server *s, uint16_t code) {
        inbox_item *it = calloc(1, sizeof(*it));
        if (!ws || !ws->running || !it) {
                free(it);
                return;
        }
        *it = (inbox_item) { .kind = IN_CLOSE_SERVER, .server = s, .code = code };
        pthread_mutex_lock(&ws->lock);
        unsigned want = ++ws->close_seq;
        pthread_mutex_unlock(&ws->lock);
        kb_ws_post(ws, it);
        pthread_mutex_lock(&ws->lock);
        while (ws->closed_seq < want)
                pthread_cond_wait(&ws->done, &ws->lock);
        pthread_mutex_unlock(&ws->lock);
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
