/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The method table: every API call, once. The REST router and (later) the
 * JSON-RPC dispatcher both look methods up here and call the same handler
 * with the same params object.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "kb-cache.h"
#include "kb-error.h"

typedef struct kb_service {
        kb_cache *cache;
        _Atomic int warning_days;      /* changes on a configuration reload */
        const char *version;
        unsigned ready_timeout_ms;     /* how long a token read waits for the first scan */
        const char *const *features;   /* NULL-terminated */
        const char *const *skf_libraries; /* NULL-terminated, configured SKF libraries */
} kb_service;

/* One call, transport-independent. */
typedef struct kb_call {
        const char *origin;     /* the caller's origin, NULL for a local tool */
        json_t *params;         /* object */
        /* Filled by a handler that fails: */
        char error_field[64];   /* the offending field, for BAD_REQUEST */
        json_t *error_details;  /* extra members of the error object, or NULL */
} kb_call;

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

/* Rendering of the model (render.c). */
json_t *kb_cert_to_json(const kb_cert *c, int64_t now, int warning_days, bool with_pem);
json_t *kb_token_to_json(const kb_token *t, const char *module, int64_t now, int warning_days);
