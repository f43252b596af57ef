/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DER certificates as a token hands them over (CKA_VALUE), parsed into the
 * model and rendered as the API's JSON. A certificate that parses must render.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "kb-model.h"
#include "kb-service.h"

#define KEY_ID_MAX 16

static void must(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-x509: %s\n", what);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        kb_cert *c = NULL;

        if (kb_cert_from_der(data, size, "label", data, size < KEY_ID_MAX ? size : KEY_ID_MAX, &c) < 0) {
                must(!c, "a failed parse wrote its output");
                return 0;
        }
        must(c && c->subject && c->issuer && c->serial_hex, "a parsed certificate lacks a field");

        json_t *o = kb_cert_to_json(c, 0, 90, true);
        must(o, "a parsed certificate does not render as JSON");
        char *s = json_dumps(o, JSON_COMPACT);
        must(s, "the rendered certificate does not serialize");

        /* The clock at both ends: days-left arithmetic must not overflow. */
        int days;
        kb_cert_status_at(c, INT64_MIN, 0, &days);
        kb_cert_status_at(c, INT64_MAX, 0, &days);

        free(s);
        json_decref(o);
        kb_cert_free(c);
        return 0;
}
