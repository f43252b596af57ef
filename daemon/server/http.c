/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmicrohttpd front end: the gate first, then the method table. Read
 * methods answer from the token cache on the event loop; methods that use a
 * token (or show a dialog) run on job threads while their connection is
 * suspended, so the event loop never waits for a token or the user.
 */
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "kb-cleanup.h"
#include "kb-ws-frame.h"
#include "log.h"
#include "peer.h"
#include "https.h"
#include "jobs.h"
#include "ws.h"

/* libmicrohttpd's memory pool per connection: request line, headers (and a
 * parsed copy of any Cookie header) and our response headers. It lives as
 * long as the connection, an upgraded WebSocket's included, and about half of
 * it stays resident: 16 KiB keeps an idle WebSocket under 16 KiB in all
 * (docs/performance.md). Browsers send 1–3 KiB here; Node.js's own default
 * header limit is 16 KiB too. */
#define HEADER_MEMORY_LIMIT (16 * 1024)
#define PREFLIGHT_MAX_AGE "600"

typedef struct request {
        kb_gate_verdict verdict;
        char origin[512];               /* copy: verdict.allow_origin points here */
        bool zh;
        bool too_large;
        size_t max_body;                /* from the policy the gate used */
        char *body;
        size_t body_len;
        /* A method that uses a token runs on a job thread while the connection
         * is suspended; the event loop never waits for a token or a dialog. */
        kb_server *server;
        struct MHD_Connection *conn;
        const kb_method *method;
        kb_call call;
        json_t *params;
        json_t *result;
        int job_ret;
        bool job_done;
} request;

#define WS_PATH "/v1/ws"

static const char *header(struct MHD_Connection *c, const char *name) {
        return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static void add_common_headers(struct MHD_Response *r, const request *rq) {
        MHD_add_response_header(r, "Cache-Control", "no-store");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "Vary", "Origin");
        MHD_add_response_header(r, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        if (rq->verdict.allow_origin)
                MHD_add_response_header(r, "Access-Control-Allow-Origin", rq->verdict.allow_origin);
}

/* Queue text as the JSON answer, with one more header when name is given;
 * release(text) once it is sent (or now, on failure). */
static enum MHD_Result queue_json(struct MHD_Connection *c, const request *rq, unsigned status, char *text,
                                  size_t len, void (*release)(void *), const char *name, const char *value) {
        if (!text)
                return MHD_NO;
        struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, release);
        if (!r) {
                release(text);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
        if (name)
                MHD_add_response_header(r, name, value);
        add_common_headers(r, rq);
        enum MHD_Result ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

/* body as the answer, with the header name: value when name is given. */
static enum MHD_Result send_json_with(struct MHD_Connection *c, const request *rq, unsigned status, json_t *body,
                                      const char *name, const char *value) {
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        return queue_json(c, rq, status, text, text ? strlen(text) : 0, free, name, value);
}

/* libmicrohttpd frees the body with this: it held plaintexts. */
static void wipe_free(void *text) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
}

/* A result with plaintexts (kb_method.secret_result): the JSON and its text
 * are wiped once the answer is sent. */
static enum MHD_Result send_secret_json(struct MHD_Connection *c, const request *rq, json_t *body) {
        size_t len = 0;
        char *text = kb_json_dumps_secret(body, &len);
        return queue_json(c, rq, MHD_HTTP_OK, text, len, wipe_free, NULL, NULL);
}

static enum MHD_Result send_json(struct MHD_Connection *c, const request *rq, unsigned status, json_t *body) {
        return send_json_with(c, rq, status, body, NULL, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *c, const request *rq, kb_error e, const kb_call *call) {
        return send_json(c, rq, (unsigned) kb_error_http_status(e), kb_error_json(e, rq->zh, call));
}

/* 405 names the methods the path does take (RFC 9110 requires Allow). */
static enum MHD_Result send_method_not_allowed(struct MHD_Connection *c, const request *rq, const char *url) {
        json_t *params = NULL;
        kb_error e;
        bool get = kb_route(KB_HTTP_GET, url, &params, &e) != NULL;
        json_decref(params);
        params = NULL;
        bool post = kb_route(KB_HTTP_POST, url, &params, &e) != NULL;
        json_decref(params);
        const char *allow = get == post ? "GET, POST, OPTIONS" : get ? "GET, OPTIONS" : "POST, OPTIONS";
        return send_json_with(c, rq, (unsigned) kb_error_http_status(KB_E_METHOD_NOT_ALLOWED),
                              kb_error_json(KB_E_METHOD_NOT_ALLOWED, rq->zh, NULL), "Allow", allow);
}

static enum MHD_Result send_preflight(struct MHD_Connection *c, const request *rq) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        add_common_headers(r, rq);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type, Authorization");
        MHD_add_response_header(r, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
        if (rq->verdict.allow_private_network)
                MHD_add_response_header(r, "Access-Control-Allow-Private-Network", "true");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
        MHD_destroy_response(r);
        return ret;
}

/* Should this refusal be logged? A hostile page can cause any number. */
static bool refusal_log_allowed(kb_daemon *d) {
        time_t now = time(NULL);
        unsigned suppressed = 0;
        bool allowed;

        pthread_mutex_lock(&d->refusal_lock);
        if (now - d->refusal_window >= 60) {
                suppressed = d->refusals_suppressed;
                d->refusal_window = now;
                d->refusals_logged = d->refusals_suppressed = 0;
        }
        allowed = d->refusals_logged < KB_REFUSAL_LOG_BURST;
        if (allowed)
                d->refusals_logged++;
        else
                d->refusals_suppressed++;
        pthread_mutex_unlock(&d->refusal_lock);
        if (suppressed)
                kb_log(LOG_NOTICE, NULL, "%u more refused requests were not logged", suppressed);
        return allowed;
}

static void log_refusal(kb_daemon *d, const request *rq, struct MHD_Connection *c, const char *url) {
        if (!refusal_log_allowed(d))
                return;
        kb_log_fields f = {
                .message_id = KB_MSGID_GATE_REFUSED,
                .origin = header(c, MHD_HTTP_HEADER_ORIGIN),
                .code = kb_error_code(rq->verdict.error),
        };
        kb_log(LOG_NOTICE, &f, "refused %s: %s", url, kb_error_code(rq->verdict.error));
}

/* First call for a request: the gate, before any body is read. */
static request *admit(kb_server *s, struct MHD_Connection *c, const char *method, const char *url) {
        request *rq = calloc(1, sizeof(*rq));
        if (!rq)
                return NULL;
        const char *origin = header(c, MHD_HTTP_HEADER_ORIGIN);
        kb_gate_request g = {
                .method = method,
                .host = header(c, MHD_HTTP_HEADER_HOST),
                .origin = origin,
                .authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION),
                .content_type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
                .content_length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH),
                .acr_private_network = header(c, "Access-Control-Request-Private-Network"),
                .port = s->listener->port,
                .path = url,
        };
        rq->zh = kb_prefers_chinese(header(c, MHD_HTTP_HEADER_ACCEPT_LANGUAGE));
        pthread_rwlock_rdlock(&s->daemon->policy_lock);
        kb_gate_check(s->daemon->policy, &g, &rq->verdict);
        rq->max_body = s->daemon->policy->max_body;
        pthread_rwlock_unlock(&s->daemon->policy_lock);
        if (rq->verdict.allow_origin) {
                snprintf(rq->origin, sizeof(rq->origin), "%s", origin);
                rq->verdict.allow_origin = rq->origin;
        }
        return rq;
}

static enum MHD_Result add_query_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        json_t *params = cls;
        if (key && value && !json_object_get(params, key))
                json_object_set_new(params, key, json_string(value));
        return MHD_YES;
}

/* POST bodies are a JSON object; path parameters win over body members. */
static int merge_body(request *rq, json_t *params, kb_call *call) {
        if (rq->body_len == 0)
                return 0;
        json_error_t jerr;
        json_t *body = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
        /* The body may hold a page PIN (page_pin origins): wipe the raw copy. */
        OPENSSL_cleanse(rq->body, rq->body_len);
        if (!json_is_object(body)) {
                json_decref(body);
                snprintf(call->error_field, sizeof(call->error_field), "%s", "body");
                return -KB_E_BAD_REQUEST;
        }
        json_object_update_missing(params, body);
        json_decref(body);
        return 0;
}

static enum MHD_Result respond(struct MHD_Connection *c, request *rq, int r) {
        enum MHD_Result ret = r < 0                       ? send_error(c, rq, kb_error_from_ret(r), &rq->call)
                              : rq->method->secret_result ? send_secret_json(c, rq, TAKE_PTR(rq->result))
                                                          : send_json(c, rq, MHD_HTTP_OK, TAKE_PTR(rq->result));
        json_decref(TAKE_PTR(rq->params));
        json_decref(TAKE_PTR(rq->call.error_details));
        return ret;
}

static void run_job(void *arg) {
        request *rq = arg;
        kb_daemon *d = rq->server->daemon;
        rq->job_ret = kb_service_call(&d->service, rq->method, &rq->call, &rq->result);
        kb_jobs_finishing(d);
        pthread_mutex_lock(&d->jobs_lock);
        rq->job_done = true;
        /* Last touch of rq: once resumed, the event loop may answer and free
         * it. The job counts as running until this returns, so the daemon
         * stops only after the resume. */
        MHD_resume_connection(rq->conn);
        kb_daemon_kick(d);
        pthread_mutex_unlock(&d->jobs_lock);
        kb_jobs_ended(d);
}

static int start_job(kb_server *s, struct MHD_Connection *c, request *rq) {
        rq->server = s;
        rq->conn = c;
        MHD_suspend_connection(c); /* before the job can resume it */
        int r = kb_jobs_submit(s->daemon, run_job, rq);
        if (r < 0)
                MHD_resume_connection(c);
        return r;
}

static enum MHD_Result dispatch(kb_server *s, struct MHD_Connection *c, request *rq,
                                const char *url, const char *method) {
        kb_error e;

        if (rq->job_done)
                return respond(c, rq, rq->job_ret);
        rq->call.origin = rq->verdict.allow_origin;
        rq->method = kb_route(strcmp(method, "POST") == 0 ? KB_HTTP_POST : KB_HTTP_GET, url, &rq->params, &e);
        if (!rq->method)
                return e == KB_E_METHOD_NOT_ALLOWED ? send_method_not_allowed(c, rq, url) : send_error(c, rq, e, NULL);
        if (rq->verdict.approval_only && strcmp(rq->method->name, "origin.approve") != 0)
                return send_error(c, rq, KB_E_ORIGIN_NOT_ALLOWED, NULL); /* the gate's exception is one method */
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query_param, rq->params);
        rq->call.params = rq->params;
        int r = merge_body(rq, rq->params, &rq->call);
        if (r >= 0 && rq->method->uses_token) {
                r = start_job(s, c, rq);
                if (r >= 0)
                        return MHD_YES;
        }
        if (r >= 0)
                r = kb_service_call(&s->daemon->service, rq->method, &rq->call, &rq->result);
        return respond(c, rq, r);
}

static bool append_body(request *rq, const char *data, size_t len, size_t max) {
        if (rq->too_large || len > max - rq->body_len) {
                rq->too_large = true;
                return false;
        }
        char *n = realloc(rq->body, rq->body_len + len);
        if (!n)
                return false;
        memcpy(n + rq->body_len, data, len);
        rq->body = n;
        rq->body_len += len;
        return true;
}

/* Before the first token scan finished, park the request instead of waiting
 * on this (event loop) thread; kb_http_mark_ready() resumes it. */
static bool park_until_ready(kb_daemon *d, struct MHD_Connection *c) {
        if (atomic_load(&d->ready))
                return false;
        pthread_mutex_lock(&d->park_lock);
        bool park = !atomic_load(&d->ready);
        if (park && d->n_parked == d->cap_parked) {
                size_t cap = d->cap_parked ? 2 * d->cap_parked : 16;
                struct MHD_Connection **n = realloc(d->parked, cap * sizeof(*n));
                if (n) {
                        d->parked = n;
                        d->cap_parked = cap;
                }
                park = n != NULL;
        }
        if (park) {
                d->parked[d->n_parked++] = c;
                MHD_suspend_connection(c);
        }
        pthread_mutex_unlock(&d->park_lock);
        return park;
}

void kb_http_mark_ready(kb_daemon *d) {
        pthread_mutex_lock(&d->park_lock);
        atomic_store(&d->ready, true);
        for (size_t i = 0; i < d->n_parked; i++)
                MHD_resume_connection(d->parked[i]);
        kb_daemon_kick(d);
        free(d->parked);
        d->parked = NULL;
        d->n_parked = d->cap_parked = 0;
        pthread_mutex_unlock(&d->park_lock);
}

/* Is token one of the comma-separated items of a header (any case)? */
static bool header_has_token(const char *value, const char *token) {
        size_t tl = strlen(token);
        while (value && *value) {
                value += strspn(value, " \t,");
                size_t len = strcspn(value, ",");
                size_t end = len;
                while (end > 0 && (value[end - 1] == ' ' || value[end - 1] == '\t'))
                        end--;
                if (end == tl && strncasecmp(value, token, tl) == 0)
                        return true;
                value += len;
        }
        return false;
}

/* libmicrohttpd's thread, the 101 is out: the event thread takes over. In
 * TLS mode sock is the socketpair end the front delivered: the front hands
 * over the client socket and its TLS session instead, and the event thread
 * closes the socketpair, so a WSS connection costs one socket and no relay. */
static void on_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
        kb_server *s = cls;
        const request *rq = con_cls;
        (void) c;
        kb_ws_socket ws_sock = { .fd = sock, .urh = urh, .tls = { .fd = -1 } };
        if (s->daemon->front && kb_tls_front_detach(s->daemon->front, sock, &ws_sock.tls) < 0) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                return;
        }
        /* Frames are whole messages: send each at once (libmicrohttpd
         * 0.9.75 turns Nagle back on at the upgrade). */
        int one = 1;
        (void) setsockopt(ws_sock.tls.ssl ? ws_sock.tls.fd : sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* The origin the gate let through, fixed for the connection's life. */
        pthread_mutex_lock(&s->daemon->ws_lock);
        if (s->daemon->ws) {
                kb_ws_adopt(s->daemon->ws, s, &ws_sock, extra_in, extra_in_size,
                            rq ? rq->verdict.allow_origin : NULL, rq && rq->zh);
        } else {
                kb_tls_stream_clear(&ws_sock.tls);
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);      /* stopping */
        }
        pthread_mutex_unlock(&s->daemon->ws_lock);
}

static enum MHD_Result send_ws_refusal(struct MHD_Connection *c, const request *rq, const char *field,
                                       bool version) {
        kb_call call = { 0 };
        snprintf(call.error_field, sizeof(call.error_field), "%s", field);
        /* RFC 6455 §4.4: an unsupported version gets 426 and the one we speak. */
        return send_json_with(c, rq, version ? 426 : MHD_HTTP_BAD_REQUEST, kb_error_json(KB_E_BAD_REQUEST, rq->zh, &call),
                              version ? "Sec-WebSocket-Version" : NULL, "13");
}

/* GET /v1/ws: the gate has passed (Host, Origin or bearer token); now the
 * RFC 6455 handshake. */
static enum MHD_Result upgrade(kb_server *s, struct MHD_Connection *c, request *rq, const char *method) {
        char accept[KB_WS_ACCEPT_LEN + 1];

        if (strcmp(method, "GET") != 0)
                return send_json_with(c, rq, (unsigned) kb_error_http_status(KB_E_METHOD_NOT_ALLOWED),
                                      kb_error_json(KB_E_METHOD_NOT_ALLOWED, rq->zh, NULL), "Allow", "GET, OPTIONS");
        if (!header_has_token(header(c, "Upgrade"), "websocket"))
                return send_ws_refusal(c, rq, "Upgrade", false);
        if (!header_has_token(header(c, MHD_HTTP_HEADER_CONNECTION), "upgrade"))
                return send_ws_refusal(c, rq, "Connection", false);
        const char *version = header(c, "Sec-WebSocket-Version");
        if (!version || strcmp(version, "13") != 0)
                return send_ws_refusal(c, rq, "Sec-WebSocket-Version", true);
        if (!kb_ws_accept_key(header(c, "Sec-WebSocket-Key"), accept))
                return send_ws_refusal(c, rq, "Sec-WebSocket-Key", false);
        struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgraded, s);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
        MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
        MHD_add_response_header(r, "Cache-Control", "no-store");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        kb_server *s = cls;
        request *rq = *con_cls;

        if (!rq) {
                rq = *con_cls = admit(s, c, method, url);
                if (!rq)
                        return MHD_NO;
                if (rq->verdict.error == KB_E_METHOD_NOT_ALLOWED)
                        return send_method_not_allowed(c, rq, url);
                if (rq->verdict.error != KB_E_OK) {
                        log_refusal(s->daemon, rq, c, url);
                        return send_error(c, rq, rq->verdict.error, NULL);
                }
                if (rq->verdict.preflight)
                        return send_preflight(c, rq);
                return MHD_YES; /* come back with the body */
        }
        if (*upload_data_size > 0) {
                append_body(rq, upload_data, *upload_data_size, rq->max_body);
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (rq->too_large)
                return send_error(c, rq, KB_E_PAYLOAD_TOO_LARGE, NULL);
        if (park_until_ready(s->daemon, c))
                return MHD_YES;
        if (strcmp(url, WS_PATH) == 0)
                return upgrade(s, c, rq, method);
        return dispatch(s, c, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        request *rq = *con_cls;
        if (!rq)
                return;
        free(rq->body);
        json_decref(rq->params);
        kb_json_wipe(rq->result);        /* never answered: it may hold plaintexts */
        json_decref(rq->result);
        json_decref(rq->call.error_details);
        free(rq);
        *con_cls = NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
        return kb_http_peer_allowed(cls, addr, addrlen) ? MHD_YES : MHD_NO;
}

/* In TLS mode libmicrohttpd's connections are socketpair ends, where its
 * TCP socket options (Nagle, corking) cannot apply: it says so for every
 * connection. Those lines say nothing about the real (TCP) socket. */
static bool socketpair_noise(const kb_server *s, const char *fmt) {
        return s->daemon->front && (strncmp(fmt, "Setting %s option to %s state failed", 36) == 0 ||
                                    strncmp(fmt, "Failed to push the data from buffers", 36) == 0);
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        if (socketpair_noise(cls, fmt))
                return;
        char buf[512];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        kb_log(LOG_INFO, NULL, "http: %s", buf);
}

/* The configured limit is for the daemon, not for each listener. */
static unsigned per_listener_limit(const kb_daemon *d) {
        unsigned n = d->n_listeners ? (unsigned) d->n_listeners : 1;
        unsigned limit = d->config.max_connections / n;
        return limit < 8 ? 8 : limit;
}

/* Plain mode: the server accepts on its listener, on its own thread. TLS
 * mode: it has neither; the TLS front hands it plain connections and runs
 * it in its event loop (https.c). */
static struct MHD_Daemon *start_one(kb_daemon *d, kb_server *s) {
        /* ITC: a connection resumed from a job thread wakes the server. */
        unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_ALLOW_UPGRADE;
        const kb_config *c = &d->config;
        struct MHD_OptionItem listen_opts[] = {
                { MHD_OPTION_LISTEN_SOCKET, s->listener->fd, NULL },
                { MHD_OPTION_END, 0, NULL },
        };
        flags |= c->tls ? MHD_USE_NO_LISTEN_SOCKET : MHD_USE_INTERNAL_POLLING_THREAD;
        return MHD_start_daemon(flags, 0, c->tls ? NULL : on_accept, s, on_request, s,
                                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, /* first, to catch all */
                                MHD_OPTION_CONNECTION_LIMIT, per_listener_limit(d),
                                MHD_OPTION_CONNECTION_TIMEOUT, c->idle_timeout,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HEADER_MEMORY_LIMIT,
                                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                MHD_OPTION_ARRAY, c->tls ? &listen_opts[1] : listen_opts,
                                MHD_OPTION_END);
}

int kb_http_start(kb_daemon *d, char *err, size_t errlen) {
        kb_ws *ws = NULL;
        int r = kb_ws_new(d, &ws);
        pthread_mutex_lock(&d->ws_lock);
        d->ws = ws;
        pthread_mutex_unlock(&d->ws_lock);
        if (r < 0) {
                snprintf(err, errlen, "cannot start the WebSocket event thread");
                return -1;
        }
        for (size_t i = 0; i < d->n_listeners; i++) {
                kb_server *s = &d->servers[i];
                *s = (kb_server) { .daemon = d, .listener = &d->listeners[i] };
                s->mhd = start_one(d, s);
                if (!s->mhd) {
                        snprintf(err, errlen, "cannot start the HTTP server on %s", d->listeners[i].name);
                        kb_http_stop(d);
                        return -1;
                }
        }
        if (d->config.tls && kb_https_start(d, err, errlen) < 0) {
                kb_http_stop(d);
                return -1;
        }
        return 0;
}

int kb_http_new_leaf(kb_daemon *d, char *err, size_t errlen) {
        return d->front ? kb_https_rotate(d, err, errlen) : 0;
}

void kb_http_stop(kb_daemon *d) {
        /* Let running token operations finish (a token write must complete);
         * WebSockets start no new ones meanwhile. */
        kb_ws_stop(d->ws);
        kb_jobs_stop(d);
        pthread_mutex_lock(&d->ws_lock);
        kb_ws *ws = TAKE_PTR(d->ws);
        pthread_mutex_unlock(&d->ws_lock);
        kb_ws_free(ws);                 /* closes them before their servers stop */
        kb_https_stop(d);               /* ends the relays: the servers see their clients leave */
        for (size_t i = 0; i < d->n_listeners; i++)
                if (d->servers[i].mhd) {
                        MHD_stop_daemon(d->servers[i].mhd);
                        d->servers[i].mhd = NULL;
                }
}
