/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * REST paths as a browser sends them, routed over the method table for GET
 * and POST. A bound path parameter must be one id segment, never a path.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kb-api.h"

#define PATH_MAX_FUZZ 4096

static void must(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-route: %s\n", what);
                abort();
        }
}

static void check_params(const json_t *params) {
        const char *key;
        const json_t *v;

        must(json_is_object(params), "a route bound no params object");
        json_object_foreach((json_t *) params, key, v) {
                must(json_is_string(v), "a path parameter is not a string");
                const char *s = json_string_value(v);
                must(s[0] != '\0' && !strchr(s, '/'), "a path parameter is empty or holds a '/'");
                must(strcmp(s, ".") != 0 && strcmp(s, "..") != 0, "a path parameter is a dot segment");
        }
}

static void route(kb_http_method m, const char *path) {
        json_t *params = NULL;
        kb_error e = KB_E_OK;
        const kb_method *hit = kb_route(m, path, &params, &e);

        if (hit) {
                must(hit->http_method == m, "routed to a method of the other verb");
                check_params(params);
        } else {
                must(!params, "a miss bound params");
                must(e == KB_E_NOT_FOUND || e == KB_E_METHOD_NOT_ALLOWED, "a miss with an odd error");
        }
        json_decref(params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t n = size < PATH_MAX_FUZZ ? size : PATH_MAX_FUZZ;
        /* Exactly n + 1 bytes on the heap, so an overread is caught. */
        char *path = malloc(n + 1);
        if (!path)
                return 0;
        memcpy(path, data, n);
        path[n] = '\0';

        route(KB_HTTP_GET, path);
        route(KB_HTTP_POST, path);
        free(path);
        return 0;
}
