/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "gate.h"

kb_gate_policy *kb_gate_policy_new(void) {
        return calloc(1, sizeof(kb_gate_policy));
}

int kb_gate_policy_add_origin(kb_gate_policy *p, const char *origin) {
        if (kb_gate_origin_allowed(p, origin))
                return 0;
        char **n = realloc(p->origins, (p->n_origins + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        p->origins = n;
        if (!(n[p->n_origins] = strdup(origin)))
                return -ENOMEM;
        p->n_origins++;
        return 0;
}

void kb_gate_policy_free(kb_gate_policy *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_origins; i++)
                free(p->origins[i]);
        free(p->origins);
        for (size_t i = 0; i < p->n_page_pin_origins; i++)
                free(p->page_pin_origins[i]);
        free(p->page_pin_origins);
        OPENSSL_cleanse(p->api_token, sizeof(p->api_token));
        free(p);
}

bool kb_gate_origin_allowed(const kb_gate_policy *p, const char *origin) {
        for (size_t i = 0; i < p->n_origins; i++)
                if (strcmp(p->origins[i], origin) == 0)
                        return true;
        return false;
}

/* Host must be exactly one of our loopback names with our port (DNS rebinding). */
static bool host_ok(const char *host, unsigned port) {
        static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };
        char want[32];
        if (!host)
                return false;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(want, sizeof(want), "%s:%u", names[i], port);
                if (strcmp(host, want) == 0)
                        return true;
        }
        return false;
}

static bool bearer_ok(const kb_gate_policy *p, const char *auth) {
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !p->api_token[0])
                return false;
        const char *tok = auth + 7;
        size_t len = strlen(tok);
        return len == strlen(p->api_token) && CRYPTO_memcmp(tok, p->api_token, len) == 0;
}

/* "application/json", optionally with parameters ("; charset=utf-8"). */
static bool json_content_type(const char *ct) {
        static const char want[] = "application/json";
        if (!ct || strncasecmp(ct, want, sizeof(want) - 1) != 0)
                return false;
        char next = ct[sizeof(want) - 1];
        return next == 0 || next == ';' || next == ' ';
}

static bool too_large(const kb_gate_policy *p, const char *content_length) {
        if (!content_length)
                return false;
        char *end;
        errno = 0;
        unsigned long long n = strtoull(content_length, &end, 10);
        return errno || *end || !isdigit((unsigned char) content_length[0]) || n > p->max_body;
}

static kb_error check_caller(const kb_gate_policy *p, const kb_gate_request *rq, kb_gate_verdict *v) {
        if (!host_ok(rq->host, rq->port))
                return KB_E_HOST_REJECTED;
        if (rq->origin) {
                /* "null" (sandboxed frames, file:) is never in the list. */
                if (kb_gate_origin_allowed(p, rq->origin)) {
                        v->allow_origin = rq->origin;
                        return KB_E_OK;
                }
                /* An unknown origin may only ask the user to approve it. */
                if (!p->origin_approval || !rq->path || strcmp(rq->path, KB_APPROVAL_PATH) != 0 ||
                    !kb_origin_is_valid(rq->origin))
                        return KB_E_ORIGIN_NOT_ALLOWED;
                v->allow_origin = rq->origin;
                v->approval_only = true;
                return KB_E_OK;
        }
        return bearer_ok(p, rq->authorization) ? KB_E_OK : KB_E_UNAUTHORIZED;
}

void kb_gate_check(const kb_gate_policy *p, const kb_gate_request *rq, kb_gate_verdict *v) {
        *v = (kb_gate_verdict) { 0 };
        v->error = check_caller(p, rq, v);
        if (v->error != KB_E_OK)
                return;
        const char *m = rq->method ? rq->method : "";
        if (strcmp(m, "OPTIONS") == 0) {
                v->preflight = true;
                v->allow_private_network = rq->acr_private_network &&
                                           strcasecmp(rq->acr_private_network, "true") == 0;
        } else if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0) {
                v->error = KB_E_METHOD_NOT_ALLOWED;
        } else if (too_large(p, rq->content_length)) {
                v->error = KB_E_PAYLOAD_TOO_LARGE;
        } else if (strcmp(m, "POST") == 0 && !json_content_type(rq->content_type)) {
                /* Forces a CORS preflight: no form or text/plain CSRF. */
                v->error = KB_E_UNSUPPORTED_MEDIA_TYPE;
        }
}

/* The q value of one "tag;q=0.8" item in thousandths; 0 (not acceptable)
 * for anything that is not a number from 0 to 1. */
static int item_quality(const char *item, size_t len) {
        const char *q = memchr(item, ';', len);
        if (!q)
                return 1000;
        while (q < item + len && (*q == ';' || *q == ' '))
                q++;
        if (len - (size_t) (q - item) < 3 || strncasecmp(q, "q=", 2) != 0)
                return 1000;
        char *end;
        double v = strtod(q + 2, &end);
        if (end == q + 2 || !(v >= 0.0 && v <= 1.0))
                return 0;
        return (int) (v * 1000);
}

bool kb_prefers_chinese(const char *al) {
        int best_q = -1;
        bool best_zh = false;
        while (al && *al) {
                while (*al == ' ' || *al == ',')
                        al++;
                size_t len = strcspn(al, ",");
                if (len == 0)
                        break;
                int q = item_quality(al, len);
                if (q > 0 && q > best_q) {
                        best_q = q;
                        best_zh = len >= 2 && strncasecmp(al, "zh", 2) == 0 && (len == 2 || al[2] == '-' || al[2] == ';');
                }
                al += len;
        }
        return best_zh;
}
