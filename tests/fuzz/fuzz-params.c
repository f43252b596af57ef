/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Request bodies of the token methods as a page sends them: the bytes are
 * parsed as the daemon parses a body (json_loadb, duplicates refused) and
 * handed to sign, authenticate, origin.approve, pin.change and pin.unblock
 * with path parameters bound.
 * No token is present, so every call must end in a clean error with a known
 * code; all parameter validation (base64, items, algorithm, format, pin,
 * challenge) runs first.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "kb-api.h"

static void must(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-params: %s\n", what);
                abort();
        }
}

static void call(kb_service *svc, const char *name, json_t *body, const char *origin) {
        const kb_method *m = kb_method_by_name(name);
        json_t *params = json_deep_copy(body), *result = NULL;
        kb_call c = { .origin = origin, .params = params };

        must(m != NULL, "method missing from the table");
        if (params && json_is_object(params))
                json_object_set_new(params, "token", json_string("0123456789abcdef"));
        int r = kb_service_call(svc, m, &c, &result);
        if (r >= 0) {
                /* Only origin.approve can succeed, and only with a verdict. */
                must(result != NULL, "success without a result");
        } else {
                must(kb_error_code(kb_error_from_ret(r)) != NULL, "an error without a code");
                json_t *err = kb_error_json(kb_error_from_ret(r), false, &c);
                must(err != NULL, "an error that does not render");
                json_decref(err);
        }
        json_decref(result);
        json_decref(c.error_details);
        json_decref(params);
}

static int approve_nothing(void *userdata, const char *origin) {
        return -KB_E_PIN_CANCELLED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static kb_service svc;
        static bool ready;
        json_error_t jerr;

        if (!ready) {
                svc.cache = kb_cache_new(NULL, 0, 1000);
                svc.authz = kb_authz_new(60);
                svc.approve_origin = approve_nothing;
                ready = svc.cache && svc.authz;
                must(ready, "no service");
        }
        json_t *body = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!body)
                return 0;
        call(&svc, "sign", body, "https://portal.example.cn");
        call(&svc, "sign", body, NULL);
        call(&svc, "authenticate", body, "https://portal.example.cn");
        call(&svc, "origin.approve", body, "https://portal.example.cn");
        call(&svc, "pin.change", body, "https://portal.example.cn");
        call(&svc, "pin.unblock", body, "https://portal.example.cn");
        json_decref(body);
        return 0;
}
