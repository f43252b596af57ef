/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kb-cleanup.h"
#include "approvals.h"
#include "kb-fs.h"
#include "runtime.h"


int kb_api_token_create(const char *runtime_dir, char *ret, size_t retlen) {
        unsigned char raw[KB_API_TOKEN_HEX / 2];
        char hex[KB_API_TOKEN_HEX + 2];

        if (retlen < KB_API_TOKEN_HEX + 1)
                return -EINVAL;
        int r = kb_mkdir_p(runtime_dir, 0700);
        if (r < 0)
                return r;
        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        OPENSSL_cleanse(raw, sizeof(raw));
        hex[KB_API_TOKEN_HEX] = '\n';
        r = kb_write_atomic(runtime_dir, "api-token", hex, KB_API_TOKEN_HEX + 1, 0600);
        hex[KB_API_TOKEN_HEX] = 0;
        if (r >= 0)
                memcpy(ret, hex, KB_API_TOKEN_HEX + 1);
        OPENSSL_cleanse(hex, sizeof(hex));
        return r;
}

static int add_approvals(kb_gate_policy *p, const char *state_dir) {
        char **list = NULL;
        size_t n = 0;
        int r = kb_approvals_read(state_dir, &list, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = kb_gate_policy_add_origin(p, list[i]);
        kb_approvals_free(list, n);
        return r;
}

static int add_string(char ***arr, size_t *n, const char *value) {
        char **a = realloc(*arr, (*n + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        *arr = a;
        if (!(a[*n] = strdup(value)))
                return -ENOMEM;
        (*n)++;
        return 0;
}

int kb_policy_build(const kb_config *c, const char *api_token, kb_gate_policy **ret) {
        kb_gate_policy *p = kb_gate_policy_new();
        if (!p)
                return -ENOMEM;
        p->max_body = c->max_body;
        p->origin_approval = c->origin_approval;
        snprintf(p->api_token, sizeof(p->api_token), "%s", api_token ? api_token : "");
        int r = 0;
        for (size_t i = 0; r >= 0 && i < c->allow_origins.n; i++)
                r = kb_gate_policy_add_origin(p, c->allow_origins.v[i]);
        if (r >= 0)
                r = add_approvals(p, c->state_dir);
        for (size_t i = 0; r >= 0 && i < c->page_pin_origins.n; i++)
                r = add_string(&p->page_pin_origins, &p->n_page_pin_origins, c->page_pin_origins.v[i]);
        if (r < 0) {
                kb_gate_policy_free(p);
                return r;
        }
        *ret = p;
        return 0;
}
