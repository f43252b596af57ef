/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading method parameters: every failure names its field. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "kb-service.h"

#define MAX_SECRET_PARAM 1024   /* bytes; the token's limits come after */

int kb_bad_field(kb_call *call, const char *field) {
        snprintf(call->error_field, sizeof(call->error_field), "%s", field);
        return -KB_E_BAD_REQUEST;
}

int kb_param_string(kb_call *call, const char *key, bool required, const char **ret) {
        json_t *v = json_object_get(call->params, key);
        if (!v && !required) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return kb_bad_field(call, key);
        *ret = json_string_value(v);
        return 0;
}

int kb_param_bool(kb_call *call, const char *key, bool *ret) {
        json_t *v = json_object_get(call->params, key);
        if (!v) {
                *ret = false;
                return 0;
        }
        if (!json_is_boolean(v))
                return kb_bad_field(call, key);
        *ret = json_is_true(v);
        return 0;
}

/* Strict standard base64 (RFC 4648 §4, padded, no whitespace). */
int kb_param_base64(kb_call *call, const char *field, json_t *value, unsigned char **ret, size_t *ret_len) {
        if (!json_is_string(value))
                return kb_bad_field(call, field);
        const char *s = json_string_value(value);
        size_t len = json_string_length(value);
        if (len % 4 != 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != len)
                return kb_bad_field(call, field);
        const char *pad = strchr(s, '=');
        if (pad && (s + len - pad > 2 || strspn(pad, "=") != (size_t) (s + len - pad)))
                return kb_bad_field(call, field);
        unsigned char *buf = malloc(len / 4 * 3 + 1);
        if (!buf)
                return -KB_E_INTERNAL;
        int n = len ? EVP_DecodeBlock(buf, (const unsigned char *) s, (int) len) : 0;
        if (n < 0) {
                free(buf);
                return kb_bad_field(call, field);
        }
        n -= pad ? (int) (s + len - pad) : 0;   /* EVP_DecodeBlock counts padding */
        *ret = buf;
        *ret_len = (size_t) n;
        return 0;
}

/* The encoding is wiped: buf may be a plaintext (decrypt). */
json_t *kb_base64_json(const unsigned char *buf, size_t len) {
        size_t n = 4 * ((len + 2) / 3) + 1;
        char *b64 = malloc(n);
        if (!b64)
                return NULL;
        EVP_EncodeBlock((unsigned char *) b64, buf, (int) len);
        json_t *s = json_string(b64);
        OPENSSL_clear_free(b64, n);
        return s;
}

void kb_param_wipe(kb_call *call, const char *key) {
        json_t *v = json_object_get(call->params, key);
        if (json_is_string(v))
                OPENSSL_cleanse((char *) json_string_value(v), json_string_length(v));
}

int kb_param_secret(kb_call *call, const char *key, kb_secret **ret) {
        json_t *v = json_object_get(call->params, key);
        if (!json_is_string(v))
                return kb_bad_field(call, key);
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        int r = 0;
        if (len == 0 || len > MAX_SECRET_PARAM || memchr(s, 0, len))
                r = kb_bad_field(call, key);
        kb_secret *secret = r >= 0 ? kb_secret_from(s, len) : NULL;
        if (r >= 0 && !secret)
                r = -KB_E_INTERNAL;
        kb_param_wipe(call, key);
        if (r >= 0)
                *ret = secret;
        return r;
}

int kb_param_items(kb_call *call, json_t **ret) {
        json_t *items = json_object_get(call->params, "items");
        if (!json_is_array(items) || json_array_size(items) == 0 || json_array_size(items) > KB_MAX_ITEMS)
                return kb_bad_field(call, "items");
        *ret = items;
        return 0;
}

int kb_param_cert(kb_call *call, const char *field, json_t *v, kb_cert **ret) {
        _cleanup_free_ unsigned char *der = NULL;
        size_t len = 0;
        const char *s = json_string_value(v);
        if (!s)
                return kb_bad_field(call, field);
        if (strstr(s, "-----BEGIN")) {
                _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(s, -1);
                _cleanup_(X509_freep) X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
                int n = x ? i2d_X509(x, &der) : -1;
                ERR_clear_error();
                if (n <= 0)
                        return kb_bad_field(call, field);
                len = (size_t) n;
        } else if (kb_param_base64(call, field, v, &der, &len) < 0)
                return -KB_E_BAD_REQUEST;
        if (kb_cert_from_der(der, len, NULL, NULL, 0, ret) < 0)
                return kb_bad_field(call, field);
        return 0;
}

int kb_call_refuse(kb_call *call, int error, const char *field, const char *reason) {
        if (!call)
                return error;
        if (field)
                snprintf(call->error_field, sizeof(call->error_field), "%s", field);
        if (reason) {
                json_decref(call->error_details);
                call->error_details = json_pack("{s:s}", "reason", reason);
        }
        return error;
}

void kb_json_wipe(json_t *j) {
        const char *key;
        json_t *v;
        size_t i;
        if (json_is_string(j))
                OPENSSL_cleanse((char *) json_string_value(j), json_string_length(j));
        else if (json_is_array(j))
                json_array_foreach(j, i, v)
                        kb_json_wipe(v);
        else if (json_is_object(j))
                json_object_foreach(j, key, v)
                        kb_json_wipe(v);
}

char *kb_json_dumps_exact(const json_t *j, size_t *ret_len) {
        /* json_dumpb writes into our buffer: no growing copies are left behind */
        size_t n = j ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
        char *text = n ? malloc(n + 1) : NULL;
        if (text && json_dumpb(j, text, n, JSON_COMPACT) == n) {
                text[n] = '\0';
                *ret_len = n;
                return text;
        }
        free(text);
        return NULL;
}

char *kb_json_dumps_secret(json_t *j, size_t *ret_len) {
        char *text = kb_json_dumps_exact(j, ret_len);
        kb_json_wipe(j);
        json_decref(j);
        return text;
}
