/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One WebSocket connection's way out: frames queued and written as the
 * socket takes them, the close handshake, the end of the connection (the
 * socket given back to libmicrohttpd), and the inbox other threads post to.
 * Below both the event loop (ws.c) and the calls (ws-call.c); it calls
 * neither. Event thread only, but kb_ws_post.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws-internal.h"

static void free_out(ws_conn *c) {
        if (c->out)
                OPENSSL_clear_free(c->out, c->out_len);
}

#define CLOSE_WAIT_MS 2000              /* for the peer's close frame, or our output */
#define MAX_OUT (8 * 1024 * 1024)       /* unread output before we give up on a peer */

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

void kb_ws_list_remove(ws_conn **head, ws_conn *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                *head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}

void kb_ws_list_push(ws_conn **head, ws_conn *c) {
        c->prev = NULL;
        c->next = *head;
        if (*head)
                (*head)->prev = c;
        *head = c;
}

void kb_ws_conn_free(ws_conn *c) {
        kb_ws_parser_clear(&c->parser);
        if (c->in)
                OPENSSL_cleanse(c->in, c->in_len);
        free(c->in);
        free_out(c);
        free(c->origin);
        free(c);
}

/* Give the socket back to libmicrohttpd; the struct lives on while jobs run. */
void kb_ws_finish(kb_ws *ws, ws_conn *c) {
        if (c->state == CONN_DEAD)
                return;
        epoll_ctl(ws->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        kb_ws_io_close(c);
        c->state = CONN_DEAD;
        kb_ws_parser_clear(&c->parser);
        free_out(c);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        kb_ws_list_remove(&ws->conns, c);
        kb_ws_list_push(&ws->zombies, c);
        ws->n_conns--;
}

void kb_ws_watch(kb_ws *ws, ws_conn *c) {
        /* While a TLS read must write first, only writability helps. */
        uint32_t events = c->read_wants_write ? EPOLLOUT : EPOLLIN | EPOLLRDHUP | (c->want_out ? EPOLLOUT : 0);
        struct epoll_event ev = { .events = events, .data.ptr = c };
        epoll_ctl(ws->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void want_out(kb_ws *ws, ws_conn *c, bool on) {
        if (c->want_out == on)
                return;
        c->want_out = on;
        kb_ws_watch(ws, c);
}

/* Write what we can; the buffer goes when it is empty (idle costs nothing). */
void kb_ws_flush(kb_ws *ws, ws_conn *c) {
        while (c->out_off < c->out_len) {
                ssize_t n = kb_ws_io_send(c, c->out + c->out_off, c->out_len - c->out_off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        want_out(ws, c, true);
                        return;
                }
                if (n <= 0) {
                        kb_ws_finish(ws, c);
                        return;
                }
                c->out_off += (size_t) n;
        }
        free_out(c);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        want_out(ws, c, false);
        if (c->state == CONN_FLUSHING) {
                /* Our FIN (after close_notify in TLS mode) follows the close
                 * frame; the peer's EOF ends it (closing with its bytes
                 * unread would reset the connection and could lose the close
                 * frame on its side). */
                kb_ws_io_shut(c);
                c->state = CONN_LINGER;
                c->deadline_ms = kb_now_ms() + CLOSE_WAIT_MS;
        }
}

void kb_ws_send(kb_ws *ws, ws_conn *c, uint8_t opcode, const void *data, size_t len) {
        uint8_t hdr[10];
        if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
                return;
        size_t hl = kb_ws_header(hdr, opcode, len), pending = c->out_len - c->out_off;
        if (len > MAX_OUT - hl || pending > MAX_OUT - hl - len) {
                kb_ws_finish(ws, c);          /* the peer does not read: drop it */
                return;
        }
        uint8_t *n = malloc(pending + hl + len);
        if (!n) {
                kb_ws_finish(ws, c);
                return;
        }
        if (pending)
                memcpy(n, c->out + c->out_off, pending);
        memcpy(n + pending, hdr, hl);
        if (len)
                memcpy(n + pending + hl, data, len);
        free_out(c);
        c->out = n;
        c->out_len = pending + hl + len;
        c->out_off = 0;
        kb_ws_flush(ws, c);
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

/* The "result" of a response, or of each response of a batch. */
void kb_ws_wipe_results(json_t *msg) {
        size_t i;
        json_t *r;
        if (!json_is_array(msg)) {
                kb_json_wipe(json_object_get(msg, "result"));
                return;
        }
        json_array_foreach(msg, i, r)
                kb_json_wipe(json_object_get(r, "result"));
}

/* A response with plaintexts (decrypt): its results and its text are wiped
 * once queued; the queue's buffers are wiped whenever they are let go. */
void kb_ws_send_secret_json(kb_ws *ws, ws_conn *c, json_t *msg) {
        size_t len = 0;
        char *text = kb_json_dumps_exact(msg, &len);
        kb_ws_wipe_results(msg);
        json_decref(msg);
        if (!text) {
                kb_ws_fail(ws, c, KB_WS_CLOSE_INTERNAL, NULL);
                return;
        }
        kb_ws_send(ws, c, KB_WS_OP_TEXT, text, len);
        OPENSSL_clear_free(text, len);
}

void kb_ws_close(kb_ws *ws, ws_conn *c, uint16_t code, const char *reason) {
        uint8_t p[KB_WS_MAX_CONTROL];
        if (c->state != CONN_OPEN)
                return;
        kb_ws_send(ws, c, KB_WS_OP_CLOSE, p, kb_ws_close_payload(p, code, reason));
        if (c->state == CONN_OPEN) {
                c->state = CONN_CLOSING;
                c->deadline_ms = kb_now_ms() + CLOSE_WAIT_MS;
        }
}

/* Nothing more to send after what is queued. */
void kb_ws_last_frame_sent(kb_ws *ws, ws_conn *c) {
        if (c->state == CONN_DEAD)
                return;
        c->state = CONN_FLUSHING;
        c->deadline_ms = kb_now_ms() + CLOSE_WAIT_MS;
        kb_ws_flush(ws, c);
}

void kb_ws_fail(kb_ws *ws, ws_conn *c, uint16_t code, const char *reason) {
        uint8_t p[KB_WS_MAX_CONTROL];
        if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
                return;
        if (c->state == CONN_OPEN)
                kb_ws_send(ws, c, KB_WS_OP_CLOSE, p, kb_ws_close_payload(p, code, reason));
        kb_ws_last_frame_sent(ws, c);
}

