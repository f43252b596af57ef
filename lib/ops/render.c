/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The model as the API's JSON (api.md "Token" and "Certificate"). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kb-service.h"

/* RFC 3339 UTC, e.g. "2027-03-29T10:44:04Z". */
static json_t *time_json(int64_t t) {
        char buf[32];
        struct tm tm;
        time_t tt = (time_t) t;
        if (!gmtime_r(&tt, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return json_null();
        return json_string(buf);
}

static json_t *str_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

/* Attributes in order; a repeated attribute (two OUs) becomes an array. */
static json_t *fields_json(const kb_cert *c) {
        json_t *o = json_object();
        for (size_t i = 0; o && i < c->n_subject_fields; i++) {
                const kb_name_attr *a = &c->subject_fields[i];
                json_t *have = json_object_get(o, a->key);
                if (!have)
                        json_object_set_new(o, a->key, json_string(a->value));
                else if (json_is_array(have))
                        json_array_append_new(have, json_string(a->value));
                else
                        json_object_set_new(o, a->key, json_pack("[Os]", have, a->value));
        }
        return o;
}

json_t *kb_cert_to_json(const kb_cert *c, int64_t now, int warning_days, bool with_pem) {
        int days_left = 0;
        kb_cert_status st = kb_cert_status_at(c, now, warning_days, &days_left);
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:i, s:s, s:o, s:o, s:o, s:o, s:s, s:b}",
                              "id", c->id,
                              "label", c->label ? c->label : "",
                              "subject", c->subject,
                              "subjectFields", fields_json(c),
                              "issuer", c->issuer,
                              "serialNumber", c->serial_hex,
                              "notBefore", time_json(c->not_before),
                              "notAfter", time_json(c->not_after),
                              "daysLeft", days_left,
                              "status", kb_cert_status_name(st),
                              "keyType", str_or_null(kb_key_type_name(c->key_type)),
                              "keyBits", c->key_bits > 0 ? json_integer(c->key_bits) : json_null(),
                              "curve", str_or_null(c->curve),
                              "usage", str_or_null(kb_usage_name(c->usage)),
                              "fingerprintSha256", c->fingerprint_sha256,
                              "hasPrivateKey", c->has_private_key);
        if (o && with_pem) {
                char *pem = kb_cert_to_pem(c);
                json_object_set_new(o, "pem", str_or_null(pem));
                free(pem);
        }
        return o;
}

/* PKCS#11 says ~0 for "unavailable". */
static json_t *length_json(unsigned long v) {
        return v == (unsigned long) -1 ? json_null() : json_integer((json_int_t) v);
}

static json_t *pin_json(const kb_token *t) {
        return json_pack("{s:s, s:o, s:o, s:o}",
                         "status", kb_pin_status_name(t->pin_status),
                         "retriesLeft", t->retries_left >= 0 ? json_integer(t->retries_left) : json_null(),
                         "minLength", length_json(t->pin_min_len),
                         "maxLength", length_json(t->pin_max_len));
}

json_t *kb_token_to_json(const kb_token *t, const char *module, int64_t now, int warning_days, bool authorized) {
        json_t *certs = json_array();
        /* The user's certificates; issuers the token holds (without a key)
         * show in a certificate's chain instead. */
        for (size_t i = 0; certs && i < t->n_certs; i++)
                if (!t->certs[i]->is_authority || t->certs[i]->has_private_key)
                        json_array_append_new(certs, kb_cert_to_json(t->certs[i], now, warning_days, false));
        json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:b, s:o}",
                         "id", t->id,
                         "backend", t->backend,
                         "module", module ? module : t->module,
                         "label", t->label,
                         "manufacturer", t->manufacturer,
                         "model", t->model,
                         "serial", t->serial,
                         "hardwareId", str_or_null(t->hardware_id),
                         "pin", pin_json(t),
                         "authorized", authorized,
                         "initialized", t->initialized,
                         "certificates", certs);
        if (out && t->free_space >= 0)
                json_object_set_new(out, "freeSpace", json_integer(t->free_space));
        return out;
}
