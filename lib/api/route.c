/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* REST routing over the method table: "/v1/tokens/{token}" binds params.token. */
#include <string.h>

#include "kb-api.h"

#define MAX_SEGMENT 128

/* Path parameters are ids: a conservative alphabet, bounded length. */
static bool valid_segment(const char *s, size_t len) {
        if (len == 0 || len > MAX_SEGMENT)
                return false;
        /* "." and ".." are never ids, whatever they may one day be joined to. */
        if (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]))
                        return false;
        return true;
}

/* Match path against route, binding {x} segments into params. */
static bool match(const char *route, const char *path, json_t *params) {
        while (*route && *path) {
                if (*route != '/' || *path != '/')
                        return false;
                route++, path++;
                size_t rl = strcspn(route, "/"), pl = strcspn(path, "/");
                if (route[0] == '{') {
                        if (!valid_segment(path, pl))
                                return false;
                        char key[64];
                        size_t kl = rl - 2 < sizeof(key) - 1 ? rl - 2 : sizeof(key) - 1;
                        memcpy(key, route + 1, kl);
                        key[kl] = 0;
                        json_object_set_new(params, key, json_stringn(path, pl));
                } else if (rl != pl || memcmp(route, path, rl) != 0) {
                        return false;
                }
                route += rl, path += pl;
        }
        return *route == 0 && *path == 0;
}

const kb_method *kb_route(kb_http_method m, const char *path, json_t **ret_params, kb_error *ret_error) {
        size_t n;
        const kb_method *table = kb_methods(&n);
        bool path_known = false;

        *ret_error = KB_E_NOT_FOUND;
        for (size_t i = 0; i < n; i++) {
                json_t *params = json_object();
                if (!params) {
                        *ret_error = KB_E_INTERNAL;
                        return NULL;
                }
                if (!match(table[i].route, path, params)) {
                        json_decref(params);
                        continue;
                }
                if (table[i].http_method != m) {
                        path_known = true;
                        json_decref(params);
                        continue;
                }
                *ret_params = params;
                return &table[i];
        }
        if (path_known)
                *ret_error = KB_E_METHOD_NOT_ALLOWED;
        return NULL;
}
