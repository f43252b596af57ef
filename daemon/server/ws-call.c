/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON-RPC calls on a WebSocket: each request goes through the method table
 * like a REST request (same params, same results, same errors). Methods that
 * use a token run on job threads; the event thread sends their answers,
 * together when they came in one batch. Also the notifications: token events
 * to subscribed connections, operation.progress to the connection that asked.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kb-cleanup.h"
#include "jobs.h"
#include "ws-internal.h"
#include "ws-rpc.h"

#define MAX_JOBS_PER_CONN 8

typedef struct ws_job {
        kb_ws *ws;
        ws_conn *conn;
        ws_batch *batch;        /* NULL: a single request */
        const kb_method *method;
        json_t *id;             /* NULL: a notification (no answer) */
        json_t *params;
        kb_call call;
        json_t *result;
        int ret;
} ws_job;

static const char *topic_name(kb_ws_topic t) {
        static const char *const names[] = { "token.inserted", "token.removed", "token.changed" };
        return t < KB_WS_N_TOPICS ? names[t] : NULL;
}

static void job_free(ws_job *j) {
        json_decref(j->id);
        json_decref(j->params);
        json_decref(j->result);
        json_decref(j->call.error_details);
        free(j);
}

/* A response for a request; NULL for notifications. Steals response. */
static void answer(kb_ws *ws, ws_conn *c, ws_batch *b, json_t *id, json_t *response, bool secret) {
        if (!id) {
                if (secret)
                        kb_ws_wipe_results(response);
                json_decref(response);
                return;
        }
        if (b) {
                json_array_append_new(b->responses, response);
                b->secret |= secret;
        } else if (secret)
                kb_ws_send_secret_json(ws, c, response);
        else
                kb_ws_send_json(ws, c, response);
}

static void batch_free(ws_batch *b) {
        if (b->secret)
                kb_ws_wipe_results(b->responses);
        json_decref(b->responses);
        free(b);
}

static void batch_end(kb_ws *ws, ws_conn *c, ws_batch *b) {
        if (--b->pending > 0)
                return;
        if (json_array_size(b->responses) > 0 && c->state == CONN_OPEN)
                (b->secret ? kb_ws_send_secret_json : kb_ws_send_json)(ws, c, TAKE_PTR(b->responses));
        batch_free(b);
}

static json_t *call_response(const ws_job *j, bool zh) {
        if (j->ret < 0)
                return kb_rpc_error(j->id, kb_error_from_ret(j->ret), zh, &j->call);
        json_t *r = kb_rpc_result(j->id, json_incref(j->result));
        return r ? r : kb_rpc_error(j->id, KB_E_INTERNAL, zh, NULL);
}

void kb_ws_job_done(kb_ws *ws, ws_job *j) {
        ws_conn *c = j->conn;
        c->jobs--;
        bool secret = j->method->secret_result;
        if (c->state == CONN_OPEN)
                answer(ws, c, j->batch, j->id, call_response(j, c->zh), secret);  /* wiped when sent */
        else if (secret)
                kb_json_wipe(j->result);        /* never answered: plaintexts may be in it */
        if (j->batch)
                batch_end(ws, c, j->batch);
        job_free(j);    /* a dead c is freed once its jobs are done (reap) */
}

void kb_ws_job_discard(ws_job *j) {
        if (j->batch && --j->batch->pending == 0)
                batch_free(j->batch);
        if (j->method->secret_result)
                kb_json_wipe(j->result);
        j->conn->jobs--;
        job_free(j);
}

/* ---- progress (job thread → event thread) ---- */

static void on_progress(void *userdata, const char *stage, int percent) {
        ws_job *j = userdata;
        inbox_item *it = calloc(1, sizeof(*it));
        json_t *p = json_pack("{s:O, s:s, s:i}", "requestId", j->id, "stage", stage ? stage : "",
                              "percent", percent < 0 ? 0 : percent > 100 ? 100 : percent);
        if (!it || !p) {
                free(it);
                json_decref(p);
                return;
        }
        *it = (inbox_item) { .kind = IN_PROGRESS, .conn = j->conn, .json = p };
        kb_ws_post(j->ws, it);
}

void kb_ws_progress(kb_ws *ws, ws_conn *c, json_t *params) {
        if (c->state != CONN_OPEN) {
                json_decref(params);
                return;
        }
        kb_ws_send_json(ws, c, kb_rpc_notification("operation.progress", params));
}

/* ---- jobs ---- */

static void run_job(void *arg) {
        ws_job *j = arg;
        kb_daemon *d = j->ws->daemon;
        inbox_item *it = calloc(1, sizeof(*it));

        j->ret = kb_service_call(&d->service, j->method, &j->call, &j->result);
        /* The params may hold a page PIN: they go with the job, on this thread. */
        json_decref(TAKE_PTR(j->params));
        if (it) {
                *it = (inbox_item) { .kind = IN_JOB_DONE, .job = j };
                kb_jobs_finishing(d);
                kb_ws_post(j->ws, it);
        } /* else: leaks the job rather than answering from this thread */
        kb_jobs_ended(d);
}

static int start_job(kb_ws *ws, ws_job *j) {
        return kb_jobs_submit(ws->daemon, run_job, j);
}

/* ---- one request ---- */

static bool origin_still_allowed(kb_daemon *d, const ws_conn *c) {
        if (!c->origin)
                return true;    /* a local tool: its token was checked at the upgrade */
        pthread_rwlock_rdlock(&d->policy_lock);
        bool ok = kb_gate_origin_allowed(d->policy, c->origin);
        pthread_rwlock_unlock(&d->policy_lock);
        return ok;
}

/* events.subscribe / events.unsubscribe {"events"?: [names]} → {"events": [subscribed]} */
static json_t *subscribe(ws_conn *c, json_t *params, bool on, kb_call *call, int *ret) {
        json_t *names = params ? json_object_get(params, "events") : NULL, *v;
        uint8_t bits = 0;
        size_t i;

        if (!names)
                bits = (1u << KB_WS_N_TOPICS) - 1;
        else if (!json_is_array(names))
                *ret = kb_bad_field(call, "events");
        json_array_foreach(names, i, v) {
                unsigned t = 0;
                while (t < KB_WS_N_TOPICS && !(json_is_string(v) && strcmp(json_string_value(v), topic_name(t)) == 0))
                        t++;
                if (t == KB_WS_N_TOPICS) {
                        *ret = kb_bad_field(call, "events");
                        break;
                }
                bits |= (uint8_t) (1u << t);
        }
        if (*ret < 0)
                return NULL;
        c->topics = on ? c->topics | bits : c->topics & (uint8_t) ~bits;
        json_t *list = json_array();
        for (unsigned t = 0; t < KB_WS_N_TOPICS; t++)
                if (c->topics & (1u << t))
                        json_array_append_new(list, json_string(topic_name(t)));
        return json_pack("{s:o}", "events", list);
}

static bool is_subscribe(const char *m, bool *on) {
        *on = strcmp(m, "events.subscribe") == 0;
        return *on || strcmp(m, "events.unsubscribe") == 0;
}

/* Run a call now, or on a job thread. The response, or NULL when it will
 * come later (or never: a notification). */
static json_t *dispatch(kb_ws *ws, ws_conn *c, ws_batch *b, const kb_rpc_request *rq) {
        kb_call call = { .origin = c->origin };
        const kb_method *m = kb_method_by_name(rq->method);
        json_t *result = NULL;
        bool on;
        int r = 0;

        if (!m && !is_subscribe(rq->method, &on))
                return kb_rpc_error_code(rq->id, KB_RPC_METHOD_NOT_FOUND, KB_E_NOT_FOUND, c->zh, "method");
        if (rq->params && !json_is_object(rq->params))
                return kb_rpc_error_code(rq->id, KB_RPC_INVALID_PARAMS, KB_E_BAD_REQUEST, c->zh, "params");
        if (!m) {
                result = subscribe(c, rq->params, on, &call, &r);
                return r < 0 ? kb_rpc_error(rq->id, kb_error_from_ret(r), c->zh, &call) : kb_rpc_result(rq->id, result);
        }
        json_t *params = rq->params ? json_incref(rq->params) : json_object();
        if (m->uses_token) {
                ws_job *j = calloc(1, sizeof(*j));
                r = !j ? -KB_E_INTERNAL : c->jobs >= MAX_JOBS_PER_CONN ? -KB_E_RATE_LIMITED : 0;
                if (r >= 0) {
                        *j = (ws_job) { .ws = ws, .conn = c, .batch = b, .method = m, .params = params,
                                        .id = rq->id ? json_incref(rq->id) : NULL };
                        j->call = (kb_call) { .origin = c->origin, .params = params,
                                              .progress = rq->id ? on_progress : NULL, .progress_userdata = j };
                        c->jobs++;
                        if (b)
                                b->pending++;
                        r = start_job(ws, j);
                        if (r >= 0)
                                return NULL;
                        c->jobs--;
                        if (b)
                                b->pending--;
                        j->params = NULL;
                        json_decref(j->id);
                }
                free(j);
                json_decref(params);
                return kb_rpc_error(rq->id, kb_error_from_ret(r), c->zh, NULL);
        }
        call.params = params;
        r = kb_service_call(&ws->daemon->service, m, &call, &result);
        json_t *resp = r < 0 ? kb_rpc_error(rq->id, kb_error_from_ret(r), c->zh, &call) : kb_rpc_result(rq->id, result);
        json_decref(call.error_details);
        json_decref(params);
        return resp;
}

static void request(kb_ws *ws, ws_conn *c, ws_batch *b, json_t *req) {
        kb_rpc_request rq;
        json_t *err = NULL;
        if (kb_rpc_check(req, c->zh, &rq, &err) < 0) {
                answer(ws, c, b, json_null(), err, false);     /* always answered */
                return;
        }
        /* The params belong to the call from here on: a page PIN in them is
         * wiped by the method, and no other copy stays in the request. */
        json_t *params = json_incref(rq.params);
        if (params)
                json_object_del(req, "params");
        rq.params = params;
        json_t *resp = dispatch(ws, c, b, &rq);
        json_decref(params);
        if (resp)
                answer(ws, c, b, rq.id, resp, false);   /* secret methods run as jobs */
}

void kb_ws_on_message(kb_ws *ws, ws_conn *c, uint8_t *text, size_t len) {
        bool batch = false;
        json_t *err = NULL;

        if (!origin_still_allowed(ws->daemon, c)) {
                kb_ws_fail(ws, c, KB_WS_CLOSE_POLICY, "origin no longer allowed");
                return;
        }
        json_t *v = kb_rpc_parse((const char *) text, len, c->zh, &batch, &err);
        if (!v) {
                kb_ws_send_json(ws, c, err);
                return;
        }
        if (!batch) {
                request(ws, c, NULL, v);
                json_decref(v);
                return;
        }
        ws_batch *b = calloc(1, sizeof(*b));
        if (!b || !(b->responses = json_array())) {
                free(b);
                json_decref(v);
                kb_ws_fail(ws, c, KB_WS_CLOSE_INTERNAL, NULL);
                return;
        }
        b->pending = 1; /* this loop's own hold */
        size_t i;
        json_t *req;
        json_array_foreach(v, i, req)
                request(ws, c, b, req);
        json_decref(v);
        batch_end(ws, c, b);
}

/* ---- token events ---- */

/* The event as this connection sees it: "authorized" for its origin. */
static const char *event_text(kb_ws *ws, ws_conn *c, json_t *params, kb_ws_topic topic, char *text[2]) {
        json_t *token = json_object_get(params, "token");
        const char *id = json_string_value(json_object_get(token, "id"));
        kb_service *svc = &ws->daemon->service;
        bool authorized = topic != KB_WS_TOKEN_REMOVED && id && svc->authz &&
                          kb_authz_peek(svc->authz, id, c->origin ? c->origin : KB_LOCAL_ORIGIN, time(NULL));
        if (!text[authorized]) {
                if (token)
                        json_object_set_new(token, "authorized", json_boolean(authorized));
                json_t *msg = kb_rpc_notification(topic_name(topic), json_incref(params));
                text[authorized] = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
                json_decref(msg);
        }
        return text[authorized];
}

void kb_ws_fan_out(kb_ws *ws, kb_ws_topic topic, json_t *params) {
        char *text[2] = { NULL, NULL };
        for (ws_conn *c = ws->conns, *next; c; c = next) {
                next = c->next;
                if (c->state != CONN_OPEN || !(c->topics & (1u << topic)))
                        continue;
                const char *t = event_text(ws, c, params, topic, text);
                if (t)
                        kb_ws_send(ws, c, KB_WS_OP_TEXT, t, strlen(t));
        }
        free(text[0]);
        free(text[1]);
        json_decref(params);
}
