/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The method table and the read-only methods of the foundation. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kb-renew.h"
#include "kb-api.h"

#define MAX_CHAIN 8

static int param_string(kb_call *call, const char *key, const char **ret) {
        return kb_param_string(call, key, true, ret);
}

static bool authorized(kb_service *svc, const kb_call *call, const kb_token *t, int64_t now) {
        return svc->authz && kb_authz_peek(svc->authz, t->id, call->origin ? call->origin : KB_LOCAL_ORIGIN, now);
}

/* Token reads wait (bounded) for the first scan after start-up, then are
 * served from the cache. */
static kb_view *token_view(kb_service *svc) {
        kb_cache_wait_ready(svc->cache, svc->ready_timeout_ms);
        return kb_cache_view(svc->cache);
}

static const char *module_of(const kb_view *v, const kb_token *t) {
        for (size_t i = 0; i < v->n; i++)
                for (size_t j = 0; v->scans[i] && j < v->scans[i]->n_tokens; j++)
                        if (v->scans[i]->tokens[j] == t)
                                return v->sources[i]->name;
        return t->module;
}

static int m_tokens_list(kb_service *svc, kb_call *call, json_t **ret) {
        kb_view *v = token_view(svc);
        json_t *arr = json_array();
        int64_t now = time(NULL);

        if (!v || !arr) {
                kb_view_free(v);
                json_decref(arr);
                return -KB_E_INTERNAL;
        }
        for (size_t i = 0; i < v->n; i++)
                for (size_t j = 0; v->scans[i] && j < v->scans[i]->n_tokens; j++)
                        json_array_append_new(arr, kb_token_to_json(v->scans[i]->tokens[j],
                                                                    v->sources[i]->name, now,
                                                                    svc->warning_days,
                                                                    authorized(svc, call, v->scans[i]->tokens[j], now)));
        kb_view_free(v);
        kb_pin_render(svc, arr);
        *ret = json_pack("{s:o}", "tokens", arr);
        return *ret ? 0 : -KB_E_INTERNAL;
}

static int m_token_get(kb_service *svc, kb_call *call, json_t **ret) {
        const char *id;
        int r = param_string(call, "token", &id);
        if (r < 0)
                return r;
        kb_view *v = token_view(svc);
        if (!v)
                return -KB_E_INTERNAL;
        const kb_token *t = kb_view_find_token(v, id);
        if (t)
                *ret = kb_token_to_json(t, module_of(v, t), time(NULL), svc->warning_days,
                                        authorized(svc, call, t, time(NULL)));
        kb_view_free(v);
        if (!t)
                return kb_token_absent(svc, id);
        kb_pin_render(svc, *ret);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* Issuer certificates the token itself holds, nearest first. */
static json_t *chain_json(const kb_token *t, const kb_cert *leaf) {
        json_t *arr = json_array();
        const kb_cert *cur = leaf;

        for (int depth = 0; arr && depth < MAX_CHAIN && strcmp(cur->subject, cur->issuer) != 0; depth++) {
                const kb_cert *up = NULL;
                for (size_t i = 0; i < t->n_certs && !up; i++)
                        if (t->certs[i] != cur && strcmp(t->certs[i]->subject, cur->issuer) == 0)
                                up = t->certs[i];
                if (!up)
                        break;
                char *pem = kb_cert_to_pem(up);
                json_array_append_new(arr, pem ? json_string(pem) : json_null());
                free(pem);
                cur = up;
        }
        return arr;
}

static int m_certificate_get(kb_service *svc, kb_call *call, json_t **ret) {
        const char *tid, *cid;
        int r = param_string(call, "token", &tid);
        if (r >= 0)
                r = param_string(call, "certificate", &cid);
        if (r < 0)
                return r;
        kb_view *v = token_view(svc);
        if (!v)
                return -KB_E_INTERNAL;
        const kb_token *t = kb_view_find_token(v, tid);
        const kb_cert *c = t ? kb_token_find_cert(t, cid) : NULL;
        if (c) {
                *ret = kb_cert_to_json(c, time(NULL), svc->warning_days, true);
                if (*ret)
                        json_object_set_new(*ret, "chain", chain_json(t, c));
        }
        kb_view_free(v);
        if (!t)
                return kb_token_absent(svc, tid);
        if (!c)
                return -KB_E_NOT_FOUND;
        return *ret ? 0 : -KB_E_INTERNAL;
}

static json_t *problems_json(const kb_scan *s) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && s && i < s->n_problems; i++)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s?}",
                                                     "where", s->problems[i].where,
                                                     "code", kb_error_code(s->problems[i].error),
                                                     "detail", s->problems[i].detail));
        return arr;
}

static json_t *module_json(const kb_source *src, const kb_scan *scan) {
        const char *status = src->load_error ? "failed" : scan ? "ok" : "scanning";
        json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:i, s:o}",
                              "name", src->name,
                              "path", src->path,
                              "description", src->description,
                              "profile", src->profile,
                              "status", status,
                              "tokens", scan ? (int) scan->n_tokens : 0,
                              "problems", problems_json(scan));
        if (o && src->load_error)
                json_object_set_new(o, "error", json_pack("{s:s, s:s?}",
                                                          "code", kb_error_code(src->load_error),
                                                          "detail", src->load_detail));
        return o;
}

static json_t *strings_json(const char *const *list) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && list && list[i]; i++)
                json_array_append_new(arr, json_string(list[i]));
        return arr;
}

static int m_info(kb_service *svc, kb_call *call, json_t **ret) {
        kb_view *v = kb_cache_view(svc->cache);
        json_t *p11 = json_array(), *skf = json_array();
        if (!v || !p11 || !skf) {
                kb_view_free(v);
                json_decref(p11);
                json_decref(skf);
                return -KB_E_INTERNAL;
        }
        for (size_t i = 0; i < v->n; i++)
                json_array_append_new(strcmp(v->sources[i]->ops->backend, "skf") == 0 ? skf : p11,
                                      module_json(v->sources[i], v->scans[i]));
        kb_view_free(v);
        *ret = json_pack("{s:s, s:s, s:i, s:[{s:s, s:o}, {s:s, s:o, s:o}], s:o}",
                         "product", "keybridge",
                         "version", svc->version,
                         "api", 1,
                         "backends",
                         "name", "pkcs11", "modules", p11,
                         "name", "skf", "libraries", strings_json(svc->skf_libraries), "modules", skf,
                         "features", strings_json(svc->features));
        return *ret ? 0 : -KB_E_INTERNAL;
}

static int m_origin_approve(kb_service *svc, kb_call *call, json_t **ret) {
        if (!call->origin)
                return kb_bad_field(call, "origin");
        int r = svc->approve_origin ? svc->approve_origin(svc->userdata, call->origin) : -KB_E_ORIGIN_NOT_ALLOWED;
        if (r < 0)
                return r;
        *ret = json_pack("{s:s, s:b}", "origin", call->origin, "approved", true);
        return *ret ? 0 : -KB_E_INTERNAL;
}

static const kb_method methods[] = {
        { "info",             KB_HTTP_GET, "/v1/info",                                     m_info },
        { "tokens.list",      KB_HTTP_GET, "/v1/tokens",                                   m_tokens_list },
        { "token.get",        KB_HTTP_GET, "/v1/tokens/{token}",                           m_token_get },
        { "certificate.get",  KB_HTTP_GET, "/v1/tokens/{token}/certificates/{certificate}", m_certificate_get },
        { "sign",             KB_HTTP_POST, "/v1/tokens/{token}/sign",                     kb_method_sign, true },
        { "authenticate",     KB_HTTP_POST, "/v1/tokens/{token}/authenticate",             kb_method_authenticate, true },
        { "decrypt",          KB_HTTP_POST, "/v1/tokens/{token}/decrypt",                  kb_method_decrypt, true, true },
        { "encrypt",          KB_HTTP_POST, "/v1/encrypt",                                 kb_method_encrypt, true },
        { "pin.change",       KB_HTTP_POST, "/v1/tokens/{token}/pin/change",               kb_method_pin_change, true },
        { "pin.unblock",      KB_HTTP_POST, "/v1/tokens/{token}/pin/unblock",              kb_method_pin_unblock, true },
        { "origin.approve",   KB_HTTP_POST, "/v1/origins/approval",                        m_origin_approve, true },
        { "seal.get",         KB_HTTP_GET,  "/v1/tokens/{token}/seal",                     kb_method_seal_get, true },
        { "seal.put",         KB_HTTP_POST, "/v1/tokens/{token}/seal",                     kb_method_seal_put, true },
        { "renewal.request",  KB_HTTP_POST, "/v1/tokens/{token}/renewal/request",          kb_method_renewal_request, true },
        { "renewal.install",  KB_HTTP_POST, "/v1/tokens/{token}/renewal/install",          kb_method_renewal_install, true },
        { "renewal.cancel",   KB_HTTP_POST, "/v1/tokens/{token}/renewal/{requestId}/cancel", kb_method_renewal_cancel, true },
        { "enrollment.request", KB_HTTP_POST, "/v1/tokens/{token}/enrollment/request",        kb_method_enrollment_request, true },
        { "enrollment.install", KB_HTTP_POST, "/v1/tokens/{token}/enrollment/install",        kb_method_enrollment_install, true },
        { "enrollment.cancel",  KB_HTTP_POST, "/v1/tokens/{token}/enrollment/{requestId}/cancel", kb_method_enrollment_cancel, true },
};

const kb_method *kb_methods(size_t *ret_n) {
        *ret_n = sizeof(methods) / sizeof(methods[0]);
        return methods;
}

const kb_method *kb_method_by_name(const char *name) {
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
                if (strcmp(methods[i].name, name) == 0)
                        return &methods[i];
        return NULL;
}

int kb_service_call(kb_service *svc, const kb_method *m, kb_call *call, json_t **ret_result) {
        if (!json_is_object(call->params))
                return kb_bad_field(call, "params");
        json_t *result = NULL;
        int r = m->fn(svc, call, &result);
        if (r < 0) {
                json_decref(result);
                return r;
        }
        *ret_result = result;
        return 0;
}

json_t *kb_error_json(kb_error e, bool zh, const kb_call *call) {
        json_t *err = json_pack("{s:s, s:s}", "code", kb_error_code(e), "message", kb_error_message(e, zh));
        if (!err)
                return NULL;
        if (call && call->error_field[0])
                json_object_set_new(err, "field", json_string(call->error_field));
        if (call && json_is_object(call->error_details))
                json_object_update_missing(err, call->error_details);
        return json_pack("{s:o}", "error", err);
}
