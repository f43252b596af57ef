/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Request headers through the gate. The input is the header values, one a
 * line: method, Host, Origin, Authorization, Content-Type, Content-Length,
 * Access-Control-Request-Private-Network, Accept-Language; an empty or
 * missing line is an absent header. Whatever passes must have a listed origin
 * or the token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz.h"
#include "gate.h"

#define PORT 27182
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

enum { F_METHOD, F_HOST, F_ORIGIN, F_AUTH, F_CTYPE, F_CLEN, F_ACRPN, F_LANG, N_FIELDS };

static void must(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-gate: %s\n", what);
                abort();
        }
}

static kb_gate_policy *policy(void) {
        kb_gate_policy *p = kb_gate_policy_new();
        if (!p)
                return NULL;
        if (kb_gate_policy_add_origin(p, "https://portal.example.cn") < 0 ||
            kb_gate_policy_add_origin(p, "http://localhost:8080") < 0) {
                kb_gate_policy_free(p);
                return NULL;
        }
        memcpy(p->api_token, TOKEN, sizeof(TOKEN));
        p->max_body = KB_DEFAULT_MAX_BODY;
        return p;
}

static void check_verdict(const kb_gate_policy *p, const kb_gate_request *rq, const kb_gate_verdict *v) {
        if (v->error != KB_E_OK)
                return;
        if (rq->origin) {
                must(v->allow_origin == rq->origin, "an Origin passed without being echoed");
                must(kb_gate_origin_allowed(p, rq->origin), "an origin not in the list passed");
        } else {
                const char *a = rq->authorization;
                must(!v->allow_origin, "an Origin-less request echoed an origin");
                must(a && strncasecmp(a, "Bearer ", 7) == 0 && strcmp(a + 7, TOKEN) == 0,
                     "an Origin-less request passed without the token");
        }
        must(!v->preflight || (rq->method && strcmp(rq->method, "OPTIONS") == 0), "a preflight that is no OPTIONS");
}

/* One heap string of exactly its length per line, so an overread is caught. */
static void split(const uint8_t *data, size_t size, char *f[N_FIELDS]) {
        size_t off = 0;
        for (size_t i = 0; i < N_FIELDS; i++) {
                const uint8_t *nl = memchr(data + off, '\n', size - off);
                size_t len = nl ? (size_t) (nl - (data + off)) : size - off;
                if (len > 0)
                        f[i] = strndup((const char *) data + off, len);
                if (!nl)
                        return;
                off += len + 1;
        }
}

static void gate(const kb_gate_policy *p, char *const f[N_FIELDS]) {
        kb_gate_request rq = {
                .method = f[F_METHOD],
                .host = f[F_HOST],
                .origin = f[F_ORIGIN],
                .authorization = f[F_AUTH],
                .content_type = f[F_CTYPE],
                .content_length = f[F_CLEN],
                .acr_private_network = f[F_ACRPN],
                .port = PORT,
        };
        kb_gate_verdict v;
        kb_gate_check(p, &rq, &v);
        check_verdict(p, &rq, &v);
        (void) kb_prefers_chinese(f[F_LANG]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *f[N_FIELDS] = { 0 };
        kb_gate_policy *p = policy();

        if (p) {
                split(data, size, f);
                gate(p, f);
        }
        for (size_t i = 0; i < N_FIELDS; i++)
                free(f[i]);
        kb_gate_policy_free(p);
        return 0;
}
