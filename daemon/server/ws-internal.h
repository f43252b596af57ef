/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by ws.c (the event loop), ws-call.c (JSON-RPC calls, jobs,
 * notifications) and ws-conn.c (a connection's output and close), which
 * call one way: ws.c -> ws-call.c -> ws-conn.c. Everything here runs on the event thread unless it
 * says otherwise. */
#pragma once

#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/types.h>

#include "daemon.h"
#include "kb-clock.h"
#include "kb-ws-frame.h"
#include "ws.h"

typedef enum conn_state {
        CONN_OPEN,
        CONN_CLOSING,           /* our close frame is out; waiting for the peer's */
        CONN_FLUSHING,          /* the last frame is queued: once written, shut our side */
        CONN_LINGER,            /* our side is shut: discard input until the peer's EOF */
        CONN_DEAD,              /* socket given back; kept until its jobs end */
} conn_state;

typedef struct ws_conn {
        struct ws_conn *prev, *next;
        struct kb_server *server;
        /* Plain mode: the upgraded socket, given back to libmicrohttpd at the
         * end. TLS mode: the client socket and its session from the front;
         * urh only until the event thread adopts it, which tells
         * libmicrohttpd to close its socketpair end. */
        struct MHD_UpgradeResponseHandle *urh;
        int fd;
        SSL *ssl;
        conn_state state;
        bool zh;
        bool want_out;          /* EPOLLOUT registered */
        bool read_wants_write;  /* TLS: the last read must write first (a key update) */
        uint8_t topics;         /* subscribed kb_ws_topic bits */
        unsigned jobs;          /* calls running on job threads */
        int64_t last_rx_ms;     /* the last byte from the peer */
        int64_t ping_ms;        /* when we pinged and nothing came since, 0: none */
        int64_t deadline_ms;    /* CLOSING, FLUSHING, LINGER: give up waiting then */
        char *origin;           /* fixed at the upgrade; NULL: a local tool */
        uint8_t *out;           /* frames not yet written */
        size_t out_len, out_off;
        uint8_t *in;            /* until adopted: bytes that came behind the request */
        size_t in_len;
        kb_ws_parser parser;
} ws_conn;

/* One batch of calls answered together. */
typedef struct ws_batch {
        json_t *responses;
        unsigned pending;
        bool secret;            /* a response holds plaintexts: wipe the results */
} ws_batch;

typedef enum inbox_kind {
        IN_ADOPT,
        IN_JOB_DONE,
        IN_PROGRESS,
        IN_EVENT,
} inbox_kind;

struct ws_job;

typedef struct inbox_item {
        struct inbox_item *next;
        inbox_kind kind;
        ws_conn *conn;          /* ADOPT, PROGRESS */
        struct ws_job *job;     /* JOB_DONE */
        json_t *json;           /* PROGRESS, EVENT: the params */
        kb_ws_topic topic;      /* EVENT */
} inbox_item;

struct kb_ws {
        kb_daemon *daemon;
        int epfd, wakefd;
        pthread_t thread;
        bool running;
        pthread_mutex_t lock;   /* guards inbox, stop */
        inbox_item *inbox, **inbox_tail;
        bool stop;
        ws_conn *conns;         /* open and closing, event thread only */
        ws_conn *zombies;       /* dead, waiting for jobs */
        _Atomic size_t n_conns;
        uint8_t rbuf[64 * 1024];
};

/* ---- ws-io.c: the bytes on the wire, plain or TLS ---- */
ssize_t kb_ws_io_recv(ws_conn *c, void *buf, size_t len);
ssize_t kb_ws_io_send(ws_conn *c, const void *buf, size_t len);
/* Read bytes wait inside the TLS session (epoll will not say so). */
bool kb_ws_io_has_pending(const ws_conn *c);
/* Our side is done: close_notify (TLS), then FIN. */
void kb_ws_io_shut(ws_conn *c);
/* Close the socket (plain mode: give it back to libmicrohttpd). */
void kb_ws_io_close(ws_conn *c);

/* ---- ws-conn.c: a connection's output and close; calls neither ws.c nor ws-call.c ---- */
void kb_ws_list_remove(ws_conn **head, ws_conn *c);
void kb_ws_list_push(ws_conn **head, ws_conn *c);
void kb_ws_conn_free(ws_conn *c);
/* Give the socket back to libmicrohttpd; the struct lives on (a zombie)
 * while jobs run. */
void kb_ws_finish(kb_ws *ws, ws_conn *c);
/* Register the events the connection waits for now. */
void kb_ws_watch(kb_ws *ws, ws_conn *c);
/* Write what the socket takes; the buffer goes when it is empty. */
void kb_ws_flush(kb_ws *ws, ws_conn *c);
/* Nothing more to send after what is queued: flush, then end. */
void kb_ws_last_frame_sent(kb_ws *ws, ws_conn *c);
/* Queue a server frame and try to write it. */
void kb_ws_send(kb_ws *ws, ws_conn *c, uint8_t opcode, const void *data, size_t len);
/* Serialize and send a JSON message (steals it). */
void kb_ws_send_json(kb_ws *ws, ws_conn *c, json_t *msg);
/* The same for a response (or batch) that holds plaintexts (kb_method.secret_result). */
void kb_ws_send_secret_json(kb_ws *ws, ws_conn *c, json_t *msg);
void kb_ws_wipe_results(json_t *msg);
/* Start the close handshake with code and wait for the peer's close frame
 * (messages that still come are dropped). */
void kb_ws_close(kb_ws *ws, ws_conn *c, uint16_t code, const char *reason);
/* Fail the connection (RFC 6455 §7.1.7): a close frame with code, then the
 * end of the connection without waiting for the peer's. */
void kb_ws_fail(kb_ws *ws, ws_conn *c, uint16_t code, const char *reason);
/* Queue an item for the event thread (any thread). */
void kb_ws_post(kb_ws *ws, inbox_item *item);

/* ---- ws-call.c: JSON-RPC calls, jobs, notifications (the event loop calls these) ---- */
void kb_ws_on_message(kb_ws *ws, ws_conn *c, uint8_t *text, size_t len);
void kb_ws_job_done(kb_ws *ws, struct ws_job *job);
void kb_ws_progress(kb_ws *ws, ws_conn *c, json_t *params);
void kb_ws_fan_out(kb_ws *ws, kb_ws_topic topic, json_t *params);
/* Free a job that will not be answered (shutdown). */
void kb_ws_job_discard(struct ws_job *job);
