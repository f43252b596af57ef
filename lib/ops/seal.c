/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GET and POST /v1/tokens/{token}/seal: a certificate's electronic seal
 * (电子印章), one per certificate. Reading needs no PIN: seals are stored
 * public, and a read looks at public seals only. Where the administrator
 * has seals stored hidden (seal-hidden), a token shows them only after a
 * login, so a read that finds no public one runs the PIN flow for this
 * origin (reusing its authorization) and looks again, hidden ones included. Writing always runs the PIN flow, for a
 * certificate whose key is on the token, and replaces the seal atomically
 * (see pkcs11-seal.c).
 */
#include <string.h>
#include <time.h>

#include "kb-core.h"
#include "kb-formats.h"
#include "kb-service.h"


KB_DEFINE_POINTER_CLEANUP(kb_seal, kb_seal_free)

/* A token and certificate found in a view, with the source holding them. */
typedef struct found {
        kb_source *source;
        const kb_token *token;
        const kb_cert *cert;
} found;

static size_t max_bytes(const kb_service *svc) {
        return svc->max_seal_bytes ? svc->max_seal_bytes : KB_SEAL_DEFAULT_MAX_BYTES;
}

static int find(kb_service *svc, kb_call *call, const kb_view *v, found *ret) {
        *ret = (found) { 0 };
        return kb_view_token_cert(svc, call, v, &ret->source, &ret->token, &ret->cert);
}

/* Read without a login, under the token lock. */
static int read_public(kb_service *svc, const found *f, kb_seal **ret) {
        if (!f->source->ops->seal_read)
                return -KB_E_NOT_FOUND;
        int r = kb_token_lock(f->source);
        if (r < 0)
                return r;
        r = f->source->ops->seal_read(f->source, f->token, f->cert, false, ret);
        if (r < 0)
                r = kb_token_gone(svc, f->source, f->token->id, r);
        pthread_rwlock_unlock(&f->source->op_lock);
        return r;
}

/* Hidden seals: log in (PIN flow for this origin), then read again. */
static int read_hidden(kb_service *svc, kb_call *call, kb_seal **ret) {
        kb_token_op op;
        int r = kb_token_op_begin(svc, call, "seal", KB_USAGE_BOTH, KB_KEY_UNKNOWN, &op);
        if (r < 0)
                return r;
        r = op.source->ops->seal_read(op.source, op.token, op.cert, true, ret);
        if (r < 0)
                r = kb_token_gone(svc, op.source, op.token->id, r);
        kb_token_op_end(svc, &op);
        return r;
}

static json_t *seal_json(const kb_seal *s, const char *cert_id) {
        return json_pack("{s:o, s:s, s:s}", "image", kb_base64_json(s->data, s->len), "mediaType", s->media_type,
                         "certificate", cert_id);
}

int kb_method_seal_get(kb_service *svc, kb_call *call, json_t **ret) {
        _cleanup_(kb_seal_freep) kb_seal *s = NULL;
        char cid[KB_CERT_ID_LEN + 1] = "";
        found f;
        bool ask = false;
        kb_cache_wait_ready(svc->cache, svc->ready_timeout_ms);
        kb_view *v = kb_cache_view(svc->cache);
        if (!v)
                return -KB_E_INTERNAL;
        int r = find(svc, call, v, &f);
        if (r >= 0 && f.cert && f.source) {
                memcpy(cid, f.cert->id, sizeof(cid));
                r = read_public(svc, &f, &s);
                /* Nothing public: a token with hidden seals shows them after a login. */
                ask = r == -KB_E_NOT_FOUND && svc->seal_hidden && f.cert->has_private_key &&
                      f.source->ops->seal_read;
        }
        kb_view_free(v);
        if (ask)
                r = read_hidden(svc, call, &s);
        if (r < 0)
                return r;
        *ret = seal_json(s, cid);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* mediaType, then image: decoded, not empty, within the limit, and really
 * of that type. */
static int parse_seal(kb_service *svc, kb_call *call, kb_seal *ret) {
        const char *name;
        int r = kb_param_string(call, "mediaType", true, &name);
        if (r < 0)
                return r;
        const char *mt = kb_seal_media_type(name);
        if (!mt)
                return kb_bad_field(call, "mediaType");
        snprintf(ret->media_type, sizeof(ret->media_type), "%s", mt);
        r = kb_param_base64(call, "image", json_object_get(call->params, "image"), &ret->data, &ret->len);
        if (r < 0)
                return r;
        if (ret->len == 0)
                return kb_bad_field(call, "image");
        if (ret->len > max_bytes(svc)) {
                snprintf(call->error_field, sizeof(call->error_field), "image");
                return -KB_E_PAYLOAD_TOO_LARGE;
        }
        if (!kb_seal_bytes_match(mt, ret->data, ret->len))
                return kb_bad_field(call, "mediaType");
        return 0;
}

int kb_method_seal_put(kb_service *svc, kb_call *call, json_t **ret) {
        kb_seal s = { .hidden = svc->seal_hidden };
        kb_token_op op;
        int r = parse_seal(svc, call, &s);
        if (r >= 0)
                r = kb_token_op_begin(svc, call, "seal", KB_USAGE_BOTH, KB_KEY_UNKNOWN, &op);
        if (r < 0) {
                free(s.data);
                return r;
        }
        /* A backend that cannot store seals (none yet) treats them as read-only. */
        if (!op.source->ops->seal_write)
                r = -KB_E_TOKEN_READ_ONLY;
        else
                r = op.source->ops->seal_write(op.source, op.token, op.cert, &s);
        if (r < 0)
                r = kb_token_gone(svc, op.source, op.token->id, r);
        else
                *ret = json_pack("{s:s, s:s, s:I}", "certificate", op.cert->id, "mediaType", s.media_type,
                                 "size", (json_int_t) s.len);
        kb_token_op_end(svc, &op);
        free(s.data);
        return r < 0 ? r : *ret ? 0 : -KB_E_INTERNAL;
}
