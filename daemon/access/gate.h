/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The gate (security.md): the one function every request, preflight and
 * WebSocket upgrade passes before anything else. Pure: headers in, verdict out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb-error.h"

#define KB_API_TOKEN_HEX 64

typedef struct kb_gate_policy {
        char **origins;         /* allowed origins, exact */
        size_t n_origins;
        char api_token[KB_API_TOKEN_HEX + 1]; /* bearer token for Origin-less tools */
        size_t max_body;
        bool origin_approval;           /* unknown origins may ask the user */
        char **page_pin_origins;        /* may send "pin" in a request */
        size_t n_page_pin_origins;
} kb_gate_policy;

typedef struct kb_gate_request {
        const char *method;             /* "GET", "POST", "OPTIONS", … */
        const char *host;               /* NULL when absent */
        const char *origin;
        const char *authorization;
        const char *content_type;
        const char *content_length;
        const char *acr_private_network; /* Access-Control-Request-Private-Network */
        unsigned port;                  /* the port the connection came in on */
        const char *path;               /* the request path, for the approval exception */
} kb_gate_request;

/* The one path an origin not (yet) allowed may call: it asks the user to
 * approve the origin in a native dialog. */
#define KB_APPROVAL_PATH "/v1/origins/approval"

typedef struct kb_gate_verdict {
        kb_error error;                 /* KB_E_OK: go on */
        bool preflight;                 /* answer 204 with the CORS headers now */
        const char *allow_origin;       /* echo as Access-Control-Allow-Origin, or NULL */
        bool allow_private_network;
        bool approval_only;             /* an unknown origin on KB_APPROVAL_PATH */
} kb_gate_verdict;

void kb_gate_check(const kb_gate_policy *p, const kb_gate_request *rq, kb_gate_verdict *ret);

/* Policy life cycle. */
kb_gate_policy *kb_gate_policy_new(void);
int kb_gate_policy_add_origin(kb_gate_policy *p, const char *origin);
void kb_gate_policy_free(kb_gate_policy *p);
bool kb_gate_origin_allowed(const kb_gate_policy *p, const char *origin);

/* Accept-Language prefers Chinese? (highest q wins; ties go to the first) */
bool kb_prefers_chinese(const char *accept_language);
