/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The API (lib/api/): the method table, every API call once, and the REST
 * router over it. The REST front end and the JSON-RPC dispatcher both look
 * methods up here and call the same handler with the same params object.
 * With kb-renew.h, kb-pkcs11.h and kb-skf.h (for start-up: the renewal
 * store and the token sources), this is what the daemon uses of lib/.
 */
#pragma once

#include "kb-ops.h"

typedef int (*kb_method_fn)(kb_service *svc, kb_call *call, json_t **ret_result);

typedef enum kb_http_method {
        KB_HTTP_GET,
        KB_HTTP_POST,
} kb_http_method;

typedef struct kb_method {
        const char *name;       /* JSON-RPC method name, e.g. "tokens.list" */
        kb_http_method http_method;
        const char *route;      /* e.g. "/v1/tokens/{token}"; {x} binds params.x */
        kb_method_fn fn;
        bool uses_token;        /* talks to a token (and maybe the user): run it
                                 * off the event loop */
        bool secret_result;     /* the result holds plaintexts: the transport
                                 * wipes it and its encoding after the answer */
} kb_method;

const kb_method *kb_methods(size_t *ret_n);
const kb_method *kb_method_by_name(const char *name);

/* Route a REST path. On a match, *ret_params gets a new object with the path
 * parameters bound. Returns the method, or NULL with *ret_error =
 * KB_E_NOT_FOUND (no route) or KB_E_METHOD_NOT_ALLOWED (route, other method). */
const kb_method *kb_route(kb_http_method m, const char *path, json_t **ret_params, kb_error *ret_error);

/* Call a method; on failure fills call->error_* and returns -KB_E_*. */
int kb_service_call(kb_service *svc, const kb_method *m, kb_call *call, json_t **ret_result);

/* The error object of the API: {"error": {"code","message",…details}}. */
json_t *kb_error_json(kb_error e, bool zh, const kb_call *call);

